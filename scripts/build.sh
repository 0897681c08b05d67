#!/usr/bin/env bash
# Configures and builds both targets: native (libuv) in build/native, wasm (Emscripten,
# browser backend) in build/wasm. Extra arguments go to both cmake configure steps.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DUET_JOBS:-$(nproc)}
# Emscripten 3.1.6's optimizer finds acorn only through NODE_PATH (docs/TOOLCHAIN.md).
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}

cmake -S . -B build/native -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build/native -j "$jobs"
emcmake cmake -S . -B build/wasm -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build/wasm -j "$jobs"
