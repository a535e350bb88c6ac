#!/bin/sh
# Instructions per item (push + pop) of each SPSC queue on one thread, from callgrind:
# (Ir at 2N items - Ir at N items) / N, so set-up and teardown cancel out.
#   bench/spsc_callgrind.sh build/bench/bench/spsc_callgrind [N]
set -eu
bin=$1
n=${2:-200000}
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$3" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-18s %-6s %s\n' impl case instr_per_item
for c in item burst; do
  for impl in streamiso streamiso_waits streamiso_self streamiso_strict streamiso_checked_each_call cached_index boost moodycamel atomic_queue; do
    a=$(ir "$impl" "$c" "$n") || continue
    b=$(ir "$impl" "$c" $((2 * n))) || continue
    [ -n "$a" ] && [ -n "$b" ] || continue
    printf '%-18s %-6s %s\n' "$impl" "$c" "$(echo "scale=2; ($b - $a) / $n" | bc)"
  done
done
