#!/usr/bin/env bash
# Mail benchmark for `make bench`: the latency of the endpoints that send mail through an SMTP
# server on loopback (aiosmtpd, as the tests use), against the same endpoint sending nothing,
# in the same run, interleaved:
#   - POST /auth/v1/otp for a user: the mail is sent before the answer (SMTP on the path)
#   - POST /auth/v1/recover for a user: the mail goes after the answer
#   - POST /auth/v1/recover for an address without an account: no mail (the baseline)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target"   # where the paths below look, whatever the caller set

REQUESTS=${REQUESTS:-9}   # per kind: the three kinds together stay within the per-address bucket of 30
unset RUST_BACKTRACE

make --no-print-directory mail-tools >/dev/null
cargo build --release -p nimbus --bin nimbus
NIMBUS=target/release/nimbus
work=$(mktemp -d -p "$PWD/target")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck source=bench/lib.sh
. bench/lib.sh
smtp_port=$(free_port)
target/tools/python/bin/python tests/mail/smtp_sink.py "$smtp_port" "$work/mails" > "$work/sink.out" &
pids+=($!)
for _ in $(seq 1 100); do grep -q ready "$work/sink.out" 2>/dev/null && break; sleep 0.05; done

port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -p "$work/app"
cat > "$work/app/nimbus.toml" <<TOML
[app]
name = "mailbench"
[component.hello]
source = "$PWD/target/wasm32-wasip2/release/hello.wasm"
routes = ["GET /hello"]
TOML
NIMBUS_LOG=warn $NIMBUS up "$work/app" --listen "127.0.0.1:$port" --data "$work/data" \
  --smtp "smtp+insecure://127.0.0.1:$smtp_port" >/dev/null &
pids+=($!)
for _ in $(seq 1 200); do curl -fs "$base/hello" >/dev/null 2>&1 && break; sleep 0.05; done
secret=$($NIMBUS keys show --secret --app "$work/app" --data "$work/data")
for i in $(seq 1 $((2 * REQUESTS))); do
  curl -fs -o /dev/null -X POST "$base/auth/v1/admin/users" -H "authorization: Bearer $secret" \
    -H 'content-type: application/json' -d "{\"email\":\"user$i@example.com\",\"email_confirm\":true}"
done

post() { curl -fs -o /dev/null -w '%{time_total}\n' -X POST "$base/auth/v1/$1" \
  -H 'content-type: application/json' -d "{\"email\":\"$2\"}"; }
for i in $(seq 1 "$REQUESTS"); do
  post recover "nobody$i@example.com" >> "$work/none.times"
  post recover "user$i@example.com" >> "$work/recover.times"
  post otp "user$((i + REQUESTS))@example.com" >> "$work/otp.times"
done
percentiles() { sort -n | awk '{a[NR]=$1} END {printf "p50 %6.2f ms   p99 %6.2f ms", a[int(NR*0.5+0.5)]*1000, a[int(NR*0.99+0.5)]*1000}'; }
expected=$((2 * REQUESTS))
for _ in $(seq 1 100); do
  [ "$(find "$work/mails" -name '*.json' | wc -l)" -ge "$expected" ] && break; sleep 0.05
done
received=$(find "$work/mails" -name '*.json' | wc -l)
echo "== $REQUESTS requests of each, interleaved =="
printf '  recover, no account (no mail)         %s\n' "$(percentiles < "$work/none.times")"
printf '  recover, mail after the answer        %s\n' "$(percentiles < "$work/recover.times")"
printf '  otp, mail over SMTP before the answer %s\n' "$(percentiles < "$work/otp.times")"
printf '  %d of %d mails received\n' "$received" "$expected"
