# Helpers the bench scripts share (sourced, not run).

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

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
