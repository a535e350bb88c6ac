#!/bin/sh
# One-thread SPSC lines, capacity 1024 (item by item, and bursts of 512), from several
# ring_bench binaries in turn: each binary is one process with every line interleaved at
# random, so each ratio compares lines of the same run; the binaries alternate round by round.
# Prints, per run, each line's median M items/s and streamiso's ratio to the best baseline.
#   bench/spsc_one_thread_runs.sh ROUNDS BINARY...
set -eu
rounds=$1
shift
filter='spsc/(streamiso|streamiso_strict|cached_index|boost|moodycamel|atomic_queue)/1thread'
for r in $(seq 1 "$rounds"); do
  for b in "$@"; do
    echo "== $b round $r load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$b" --benchmark_filter="$filter" --benchmark_min_time=0.2 --benchmark_repetitions=5 \
      --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true \
      2>/dev/null | awk '/median/ {
        split($1, p, "/"); line = p[2]; c = (p[3] ~ /burst/) ? "burst" : "item"
        for (i = 1; i <= NF; i++) if ($i ~ /items_per_second/) { v = $i; sub(/items_per_second=/, "", v); sub(/M\/s/, "", v) }
        val[line, c] = v + 0; seen[line] = 1 }
      END {
        for (k = 0; k < 2; k++) {
          c = k ? "burst" : "item"; best = 0; bname = ""
          for (l in seen) if (l !~ /^streamiso/ && val[l, c] > best) { best = val[l, c]; bname = l }
          printf "%s: streamiso %.1f strict %.1f best %.1f (%s) ratio %.2f strict %.2f\n", c,
            val["streamiso", c], val["streamiso_strict", c], best, bname,
            val["streamiso", c] / best, val["streamiso_strict", c] / best } }'
  done
done
