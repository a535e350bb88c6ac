#!/bin/sh
# Per-stage instructions (or cache misses) per datagram of the RTP receive path:
#   bench/rtp_attribute.sh <rtp_callgrind binary, built with -g> [trace] [mode] [event]
# trace: in_order (default) | reorder5 | loss2 | reorder5_loss2; mode: copy (default) |
# recv_copy | staged; event: 0 = Ir (default), 4 = D1mr, 5 = D1mw, 7 = DLmr, 8 = DLmw (a cache
# simulation with a 1 MB last level, as in bench/results/rtp.md). See rtp_attribute.py.
set -eu
bin=$1
trace=${2:-in_order}
mode=${3:-copy}
event=${4:-0}
dir=$(mktemp -d)
sim=""
[ "$event" -ne 0 ] && sim="--cache-sim=yes --D1=32768,8,64 --LL=1048576,16,64"
for n in 4 8; do
  # shellcheck disable=SC2086
  valgrind --tool=callgrind $sim --dump-instr=yes --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$dir/out.$n" "$bin" "$trace" "$mode" "$n" > "$dir/log.$n" 2>&1
done
dg=$(sed -n 's/^datagrams_per_pass \([0-9]*\).*/\1/p' "$dir/log.4")
python3 "$(dirname "$0")/rtp_attribute.py" "$bin" "$dir/out.4" "$dir/out.8" "$((4 * dg))" "$event"
rm -rf "$dir"
