#!/usr/bin/env bash
# The native build with clang++ 14 (warnings as errors, cmake/DuetWarnings.cmake) in
# build/clang: builds and runs the core suite (semantics and loop contract). g++ 12
# builds and tests everything (scripts/build.sh, scripts/test.sh). At -O0: clang's
# warnings do not depend on the optimiser, and CI's minutes do.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DUET_JOBS:-$(nproc)}
CC=clang-14 CXX=clang++-14 cmake -S . -B build/clang -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build build/clang -j "$jobs" --target duet_test_core_semantics duet_test_core_contract
build/clang/tests/core_semantics --gtest_brief=1
build/clang/tests/core_contract --gtest_brief=1
