//! A connected TikTok creator account as tokpost sees it: who it is, what it allowed us to do,
//! whether we can currently act for it, and when its tokens expire. The tokens themselves are
//! not here: they live encrypted in the store and are only handed to the code that calls TikTok.

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, OpenId, WorkspaceId};
use crate::validation::{ValidationError, ValidationProblem};

/// An OAuth scope TikTok granted (e.g. `video.publish`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    /// Direct posting.
    pub const VIDEO_PUBLISH: &str = "video.publish";
    /// Uploading to the creator's inbox.
    pub const VIDEO_UPLOAD: &str = "video.upload";
    /// Reading the creator's basic profile.
    pub const USER_INFO_BASIC: &str = "user.info.basic";
    /// The creator's username and verification (insights).
    pub const USER_INFO_PROFILE: &str = "user.info.profile";
    /// The creator's follower, like and video counts (insights).
    pub const USER_INFO_STATS: &str = "user.info.stats";
    /// The creator's public videos and their counts (insights).
    pub const VIDEO_LIST: &str = "video.list";
    /// What insights need beside posting.
    pub const INSIGHTS: [&str; 3] = [
        Self::USER_INFO_PROFILE,
        Self::USER_INFO_STATS,
        Self::VIDEO_LIST,
    ];

    /// Validates one scope name.
    ///
    /// # Errors
    /// Empty, or containing characters other than ASCII letters, digits, `.` and `_`.
    pub fn new(name: impl Into<String>) -> Result<Self, ValidationError> {
        let name = name.into();
        if name.is_empty() {
            return Err(ValidationError::new("scope", ValidationProblem::Missing));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return Err(ValidationError::new(
                "scope",
                ValidationProblem::Malformed {
                    expected: "a scope name such as video.publish",
                },
            ));
        }
        Ok(Self(name))
    }

    /// Parses TikTok's comma-separated `scope` field, ignoring empty items.
    ///
    /// # Errors
    /// The first malformed scope.
    pub fn parse_list(list: &str) -> Result<BTreeSet<Self>, ValidationError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Self::new)
            .collect()
    }

    /// The scope name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Scope {
    type Error = ValidationError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> Self {
        scope.0
    }
}

/// Why an account needs the creator to connect it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconnectReason {
    /// The refresh token was rejected (`invalid_grant`): password change, revocation, expiry.
    RefreshTokenRejected,
    /// The refresh token's own lifetime ran out.
    RefreshTokenExpired,
    /// TikTok told us the creator removed the app (`authorization.removed`).
    AuthorizationRemoved,
    /// A scope a post needs was not granted.
    MissingScope,
}

/// Whether tokpost can act for the account now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AccountStatus {
    /// Tokens work; posts proceed.
    Connected,
    /// The creator must connect again; posts wait in `waiting_for_reconnect` instead of failing.
    NeedsReconnect { why: ReconnectReason },
    /// The workspace disconnected the account on purpose; its tokens are gone.
    Disconnected,
}

/// A connected creator account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub workspace_id: WorkspaceId,
    pub open_id: OpenId,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub scopes: BTreeSet<Scope>,
    pub status: AccountStatus,
    pub access_token_expires_at: Timestamp,
    pub refresh_token_expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Account {
    /// Whether `scope` was granted.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.as_str() == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiktok_scope_lists_are_comma_separated() {
        let scopes = Scope::parse_list("user.info.basic,video.publish, video.upload,").unwrap();
        assert_eq!(scopes.len(), 3);
        assert!(scopes.contains(&Scope::new(Scope::VIDEO_PUBLISH).unwrap()));
        assert!(Scope::parse_list("video.publish,bad scope").is_err());
    }

    #[test]
    fn account_status_serializes_with_its_reason() {
        let status = AccountStatus::NeedsReconnect {
            why: ReconnectReason::AuthorizationRemoved,
        };
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(
            json,
            r#"{"status":"needs_reconnect","why":"authorization_removed"}"#
        );
        assert_eq!(
            serde_json::from_str::<AccountStatus>(&json).unwrap(),
            status
        );
    }
}
