//! Photo plans. The rules, and why:
//!
//! * **Format**: JPEG, or WebP when asked; a JPEG or WebP photo keeps its format unless another
//!   is asked for.
//! * **Size**: scaled, aspect kept, to fit TikTok's 1080p as `media::rules::photo` reads it
//!   (short side ≤ 1080 px, long side ≤ 1920 px), never up.
//! * **Orientation**: ffmpeg writes no EXIF, so an EXIF orientation is applied to the pixels
//!   (the photo looks the same, its sides as displayed).
//! * **Quality**: JPEG at `-q:v 2`, WebP at quality 90: visually lossless. A photo that still
//!   comes out over TikTok's size limit is written again one step lower on a short ladder
//!   ([`PhotoQuality`]), never below JPEG `-q:v 12` or WebP 50.

use media::probe::{Container, ImageFacts};
use media::rules::photo::{MAX_LONG_SIDE_PX, MAX_SHORT_SIDE_PX};
use media::{MediaFacts, Problem, ProblemCode};
use serde::Serialize;

use super::{Aspect, Change, Plan, Reason, Size, Work, not_handled};
use crate::options::{FixOptions, PhotoFormat};

/// JPEG `-q:v` per step (2 is best, 31 worst).
const JPEG_QSCALE: [u8; 5] = [2, 4, 6, 9, 12];
/// WebP quality per step (100 is best).
const WEBP_QUALITY: [u8; 5] = [90, 80, 70, 60, 50];

/// What happens to a photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhotoPlan {
    pub format: PhotoFormat,
    /// The EXIF orientation applied to the pixels.
    pub orientation: Orientation,
    /// Displayed sides to scale to (after the orientation is applied), `None` to keep them.
    pub scale_to: Option<Size>,
    pub quality: PhotoQuality,
}

/// A step on the quality ladder: step 0 is the best quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PhotoQuality {
    step: u8,
}

impl PhotoQuality {
    /// The first, visually lossless step.
    pub const BEST: Self = Self { step: 0 };

    /// The next step down, `None` at the last.
    pub fn lower(self) -> Option<Self> {
        let step = self.step + 1;
        (usize::from(step) < JPEG_QSCALE.len()).then_some(Self { step })
    }

    /// The encoder's value: JPEG `-q:v` or WebP `-quality`.
    pub fn value(self, format: PhotoFormat) -> u8 {
        let ladder = match format {
            PhotoFormat::Jpeg => &JPEG_QSCALE,
            PhotoFormat::Webp => &WEBP_QUALITY,
        };
        ladder
            .get(usize::from(self.step))
            .or(ladder.last())
            .copied()
            .unwrap_or_default()
    }

    /// "q:v 2", "quality 90".
    pub fn label(self, format: PhotoFormat) -> String {
        match format {
            PhotoFormat::Jpeg => format!("q:v {}", self.value(format)),
            PhotoFormat::Webp => format!("quality {}", self.value(format)),
        }
    }
}

/// An EXIF orientation (1–8): how the stored pixels are turned to be displayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    /// 1, or no EXIF orientation.
    AsStored,
    /// 2
    MirrorHorizontal,
    /// 3
    Rotate180,
    /// 4
    MirrorVertical,
    /// 5: mirrored along the main diagonal.
    Transpose,
    /// 6
    Rotate90,
    /// 7: mirrored along the other diagonal.
    Transverse,
    /// 8
    Rotate270,
}

impl Orientation {
    /// From the EXIF tag's value; anything outside 2–8 is as stored.
    pub fn from_exif(value: Option<u8>) -> Self {
        match value {
            Some(2) => Self::MirrorHorizontal,
            Some(3) => Self::Rotate180,
            Some(4) => Self::MirrorVertical,
            Some(5) => Self::Transpose,
            Some(6) => Self::Rotate90,
            Some(7) => Self::Transverse,
            Some(8) => Self::Rotate270,
            _ => Self::AsStored,
        }
    }

    /// ffmpeg filters that turn the stored pixels into the displayed picture (the same as
    /// ffmpeg's own autorotation for orientation 6).
    pub fn filters(self) -> &'static [&'static str] {
        match self {
            Self::AsStored => &[],
            Self::MirrorHorizontal => &["hflip"],
            Self::Rotate180 => &["hflip", "vflip"],
            Self::MirrorVertical => &["vflip"],
            Self::Transpose => &["transpose=cclock_flip"],
            Self::Rotate90 => &["transpose=clock"],
            Self::Transverse => &["transpose=clock_flip"],
            Self::Rotate270 => &["transpose=cclock"],
        }
    }

    fn exif_value(self) -> u8 {
        match self {
            Self::AsStored => 1,
            Self::MirrorHorizontal => 2,
            Self::Rotate180 => 3,
            Self::MirrorVertical => 4,
            Self::Transpose => 5,
            Self::Rotate90 => 6,
            Self::Transverse => 7,
            Self::Rotate270 => 8,
        }
    }
}

/// The displayed size a photo is scaled to so that it fits TikTok's 1080p, `None` when it fits.
/// Integer arithmetic, rounding down: the result never exceeds either limit.
pub fn fit_photo(displayed: Size) -> Option<Size> {
    let (short, long) = (u64::from(displayed.short()), u64::from(displayed.long()));
    let (max_short, max_long) = (u64::from(MAX_SHORT_SIDE_PX), u64::from(MAX_LONG_SIDE_PX));
    if short <= max_short && long <= max_long {
        return None;
    }
    // The limit that needs the smaller factor decides: max_long / long < max_short / short.
    let (new_short, new_long) = if max_long * short < max_short * long {
        (short * max_long / long, max_long)
    } else {
        (max_short, long * max_short / short)
    };
    let side = |value: u64| u32::try_from(value.max(1)).unwrap_or(u32::MAX);
    Some(if displayed.width <= displayed.height {
        Size::new(side(new_short), side(new_long))
    } else {
        Size::new(side(new_long), side(new_short))
    })
}

pub(super) fn plan(
    facts: &MediaFacts,
    from: Container,
    errors: &[&Problem],
    warnings: Vec<Problem>,
    options: &FixOptions,
) -> Result<Plan, Vec<Reason>> {
    let mut reasons: Vec<Reason> = errors
        .iter()
        .filter(|finding| {
            !matches!(
                finding.code,
                ProblemCode::PhotoFormatUnsupported
                    | ProblemCode::PhotoTooLarge
                    | ProblemCode::PhotoResolutionOver1080p
            )
        })
        .map(|finding| not_handled(finding))
        .collect();
    let Some(image) = &facts.image else {
        reasons.push(Reason::new(
            ProblemCode::PhotoFormatUnsupported,
            format!(
                "the probe could not read the size of the {} photo, so a fit cannot be planned",
                from.name()
            ),
        ));
        return Err(reasons);
    };
    if !reasons.is_empty() {
        return Err(reasons);
    }
    let find = |code: ProblemCode| errors.iter().copied().find(|finding| finding.code == code);
    let format = match (options.photo_format, from) {
        (Some(format), _) => format,
        (None, Container::Webp) => PhotoFormat::Webp,
        (None, _) => PhotoFormat::Jpeg,
    };
    let quality = PhotoQuality::BEST;
    let mut changes = Vec::new();
    let how = format!("re-encoded at {}", quality.label(format));
    changes.push(if from.name() == format.name() {
        Change::kept(Aspect::Format, format.name(), how)
    } else {
        match find(ProblemCode::PhotoFormatUnsupported) {
            Some(finding) if facts.container != from => Change {
                // The finding is about the lossless copy an inspection wrote: name the original.
                why: Some(format!(
                    "TikTok photo posts take JPEG or WebP, not {}",
                    from.name().to_uppercase()
                )),
                ..Change::answering(finding, Aspect::Format, from.name(), format.name(), how)
            },
            Some(finding) => {
                Change::answering(finding, Aspect::Format, from.name(), format.name(), how)
            }
            None => Change::following(
                Aspect::Format,
                from.name(),
                format.name(),
                how,
                "this format was asked for",
            ),
        }
    });
    let orientation = Orientation::from_exif(image.exif_orientation);
    if orientation != Orientation::AsStored {
        changes.push(Change::following(
            Aspect::Orientation,
            format!("EXIF {}", orientation.exif_value()),
            "applied to the pixels",
            "turned as a viewer would show it",
            "the fixed photo carries no EXIF",
        ));
    }
    let displayed = displayed_size(image);
    let scale_to = find(ProblemCode::PhotoResolutionOver1080p).and_then(|finding| {
        let to = fit_photo(displayed)?;
        changes.push(Change::answering(
            finding,
            Aspect::Size,
            displayed.to_string(),
            to.to_string(),
            format!("scaled down to fit {MAX_SHORT_SIDE_PX}x{MAX_LONG_SIDE_PX}, aspect kept"),
        ));
        Some(to)
    });
    if scale_to.is_none() {
        changes.push(Change::kept(
            Aspect::Size,
            displayed.to_string(),
            "not scaled",
        ));
    }
    if let Some(finding) = find(ProblemCode::PhotoTooLarge) {
        changes.push(Change::answering(
            finding,
            Aspect::Quality,
            "as stored",
            quality.label(format),
            "re-encoded; lowered step by step while the result is over the limit",
        ));
    }
    Ok(Plan {
        work: Work::Photo(PhotoPlan {
            format,
            orientation,
            scale_to,
            quality,
        }),
        changes,
        expected_duration_s: None,
        warnings,
    })
}

fn displayed_size(image: &ImageFacts) -> Size {
    Size::new(image.display_width(), image.display_height())
}
