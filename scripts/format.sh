#!/usr/bin/env bash
# Formats every tracked C++ source in place with clang-format 14 and the repository's
# .clang-format. CI runs scripts/check_format.sh, which fails where this would change a file.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/format_files.sh
"$CLANG_FORMAT" -i --style=file "${FORMAT_FILES[@]}"
echo "formatted ${#FORMAT_FILES[@]} files with $("$CLANG_FORMAT" --version)"
