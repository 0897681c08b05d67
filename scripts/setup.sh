#!/usr/bin/env bash
# Installs what duet needs on Debian 12, only what is missing: apt packages (once, with a
# single apt-get update) and the npm packages of package.json into ./node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

want=(cmake ninja-build g++ pkg-config libuv1-dev googletest
      emscripten node-acorn chromium
      clang-14 clang-tidy-14 clang-format-14    # scripts/sanitize.sh (clang) and scripts/lint.sh
      libboost-context1.81-dev)                 # fibers (not libboost-context-dev: 1.74, conflicts)
# node and npm: keep whatever node the machine has; Debian's packages otherwise.
command -v node >/dev/null 2>&1 || want+=(nodejs)
command -v npm >/dev/null 2>&1 || want+=(npm)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Every devDependency of package.json (playwright-core, typescript) must be there.
npm_missing=0
for pkg in playwright-core typescript; do
  [ -f "node_modules/$pkg/package.json" ] || npm_missing=1
done
if [ -f package.json ] && [ "$npm_missing" -eq 1 ]; then
  echo "setup: npm packages"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
fi
