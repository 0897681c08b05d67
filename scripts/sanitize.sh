#!/usr/bin/env bash
# The native suite under ASan+UBSan, and the thread-safe parts under TSan.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DUET_JOBS:-$(nproc)}
status=0

cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDUET_SANITIZE=address,undefined >/dev/null
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j "$jobs" || status=1

cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDUET_SANITIZE=thread -DDUET_BUILD_EXAMPLES=OFF >/dev/null
# The thread-safe parts are loop-contract tests: TSan runs them against every native loop.
cmake --build build/tsan -j "$jobs" --target duet_test_core_contract duet_test_core_semantics
TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/core_contract --gtest_filter='*Threadsafe*:Executor*:ThreadBridge*' || status=1
# Fibers announce their switches to TSan (native/src/fiber_boost.cpp). Not the
# 10,000-live-fibers case: GCC 12's TSan runtime fails an internal check there
# (sanitizer_stackdepot.cpp:83, a 65,537-frame trace); ASan runs it.
TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/core_semantics \
  --gtest_filter='Fiber*:-Fiber.TenThousandFibersAliveAtOnce' || status=1
exit $status
