#!/usr/bin/env bash
# A guest's key-value read through the host against a direct read of the same redb store
# (host/benches/kv.rs): prints the cost per read each way and their ratio, for a guest in the
# process that owns the store and for one in a worker process (through the owner's Unix
# socket). ROUNDS criterion runs (default 3) interleave the three, each round measuring all of
# them; the ratio reported is the median of the rounds' ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target"
unset RUST_BACKTRACE
rounds=${ROUNDS:-3}
reads=1000
cargo bench -p nimbus --bench kv --no-run --quiet
estimate() {  # criterion id path -> mean in ns
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["point_estimate"])' \
    "target/criterion/kv-get/$1/new/estimates.json"
}
per() { awk -v a="$1" -v b="$2" -v n="$reads" 'BEGIN { printf "%.0f", (a - b) / n }'; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
  log=$(mktemp)
  cargo bench -p nimbus --bench kv -- --noplot --warm-up-time 1 --measurement-time 4 >"$log" 2>&1 ||
    { cat "$log" >&2; exit 1; }
  rm -f "$log"
  base=$(awk -v a="$(estimate "redb direct/$reads")" -v n="$reads" 'BEGIN { printf "%.0f", a / n }')
  one=$(per "$(estimate "guest, one process/$reads")" "$(estimate "guest, one process/0")")
  worker=$(per "$(estimate "guest, worker process/$reads")" "$(estimate "guest, worker process/0")")
  echo "$base $one $worker" >>"$results"
  printf 'round %d: direct %5d ns, guest %5d ns (%.2fx), worker %6d ns (%.1fx)\n' "$round" \
    "$base" "$one" "$(awk -v a="$one" -v b="$base" 'BEGIN { print a / b }')" \
    "$worker" "$(awk -v a="$worker" -v b="$base" 'BEGIN { print a / b }')"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
median = lambda xs: statistics.median(xs)
base = median([r[0] for r in rows])
one = median([r[1] / r[0] for r in rows])
worker = median([r[2] / r[0] for r in rows])
print(f"{'redb read, direct':34} {base:8.0f} ns")
print(f"{'guest read, one process':34} {one:8.2f}x direct (median of {len(rows)} rounds; target <= 2x)")
print(f"{'guest read, worker process':34} {worker:8.2f}x direct")
PY
