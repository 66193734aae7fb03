//! What the person asking for a fix allows: the creator's maximum, cutting, scaling up, the
//! photo format. Every default is the conservative one: nothing is cut or invented unless asked.

use std::fmt;

use media::Limits;
use serde::Serialize;

/// The still-image format a photo is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoFormat {
    Jpeg,
    Webp,
}

impl PhotoFormat {
    /// The name used in changes and reports (`jpeg`, `webp`), as the probe names containers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
        }
    }
}

impl fmt::Display for PhotoFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The choices a fix may not make on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixOptions {
    /// The limits the file is judged by: the creator's maximum duration (TikTok's API maximum
    /// when unknown), exactly as `tokpost check` judges.
    pub limits: Limits,
    /// Cutting the end of a video longer than the maximum is allowed. Without it, such a video
    /// is unfixable: losing the end is the creator's decision.
    pub trim: bool,
    /// Scaling a video up to TikTok's minimum side is allowed. Without it, a video under the
    /// minimum is unfixable: scaling up invents no detail and TikTok may still refuse it as low
    /// quality.
    pub upscale: bool,
    /// The format photos are written in. `None`: a JPEG or WebP photo keeps its format, any
    /// other photo becomes JPEG.
    pub photo_format: Option<PhotoFormat>,
}
