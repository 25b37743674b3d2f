#!/usr/bin/env bash
# Fails when a C++ file of the tree differs from the repository's .clang-format, naming it.
# Fix with: git ls-files '*.cpp' '*.hpp' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
while IFS= read -r file; do
  if ! clang-format --dry-run -Werror "$file" >/dev/null 2>&1; then
    echo "check-format: $file is not formatted (clang-format -i $file)" >&2
    status=1
  fi
done < <(git ls-files '*.cpp' '*.hpp')
[[ $status -eq 0 ]] && echo "check-format: every C++ file is formatted"
exit $status
