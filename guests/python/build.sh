#!/bin/sh
# Builds a Python guest of this repository against the world in ./wit, which `nimbus build`
# writes from the component's grants, with the SDK on its path. Run in the guest's folder:
# build.sh MODULE OUT
set -eu
module=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
tool=$here/../../target/tools/python/bin/componentize-py
if [ ! -x "$tool" ]; then
  echo "componentize-py is not installed: run \`make py-toolchain\` (a virtual environment in target/tools/python with guests/python/requirements.txt)" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
"$tool" --wit-path wit --world guest componentize "$module" --python-path . --python-path "$here/../sdk/python" -o "$out"
