#!/bin/sh
# Instructions per packet of the jitter buffer (push + releases) and of the std::map
# baseline on the same traces, from callgrind:
# (Ir at 2N passes - Ir at N passes) / (N * 65536), so building the trace cancels out.
#   bench/jitter_callgrind.sh build/bench/bench/jitter_callgrind [N]
set -eu
bin=$1
n=${2:-2}
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-10s %-18s %s\n' trace streamiso std_map
for pct in 0 5 20; do
  a=$(ir "$pct" "$n")
  b=$(ir "$pct" $((2 * n)))
  c=$(ir "$pct" "$n" map)
  d=$(ir "$pct" $((2 * n)) map)
  printf '%-10s %-18s %s\n' "reorder$pct" "$(echo "scale=2; ($b - $a) / ($n * 65536)" | bc)" \
    "$(echo "scale=2; ($d - $c) / ($n * 65536)" | bc)"
done
