#!/bin/sh
# Two-thread SPSC lines, capacity 1024, from several ring_bench binaries in turn: each binary
# is one process with every queue's line interleaved at random (so every ratio compares lines
# measured in the same run), and the binaries alternate round by round. Prints, per run, the
# median M items/s, empty pops and refused pushes per item moved for each line.
#   bench/spsc_two_thread_runs.sh ROUNDS BINARY...
# Build variants of the back-off with, for example:
#   g++ -O3 -DNDEBUG -DSTREAMISO_SPSC_BACK_OFF_SPINS=0 -DSTREAMISO_HAVE_BOOST_LOCKFREE=1 \
#     -DSTREAMISO_HAVE_RWQ=1 -DSTREAMISO_HAVE_ATOMIC_QUEUE=1 -Iinclude bench/ring_bench.cpp \
#     -o ring_bench_0 -lbenchmark -lpthread
set -eu
rounds=$1
shift
filter='spsc/(streamiso|streamiso_strict|cached_index|boost|moodycamel|atomic_queue)/2threads_cap1024'
for r in $(seq 1 "$rounds"); do
  for b in "$@"; do
    echo "== $b round $r load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$b" --benchmark_filter="$filter" --benchmark_min_time=0.2 --benchmark_repetitions=3 \
      --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true \
      2>/dev/null | awk '/median/ {
        line = $1; sub(/^spsc\//, "", line); sub(/\/2threads.*/, "", line)
        out = ""
        for (i = 1; i <= NF; i++) if ($i ~ /items_per_second|empty_per|full_per/) out = out " " $i
        print line out }'
  done
done
