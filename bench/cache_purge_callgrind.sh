#!/bin/sh
# Instructions to delete entries from the concurrent session cache, from callgrind: for each way
# (erase one key at a time, purge_session, purge_owner), Ir(case) - Ir(fill) at n and 2n give
# the cost per entry removed, (d(2n) - d(n)) / n, and the fixed part, 2 d(n) - d(2n).
#   bench/cache_purge_callgrind.sh build/release/bench/cache_purge_callgrind [n]
set -eu
bin=$1
n=${2:-4000}
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
f1=$(ir fill "$n")
f2=$(ir fill $((2 * n)))
printf '%-14s %-16s %s\n' case instr_per_entry fixed_instr
# The fill's own cost per put (3n puts), for scale.
printf '%-14s %-16s %s\n' put "$(echo "scale=1; ($f2 - $f1) / (3 * $n)" | bc)" -
for c in erase purge_session purge_owner; do
  d1=$(($(ir "$c" "$n") - f1))
  d2=$(($(ir "$c" $((2 * n))) - f2))
  per=$(echo "scale=1; ($d2 - $d1) / $n" | bc)
  # purge_owner removes 2n entries per n (both of household 1's sessions)
  if [ "$c" = purge_owner ]; then per=$(echo "scale=1; ($d2 - $d1) / (2 * $n)" | bc); fi
  printf '%-14s %-16s %s\n' "$c" "$per" "$((2 * d1 - d2))"
done
