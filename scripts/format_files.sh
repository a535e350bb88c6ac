#!/usr/bin/env bash
# Sourced by format.sh and check_format.sh: the clang-format binary and the files it owns.
# Debian's clang-format 14 (package clang-format on bookworm): another major version formats
# differently, so the check and the tree agree only with this one.
CLANG_FORMAT="${CLANG_FORMAT:-}"
if [ -z "$CLANG_FORMAT" ]; then
  for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null 2>&1; then CLANG_FORMAT="$c"; break; fi
  done
fi
if [ -z "$CLANG_FORMAT" ]; then
  echo "clang-format not found (Debian: apt-get install clang-format)" >&2
  exit 2
fi
if ! "$CLANG_FORMAT" --version | grep -q "version 14\."; then
  echo "$CLANG_FORMAT is not clang-format 14: $("$CLANG_FORMAT" --version)" >&2
  exit 2
fi
# Every C++ source the repository tracks; generated and third-party code is not tracked.
mapfile -d '' FORMAT_FILES < <(git ls-files -z -- '*.cpp' '*.hpp' '*.h')
