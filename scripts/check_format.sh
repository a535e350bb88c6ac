#!/usr/bin/env bash
# Fails (exit 1) when any tracked C++ source differs from what scripts/format.sh would make
# of it, and names the files; changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/format_files.sh
bad=()
for f in "${FORMAT_FILES[@]}"; do
  if ! "$CLANG_FORMAT" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if ((${#bad[@]})); then
  printf 'not formatted: %s\n' "${bad[@]}"
  echo "${#bad[@]} of ${#FORMAT_FILES[@]} files need scripts/format.sh ($("$CLANG_FORMAT" --version))"
  exit 1
fi
echo "format: ${#FORMAT_FILES[@]} files clean"
