#!/usr/bin/env bash
# Image transformation benchmark for `make bench`: a 1-megapixel JPEG rendered as a 200-pixel
# WebP through /storage/v1/render/image, next to baselines measured in the same run.
#   - first time: p50 and p99 of sequential renders that each miss the cache (every request
#     asks another quality), against downloading the original the same way
#   - cached: requests/s and p50/p99 latency of one render asked again and again, against
#     downloading the original
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target"   # where the paths below look, whatever the caller set

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-8}
FIRST=${FIRST:-40}
unset RUST_BACKTRACE

cargo build --release -p nimbus --bin nimbus --example sample_image
NIMBUS=target/release/nimbus
work=$(mktemp -d -p "$PWD/target")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck source=bench/lib.sh
. bench/lib.sh
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

target/release/examples/sample_image 1155 866 "$work/photo.jpg"   # 1.0 megapixel
port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -p "$work/app"
cat > "$work/app/nimbus.toml" <<TOML
[app]
name = "images"
[component.hello]
source = "$PWD/target/wasm32-wasip2/release/hello.wasm"
routes = ["GET /hello"]
[bucket.pics]
access = "public-read"
TOML
NIMBUS_LOG=warn $NIMBUS up "$work/app" --listen "127.0.0.1:$port" --data "$work/data" >/dev/null &
pid=$!
for _ in $(seq 1 200); do curl -fs "$base/hello" >/dev/null 2>&1 && break; sleep 0.05; done

signup=$(curl -fs -X POST "$base/auth/v1/signup" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench-password"}')
read -r token user < <(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(s["access_token"], s["user"]["id"])' "$signup")
curl -fs -o /dev/null "$base/storage/v1/object/pics/$user/photo.jpg" -H "authorization: Bearer $token" \
  -H 'content-type: image/jpeg' --data-binary "@$work/photo.jpg"
original="$base/storage/v1/object/public/pics/$user/photo.jpg"
render="$base/storage/v1/render/image/public/pics/$user/photo.jpg?width=200&format=webp"

percentiles() { sort -n | awk '{a[NR]=$1} END {printf "p50 %6.1f ms   p99 %6.1f ms", a[int(NR*0.5+0.5)]*1000, a[int(NR*0.99+0.5)]*1000}'; }
echo "== first render of a 1 MP JPEG as a 200 px WebP (each request misses the cache) =="
for i in $(seq 1 "$FIRST"); do
  curl -fs -o /dev/null -w '%{time_total}\n' "$original?round=$i"
  curl -fs -o /dev/null -w '%{time_total}\n' "$render&quality=$((20 + i % 80))" >&3
done 3> "$work/render.times" > "$work/original.times"
printf '  original download  %s\n' "$(percentiles < "$work/original.times")"
printf '  first render       %s   (%d renders)\n' "$(percentiles < "$work/render.times")" "$FIRST"
size=$(curl -fs "$render" | wc -c)
printf '  %d bytes of JPEG became %d bytes of lossless WebP\n' "$(wc -c < "$work/photo.jpg")" "$size"

echo "== the same render asked again (cached), against downloading the original =="
measure() {
  wrk -t1 -c"$CONNECTIONS" -d2s "$1" >/dev/null
  local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$1")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; exit 1; fi
  echo "$(echo "$out" | awk '/^Requests\/sec/ {print $2}') $(echo "$out" | awk '$1 == "50%" {print $2}') $(echo "$out" | awk '$1 == "99%" {print $2}')"
}
# Interleaved rounds, so that a slow moment of the machine falls on both.
for round in 1 2; do
  read -r orig_rps orig_p50 orig_p99 < <(measure "$original")
  read -r cached_rps cached_p50 cached_p99 < <(measure "$render")
  printf '  round %d: original %9s req/s (p50 %s, p99 %s)   cached render %9s req/s (p50 %s, p99 %s)   ratio %s\n' \
    "$round" "$orig_rps" "$orig_p50" "$orig_p99" "$cached_rps" "$cached_p50" "$cached_p99" "$(ratio "$cached_rps" "$orig_rps")"
done
