//! The token keeper: keeps every connected account's access token fresh in the background,
//! ahead of expiry, and hands a fresh token to the publishing steps.
//!
//! Lifetimes come from TikTok's `expires_in` / `refresh_expires_in` at every grant (24 h / 365 d
//! in the long-standing documentation, 2 h / 180 d with always-rotating refresh tokens in newer
//! ones); nothing here assumes either. A refresh is due a margin before expiry, that margin a
//! bounded fraction of the lifetime TikTok granted, so it fits both generations.
//!
//! Guarantees: the rotated refresh token and both expiries are stored (one write) before the new
//! access token is returned to anyone; refreshes of one account never overlap, because they run
//! only inside a claimed job of that account (the store serializes an account's jobs across all
//! workers); `invalid_grant` (any refresh failure the catalog answers with "Reconnect") turns
//! the account *needs reconnect*; transient failures go back to the queue with back-off.
//!
//! Refresh-token expiry warnings (30 and 7 days before by default) are announced as
//! [`KeeperEvent`]s and logged, once per account, refresh token and threshold across all workers
//! and restarts: each is recorded first as an account notice in the store.
//!
//! What it must not do: read the wall clock, log or put a token in an error, or decide anything
//! about posts.

use std::sync::Arc;
use std::time::Duration;

use clock::{SharedClock, SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tiktok::catalog::Action;
use tiktok::{AccessToken, RefreshToken, TikTokClient, TikTokFailure, TokenGrant};
use tokio::sync::broadcast;
use tokpost_core::{Account, AccountId, AccountStatus, JobKind, ReconnectReason};
use tokpost_store::{AccountTokens, Enqueued, Job, NewJob, Store, StoreError};

use crate::worker::{JobHandler, JobOutcome};

/// The payload field naming the access-token expiry a refresh job was scheduled for, so that a
/// job finding a later expiry knows someone already refreshed.
const REFRESHES_EXPIRY_FIELD: &str = "refreshes_expiry_ms";

const DAY: Duration = Duration::from_secs(86_400);

/// When to refresh and when to warn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeeperPolicy {
    /// The refresh margin as a share of the granted access-token lifetime, in thousandths.
    pub margin_per_mille: u32,
    /// The smallest margin, whatever the lifetime.
    pub min_margin: Duration,
    /// The largest margin, whatever the lifetime.
    pub max_margin: Duration,
    /// A scheduling pass enqueues refreshes for accounts whose access token expires within
    /// this window (longer than `max_margin` plus the interval between passes).
    pub lookahead: Duration,
    /// Warn when the refresh token itself has this little time left (each value once).
    pub warn_before_refresh_expiry: Vec<Duration>,
}

impl Default for KeeperPolicy {
    fn default() -> Self {
        Self {
            margin_per_mille: 250,
            min_margin: Duration::from_secs(5 * 60),
            max_margin: Duration::from_secs(6 * 3_600),
            lookahead: Duration::from_secs(12 * 3_600),
            warn_before_refresh_expiry: vec![30 * DAY, 7 * DAY],
        }
    }
}

impl KeeperPolicy {
    /// How long before expiry an access token granted for `lifetime` is refreshed: a quarter of
    /// it by default (6 h of 24 h, 30 min of 2 h), within [`KeeperPolicy::min_margin`] and
    /// [`KeeperPolicy::max_margin`].
    #[must_use]
    pub fn margin(&self, lifetime: Duration) -> Duration {
        let share = lifetime.saturating_mul(self.margin_per_mille) / 1_000;
        share.clamp(self.min_margin, self.max_margin.max(self.min_margin))
    }
}

/// What the keeper announces (to the dashboard, notifications and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeeperEvent {
    /// New tokens were stored.
    Refreshed {
        account: AccountId,
        /// Whether TikTok sent a different refresh token (the old one is dead).
        rotated: bool,
        access_token_expires_at: Timestamp,
    },
    /// The refresh token itself ends soon; the creator should reconnect before then.
    RefreshTokenExpiresSoon {
        account: AccountId,
        refresh_token_expires_at: Timestamp,
        /// The warning threshold that was crossed (e.g. 30 days).
        threshold: Duration,
    },
    /// The account cannot be refreshed any more; its posts wait for a reconnect.
    NeedsReconnect {
        account: AccountId,
        why: ReconnectReason,
    },
}

/// Why a fresh token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("account not found or without tokens")]
    UnknownAccount,
    #[error("account is not connected ({0:?})")]
    NotConnected(AccountStatus),
    #[error("the account needs to be reconnected ({0:?})")]
    NeedsReconnect(ReconnectReason),
    #[error("token refresh failed: {}", failure_summary(.0))]
    TikTok(Box<TikTokFailure>),
}

impl KeeperError {
    /// Whether trying again later can succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(_) => true,
            Self::TikTok(failure) => failure.is_transient(),
            Self::UnknownAccount | Self::NotConnected(_) | Self::NeedsReconnect(_) => false,
        }
    }
}

/// What a scheduling pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulePass {
    /// Refresh jobs added.
    pub enqueued: usize,
    /// Accounts whose refresh job was already queued.
    pub already_queued: usize,
    /// Refresh-token expiry warnings announced.
    pub warnings: usize,
}

/// The token keeper. Cheap to share behind an [`Arc`]; one per process.
#[derive(Debug)]
pub struct TokenKeeper {
    store: Arc<dyn Store>,
    clock: SharedClock,
    client: TikTokClient,
    policy: KeeperPolicy,
    events: broadcast::Sender<KeeperEvent>,
}

impl TokenKeeper {
    /// A keeper refreshing through `client`.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        client: TikTokClient,
        policy: KeeperPolicy,
    ) -> Self {
        let (events, _) = broadcast::channel(1_024);
        Self {
            store,
            clock,
            client,
            policy,
            events,
        }
    }

    /// The keeper's announcements from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<KeeperEvent> {
        self.events.subscribe()
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &KeeperPolicy {
        &self.policy
    }

    /// Enqueues a refresh job (deduplicated per account and expiry) for every connected account
    /// whose access token expires within [`KeeperPolicy::lookahead`], due a margin before that
    /// expiry, and announces refresh-token expiry warnings. Run it periodically; it is the
    /// safety net behind the next refresh each successful refresh schedules itself.
    ///
    /// # Errors
    /// Store failures.
    pub async fn schedule_due_refreshes(&self) -> Result<SchedulePass, StoreError> {
        let now = self.clock.now();
        let mut pass = SchedulePass::default();
        let expiring = self
            .store
            .accounts_expiring_before(clock::add(now, self.policy.lookahead))
            .await?;
        for id in expiring {
            let Some(account) = self.store.account(id).await? else {
                continue;
            };
            if account.status != AccountStatus::Connected {
                continue;
            }
            // The store keeps no lifetime; tokens are stored with `updated_at`, so the span from
            // there to expiry is what TikTok granted (shorter if the row changed since, which
            // only makes the margin smaller, never later than `min_margin`).
            let lifetime = non_negative(
                account
                    .access_token_expires_at
                    .duration_since(account.updated_at),
            );
            match self
                .enqueue_refresh(id, account.access_token_expires_at, lifetime, now)
                .await?
            {
                Enqueued::Added(_) => pass.enqueued += 1,
                Enqueued::AlreadyQueued => pass.already_queued += 1,
            }
            pass.warnings += self.warn_if_due(&account, now).await?;
        }
        Ok(pass)
    }

    /// An access token for `account` that is not about to expire, refreshing it first (and
    /// storing the result) when it expires within [`KeeperPolicy::min_margin`]. Call it only
    /// inside a claimed job of this account, which keeps refreshes of one account from
    /// overlapping.
    ///
    /// # Errors
    /// [`KeeperError::NotConnected`] / [`KeeperError::NeedsReconnect`] when the account cannot
    /// be acted for, [`KeeperError::TikTok`] when the refresh failed otherwise, store failures.
    pub async fn access_token_for(&self, account: AccountId) -> Result<AccessToken, KeeperError> {
        let current = self
            .store
            .account(account)
            .await?
            .ok_or(KeeperError::UnknownAccount)?;
        if current.status != AccountStatus::Connected {
            return Err(KeeperError::NotConnected(current.status));
        }
        let tokens = self
            .store
            .account_tokens(account)
            .await?
            .ok_or(KeeperError::UnknownAccount)?;
        let refresh_from = clock::add(self.clock.now(), self.policy.min_margin);
        if tokens.access_token_expires_at > refresh_from {
            return Ok(AccessToken::new(tokens.access_token.expose_secret()));
        }
        let fresh = self.refresh(&current, &tokens).await?;
        Ok(AccessToken::new(fresh.access_token.expose_secret()))
    }

    /// TikTok said the creator removed the app (`authorization.removed`): the account needs a
    /// reconnect and is no longer refreshed; its posts wait. For the webhook intake.
    ///
    /// # Errors
    /// Store failures.
    pub async fn authorization_removed(&self, account: AccountId) -> Result<(), StoreError> {
        self.mark_needs_reconnect(account, ReconnectReason::AuthorizationRemoved)
            .await
    }

    /// Refreshes `account` now unless its access token no longer expires at `scheduled_for`
    /// (someone refreshed since the job was planned). Returns whether a refresh
    /// happened.
    ///
    /// # Errors
    /// As [`TokenKeeper::access_token_for`].
    pub async fn refresh_if_still_due(
        &self,
        account: AccountId,
        scheduled_for: Option<Timestamp>,
    ) -> Result<bool, KeeperError> {
        let Some(current) = self.store.account(account).await? else {
            return Ok(false);
        };
        if current.status != AccountStatus::Connected {
            return Ok(false);
        }
        // Any other expiry than the planned one means new tokens were stored since (a refresh
        // or a reconnect), so this refresh is no longer due.
        if scheduled_for.is_some_and(|expiry| current.access_token_expires_at != expiry) {
            return Ok(false);
        }
        let Some(tokens) = self.store.account_tokens(account).await? else {
            return Ok(false);
        };
        self.refresh(&current, &tokens).await?;
        Ok(true)
    }

    /// Calls TikTok, stores the grant, then schedules the next refresh and warns if due.
    async fn refresh(
        &self,
        account: &Account,
        tokens: &AccountTokens,
    ) -> Result<AccountTokens, KeeperError> {
        // Expiries count from when the request was sent, so they err on the early side.
        let sent_at = self.clock.now();
        let presented = RefreshToken::new(tokens.refresh_token.expose_secret());
        let grant = match self.client.refresh(&presented).await {
            Ok(grant) => grant,
            Err(failure) => {
                let outcome = if requires_reconnect(&failure) {
                    "needs_reconnect"
                } else {
                    "failed"
                };
                metrics::counter!("tokpost_token_refreshes_total", "outcome" => outcome)
                    .increment(1);
                if requires_reconnect(&failure) {
                    let why = if tokens.refresh_token_expires_at <= sent_at {
                        ReconnectReason::RefreshTokenExpired
                    } else {
                        ReconnectReason::RefreshTokenRejected
                    };
                    self.mark_needs_reconnect(account.id, why).await?;
                    return Err(KeeperError::NeedsReconnect(why));
                }
                return Err(KeeperError::TikTok(Box::new(failure)));
            }
        };
        let fresh = tokens_from_grant(&grant, sent_at);
        let rotated = grant.refresh_token.expose_secret() != tokens.refresh_token.expose_secret();
        // Stored before anyone sees the new access token: a rotated refresh token that is not
        // stored is lost, and the old one is already dead.
        let now = self.clock.now();
        let stored = self.store_grant_persistently(account.id, &fresh).await;
        metrics::counter!(
            "tokpost_token_refreshes_total",
            "outcome" => if matches!(stored, Ok(true)) { "refreshed" } else { "not_stored" },
        )
        .increment(1);
        if !stored? {
            return Err(KeeperError::UnknownAccount);
        }
        tracing::info!(account = %account.id, rotated, access_token_expires_at = %fresh.access_token_expires_at, "access token refreshed");
        self.announce(KeeperEvent::Refreshed {
            account: account.id,
            rotated,
            access_token_expires_at: fresh.access_token_expires_at,
        });
        if let Err(error) = self
            .enqueue_refresh(
                account.id,
                fresh.access_token_expires_at,
                grant.expires_in,
                now,
            )
            .await
        {
            // The periodic scheduling pass enqueues it instead.
            tracing::warn!(account = %account.id, %error, "could not schedule the next refresh");
        }
        let refreshed = Account {
            access_token_expires_at: fresh.access_token_expires_at,
            refresh_token_expires_at: fresh.refresh_token_expires_at,
            ..account.clone()
        };
        if let Err(error) = self.warn_if_due(&refreshed, now).await {
            // The next scheduling pass warns instead.
            tracing::warn!(account = %account.id, %error, "could not record a refresh-token expiry warning");
        }
        Ok(fresh)
    }

    /// Stores a grant TikTok already issued. The old refresh token may be dead by now, so a
    /// failed write is retried a few times (1, 2, 4, 8 s on the injected clock) before giving up
    /// and leaving the account to be reconnected.
    async fn store_grant_persistently(
        &self,
        account: AccountId,
        fresh: &AccountTokens,
    ) -> Result<bool, StoreError> {
        const ATTEMPTS: u32 = 5;
        let mut attempt = 1;
        loop {
            match self
                .store
                .store_refreshed_tokens(account, fresh, self.clock.now())
                .await
            {
                Ok(stored) => return Ok(stored),
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

    async fn enqueue_refresh(
        &self,
        account: AccountId,
        expires_at: Timestamp,
        lifetime: Duration,
        now: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        let run_at = clock::sub(expires_at, self.policy.margin(lifetime)).max(now);
        let expiry_ms = expires_at.as_millisecond();
        self.store
            .enqueue(
                NewJob {
                    kind: JobKind::RefreshToken,
                    payload: json!({ REFRESHES_EXPIRY_FIELD: expiry_ms }),
                    account_id: Some(account),
                    post_id: None,
                    run_at,
                    dedupe_key: Some(format!("refresh_token:{account}:{expiry_ms}")),
                },
                now,
            )
            .await
    }

    /// TikTok refused the account for a reason only the creator can fix (a rejected token
    /// after a refresh, a missing scope): it needs a reconnect and is no longer refreshed.
    ///
    /// # Errors
    /// Store failures.
    pub async fn mark_needs_reconnect(
        &self,
        account: AccountId,
        why: ReconnectReason,
    ) -> Result<(), StoreError> {
        self.store
            .set_account_status(
                account,
                AccountStatus::NeedsReconnect { why },
                self.clock.now(),
            )
            .await?;
        tracing::warn!(%account, ?why, "account needs to be reconnected");
        self.announce(KeeperEvent::NeedsReconnect { account, why });
        Ok(())
    }

    /// Announces the tightest warning threshold the refresh token has crossed, once per account,
    /// refresh token end and threshold across all workers and restarts (recorded as an account
    /// notice in the store); the wider ones crossed with it are recorded as said (a creator
    /// connected 5 days before the end gets the 7-day warning, not both).
    async fn warn_if_due(&self, account: &Account, now: Timestamp) -> Result<usize, StoreError> {
        let end = account.refresh_token_expires_at;
        if end <= now {
            return Ok(0);
        }
        let left = non_negative(end.duration_since(now));
        let crossed: Vec<Duration> = self
            .policy
            .warn_before_refresh_expiry
            .iter()
            .copied()
            .filter(|threshold| left <= *threshold)
            .collect();
        let Some(tightest) = crossed.iter().copied().min() else {
            return Ok(0);
        };
        let mut fresh_warning = false;
        for threshold in crossed {
            // The store turns the first notice of a pass into an
            // `account.refresh_token_expiring` webhook by this prefix.
            let key = format!(
                "{}{}s:{}",
                tokpost_store::webhooks::REFRESH_TOKEN_WARNING_NOTICE,
                threshold.as_secs(),
                end.as_millisecond()
            );
            let recorded = self
                .store
                .record_account_notice(account.id, &key, now)
                .await?;
            if threshold == tightest {
                fresh_warning = recorded;
            }
        }
        if !fresh_warning {
            return Ok(0);
        }
        tracing::warn!(account = %account.id, refresh_token_expires_at = %end, days_left = left.as_secs() / DAY.as_secs(), "refresh token expires soon; the creator should reconnect");
        self.announce(KeeperEvent::RefreshTokenExpiresSoon {
            account: account.id,
            refresh_token_expires_at: end,
            threshold: tightest,
        });
        Ok(1)
    }

    fn announce(&self, event: KeeperEvent) {
        // No subscriber is fine: the log line carries the same news.
        let _ = self.events.send(event);
    }
}

impl JobHandler for TokenKeeper {
    async fn handle(&self, job: &Job) -> JobOutcome {
        if job.kind != JobKind::RefreshToken {
            return JobOutcome::Transient {
                error: format!("the token keeper does not run {} jobs", job.kind.as_str()),
            };
        }
        let Some(account) = job.account_id else {
            tracing::warn!(job = %job.id, "refresh job without an account; dropped");
            return JobOutcome::Done;
        };
        let scheduled_for = job
            .payload
            .get(REFRESHES_EXPIRY_FIELD)
            .and_then(serde_json::Value::as_i64)
            .and_then(|ms| Timestamp::from_millisecond(ms).ok());
        match self.refresh_if_still_due(account, scheduled_for).await {
            Ok(_) => JobOutcome::Done,
            Err(error) if error.is_transient() => JobOutcome::Transient {
                error: error.to_string(),
            },
            Err(error) => {
                // Retrying cannot help (needs reconnect, or a failure the catalog says repeats);
                // the account status and the log carry it.
                tracing::warn!(%account, %error, "refresh job ended without a refresh");
                JobOutcome::Done
            }
        }
    }
}

/// Whether the catalog says this refresh failure needs the creator (`invalid_grant`): a dead
/// refresh token never comes back.
fn requires_reconnect(failure: &TikTokFailure) -> bool {
    failure
        .classification()
        .entry()
        .is_some_and(|entry| entry.action == Some(Action::Reconnect))
        && !failure.is_transient()
}

/// The tokens of `grant` as the store keeps them, with expiries counted from `sent_at` (when
/// the request that obtained the grant went out: TikTok's lifetimes start before the answer
/// arrives).
#[must_use]
pub fn tokens_from_grant(grant: &TokenGrant, sent_at: Timestamp) -> AccountTokens {
    AccountTokens {
        access_token: SecretString::from(grant.access_token.expose_secret().to_owned()),
        refresh_token: SecretString::from(grant.refresh_token.expose_secret().to_owned()),
        access_token_expires_at: clock::add(sent_at, grant.expires_in),
        refresh_token_expires_at: clock::add(sent_at, grant.refresh_expires_in),
    }
}

/// The classification, status and code of a failure: never its body, which may echo a token.
fn failure_summary(failure: &TikTokFailure) -> String {
    format!(
        "{} (http {}, code {})",
        failure.classification().id(),
        failure
            .http_status
            .map_or_else(|| "none".to_owned(), |status| status.to_string()),
        failure.code.as_deref().unwrap_or("none")
    )
}

fn non_negative(span: SignedDuration) -> Duration {
    Duration::try_from(span).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_a_bounded_share_of_the_granted_lifetime() {
        let policy = KeeperPolicy::default();
        assert_eq!(
            policy.margin(Duration::from_secs(86_400)),
            Duration::from_secs(6 * 3_600)
        );
        assert_eq!(
            policy.margin(Duration::from_secs(7_200)),
            Duration::from_secs(1_800)
        );
        assert_eq!(
            policy.margin(Duration::from_secs(60)),
            Duration::from_secs(300)
        );
        assert_eq!(
            policy.margin(Duration::from_secs(30 * 86_400)),
            Duration::from_secs(6 * 3_600)
        );
    }
}
