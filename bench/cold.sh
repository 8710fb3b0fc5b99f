#!/usr/bin/env bash
# Cold starts, measured in one run (`make bench` runs it after bench/run.sh):
#  - scale to zero: the Rust hello with `idle_timeout = "1s"` on `--processes 1`, left idle
#    until it gives back its compiled code, then one request (cold: the code is loaded again
#    from the cache) and one right after it (fresh: loaded code, a new instance); ROUNDS times,
#    medians of each and their ratio;
#  - provisioned concurrency at low load: p50 latency at one connection (`wrk -c1`) of the
#    Rust hello with `min = 2` against the same without, fresh mode, 3 interleaved rounds;
#  - process start: from starting the server to its first answered request, nimbus serving one
#    Rust component from cached compiled code against native axum, ROUNDS starts each.
# Request times are curl's total per request on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target"
ROUNDS=${ROUNDS:-20}
unset RUST_BACKTRACE
cargo build -q --release -p nimbus --bin nimbus --example native_hello --example first_response
NIMBUS=$PWD/target/release/nimbus
NATIVE=$PWD/target/release/examples/native_hello
FIRST=$PWD/target/release/examples/first_response

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh
ms() {  # url: ms to a 200, failing the run on any other answer
  local out; out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$1")
  [ "${out%% *}" = 200 ] || { echo "$1 answered ${out%% *}" >&2; exit 1; }
  awk -v t="${out#* }" 'BEGIN { printf "%.3f\n", t * 1000 }'
}

mkdir -p "$work/app"
cat > "$work/app/nimbus.toml" <<TOML
[app]
name = "cold"
[component.hello]
source = "$PWD/target/wasm32-wasip2/release/hello.wasm"
routes = ["GET /hello"]
[component.hello.instances]
idle_timeout = "1s"
TOML

# Scale to zero, then a cold request and a fresh one.
port=$(free_port)
NIMBUS_LOG=info "$NIMBUS" up "$work/app" --listen "127.0.0.1:$port" --data "$work/data" \
  --cache-dir "$work/cache" --processes 1 --workers 1 >/dev/null 2>"$work/log" &
server=$!
pids+=($server)
url="http://127.0.0.1:$port/hello"
for _ in $(seq 1 200); do curl -fs "$url" >/dev/null 2>&1 && break; sleep 0.05; done
: >"$work/cold" && : >"$work/fresh"
for round in $(seq 1 "$ROUNDS"); do
  for _ in $(seq 1 100); do
    [ "$(grep -c 'compiled code given back' "$work/log")" -ge "$round" ] && break
    sleep 0.1
  done
  [ "$(grep -c 'compiled code given back' "$work/log")" -ge "$round" ] ||
    { echo "the component never scaled to zero" >&2; exit 1; }
  ms "$url" >>"$work/cold"
  ms "$url" >>"$work/fresh"
done
cold=$(median <"$work/cold")
fresh=$(median <"$work/fresh")
echo "scale to zero, $ROUNDS rounds, --processes 1:"
printf '  cold request (code loaded again)   %7.3f ms median (target <= 2 ms)\n' "$cold"
printf '  fresh request (code loaded)        %7.3f ms median\n' "$fresh"
awk -v c="$cold" -v f="$fresh" 'BEGIN { printf "  cold / fresh                       %7.2fx (target <= 3x)\n", c / f }'
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true

# p50 at one connection, provisioned or not.
mkdir -p "$work/app-min"
cat > "$work/app-min/nimbus.toml" <<TOML
[app]
name = "provisioned"
[component.plain]
source = "$PWD/target/wasm32-wasip2/release/hello.wasm"
routes = ["GET /plain"]
[component.ready]
source = "$PWD/target/wasm32-wasip2/release/hello.wasm"
routes = ["GET /ready"]
[component.ready.instances]
min = 2
TOML
port=$(free_port)
"$NIMBUS" up "$work/app-min" --listen "127.0.0.1:$port" --data "$work/min-data" \
  --cache-dir "$work/cache" --processes 1 --workers 1 >/dev/null 2>&1 &
server=$!
pids+=($server)
for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$port/plain" >/dev/null 2>&1 && break; sleep 0.05; done
us() { awk '{ v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /[^m]s$/ && $1 !~ /us$/) v *= 1e6; print v }'; }
p50() { wrk -t1 -c1 -d3s --latency "http://127.0.0.1:$port/$1" | awk '$1 == "50%" {print $2}' | us; }
echo "p50 at one connection (wrk -c1 -d3s), fresh mode:"
for round in 1 2 3; do
  plain=$(p50 plain)
  ready=$(p50 ready)
  awk -v p="$plain" -v r="$ready" -v n="$round" \
    'BEGIN { printf "  round %d: min = 0 %.0f us, min = 2 %.0f us, ratio %.2f\n", n, p, r, r / p }'
done
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true

# Process start to first response, timed by a poller that starts no process of its own.
first_response() {  # command... with {port} where the port goes: ms from start to the first 200
  local port; port=$(free_port)
  "$FIRST" "$port" /hello "${@//\{port\}/$port}" 2>"$work/start.log" ||
    { echo "$1 did not answer:" >&2; cat "$work/start.log" >&2; exit 1; }
}
start_nimbus=("$NIMBUS" up "$work/app" --listen "127.0.0.1:{port}" --data "$work/start-data"
  --cache-dir "$work/cache" --processes 1 --workers 1)
start_native=("$NATIVE" "127.0.0.1:{port}")
: >"$work/nimbus-start" && : >"$work/native-start"
first_response "${start_nimbus[@]}" >/dev/null   # makes the data directory: not a start to measure
for _ in $(seq 1 "$ROUNDS"); do
  first_response "${start_nimbus[@]}" >>"$work/nimbus-start"
  first_response "${start_native[@]}" >>"$work/native-start"
done
n=$(median <"$work/nimbus-start")
a=$(median <"$work/native-start")
echo "process start to first response, $ROUNDS starts each, compiled code cached:"
printf '  nimbus, one Rust component        %7.1f ms median\n' "$n"
printf '  native axum                       %7.1f ms median\n' "$a"
awk -v n="$n" -v a="$a" 'BEGIN { printf "  nimbus / native                    %7.2fx (target <= 1.2x)\n", n / a }'
