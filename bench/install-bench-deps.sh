#!/usr/bin/env bash
# Installs what the benchmark harness (bench/run) needs beyond the build, and nothing that is
# already there: nginx and gnuplot from Debian, python3, and the Portkey gateway from the
# pinned lockfile in bench/peers/portkey. Safe to run again; a second run does nothing.
#   bench/install-bench-deps.sh             everything
#   bench/install-bench-deps.sh --no-npm    only the Debian packages
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
with_npm=1
[[ "${1:-}" == "--no-npm" ]] && with_npm=0

packages=(nginx gnuplot-nox python3)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
# Debian's nginx package starts a system nginx on port 80 when installed. The harness runs its
# own nginx on loopback, so keep the package's service from starting while it installs (the
# policy-rc.d convention); a policy-rc.d that was already there is left alone.
if ! dpkg-query -W -f='${Status}' nginx 2>/dev/null | grep -q "install ok installed" &&
   [[ ! -e /usr/sbin/policy-rc.d ]]; then
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  guard=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$guard" >/dev/null
  "${sudo_cmd[@]}" chmod +x "$guard"
  trap '"${sudo_cmd[@]}" rm -f "$guard"' EXIT
fi
"$root/scripts/apt-install-missing.sh" install-bench-deps "${packages[@]}"

if ((with_npm)); then
  dir="$root/bench/peers/portkey"
  stamp="$dir/node_modules/.switchyard-lock.sha256"
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
  fi
  echo "install-bench-deps: npm ci in bench/peers/portkey"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
