#!/bin/sh
# Instructions per datagram of the RTP receive path, from callgrind:
# (Ir at 2N passes - Ir at N passes) / (N * datagrams per pass).
#   bench/rtp_callgrind.sh build/release/bench/rtp_callgrind [N]
# MODES="copy staged" limits the receive modes (copy = parsed in place, recv_copy, staged,
# parse = parse_rtp + binding alone).
set -eu
bin=$1
n=${2:-4}
run() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$3" 2>&1
}
printf '%-16s %-7s %s\n' trace receive instr_per_datagram
for mode in ${MODES:-copy recv_copy staged parse}; do
  for t in in_order reorder5 loss2 reorder5_loss2; do
    a=$(run "$t" "$mode" "$n")
    b=$(run "$t" "$mode" $((2 * n)))
    ia=$(echo "$a" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    ib=$(echo "$b" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    dg=$(echo "$a" | sed -n 's/^datagrams_per_pass \([0-9]*\).*/\1/p')
    printf '%-16s %-7s %s\n' "$t" "$mode" "$(echo "scale=1; ($ib - $ia) / ($n * $dg)" | bc)"
  done
done
