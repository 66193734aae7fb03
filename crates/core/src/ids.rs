//! Identifiers. Our own ids are UUID v7 (time-ordered, so they index well and sort by creation);
//! TikTok's ids (`open_id`, `publish_id`) are opaque strings we only validate as non-empty and
//! bounded.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::{ValidationError, ValidationProblem};

/// A UUID v7 whose time part is `at` (the caller's injected clock) and whose rest is random.
fn uuid_v7_at(at: jiff::Timestamp) -> Uuid {
    let millis = u64::try_from(at.as_millisecond()).unwrap_or(0);
    let secs = millis / 1000;
    let nanos = u32::try_from((millis % 1000) * 1_000_000).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos))
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id whose embedded time is `at`.
            #[must_use]
            pub fn generate(at: jiff::Timestamp) -> Self {
                Self(uuid_v7_at(at))
            }

            /// Wraps an id read back from storage or a URL.
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self).map_err(|_| {
                    ValidationError::new(
                        "id",
                        ValidationProblem::Malformed { expected: "a UUID" },
                    )
                })
            }
        }
    };
}

uuid_id!(
    /// A tenant: the set of accounts, posts and API keys one team manages.
    WorkspaceId
);
uuid_id!(
    /// A connected TikTok creator account (ours, not TikTok's `open_id`).
    AccountId
);
uuid_id!(
    /// A post (one video or one photo carousel) scheduled for one account.
    PostId
);
uuid_id!(
    /// A media asset (a video or photo file) known to tokpost.
    MediaId
);
uuid_id!(
    /// A durable job in the queue.
    JobId
);
uuid_id!(
    /// A request to fix a media item (autofix): the job that makes a new item from it.
    MediaFixId
);
uuid_id!(
    /// An API key of a workspace.
    ApiKeyId
);
uuid_id!(
    /// A person who signs in (a member of one or more workspaces).
    UserId
);
uuid_id!(
    /// An invitation to join a workspace.
    InvitationId
);
uuid_id!(
    /// One recorded change of an account.
    AccountEventId
);

const MAX_TIKTOK_ID_LEN: usize = 256;

uuid_id!(
    /// A single-post review link for someone outside the team.
    ReviewLinkId
);

macro_rules! tiktok_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates an id received from TikTok.
            ///
            /// # Errors
            /// Empty, longer than 256 bytes, or containing whitespace/control characters.
            pub fn new(id: impl Into<String>) -> Result<Self, ValidationError> {
                let id = id.into();
                if id.is_empty() {
                    return Err(ValidationError::new($field, ValidationProblem::Missing));
                }
                if id.len() > MAX_TIKTOK_ID_LEN {
                    return Err(ValidationError::new(
                        $field,
                        ValidationProblem::TooLong {
                            limit: MAX_TIKTOK_ID_LEN as u64,
                            measured: id.len() as u64,
                            unit: "bytes",
                        },
                    ));
                }
                if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ValidationError::new(
                        $field,
                        ValidationProblem::Malformed {
                            expected: "an id without whitespace",
                        },
                    ));
                }
                Ok(Self(id))
            }

            /// The id as TikTok sent it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(id: String) -> Result<Self, Self::Error> {
                Self::new(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

tiktok_id!(
    /// TikTok's per-app identifier of a creator.
    OpenId,
    "open_id"
);
tiktok_id!(
    /// TikTok's identifier of one publishing attempt, returned by the init call.
    PublishId,
    "publish_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_generated_later_sort_after_earlier_ones() {
        let early = jiff::Timestamp::constant(1_767_225_600, 0);
        let late = jiff::Timestamp::constant(1_767_225_601, 0);
        assert!(PostId::generate(early) < PostId::generate(late));
        assert_eq!(PostId::generate(early).as_uuid().get_version_num(), 7);
    }

    #[test]
    fn an_id_round_trips_through_its_text_form() {
        let id = AccountId::generate(jiff::Timestamp::constant(1_767_225_600, 0));
        assert_eq!(id.to_string().parse::<AccountId>().unwrap(), id);
        assert!("not-a-uuid".parse::<AccountId>().is_err());
    }

    #[test]
    fn tiktok_ids_must_be_non_empty_and_without_whitespace() {
        assert!(OpenId::new("").is_err());
        assert!(OpenId::new("a b").is_err());
        assert!(PublishId::new("v_pub_file~v2-1.123").is_ok());
        assert!(PublishId::new("x".repeat(257)).is_err());
    }
}
