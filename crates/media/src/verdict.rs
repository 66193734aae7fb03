//! Findings and verdicts: what the preflight tells a user, in one shape for the CLI, the API's
//! dry-run endpoint and the publishing pipeline.

use std::fmt;

use serde::Serialize;

use crate::probe::{MediaFacts, ProbeError};

/// Whether TikTok will reject the media or it only may be rejected or look bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// A stable machine code per finding. Serialized in snake_case (`frame_rate_out_of_range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    FileDamaged,
    ContainerUnsupported,
    NoVideoTrack,
    VideoCodecUnsupported,
    FrameRateOutOfRange,
    FrameRateUnknown,
    ResolutionTooSmall,
    ResolutionTooLarge,
    #[serde(rename = "resolution_below_720p")]
    ResolutionBelow720p,
    DurationTooShort,
    DurationOverCreatorMax,
    DurationUnknown,
    FileTooLarge,
    PhotoFormatUnsupported,
    PhotoTooLarge,
    #[serde(rename = "photo_resolution_over_1080p")]
    PhotoResolutionOver1080p,
    PhotoCountOutOfRange,
    PhotoCoverIndexInvalid,
    CaptionTooLong,
    SpamManyHashtags,
    SpamRepeatedLines,
    SpamManyLinks,
    SpamAllCapsPromo,
    DuplicateMediaSameAccount,
    DuplicateMediaOtherAccount,
    DuplicateCaptionSameAccount,
    DuplicateCaptionOtherAccount,
}

impl ProblemCode {
    /// The code as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FileDamaged => "file_damaged",
            Self::ContainerUnsupported => "container_unsupported",
            Self::NoVideoTrack => "no_video_track",
            Self::VideoCodecUnsupported => "video_codec_unsupported",
            Self::FrameRateOutOfRange => "frame_rate_out_of_range",
            Self::FrameRateUnknown => "frame_rate_unknown",
            Self::ResolutionTooSmall => "resolution_too_small",
            Self::ResolutionTooLarge => "resolution_too_large",
            Self::ResolutionBelow720p => "resolution_below_720p",
            Self::DurationTooShort => "duration_too_short",
            Self::DurationOverCreatorMax => "duration_over_creator_max",
            Self::DurationUnknown => "duration_unknown",
            Self::FileTooLarge => "file_too_large",
            Self::PhotoFormatUnsupported => "photo_format_unsupported",
            Self::PhotoTooLarge => "photo_too_large",
            Self::PhotoResolutionOver1080p => "photo_resolution_over_1080p",
            Self::PhotoCountOutOfRange => "photo_count_out_of_range",
            Self::PhotoCoverIndexInvalid => "photo_cover_index_invalid",
            Self::CaptionTooLong => "caption_too_long",
            Self::SpamManyHashtags => "spam_many_hashtags",
            Self::SpamRepeatedLines => "spam_repeated_lines",
            Self::SpamManyLinks => "spam_many_links",
            Self::SpamAllCapsPromo => "spam_all_caps_promo",
            Self::DuplicateMediaSameAccount => "duplicate_media_same_account",
            Self::DuplicateMediaOtherAccount => "duplicate_media_other_account",
            Self::DuplicateCaptionSameAccount => "duplicate_caption_same_account",
            Self::DuplicateCaptionOtherAccount => "duplicate_caption_other_account",
        }
    }

    /// What TikTok answers when it meets this problem: the `fail_reason` of a status fetch or the
    /// `error.code` of the request (tiktok-api.md §11, §14). `None` when TikTok's reference names
    /// no code for it (a file over 4 GB is refused at upload without one).
    pub fn tiktok_error(self) -> Option<&'static str> {
        match self {
            Self::FileDamaged
            | Self::ContainerUnsupported
            | Self::NoVideoTrack
            | Self::VideoCodecUnsupported
            | Self::PhotoFormatUnsupported => Some("file_format_check_failed"),
            Self::FrameRateOutOfRange | Self::FrameRateUnknown => Some("frame_rate_check_failed"),
            Self::ResolutionTooSmall
            | Self::ResolutionTooLarge
            | Self::ResolutionBelow720p
            | Self::PhotoResolutionOver1080p => Some("picture_size_check_failed"),
            Self::DurationTooShort | Self::DurationOverCreatorMax | Self::DurationUnknown => {
                Some("duration_check_failed")
            }
            Self::FileTooLarge | Self::PhotoTooLarge => None,
            Self::PhotoCountOutOfRange | Self::PhotoCoverIndexInvalid | Self::CaptionTooLong => {
                Some("invalid_params")
            }
            Self::SpamManyHashtags
            | Self::SpamRepeatedLines
            | Self::SpamManyLinks
            | Self::SpamAllCapsPromo => Some("spam_risk_text"),
            Self::DuplicateMediaSameAccount
            | Self::DuplicateMediaOtherAccount
            | Self::DuplicateCaptionSameAccount
            | Self::DuplicateCaptionOtherAccount => Some("spam_risk"),
        }
    }
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: what is wrong, the measured value, the limit, and the fix in one sentence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub code: ProblemCode,
    pub message: String,
    /// The measured value with its unit ("15.00 fps"), when there is one.
    pub measured: Option<String>,
    /// The limit with its unit ("23–60 fps"), when there is one.
    pub limit: Option<String>,
    /// What to do, in one sentence ("Re-encode at 30 fps.").
    pub fix: String,
    /// The `fail_reason` or error code TikTok would answer (see [`ProblemCode::tiktok_error`]).
    pub tiktok_error: Option<&'static str>,
}

impl Problem {
    pub fn error(code: ProblemCode, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message, fix)
    }

    pub fn warning(code: ProblemCode, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message, fix)
    }

    fn new(
        severity: Severity,
        code: ProblemCode,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            code,
            message: message.into(),
            measured: None,
            limit: None,
            fix: fix.into(),
            tiktok_error: code.tiktok_error(),
        }
    }

    /// Adds the measured value and the limit, each with its unit.
    pub fn measured(mut self, measured: impl Into<String>, limit: impl Into<String>) -> Self {
        self.measured = Some(measured.into());
        self.limit = Some(limit.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.severity.name(),
            self.code,
            self.message
        )?;
        match (&self.measured, &self.limit) {
            (Some(measured), Some(limit)) => write!(f, " (measured {measured}, limit {limit})")?,
            (Some(measured), None) => write!(f, " (measured {measured})")?,
            _ => {}
        }
        write!(f, ". Fix: {}", self.fix)?;
        if let Some(tiktok) = self.tiktok_error {
            write!(f, " [TikTok: {tiktok}]")?;
        }
        Ok(())
    }
}

/// The overall answer for one file or post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Warning,
    Rejected,
}

impl Verdict {
    /// `rejected` when any problem is an error, `warning` when any is a warning, else `ok`.
    pub fn of(problems: &[Problem]) -> Self {
        match problems.iter().map(|problem| problem.severity).max() {
            Some(Severity::Error) => Self::Rejected,
            Some(Severity::Warning) => Self::Warning,
            None => Self::Ok,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Rejected => "rejected",
        }
    }
}

/// The preflight's answer for one media file: `tokpost check --json` prints one per line.
///
/// `width` and `height` are as displayed (rotation or EXIF orientation applied).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileVerdict {
    pub file: String,
    pub verdict: Verdict,
    pub container: Option<String>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    pub variable_frame_rate: Option<bool>,
    pub duration_s: Option<f64>,
    pub size_bytes: Option<u64>,
    pub problems: Vec<Problem>,
}

impl FileVerdict {
    /// Builds the verdict from the probe's facts (or its error) and the findings of the rules.
    pub fn new(
        file: impl Into<String>,
        facts: Result<&MediaFacts, &ProbeError>,
        size_bytes: Option<u64>,
        problems: Vec<Problem>,
    ) -> Self {
        let facts = facts.ok();
        let video = facts.and_then(|facts| facts.video.as_ref());
        let image = facts.and_then(|facts| facts.image.as_ref());
        Self {
            file: file.into(),
            verdict: Verdict::of(&problems),
            container: facts.map(|facts| facts.container.name().to_owned()),
            video_codec: video.map(|video| video.codec.name().to_owned()),
            audio_codec: facts.and_then(|facts| facts.audio_codec.clone()),
            width: video
                .map(|video| video.display_width())
                .or(image.map(|image| image.display_width())),
            height: video
                .map(|video| video.display_height())
                .or(image.map(|image| image.display_height())),
            fps: video.and_then(|video| video.fps),
            variable_frame_rate: video.map(|video| video.variable_frame_rate),
            duration_s: facts.and_then(|facts| facts.duration_s),
            size_bytes: facts.map(|facts| facts.size_bytes).or(size_bytes),
            problems,
        }
    }

    /// One line: file, verdict and the measured facts; no problems.
    pub fn render_line(&self) -> String {
        let mut parts = vec![format!("{}: {}", self.file, self.verdict.name())];
        let mut facts = Vec::new();
        facts.extend(self.container.clone());
        facts.extend(self.video_codec.clone());
        if let (Some(width), Some(height)) = (self.width, self.height) {
            facts.push(format!("{width}x{height}"));
        }
        if let Some(fps) = self.fps {
            let vfr = if self.variable_frame_rate == Some(true) {
                " (variable)"
            } else {
                ""
            };
            facts.push(format!("{fps:.2} fps{vfr}"));
        }
        if let Some(duration) = self.duration_s {
            facts.push(format!("{duration:.2} s"));
        }
        if let Some(size) = self.size_bytes {
            facts.push(human_bytes(size));
        }
        if !facts.is_empty() {
            parts.push(facts.join(", "));
        }
        parts.join(" — ")
    }

    /// The line above, then one indented line per problem.
    pub fn render_human(&self) -> String {
        let mut text = self.render_line();
        for problem in &self.problems {
            text.push_str("\n  ");
            text.push_str(&problem.to_string());
        }
        text
    }
}

impl fmt::Display for FileVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_human())
    }
}

/// Sizes the way users read them: decimal units, like TikTok's "4 GB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, f64); 3] = [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, scale) in UNITS {
        if bytes as f64 >= scale {
            return format!("{:.1} {unit}", bytes as f64 / scale);
        }
    }
    format!("{bytes} B")
}
