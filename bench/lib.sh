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
