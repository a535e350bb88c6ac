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
# A driver without the baseline (bench/compare/v0_1) ignores `map`: its column is left out.
has_map=no
if "$bin" 0 0 map | grep -q '^map'; then has_map=yes; fi
printf '%-10s %-18s %s\n' trace streamiso std_map
for pct in 0 5 20; do
  a=$(ir "$pct" "$n")
  b=$(ir "$pct" $((2 * n)))
  m=-
  if [ "$has_map" = yes ]; then
    c=$(ir "$pct" "$n" map)
    d=$(ir "$pct" $((2 * n)) map)
    m=$(echo "scale=2; ($d - $c) / ($n * 65536)" | bc)
  fi
  printf '%-10s %-18s %s\n' "reorder$pct" "$(echo "scale=2; ($b - $a) / ($n * 65536)" | bc)" "$m"
done
