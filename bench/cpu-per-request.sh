#!/usr/bin/env bash
# CPU time per request, by thread: one nimbus side as `bench/observe.sh` serves it (`off`, `on`
# or `traced`, with traces exported to a local receiver), loaded with wrk for DURATION; each
# thread's CPU time is read from /proc before and after and divided by the requests served.
# Less moved by a noisy machine than throughput, it shows which thread a change saves on.
# `bench/cpu-per-request.sh [off|on|traced] [PATH] [BINARY]` (defaults: on, /hello,
# target/release/nimbus).
set -euo pipefail
cd "$(dirname "$0")/.."

SIDE=${1:-on} TARGET_PATH=${2:-/hello} BINARY=${3:-target/release/nimbus}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}
APP=${APP:-guests/apps/hello}
# shellcheck source=bench/lib.sh
. bench/lib.sh
serve_and_load

receiver=$(free_port)
otlp_receiver "${receiver}" &
pids+=($!)
port=$(free_port)
args=(up "$APP" --listen "127.0.0.1:$port" --data "$work/data" --cache-dir "$CACHE")
case $SIDE in
  off) NIMBUS_LOG=off "$BINARY" "${args[@]}" --metrics=false --metering=false >/dev/null 2>"$work/log" & ;;
  on) NIMBUS_LOG=info "$BINARY" "${args[@]}" --log-format json >/dev/null 2>"$work/log" & ;;
  traced) NIMBUS_LOG=info OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$receiver" "$BINARY" "${args[@]}" \
    --log-format json >/dev/null 2>"$work/log" & ;;
  *) echo "the side is off, on or traced" >&2; exit 2 ;;
esac
pids+=($!)
wait_ready "$!" "$port" "$work/log"
wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port$TARGET_PATH" >/dev/null

# Every thread on the machine: "process/thread id ticks" (user + system), read with shell
# built-ins so that taking the snapshot starts no process of its own.
ticks() {
  local task stat thread process fields
  for task in /proc/[0-9]*/task/[0-9]*; do
    read -r stat <"$task/stat" 2>/dev/null || continue
    read -r thread <"$task/comm" 2>/dev/null || continue
    read -r process <"${task%/task/*}/comm" 2>/dev/null || continue
    # The fields after the command name, whose 12th and 13th are user and system time.
    read -r -a fields <<<"${stat##*) }"
    echo "${process// /_}/${thread// /_} ${task#/proc/} $((fields[11] + fields[12]))"
  done
}
ticks | sort -k2 >"$work/before"
out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port$TARGET_PATH")
ticks | sort -k2 >"$work/after"
requests=$(echo "$out" | awk '/requests in/ {print $1}')
echo "$SIDE $TARGET_PATH: $requests requests in ${DURATION}s"
hz=$(getconf CLK_TCK)
join -1 2 -2 2 "$work/before" "$work/after" |
  awk -v hz="$hz" -v n="$requests" '{ used = $5 - $3; if (used > 0) by[$2] += used }
    END { for (t in by) printf "%8.2f us/request  %s\n", by[t] / hz * 1e6 / n, t }' |
  sort -rn
