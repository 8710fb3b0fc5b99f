#!/usr/bin/env bash
# Guests per language, measured in one run (`make bench` runs it): the hello component in Rust
# (guests/hello), JavaScript (guests/js/hello) and Python (guests/python/hello), and the same
# JavaScript hello under workerd (Cloudflare's Workers runtime, from npm) as the baseline:
#  - component size;
#  - compile time on first load (the host's own `compiled component` log line);
#  - start -> first response with the compiled-code cache warm, ROUNDS starts each, median;
#  - hello requests/s and p99 with a fresh instance per request (`wrk -t1 -c8`), and for
#    JavaScript and Python also with warm instances (`instances.reuse = 1000`; both
#    toolchains' output keeps working, module state included, across calls on one instance),
#    ROUNDS interleaved rounds, medians, and JavaScript on nimbus against workerd.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
WORKERD_VERSION=1.20261117.1
unset RUST_BACKTRACE
cargo build -q --release -p nimbus --bin nimbus
NIMBUS=$PWD/target/release/nimbus
for guest in target/wasm32-wasip2/release/hello.wasm target/guests/js-hello.wasm target/guests/py-hello.wasm; do
  [ -f "$guest" ] || { echo "$guest is missing: run make guests" >&2; exit 1; }
done
WORKERD_DIR=$PWD/target/tools/workerd
if [ ! -x "$WORKERD_DIR/node_modules/.bin/workerd" ]; then
  mkdir -p "$WORKERD_DIR"
  (cd "$WORKERD_DIR" && npm install --no-audit --no-fund --loglevel=error --no-save "workerd@$WORKERD_VERSION" >/dev/null)
fi
WORKERD=$WORKERD_DIR/node_modules/.bin/workerd

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. bench/lib.sh
now_ms() { date +%s%3N; }

declare -A SOURCE=([rust]=$PWD/target/wasm32-wasip2/release/hello.wasm
  [js]=$PWD/target/guests/js-hello.wasm [py]=$PWD/target/guests/py-hello.wasm)
declare -A ROUTE=([rust]=/hello [js]=/js/hello [py]=/py/hello)
LANGUAGES="rust js py"

app_for() {  # language [reuse]: an app serving only that language's hello
  local dir=$work/$1${2:+-warm}
  mkdir -p "$dir"
  cat >"$dir/nimbus.toml" <<TOML
[app]
name = "hello-$1"
[component.hello]
source = "${SOURCE[$1]}"
routes = ["GET ${ROUTE[$1]}"]
[component.hello.instances]
reuse = ${2:-1}
TOML
}

wait_ok() {  # url: until it answers 200 (at most 120 s)
  for _ in $(seq 1 24000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
    sleep 0.005
  done
  echo "$1 never answered" >&2; exit 1
}

echo "size and compile time on first load"
for language in $LANGUAGES; do
  app_for "$language"
  NIMBUS_LOG=info "$NIMBUS" check "$work/$language" --data "$work/$language/data" \
    --cache-dir "$work/cache" 2>"$work/$language.compile" >/dev/null
  compile=$(grep -o 'elapsed_ms=[0-9]*' "$work/$language.compile" | head -1 | cut -d= -f2)
  printf "  %-5s %9s bytes  compile %6s ms\n" "$language" "$(stat -c %s "${SOURCE[$language]}")" "${compile:-?}"
done

start_nimbus() {  # language port
  "$NIMBUS" up "$work/$1" --listen "127.0.0.1:$2" --data "$work/$1/data" --cache-dir "$work/cache" \
    >/dev/null 2>>"$work/$1.log" &
  echo $!
}

cat >"$work/hello.js" <<'JS'
export default {
  async fetch(request) {
    const name = new URL(request.url).searchParams.get("name") ?? "world";
    return new Response(JSON.stringify({ message: `Hello, ${name}!`, language: "javascript" }), {
      headers: { "content-type": "application/json" },
    });
  },
};
JS
cat >"$work/config.capnp" <<'CAPNP'
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .hello) ],
  sockets = [ ( name = "http", address = "127.0.0.1:0", http = (), service = "main" ) ]
);
const hello :Workerd.Worker = (
  modules = [ (name = "hello.js", esModule = embed "hello.js") ],
  compatibilityDate = "2025-01-01",
);
CAPNP
start_workerd() {  # port
  "$WORKERD" serve "$work/config.capnp" --socket-addr "http=127.0.0.1:$1" >/dev/null 2>>"$work/workerd.log" &
  echo $!
}

echo "start -> first response, cache warm ($ROUNDS starts each, median ms)"
for round in $(seq 1 "$ROUNDS"); do
  for runtime in $LANGUAGES workerd; do
    port=$(free_port)
    started=$(now_ms)
    if [ "$runtime" = workerd ]; then pid=$(start_workerd "$port"); path=/
    else pid=$(start_nimbus "$runtime" "$port"); path=${ROUTE[$runtime]}; fi
    wait_ok "http://127.0.0.1:$port$path"
    echo $(( $(now_ms) - started )) >>"$work/start.$runtime"
    # Started in a subshell, so not this shell's child to wait for: poll until it is gone,
    # since the next start opens the same data directory.
    kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  done
done
for runtime in $LANGUAGES workerd; do
  printf "  %-8s %6s ms\n" "$runtime" "$(median <"$work/start.$runtime")"
done
echo "guest memory at its peak in one hello request (the host's invocation log)"
for language in $LANGUAGES; do
  peak=$(grep -o 'peak_memory=[0-9]*' "$work/$language.log" | head -1 | cut -d= -f2)
  printf "  %-5s %6.1f MiB\n" "$language" "$(awk -v b="${peak:-0}" 'BEGIN { print b / 1048576 }')"
done

echo "hello: wrk -t1 -c8 -d$DURATION, $ROUNDS interleaved rounds (-warm: reuse = 1000)"
declare -A URL
app_for js 1000
app_for py 1000
for app in $LANGUAGES js-warm py-warm; do
  language=${app%-warm}
  port=$(free_port); pids+=("$(start_nimbus "$app" "$port")")
  URL[$app]="http://127.0.0.1:$port${ROUTE[$language]}"; wait_ok "${URL[$app]}"
done
port=$(free_port); pids+=("$(start_workerd "$port")")
URL[workerd]="http://127.0.0.1:$port/"; wait_ok "${URL[workerd]}"
RUNTIMES="$LANGUAGES js-warm py-warm workerd"
for round in $(seq 1 "$ROUNDS"); do
  for runtime in $RUNTIMES; do
    out=$(wrk -t1 -c8 -d"$DURATION" --latency "${URL[$runtime]}")
    echo "$out" | awk '/Requests\/sec/ { print $2 }' >>"$work/rps.$runtime"
    echo "$out" | awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
      else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
      print v }' >>"$work/p99.$runtime"
  done
done
for runtime in $RUNTIMES; do
  printf "  %-8s %9.0f req/s  p99 %7.2f ms\n" "$runtime" "$(median <"$work/rps.$runtime")" "$(median <"$work/p99.$runtime")"
done
wd=$(median <"$work/rps.workerd")
for runtime in js js-warm; do
  awk -v a="$(median <"$work/rps.$runtime")" -v b="$wd" -v r="$runtime" \
    'BEGIN { printf "  JavaScript on nimbus (%s) / workerd: %.2fx requests/s\n", r, a / b }'
done
