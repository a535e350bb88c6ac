#!/usr/bin/env bash
# Formats every tracked C++ source in place with clang-format 14 and the repository's
# .clang-format, then copies the reformatted example regions into README.md
# (scripts/sync_readme.py). CI runs scripts/check_format.sh, which fails where this would
# change a file, and CTest readme.snippets.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/format_files.sh
"$CLANG_FORMAT" -i --style=file "${FORMAT_FILES[@]}"
echo "formatted ${#FORMAT_FILES[@]} files with $("$CLANG_FORMAT" --version)"
python3 scripts/sync_readme.py
