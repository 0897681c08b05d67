#!/usr/bin/env bash
# README "Benchmarks": the one command that compares duet with its peers (asyncio, uvloop,
# node, Boost.Asio, tokio, raw libuv). Sets this machine up (only what is missing), builds the
# peers and duet's benchmark programs for both targets, then runs bench/run.py with this
# script's arguments, e.g.
#   scripts/bench.sh                     # 5 repetitions of everything (~10-15 min)
#   scripts/bench.sh --quick             # smoke run: small N, 1 repetition
#   scripts/bench.sh --only callsoon,spawn --impls duet,tokio
#   scripts/bench.sh --only echo,bulk,memconn,echo_mt --reps 3   # networking (native only)
#   scripts/bench.sh --only soak         # the 30 s soak (not part of the default run)
# Not part of the test suite; CI never runs it. Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Nothing to build for these: regenerating tables from raw files, or reading the help.
for arg in "$@"; do
  case "$arg" in
    -h|--help|--from-raw) exec python3 bench/run.py "$@" ;;
  esac
done

# The wasm build is needed only when a wasm row may run: not for --targets native, nor
# when --only names native-only (network) families alone.
only="" targets=""
prev=""
for arg in "$@"; do
  case "$prev" in --only) only=$arg ;; --targets) targets=$arg ;; esac
  case "$arg" in --only=*) only=${arg#--only=} ;; --targets=*) targets=${arg#--targets=} ;; esac
  prev=$arg
done
need_wasm=1
if [ -n "$targets" ] && [[ ",$targets," != *,wasm-node,* ]]; then need_wasm=0; fi
if [ "$need_wasm" = 1 ] && [ -n "$only" ]; then
  need_wasm=0
  IFS=, read -ra fams <<< "$only"
  for f in "${fams[@]}"; do
    case "$f" in echo|echo_mt|bulk|memconn|soak|"") ;; *) need_wasm=1 ;; esac
  done
fi
# The production wasm build (native wasm exceptions) is not needed for the fiber family
# alone, whose wasm row has a build of its own (below).
need_wasm_main=$need_wasm
if [ "$only" = "fiber" ]; then need_wasm_main=0; fi

# The machine has 2 cores and the benchmarks are pinned to one of them: never build wider.
jobs=${DUET_JOBS:-2}
if ((jobs > 2)); then jobs=2; fi
# Emscripten 3.1.6's optimizer finds acorn only through NODE_PATH (as in scripts/build.sh).
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}

say() { echo "bench: $*"; }
warn() { echo "bench: WARNING: $*" >&2; }

# ---- 1. packages: duet's own, then the peers' (one apt-get update, only if something is missing)
scripts/setup.sh

peer_pkgs=(python3 python3-uvloop libbenchmark-dev libboost1.81-dev libuv1-dev time librust-tokio-dev util-linux)
missing=()
for p in "${peer_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have on PATH.
if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /root/.cargo/bin; do
    if [ -x "$d/cargo" ]; then export PATH="$d:$PATH"; break; fi
  done
fi
command -v cargo >/dev/null 2>&1 || warn "cargo not found: tokio is skipped"

# ---- 2. the peers: copy their folder into build/ (theirs stays untouched) and build there
peers_src=${DUET_BENCH_PEERS:-../shared/bench-peers}
case "$peers_src" in /*) ;; *) peers_src="$root/$peers_src" ;; esac
peers_dst=build/bench-peers
if [ ! -f "$peers_src/build.sh" ]; then
  warn "no peers at $peers_src (set DUET_BENCH_PEERS): only duet runs"
else
  # Fingerprint of the peers' sources: rebuild only when they changed or a build is missing.
  sum=$(cd "$peers_src" && find . -type f ! -path './results/*' -print0 | sort -z \
          | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  stamp="$peers_dst/.duet-sources.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -x "$peers_dst/asio/bench_asio" ] \
      && { ! command -v cargo >/dev/null 2>&1 || [ -x "$peers_dst/tokio/target/release/bench_tokio" ]; }; then
    say "peers up to date in $peers_dst"
  else
    say "copying $peers_src to $peers_dst and building the peers (asio ~1 min, tokio a few min)"
    mkdir -p "$peers_dst"
    # Over the old copy, so that build outputs (tokio/target) survive; the source folder is
    # read-only, so make the copy writable for build.sh's outputs.
    cp -a "$peers_src/." "$peers_dst/"
    chmod -R u+w "$peers_dst"
    rm -f "$stamp"
    # A peer that fails to build is reported by run.py and skipped; duet still runs.
    if (cd "$peers_dst" && ./build.sh); then
      echo "$sum" > "$stamp"
    else
      warn "the peers' build.sh failed: the peers it did not build are skipped"
    fi
  fi
fi

# ---- 3. duet's benchmark programs, native and wasm, Release
bench_opts=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DDUET_BUILD_TESTS=OFF -DDUET_BUILD_EXAMPLES=OFF
            -DDUET_BUILD_BENCH=ON)
say "building duet (native) in build/bench-native"
cmake -S . -B build/bench-native "${bench_opts[@]}" >/dev/null
cmake --build build/bench-native -j "$jobs"
# The tokio peer of memconn (bench/memconn_tokio), offline against Debian's registry as
# bench-peers' tokio; its build output stays under build/.
if command -v cargo >/dev/null 2>&1 && [ -d /usr/share/cargo/registry ]; then
  say "building bench/memconn_tokio (cargo --offline)"
  (cd bench/memconn_tokio && CARGO_TARGET_DIR="$root/build/bench-native/memconn_tokio" \
     cargo build --release --offline -q) || warn "bench/memconn_tokio failed to build: tokio memconn is skipped"
fi
if ((need_wasm)); then
  if ((need_wasm_main)); then
    say "building duet (wasm) in build/bench-wasm"
    # Native wasm exceptions, as a production module would be built (cmake/DuetWarnings.cmake).
    emcmake cmake -S . -B build/bench-wasm "${bench_opts[@]}" -DDUET_WASM_EXCEPTIONS=ON >/dev/null
    cmake --build build/bench-wasm -j "$jobs"
  fi
  # Fibers need ASYNCIFY, which rules out native wasm exceptions: their row (and the
  # coroutine version it is compared with) comes from a JS-exceptions build.
  if [ -z "$only" ] || [[ ",$only," == *,fiber,* ]]; then
    say "building duet's fiber benchmark (wasm, JS exceptions, ASYNCIFY) in build/bench-wasm-fibers"
    emcmake cmake -S . -B build/bench-wasm-fibers "${bench_opts[@]}" -DDUET_WASM_EXCEPTIONS=OFF >/dev/null
    cmake --build build/bench-wasm-fibers -j "$jobs" --target duet_fiber_bench duet_bench
  fi
else
  say "native families only: the wasm build is skipped"
fi

# ---- 4. run and report
exec python3 bench/run.py "$@"
