#!/usr/bin/env bash
# The whole test suite, twice: a Release build and an AddressSanitizer +
# UndefinedBehaviorSanitizer build, warnings as errors; the format and clang-tidy checks;
# then the fuzzers, for a bounded time each (tests/fuzz). Installs what is missing first, including the npm packages the SDK and
# CLI tests drive.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh" --test
(cd "$root/tests/clients" && npm ci --no-audit --no-fund --loglevel=error)
# The real Claude Code and Codex CLIs for tests/clients/cli/run_cli_tests.sh.
(cd "$root/tests/clients/cli" && npm ci --no-audit --no-fund --loglevel=error)
# The Kubernetes schemas for tests/deploy/kubernetes/test_manifests.mjs.
(cd "$root/tests/deploy/kubernetes" && npm ci --no-audit --no-fund --loglevel=error)

status=0
# The tree's format first: it takes seconds and says exactly which file to fix.
echo "== format (at ${SECONDS}s)"
"$root/scripts/check-format.sh" || status=1
for flavour in release asan; do
  echo "== $flavour build (at ${SECONDS}s)"
  "$root/scripts/build.sh" "$flavour" -DSWITCHYARD_WERROR=ON -DSWITCHYARD_TESTS=ON
  echo "== $flavour tests (at ${SECONDS}s)"
  # halt_on_error keeps a sanitizer finding from scrolling past unnoticed.
  if ! (cd "$root/build/$flavour" &&
        ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -j "$(nproc)" --timeout 300); then
    status=1
  fi
done
# clang-tidy over every source file, with the release build's compile database.
echo "== clang-tidy (at ${SECONDS}s)"
"$root/scripts/check-tidy.sh" "$root/build/release" || status=1
# The fuzzers (clang, libFuzzer, ASan + UBSan), each for SWITCHYARD_FUZZ_SECONDS (45 s).
echo "== fuzz build (at ${SECONDS}s)"
"$root/scripts/build.sh" fuzz -DSWITCHYARD_WERROR=ON
echo "== fuzz tests (at ${SECONDS}s)"
if ! (cd "$root/build/fuzz" && ctest --output-on-failure -j "$(nproc)" -L fuzz); then
  status=1
fi
echo "== done in ${SECONDS}s"
exit $status
