#!/usr/bin/env bash
# Installs the named Debian packages that are not installed yet, and nothing else; does not
# even refresh the package lists when everything is there.
#   scripts/apt-install-missing.sh LABEL PACKAGE...   (LABEL prefixes the one line it prints)
set -euo pipefail
label=$1
shift
missing=()
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
((${#missing[@]} > 0)) || exit 0

echo "$label: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
