#!/usr/bin/env bash
# A guest's key-value read through the host against a direct read of the same redb store, in
# one criterion run (host/benches/kv.rs): prints the cost per read each way and their ratio,
# for a guest in the process that owns the store and for one in a worker process (through the
# owner's Unix socket).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target"
unset RUST_BACKTRACE
cargo bench -p nimbus --bench kv -- --noplot >/dev/null
estimate() {  # criterion id path -> mean in ns
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["point_estimate"])' \
    "target/criterion/kv-get/$1/new/estimates.json"
}
reads=1000
direct=$(estimate "redb direct/$reads")
per() { awk -v a="$1" -v b="$2" -v n="$reads" 'BEGIN { printf "%.0f", (a - b) / n }'; }
one=$(per "$(estimate "guest, one process/$reads")" "$(estimate "guest, one process/0")")
worker=$(per "$(estimate "guest, worker process/$reads")" "$(estimate "guest, worker process/0")")
base=$(awk -v a="$direct" -v n="$reads" 'BEGIN { printf "%.0f", a / n }')
printf '%-34s %8s ns\n' "redb read, direct" "$base"
printf '%-34s %8s ns  %5.2fx direct (target <= 2x)\n' "guest read, one process" "$one" "$(awk -v a="$one" -v b="$base" 'BEGIN { print a / b }')"
printf '%-34s %8s ns  %5.2fx direct\n' "guest read, worker process" "$worker" "$(awk -v a="$worker" -v b="$base" 'BEGIN { print a / b }')"
