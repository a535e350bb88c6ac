#!/bin/sh
# Several copies of the headers (variants) against the SPSC baselines, one thread, in ONE
# process: bench/spsc_ab.cpp is compiled once per copy (each with its own ABI namespace) and
# linked into one binary, whose lines run interleaved at random. Prints, per round, each line's
# median and range of M items/s over the repetitions, and each variant's median ratio to the
# best baseline (item by item, and in bursts of 512).
#   bench/spsc_ab.sh ROUNDS NAME=INCLUDE_DIR [NAME=INCLUDE_DIR...]
# e.g. bench/spsc_ab.sh 3 main=/work/main/include new=include
# A variant from a commit: git archive COMMIT include | tar -x -C /tmp/v1 ; then v1=/tmp/v1/include
set -eu
rounds=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
out=${SPSC_AB_DIR:-$(mktemp -d)}
defs="-DSTREAMISO_HAVE_BOOST_LOCKFREE=1 -DSTREAMISO_HAVE_RWQ=1 -DSTREAMISO_HAVE_ATOMIC_QUEUE=1"
spins=4096 objs='' base='-DSPSC_AB_BASELINES'
for v in "$@"; do
  name=${v%%=*}
  inc=${v#*=}
  # shellcheck disable=SC2086 # defs is a list of flags
  g++ -std=c++17 -O3 -DNDEBUG $defs $base -DSTREAMISO_SPSC_BACK_OFF_SPINS=$spins \
    "-DSPSC_AB_NAME=\"$name\"" -I"$inc" -I"$here" -c "$here/spsc_ab.cpp" -o "$out/$name.o"
  objs="$objs $out/$name.o" base='' spins=$((spins + 1))
done
# shellcheck disable=SC2086 # objs is a list of files
g++ $objs -o "$out/spsc_ab" -lbenchmark_main -lbenchmark -lpthread
for r in $(seq 1 "$rounds"); do
  echo "== round $r load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$out/spsc_ab" --benchmark_min_time=0.1 --benchmark_repetitions=8 \
    --benchmark_enable_random_interleaving=true 2>/dev/null | awk -v variants="$*" '
    $1 !~ /_(mean|median|stddev|cv)$/ && /items_per_second/ {
      for (i = 1; i <= NF; i++) if ($i ~ /items_per_second/) { v = $i; sub(/items_per_second=/, "", v); sub(/M\/s/, "", v) }
      k = $1; n[k]++; x[k, n[k]] = v + 0 }
    END {
      split(variants, vs, " "); for (i in vs) { sub(/=.*/, "", vs[i]); isv[vs[i]] = 1 }
      for (k in n) {
        m = n[k]; for (i = 1; i <= m; i++) a[i] = x[k, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        med[k] = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
        printf "%-22s median %6.1f range %6.1f-%6.1f\n", k, med[k], a[1], a[m] }
      for (c = 0; c < 2; c++) {
        cs = c ? "burst" : "item"; best = 0
        for (k in med) { split(k, p, "/"); if (p[2] == cs && !(p[1] in isv) && med[k] > best) { best = med[k]; bn = p[1] } }
        for (k in med) { split(k, p, "/"); if (p[2] == cs && (p[1] in isv)) printf "ratio %s %s %.2f (best baseline %s)\n", cs, p[1], med[k] / best, bn } } }' | sort
done
