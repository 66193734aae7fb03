//! One refresh per account in flight, across every process, and nothing lost to a race.
//!
//! A refresh runs only under the account's claim in the store (one holder across all processes
//! sharing the database), and inside this process behind a per-account lock so that callers of
//! one process queue instead of polling. A caller that finds the refresh held elsewhere waits
//! for it, then judges again from the stored tokens: if the tokens it wanted replaced are gone,
//! someone else refreshed (or reconnected) and it takes theirs. The new tokens are written only
//! over the refresh token they replace, and an account turns *needs reconnect* only when TikTok
//! refused the refresh token it still holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clock::Timestamp;
use secrecy::ExposeSecret;
use tiktok::{AccessToken, RefreshToken};
use tokio::sync::OwnedMutexGuard;
use tokpost_core::{AccountId, AccountStatus, ReconnectReason};
use tokpost_store::{AccountTokens, RefreshClaim, StoreError, TokenWrite};

use super::{
    KeeperError, KeeperEvent, TokenKeeper, non_negative, requires_reconnect, tokens_from_grant,
};

/// How often a caller waiting for another process's refresh looks again. A wake-up pace on the
/// runtime's timer, like the store's watch for other processes: whether the claim has ended is
/// judged by the store on the injected clock.
const WAIT_FOR_OTHER_PROCESS: Duration = Duration::from_millis(25);

/// Why a refresh is wanted; each cause has its own test of whether it is still due once the
/// caller's turn comes.
#[derive(Debug, Clone)]
pub(super) enum Cause {
    /// A refresh job planned for the access token that expires at this instant (`None`: due
    /// whatever the expiry).
    Scheduled(Option<Timestamp>),
    /// A publishing step needs a token that is not about to expire.
    Expiring,
    /// Someone asked for a refresh while the account held this refresh token.
    Requested(RefreshToken),
    /// TikTok rejected this access token.
    Rejected(AccessToken),
}

/// What a refresh attempt came to.
#[derive(Debug)]
pub(super) enum Flight {
    /// This caller refreshed; these are the new tokens.
    Refreshed(AccountTokens),
    /// No refresh was due (any more): these are the account's current tokens.
    NotDue(AccountTokens),
}

impl Flight {
    pub(super) fn tokens(self) -> AccountTokens {
        match self {
            Self::Refreshed(tokens) | Self::NotDue(tokens) => tokens,
        }
    }
}

/// The per-account locks of this process.
#[derive(Debug, Default)]
pub(super) struct Flights(Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>);

impl Flights {
    async fn enter(&self, account: AccountId) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            // Forget the locks nobody holds or waits for, so the map stays as small as the
            // number of refreshes in flight.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            Arc::clone(locks.entry(account).or_default())
        };
        lock.lock_owned().await
    }
}

impl TokenKeeper {
    /// Refreshes `account` if `cause` still calls for it once this caller's turn comes.
    pub(super) async fn refresh(
        &self,
        account: AccountId,
        cause: Cause,
    ) -> Result<Flight, KeeperError> {
        let _turn = self.flights.enter(account).await;
        loop {
            let tokens = self.connected_tokens(account).await?;
            let now = self.clock.now();
            if !self.still_due(&cause, &tokens, now) {
                return Ok(Flight::NotDue(tokens));
            }
            let until = clock::add(now, self.policy.claim_for);
            match self
                .store
                .claim_token_refresh(account, &self.holder, until, now)
                .await?
            {
                RefreshClaim::Claimed { failures } => {
                    // The tokens may have changed between the read and the claim.
                    let tokens = match self.connected_tokens(account).await {
                        Ok(tokens) => tokens,
                        Err(error) => {
                            self.release(account, None).await;
                            return Err(error);
                        }
                    };
                    if !self.still_due(&cause, &tokens, self.clock.now()) {
                        self.release(account, None).await;
                        return Ok(Flight::NotDue(tokens));
                    }
                    return self.refresh_claimed(account, tokens, failures).await;
                }
                RefreshClaim::HeldElsewhere { .. } => {
                    tokio::time::sleep(WAIT_FOR_OTHER_PROCESS).await;
                }
                RefreshClaim::BackingOff { until } => {
                    return Err(KeeperError::BackingOff { until });
                }
                RefreshClaim::NotConnected => {
                    return Err(self.not_connected(account).await);
                }
            }
        }
    }

    /// Whether `cause` still calls for a refresh of `tokens` (the account's current ones).
    fn still_due(&self, cause: &Cause, tokens: &AccountTokens, now: Timestamp) -> bool {
        match cause {
            Cause::Scheduled(expiry) => {
                expiry.is_none_or(|expiry| tokens.access_token_expires_at == expiry)
            }
            Cause::Expiring => {
                let left = non_negative(tokens.access_token_expires_at.duration_since(now));
                left <= self.policy.urgent_margin(lifetime(tokens))
            }
            Cause::Requested(seen) => tokens.refresh_token.expose_secret() == seen.expose_secret(),
            Cause::Rejected(rejected) => {
                tokens.access_token.expose_secret() == rejected.expose_secret()
            }
        }
    }

    /// Calls TikTok under the claim, stores the grant over the tokens it replaces, then
    /// schedules the next refresh and warns if due. Releases the claim on every path.
    async fn refresh_claimed(
        &self,
        account: AccountId,
        tokens: AccountTokens,
        failures: u32,
    ) -> Result<Flight, KeeperError> {
        // Expiries count from when the request was sent, so they err on the early side.
        let sent_at = self.clock.now();
        let presented = RefreshToken::new(tokens.refresh_token.expose_secret());
        let grant = match self.client.refresh(&presented).await {
            Ok(grant) => grant,
            Err(failure) if requires_reconnect(&failure) => {
                metrics::counter!("tokpost_token_refreshes_total", "outcome" => "needs_reconnect")
                    .increment(1);
                let why = if tokens.refresh_token_expires_at <= sent_at {
                    ReconnectReason::RefreshTokenExpired
                } else {
                    ReconnectReason::RefreshTokenRejected
                };
                let marked = self
                    .store
                    .refresh_refused(account, &tokens.refresh_token, why, self.clock.now())
                    .await?;
                if marked {
                    tracing::warn!(%account, ?why, "account needs to be reconnected");
                    self.announce(KeeperEvent::NeedsReconnect { account, why });
                    return Err(KeeperError::NeedsReconnect(why));
                }
                // The refused token had already been replaced (a reconnect, or a refresh by
                // a holder whose claim had run out): the account is fine.
                tracing::info!(%account, "a refresh token that was already replaced was refused; the account keeps its new tokens");
                return Ok(Flight::NotDue(self.connected_tokens(account).await?));
            }
            Err(failure) => {
                metrics::counter!("tokpost_token_refreshes_total", "outcome" => "failed")
                    .increment(1);
                let wait = self
                    .policy
                    .backoff(failures.saturating_add(1), lifetime(&tokens));
                self.release(account, Some(clock::add(self.clock.now(), wait)))
                    .await;
                return Err(KeeperError::TikTok(Box::new(failure)));
            }
        };
        let fresh = tokens_from_grant(&grant, sent_at);
        let rotated = grant.refresh_token.expose_secret() != tokens.refresh_token.expose_secret();
        // Stored before anyone sees the new access token: a rotated refresh token that is not
        // stored is lost, and the old one is already dead.
        let written = self
            .store_grant_persistently(account, &tokens, &fresh)
            .await;
        let outcome = match written {
            Ok(TokenWrite::Stored) => "refreshed",
            Ok(TokenWrite::Superseded | TokenWrite::NotConnected) => "superseded",
            Err(_) => "not_stored",
        };
        metrics::counter!("tokpost_token_refreshes_total", "outcome" => outcome).increment(1);
        match written {
            Ok(TokenWrite::Stored) => {}
            Ok(TokenWrite::Superseded) => {
                self.release(account, None).await;
                tracing::info!(%account, "new tokens arrived while refreshing (a reconnect); they are kept");
                return Ok(Flight::NotDue(self.connected_tokens(account).await?));
            }
            Ok(TokenWrite::NotConnected) => {
                self.release(account, None).await;
                tracing::info!(%account, "the account was disconnected while refreshing; the new tokens are dropped");
                return Err(self.not_connected(account).await);
            }
            Err(error) => {
                self.release(account, None).await;
                return Err(error.into());
            }
        }
        tracing::info!(%account, rotated, access_token_expires_at = %fresh.access_token_expires_at, "access token refreshed");
        self.announce(KeeperEvent::Refreshed {
            account,
            rotated,
            access_token_expires_at: fresh.access_token_expires_at,
        });
        self.after_refresh(account, &fresh, grant.expires_in).await;
        Ok(Flight::Refreshed(fresh))
    }

    /// Stores a grant TikTok already issued. The old refresh token may be dead by now, so a
    /// failed write is retried a few times (1, 2, 4, 8 s on the injected clock) before giving up
    /// and leaving the account to be reconnected.
    async fn store_grant_persistently(
        &self,
        account: AccountId,
        replaced: &AccountTokens,
        fresh: &AccountTokens,
    ) -> Result<TokenWrite, StoreError> {
        const ATTEMPTS: u32 = 5;
        let mut attempt = 1;
        loop {
            match self
                .store
                .store_refreshed_tokens(account, &replaced.refresh_token, fresh, self.clock.now())
                .await
            {
                Ok(written) => return Ok(written),
                Err(error) if attempt < ATTEMPTS => {
                    tracing::warn!(%account, %error, attempt, "could not store refreshed tokens; trying again");
                    clock::sleep(self.clock.as_ref(), Duration::from_secs(1 << (attempt - 1)))
                        .await;
                    attempt += 1;
                }
                Err(error) => {
                    tracing::error!(%account, %error, "refreshed tokens could not be stored; the account will need a reconnect");
                    return Err(error);
                }
            }
        }
    }

    /// The account's tokens, or why it cannot be acted for.
    pub(super) async fn connected_tokens(
        &self,
        account: AccountId,
    ) -> Result<AccountTokens, KeeperError> {
        let current = self
            .store
            .account(account)
            .await?
            .ok_or(KeeperError::UnknownAccount)?;
        if current.status != AccountStatus::Connected {
            return Err(status_error(current.status));
        }
        self.store
            .account_tokens(account)
            .await?
            .ok_or(KeeperError::UnknownAccount)
    }

    async fn not_connected(&self, account: AccountId) -> KeeperError {
        match self.store.account(account).await {
            Ok(Some(current)) => status_error(current.status),
            Ok(None) => KeeperError::UnknownAccount,
            Err(error) => error.into(),
        }
    }

    /// Gives the claim back; a failure to do so only delays the next refresh until the claim
    /// runs out, so it is logged, not returned.
    async fn release(&self, account: AccountId, not_before: Option<Timestamp>) {
        if let Err(error) = self
            .store
            .release_token_refresh(account, &self.holder, not_before)
            .await
        {
            tracing::warn!(%account, %error, "could not release the refresh claim; it runs out by itself");
        }
    }
}

/// The access token's lifetime as granted (from the grant to its expiry).
pub(super) fn lifetime(tokens: &AccountTokens) -> Duration {
    non_negative(
        tokens
            .access_token_expires_at
            .duration_since(tokens.granted_at),
    )
}

fn status_error(status: AccountStatus) -> KeeperError {
    match status {
        AccountStatus::NeedsReconnect { why } => KeeperError::NeedsReconnect(why),
        other => KeeperError::NotConnected(other),
    }
}
