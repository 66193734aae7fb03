//! Photo rules (tiktok-api.md §11): JPEG or WebP, at most 20 MB each, at most 1080p, 1 to 35
//! photos per post, a cover index inside the list.
//!
//! "Maximum 1080p" is not defined by TikTok. We enforce the reading that matches the canvases
//! schedulers resize to (1080x1920, 1080x1440, 1080x1080, 1920x1080): the displayed short side at
//! most 1080 px and the long side at most 1920 px.

use crate::probe::{Container, MediaFacts};
use crate::verdict::{Problem, ProblemCode, human_bytes};

pub const MAX_PHOTO_BYTES: u64 = 20_000_000;
pub const MAX_SHORT_SIDE_PX: u32 = 1080;
pub const MAX_LONG_SIDE_PX: u32 = 1920;
pub const MIN_PHOTOS: usize = 1;
pub const MAX_PHOTOS: usize = 35;

/// Judges one probed photo.
pub fn check(facts: &MediaFacts) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !matches!(facts.container, Container::Jpeg | Container::Webp) {
        problems.push(
            Problem::error(
                ProblemCode::PhotoFormatUnsupported,
                format!(
                    "TikTok photo posts take JPEG or WebP, not {}",
                    facts.container.name().to_uppercase()
                ),
                "Convert it to JPEG (ffmpeg -i in.png -q:v 2 out.jpg).",
            )
            .measured(facts.container.name(), "jpeg, webp"),
        );
    }
    if facts.size_bytes > MAX_PHOTO_BYTES {
        problems.push(
            Problem::error(
                ProblemCode::PhotoTooLarge,
                "TikTok refuses photos over 20 MB",
                "Save it again as JPEG at quality 85 or scale it to 1080x1920.",
            )
            .measured(human_bytes(facts.size_bytes), "20.0 MB"),
        );
    }
    if let Some(image) = &facts.image {
        let (width, height) = (image.display_width(), image.display_height());
        if width.min(height) > MAX_SHORT_SIDE_PX || width.max(height) > MAX_LONG_SIDE_PX {
            problems.push(
                Problem::error(
                    ProblemCode::PhotoResolutionOver1080p,
                    format!("the photo is {width}x{height} px, over 1080p (short side ≤ 1080 px and long side ≤ 1920 px)"),
                    "Scale it to fit 1080x1920 (ffmpeg -i in.jpg -vf scale=1080:1920:force_original_aspect_ratio=decrease out.jpg).",
                )
                .measured(format!("{width}x{height} px"), "short side ≤ 1080 px, long side ≤ 1920 px"),
            );
        }
    }
    problems
}

/// Judges a photo post's shape: how many photos and which is the cover (0-based).
pub fn check_post(photo_count: usize, cover_index: usize) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !(MIN_PHOTOS..=MAX_PHOTOS).contains(&photo_count) {
        let fix = if photo_count == 0 {
            "Add at least one photo."
        } else {
            "Keep at most 35 photos; split the rest into another post."
        };
        problems.push(
            Problem::error(
                ProblemCode::PhotoCountOutOfRange,
                format!("a photo post takes 1 to 35 photos, this one has {photo_count}"),
                fix,
            )
            .measured(format!("{photo_count} photos"), "1–35 photos"),
        );
    }
    if photo_count > 0 && cover_index >= photo_count {
        problems.push(
            Problem::error(
                ProblemCode::PhotoCoverIndexInvalid,
                format!(
                    "the cover index {cover_index} points past the last photo (index {})",
                    photo_count - 1
                ),
                format!("Choose a cover between 0 and {}.", photo_count - 1),
            )
            .measured(
                format!("index {cover_index}"),
                format!("0–{}", photo_count - 1),
            ),
        );
    }
    problems
}
