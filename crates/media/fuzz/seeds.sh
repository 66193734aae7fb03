#!/usr/bin/env bash
# Writes tiny seed inputs (a few KiB each) for the fuzz targets into corpus/<target>/, so the
# fuzzer starts from valid files of each format instead of from nothing, and from the hostile
# files of the regression tests.
set -euo pipefail
cd "$(dirname "$0")"
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
src="testsrc2=size=64x48:rate=25:duration=0.4"
mkdir -p corpus/isobmff corpus/matroska corpus/image
ff -f lavfi -i "$src" -c:v libx264 -preset ultrafast -b:v 20k corpus/isobmff/moov_end.mp4
ff -f lavfi -i "$src" -c:v libx264 -preset ultrafast -b:v 20k -movflags +faststart corpus/isobmff/faststart.mp4
ff -f lavfi -i "$src" -c:v libx264 -preset ultrafast -b:v 20k -movflags frag_keyframe+empty_moov+default_base_moof+global_sidx -g 5 corpus/isobmff/fragmented.mp4
ff -f lavfi -i "$src" -c:v libx264 -preset ultrafast -b:v 20k corpus/isobmff/quicktime.mov
ff -f lavfi -i "$src" -c:v mpeg4 -b:v 20k corpus/isobmff/mp4v.mp4
ff -i corpus/isobmff/faststart.mp4 -c copy -metadata:s:v:0 rotate=90 corpus/isobmff/rotated.mp4
ff -f lavfi -i "$src" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 20k corpus/matroska/vp9.webm
ff -f lavfi -i "$src" -c:v libx264 -preset ultrafast -b:v 20k corpus/matroska/h264.mkv
# The hostile files the regression tests keep (tests/regressions/): each once broke the probe or
# the demuxer below it (a hang, a panic, an allocation as large as a size the file declared).
cp ../tests/regressions/*.webm corpus/matroska/
ff -f lavfi -i "$src" -frames:v 1 corpus/image/photo.jpg
ff -f lavfi -i "$src" -frames:v 1 -c:v libwebp corpus/image/lossy.webp
ff -f lavfi -i "$src" -frames:v 1 -c:v libwebp -lossless 1 corpus/image/lossless.webp
ff -f lavfi -i "$src" -frames:v 1 corpus/image/photo.png
ls -l corpus/*
