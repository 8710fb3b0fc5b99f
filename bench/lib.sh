# Helpers the bench scripts share (sourced, not run).

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Waits until the nimbus server with pid $1 answers /healthz on loopback port $2, for up to two
# minutes (a first start compiles the example app's JavaScript and Python components). Ends the
# script with the last lines of the server's log $3 if it exits first or never answers, instead
# of measuring a server that is not there.
wait_ready() {
  local pid=$1 port=$2 log=$3
  for _ in $(seq 1 2400); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "the server for port $port exited:" >&2; tail -n 5 "$log" >&2; exit 1; }
    sleep 0.05
  done
  echo "the server for port $port did not answer in two minutes:" >&2; tail -n 5 "$log" >&2; exit 1
}

# An OTLP/HTTP receiver on loopback port $1 that accepts and drops what it is sent, as a
# collector elsewhere would take it; run in the background by the caller.
otlp_receiver() {
  exec python3 - "$1" <<'PY'
import http.server, sys
class Receiver(http.server.BaseHTTPRequestHandler):
    # Keep-alive, as a collector serves an exporter: a new connection (and thread) per batch
    # would bill the exporter and this receiver for set-up no deployment pays.
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
PY
}

# The set-up of a script that serves nimbus ($BINARY) and loads it with wrk: checks that both
# are there, names the shared compiled-code cache $CACHE, and makes $work, removed at exit, and
# $pids, the background processes stopped at exit.
serve_and_load() {
  # One compiled-code cache across runs: the example app's JavaScript and Python components
  # take about a minute to compile the first time.
  CACHE=$PWD/target/bench-cache
  unset RUST_BACKTRACE
  command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
  [ -x "$BINARY" ] || { echo "$BINARY is missing: make host-release" >&2; exit 1; }
  work=$(mktemp -d)
  pids=()
  trap stop_and_remove EXIT
}

stop_and_remove() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null
  rm -rf "$work"
}
