#!/usr/bin/env bash
# Installs what Switchyard needs on Debian 12, and nothing that is already there.
#   scripts/install-deps.sh          build and run dependencies
#   scripts/install-deps.sh --test   also what the test suite needs (Node.js for the SDK tests,
#                                    clang for the fuzzers, clang-format and clang-tidy)
# Boost comes from the versioned 1.81 packages: the unversioned libboost-*-dev are 1.74 and
# conflict with them.
set -euo pipefail

packages=(g++ cmake make ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsimdjson-dev prometheus-cpp-dev libyaml-cpp-dev libsqlite3-dev libpq-dev
  libhiredis-dev ca-certificates)
if [[ "${1:-}" == "--test" ]]; then
  # iproute2 and util-linux: the CLI tests run Claude Code and Codex in a loopback-only
  # network namespace (unshare -n, ip link set lo up).
  packages+=(catch2 openssl curl python3 iproute2 util-linux)
  # prometheus (with promtool): tests/deploy runs the dashboard's queries and the alert rules
  # against a real Prometheus server.
  packages+=(prometheus)
  # The scale-out tests (issue 14) start real servers on loopback: Redis, and PostgreSQL
  # (initdb and postgres, run as its "postgres" user through setpriv when the tests run as root).
  packages+=(redis-server postgresql)
  # The fuzz flavour: clang with libFuzzer and the sanitizer runtimes (libclang-rt-14-dev is
  # only a recommendation of clang), and llvm-14 for llvm-symbolizer, so reports name lines.
  packages+=(clang libclang-rt-14-dev llvm-14)
  # The habits CI checks: the format (scripts/check-format.sh) and clang-tidy
  # (scripts/check-tidy.sh).
  packages+=(clang-format clang-tidy)
  # The container test (tests/deploy/container): podman builds and runs the image, with runc
  # (crun refuses hybrid cgroup hierarchies), on a Debian 12 base made by mmdebstrap; uidmap
  # for rootless podman.
  packages+=(podman runc mmdebstrap uidmap)
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

exec "$(dirname "$0")/apt-install-missing.sh" install-deps "${packages[@]}"
