#!/usr/bin/env bash
# ctest package_subproject (tests/package/CMakeLists.txt): tests/package/parent adds duet
# with add_subdirectory; its CMakeLists.txt checks at configure time that duet changed
# nothing of the parent's (build type, GoogleTest cache variables, tests/examples off,
# target names). Then: no duet warning flag on the parent's compile line, the parent's
# -Wshadow code compiles, the parent's hello and GoogleTest program build and run. A
# second configure with DUET_BUILD_TESTS=ON checks duet's tests take the parent's
# GoogleTest. Nothing of duet itself is compiled (the install test links it).
#   parent_subproject.sh DUET_SOURCE_DIR WORK_DIR CXX_COMPILER
set -euo pipefail
src=$1 work=$2 cxx=$3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=step.sh
. "$here/step.sh"
rm -rf "$work"
mkdir -p "$work"
b=$work/parent
step configure cmake -S "$here/parent" -B "$b" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
  -DDUET_SOURCE_DIR="$src" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
grep -q "duet subproject checks passed" "$work/configure.log"

# The parent's compile line of shadow.cpp: duet's includes, none of duet's warning options.
line=$(grep -o '"command": "[^"]*shadow.cpp[^"]*"' "$b/compile_commands.json")
echo "parent_shadow: $line"
case "$line" in
  *duet/runtime/include* | *runtime/include*) ;;
  *) echo "FAILED: duet's include directory is missing from the parent's target"; exit 1 ;;
esac
for flag in -Werror -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor; do
  if [[ " $line " == *" $flag "* ]]; then
    echo "FAILED: duet's $flag reached the parent's target"
    exit 1
  fi
done
step build_parent ninja -C "$b" -j 2 hello parent_test CMakeFiles/parent_shadow.dir/shadow.cpp.o
"$b/hello"
"$b/parent_test" --gtest_brief=1

step configure_with_tests cmake -S "$here/parent" -B "$work/with_tests" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
  -DDUET_SOURCE_DIR="$src" -DDUET_BUILD_TESTS=ON -DDUET_EXPECT_TESTS=ON
grep -q "duet subproject checks passed" "$work/configure_with_tests.log"
