#!/usr/bin/env bash
# Benchmark (not a test): normal requests' latency while SLOW slowloris connections (partial
# headers, one more header line every second, reopened whenever nimbus closes them) are held
# open, against the same server with no attack, in interleaved rounds of one run.
# Prints each round's p50 and p99 with and without the attack, and the ratio of the median p99s.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target"

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
SLOW=${SLOW:-2000}
CONNECTIONS=${CONNECTIONS:-32}
unset RUST_BACKTRACE

command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
cargo build --release -p nimbus --bin nimbus

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/app"
cat > "$work/app/nimbus.toml" <<TOML
[app]
name = "slowloris"
[component.hello]
source = "$PWD/target/wasm32-wasip2/release/hello.wasm"
routes = ["GET /hello"]
TOML
target/release/nimbus up "$work/app" --listen "127.0.0.1:$port" --data "$work/data" >/dev/null 2>"$work/nimbus.log" &
pids+=($!)
for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$port/hello" >/dev/null 2>&1 && break; sleep 0.05; done

cat > "$work/slowloris.py" <<'PY'
import resource, socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
def open_one():
    s = socket.create_connection(("127.0.0.1", port))
    s.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
    return s
socks = [open_one() for _ in range(count)]
print("open", flush=True)
reopened = 0
while True:
    time.sleep(1)
    for i, s in enumerate(socks):
        try:
            s.send(b"X-a: b\r\n")
        except OSError:
            s.close()
            socks[i] = open_one()
            reopened += 1
PY

p99s_quiet=(); p99s_attack=()
measure() {  # label
  local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$port/hello")
  if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "$out" | grep "Non-2xx\|Socket errors" >&2; fi
  local p50 p99 rps
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  printf '  %-8s %10s req/s  p50 %8s  p99 %8s\n' "$1" "$rps" "$p50" "$p99"
  echo "$p99"
}
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/,"",v); print v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v } else { sub(/s$/,"",v); print v*1000 } }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  out=$(measure quiet); echo "$out" | head -n -1; p99s_quiet+=("$(to_ms "$(echo "$out" | tail -1)")")
  python3 "$work/slowloris.py" "$port" "$SLOW" > "$work/slow.out" &
  slow=$!
  for _ in $(seq 1 600); do grep -q open "$work/slow.out" 2>/dev/null && break; sleep 0.05; done
  out=$(measure attack); echo "$out" | head -n -1; p99s_attack+=("$(to_ms "$(echo "$out" | tail -1)")")
  kill "$slow" 2>/dev/null || true; wait "$slow" 2>/dev/null || true
done
q=$(median "${p99s_quiet[@]}"); a=$(median "${p99s_attack[@]}")
echo "median p99: quiet ${q} ms, under $SLOW slowloris connections ${a} ms; ratio $(awk -v a="$a" -v q="$q" 'BEGIN { printf "%.2f", a/q }')"
