//! The planner: the probe's facts and the rules' findings in, the smallest change that answers
//! every error out, or the reasons no honest change exists. Pure: no IO, no clock, no process.
//!
//! Findings decide *whether* something changes (only an error is acted on; a warning is passed
//! on untouched); the facts decide *how* (the measured frame rate, sides, codecs). Every change
//! names the finding it answers, or says why it follows from another change (audio re-encoded
//! because the new container needs it).

mod photo;
mod video;

use std::fmt;

use media::probe::Container;
use media::{MediaFacts, Problem, ProblemCode, Severity};
use serde::Serialize;

use crate::options::{FixOptions, PhotoFormat};

pub use photo::{Orientation, PhotoPlan, PhotoQuality, fit_photo};
pub use video::{
    AudioStream, CUT_MARGIN_S, FrameRate, SidesProblem, VideoPlan, VideoStream, fit_video_sides,
    target_frame_rate,
};

/// Width and height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    pub(crate) fn short(self) -> u32 {
        self.width.min(self.height)
    }

    pub(crate) fn long(self) -> u32 {
        self.width.max(self.height)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// What the planner is given about one file.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The probe's facts; `None` when the probe could not read the file (the findings then hold
    /// its `file_damaged`).
    pub facts: Option<&'a MediaFacts>,
    /// The rules' findings for these facts, judged with the same limits as the options'.
    pub findings: &'a [Problem],
    /// Set when `facts` describe the stream copy an [`Inspection`] wrote of a file in this
    /// container, which the probe cannot read inside.
    pub unwrapped_from: Option<Container>,
}

impl<'a> Source<'a> {
    /// A file as probed.
    pub fn probed(facts: Option<&'a MediaFacts>, findings: &'a [Problem]) -> Self {
        Self {
            facts,
            findings,
            unwrapped_from: None,
        }
    }
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// No error: TikTok accepts the file as it is. The warnings are left as they are.
    Acceptable { warnings: Vec<Problem> },
    /// These changes make the file acceptable.
    Fix(Plan),
    /// The probe recognised the container but cannot read inside it: ffmpeg must copy its
    /// streams into a container the probe reads (no re-encoding), and the copy be planned.
    Inspect(Inspection),
    /// No honest change makes the file acceptable.
    Unfixable(Unfixable),
}

/// A copy of a file's streams into a container the probe reads, so that a fix can be planned
/// from real facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Inspection {
    pub container: Container,
    pub kind: InspectKind,
}

/// What an inspection writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectKind {
    /// The first video and audio streams, copied into Matroska.
    Video,
    /// The first picture, decoded into a lossless PNG.
    Still,
}

/// The reasons a file cannot be fixed, one per error that has no honest fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unfixable {
    pub reasons: Vec<Reason>,
}

impl fmt::Display for Unfixable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reasons: Vec<String> = self.reasons.iter().map(Reason::to_string).collect();
        f.write_str(&reasons.join("; "))
    }
}

/// Why one finding has no honest fix, with the measured value and the limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// The finding this is about.
    pub code: ProblemCode,
    /// Why no change answers it, and what the person can do instead.
    pub message: String,
    pub measured: Option<String>,
    pub limit: Option<String>,
    /// What the person may allow to make the file fixable, when anything: each surface names
    /// it in its own words (the CLI's `--trim`, a checkbox in the dashboard).
    pub remedy: Option<Remedy>,
}

/// A permission that turns an unfixable file into a fixable one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// Allow cutting the end ([`FixOptions::trim`]).
    AllowTrim,
    /// Allow scaling up ([`FixOptions::upscale`]).
    AllowUpscale,
}

impl Reason {
    /// A reason about `finding`, keeping its measured value and limit.
    fn about(finding: &Problem, message: impl Into<String>) -> Self {
        Self {
            code: finding.code,
            message: message.into(),
            measured: finding.measured.clone(),
            limit: finding.limit.clone(),
            remedy: None,
        }
    }

    fn new(code: ProblemCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            measured: None,
            limit: None,
            remedy: None,
        }
    }

    fn with_remedy(self, remedy: Remedy) -> Self {
        Self {
            remedy: Some(remedy),
            ..self
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match (&self.measured, &self.limit) {
            (Some(measured), Some(limit)) => write!(f, " (measured {measured}, limit {limit})"),
            (Some(measured), None) => write!(f, " (measured {measured})"),
            _ => Ok(()),
        }
    }
}

/// The planned work and what it changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub work: Work,
    /// Every aspect the fix changes or deliberately keeps, in the order a person reads them.
    pub changes: Vec<Change>,
    /// How long the output will play (for progress); `None` for a photo.
    pub expected_duration_s: Option<f64>,
    /// Warnings the fix leaves as they are (a video under 720p stays under 720p).
    pub warnings: Vec<Problem>,
}

impl Plan {
    /// What the output is.
    pub fn output_format(&self) -> OutputFormat {
        match &self.work {
            Work::Video(_) => OutputFormat::Mp4,
            Work::Photo(photo) => match photo.format {
                PhotoFormat::Jpeg => OutputFormat::Jpeg,
                PhotoFormat::Webp => OutputFormat::Webp,
            },
        }
    }

    /// The same plan one step lower on the photo quality ladder, for a photo that came out over
    /// TikTok's size limit; `None` for a video or at the last step.
    pub fn with_lower_quality(&self) -> Option<Self> {
        let Work::Photo(photo) = &self.work else {
            return None;
        };
        let lower = photo.quality.lower()?;
        let mut plan = self.clone();
        plan.work = Work::Photo(PhotoPlan {
            quality: lower,
            ..photo.clone()
        });
        plan.changes
            .retain(|change| change.aspect != Aspect::Quality);
        plan.changes.push(Change {
            aspect: Aspect::Quality,
            from: photo.quality.label(photo.format),
            to: Some(lower.label(photo.format)),
            how: "lowered one step: the photo came out over TikTok's size limit".to_owned(),
            answers: Some(ProblemCode::PhotoTooLarge),
            why: None,
        });
        Some(plan)
    }
}

/// The work itself, in the terms the ffmpeg arguments are built from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    Video(VideoPlan),
    Photo(PhotoPlan),
}

/// The format of a fixed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    Mp4,
    Jpeg,
    Webp,
}

impl OutputFormat {
    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
        }
    }

    /// Whether `extension` (any case, no dot) names this format.
    pub fn accepts_extension(self, extension: &str) -> bool {
        let extension = extension.to_ascii_lowercase();
        match self {
            Self::Mp4 => matches!(extension.as_str(), "mp4" | "m4v"),
            Self::Jpeg => matches!(extension.as_str(), "jpg" | "jpeg"),
            Self::Webp => extension == "webp",
        }
    }
}

/// One aspect of the file: what it was, what it becomes (or that it is kept), how, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub aspect: Aspect,
    pub from: String,
    /// `None` when the aspect is kept as it was.
    pub to: Option<String>,
    /// How: "remux, streams copied", "re-encoded with libx264 at CRF 18".
    pub how: String,
    /// The finding this change answers; `None` when it follows from another change or is kept.
    pub answers: Option<ProblemCode>,
    /// The finding's message, or why a change that answers none is needed.
    pub why: Option<String>,
}

impl Change {
    fn kept(aspect: Aspect, value: impl Into<String>, how: impl Into<String>) -> Self {
        Self {
            aspect,
            from: value.into(),
            to: None,
            how: how.into(),
            answers: None,
            why: None,
        }
    }

    fn answering(
        finding: &Problem,
        aspect: Aspect,
        from: impl Into<String>,
        to: impl Into<String>,
        how: impl Into<String>,
    ) -> Self {
        Self {
            aspect,
            from: from.into(),
            to: Some(to.into()),
            how: how.into(),
            answers: Some(finding.code),
            why: Some(finding.message.clone()),
        }
    }

    fn following(
        aspect: Aspect,
        from: impl Into<String>,
        to: impl Into<String>,
        how: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Self {
            aspect,
            from: from.into(),
            to: Some(to.into()),
            how: how.into(),
            answers: None,
            why: Some(why.into()),
        }
    }

    /// Whether the aspect changes (rather than being kept).
    pub fn is_change(&self) -> bool {
        self.to.is_some()
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.to {
            Some(to) => write!(f, "{} {} → {} ({})", self.aspect, self.from, to, self.how)?,
            None => write!(f, "{} {} kept ({})", self.aspect, self.from, self.how)?,
        }
        match (self.answers, &self.why) {
            (Some(code), Some(why)) => write!(f, " — answers {code}: {why}"),
            (None, Some(why)) => write!(f, " — because {why}"),
            _ => Ok(()),
        }
    }
}

/// The aspects a change can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    Container,
    Video,
    Audio,
    FrameRate,
    Size,
    Duration,
    Rotation,
    Format,
    Orientation,
    Quality,
}

impl Aspect {
    pub fn name(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::FrameRate => "frame rate",
            Self::Size => "size",
            Self::Duration => "duration",
            Self::Rotation => "rotation",
            Self::Format => "format",
            Self::Orientation => "orientation",
            Self::Quality => "quality",
        }
    }
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Containers the probe recognises by signature but cannot read inside, which may hold a video
/// ffmpeg can copy out: they are inspected before planning.
fn is_opaque_video(container: Container) -> bool {
    matches!(
        container,
        Container::Avi
            | Container::Flv
            | Container::MpegTs
            | Container::MpegPs
            | Container::Asf
            | Container::Gif
            | Container::Ogg
    )
}

/// Plans the smallest change that makes the file acceptable (see the module docs).
pub fn plan(source: &Source<'_>, options: &FixOptions) -> Decision {
    let errors: Vec<&Problem> = source
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Error)
        .collect();
    let warnings: Vec<Problem> = source
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::Warning)
        .cloned()
        .collect();
    let Some(facts) = source.facts else {
        return Decision::Unfixable(unreadable(&errors));
    };
    if errors.is_empty() && source.unwrapped_from.is_none() {
        return Decision::Acceptable { warnings };
    }
    let from = source.unwrapped_from.unwrap_or(facts.container);
    if facts.container.is_still_image() {
        if facts.image.is_none() && source.unwrapped_from.is_none() {
            return Decision::Inspect(Inspection {
                container: facts.container,
                kind: InspectKind::Still,
            });
        }
        return decided(photo::plan(facts, from, &errors, warnings, options));
    }
    if facts.video.is_none() && source.unwrapped_from.is_none() && is_opaque_video(facts.container)
    {
        return Decision::Inspect(Inspection {
            container: facts.container,
            kind: InspectKind::Video,
        });
    }
    decided(video::plan(facts, from, &errors, warnings, options))
}

fn decided(planned: Result<Plan, Vec<Reason>>) -> Decision {
    match planned {
        Ok(plan) => Decision::Fix(plan),
        Err(reasons) => Decision::Unfixable(Unfixable { reasons }),
    }
}

/// The file could not be probed at all: its damage is the reason.
fn unreadable(errors: &[&Problem]) -> Unfixable {
    let reasons: Vec<Reason> = errors
        .iter()
        .filter(|finding| finding.code == ProblemCode::FileDamaged)
        .map(|finding| {
            Reason::about(
                finding,
                format!(
                    "{}: the probe cannot read it, so there is nothing to plan a fix from; {}",
                    finding.message,
                    lowercase_first(&finding.fix)
                ),
            )
        })
        .collect();
    if reasons.is_empty() {
        return Unfixable {
            reasons: vec![Reason::new(
                ProblemCode::FileDamaged,
                "the file could not be probed, so there is nothing to plan a fix from",
            )],
        };
    }
    Unfixable { reasons }
}

/// A finding the planner has no fix for at all (a photo-post rule on a single file…).
fn not_handled(finding: &Problem) -> Reason {
    Reason::about(
        finding,
        format!(
            "{}: tokpost fix does not change this; {}",
            finding.message,
            lowercase_first(&finding.fix)
        ),
    )
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
