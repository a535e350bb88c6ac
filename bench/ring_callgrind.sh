#!/bin/sh
# Instructions per item of broadcast_ring and buffer_pool cases on one thread, from callgrind:
# (Ir at 2N items - Ir at N items) / N, so set-up and teardown cancel out.
#   bench/ring_callgrind.sh build/bench/bench/ring_callgrind [N]
set -eu
bin=$1
n=${2:-200000}
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-20s %s\n' case instr_per_item
for c in write push_pop read_latest waits_write waits_push_pop pool_none pool_on_release pool_none_padding0; do
  a=$(ir "$c" "$n") || continue
  b=$(ir "$c" $((2 * n))) || continue
  [ -n "$a" ] && [ -n "$b" ] || continue
  printf '%-20s %s\n' "$c" "$(echo "scale=2; ($b - $a) / $n" | bc)"
done
