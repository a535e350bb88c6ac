#!/bin/sh
# Runs rtp_relay (real ffmpeg encoders -> streamiso relay and a route-by-port relay) and then
# rtp_relay_check, which decodes every viewer's file. Exit 77 (CTest: SKIPPED) with the reason
# when ffmpeg or one of its encoders is missing; never a pass without pictures.
# usage: run_relay_test.sh <rtp_relay> <rtp_relay_check> <output dir> [first port] [seconds]
set -eu
relay=$1 check=$2 out=$3 port=${4:-39000} seconds=${5:-10}
if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "SKIPPED: ffmpeg not found (Debian: apt-get install ffmpeg)"; exit 77
fi
for enc in libx264 libx265; do
  if ! ffmpeg -hide_banner -encoders 2>/dev/null | grep -q " $enc "; then
    echo "SKIPPED: this ffmpeg has no $enc encoder"; exit 77
  fi
done
rm -rf "$out"
mkdir -p "$out"
RTP_RELAY_OUT=$out "$relay" --seconds "$seconds" --seed 1 --port "$port"
"$check" "$out"
