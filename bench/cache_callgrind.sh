#!/bin/sh
# Instructions per request of the one-thread session cache read-through lines, from callgrind:
# (Ir at 2N requests - Ir at N requests) / N, so set-up, warm-up and teardown cancel out.
#   bench/cache_callgrind.sh build/release/bench/cache_callgrind [N]
set -eu
bin=$1
n=${2:-400000}
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-16s %s\n' case instr_per_request
for c in concurrent visit single_threaded; do
  a=$(ir "$c" "$n")
  b=$(ir "$c" $((2 * n)))
  printf '%-16s %s\n' "$c" "$(echo "scale=2; ($b - $a) / $n" | bc)"
done
