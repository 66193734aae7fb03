//! People in a workspace: the roles they hold, what each role may do, and who did something.
//!
//! Invariants:
//! - [`Role::may`] is the only judge of what a role may do. Every API route and every page asks
//!   it (through the API), and a test table in `tokpost-api` proves each role against each
//!   action over HTTP.
//! - A change to a post goes through [`may_change_post`]: an owner may change any post, an
//!   editor only a post they wrote, a reviewer none (a reviewer approves or rejects, which is
//!   [`Action::Review`], never an edit).
//! - Whatever acts is a [`Principal`]: a person, an API key, a review link or tokpost itself.
//!   Every post event and account change records one; nothing is attributed to "someone".

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{ApiKeyId, ReviewLinkId, UserId};

/// What a person (or an API key) may do in a workspace.
///
/// The split follows who is in an agency's room: the people who run the workspace, the people
/// who write posts, and the people (often the client) who say yes before anything goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything: accounts, people, keys, webhooks, settings, any post.
    Owner,
    /// Composes and schedules posts, changes their own, sees everything.
    Editor,
    /// Sees everything, comments, approves or rejects; never composes or publishes.
    Reviewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Self; 3] = [Self::Owner, Self::Editor, Self::Reviewer];

    /// The stable stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Reviewer => "reviewer",
        }
    }

    /// Parses a stored or typed name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// Whether this role may do `action`: the one table of permissions.
    #[must_use]
    pub const fn may(self, action: Action) -> bool {
        match action {
            Action::Read | Action::Comment => true,
            Action::Compose | Action::ChangeOwnPost => matches!(self, Self::Owner | Self::Editor),
            Action::Review => matches!(self, Self::Owner | Self::Reviewer),
            Action::ChangeAnyPost
            | Action::ManageAccounts
            | Action::ManageWebhooks
            | Action::ManageTeam
            | Action::ManageSettings => matches!(self, Self::Owner),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a caller asks to do. Routes name one; [`Role::may`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// See posts, accounts, media, the error catalog, history.
    Read,
    /// Comment on a post.
    Comment,
    /// Upload media, validate, create and import posts.
    Compose,
    /// Cancel, retry, reschedule or edit a post one wrote.
    ChangeOwnPost,
    /// Cancel, retry, reschedule or edit anyone's post.
    ChangeAnyPost,
    /// Approve or reject a post waiting for approval.
    Review,
    /// Connect, refresh and disconnect TikTok accounts.
    ManageAccounts,
    /// Outbound webhook endpoints and alert channels.
    ManageWebhooks,
    /// People, invitations, roles and API keys.
    ManageTeam,
    /// The workspace's settings (approval requirements).
    ManageSettings,
}

impl Action {
    /// Every action, for tables and tests.
    pub const ALL: [Self; 10] = [
        Self::Read,
        Self::Comment,
        Self::Compose,
        Self::ChangeOwnPost,
        Self::ChangeAnyPost,
        Self::Review,
        Self::ManageAccounts,
        Self::ManageWebhooks,
        Self::ManageTeam,
        Self::ManageSettings,
    ];

    /// The stable name, as errors show it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Comment => "comment",
            Self::Compose => "compose",
            Self::ChangeOwnPost => "change_own_post",
            Self::ChangeAnyPost => "change_any_post",
            Self::Review => "review",
            Self::ManageAccounts => "manage_accounts",
            Self::ManageWebhooks => "manage_webhooks",
            Self::ManageTeam => "manage_team",
            Self::ManageSettings => "manage_settings",
        }
    }
}

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    /// A person signed in to the dashboard or calling the API with their session.
    User(UserId),
    /// A script holding an API key.
    ApiKey(ApiKeyId),
    /// Someone outside the team holding a single-post review link.
    ReviewLink(ReviewLinkId),
    /// tokpost itself: a worker, the token keeper, the janitor.
    Service,
}

impl Principal {
    /// The stored kind (`user`, `api_key`, `review_link`, `service`).
    #[must_use]
    pub const fn kind(self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::ApiKey(_) => "api_key",
            Self::ReviewLink(_) => "review_link",
            Self::Service => "service",
        }
    }

    /// The stored id, for a user, a key or a review link.
    #[must_use]
    pub const fn id(self) -> Option<uuid::Uuid> {
        match self {
            Self::User(id) => Some(id.as_uuid()),
            Self::ApiKey(id) => Some(id.as_uuid()),
            Self::ReviewLink(id) => Some(id.as_uuid()),
            Self::Service => None,
        }
    }

    /// Reads a stored kind and id back; `None` when they do not make a principal.
    #[must_use]
    pub fn from_parts(kind: &str, id: Option<uuid::Uuid>) -> Option<Self> {
        match (kind, id) {
            ("user", Some(id)) => Some(Self::User(UserId::from_uuid(id))),
            ("api_key", Some(id)) => Some(Self::ApiKey(ApiKeyId::from_uuid(id))),
            ("review_link", Some(id)) => Some(Self::ReviewLink(ReviewLinkId::from_uuid(id))),
            ("service", None) => Some(Self::Service),
            _ => None,
        }
    }
}

/// Whether `role`, acting as `principal`, may change a post written by `author`: an owner any
/// post, an editor their own, a reviewer none. A post with no recorded author (written before
/// tokpost knew people, or by tokpost itself) is an owner's to change.
#[must_use]
pub fn may_change_post(role: Role, principal: Principal, author: Option<Principal>) -> bool {
    role.may(Action::ChangeAnyPost)
        || (role.may(Action::ChangeOwnPost) && author == Some(principal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
        let user = Principal::User(UserId::from_uuid(uuid::Uuid::from_u128(7)));
        for principal in [
            user,
            Principal::ApiKey(ApiKeyId::from_uuid(uuid::Uuid::from_u128(8))),
            Principal::ReviewLink(ReviewLinkId::from_uuid(uuid::Uuid::from_u128(9))),
            Principal::Service,
        ] {
            assert_eq!(
                Principal::from_parts(principal.kind(), principal.id()),
                Some(principal)
            );
        }
        assert_eq!(Principal::from_parts("user", None), None);
        assert_eq!(Principal::from_parts("service", user.id()), None);
    }

    #[test]
    fn only_owners_run_the_workspace_and_reviewers_never_compose() {
        for action in Action::ALL {
            assert!(Role::Owner.may(action), "{action:?}");
        }
        assert!(!Role::Reviewer.may(Action::Compose));
        assert!(!Role::Reviewer.may(Action::ChangeOwnPost));
        assert!(Role::Reviewer.may(Action::Review));
        assert!(!Role::Editor.may(Action::Review));
        for action in [
            Action::ManageAccounts,
            Action::ManageWebhooks,
            Action::ManageTeam,
            Action::ManageSettings,
            Action::ChangeAnyPost,
        ] {
            assert!(!Role::Editor.may(action), "{action:?}");
            assert!(!Role::Reviewer.may(action), "{action:?}");
        }
    }

    #[test]
    fn an_editor_changes_only_their_own_posts() {
        let me = Principal::User(UserId::from_uuid(uuid::Uuid::from_u128(1)));
        let other = Principal::User(UserId::from_uuid(uuid::Uuid::from_u128(2)));
        assert!(may_change_post(Role::Editor, me, Some(me)));
        assert!(!may_change_post(Role::Editor, me, Some(other)));
        assert!(!may_change_post(Role::Editor, me, None));
        assert!(may_change_post(Role::Owner, me, Some(other)));
        assert!(may_change_post(Role::Owner, me, None));
        assert!(!may_change_post(Role::Reviewer, me, Some(me)));
    }
}
