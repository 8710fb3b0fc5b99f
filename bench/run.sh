#!/usr/bin/env bash
# Load benchmark for `make bench`: the same Hello served four ways on loopback, measured with
# wrk in one run, so the ratios compare like with like on this machine today.
#   (a) nimbus, record-based `hello` guest      (b) nimbus, wasi:http hello guest
#   (c) native axum hello (the limit)           (d) `wasmtime serve` on (b)'s component, if installed
# Prints requests/s, p50, p99 and the ratios a/c and b/d.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_up() {  # url
  for _ in $(seq 1 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "server at $1 did not come up" >&2; return 1
}

declare -A RPS P50 P99
measure() {  # name url
  curl -fs "$2" >/dev/null
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$2" >/dev/null          # warm-up
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; echo "$1: non-2xx responses" >&2; exit 1; fi
  RPS[$1]=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  P50[$1]=$(echo "$out" | awk '$1 == "50%" {print $2}')
  P99[$1]=$(echo "$out" | awk '$1 == "99%" {print $2}')
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
TOML
NIMBUS_LOG=warn $NIMBUS up "$work/app" --listen "127.0.0.1:$port" --data "$work/data" >/dev/null &
pids+=($!)
wait_up "http://127.0.0.1:$port/hello"
measure nimbus-hello "http://127.0.0.1:$port/hello"
measure nimbus-wasi-http "http://127.0.0.1:$port/wasi-hello"
kill "${pids[-1]}"

# (c) native axum.
port=$(free_port)
$NATIVE "127.0.0.1:$port" >/dev/null &
pids+=($!)
wait_up "http://127.0.0.1:$port/hello"
measure native-axum "http://127.0.0.1:$port/hello"
kill "${pids[-1]}"

# (d) wasmtime serve, when installed.
if command -v wasmtime >/dev/null; then
  port=$(free_port)
  # -Scli: components built with std import wasi:cli, which serve leaves out by default.
  wasmtime serve -Scli --addr "127.0.0.1:$port" "$HTTP_WASM" >/dev/null 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$port/"
  measure wasmtime-serve "http://127.0.0.1:$port/"
  kill "${pids[-1]}"
fi

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on loopback, $(nproc) cores shared with the client"
printf '%-20s %12s %10s %10s\n' server req/s p50 p99
for name in nimbus-hello nimbus-wasi-http native-axum wasmtime-serve; do
  [ -n "${RPS[$name]:-}" ] || continue
  printf '%-20s %12s %10s %10s\n' "$name" "${RPS[$name]}" "${P50[$name]}" "${P99[$name]}"
done
echo
awk -v a="${RPS[nimbus-hello]}" -v c="${RPS[native-axum]}" \
  'BEGIN { printf "(a) nimbus hello / (c) native axum:        %.2fx  (target >= 0.5x)\n", a / c }'
if [ -n "${RPS[wasmtime-serve]:-}" ]; then
  awk -v b="${RPS[nimbus-wasi-http]}" -v d="${RPS[wasmtime-serve]}" \
    'BEGIN { printf "(b) nimbus wasi:http / (d) wasmtime serve: %.2fx  (target >= 4x)\n", b / d }'
else
  echo "(b)/(d): wasmtime CLI not installed; install it with: cargo install wasmtime-cli --version 48.0.8 --locked"
fi
