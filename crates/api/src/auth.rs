//! Who is calling. Two kinds of Bearer credential are accepted:
//! - API keys, for scripts: `tp_` followed by 48 hex characters of randomness, shown once when
//!   issued and stored only as their SHA-256 (with the first characters kept for display). A
//!   key belongs to one workspace and holds a role.
//! - Session secrets, for people (`tps_…`, see [`crate::people`]): a session belongs to a user
//!   in one workspace, and the role is the user's role there as of this request.
//!
//! The [`Authenticated`] extractor turns either into the caller: workspace, principal and role.
//! Each route then asks [`Authenticated::require`] for the action it performs; the one table of
//! what a role may do is `tokpost_core::Role::may`.

use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokpost_core::{Action, Principal, Role, WorkspaceId, may_change_post};
use tokpost_store::{ApiKey, NewApiKey, StoreError, Workspace, WorkspaceStore};

use crate::error::ApiError;
use crate::people::SessionSecret;
use crate::routes::actors::{key_name, user_name};
use crate::state::AppState;

/// Every key starts with this, so a leaked key is recognisable by secret scanners.
const KEY_PREFIX: &str = "tp_";
/// Characters of the key kept for display (`tp_` and 8 hex digits).
const DISPLAY_PREFIX_LEN: usize = 11;

/// A key's secret, shown to its owner once. `Debug` never shows it.
#[derive(Clone)]
pub struct ApiKeySecret(SecretString);

impl ApiKeySecret {
    /// The key, to print once or to send in `Authorization: Bearer`.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret([REDACTED])")
    }
}

/// A newly issued key: the record and the secret (only now available).
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub secret: ApiKeySecret,
}

/// The SHA-256 (lowercase hex) a key is stored and looked up by.
#[must_use]
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Issues a key for `workspace` acting with `role`.
///
/// # Errors
/// Store failures.
pub async fn issue_key(
    store: &dyn WorkspaceStore,
    workspace: WorkspaceId,
    name: &str,
    role: Role,
    now: Timestamp,
) -> Result<IssuedKey, StoreError> {
    let random: [u8; 24] = rand::random();
    let secret = format!("{KEY_PREFIX}{}", hex::encode(random));
    let prefix = secret.chars().take(DISPLAY_PREFIX_LEN).collect();
    let key = store
        .create_api_key(
            NewApiKey {
                workspace_id: workspace,
                name: name.to_owned(),
                prefix,
                secret_hash: hash_key(&secret),
                role,
            },
            now,
        )
        .await?;
    Ok(IssuedKey {
        key,
        secret: ApiKeySecret(SecretString::from(secret)),
    })
}

/// On the first start (no workspace yet), creates the `default` workspace and its admin key.
/// `None` when a workspace exists already.
///
/// # Errors
/// Store failures.
pub async fn bootstrap(
    store: &dyn WorkspaceStore,
    now: Timestamp,
) -> Result<Option<(Workspace, IssuedKey)>, StoreError> {
    if !store.workspaces().await?.is_empty() {
        return Ok(None);
    }
    let workspace = store.create_workspace("default", now).await?;
    let key = issue_key(store, workspace.id, "admin", Role::Owner, now).await?;
    Ok(Some((workspace, key)))
}

/// The caller, proven by an active API key or a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub workspace_id: WorkspaceId,
    pub principal: Principal,
    pub role: Role,
    /// The caller as answers name it (the user's name and email, the key's name and prefix),
    /// read with the credential: an answer naming the caller reads nothing more.
    pub name: Arc<str>,
}

impl Authenticated {
    /// Refuses (403 `forbidden`) when the caller's role may not do `action`.
    ///
    /// # Errors
    /// [`ApiError::Refused`] naming the role and the roles that may.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.role.may(action) {
            return Ok(());
        }
        let allowed: Vec<&str> = Role::ALL
            .into_iter()
            .filter(|role| role.may(action))
            .map(Role::as_str)
            .collect();
        Err(forbidden(
            self.role,
            refusal_message(self.role, action),
            json!(allowed),
        ))
    }

    /// Refuses (403 `forbidden`) a change to a post the caller may not change: an editor
    /// changes only posts they wrote, a reviewer none.
    ///
    /// # Errors
    /// [`ApiError::Refused`].
    pub fn require_post_change(&self, author: Option<Principal>) -> Result<(), ApiError> {
        if may_change_post(self.role, self.principal, author) {
            return Ok(());
        }
        self.require(Action::ChangeOwnPost)?;
        Err(forbidden(
            self.role,
            format!(
                "{}; an editor changes only the posts they wrote (ask the author or an owner)",
                refusal_message(self.role, Action::ChangeAnyPost)
            ),
            json!(["owner", "the post's author"]),
        ))
    }
}

fn forbidden(role: Role, message: String, allowed: serde_json::Value) -> ApiError {
    ApiError::Refused {
        status: axum::http::StatusCode::FORBIDDEN,
        code: "forbidden",
        message,
        field: None,
        limit: Some(allowed),
        measured: Some(json!(role.as_str())),
    }
}

/// Why `role` may not do `action`, in words (the API's refusals and the dashboard's pages say
/// the same).
#[must_use]
pub fn refusal_message(role: Role, action: Action) -> String {
    let allowed: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|role| role.may(action))
        .map(Role::as_str)
        .collect();
    format!(
        "your role ({role}) may not {}; this needs the role {}",
        describe(action),
        allowed.join(" or ")
    )
}

/// An action in words, for refusals.
const fn describe(action: Action) -> &'static str {
    match action {
        Action::Read => "read this workspace",
        Action::Comment => "comment",
        Action::Compose => "compose, upload or schedule posts",
        Action::ChangeOwnPost => "change posts",
        Action::ChangeAnyPost => "change other people's posts",
        Action::Review => "approve or reject posts",
        Action::ManageAccounts => "connect, refresh or disconnect TikTok accounts",
        Action::ManageWebhooks => "manage webhook endpoints and alerts",
        Action::ManageTeam => "manage people, invitations and keys",
        Action::ManageSettings => "change the workspace's settings",
    }
}

/// The Bearer credential of a request, if any.
pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credential = bearer(parts).ok_or(ApiError::Unauthorized)?;
        if let Some(secret) = SessionSecret::parse(credential) {
            let session = state
                .people()
                .session(&secret.hash(), state.now())
                .await?
                .ok_or(ApiError::Unauthorized)?;
            return Ok(Self {
                workspace_id: session.workspace_id,
                principal: Principal::User(session.user.id),
                role: session.role,
                name: user_name(&session.user.name, &session.user.email).into(),
            });
        }
        if !credential.starts_with(KEY_PREFIX) {
            return Err(ApiError::Unauthorized);
        }
        let key = state
            .workspaces()
            .api_key_by_hash(&hash_key(credential))
            .await?
            .filter(ApiKey::is_active)
            .ok_or(ApiError::Unauthorized)?;
        Ok(Self {
            workspace_id: key.workspace_id,
            principal: Principal::ApiKey(key.id),
            role: key.role,
            name: key_name(&key).into(),
        })
    }
}
