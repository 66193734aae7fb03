//! Duplicate detection: the same media or the same caption already scheduled or posted, to
//! another account or recently to the same one. TikTok's spam detection punishes both.
//!
//! A pure function over what the store already knows (it feeds the prior posts); nothing here
//! reads files or the clock.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::caption::normalize;
use crate::hash::ContentHash;
use crate::verdict::{Problem, ProblemCode};

/// SHA-256 of a caption's normalized text (see [`normalize`]); empty captions have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct CaptionFingerprint(ContentHash);

impl CaptionFingerprint {
    pub fn of(caption: &str) -> Option<Self> {
        let normalized = normalize(caption);
        if normalized.is_empty() {
            return None;
        }
        Some(Self(ContentHash::from_bytes(
            Sha256::digest(normalized.as_bytes()).into(),
        )))
    }

    pub fn to_hex(&self) -> String {
        self.0.to_hex()
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        ContentHash::from_hex(text).map(Self)
    }
}

/// A post as duplicate detection sees it: whose, what media, what caption, when (scheduled or
/// posted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostFingerprint {
    pub account_id: String,
    /// Hashes of the post's media (one video, or each photo).
    pub media: Vec<ContentHash>,
    pub caption: Option<CaptionFingerprint>,
    pub at: Timestamp,
}

/// How far apart in time two posts must be to stop counting as duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateWindows {
    pub same_account: SignedDuration,
    pub other_account: SignedDuration,
}

impl Default for DuplicateWindows {
    /// A week on the same account; a month across accounts (cross-posting the same video to
    /// several accounts is what TikTok's filter looks for).
    fn default() -> Self {
        Self {
            same_account: SignedDuration::from_hours(7 * 24),
            other_account: SignedDuration::from_hours(30 * 24),
        }
    }
}

/// Warnings for `candidate` against `prior` posts (scheduled or posted, before or after it):
/// at most one per kind, counting the matching posts.
pub fn find_duplicates(
    candidate: &PostFingerprint,
    prior: &[PostFingerprint],
    windows: &DuplicateWindows,
) -> Vec<Problem> {
    let mut media_same = 0usize;
    let mut media_other = 0usize;
    let mut caption_same = 0usize;
    let mut caption_other = 0usize;
    for post in prior {
        let same_account = post.account_id == candidate.account_id;
        let window = if same_account {
            windows.same_account
        } else {
            windows.other_account
        };
        if candidate.at.duration_since(post.at).abs() > window {
            continue;
        }
        let shares_media = post.media.iter().any(|hash| candidate.media.contains(hash));
        let shares_caption = candidate.caption.is_some() && post.caption == candidate.caption;
        match (same_account, shares_media, shares_caption) {
            (true, media, caption) => {
                media_same += usize::from(media);
                caption_same += usize::from(caption);
            }
            (false, media, caption) => {
                media_other += usize::from(media);
                caption_other += usize::from(caption);
            }
        }
    }
    let days = |window: SignedDuration| window.as_hours() / 24;
    let mut problems = Vec::new();
    if media_same > 0 {
        problems.push(
            Problem::warning(
                ProblemCode::DuplicateMediaSameAccount,
                format!(
                    "the same media is already scheduled or posted on this account within {} days",
                    days(windows.same_account)
                ),
                "Post different media, or wait before posting it again.",
            )
            .measured(
                format!("{media_same} matching posts"),
                format!("none within {} days", days(windows.same_account)),
            ),
        );
    }
    if media_other > 0 {
        problems.push(
            Problem::warning(
                ProblemCode::DuplicateMediaOtherAccount,
                format!("the same media is scheduled or posted on {media_other} other account(s) within {} days", days(windows.other_account)),
                "Edit the video for this account (cut, caption, music) instead of cross-posting the same file.",
            )
            .measured(format!("{media_other} matching posts"), format!("none within {} days", days(windows.other_account))),
        );
    }
    if caption_same > 0 {
        problems.push(
            Problem::warning(
                ProblemCode::DuplicateCaptionSameAccount,
                format!("the same caption is already scheduled or posted on this account within {} days", days(windows.same_account)),
                "Write a new caption for this post.",
            )
            .measured(format!("{caption_same} matching posts"), format!("none within {} days", days(windows.same_account))),
        );
    }
    if caption_other > 0 {
        problems.push(
            Problem::warning(
                ProblemCode::DuplicateCaptionOtherAccount,
                format!("the same caption is scheduled or posted on {caption_other} other account(s) within {} days", days(windows.other_account)),
                "Write a caption of its own for each account.",
            )
            .measured(format!("{caption_other} matching posts"), format!("none within {} days", days(windows.other_account))),
        );
    }
    problems
}
