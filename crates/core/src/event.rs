//! The story of a post: every decision and every answer from TikTok, in order, with the native
//! response kept verbatim for support. The dashboard and the API render this history.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::PostId;
use crate::people::Principal;
use crate::state::StateKind;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The post was created and queued.
    Scheduled,
    /// The post moved to another state.
    StateChanged,
    /// A step failed and will be retried.
    RetryScheduled,
    /// TikTok answered (status fetch, init, upload); the response is attached.
    TiktokResponse,
    /// A user or operator acted on the post (cancel, edit, reschedule).
    UserAction,
    /// A note with no state change (e.g. "late by 40 s, inside the grace period").
    Note,
    /// An init request is about to be sent. Recorded before sending so that a worker finding
    /// this as the post's last event knows the answer was lost (crash or dropped connection).
    InitRequested,
    /// Sent for approval (created or edited in a workspace or account that requires it).
    ApprovalRequested,
    /// An owner, a reviewer or a review link approved the revision it names.
    Approved,
    /// A reviewer rejected it; the message is their comment.
    Rejected,
    /// Content or time changed (a new revision).
    Edited,
    /// A comment from a person, with no change to the post.
    Comment,
}

impl EventKind {
    /// The stable stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::StateChanged => "state_changed",
            Self::RetryScheduled => "retry_scheduled",
            Self::TiktokResponse => "tiktok_response",
            Self::UserAction => "user_action",
            Self::Note => "note",
            Self::InitRequested => "init_requested",
            Self::ApprovalRequested => "approval_requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Edited => "edited",
            Self::Comment => "comment",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Scheduled,
            Self::StateChanged,
            Self::RetryScheduled,
            Self::TiktokResponse,
            Self::UserAction,
            Self::Note,
            Self::InitRequested,
            Self::ApprovalRequested,
            Self::Approved,
            Self::Rejected,
            Self::Edited,
            Self::Comment,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// An event to record. The store assigns its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPostEvent {
    pub at: Timestamp,
    pub kind: EventKind,
    /// Plain words for the user.
    pub message: String,
    /// TikTok's response as received (never containing tokens: the client strips them).
    pub native_response: Option<serde_json::Value>,
    /// Who acted: tokpost itself unless a person, a key or a review link did.
    pub by: Principal,
}

impl NewPostEvent {
    /// An event without a native response.
    #[must_use]
    pub fn new(at: Timestamp, kind: EventKind, message: impl Into<String>) -> Self {
        Self {
            at,
            kind,
            message: message.into(),
            native_response: None,
            by: Principal::Service,
        }
    }

    /// The same event, done by `by`.
    #[must_use]
    pub const fn by(mut self, by: Principal) -> Self {
        self.by = by;
        self
    }

    /// The same event carrying TikTok's response.
    #[must_use]
    pub fn with_native_response(mut self, response: serde_json::Value) -> Self {
        self.native_response = Some(response);
        self
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostEvent {
    pub post_id: PostId,
    /// Position in the post's history, from 1, without gaps.
    pub sequence: u32,
    pub at: Timestamp,
    pub kind: EventKind,
    /// The state the post was in after this event.
    pub state: StateKind,
    pub message: String,
    pub native_response: Option<serde_json::Value>,
    /// Who acted.
    pub by: Principal,
}
