#!/usr/bin/env bash
# README command 1: set up this machine, build both targets, run the examples natively
# and under node.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

run() {
  echo "== $*"
  "$@"
}
echo "---- native"
run build/native/examples/hello/hello
for ex in build/native/examples/*/; do
  name=$(basename "$ex")
  [ "$name" = hello ] && continue
  [ -x "$ex/$name" ] || continue
  case "$name" in
    echo_server)  # a server: --self-test runs clients against itself, then stops itself
      run "$ex/$name" --self-test --threads 2
      run "$ex/$name" --self-test --streams ;;
    subprocess)  # the default watcher, then one chosen through the policy
      run "$ex/$name"
      run "$ex/$name" safe ;;
    *) run "$ex/$name" ;;  # echo_streams and echo_protocol serve and call themselves
  esac
done
echo "---- wasm under node"
# Programs (.js) and the npm module's consumers (examples/js_module: consumer.mjs, .cjs);
# duet modules read their .wasm themselves, so node needs no flag.
for js in build/wasm/examples/*/*.js build/wasm/examples/*/*.mjs build/wasm/examples/*/*.cjs; do
  [ -f "$js" ] || continue
  case "$js" in *browser*) continue ;; esac
  run node "$js"
done
if [ -f build/wasm/examples/hello/browser/index.html ]; then
  echo "---- the browser page: serve build/wasm/examples/hello/browser/ and open index.html"
fi
