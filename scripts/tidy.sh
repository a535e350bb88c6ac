#!/usr/bin/env bash
# clang-tidy (Debian's clang-tidy 14, the repository's .clang-tidy) over the library.
# The translation units are drivers: every public header compiled alone (the per-header
# checks, with and without exceptions), noexcept_test and the examples, which instantiate the
# templates. Findings are gated in include/streamiso/ and tests/noexcept/ only; the drivers'
# own code is not the library. Exit 1 on any finding or compile error.
#   scripts/tidy.sh [build dir]   (default build/tidy; configured here with clang++)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
build="${1:-build/tidy}"
tidy="${CLANG_TIDY:-}"
if [ -z "$tidy" ]; then
  for c in clang-tidy-14 clang-tidy; do
    if command -v "$c" >/dev/null 2>&1; then tidy="$c"; break; fi
  done
fi
[ -n "$tidy" ] || { echo "clang-tidy not found (Debian: apt-get install clang-tidy)" >&2; exit 2; }

# Configure only: the per-header sources are written at configure time and nothing needs to
# be built for clang-tidy to parse them.
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DSTREAMISO_BUILD_TESTS=ON -DSTREAMISO_BUILD_EXAMPLES=ON \
  -DSTREAMISO_BUILD_BENCHMARKS=OFF -DSTREAMISO_PACKAGE_TESTS=OFF >/dev/null

mapfile -t units < <(python3 - "$build/compile_commands.json" <<'PY'
import json, sys
seen = set()
for entry in json.load(open(sys.argv[1])):
    f = entry["file"]
    driver = ("/header_check/" in f or f.endswith("/noexcept_test.cpp")
              or ("/examples/" in f and "/examples/common/" not in f))
    if driver and f not in seen:
        seen.add(f)
        print(f)
PY
)
echo "clang-tidy: ${#units[@]} translation units, $("$tidy" --version | grep -m1 version)"
out="$build/tidy.log"
printf '%s\0' "${units[@]}" | xargs -0 -n1 -P2 "$tidy" -p "$build" --quiet >"$out" 2>"$out.stderr" || true

# A finding is "<file>:<line>:<col>: warning|error: ... [check]"; keep those in gated paths,
# and every compile error wherever it is.
findings="$(grep -E "^(${root}/include/streamiso/|${root}/tests/noexcept/)[^:]+:[0-9]+:[0-9]+: (warning|error):|: error:" "$out" | sort -u || true)"
if [ -n "$findings" ]; then
  echo "$findings"
  echo "clang-tidy: $(echo "$findings" | wc -l) findings (full log: $out)"
  exit 1
fi
echo "clang-tidy: clean"
