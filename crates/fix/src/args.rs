//! The one place ffmpeg's arguments are built: from a [`Plan`] or an [`Inspection`], for an
//! input and an output path. Every run shares the same head: no banner, no stdin, errors only
//! on stderr, progress as `key=value` lines on stdout.
//!
//! Paths are passed as `file:PATH`, so that a name starting with `-` or holding a `:` is never
//! read as an option or a protocol.

use std::ffi::OsString;
use std::path::Path;

use crate::options::PhotoFormat;
use crate::plan::{AudioStream, InspectKind, Inspection, Plan, VideoPlan, VideoStream, Work};

/// libx264's preset: `fast` is about twice as fast as the default `medium` for a few per cent
/// more bytes at the same quality.
pub const X264_PRESET: &str = "fast";
/// libx264's constant rate factor: 18 is visually lossless for most sources.
pub const X264_CRF: u8 = 18;
/// AAC bitrate when audio must be re-encoded: transparent for stereo.
pub const AAC_BITRATE: &str = "192k";

/// The arguments that carry out `plan`, reading `input` and writing `output`; ffmpeg stops
/// writing at `max_output_bytes` (`-fs`) when given.
pub fn plan_args(
    plan: &Plan,
    input: &Path,
    output: &Path,
    max_output_bytes: Option<u64>,
) -> Vec<OsString> {
    match &plan.work {
        Work::Video(video) => video_args(video, input, output, max_output_bytes),
        Work::Photo(photo) => {
            let mut filters: Vec<String> = photo
                .orientation
                .filters()
                .iter()
                .map(|filter| (*filter).to_owned())
                .collect();
            if let Some(size) = photo.scale_to {
                filters.push(format!(
                    "scale={}:{}:flags=lanczos",
                    size.width, size.height
                ));
            }
            let mut args = head();
            // The orientation is applied by the filters above, the same on every ffmpeg version.
            args.push("-noautorotate".into());
            push_input(&mut args, input);
            push(&mut args, &["-map", "0:v:0", "-frames:v", "1"]);
            if !filters.is_empty() {
                args.push("-vf".into());
                args.push(filters.join(",").into());
            }
            let quality = photo.quality.value(photo.format).to_string();
            match photo.format {
                PhotoFormat::Jpeg => push(
                    &mut args,
                    &["-c:v", "mjpeg", "-q:v", &quality, "-pix_fmt", "yuvj420p"],
                ),
                PhotoFormat::Webp => push(&mut args, &["-c:v", "libwebp", "-quality", &quality]),
            }
            push_tail(
                &mut args,
                max_output_bytes,
                &["-f", "image2", "-update", "1"],
                output,
            );
            args
        }
    }
}

fn video_args(
    plan: &VideoPlan,
    input: &Path,
    output: &Path,
    max_output_bytes: Option<u64>,
) -> Vec<OsString> {
    let mut args = head();
    if matches!(plan.video, VideoStream::H264 { .. }) {
        // Encode the frames as coded: ffmpeg then copies the display matrix, so a rotated phone
        // video stays rotated instead of being turned in its pixels.
        args.push("-noautorotate".into());
    }
    push_input(&mut args, input);
    push(&mut args, &["-map", "0:v:0"]);
    if plan.audio != AudioStream::None {
        push(&mut args, &["-map", "0:a:0"]);
    }
    match &plan.video {
        VideoStream::Copy => push(&mut args, &["-c:v", "copy"]),
        VideoStream::H264 {
            scale_to,
            frame_rate,
            lowers_frame_rate,
        } => {
            let scale = scale_to.map(|size| format!("scale={}:{}", size.width, size.height));
            let fps = frame_rate.map(|rate| format!("fps={}", rate.ffmpeg()));
            let filters: Vec<String> = if *lowers_frame_rate {
                fps.into_iter().chain(scale).collect()
            } else {
                scale.into_iter().chain(fps).collect()
            };
            if !filters.is_empty() {
                args.push("-vf".into());
                args.push(filters.join(",").into());
            }
            let crf = X264_CRF.to_string();
            push(
                &mut args,
                &[
                    "-c:v",
                    "libx264",
                    "-preset",
                    X264_PRESET,
                    "-crf",
                    &crf,
                    // 8-bit 4:2:0: what every phone and TikTok decode (a 4:4:4 or 10-bit
                    // source would otherwise give a High 4:4:4 stream few players read).
                    "-pix_fmt",
                    "yuv420p",
                ],
            );
        }
    }
    match plan.audio {
        AudioStream::None => {}
        AudioStream::Copy => push(&mut args, &["-c:a", "copy"]),
        AudioStream::Aac => push(&mut args, &["-c:a", "aac", "-b:a", AAC_BITRATE]),
    }
    if let Some(cut) = plan.cut_at_s {
        push(&mut args, &["-t", &format!("{cut:.3}")]);
    }
    push_tail(
        &mut args,
        max_output_bytes,
        &["-movflags", "+faststart", "-f", "mp4"],
        output,
    );
    args
}

/// The arguments that copy a file's streams into a container the probe reads: the first video
/// and audio streams into Matroska (nothing decoded), or the first picture into a lossless PNG.
pub fn inspect_args(
    inspection: &Inspection,
    input: &Path,
    output: &Path,
    max_output_bytes: Option<u64>,
) -> Vec<OsString> {
    let mut args = head();
    push_input(&mut args, input);
    match inspection.kind {
        InspectKind::Video => {
            push(
                &mut args,
                &["-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy"],
            );
            push_tail(&mut args, max_output_bytes, &["-f", "matroska"], output);
        }
        InspectKind::Still => {
            push(
                &mut args,
                &["-map", "0:v:0", "-frames:v", "1", "-c:v", "png"],
            );
            push_tail(
                &mut args,
                max_output_bytes,
                &["-f", "image2", "-update", "1"],
                output,
            );
        }
    }
    args
}

fn head() -> Vec<OsString> {
    [
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-v",
        "error",
        "-progress",
        "pipe:1",
        "-y",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

fn push(args: &mut Vec<OsString>, more: &[&str]) {
    args.extend(more.iter().map(OsString::from));
}

fn push_input(args: &mut Vec<OsString>, input: &Path) {
    args.push("-i".into());
    args.push(file_url(input));
}

fn push_tail(
    args: &mut Vec<OsString>,
    max_output_bytes: Option<u64>,
    format: &[&str],
    output: &Path,
) {
    if let Some(limit) = max_output_bytes {
        push(args, &["-fs", &limit.to_string()]);
    }
    push(args, format);
    args.push(file_url(output));
}

fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path.as_os_str());
    url
}

#[cfg(test)]
mod tests {
    use media::probe::Container;

    use super::*;
    use crate::plan::{Aspect, FrameRate, Orientation, PhotoPlan, PhotoQuality, Size, VideoPlan};

    fn video_plan(video: VideoStream, audio: AudioStream, cut_at_s: Option<f64>) -> Plan {
        Plan {
            work: Work::Video(VideoPlan {
                video,
                audio,
                cut_at_s,
            }),
            changes: Vec::new(),
            expected_duration_s: Some(4.0),
            warnings: Vec::new(),
        }
    }

    fn photo_plan(format: PhotoFormat, orientation: Orientation, scale_to: Option<Size>) -> Plan {
        Plan {
            work: Work::Photo(PhotoPlan {
                format,
                orientation,
                scale_to,
                quality: PhotoQuality::BEST,
            }),
            changes: Vec::new(),
            expected_duration_s: None,
            warnings: Vec::new(),
        }
    }

    /// The arguments as one line, for exact comparison.
    fn line(args: &[OsString]) -> String {
        args.iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    const HEAD: &str = "-hide_banner -nostdin -nostats -v error -progress pipe:1 -y";

    fn run(plan: &Plan, limit: Option<u64>) -> String {
        line(&plan_args(
            plan,
            Path::new("/in/clip.mkv"),
            Path::new("/out/.part.mp4"),
            limit,
        ))
    }

    #[test]
    fn a_remux_copies_both_streams_into_a_faststart_mp4() {
        let plan = video_plan(VideoStream::Copy, AudioStream::Copy, None);
        assert_eq!(
            run(&plan, None),
            format!(
                "{HEAD} -i file:/in/clip.mkv -map 0:v:0 -map 0:a:0 -c:v copy -c:a copy -movflags +faststart -f mp4 file:/out/.part.mp4"
            )
        );
    }

    #[test]
    fn a_re_encode_keeps_the_rotation_copies_the_audio_and_uses_the_quality_settings() {
        let plan = video_plan(
            VideoStream::H264 {
                scale_to: None,
                frame_rate: None,
                lowers_frame_rate: false,
            },
            AudioStream::Copy,
            None,
        );
        assert_eq!(
            run(&plan, None),
            format!(
                "{HEAD} -noautorotate -i file:/in/clip.mkv -map 0:v:0 -map 0:a:0 -c:v libx264 -preset fast -crf 18 -pix_fmt yuv420p -c:a copy -movflags +faststart -f mp4 file:/out/.part.mp4"
            )
        );
    }

    #[test]
    fn a_raised_frame_rate_is_applied_after_scaling_and_a_lowered_one_before() {
        let raised = video_plan(
            VideoStream::H264 {
                scale_to: Some(Size::new(480, 360)),
                frame_rate: Some(FrameRate { num: 30, den: 1 }),
                lowers_frame_rate: false,
            },
            AudioStream::None,
            None,
        );
        assert!(run(&raised, None).contains(" -vf scale=480:360,fps=30 "));
        assert!(
            !run(&raised, None).contains("0:a:0"),
            "no audio, no audio map"
        );
        let lowered = video_plan(
            VideoStream::H264 {
                scale_to: Some(Size::new(4096, 468)),
                frame_rate: Some(FrameRate {
                    num: 60000,
                    den: 1001,
                }),
                lowers_frame_rate: true,
            },
            AudioStream::None,
            None,
        );
        assert!(run(&lowered, None).contains(" -vf fps=60000/1001,scale=4096:468 "));
    }

    #[test]
    fn audio_re_encoded_to_aac_a_cut_and_a_size_limit() {
        let plan = video_plan(VideoStream::Copy, AudioStream::Aac, Some(179.9));
        assert_eq!(
            run(&plan, Some(4_000_000_001)),
            format!(
                "{HEAD} -i file:/in/clip.mkv -map 0:v:0 -map 0:a:0 -c:v copy -c:a aac -b:a 192k -t 179.900 -fs 4000000001 -movflags +faststart -f mp4 file:/out/.part.mp4"
            )
        );
    }

    #[test]
    fn a_photo_is_turned_then_scaled_into_one_jpeg_frame() {
        let plan = photo_plan(
            PhotoFormat::Jpeg,
            Orientation::Rotate90,
            Some(Size::new(1080, 1920)),
        );
        assert_eq!(
            line(&plan_args(
                &plan,
                Path::new("in.jpg"),
                Path::new("out.jpg"),
                None
            )),
            format!(
                "{HEAD} -noautorotate -i file:in.jpg -map 0:v:0 -frames:v 1 -vf transpose=clock,scale=1080:1920:flags=lanczos -c:v mjpeg -q:v 2 -pix_fmt yuvj420p -f image2 -update 1 file:out.jpg"
            )
        );
    }

    #[test]
    fn a_webp_photo_is_written_at_the_webp_quality_of_its_step() {
        let plan = photo_plan(PhotoFormat::Webp, Orientation::AsStored, None);
        assert_eq!(
            line(&plan_args(
                &plan,
                Path::new("in.png"),
                Path::new("out.webp"),
                None
            )),
            format!(
                "{HEAD} -noautorotate -i file:in.png -map 0:v:0 -frames:v 1 -c:v libwebp -quality 90 -f image2 -update 1 file:out.webp"
            )
        );
        let lower = Plan {
            changes: vec![],
            ..plan
        }
        .with_lower_quality()
        .unwrap();
        assert!(
            line(&plan_args(&lower, Path::new("a"), Path::new("b"), None)).contains("-quality 80")
        );
        assert_eq!(lower.changes[0].aspect, Aspect::Quality);
    }

    #[test]
    fn an_inspection_copies_streams_into_matroska_or_decodes_one_picture_to_png() {
        let video = Inspection {
            container: Container::Avi,
            kind: InspectKind::Video,
        };
        assert_eq!(
            line(&inspect_args(
                &video,
                Path::new("in.avi"),
                Path::new("copy.mkv"),
                Some(10)
            )),
            format!(
                "{HEAD} -i file:in.avi -map 0:v:0? -map 0:a:0? -c copy -fs 10 -f matroska file:copy.mkv"
            )
        );
        let still = Inspection {
            container: Container::Bmp,
            kind: InspectKind::Still,
        };
        assert_eq!(
            line(&inspect_args(
                &still,
                Path::new("in.bmp"),
                Path::new("copy.png"),
                None
            )),
            format!(
                "{HEAD} -i file:in.bmp -map 0:v:0 -frames:v 1 -c:v png -f image2 -update 1 file:copy.png"
            )
        );
    }

    #[test]
    fn a_path_that_looks_like_an_option_or_a_protocol_stays_a_file() {
        let plan = video_plan(VideoStream::Copy, AudioStream::None, None);
        let args = plan_args(&plan, Path::new("-i"), Path::new("http://x"), None);
        assert!(args.contains(&OsString::from("file:-i")));
        assert_eq!(args.last(), Some(&OsString::from("file:http://x")));
    }
}
