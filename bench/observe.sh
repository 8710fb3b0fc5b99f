#!/usr/bin/env bash
# What observability costs: the same nimbus binary serving the example app three times: with
# everything on as a production host runs (logs as JSON to a file and to the host log, metrics,
# metering), the same with OTLP traces exported to a local receiver (a few lines of Python that
# accept and drop them), and with all of it off (NIMBUS_LOG=off --metrics=false
# --metering=false); measured with wrk in turn over interleaved rounds of one run. Prints each
# side's median requests/s and p99 latency per path, and the ratios to the side with all off.
# A one-second pass over every side and path comes first and is not counted (the host log's
# line count at the end includes it).
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
# shellcheck source=bench/lib.sh
. bench/lib.sh
serve_and_load

declare -A PORT PID
PORT[receiver]=$(free_port)
otlp_receiver "${PORT[receiver]}" &
pids+=($!)
PORT[traced]=$(free_port)
NIMBUS_LOG=info OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:${PORT[receiver]}" "$BINARY" up "$APP" \
  --listen "127.0.0.1:${PORT[traced]}" --data "$work/traced" --cache-dir "$CACHE" --log-format json >/dev/null 2>"$work/traced.log" &
PID[traced]=$!
pids+=($!)
PORT[on]=$(free_port)
NIMBUS_LOG=info "$BINARY" up "$APP" --listen "127.0.0.1:${PORT[on]}" --data "$work/on" --cache-dir "$CACHE" \
  --log-format json >/dev/null 2>"$work/on.log" &
PID[on]=$!
pids+=($!)
PORT[off]=$(free_port)
NIMBUS_LOG=off "$BINARY" up "$APP" --listen "127.0.0.1:${PORT[off]}" --data "$work/off" --cache-dir "$CACHE" \
  --metrics=false --metering=false >/dev/null 2>"$work/off.log" &
PID[off]=$!
pids+=($!)
for side in on off traced; do wait_ready "${PID[$side]}" "${PORT[$side]}" "$work/$side.log"; done

# p99 in microseconds from wrk's latency distribution.
p99_us() {
  awk '$1 == "99%" {
    v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
    if (unit == "us") f = 1; else if (unit == "ms") f = 1000; else if (unit == "s") f = 1000000; else f = 1
    printf "%.0f", v * f }'
}

# A pass over every side and path before the rounds: a side's first seconds under load run
# slower (its instance slots and buffers are touched for the first time), which would count
# against whichever side round 1 measures first.
for path in "${PATHS[@]}"; do
  for side in off on traced; do
    wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:${PORT[$side]}$path" >/dev/null
  done
done

declare -A RPS P99
for round in $(seq 1 "$ROUNDS"); do
  for path in "${PATHS[@]}"; do
    for side in off on traced; do
      out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:${PORT[$side]}$path")
      RPS[$side,$path,$round]=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
      P99[$side,$path,$round]=$(echo "$out" | p99_us)
    done
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v n="$1" -v o="$2" 'BEGIN { printf "%.2f", n/o }'; }
printf '%-12s %10s %10s %10s %8s %8s %10s %10s %10s\n' path "off req/s" "on req/s" "traced" "on/off" "trc/off" "off p99us" "on p99us" "trc p99us"
for path in "${PATHS[@]}"; do
  declare -A med=()
  for side in off on traced; do
    rps=(); p99=()
    for round in $(seq 1 "$ROUNDS"); do
      rps+=("${RPS[$side,$path,$round]}"); p99+=("${P99[$side,$path,$round]}")
    done
    med[$side]=$(median "${rps[@]}"); med[$side,p99]=$(median "${p99[@]}")
  done
  printf '%-12s %10s %10s %10s %8s %8s %10s %10s %10s\n' "$path" "${med[off]}" "${med[on]}" "${med[traced]}" \
    "$(ratio "${med[on]}" "${med[off]}")" "$(ratio "${med[traced]}" "${med[off]}")" \
    "${med[off,p99]}" "${med[on,p99]}" "${med[traced,p99]}"
  line="  on/off in each round:"
  for round in $(seq 1 "$ROUNDS"); do line+=" $(ratio "${RPS[on,$path,$round]}" "${RPS[off,$path,$round]}")"; done
  echo "$line"
done
echo "host log of the 'on' side: $(wc -l < "$work/on/logs/nimbus.log") lines"
