//! The kinds of durable work the queue carries. A job carries ids only and reloads state when it
//! runs, so a job that runs twice (after a lease expired) does no harm beyond a wasted check.

use serde::{Deserialize, Serialize};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Advance a post through the publishing state machine by one step.
    PublishPost,
    /// Fetch TikTok's publish status for a post in processing.
    CheckPublishStatus,
    /// Refresh an account's access token ahead of expiry.
    RefreshToken,
    /// Fetch the creator's current options (privacy levels, max duration, interaction flags).
    SyncCreatorInfo,
    /// Read the counts of an account's public posts that are due, and the creator's own.
    SnapshotStats,
    /// Turn a media item TikTok would reject into a new one it accepts (autofix, ffmpeg).
    FixMedia,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::PublishPost,
        Self::CheckPublishStatus,
        Self::RefreshToken,
        Self::SyncCreatorInfo,
        Self::SnapshotStats,
        Self::FixMedia,
    ];

    /// The stable stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PublishPost => "publish_post",
            Self::CheckPublishStatus => "check_publish_status",
            Self::RefreshToken => "refresh_token",
            Self::SyncCreatorInfo => "sync_creator_info",
            Self::SnapshotStats => "snapshot_stats",
            Self::FixMedia => "fix_media",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}
