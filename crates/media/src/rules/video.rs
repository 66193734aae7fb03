//! Video rules (tiktok-api.md §11): container MP4/WebM/MOV, codec H.264/H.265/VP8/VP9,
//! 23–60 fps, each side 360–4096 px (a warning under 720p), at least 3 s and at most the
//! creator's maximum, at most 4 GB.

use crate::probe::{MediaFacts, VideoCodec};
use crate::rules::Limits;
use crate::verdict::{Problem, ProblemCode, human_bytes};

pub const MIN_FPS: f64 = 23.0;
pub const MAX_FPS: f64 = 60.0;
pub const MIN_SIDE_PX: u32 = 360;
pub const MAX_SIDE_PX: u32 = 4096;
/// TikTok's advice: under 720p (short side under 720 px) many uploads are refused or look soft.
pub const ADVISED_MIN_SHORT_SIDE_PX: u32 = 720;
/// TikTok documents no minimum; 3 s is what users meet in practice (tiktok-api.md §11, §17.11).
pub const MIN_DURATION_S: f64 = 3.0;
/// "4 GB" as TikTok writes it, read the stricter way: 4 × 10⁹ bytes, not 4 GiB.
pub const MAX_SIZE_BYTES: u64 = 4_000_000_000;
/// Frame rates within this of a limit are the limit (29.97 is 30000/1001; 23.976 is 24000/1001).
const FPS_EPSILON: f64 = 0.01;

/// Judges a probed video file.
pub fn check(facts: &MediaFacts, limits: &Limits) -> Vec<Problem> {
    let mut problems = Vec::new();
    if facts.size_bytes > MAX_SIZE_BYTES {
        problems.push(
            Problem::error(
                ProblemCode::FileTooLarge,
                "TikTok refuses video files over 4 GB at upload",
                "Compress it: re-encode at a lower bitrate (ffmpeg -c:v libx264 -crf 23) or trim it.",
            )
            .measured(human_bytes(facts.size_bytes), "4.0 GB"),
        );
    }
    check_duration(facts.duration_s, limits, &mut problems);
    let Some(video) = &facts.video else {
        problems.push(Problem::error(
            ProblemCode::NoVideoTrack,
            format!("the {} file has no video track", facts.container.name()),
            "Export the video again with its picture track (an audio-only file cannot be posted).",
        ));
        return problems;
    };
    if !matches!(
        video.codec,
        VideoCodec::H264 | VideoCodec::Hevc | VideoCodec::Vp8 | VideoCodec::Vp9
    ) {
        problems.push(
            Problem::error(
                ProblemCode::VideoCodecUnsupported,
                format!("TikTok does not accept {} video", video.codec.name()),
                "Re-encode the video as H.264 (ffmpeg -i in -c:v libx264 -c:a aac out.mp4).",
            )
            .measured(video.codec.name(), "h264, hevc, vp8, vp9"),
        );
    }
    match video.fps {
        Some(fps) if !(MIN_FPS - FPS_EPSILON..=MAX_FPS + FPS_EPSILON).contains(&fps) => {
            let target = if fps < MIN_FPS { 30 } else { 60 };
            let vfr = if video.variable_frame_rate {
                " on average (variable frame rate)"
            } else {
                ""
            };
            problems.push(
                Problem::error(
                    ProblemCode::FrameRateOutOfRange,
                    format!("the video runs at {fps:.2} fps{vfr}; TikTok accepts 23 to 60 fps"),
                    format!("Re-encode at {target} fps (ffmpeg -i in -r {target} out.mp4)."),
                )
                .measured(format!("{fps:.2} fps"), "23–60 fps"),
            );
        }
        Some(_) => {}
        None => problems.push(Problem::warning(
            ProblemCode::FrameRateUnknown,
            "the file does not say its frame rate, so it cannot be checked against 23–60 fps",
            "Re-encode at a constant 30 fps so the frame rate is recorded.",
        )),
    }
    check_resolution(video.display_width(), video.display_height(), &mut problems);
    problems
}

fn check_resolution(width: u32, height: u32, problems: &mut Vec<Problem>) {
    let measured = format!("{width}x{height} px");
    let short = width.min(height);
    let long = width.max(height);
    if short < MIN_SIDE_PX {
        problems.push(
            Problem::error(
                ProblemCode::ResolutionTooSmall,
                format!("the {short} px side is under TikTok's 360 px minimum"),
                "Re-encode at 720x1280 (ffmpeg -i in -vf scale=720:1280 out.mp4).",
            )
            .measured(measured.clone(), "each side 360–4096 px"),
        );
    } else if short < ADVISED_MIN_SHORT_SIDE_PX {
        problems.push(
            Problem::warning(
                ProblemCode::ResolutionBelow720p,
                format!("the video is under 720p ({short} px short side): TikTok advises 720p or more and often refuses or softens smaller uploads"),
                "Export at 720x1280 or 1080x1920.",
            )
            .measured(measured.clone(), "short side at least 720 px (advised)"),
        );
    }
    if long > MAX_SIDE_PX {
        problems.push(
            Problem::error(
                ProblemCode::ResolutionTooLarge,
                format!("the {long} px side is over TikTok's 4096 px maximum"),
                "Scale it down to 1080x1920 (ffmpeg -i in -vf scale=1080:1920 out.mp4).",
            )
            .measured(measured, "each side 360–4096 px"),
        );
    }
}

fn check_duration(duration_s: Option<f64>, limits: &Limits, problems: &mut Vec<Problem>) {
    let max = limits.max_video_duration_s();
    let Some(duration) = duration_s else {
        problems.push(Problem::warning(
            ProblemCode::DurationUnknown,
            "the file does not say how long it is, so its duration cannot be checked",
            "Remux the file (ffmpeg -i in -c copy out.mp4) so its duration is recorded.",
        ));
        return;
    };
    if duration < MIN_DURATION_S {
        problems.push(
            Problem::error(
                ProblemCode::DurationTooShort,
                format!("the video lasts {duration:.2} s; TikTok refuses videos under 3 s"),
                "Make it at least 3 s long (loop or extend the clip).",
            )
            .measured(format!("{duration:.2} s"), "at least 3 s"),
        );
    }
    if duration > f64::from(max) {
        let whose = if limits.creator_max_video_duration_s.is_some() {
            "this creator's"
        } else {
            "the API's"
        };
        problems.push(
            Problem::error(
                ProblemCode::DurationOverCreatorMax,
                format!("the video lasts {duration:.2} s, over {whose} maximum of {max} s"),
                format!("Trim to {max} s (ffmpeg -i in -t {max} -c copy out.mp4)."),
            )
            .measured(format!("{duration:.2} s"), format!("at most {max} s")),
        );
    }
}
