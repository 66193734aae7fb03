//! API keys: `tp_` followed by 48 hex characters of randomness, shown once when issued and stored
//! only as their SHA-256 (with the first characters kept for display). A key belongs to one
//! workspace; the [`Authenticated`] extractor turns a Bearer header into that workspace.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokpost_core::{ApiKeyId, WorkspaceId};
use tokpost_store::{ApiKey, NewApiKey, StoreError, Workspace, WorkspaceStore};

use crate::error::ApiError;
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

/// Issues a key for `workspace`.
///
/// # Errors
/// Store failures.
pub async fn issue_key(
    store: &dyn WorkspaceStore,
    workspace: WorkspaceId,
    name: &str,
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
    let key = issue_key(store, workspace.id, "admin", now).await?;
    Ok(Some((workspace, key)))
}

/// The caller, proven by an active API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub workspace_id: WorkspaceId,
    pub key_id: ApiKeyId,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secret = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|secret| secret.starts_with(KEY_PREFIX))
            .ok_or(ApiError::Unauthorized)?;
        let key = state
            .store
            .api_key_by_hash(&hash_key(secret))
            .await?
            .filter(ApiKey::is_active)
            .ok_or(ApiError::Unauthorized)?;
        Ok(Self {
            workspace_id: key.workspace_id,
            key_id: key.id,
        })
    }
}
