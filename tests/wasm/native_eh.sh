#!/usr/bin/env bash
# ctest wasm_uncaught_native_eh (tests/wasm/CMakeLists.txt): builds tests/wasm/native_eh
# (uncaught_program.cpp with native wasm exceptions; duet's own sources compiled again
# that way, at -O0 to keep it short) and checks that an exception escaping main prints its
# type and what(), and that a blocking run without ASYNCIFY prints its fix.
#   native_eh.sh DUET_SOURCE_DIR WORK_DIR EMSCRIPTEN_TOOLCHAIN_FILE NODE
set -euo pipefail
src=$1 work=$2 toolchain=$3 node=$4
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
rm -rf "$work"
mkdir -p "$work"
if ! cmake -S "$src/tests/wasm/native_eh" -B "$work" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DDUET_SOURCE_DIR="$src" >"$work/configure.log" 2>&1; then
  cat "$work/configure.log"
  exit 1
fi
grep -q -- "-fwasm-exceptions" "$work/build.ninja" || { echo "FAILED: not built with -fwasm-exceptions"; exit 1; }
if ! ninja -C "$work" -j 2 uncaught >"$work/build.log" 2>&1; then
  cat "$work/build.log"
  exit 1
fi
status=0
check() {
  local mode=$1 want=$2 out
  out=$("$node" "$work/uncaught.js" "$mode" 2>&1 || true)
  echo "--- $mode: $out"
  if ! grep -qE -- "$want" <<<"$out"; then
    echo "FAILED: $mode: expected a line matching: $want"
    status=1
  fi
}
check main "^duet: uncaught app::config_error: bad config"
check blocking "^duet: uncaught duet::not_supported_error: duet: a blocking event loop run .* link the target with duet_blocking_run"
exit $status
