#!/bin/sh
# Cache lines pulled from the other core per request when two threads share the concurrent
# cache (get and visit read-through), by replaying them alternately under valgrind's lackey
# (slow: about 3 minutes per case). Each line is split into what the gets and the puts (a
# miss's put) pull, as built and with the gets' stores taken as loads (cache_coherence_sim).
#   bench/cache_coherence.sh build/bench/bench [requests]
set -eu
dir=$1
n=${2:-10000}
for mode in get visit; do
  echo "== $mode"
  valgrind --tool=lackey --trace-mem=yes "$dir/cache_coherence" "$n" "$mode" 2>&1 >/dev/null |
    "$dir/cache_coherence_sim"
done
