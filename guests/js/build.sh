#!/bin/sh
# Builds a JavaScript guest of this repository: bundles APP (with the SDK it imports) into one
# module, then makes a component of it against the world in ./wit, which `nimbus build` writes
# from the component's grants. Run in the guest's folder: build.sh APP OUT [componentize-js flags]
set -eu
app=$1
out=$2
shift 2
bin=$(cd "$(dirname "$0")" && pwd)/node_modules/.bin
if [ ! -x "$bin/componentize-js" ] || [ ! -x "$bin/esbuild" ]; then
  echo "the JavaScript toolchain is not installed: run \`npm ci\` in $(dirname "$bin")/.. (make js-toolchain)" >&2
  exit 1
fi
mkdir -p dist "$(dirname "$out")"
"$bin/esbuild" "$app" --bundle --format=esm --platform=neutral --external:'nimbus:*' \
  --outfile=dist/app.js --log-level=warning
# Record handlers make no outbound requests unless granted hosts: leave wasi:http out.
"$bin/componentize-js" dist/app.js --wit wit --world-name guest --disable http fetch-event "$@" -o "$out"
