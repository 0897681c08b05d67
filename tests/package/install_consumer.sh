#!/usr/bin/env bash
# ctest package_install_consumer (tests/package/CMakeLists.txt): installs duet's build into a
# temporary prefix, then configures, builds and runs tests/package/consumer against it
# (find_package(duet CONFIG REQUIRED)); natively also against the build tree
# (duet_DIR=<build dir>) and through pkg-config. Each step prints its time.
#   install_consumer.sh BUILD_DIR WORK_DIR CXX_COMPILER [TOOLCHAIN_FILE NODE]
# With TOOLCHAIN_FILE (Emscripten's) the consumer is cross-built and run under NODE.
set -euo pipefail
build=$1 work=$2 cxx=$3 toolchain=${4:-} node=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}  # Emscripten's link (docs/TOOLCHAIN.md)
expect="consumer: result 42, duet 0.1.0 (header 0.1.0)"
gen=(-G Ninja -DCMAKE_BUILD_TYPE=Release)

# shellcheck source=step.sh
. "$here/step.sh"
check_run() {  # check_run NAME PROGRAM...: runs it, checks the line it prints
  local name=$1 out
  shift
  out=$("$@")
  echo "$name: $out"
  if [ "$out" != "$expect" ]; then
    echo "FAILED: $name printed '$out', expected '$expect'"
    exit 1
  fi
}

rm -rf "$work"
mkdir -p "$work"
step install cmake --install "$build" --prefix "$work/prefix"
test -f "$work/prefix/lib/cmake/duet/duetConfig.cmake"
test -f "$work/prefix/lib/cmake/duet/duetConfigVersion.cmake"
test -f "$work/prefix/include/duet/duet.hpp"
test -f "$work/prefix/include/duet/version.hpp"

if [ -n "$toolchain" ]; then
  # Emscripten: find_package looks only inside the sysroot unless told (CMAKE_FIND_ROOT_PATH).
  test -f "$work/prefix/share/duet/js/duet.js"
  # Debug: an optimised ASYNCIFY link costs ~3x the CPU time (wasm-opt) and checks nothing more.
  step configure_installed cmake -S "$here/consumer" -B "$work/installed" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_FIND_ROOT_PATH="$work/prefix"
  step build_installed cmake --build "$work/installed" -j 2
  check_run run_installed "$node" --no-experimental-fetch "$work/installed/consumer.js"
  exit 0
fi

step configure_installed cmake -S "$here/consumer" -B "$work/installed" "${gen[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$work/prefix"
step build_installed cmake --build "$work/installed" -j 2
check_run run_installed "$work/installed/consumer"

# The build tree's export: no install needed.
step configure_build_tree cmake -S "$here/consumer" -B "$work/build_tree" "${gen[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" -Dduet_DIR="$build"
step build_build_tree cmake --build "$work/build_tree" -j 2
check_run run_build_tree "$work/build_tree/consumer"

# pkg-config, from the installed duet.pc.
flags=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs duet)
echo "pkg-config --cflags --libs duet: $flags"
# Cheap: --cflags must find every header (preprocessing only); --libs must link the
# consumer's object (compiled above) into a program whose default loop is registered.
cflags=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags duet)
libs=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --libs duet)
# shellcheck disable=SC2086  # the flags are words
step preprocess_pkg_config "$cxx" $cflags -E "$here/consumer/main.cpp" -o "$work/consumer_pc.ii"
# shellcheck disable=SC2086
step link_pkg_config "$cxx" "$work/installed/CMakeFiles/consumer.dir/main.cpp.o" -o "$work/consumer_pc" $libs
check_run run_pkg_config "$work/consumer_pc"
