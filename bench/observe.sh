#!/usr/bin/env bash
# What observability costs: the same nimbus binary serving the example app twice, once with
# everything on as a production host runs (logs as JSON to a file and to the host log, metrics,
# metering) and once with all of it off (NIMBUS_LOG=off --metrics=false --metering=false),
# measured with wrk in turn over interleaved rounds of one run. Prints each side's median
# requests/s and p99 latency per path, and the ratios on/off.
# `bench/observe.sh [BINARY] [PATH...]` (default: target/release/nimbus; /hello and /wasi-hello).
set -euo pipefail
cd "$(dirname "$0")/.."

BINARY=${1:-target/release/nimbus}
shift $(( $# > 0 ? 1 : 0 ))
PATHS=("$@")
[ ${#PATHS[@]} -eq 0 ] && PATHS=(/hello /wasi-hello)
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-32}
APP=${APP:-guests/apps/hello}
unset RUST_BACKTRACE
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
[ -x "$BINARY" ] || { echo "$BINARY is missing: make host-release" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

declare -A PORT
PORT[on]=$(free_port)
NIMBUS_LOG=info "$BINARY" up "$APP" --listen "127.0.0.1:${PORT[on]}" --data "$work/on" \
  --log-format json >/dev/null 2>"$work/on.log" &
pids+=($!)
PORT[off]=$(free_port)
NIMBUS_LOG=off "$BINARY" up "$APP" --listen "127.0.0.1:${PORT[off]}" --data "$work/off" \
  --metrics=false --metering=false >/dev/null 2>"$work/off.log" &
pids+=($!)
for side in on off; do
  for _ in $(seq 1 400); do curl -fs "http://127.0.0.1:${PORT[$side]}/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
done

# p99 in microseconds from wrk's latency distribution.
p99_us() {
  awk '$1 == "99%" {
    v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
    if (unit == "us") f = 1; else if (unit == "ms") f = 1000; else if (unit == "s") f = 1000000; else f = 1
    printf "%.0f", v * f }'
}

declare -A RPS P99
for round in $(seq 1 "$ROUNDS"); do
  for path in "${PATHS[@]}"; do
    for side in off on; do
      out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:${PORT[$side]}$path")
      RPS[$side,$path,$round]=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
      P99[$side,$path,$round]=$(echo "$out" | p99_us)
    done
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-12s %10s %10s %8s %10s %10s %8s   %s\n' path "off req/s" "on req/s" "on/off" "off p99us" "on p99us" "on/off" "throughput on/off in each round"
for path in "${PATHS[@]}"; do
  offs=(); ons=(); off99=(); on99=(); ratios=""
  for round in $(seq 1 "$ROUNDS"); do
    offs+=("${RPS[off,$path,$round]}"); ons+=("${RPS[on,$path,$round]}")
    off99+=("${P99[off,$path,$round]}"); on99+=("${P99[on,$path,$round]}")
    ratios+="$(awk -v n="${RPS[on,$path,$round]}" -v o="${RPS[off,$path,$round]}" 'BEGIN { printf "%.2f ", n/o }')"
  done
  o=$(median "${offs[@]}"); n=$(median "${ons[@]}"); o99=$(median "${off99[@]}"); n99=$(median "${on99[@]}")
  printf '%-12s %10s %10s %8s %10s %10s %8s   %s\n' "$path" "$o" "$n" \
    "$(awk -v n="$n" -v o="$o" 'BEGIN { printf "%.2f", n/o }')" "$o99" "$n99" \
    "$(awk -v n="$n99" -v o="$o99" 'BEGIN { printf "%.2f", n/o }')" "$ratios"
done
echo "host log of the 'on' side: $(wc -l < "$work/on/logs/nimbus.log") lines"
