#!/usr/bin/env bash
# clang-tidy (.clang-tidy: bugprone, performance, naming; warnings as errors) over every
# source file of the gateway: core/, adapters/, proxy/, metrics/, bench/ and the headers they
# include from there. Needs a compile database: scripts/check-tidy.sh [BUILD_DIR]
# (default build/release, as scripts/build.sh release writes it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "check-tidy: no $build/compile_commands.json; run scripts/build.sh release first" >&2
  exit 2
fi
cd "$root"
log=$(mktemp)
db=$(mktemp -d)
trap 'rm -rf "$log" "$db"' EXIT
# The build's precompiled headers are GCC's, which clang cannot read: the same commands
# without them.
python3 - "$build/compile_commands.json" "$db/compile_commands.json" <<'PY'
import json, re, sys
entries = json.load(open(sys.argv[1]))
for e in entries:
    e["command"] = re.sub(r" -include \S*cmake_pch\.hxx| -Winvalid-pch", "", e["command"])
json.dump(entries, open(sys.argv[2], "w"))
PY
mapfile -t files < <(git ls-files 'core/*.cpp' 'adapters/*.cpp' 'proxy/*.cpp' 'metrics/*.cpp' \
  'bench/*.cpp')
# One file per process, as many at once as there are cores; --quiet keeps only findings.
if printf '%s\n' "${files[@]}" |
    xargs -P "$(nproc)" -n 1 clang-tidy -p "$db" --quiet >"$log" 2>&1; then
  echo "check-tidy: ${#files[@]} files, no finding"
else
  grep -E "(warning|error):" "$log" | sort -u >&2 || cat "$log" >&2
  echo "check-tidy: findings above (fix them, or say in .clang-tidy why a check is off)" >&2
  exit 1
fi
