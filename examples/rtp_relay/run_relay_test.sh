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
# The ports are fixed so runs are repeatable, but another program (or another build's test run
# on the same machine) may hold them: on "cannot bind" move 20 ports up and try again.
err=$(mktemp)
trap 'rm -f "$err"' EXIT
attempt=0
while :; do
  rm -rf "$out"
  mkdir -p "$out"
  rc=0
  RTP_RELAY_OUT=$out "$relay" --seconds "$seconds" --seed 1 --port "$port" 2>"$err" || rc=$?
  cat "$err" >&2
  [ "$rc" -eq 0 ] && break
  if [ "$rc" -eq 2 ] && grep -q "cannot bind" "$err" && [ "$attempt" -lt 8 ]; then
    attempt=$((attempt + 1))
    port=$((port + 20))  # the relay uses 10 ports from the first
    [ "$port" -le 64990 ] || port=20000
    echo "run_relay_test: ports busy, trying again from $port" >&2
    continue
  fi
  exit "$rc"
done
"$check" "$out"
