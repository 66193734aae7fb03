//! Video plans. The rules, and why:
//!
//! * **The output is always MP4** (H.264, HEVC or VP9 inside, `+faststart`): every video TikTok
//!   takes fits in it, and one output format keeps scripts and the service simple. A WebM whose
//!   only fault is its length therefore becomes an MP4 too (VP8 cannot be copied into MP4, so
//!   VP8 is re-encoded then; VP9 is copied).
//! * **Remux when only the container is wrong**: streams are copied, nothing is decoded.
//! * **Re-encode only the stream at fault**: the video is re-encoded when its codec, frame rate
//!   or sides are wrong, to H.264 (libx264 at CRF 18, preset `fast`: visually lossless at a
//!   speed a two-core server can afford; TikTok re-encodes anyway, so a slower preset would only
//!   shrink the upload). A valid H.264, HEVC or VP9 stream is copied. Audio is copied when MP4
//!   carries it as is (AAC, MP3, AC-3, E-AC-3), else re-encoded to AAC at 192 kb/s.
//! * **Frame rates** go to the nearest standard rate that keeps motion regular: up to the
//!   smallest standard rate that is a whole multiple of the source (15 → 30: each frame shown
//!   twice; 24 would repeat frames unevenly and judder), down to the largest standard rate that
//!   divides it (120 → 60, 100 → 50, 144 → 48: whole frames dropped evenly); NTSC rates stay
//!   NTSC (14.985 → 29.97). Without such a rate, or for a variable frame rate, 30 up and 60
//!   down.
//! * **Sides** are scaled, aspect kept, to the nearest even size inside TikTok's range: down
//!   when a side is too long, up only when asked. When no scale satisfies both limits (a very
//!   wide strip) the video is unfixable: cropping would cut the picture.
//! * **Rotation** is kept: a copied stream keeps its display matrix, a re-encoded one is
//!   encoded as coded (`-noautorotate`) and ffmpeg copies the matrix.
//! * **Duration**: a video under the minimum is unfixable (looping, slowing or padding changes
//!   what it shows); a video over the maximum is cut only when trimming is allowed, 0.1 s before
//!   the maximum, because copied audio ends on a packet boundary up to a few hundredths of a
//!   second after the cut.

use media::probe::{Container, VideoCodec, VideoFacts};
use media::rules::video::{
    MAX_FPS, MAX_SIDE_PX, MAX_SIZE_BYTES, MIN_DURATION_S, MIN_FPS, MIN_SIDE_PX,
};
use media::verdict::human_bytes;
use media::{MediaFacts, Problem, ProblemCode};
use serde::Serialize;

use super::{Aspect, Change, Plan, Reason, Remedy, Size, Work, not_handled};
use crate::options::FixOptions;

/// How much before the maximum a cut is made (see the module docs).
pub const CUT_MARGIN_S: f64 = 0.1;
/// Audio codecs an MP4 carries as they are.
const MP4_AUDIO: [&str; 4] = ["aac", "mp3", "ac3", "eac3"];
/// Standard rates a low frame rate may be raised to, smallest first.
const RAISE_TO: [u32; 6] = [24, 25, 30, 48, 50, 60];
/// Standard rates a high frame rate may be lowered to, largest first.
const LOWER_TO: [u32; 3] = [60, 50, 48];
/// When no standard rate is a whole multiple: the rate TikTok's own advice names.
const RAISE_FALLBACK: u32 = 30;
/// Two frame rates this close are the same rate (29.97 is 30000/1001).
const SAME_RATE: f64 = 0.01;

/// What happens to a video file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoPlan {
    pub video: VideoStream,
    pub audio: AudioStream,
    /// Cut the output at this many seconds (the end is dropped).
    pub cut_at_s: Option<f64>,
}

/// What happens to the first video stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum VideoStream {
    /// Copied as it is, display matrix included.
    Copy,
    /// Re-encoded to H.264, optionally scaled (coded sides) and at a new frame rate.
    H264 {
        scale_to: Option<Size>,
        frame_rate: Option<FrameRate>,
        /// Whether the new frame rate is below the source's: the frame-rate filter then runs
        /// before the scaler, so that dropped frames are never scaled.
        lowers_frame_rate: bool,
    },
}

/// What happens to the first audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioStream {
    /// The file has no audio.
    None,
    Copy,
    /// Re-encoded to AAC.
    Aac,
}

/// A frame rate as a fraction, as ffmpeg takes it (`30`, `30000/1001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameRate {
    pub num: u32,
    pub den: u32,
}

impl FrameRate {
    pub fn fps(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// As ffmpeg's `fps` filter takes it.
    pub fn ffmpeg(self) -> String {
        if self.den == 1 {
            self.num.to_string()
        } else {
            format!("{}/{}", self.num, self.den)
        }
    }

    fn standard(rate: u32, ntsc: bool) -> Self {
        if ntsc {
            Self {
                num: rate * 1000,
                den: 1001,
            }
        } else {
            Self { num: rate, den: 1 }
        }
    }
}

impl std::fmt::Display for FrameRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{} fps", self.num)
        } else {
            write!(f, "{:.2} fps", self.fps())
        }
    }
}

/// The frame rate a video at `fps` is re-encoded to (see the module docs for the rule).
pub fn target_frame_rate(fps: Option<f64>, variable: bool) -> FrameRate {
    let Some(fps) = fps.filter(|fps| fps.is_finite() && *fps > 0.0) else {
        return FrameRate::standard(RAISE_FALLBACK, false);
    };
    let ntsc = is_ntsc(fps);
    // The rate the source would have without the NTSC 1000/1001 factor.
    let base = if ntsc { fps * 1.001 } else { fps };
    let whole = |ratio: f64| ratio >= 1.0 && (ratio - ratio.round()).abs() < SAME_RATE;
    let in_range = |rate: &&u32| (MIN_FPS..=MAX_FPS).contains(&f64::from(**rate));
    if fps < MIN_FPS {
        let raised = RAISE_TO
            .iter()
            .filter(in_range)
            .find(|rate| !variable && whole(f64::from(**rate) / base));
        return match raised {
            Some(rate) => FrameRate::standard(*rate, ntsc),
            None => FrameRate::standard(RAISE_FALLBACK, false),
        };
    }
    let lowered = LOWER_TO
        .iter()
        .filter(in_range)
        .find(|rate| !variable && whole(base / f64::from(**rate)));
    match lowered {
        Some(rate) => FrameRate::standard(*rate, ntsc),
        None => FrameRate::standard(max_fps_whole(), false),
    }
}

/// TikTok's maximum frame rate as a whole number.
fn max_fps_whole() -> u32 {
    // MAX_FPS is a small whole number of frames per second (60).
    MAX_FPS.floor() as u32
}

/// 23.976, 29.97, 59.94, 14.985…: the rate times 1.001 is whole, the rate itself is not.
fn is_ntsc(fps: f64) -> bool {
    let scaled = fps * 1.001;
    (scaled - scaled.round()).abs() < SAME_RATE / 2.0 && (fps - fps.round()).abs() > SAME_RATE
}

/// Why a video's sides cannot be brought into TikTok's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidesProblem {
    /// Too small, and scaling up was not allowed; `to` is what scaling up would give.
    NeedsUpscale { to: Size },
    /// No scale keeps both sides in range (the aspect ratio is too extreme); `closest` is the
    /// scale that fixes the side at fault.
    AspectTooExtreme { closest: Size },
    /// The probe measured a zero side.
    Unknown,
}

/// The coded size a video must be scaled to, `None` when its sides are in range.
pub fn fit_video_sides(coded: Size, upscale: bool) -> Result<Option<Size>, SidesProblem> {
    let (short, long) = (u64::from(coded.short()), u64::from(coded.long()));
    let (min, max) = (u64::from(MIN_SIDE_PX), u64::from(MAX_SIDE_PX));
    if short == 0 {
        return Err(SidesProblem::Unknown);
    }
    let (new_short, new_long) = if long > max {
        (round_even(short * max, long), max)
    } else if short < min {
        (min, round_even(long * min, short))
    } else {
        return Ok(None);
    };
    let scaled = oriented(coded, new_short, new_long);
    if new_short < min || new_long > max {
        return Err(SidesProblem::AspectTooExtreme { closest: scaled });
    }
    if long <= max && !upscale {
        return Err(SidesProblem::NeedsUpscale { to: scaled });
    }
    Ok(Some(scaled))
}

/// The even integer nearest to `num / den` (ties up): H.264 in 4:2:0 needs even sides.
fn round_even(num: u64, den: u64) -> u64 {
    2 * ((num + den) / (2 * den))
}

/// `short` and `long` put back on the sides they came from.
fn oriented(coded: Size, short: u64, long: u64) -> Size {
    let clamp = |side: u64| u32::try_from(side).unwrap_or(u32::MAX);
    if coded.width <= coded.height {
        Size::new(clamp(short), clamp(long))
    } else {
        Size::new(clamp(long), clamp(short))
    }
}

pub(super) fn plan(
    facts: &MediaFacts,
    from: Container,
    errors: &[&Problem],
    warnings: Vec<Problem>,
    options: &FixOptions,
) -> Result<Plan, Vec<Reason>> {
    let mut reasons = Vec::new();
    let Some(video) = &facts.video else {
        return Err(vec![no_video(facts, from, errors)]);
    };
    let find = |code: ProblemCode| errors.iter().copied().find(|finding| finding.code == code);
    for finding in errors {
        match finding.code {
            ProblemCode::ContainerUnsupported
            | ProblemCode::VideoCodecUnsupported
            | ProblemCode::FrameRateOutOfRange
            | ProblemCode::ResolutionTooSmall
            | ProblemCode::ResolutionTooLarge
            | ProblemCode::DurationOverCreatorMax => {}
            ProblemCode::DurationTooShort => reasons.push(Reason::about(
                finding,
                format!(
                    "the video lasts {}, under TikTok's minimum of {MIN_DURATION_S} s; there is no honest fix (looping, slowing down or padding it changes what it shows): export a clip of at least {MIN_DURATION_S} s",
                    seconds(facts.duration_s)
                ),
            )),
            ProblemCode::FileTooLarge => reasons.push(Reason::about(
                finding,
                format!(
                    "the file is {}, over TikTok's {}; tokpost fix does not compress to a size: trim it (allow trimming with a shorter maximum) or re-encode it at a lower bitrate",
                    human_bytes(facts.size_bytes),
                    human_bytes(MAX_SIZE_BYTES)
                ),
            )),
            _ => reasons.push(not_handled(finding)),
        }
    }
    let mut changes = Vec::new();

    // Sides and frame rate decide whether the video is re-encoded.
    let coded = Size::new(video.coded_width, video.coded_height);
    let size_finding =
        find(ProblemCode::ResolutionTooLarge).or(find(ProblemCode::ResolutionTooSmall));
    let mut scale_to = None;
    if let Some(finding) = size_finding {
        match fit_video_sides(coded, options.upscale) {
            Ok(Some(to)) => {
                let how = if to.long() < coded.long() {
                    "scaled down, aspect kept"
                } else {
                    "scaled up as asked, aspect kept"
                };
                changes.push(Change::answering(
                    finding,
                    Aspect::Size,
                    shown(video, coded).to_string(),
                    shown(video, to).to_string(),
                    how,
                ));
                scale_to = Some(to);
            }
            Ok(None) => {}
            Err(problem) => reasons.push(sides_reason(finding, coded, problem)),
        }
    }
    let frame_rate = find(ProblemCode::FrameRateOutOfRange).map(|finding| {
        let target = target_frame_rate(video.fps, video.variable_frame_rate);
        let measured = video
            .fps
            .map_or_else(|| "unknown".to_owned(), |fps| format!("{fps:.2} fps"));
        let how = frame_rate_how(video, target);
        changes.push(Change::answering(
            finding,
            Aspect::FrameRate,
            measured,
            target.to_string(),
            how,
        ));
        target
    });
    let codec_finding = find(ProblemCode::VideoCodecUnsupported);
    let reencode = codec_finding.is_some()
        || frame_rate.is_some()
        || scale_to.is_some()
        // VP8 cannot be copied into MP4.
        || video.codec == VideoCodec::Vp8;
    if reencode && scale_to.is_none() && (coded.width % 2 == 1 || coded.height % 2 == 1) {
        let even = Size::new(
            coded.width - coded.width % 2,
            coded.height - coded.height % 2,
        );
        changes.push(Change::following(
            Aspect::Size,
            shown(video, coded).to_string(),
            shown(video, even).to_string(),
            "scaled to the even size just below",
            "H.264 in 4:2:0 needs even sides",
        ));
        scale_to = Some(even);
    }
    if scale_to.is_none() {
        changes.push(Change::kept(
            Aspect::Size,
            display_size(video).to_string(),
            "not scaled",
        ));
    }
    if frame_rate.is_none()
        && let Some(fps) = video.fps
    {
        changes.push(Change::kept(
            Aspect::FrameRate,
            format!("{fps:.2} fps"),
            "every frame kept",
        ));
    }

    let audio = audio_stream(facts.audio_codec.as_deref());
    let video_stream = if reencode {
        let how = format!(
            "re-encoded with libx264, CRF {}, preset {}; {}",
            crate::args::X264_CRF,
            crate::args::X264_PRESET,
            match audio {
                AudioStream::Copy => "audio copied",
                AudioStream::Aac => "audio re-encoded",
                AudioStream::None => "no audio",
            }
        );
        let to = "h264";
        changes.insert(
            0,
            match codec_finding {
                Some(finding) => {
                    Change::answering(finding, Aspect::Video, video.codec.name(), to, how)
                }
                None if video.codec == VideoCodec::Vp8 => Change::following(
                    Aspect::Video,
                    video.codec.name(),
                    to,
                    how,
                    "VP8 cannot be carried in MP4",
                ),
                None => Change::following(
                    Aspect::Video,
                    video.codec.name(),
                    to,
                    how,
                    "a new frame rate or size means a new encode",
                ),
            },
        );
        VideoStream::H264 {
            scale_to,
            frame_rate,
            lowers_frame_rate: frame_rate
                .zip(video.fps)
                .is_some_and(|(target, fps)| target.fps() < fps),
        }
    } else {
        changes.insert(
            0,
            Change::kept(Aspect::Video, video.codec.name(), "stream copied"),
        );
        VideoStream::Copy
    };
    if video.rotation_degrees != 0 {
        let how = if reencode {
            "encoded as coded, display matrix copied"
        } else {
            "display matrix copied"
        };
        changes.push(Change::kept(
            Aspect::Rotation,
            format!("{}°", video.rotation_degrees),
            how,
        ));
    }
    match (audio, facts.audio_codec.as_deref()) {
        (AudioStream::Copy, Some(codec)) => {
            changes.push(Change::kept(Aspect::Audio, codec, "stream copied"))
        }
        (AudioStream::Aac, Some(codec)) => changes.push(Change::following(
            Aspect::Audio,
            codec,
            "aac",
            format!("re-encoded at {}", crate::args::AAC_BITRATE),
            format!(
                "only AAC, MP3, AC-3 and E-AC-3 audio are copied into MP4 as they are, not {codec}"
            ),
        )),
        _ => {}
    }

    let mut cut_at_s = None;
    if let Some(finding) = find(ProblemCode::DurationOverCreatorMax) {
        let max = options.limits.max_video_duration_s();
        let cut = f64::from(max) - CUT_MARGIN_S;
        if !options.trim {
            reasons.push(Reason::about(
                finding,
                format!(
                    "the video lasts {}, over the maximum of {max} s; cutting it loses the end, so tokpost cuts only when trimming is allowed: it would then end at {cut:.1} s",
                    seconds(facts.duration_s)
                ),
            ).with_remedy(Remedy::AllowTrim));
        } else if cut < MIN_DURATION_S {
            reasons.push(Reason::about(
                finding,
                format!("the maximum of {max} s leaves no room for TikTok's minimum of {MIN_DURATION_S} s"),
            ));
        } else {
            let whose = if options.limits.creator_max_video_duration_s.is_some() {
                "the creator's"
            } else {
                "the API's"
            };
            changes.push(Change::answering(
                finding,
                Aspect::Duration,
                seconds(facts.duration_s),
                format!("{cut:.1} s"),
                format!("cut at {whose} maximum of {max} s less {CUT_MARGIN_S} s, trimming allowed; the end is dropped"),
            ));
            cut_at_s = Some(cut);
        }
    }

    let copies_all = !reencode && audio != AudioStream::Aac;
    if from == Container::Mp4 {
        changes.insert(
            0,
            Change::kept(Aspect::Container, "mp4", "rewritten with +faststart"),
        );
    } else {
        let how = if copies_all {
            "remux, streams copied"
        } else {
            "rewritten as MP4 with +faststart"
        };
        let container_finding = find(ProblemCode::ContainerUnsupported);
        let change = match container_finding {
            Some(finding)
                if matches!(facts.container, Container::Matroska) && from != facts.container =>
            {
                // The finding is about the Matroska copy of the real container: name the real one.
                Change {
                    why: Some(format!(
                        "{} files are not accepted by TikTok",
                        from.name().to_uppercase()
                    )),
                    ..Change::answering(finding, Aspect::Container, from.name(), "mp4", how)
                }
            }
            Some(finding) => Change::answering(finding, Aspect::Container, from.name(), "mp4", how),
            None => Change::following(
                Aspect::Container,
                from.name(),
                "mp4",
                how,
                "tokpost writes fixed videos as MP4",
            ),
        };
        changes.insert(0, change);
    }

    if !reasons.is_empty() {
        return Err(reasons);
    }
    let expected_duration_s = match (facts.duration_s, cut_at_s) {
        (Some(duration), Some(cut)) => Some(duration.min(cut)),
        (duration, cut) => duration.or(cut),
    };
    Ok(Plan {
        work: Work::Video(VideoPlan {
            video: video_stream,
            audio,
            cut_at_s,
        }),
        changes,
        expected_duration_s,
        warnings,
    })
}

fn audio_stream(codec: Option<&str>) -> AudioStream {
    match codec {
        None => AudioStream::None,
        Some(codec) if MP4_AUDIO.contains(&codec) => AudioStream::Copy,
        Some(_) => AudioStream::Aac,
    }
}

fn display_size(video: &VideoFacts) -> Size {
    Size::new(video.display_width(), video.display_height())
}

/// A coded size as the video is displayed (a 90° or 270° rotation swaps the sides), so that
/// changes speak of the sides a person sees.
fn shown(video: &VideoFacts, coded: Size) -> Size {
    if video.display_width() == video.coded_width {
        coded
    } else {
        Size::new(coded.height, coded.width)
    }
}

fn seconds(duration_s: Option<f64>) -> String {
    duration_s.map_or_else(
        || "an unknown time".to_owned(),
        |duration| format!("{duration:.2} s"),
    )
}

fn frame_rate_how(video: &VideoFacts, target: FrameRate) -> String {
    let Some(fps) = video.fps.filter(|fps| *fps > 0.0) else {
        return "the frame rate TikTok's advice names".to_owned();
    };
    if video.variable_frame_rate {
        return "variable frame rate made constant".to_owned();
    }
    let ratio = target.fps() / fps;
    if ratio > 1.0 && (ratio - ratio.round()).abs() < SAME_RATE {
        format!("each frame shown {} times, timing kept", ratio.round())
    } else if ratio < 1.0 && (1.0 / ratio - (1.0 / ratio).round()).abs() < SAME_RATE {
        format!("one frame of every {} kept", (1.0 / ratio).round())
    } else if ratio > 1.0 {
        "frames repeated to the nearest standard rate".to_owned()
    } else {
        "frames dropped to TikTok's maximum".to_owned()
    }
}

fn sides_reason(finding: &Problem, coded: Size, problem: SidesProblem) -> Reason {
    let message = match problem {
        SidesProblem::NeedsUpscale { to } => format!(
            "the video is {coded}, a side under TikTok's minimum of {MIN_SIDE_PX} px; scaling up invents no detail, so tokpost scales up only when allowed: it would become {to}"
        ),
        SidesProblem::AspectTooExtreme { closest } => format!(
            "the video is {coded}: no scale keeps both sides within {MIN_SIDE_PX}–{MAX_SIDE_PX} px (the nearest is {closest}); only cropping would, and that cuts the picture"
        ),
        SidesProblem::Unknown => {
            format!("the video's size was measured as {coded}, which cannot be scaled")
        }
    };
    let reason = Reason::about(finding, message);
    match problem {
        SidesProblem::NeedsUpscale { .. } => reason.with_remedy(Remedy::AllowUpscale),
        SidesProblem::AspectTooExtreme { .. } | SidesProblem::Unknown => reason,
    }
}

fn no_video(facts: &MediaFacts, from: Container, errors: &[&Problem]) -> Reason {
    let what = match (from, facts.audio_codec.as_deref()) {
        (Container::Wav | Container::Mp3, _) => {
            format!("the {} file is audio only", from.name().to_uppercase())
        }
        (_, Some(codec)) => format!("the {} file holds {codec} audio and no video", from.name()),
        (_, None) => format!("the {} file holds no video", from.name()),
    };
    let message = format!(
        "{what}: a TikTok post needs a picture and tokpost will not invent one; export the video with its picture track"
    );
    match errors.iter().find(|finding| {
        matches!(
            finding.code,
            ProblemCode::NoVideoTrack | ProblemCode::ContainerUnsupported
        )
    }) {
        Some(finding) => Reason {
            code: ProblemCode::NoVideoTrack,
            ..Reason::about(finding, message)
        },
        None => Reason::new(ProblemCode::NoVideoTrack, message),
    }
}
