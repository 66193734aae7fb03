//! Refreshing an account's tokens without losing the account to a race.
//!
//! TikTok may rotate the refresh token on every use: the old one dies the moment a refresh
//! succeeds. Two refreshes of one account at once therefore cost the account (the second
//! presents a dead token), and so does writing a refresh back over a reconnect or a disconnect.
//! This part of the store gives the token keeper what it needs to prevent that across every
//! process sharing the database:
//!
//! - **a claim** per account ([`TokenRefreshStore::claim_token_refresh`]): at most one holder
//!   until an expiry, taken by one conditional `UPDATE`, so two processes cannot both win it;
//!   a holder that died loses it at its expiry. After a failed refresh the release carries a
//!   *not before* instant, so every process backs off together;
//! - **a compare-and-set write** ([`TokenRefreshStore::store_refreshed_tokens`]): new tokens are
//!   stored only over the refresh token they replaced and only while the account is connected,
//!   so a reconnect or a disconnect that happened meanwhile wins;
//! - **a judged refusal** ([`TokenRefreshStore::refresh_refused`]): an account turns *needs
//!   reconnect* only when the refresh token TikTok refused is the one it still holds.
//!
//! Policy (how long a claim lasts, how long to back off) is the caller's; the store only keeps
//! the instants it is given.

use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::SecretString;
use tokpost_core::{AccountId, ReconnectReason};

use crate::accounts::REFRESH_TOKEN;
use crate::db::{Tx, query, query_as, query_scalar};
use crate::{AccountTokens, StoreError};

/// The answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshClaim {
    /// The caller holds the claim until the instant it asked for.
    Claimed {
        /// Refreshes of this account that failed in a row before this one.
        failures: u32,
    },
    /// Another holder has it until `until` (it may finish sooner).
    HeldElsewhere { until: Timestamp },
    /// A refresh failed recently; nobody refreshes before `until`.
    BackingOff { until: Timestamp },
    /// The account is gone or not connected: there is nothing to refresh.
    NotConnected,
}

/// What became of refreshed tokens handed to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenWrite {
    /// Stored; the claim is released and the failure count reset.
    Stored,
    /// The account holds other tokens than the ones the refresh replaced (a reconnect, or
    /// another refresh, came first): nothing was written.
    Superseded,
    /// The account is gone or no longer connected (disconnected, needs a reconnect): nothing
    /// was written.
    NotConnected,
}

/// The refresh claim and the guarded token writes. Part of [`crate::Store`].
#[async_trait]
pub trait TokenRefreshStore: Send + Sync {
    /// Claims the right to refresh `account` until `until` for `holder` (an id unique to the
    /// calling process). A holder may renew its own claim; an expired claim is free.
    async fn claim_token_refresh(
        &self,
        account: AccountId,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<RefreshClaim, StoreError>;

    /// Gives up `holder`'s claim without new tokens. With `not_before`, the refresh failed:
    /// the failure count grows and nobody may claim before that instant.
    async fn release_token_refresh(
        &self,
        account: AccountId,
        holder: &str,
        not_before: Option<Timestamp>,
    ) -> Result<(), StoreError>;

    /// Stores `tokens` (the rotated refresh token included, in one write) if the account is
    /// connected and still holds the refresh token `replaced`; releases the claim.
    async fn store_refreshed_tokens(
        &self,
        account: AccountId,
        replaced: &SecretString,
        tokens: &AccountTokens,
        now: Timestamp,
    ) -> Result<TokenWrite, StoreError>;

    /// TikTok refused the refresh token `refused` for good. The account turns
    /// `needs_reconnect` (with `why`, and its webhook) only if it is connected and still holds
    /// that token; `false` when it holds another (a refresh or reconnect came first) or is not
    /// connected. Releases the claim either way.
    async fn refresh_refused(
        &self,
        account: AccountId,
        refused: &SecretString,
        why: ReconnectReason,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

#[async_trait::async_trait]
impl crate::token_refresh::TokenRefreshStore for crate::SqlStore {
    async fn claim_token_refresh(
        &self,
        account: tokpost_core::AccountId,
        holder: &str,
        until: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<crate::token_refresh::RefreshClaim, crate::StoreError> {
        use crate::rows::{from_ms, ms};
        use crate::token_refresh::RefreshClaim;
        let connected = crate::rows::to_json(&tokpost_core::AccountStatus::Connected)?;
        // One statement: on PostgreSQL a second claimer waits for the first one's row
        // lock and then re-checks the condition, so two claimers never both win.
        let claimed: Option<i64> = query_scalar(
            "UPDATE accounts SET refresh_claimed_by = $2, refresh_claim_until_ms = $3
             WHERE id = $1 AND status = $5 AND refresh_token IS NOT NULL
               AND (refresh_claimed_by IS NULL OR refresh_claimed_by = $2 OR refresh_claim_until_ms <= $4)
               AND (refresh_not_before_ms IS NULL OR refresh_not_before_ms <= $4)
             RETURNING CAST(refresh_failures AS BIGINT)",
        )
        .bind(account.as_uuid())
        .bind(holder)
        .bind(ms(until))
        .bind(ms(now))
        .bind(&connected)
        .fetch_optional(&self.db)
        .await?;
        if let Some(failures) = claimed {
            return Ok(RefreshClaim::Claimed {
                failures: u32::try_from(failures).unwrap_or(u32::MAX),
            });
        }
        // Why not: read once (a claim released meanwhile reads as held until now, and
        // the caller simply asks again).
        let row: Option<(String, bool, Option<i64>, Option<i64>)> = query_as(
            "SELECT status, refresh_token IS NOT NULL, refresh_claim_until_ms, refresh_not_before_ms FROM accounts WHERE id = $1",
        )
        .bind(account.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        let Some((status, has_tokens, claim_until, not_before)) = row else {
            return Ok(RefreshClaim::NotConnected);
        };
        if status != connected || !has_tokens {
            return Ok(RefreshClaim::NotConnected);
        }
        if let Some(not_before) = not_before.filter(|at| *at > ms(now)) {
            return Ok(RefreshClaim::BackingOff {
                until: from_ms(not_before)?,
            });
        }
        Ok(RefreshClaim::HeldElsewhere {
            until: from_ms(claim_until.unwrap_or_else(|| ms(now)))?,
        })
    }

    async fn release_token_refresh(
        &self,
        account: tokpost_core::AccountId,
        holder: &str,
        not_before: Option<jiff::Timestamp>,
    ) -> Result<(), crate::StoreError> {
        let query = match not_before {
            Some(at) => query(
                "UPDATE accounts SET refresh_claimed_by = NULL, refresh_claim_until_ms = NULL,
                   refresh_failures = refresh_failures + 1, refresh_not_before_ms = $3
                 WHERE id = $1 AND refresh_claimed_by = $2",
            )
            .bind(account.as_uuid())
            .bind(holder)
            .bind(crate::rows::ms(at)),
            None => query(
                "UPDATE accounts SET refresh_claimed_by = NULL, refresh_claim_until_ms = NULL
                 WHERE id = $1 AND refresh_claimed_by = $2",
            )
            .bind(account.as_uuid())
            .bind(holder),
        };
        query.execute(&self.db).await?;
        Ok(())
    }

    async fn store_refreshed_tokens(
        &self,
        account: tokpost_core::AccountId,
        replaced: &secrecy::SecretString,
        tokens: &crate::AccountTokens,
        now: jiff::Timestamp,
    ) -> Result<crate::token_refresh::TokenWrite, crate::StoreError> {
        use crate::rows::ms;
        use crate::token_refresh::TokenWrite;
        let mut tx = self.db.write_tx().await?;
        if !holds_refresh_token(&mut tx, &self.cipher, account, replaced).await? {
            let connected = connected_in_tx(&mut tx, account).await?;
            tx.commit().await?;
            return Ok(if connected {
                TokenWrite::Superseded
            } else {
                TokenWrite::NotConnected
            });
        }
        let (access, refresh) = self.seal_tokens(account.as_uuid(), tokens)?;
        query(
            "UPDATE accounts SET access_token = $2, refresh_token = $3, access_token_expires_at_ms = $4, refresh_token_expires_at_ms = $5, tokens_granted_at_ms = $6, updated_at_ms = $7,
               refresh_claimed_by = NULL, refresh_claim_until_ms = NULL, refresh_failures = 0, refresh_not_before_ms = NULL
             WHERE id = $1",
        )
        .bind(account.as_uuid())
        .bind(access)
        .bind(refresh)
        .bind(ms(tokens.access_token_expires_at))
        .bind(ms(tokens.refresh_token_expires_at))
        .bind(ms(tokens.granted_at))
        .bind(ms(now))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(TokenWrite::Stored)
    }

    async fn refresh_refused(
        &self,
        account: tokpost_core::AccountId,
        refused: &secrecy::SecretString,
        why: tokpost_core::ReconnectReason,
        now: jiff::Timestamp,
    ) -> Result<bool, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        let holds = holds_refresh_token(&mut tx, &self.cipher, account, refused).await?;
        query(
            "UPDATE accounts SET refresh_claimed_by = NULL, refresh_claim_until_ms = NULL WHERE id = $1",
        )
        .bind(account.as_uuid())
        .execute(&mut tx)
        .await?;
        if holds {
            let previous = tokpost_core::AccountStatus::Connected;
            let status = tokpost_core::AccountStatus::NeedsReconnect { why };
            query("UPDATE accounts SET status = $2, updated_at_ms = $3 WHERE id = $1")
                .bind(account.as_uuid())
                .bind(crate::rows::to_json(&status)?)
                .bind(crate::rows::ms(now))
                .execute(&mut tx)
                .await?;
            if let Some(event) =
                crate::webhooks::account_status_event(Some(&previous), &status, account, now)
            {
                crate::webhooks::enqueue_account_webhook_in_tx(&mut tx, account, event).await?;
            }
        }
        tx.commit().await?;
        Ok(holds)
    }
}

/// Whether `account` is connected and holds the refresh token `expected`, with its row
/// locked against other writers until the transaction ends.
async fn holds_refresh_token(
    tx: &mut Tx,
    cipher: &crate::TokenCipher,
    account: tokpost_core::AccountId,
    expected: &secrecy::SecretString,
) -> Result<bool, crate::StoreError> {
    use secrecy::ExposeSecret;
    let row: Option<(String, Option<Vec<u8>>)> = query_as(format!(
        "SELECT status, refresh_token FROM accounts WHERE id = $1 {}",
        tx.dialect().lock_refresh_claim
    ))
    .bind(account.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    let connected = crate::rows::to_json(&tokpost_core::AccountStatus::Connected)?;
    let Some((status, Some(sealed))) = row else {
        return Ok(false);
    };
    if status != connected {
        return Ok(false);
    }
    let held = cipher.open(&sealed, account.as_uuid().as_bytes(), REFRESH_TOKEN)?;
    // Both sides are the service's own values (nobody outside chooses either), so a plain
    // comparison leaks nothing.
    Ok(held.expose_secret() == expected.expose_secret())
}

async fn connected_in_tx(
    tx: &mut Tx,
    account: tokpost_core::AccountId,
) -> Result<bool, crate::StoreError> {
    let status: Option<String> =
        query_scalar("SELECT status FROM accounts WHERE id = $1 AND refresh_token IS NOT NULL")
            .bind(account.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
    Ok(status
        == Some(crate::rows::to_json(
            &tokpost_core::AccountStatus::Connected,
        )?))
}
