#!/usr/bin/env bash
# Fails (exit 1) when any tracked C++ source differs from what scripts/format.sh would make
# of it, and names the files; changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/format_files.sh
# One clang-format process for every file: each difference is reported as "<file>:<line>:<col>:
# error: code should be clang-formatted"; the exit status alone says only that one exists.
report="$("$CLANG_FORMAT" --style=file --dry-run --Werror "${FORMAT_FILES[@]}" 2>&1)" && status=0 || status=$?
if ((status != 0)); then
  bad="$(grep -oE '^[^:]+:[0-9]+:[0-9]+: error' <<<"$report" | cut -d: -f1 | sort -u || true)"
  if [ -z "$bad" ]; then echo "$report"; exit 2; fi  # clang-format failed for another reason
  printf 'not formatted: %s\n' $bad
  echo "$(wc -l <<<"$bad") of ${#FORMAT_FILES[@]} files need scripts/format.sh ($("$CLANG_FORMAT" --version))"
  exit 1
fi
echo "format: ${#FORMAT_FILES[@]} files clean"
