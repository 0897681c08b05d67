#!/usr/bin/env bash
# The native suite under ASan+UBSan, and the thread-safe parts under TSan, both built with
# clang++ 14 — which makes this also CI's native clang build (warnings as errors on every
# duet target and test). clang compiles the suite at -O0 in a quarter of g++'s time; the
# g++ build is scripts/build.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DUET_JOBS:-$(nproc)}
status=0
export CC=clang-14 CXX=clang++-14

# The examples are left out (they run in scripts/test.sh's build).
# -g1: line tables for the reports' stack traces, without full debug information.
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" \
  -DDUET_SANITIZE=address,undefined -DDUET_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j "$jobs" || status=1

cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" -DDUET_SANITIZE=thread \
  -DDUET_BUILD_EXAMPLES=OFF >/dev/null
# The thread-safe parts (tests/CMakeLists.txt, duet_test_thread_safety): the loop-contract
# tests with other threads, against every native loop, and the fibers, which announce
# their switches to TSan (native/src/fiber_boost.cpp). Not the 10,000-live-fibers case:
# the TSan runtimes of both clang 14 and g++ 12 fail on it (clang: a SEGV in the runtime;
# g++: sanitizer_stackdepot.cpp:83, a 65,537-frame trace); ASan runs it.
cmake --build build/tsan -j "$jobs" --target duet_test_thread_safety
TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/thread_safety \
  --gtest_filter='*Threadsafe*:Executor*:ThreadBridge*:Fiber*:-Fiber.TenThousandFibersAliveAtOnce' || status=1
exit $status
