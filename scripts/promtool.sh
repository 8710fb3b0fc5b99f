#!/usr/bin/env bash
# Puts Prometheus' `promtool` (Debian package `prometheus`) under target/tools, unpacked from
# the package rather than installed, so that no Prometheus server is set up on the machine;
# prints its path. The end-to-end tests check `/metrics` with it.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/tools/prometheus
promtool=$dest/usr/bin/promtool
if [ ! -x "$promtool" ]; then
  command -v apt-get >/dev/null || { echo "promtool: apt-get is required to fetch Debian's prometheus package" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # `apt-get download` needs the package lists; refresh them only when the first try fails.
  if ! (cd "$work" && apt-get download -q prometheus >/dev/null 2>&1); then
    apt-get update -q >/dev/null
    (cd "$work" && apt-get download -q prometheus >/dev/null)
  fi
  mkdir -p "$dest"
  dpkg-deb -x "$work"/prometheus_*.deb "$work/unpacked"
  mkdir -p "$dest/usr/bin"
  cp "$work/unpacked/usr/bin/promtool" "$promtool"
fi
"$promtool" --version >/dev/null
echo "$PWD/$promtool"
