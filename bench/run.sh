#!/usr/bin/env bash
# Load benchmark for `make bench`: the same Hello served several ways on loopback, measured
# with wrk in one run, so the ratios compare like with like on this machine today.
#   (a) nimbus, record-based `hello` guest      (b) nimbus, wasi:http hello guest
#   (c) native axum hello (the limit)           (d) `wasmtime serve` on (b)'s component
#   (e) nimbus, a record handler answering exactly what (b) does, so that (e) against (b)
#       compares the host's two paths and not two guests' work
# (a) and (b) each fresh (an instance per request, the default) and warm (`reuse = 1000`), and
# (d) fresh and with `--max-instance-reuse-count 1000`; beside (c), nimbus' built-in /healthz:
# its HTTP stack with no guest. The wasmtime CLI is the pinned one bench/wasmtime-cli.sh
# installs (WASMTIME=PATH for another).
# All servers run at once and are measured in turn, ROUNDS times over: a burst of noise from a
# neighbour on this shared machine then spoils one round of one server, not a ratio. Prints
# each server's median requests/s (with p50 and p99 of that round), the ratios of the medians
# with their targets, and the ratio in every round to show the spread.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target"   # where the paths below look, whatever the caller set

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
unset RUST_BACKTRACE   # a backtrace per Store drop would distort every figure

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else sudo apt-get install -y wrk >/dev/null; fi
fi

cargo build --release -p nimbus --bin nimbus --example native_hello
NIMBUS=target/release/nimbus
NATIVE=target/release/examples/native_hello
HTTP_WASM=target/wasm32-wasip2/release/http_hello.wasm

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck source=bench/lib.sh
. bench/lib.sh

wait_up() {  # url
  for _ in $(seq 1 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "server at $1 did not come up" >&2; return 1
}

declare -A RPS P50 P99 URL
measure() {  # name round: one wrk run against URL[name]
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${URL[$1]}")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; echo "$1: non-2xx responses" >&2; exit 1; fi
  RPS[$1,$2]=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  P50[$1,$2]=$(echo "$out" | awk '$1 == "50%" {print $2}')
  P99[$1,$2]=$(echo "$out" | awk '$1 == "99%" {print $2}')
}

# (a) and (b): one nimbus serving both guests.
port=$(free_port)
mkdir -p "$work/app"
cat > "$work/app/nimbus.toml" <<TOML
[app]
name = "bench"
[component.hello]
source = "$PWD/target/wasm32-wasip2/release/hello.wasm"
routes = ["GET /hello"]
[component.wasi-hello]
source = "$PWD/$HTTP_WASM"
routes = ["GET /wasi-hello"]
[component.record-twin]
source = "$PWD/target/wasm32-wasip2/release/record_hello.wasm"
routes = ["GET /record-twin"]
[component.hello-warm]
source = "$PWD/target/wasm32-wasip2/release/hello.wasm"
routes = ["GET /hello-warm"]
instances = { reuse = 1000 }
[component.wasi-hello-warm]
source = "$PWD/$HTTP_WASM"
routes = ["GET /wasi-hello-warm"]
instances = { reuse = 1000 }
TOML
NIMBUS_LOG=warn $NIMBUS up "$work/app" --listen "127.0.0.1:$port" --data "$work/data" >/dev/null &
pids+=($!)
URL[nimbus-hello]="http://127.0.0.1:$port/hello"
URL[nimbus-wasi-http]="http://127.0.0.1:$port/wasi-hello"
URL[nimbus-record-twin]="http://127.0.0.1:$port/record-twin"
URL[nimbus-hello-warm]="http://127.0.0.1:$port/hello-warm"
URL[nimbus-wasi-warm]="http://127.0.0.1:$port/wasi-hello-warm"
# nimbus' built-in health check runs no guest: its HTTP stack alone, to set beside native axum.
URL[nimbus-no-guest]="http://127.0.0.1:$port/healthz"

# (c) native axum.
port=$(free_port)
$NATIVE "127.0.0.1:$port" >/dev/null &
pids+=($!)
URL[native-axum]="http://127.0.0.1:$port/hello"

# (d) wasmtime serve, fresh and reusing instances.
servers=(nimbus-hello nimbus-hello-warm nimbus-record-twin nimbus-wasi-http nimbus-wasi-warm nimbus-no-guest native-axum)
WASMTIME=$(bash bench/wasmtime-cli.sh)
echo "baseline: $("$WASMTIME" --version)"
for mode in fresh reuse; do
  port=$(free_port)
  extra=()
  [ "$mode" = reuse ] && extra=(--max-instance-reuse-count 1000)
  # -Scli: components built with std import wasi:cli, which serve leaves out by default.
  "$WASMTIME" serve -Scli "${extra[@]}" --addr "127.0.0.1:$port" "$HTTP_WASM" >/dev/null 2>&1 &
  pids+=($!)
  URL[wasmtime-$mode]="http://127.0.0.1:$port/"
  servers+=("wasmtime-$mode")
done

for name in "${servers[@]}"; do
  wait_up "${URL[$name]}"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "${URL[$name]}" >/dev/null   # warm-up
done
for round in $(seq 1 "$ROUNDS"); do
  for name in "${servers[@]}"; do measure "$name" "$round"; done
done

# The round whose requests/s is the server's median.
median_round() {  # name
  for round in $(seq 1 "$ROUNDS"); do echo "${RPS[$1,$round]} $round"; done |
    sort -g | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) {print $2}'
}
declare -A MEDIAN
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on loopback, $(nproc) cores shared with the client;"
echo "$ROUNDS rounds, the servers measured in turn; the median round of each server:"
printf '%-20s %12s %10s %10s   %s\n' server req/s p50 p99 "req/s in each round"
for name in "${servers[@]}"; do
  m=$(median_round "$name")
  MEDIAN[$name]=${RPS[$name,$m]}
  rounds=$(for round in $(seq 1 "$ROUNDS"); do printf '%.0f ' "${RPS[$name,$round]}"; done)
  printf '%-20s %12s %10s %10s   %s\n' "$name" "${RPS[$name,$m]}" "${P50[$name,$m]}" "${P99[$name,$m]}" "$rounds"
done
echo
per_round() {  # numerator denominator: the ratio in each round
  for round in $(seq 1 "$ROUNDS"); do
    awk -v x="${RPS[$1,$round]}" -v y="${RPS[$2,$round]}" 'BEGIN { printf "%.2f ", x / y }'
  done
}
ratio() {  # label numerator denominator target
  awk -v x="${MEDIAN[$2]}" -v y="${MEDIAN[$3]}" -v r="$(per_round "$2" "$3")" -v l="$1" -v t="$4" \
    'BEGIN { printf "%-44s %5.2fx  (target %s; by round: %s)\n", l, x / y, t, r }'
}
ratio "record hello, fresh / native axum" nimbus-hello native-axum ">= 0.5x"
ratio "record hello, reuse 1000 / native axum" nimbus-hello-warm native-axum ">= 0.7x"
ratio "wasi:http hello, reuse 1000 / native axum" nimbus-wasi-warm native-axum ">= 0.7x"
ratio "wasi:http, reuse 1000 / wasmtime serve reuse" nimbus-wasi-warm wasmtime-reuse ">= 1.3x"
ratio "wasi:http, reuse 1000 / wasmtime serve fresh" nimbus-wasi-warm wasmtime-fresh ">= 5x"
ratio "wasi:http, fresh / wasmtime serve fresh" nimbus-wasi-http wasmtime-fresh "90% of the ceiling below"
ratio "record twin of (b), fresh / wasi:http fresh" nimbus-record-twin nimbus-wasi-http "none"
ratio "nimbus without a guest (/healthz) / native" nimbus-no-guest native-axum "none"

# The most that a fresh instance per request allows here: one invocation's own cost, measured
# in-process by the criterion bench (no sockets), plus the whole cost of a request to native
# axum (its server and wrk) as if nimbus' HTTP handling cost nothing more than native axum's.
# The invocation cost is the lowest of six short criterion runs, so that the ceiling is an
# optimistic one. Requests/s above it would need a cheaper wasmtime instantiation, or instance
# reuse.
invocations=$(for _ in 1 2 3 4 5 6; do
  cargo bench -q -p nimbus --bench invoke -- --output-format bencher \
    --warm-up-time 0.5 --measurement-time 1 2>/dev/null
done | awk '/bench:/ {
    for (i = 1; i <= NF; i++) if ($i == "bench:") { ns = $(i + 1); gsub(",", "", ns) }
    name = ($2 == "hello:") ? "hello" : ($2 == "record_hello:") ? "twin" : "http"
    if (!(name in low) || ns + 0 < low[name]) low[name] = ns + 0
  }
  END { print low["hello"], low["http"], low["twin"] }')
read -r hello_ns http_ns twin_ns <<<"$invocations"
if [ -n "${hello_ns:-}" ] && [ -n "${http_ns:-}" ] && [ -n "${twin_ns:-}" ]; then
  echo
  awk -v cores="$(nproc)" -v c="${MEDIAN[native-axum]}" -v d="${MEDIAN[wasmtime-fresh]:-0}" \
      -v a="${MEDIAN[nimbus-hello]}" -v b="${MEDIAN[nimbus-wasi-http]}" -v e="${MEDIAN[nimbus-record-twin]}" \
      -v g="${MEDIAN[nimbus-no-guest]}" -v h="$hello_ns" -v w="$http_ns" -v t="$twin_ns" 'BEGIN {
    native = cores / c                              # core-seconds per native request, wrk included
    amax = cores / (native + h / 1e9); bmax = cores / (native + w / 1e9); emax = cores / (native + t / 1e9)
    printf "one invocation in-process (criterion): hello %.1f us, wasi:http hello %.1f us, record twin %.1f us\n", h / 1000, w / 1000, t / 1000
    printf "ceiling for (a): %.0f req/s = %.2fx native; nimbus reaches %.0f%% of it\n", amax, amax / c, 100 * a / amax
    printf "ceiling for (e): %.0f req/s = %.2fx native; nimbus reaches %.0f%% of it\n", emax, emax / c, 100 * e / emax
    if (d > 0) printf "ceiling for (b): %.0f req/s = %.2fx wasmtime serve; nimbus reaches %.0f%% of it\n", bmax, bmax / d, 100 * b / bmax
    # The same ceilings on nimbus HTTP stack as measured (/healthz) instead of native axum:
    # what is left between the two is the invocation path (routing to the guest, the request
    # conversion, the task, logging, metrics), apart from what HTTP costs.
    own = cores / g
    printf "on nimbus own HTTP stack (/healthz, %.2fx native): (a) reaches %.0f%%, (e) %.0f%%, (b) %.0f%%\n", \
      g / c, 100 * a * (own + h / 1e9) / cores, 100 * e * (own + t / 1e9) / cores, 100 * b * (own + w / 1e9) / cores
  }'
fi
