#!/usr/bin/env bash
# A/B of two nimbus binaries serving the same app, measured with wrk in turn over interleaved
# rounds of one run: `bench/ab.sh OLD_BINARY NEW_BINARY [PATH...]` (default paths: /hello,
# /wasi-hello and /healthz of the example app). Prints each binary's median requests/s per
# path and the ratio new/old in every round. `OLD_APP=DIR` serves the old binary another copy of
# the app (guests built against its platform version). `SIGNUP=1` signs a user up on each
# server first and sends its access token with every request (for routes with `auth`).
# `UP_ARGS="--log-format json"` passes more arguments to both servers' `nimbus up`.
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=$1 NEW=$2
shift 2
PATHS=("${@:-/hello}")
[ $# -eq 0 ] && PATHS=(/hello /wasi-hello /healthz)
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-32}
APP=${APP:-guests/apps/hello}
# One compiled-code cache across runs: the example app's JavaScript and Python components
# take about a minute to compile the first time.
CACHE=$PWD/target/bench-cache
# The old binary may need guests built against its own platform version.
OLD_APP=${OLD_APP:-$APP}
read -r -a UP_ARGS <<<"${UP_ARGS:-}"
unset RUST_BACKTRACE
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh

declare -A PORT PID
for side in old new; do
  binary=$OLD app=$OLD_APP; [ "$side" = new ] && binary=$NEW app=$APP
  PORT[$side]=$(free_port)
  NIMBUS_CACHE_DIR=$CACHE "$binary" up "$app" --listen "127.0.0.1:${PORT[$side]}" --data "$work/$side" "${UP_ARGS[@]}" >/dev/null 2>"$work/$side.log" &
  PID[$side]=$!
  pids+=($!)
done
for side in old new; do wait_ready "${PID[$side]}" "${PORT[$side]}" "$work/$side.log"; done

declare -A AUTH
for side in old new; do
  AUTH[$side]="x-bench: none"
  if [ "${SIGNUP:-0}" = 1 ]; then
    token=$(curl -fs -X POST "http://127.0.0.1:${PORT[$side]}/auth/v1/signup" \
      -H 'content-type: application/json' \
      -d '{"email":"bench@example.com","password":"bench-password"}' |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    AUTH[$side]="authorization: Bearer $token"
  fi
done

# A pass over both sides and every path before the rounds, not counted: a server's first
# seconds under load run slower (its instance slots and buffers are touched for the first
# time), which would count against whichever side round 1 measures first.
for path in "${PATHS[@]}"; do
  for side in old new; do
    wrk -t1 -c"$CONNECTIONS" -d1s -H "${AUTH[$side]}" "http://127.0.0.1:${PORT[$side]}$path" >/dev/null
  done
done

declare -A RPS
for round in $(seq 1 "$ROUNDS"); do
  for path in "${PATHS[@]}"; do
    for side in old new; do
      out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "${AUTH[$side]}" "http://127.0.0.1:${PORT[$side]}$path")
      RPS[$side,$path,$round]=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    done
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-14s %12s %12s %7s   %s\n' path old new ratio "new/old in each round"
for path in "${PATHS[@]}"; do
  olds=(); news=(); ratios=""
  for round in $(seq 1 "$ROUNDS"); do
    olds+=("${RPS[old,$path,$round]}"); news+=("${RPS[new,$path,$round]}")
    ratios+="$(awk -v n="${RPS[new,$path,$round]}" -v o="${RPS[old,$path,$round]}" 'BEGIN { printf "%.2f ", n/o }')"
  done
  o=$(median "${olds[@]}"); n=$(median "${news[@]}")
  printf '%-14s %12s %12s %7s   %s\n' "$path" "$o" "$n" "$(awk -v n="$n" -v o="$o" 'BEGIN { printf "%.2f", n/o }')" "$ratios"
done
