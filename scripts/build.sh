#!/usr/bin/env bash
# Configures and builds one flavour: scripts/build.sh release|asan|fuzz [extra cmake args]
#   fuzz: clang, core + adapters + the libFuzzer fuzzers of tests/fuzz only (build/fuzz)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
shift || true
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) args=(-DCMAKE_BUILD_TYPE=Debug -DSWITCHYARD_SANITIZE=ON) ;;
  # Debug keeps assertions on; the fuzz options set their own optimisation level.
  fuzz) args=(-DCMAKE_BUILD_TYPE=Debug -DSWITCHYARD_FUZZ=ON)
        export CC=clang CXX=clang++ ;;
  *) echo "build.sh: unknown flavour '$flavour' (release, asan or fuzz)" >&2; exit 2 ;;
esac
# Precompiled headers change nothing ccache needs to see; let it reuse them.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake -S "$root" -B "$root/build/$flavour" "${args[@]}" "$@" >/dev/null
cmake --build "$root/build/$flavour" -j "$(nproc)"
