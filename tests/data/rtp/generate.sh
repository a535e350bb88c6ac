#!/bin/sh
# Regenerates the real-encoder RTP captures used by tests/rtp_real_stream_test.cpp.
# Needs ffmpeg with libx264 and libx265 (Debian: apt-get install ffmpeg) and python3.
# Outputs, per codec: <name>.es (the encoder's own Annex-B elementary stream),
# <name>.rtp (the captured datagrams, see capture_rtp.py) and <name>.framemd5 (the decoded
# frames of the elementary stream, the reference the depacketized stream must decode to).
set -eu
cd "$(dirname "$0")"
gen() {  # name codec-args port
  name=$1; args=$2; port=$3
  # shellcheck disable=SC2086
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=160x120:rate=10 -t 3 \
    -pix_fmt yuv420p $args -bsf:v dump_extra=freq=keyframe "$name.es"
  python3 capture_rtp.py "$port" "$name.rtp" 1.5 &
  cap=$!
  sleep 0.5
  ffmpeg -hide_banner -loglevel error -re -i "$name.es" -c copy -payload_type 96 \
    -ssrc 305419896 -f rtp "rtp://127.0.0.1:$port?pkt_size=400" > /dev/null
  wait $cap
  ffmpeg -hide_banner -loglevel error -y -i "$name.es" -f framemd5 "$name.framemd5"
}
gen h264_160x120 "-c:v libx264 -preset veryfast -g 10 -bf 0 -x264-params slices=2 -f h264" 40164
gen h265_160x120 "-c:v libx265 -preset veryfast -g 10 -bf 0 -x265-params log-level=error -f hevc" 40166
ls -l ./*.es ./*.rtp ./*.framemd5
