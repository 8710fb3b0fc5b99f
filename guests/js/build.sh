#!/bin/sh
# Builds a JavaScript guest: bundles APP (with the SDK it imports) into one module with esbuild,
# then makes a component of it with componentize-js against the world in ./wit, which
# `nimbus build` writes from the component's grants. Run in the guest's folder:
#   build.sh APP OUT
# The tools come from the node_modules beside this script. Without outbound hosts granted
# (NIMBUS_OUTBOUND_HOSTS, set by `nimbus build`), wasi:http is left out of the component.
set -eu
app=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/node_modules/.bin
if [ ! -x "$bin/componentize-js" ] || [ ! -x "$bin/esbuild" ]; then
  echo "the JavaScript toolchain is not installed: run \`npm install\` in $here" >&2
  exit 1
fi
mkdir -p dist "$(dirname "$out")"
"$bin/esbuild" "$app" --bundle --format=esm --platform=neutral --external:'nimbus:*' \
  --outfile=dist/app.js --log-level=warning
if [ -n "${NIMBUS_OUTBOUND_HOSTS:-}" ]; then
  "$bin/componentize-js" dist/app.js --wit wit --world-name guest -o "$out"
else
  "$bin/componentize-js" dist/app.js --wit wit --world-name guest --disable http fetch-event -o "$out"
fi
