#!/usr/bin/env bash
# README command 2: set up this machine, build both targets, run the whole suite natively,
# under node and in headless Chromium. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Tests on explicitly: scripts/examples.sh may have configured the same folders without them.
scripts/build.sh -DDUET_BUILD_TESTS=ON -DDUET_BUILD_EXAMPLES=ON
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
jobs=${DUET_JOBS:-$(nproc)}

status=0
echo "---- native tests"
ctest --test-dir build/native --output-on-failure -j "$jobs" || status=1
echo "---- wasm tests (node, Chromium)"
ctest --test-dir build/wasm --output-on-failure -j "$jobs" || status=1
if [ "$status" -ne 0 ]; then
  echo "FAILED: see the output above" >&2
fi
exit $status
