#!/usr/bin/env bash
# The API reference: Doxygen over the public headers (docs/Doxyfile), warnings are errors.
# Installs Debian's doxygen only when it is missing (as scripts/setup.sh does). Output:
# build/docs/html/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v doxygen >/dev/null 2>&1; then
  echo "docs: installing doxygen"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends doxygen >/dev/null
fi
python3 scripts/doc_snippets.py --check  # the guides show docs/snippets as they are
mkdir -p build/docs
doxygen docs/Doxyfile
echo "docs: build/docs/html/index.html"
