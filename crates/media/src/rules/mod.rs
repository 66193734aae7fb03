//! TikTok's media rules as pure functions: facts in, findings out (tiktok-api.md §11).
//!
//! No IO here: the probe measures, these functions judge, so the publishing pipeline, the CLI and
//! the API's dry run all judge the same way.

pub mod photo;
pub mod video;

use crate::probe::{Container, MediaFacts, ProbeError};
use crate::verdict::{Problem, ProblemCode};

/// Limits that depend on the creator or the caller rather than on TikTok's fixed rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// The creator's `max_video_post_duration_sec` from creator info; `None` when unknown.
    pub creator_max_video_duration_s: Option<u32>,
}

impl Limits {
    /// The API accepts at most 10 minutes; use it when the creator's own limit is unknown.
    pub const DEFAULT_MAX_VIDEO_DURATION_S: u32 = 600;

    pub fn max_video_duration_s(&self) -> u32 {
        self.creator_max_video_duration_s
            .unwrap_or(Self::DEFAULT_MAX_VIDEO_DURATION_S)
    }
}

/// Judges one probed file: video rules for video containers, photo rules for still images, and
/// a `container_unsupported` rejection for anything else the probe recognised.
pub fn check_facts(facts: &MediaFacts, limits: &Limits) -> Vec<Problem> {
    match facts.container {
        Container::Mp4 | Container::Mov | Container::Webm => video::check(facts, limits),
        container if container.is_still_image() => photo::check(facts),
        container => {
            let mut problems = vec![
                Problem::error(
                    ProblemCode::ContainerUnsupported,
                    format!("{} files are not accepted by TikTok (videos: MP4, MOV or WebM; photos: JPEG or WebP)", container_label(container)),
                    fix_for_container(container),
                )
                .measured(container.name(), "mp4, mov, webm (video); jpeg, webp (photo)"),
            ];
            // A Matroska or 3GP file was probed in full: say what else a remux would not fix.
            if facts.video.is_some() {
                problems.extend(video::check(facts, limits));
            }
            problems
        }
    }
}

fn container_label(container: Container) -> String {
    container.name().to_uppercase()
}

fn fix_for_container(container: Container) -> &'static str {
    match container {
        Container::Gif => {
            "Convert the GIF to an MP4 video (H.264, at least 3 s) or to JPEG photos."
        }
        Container::Matroska => {
            "Remux to MP4 (ffmpeg -i in.mkv -c copy out.mp4) if the codec is H.264 or H.265, else re-encode."
        }
        Container::Wav | Container::Mp3 | Container::Ogg => {
            "TikTok posts need a video or photos: add a picture track and export as MP4."
        }
        _ => "Re-encode as MP4 with H.264 video (ffmpeg -i in -c:v libx264 -c:a aac out.mp4).",
    }
}

/// The finding for a file the probe could not read: always `file_damaged`, with the damage named.
pub fn damaged(error: &ProbeError) -> Problem {
    let (measured, fix) = match error {
        ProbeError::Empty => (
            "0 bytes".to_owned(),
            "The file is empty: export or download it again.",
        ),
        ProbeError::UnrecognisedFormat { .. } => (
            "unrecognised content".to_owned(),
            "This is not a video or photo TikTok can read: export it again as MP4 (H.264) or JPEG.",
        ),
        ProbeError::Truncated {
            claimed_end,
            file_size,
            ..
        }
        | ProbeError::SampleDataOutsideFile {
            claimed_end,
            file_size,
            ..
        } => (
            format!("{file_size} bytes present, {claimed_end} declared"),
            "The file is incomplete (an interrupted copy or upload?): copy or export it again.",
        ),
        ProbeError::Malformed { .. } => (
            "malformed metadata".to_owned(),
            "Re-export or remux the file (ffmpeg -i in -c copy out.mp4) and check it again.",
        ),
        ProbeError::Io(_) => (
            "unreadable".to_owned(),
            "Check the file exists and is readable, then run the check again.",
        ),
    };
    let mut problem = Problem::error(ProblemCode::FileDamaged, error.to_string(), fix);
    problem.measured = Some(measured);
    problem
}
