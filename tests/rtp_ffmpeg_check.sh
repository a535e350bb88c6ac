#!/bin/sh
# Decodes the depacketized stream with ffmpeg and compares its frames with the reference
# framemd5 of the encoder's own elementary stream (tests/data/rtp/generate.sh).
# Exits 77 (CTest: skipped, not passed) when ffmpeg is not installed.
# Usage: rtp_ffmpeg_check.sh <rtp_depay_tool> <capture.rtp> <h264|h265> <reference.framemd5> <workdir> [params-once]
set -eu
tool=$1; capture=$2; codec=$3; ref=$4; work=$5; mode=${6:-}
if ! command -v ffmpeg > /dev/null 2>&1; then
  echo "ffmpeg not found: skipped"
  exit 77
fi
mkdir -p "$work"
out="$work/$(basename "$capture" .rtp).depay$mode.$codec"
# shellcheck disable=SC2086
"$tool" "$capture" "$codec" "$out" $mode
fmt=h264
[ "$codec" = h265 ] && fmt=hevc
ffmpeg -hide_banner -loglevel error -y -f "$fmt" -i "$out" -f framemd5 "$out.framemd5"
grep -v '^#' "$ref" | awk -F, '{gsub(/ /, "", $NF); print $NF}' > "$out.want"
grep -v '^#' "$out.framemd5" | awk -F, '{gsub(/ /, "", $NF); print $NF}' > "$out.got"
n=$(wc -l < "$out.want")
if [ "$n" -lt 10 ]; then echo "reference has only $n frames"; exit 1; fi
if ! cmp -s "$out.want" "$out.got"; then
  echo "decoded frames differ from the encoder's elementary stream:"
  diff "$out.want" "$out.got" | head -20
  exit 1
fi
echo "$n frames decode identically to the encoder's elementary stream"
