#!/usr/bin/env bash
# BaaS benchmark for `make bench`: auth and object storage through the real HTTP API, each next
# to a baseline measured in the same run on this machine.
#   - guarded requests/s: a route that verifies an ES256 bearer token vs the same route open
#   - login latency (argon2id, m=19 MiB t=2 p=1): p50 and p95 of sequential logins
#   - 1 GiB upload and download through /storage/v1 vs dd writing (with fsync) and reading
#     the same amount on the same disk: throughput ratios (target >= 0.8)
#   - the serving process's peak RSS growth over that upload and download (target < 64 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target"   # where the paths below look, whatever the caller set

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
SIZE_MIB=${SIZE_MIB:-1024}
LOGINS=${LOGINS:-20}
unset RUST_BACKTRACE

cargo build --release -p nimbus --bin nimbus
NIMBUS=target/release/nimbus
# The work directory sits on the same disk as the project, so dd and nimbus write to one disk.
work=$(mktemp -d -p "$PWD/target")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck source=bench/lib.sh
. bench/lib.sh
now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):.1f}')"; }        # MiB start end -> MiB/s
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -p "$work/app"
cat > "$work/app/nimbus.toml" <<TOML
[app]
name = "bench"
[component.hello]
source = "$PWD/target/wasm32-wasip2/release/hello.wasm"
routes = ["GET /hello", { route = "GET /guarded", auth = "required" }]
[bucket.blobs]
access = "authenticated"
max_size = "4GiB"
TOML
# One process, so that its RSS is the whole server's.
NIMBUS_LOG=warn $NIMBUS up "$work/app" --listen "127.0.0.1:$port" --data "$work/data" --processes 1 >/dev/null &
pid=$!
for _ in $(seq 1 200); do curl -fs "$base/hello" >/dev/null 2>&1 && break; sleep 0.05; done

signup=$(curl -fs -X POST "$base/auth/v1/signup" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench-password"}')
token=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$signup")

echo "== token verification =="
rps() {
  wrk -t1 -c"$CONNECTIONS" -d2s "$@" >/dev/null
  local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$@")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; exit 1; fi
  echo "$out" | awk '/^Requests\/sec/ {print $2}'
}
open_rps=$(rps "$base/hello")
guarded_rps=$(rps -H "authorization: Bearer $token" "$base/guarded")
printf '  open route        %10s req/s\n' "$open_rps"
printf '  guarded route     %10s req/s (bearer token checked on every request)\n' "$guarded_rps"
printf '  guarded / open    %10s\n' "$(ratio "$guarded_rps" "$open_rps")"

echo "== login latency (argon2id m=19MiB t=2 p=1) =="
times=()
for _ in $(seq 1 "$LOGINS"); do
  times+=("$(curl -fs -o /dev/null -w '%{time_total}' -X POST "$base/auth/v1/token?grant_type=password" \
    -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"bench-password"}')")
  sleep 2.1   # stay under the per-IP bucket's refill (30 per minute)
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "  p50 %.1f ms   p95 %.1f ms   (%d logins)\n", a[int(NR*0.5+0.5)]*1000, a[int(NR*0.95+0.5)]*1000, NR}'

echo "== object storage: ${SIZE_MIB} MiB through /storage/v1 vs dd on the same disk =="
# Reads are measured from disk when the page cache can be dropped (root), else from cache.
cache="page cache"
drop_caches() { sync; if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then cache="disk"; fi; }
start=$(now); dd if=/dev/zero of="$work/raw.bin" bs=1M count="$SIZE_MIB" conv=fsync status=none; end=$(now)
dd_write=$(rate "$SIZE_MIB" "$start" "$end")
drop_caches
start=$(now); dd if="$work/raw.bin" of=/dev/null bs=1M status=none; end=$(now)
dd_read=$(rate "$SIZE_MIB" "$start" "$end")

# Sample the server's RSS every 20 ms while the object goes up and comes back down.
rss_before=$(kib "$pid" VmRSS)
( peak=0; while kill -0 "$pid" 2>/dev/null && [ ! -e "$work/done" ]; do
    r=$(kib "$pid" VmRSS); [ "${r:-0}" -gt "$peak" ] && peak=$r; echo "$peak" > "$work/peak"; sleep 0.02
  done ) &
sampler=$!
start=$(now)
curl -fs -o /dev/null -T "$work/raw.bin" "$base/storage/v1/object/blobs/big.bin" -H "authorization: Bearer $token" \
  -H "content-type: application/octet-stream"
end=$(now)
up=$(rate "$SIZE_MIB" "$start" "$end")
drop_caches
start=$(now)
curl -fs -o /dev/null "$base/storage/v1/object/blobs/big.bin" -H "authorization: Bearer $token"
end=$(now)
down=$(rate "$SIZE_MIB" "$start" "$end")
touch "$work/done"; wait "$sampler" || true
peak=$(cat "$work/peak")

printf '  dd write (fsync)  %8s MiB/s    nimbus upload   %8s MiB/s    ratio %s\n' "$dd_write" "$up" "$(ratio "$up" "$dd_write")"
printf '  dd read (%s) %8s MiB/s    nimbus download %8s MiB/s    ratio %s\n' "$cache" "$dd_read" "$down" "$(ratio "$down" "$dd_read")"
printf '  server RSS %d MiB before; highest %d MiB during the round trip: +%d MiB for %d MiB moved\n' \
  $((rss_before / 1024)) $((peak / 1024)) $(((peak - rss_before) / 1024)) $((2 * SIZE_MIB))
