#!/usr/bin/env bash
# README command 1: set up this machine, build both targets' examples (not the test
# suites: scripts/test.sh turns them on in the same build folders), run them natively and
# under node, and say where the browser page is.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh -DDUET_BUILD_TESTS=OFF -DDUET_BUILD_EXAMPLES=ON

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
# examples/hello/browser/CMakeLists.txt lays the page out in site/ (index.html, the module,
# the loader), ready for any static file server.
site=build/wasm/examples/hello/browser/site
if [ -f "$site/index.html" ] && [ -f "$site/hello_browser.js" ]; then
  echo "---- the browser page: serve $site with \`python3 -m http.server -d $site\`"
  echo "     and open http://localhost:8000/index.html"
else
  echo "examples: the browser page was not built ($site/index.html missing)" >&2
  exit 1
fi
