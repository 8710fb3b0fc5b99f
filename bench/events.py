#!/usr/bin/env python3
"""What events cost and how fast they go, against baselines measured in the same run.

One nimbus host (the release binary, default --processes) serves a bench app: the `events`
test guest consuming the queue `jobs` (a no-op handler) and watching the bucket `watched`
(the bucket `plain` is the same without a trigger), and the hello guest. Over interleaved
rounds it measures:

- queue throughput: messages published over HTTP (wrk, 32 connections) until the last one was
  handled, in events/s, against the rate of one fsync'd commit per event (sequential key-value
  writes on one connection: each is one commit, the cost of an event log without group commit);
- publish -> handler start at light load (one message every 20 ms): p50 and p99;
- object upload -> handler start at light load: p50;
- small-object upload rate with a trigger on the bucket against without (wrk, 16 connections);
- hello p99 while the consumers work through a backlog, against hello p99 idle.

`bench/events.py [BINARY]` (default target/release/nimbus); ROUNDS (3) and DURATION (5s).
"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/nimbus")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = os.environ.get("DURATION", "5s")
GUESTS = os.path.join(ROOT, "target/wasm32-wasip2/release")

MANIFEST = f"""
[app]
name = "bench"
metrics = true

[component.worker]
source = "{GUESTS}/events.wasm"
routes = ["/events/..."]
key_value = ["log", "watched"]
queues = ["jobs"]
[component.worker.limits]
max_concurrency = 200

[component.hello]
source = "{GUESTS}/hello.wasm"
routes = ["GET /hello"]

[bucket.watched]
access = "authenticated"

[bucket.plain]
access = "authenticated"

[[trigger.queue]]
queue = "jobs"
component = "worker"
concurrency = 64

[[trigger.object]]
bucket = "watched"
events = ["created"]
component = "worker"
concurrency = 16
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.status, response.read()


def wrk(url, connections, duration, script=None, latency=False):
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}"]
    if latency:
        command.append("--latency")
    if script:
        command += ["-s", script]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} failed responses:\n{out}")
    p99 = None
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)", out, re.M)
    if m:
        p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    return requests, rate, p99


def lua(path, method, headers, body):
    lines = [f'wrk.method = "{method}"', f"wrk.body = {json.dumps(body)}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    if "{n}" in path:
        lines += ["local n = 0", "request = function()", "  n = n + 1",
                  f'  return wrk.format(nil, string.format("{path.replace("{n}", "%d")}", n))',
                  "end"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        return f.name


class Host:
    def __init__(self, work):
        app = os.path.join(work, "app")
        os.makedirs(app)
        with open(os.path.join(app, "nimbus.toml"), "w") as f:
            f.write(MANIFEST)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [BINARY, "up", app, "--listen", f"127.0.0.1:{self.port}", "--data",
             os.path.join(work, "data"), "--metering=false"],
            env={**os.environ, "NIMBUS_LOG": "warn"},
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "host.log"), "w"))
        for _ in range(400):
            try:
                request("GET", self.base + "/healthz")
                break
            except OSError:
                time.sleep(0.05)
        keys = subprocess.run([BINARY, "keys", "show", "--secret", "--app", app, "--data",
                               os.path.join(work, "data")], capture_output=True, text=True,
                              check=True)
        self.secret = keys.stdout.strip()
        _, body = request("POST", self.base + "/auth/v1/signup",
                          json.dumps({"email": "bench@example.com",
                                      "password": "correct horse battery"}).encode(),
                          {"content-type": "application/json"})
        self.token = json.loads(body)["access_token"]

    def handled(self):
        """Queue invocations so far, over every process."""
        _, body = request("GET", self.base + "/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith("nimbus_invocations_total{") and 'trigger="queue"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def publish(self, body):
        request("POST", self.base + "/queue/v1/jobs", body.encode(),
                {"authorization": f"Bearer {self.secret}"})

    def log(self, prefix):
        _, body = request("GET", f"{self.base}/events/log?{prefix}")
        return json.loads(body)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def wait_handled(host, target, deadline_s=120):
    deadline = time.time() + deadline_s
    while True:
        done = host.handled()
        if done >= target:
            return time.time()
        if time.time() > deadline:
            raise SystemExit(f"only {done} of {target} messages handled")
        time.sleep(0.005)


def queue_round(host, scripts):
    before = host.handled()
    started = time.time()
    published, publish_rate, _ = wrk(host.base + "/queue/v1/jobs", 32, DURATION, scripts["publish"])
    finished = wait_handled(host, before + published)
    return published / (finished - started), publish_rate


def start_latencies(host, count, send, prefix, logged_key):
    """Sends `count` events (one every 20 ms) with `send(i)` and returns, for each, the
    milliseconds until its handler started, as the guest logged it under `logged_key(i)`
    (all under `prefix`)."""
    sent = {}
    for i in range(count):
        sent[i] = time.time() * 1000
        send(i)
        time.sleep(0.02)
    deadline = time.time() + 30
    while True:
        started = host.log(prefix)
        if len(started) >= count:
            return [float(started[logged_key(i)]) - at for i, at in sent.items()]
        if time.time() > deadline:
            raise SystemExit(f"events under {prefix} not handled: {len(started)} of {count}")
        time.sleep(0.05)


def latency_round(host, tag):
    return start_latencies(host, 100, lambda i: host.publish(f"ok:{tag}-{i}"),
                           f"ran/{tag}-", lambda i: f"ran/{tag}-{i}/1")


def upload_latency_round(host, tag):
    def upload(i):
        request("POST", f"{host.base}/storage/v1/object/watched/{tag}-{i}", b"x" * 100,
                {"authorization": f"Bearer {host.token}", "content-type": "text/plain"})
    return start_latencies(host, 50, upload, f"obj-at/watched/{tag}-",
                           lambda i: f"obj-at/watched/{tag}-{i}")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")
    if not os.access(BINARY, os.X_OK):
        raise SystemExit(f"{BINARY} is missing: make host-release")
    work = tempfile.mkdtemp()
    host = Host(work)
    try:
        auth = {"authorization": f"Bearer {host.secret}"}
        user = {"authorization": f"Bearer {host.token}", "content-type": "text/plain"}
        scripts = {
            "publish": lua("/queue/v1/jobs", "POST", auth, "noop"),
            "commit": lua("/events/watched/k{n}", "PUT", {}, "v"),
            "watched": lua("/storage/v1/object/watched/{n}-ROUND", "PUT", user, "x" * 100),
            "plain": lua("/storage/v1/object/plain/{n}-ROUND", "PUT", user, "x" * 100),
        }
        rows = {k: [] for k in ["commit", "queue", "publish", "p50", "p99", "upload_p50",
                                "watched", "plain", "hello_idle", "hello_busy"]}
        for r in range(ROUNDS):
            _, commit_rate, _ = wrk(host.base + "/events/log", 1, DURATION, scripts["commit"])
            rows["commit"].append(commit_rate)
            rate, publish_rate = queue_round(host, scripts)
            rows["queue"].append(rate)
            rows["publish"].append(publish_rate)
            lat = latency_round(host, f"lat{r}")
            rows["p50"].append(percentile(lat, 50))
            rows["p99"].append(percentile(lat, 99))
            rows["upload_p50"].append(percentile(upload_latency_round(host, f"up{r}"), 50))
            for side in ["watched", "plain"]:
                script = scripts[side].replace(".lua", f"-{r}.lua")
                with open(scripts[side]) as f, open(script, "w") as g:
                    g.write(f.read().replace("ROUND", str(r)))
                _, rate, _ = wrk(host.base + "/", 16, DURATION, script)
                rows[side].append(rate)
            _, _, idle = wrk(host.base + "/hello", 8, DURATION, latency=True)
            rows["hello_idle"].append(idle)
            # A backlog the consumers take longer than the measurement to work through.
            before = host.handled()
            backlog = 20000
            published = 0
            while published < backlog:
                n, _, _ = wrk(host.base + "/queue/v1/jobs", 32, "1s", scripts["publish"])
                published += n
            _, _, busy = wrk(host.base + "/hello", 8, DURATION, latency=True)
            rows["hello_busy"].append(busy)
            busy_during = host.handled() - before
            wait_handled(host, before + published)
            if busy_during >= published:
                print(f"  (round {r + 1}: the backlog was gone before the hello run ended)")
        med = {k: statistics.median(v) for k, v in rows.items()}
        fmt = lambda k: " ".join(f"{v:.0f}" if v >= 10 else f"{v:.2f}" for v in rows[k])
        print(f"events bench, {ROUNDS} interleaved rounds of {DURATION} (medians; by round)")
        print(f"  one fsync'd commit per event:   {med['commit']:.0f}/s ({fmt('commit')})")
        print(f"  queue, publish -> handled:      {med['queue']:.0f} events/s ({fmt('queue')})"
              f" = {med['queue'] / med['commit']:.1f}x the commit rate; publishing alone "
              f"{med['publish']:.0f}/s")
        print(f"  publish -> handler start:       p50 {med['p50']:.1f} ms, p99 {med['p99']:.1f} ms")
        print(f"  upload -> handler start:        p50 {med['upload_p50']:.1f} ms")
        print(f"  uploads with a trigger:         {med['watched']:.0f}/s vs {med['plain']:.0f}/s "
              f"without = {med['watched'] / med['plain']:.2f}x")
        print(f"  hello p99, consumers busy/idle: {med['hello_busy']:.2f} ms / "
              f"{med['hello_idle']:.2f} ms = {med['hello_busy'] / med['hello_idle']:.2f}x")
    finally:
        host.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
