#!/usr/bin/env bash
# clang-tidy 14 over runtime/ (checks in .clang-tidy) with a native build's
# compile_commands.json, clang-format 14 --dry-run --Werror over the tree's C++ and JS, and
# the guides' code blocks against docs/snippets (scripts/doc_snippets.py --check).
# Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DUET_JOBS:-$(nproc)}
tidy=$(command -v clang-tidy-14 || command -v clang-tidy)
format=$(command -v clang-format-14 || command -v clang-format)
status=0

# A clang configuration of the tree; configuring it is enough for compile_commands.json.
if [ ! -f build/clang/compile_commands.json ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build/clang -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
fi

echo "---- clang-tidy (runtime/)"
# xargs exits 123 when any clang-tidy failed; every file is still checked.
if ! printf '%s\n' runtime/src/*.cpp | xargs -P "$jobs" -n 1 "$tidy" -p build/clang --quiet; then
  echo "lint: clang-tidy found problems (see above)" >&2
  status=1
fi

echo "---- clang-format"
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc' | grep -v '^bench/peers/')
if ! "$format" --dry-run --Werror "${files[@]}"; then
  echo "lint: files not formatted as .clang-format says (clang-format -i them)" >&2
  status=1
fi

echo "---- docs: guides' code blocks equal docs/snippets"
if ! python3 scripts/doc_snippets.py --check; then
  status=1
fi
exit $status
