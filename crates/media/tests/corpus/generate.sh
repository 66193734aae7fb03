#!/usr/bin/env bash
# Generates the media probe's test corpus with ffmpeg into OUT_DIR.
#
# Every supported case and every rejected case of the TikTok media rules gets a small file (1-4 s,
# small resolutions where the case allows) so the whole corpus builds in seconds on two cores.
# The tests (tests/corpus.rs) run this script once per target dir and compare the probe with
# ffprobe on every file; file names say what each file is, and the tests' table says which
# verdict and finding codes each must get.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out="$1"
mkdir -p "$out"
cd "$out"

for tool in ffmpeg ffprobe; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "generate.sh: $tool is not installed (install ffmpeg)" >&2
    exit 3
  fi
done

ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
src() { # src WIDTHxHEIGHT RATE SECONDS
  echo "testsrc2=size=$1:rate=$2:duration=$3"
}
tone() { echo "sine=frequency=440:duration=$1"; }
x264=(-c:v libx264 -preset ultrafast -pix_fmt yuv420p)

# --- videos TikTok accepts -------------------------------------------------------------------
ff -f lavfi -i "$(src 720x1280 30 3.2)" -f lavfi -i "$(tone 3.2)" "${x264[@]}" -c:a aac -shortest \
  h264_720x1280_30fps_moov_end.mp4
ff -f lavfi -i "$(src 720x1280 30 3.2)" "${x264[@]}" -movflags +faststart h264_720x1280_30fps_faststart.mp4
# Rotation is set on a stream copy: when re-encoding, ffmpeg drops it. ffmpeg 5 takes the legacy
# `rotate` tag; ffmpeg 6+ ignores that tag and takes `-display_rotation` (both end up as the same
# display matrix: ffprobe reports `rotation` = N for either).
ff -f lavfi -i "$(src 1280x720 25 3.2)" "${x264[@]}" landscape.mp4
for degrees in 90 180 270; do
  out=h264_1280x720_rotate_tag$degrees.mp4
  if ffmpeg -hide_banner -h demuxer=mov 2>/dev/null | grep -q display_rotation || \
     ffmpeg -hide_banner -h full 2>/dev/null | grep -q -- '-display_rotation'; then
    ff -display_rotation $degrees -i landscape.mp4 -c copy "$out"
  else
    ff -i landscape.mp4 -c copy -metadata:s:v:0 rotate=$degrees "$out"
  fi
done
rm landscape.mp4
ff -f lavfi -i "$(src 720x1280 24 3.5)" "${x264[@]}" -c:a aac h264_720x1280_24fps.mov
ff -f lavfi -i "$(src 720x1280 30 3.2)" "${x264[@]}" -movflags frag_keyframe+empty_moov+default_base_moof \
  -g 30 h264_720x1280_fragmented.mp4
ff -f lavfi -i "$(src 720x1280 30 3.2)" "${x264[@]}" -movflags frag_keyframe+empty_moov+default_base_moof+global_sidx \
  -g 30 h264_720x1280_fragmented_sidx.mp4
ff -f lavfi -i "$(src 720x1280 60 3.2)" "${x264[@]}" h264_720x1280_60fps.mp4
ff -f lavfi -i "$(src 720x1280 30 3.2)" -c:v libx265 -preset ultrafast -x265-params log-level=error \
  -tag:v hvc1 -pix_fmt yuv420p hevc_hvc1_720x1280.mp4
ff -f lavfi -i "$(src 720x1280 30 3.2)" -c:v libx265 -preset ultrafast -x265-params log-level=error \
  -tag:v hev1 -pix_fmt yuv420p hevc_hev1_720x1280.mp4
ff -f lavfi -i "$(src 720x1280 30 3.2)" -f lavfi -i "$(tone 3.2)" -c:v libvpx-vp9 -deadline realtime \
  -cpu-used 8 -b:v 300k -c:a libopus -shortest vp9_720x1280.webm
ff -f lavfi -i "$(src 720x1280 30 3.2)" -c:v libvpx -deadline realtime -cpu-used 16 -b:v 300k vp8_720x1280.webm
ff -f lavfi -i "$(src 720x1280 30 3.2)" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k vp9_720x1280.mp4
# Variable frame rate: drop two of every three frames after the first second.
ff -f lavfi -i "$(src 720x1280 30 4)" -vf "select='lt(n\,30)+not(mod(n\,3))'" -vsync vfr "${x264[@]}" \
  h264_720x1280_vfr.mp4

# --- videos that warn -----------------------------------------------------------------------
ff -f lavfi -i "$(src 480x854 30 3.2)" "${x264[@]}" h264_480x854_below_720p.mp4

# --- videos TikTok rejects ------------------------------------------------------------------
ff -f lavfi -i "$(src 320x240 30 3.2)" "${x264[@]}" h264_320x240_too_small.mp4
ff -f lavfi -i "$(src 720x1280 15 3.2)" "${x264[@]}" h264_720x1280_15fps.mp4
ff -f lavfi -i "$(src 480x854 120 3.2)" "${x264[@]}" h264_480x854_120fps.mp4
ff -f lavfi -i "$(src 720x1280 30 1)" "${x264[@]}" h264_720x1280_1s_too_short.mp4
ff -f lavfi -i "$(src 720x1280 30 3.2)" -c:v mpeg4 -q:v 10 mpeg4_part2_720x1280.mp4
ff -f lavfi -i "$(src 480x854 24 3.2)" -c:v libaom-av1 -cpu-used 8 -b:v 200k -row-mt 1 av1_480x854.mp4
ff -f lavfi -i "$(src 720x1280 30 3.2)" "${x264[@]}" h264_720x1280.mkv
ff -f lavfi -i "$(src 480x270 10 1)" gif_480x270.gif
ff -f lavfi -i "$(src 480x270 30 3.2)" -c:v mpeg4 avi_480x270.avi

# --- damaged files --------------------------------------------------------------------------
: > empty.mp4
# Deterministic noise: 64 KiB of seeded white noise as raw bytes.
ff -f lavfi -i "anoisesrc=seed=1234:sample_rate=65536:duration=1" -f u8 -ac 1 random_bytes.mp4
size_of() { stat -c %s "$1"; }
# moov at the end: cut the file in half, so the moov is gone and the mdat claims past the end.
head -c $(($(size_of h264_720x1280_30fps_moov_end.mp4) / 2)) h264_720x1280_30fps_moov_end.mp4 > truncated_moov_end.mp4
# moov at the start: cut the payload, so the mdat (and the samples the moov points at) run past the end.
head -c $(($(size_of h264_720x1280_30fps_faststart.mp4) * 2 / 3)) h264_720x1280_30fps_faststart.mp4 > truncated_faststart.mp4
head -c 200 vp9_720x1280.webm > truncated_header.webm

# --- photos ---------------------------------------------------------------------------------
ff -f lavfi -i "$(src 1080x1920 1 1)" -frames:v 1 -q:v 3 photo_1080x1920_baseline.jpg
ff -f lavfi -i "$(src 1080x1350 1 1)" -frames:v 1 -c:v libwebp -quality 70 photo_1080x1350_lossy.webp
ff -f lavfi -i "$(src 1080x1080 1 1)" -frames:v 1 -c:v libwebp -lossless 1 photo_1080x1080_lossless.webp
ff -f lavfi -i "$(src 1080x1080 1 1)" -frames:v 1 photo_1080x1080.png
ff -f lavfi -i "$(src 3000x2000 1 1)" -frames:v 1 -q:v 5 photo_3000x2000_over_1080p.jpg
# EXIF orientation 6 (rotate 90° clockwise to display): a 1920x1080 sensor image shown as
# 1080x1920. The APP1 segment (big-endian TIFF, IFD0 with one SHORT entry 0x0112 = 6) is written
# right after the SOI marker.
ff -f lavfi -i "$(src 1920x1080 1 1)" -frames:v 1 -q:v 3 exif_src.jpg
{
  printf '\xff\xd8'
  printf '\xff\xe1\x00\x22Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01'
  printf '\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00'
  tail -c +3 exif_src.jpg
} > photo_1920x1080_exif_orientation6.jpg
rm exif_src.jpg
echo "corpus written to $out"
