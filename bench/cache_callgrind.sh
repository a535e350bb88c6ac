#!/bin/sh
# Instructions per request of the one-thread Zipf read-through lines (the session cache's forms
# and the mutex LRU), from callgrind: (count at 2N requests - count at N) / N, so set-up,
# warm-up and teardown cancel out. With CACHE_SIM=1 also data-cache misses per request
# (callgrind's simulated D1 and last-level caches; slower).
#   bench/cache_callgrind.sh build/bench/bench/cache_callgrind [N]
set -eu
bin=$1
n=${2:-400000}
sim=${CACHE_SIM:-0}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Prints "Ir D1 LL" totals of one run (D1 and LL misses are 0 without the cache simulation).
totals() {
  if [ "$sim" = 1 ]; then
    valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$out" "$bin" "$1" "$2" \
      >/dev/null 2>&1
    # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
    sed -n 's/^totals: //p' "$out" | awk '{print $1, $6 + $7, $9 + $10}'
  else
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
    sed -n 's/^totals: //p' "$out" | awk '{print $1, 0, 0}'
  fi
}
printf '%-16s %12s %10s %10s\n' case instr/request D1miss/req LLmiss/req
for c in concurrent visit single_threaded lru; do
  set -- $(totals "$c" "$n") $(totals "$c" $((2 * n)))
  printf '%-16s %12s %10s %10s\n' "$c" "$(echo "scale=1; ($4 - $1) / $n" | bc)" \
    "$(echo "scale=2; ($5 - $2) / $n" | bc)" "$(echo "scale=2; ($6 - $3) / $n" | bc)"
done
