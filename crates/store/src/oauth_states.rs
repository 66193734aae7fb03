//! The OAuth states handed out with authorize URLs: stored as hashes with their sealed PKCE
//! verifiers, each taken at most once within its lifetime. Two kinds: connecting a TikTok
//! account to a workspace, and a person signing in with the installation's OpenID Connect
//! provider (with the nonce its ID token must repeat).

use async_trait::async_trait;
use jiff::Timestamp;

use crate::db::{query, query_as, query_scalar};
use crate::types::*;
use crate::{SqlStore, StoreError};

/// OAuth states, each good for one callback.
#[async_trait]
pub trait OAuthStateStore: Send + Sync {
    /// Records an OAuth state handed out with an authorize URL.
    async fn save_oauth_state(
        &self,
        state: NewOAuthState,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Takes an OAuth state: the first call within its lifetime gets its workspace and PKCE
    /// verifier; every later call (a replay) gets [`OAuthStateTake::AlreadyUsed`].
    async fn take_oauth_state(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> Result<OAuthStateTake, StoreError>;

    /// Records the state of a sign-in through the OpenID Connect provider.
    async fn save_sign_in_state(
        &self,
        state: NewSignInState,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Takes a sign-in state once, within its lifetime, like [`Self::take_oauth_state`].
    async fn take_sign_in_state(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> Result<SignInStateTake, StoreError>;
}

#[async_trait]
impl OAuthStateStore for SqlStore {
    async fn save_oauth_state(
        &self,
        state: crate::NewOAuthState,
        now: jiff::Timestamp,
    ) -> Result<(), crate::StoreError> {
        let verifier = state
            .pkce_verifier
            .as_ref()
            .map(|verifier| {
                self.cipher
                    .seal(verifier, state.state_hash.as_bytes(), PKCE_VERIFIER)
            })
            .transpose()?;
        query(
                "INSERT INTO oauth_states (state_hash, workspace_id, pkce_verifier, created_at_ms, expires_at_ms, started_by_kind, started_by_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&state.state_hash)
            .bind(state.workspace_id.as_uuid())
            .bind(verifier)
            .bind(crate::rows::ms(now))
            .bind(crate::rows::ms(state.expires_at))
            .bind(state.started_by.kind())
            .bind(state.started_by.id())
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn take_oauth_state(
        &self,
        state_hash: &str,
        now: jiff::Timestamp,
    ) -> Result<crate::OAuthStateTake, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        // Marking it used and reading it is one statement, so two callbacks racing with
        // the same state cannot both take it.
        #[allow(clippy::type_complexity)]
        let taken: Option<(uuid::Uuid, Option<Vec<u8>>, i64, String, Option<uuid::Uuid>)> = query_as(
            "UPDATE oauth_states SET used_at_ms = $2 WHERE state_hash = $1 AND used_at_ms IS NULL
                 RETURNING workspace_id, pkce_verifier, expires_at_ms, started_by_kind, started_by_id",
        )
        .bind(state_hash)
        .bind(crate::rows::ms(now))
        .fetch_optional(&mut tx)
        .await?;
        let outcome = match taken {
            Some((_, _, expires_at_ms, _, _)) if expires_at_ms <= crate::rows::ms(now) => {
                crate::OAuthStateTake::Expired
            }
            Some((workspace, verifier, _, by_kind, by_id)) => crate::OAuthStateTake::Taken {
                workspace_id: tokpost_core::WorkspaceId::from_uuid(workspace),
                started_by: tokpost_core::Principal::from_parts(&by_kind, by_id)
                    .ok_or_else(|| crate::rows::corrupt("the OAuth state's starter"))?,
                pkce_verifier: verifier
                    .map(|sealed| {
                        self.cipher
                            .open(&sealed, state_hash.as_bytes(), PKCE_VERIFIER)
                    })
                    .transpose()?,
            },
            None => {
                let known: Option<i64> =
                    query_scalar("SELECT created_at_ms FROM oauth_states WHERE state_hash = $1")
                        .bind(state_hash)
                        .fetch_optional(&mut tx)
                        .await?;
                if known.is_some() {
                    crate::OAuthStateTake::AlreadyUsed
                } else {
                    crate::OAuthStateTake::Unknown
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn save_sign_in_state(
        &self,
        state: NewSignInState,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.insert_sign_in_state(state, now).await
    }

    async fn take_sign_in_state(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> Result<SignInStateTake, StoreError> {
        self.mark_sign_in_state(state_hash, now).await
    }
}

impl SqlStore {
    pub(crate) async fn insert_sign_in_state(
        &self,
        state: NewSignInState,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let verifier = self.cipher.seal(
            &state.pkce_verifier,
            state.state_hash.as_bytes(),
            PKCE_VERIFIER,
        )?;
        query(
            "INSERT INTO sign_in_states (state_hash, nonce, pkce_verifier, time_zone, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&state.state_hash)
        .bind(&state.nonce)
        .bind(verifier)
        .bind(&state.time_zone)
        .bind(crate::rows::ms(now))
        .bind(crate::rows::ms(state.expires_at))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub(crate) async fn mark_sign_in_state(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> Result<SignInStateTake, StoreError> {
        let mut tx = self.db.write_tx().await?;
        // One statement marks it used and reads it: two callbacks with one state cannot both
        // take it.
        let taken: Option<(String, Vec<u8>, String, i64)> = query_as(
            "UPDATE sign_in_states SET used_at_ms = $2 WHERE state_hash = $1 AND used_at_ms IS NULL
             RETURNING nonce, pkce_verifier, time_zone, expires_at_ms",
        )
        .bind(state_hash)
        .bind(crate::rows::ms(now))
        .fetch_optional(&mut tx)
        .await?;
        let outcome = match taken {
            Some((.., expires_at_ms)) if expires_at_ms <= crate::rows::ms(now) => {
                SignInStateTake::Expired
            }
            Some((nonce, verifier, time_zone, _)) => SignInStateTake::Taken {
                nonce,
                pkce_verifier: self
                    .cipher
                    .open(&verifier, state_hash.as_bytes(), PKCE_VERIFIER)?,
                time_zone,
            },
            None => {
                let known: Option<i64> =
                    query_scalar("SELECT created_at_ms FROM sign_in_states WHERE state_hash = $1")
                        .bind(state_hash)
                        .fetch_optional(&mut tx)
                        .await?;
                if known.is_some() {
                    SignInStateTake::AlreadyUsed
                } else {
                    SignInStateTake::Unknown
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }
}

/// The purpose label PKCE verifiers are sealed with.
pub(crate) const PKCE_VERIFIER: &str = "pkce_verifier";
