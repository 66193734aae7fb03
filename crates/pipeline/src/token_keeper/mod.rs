//! The token keeper: keeps every connected account's access token fresh in the background,
//! ahead of expiry, and hands a fresh token to the publishing steps.
//!
//! Lifetimes come from TikTok's `expires_in` / `refresh_expires_in` at every grant (24 h / 365 d
//! in the long-standing documentation, 2 h / 180 d with always-rotating refresh tokens in newer
//! ones); nothing here assumes either. A refresh is due a margin before expiry, that margin a
//! bounded fraction of the lifetime TikTok granted, so it fits both generations.
//!
//! Guarantees (see [`flight`]): at most one refresh per account is in flight across every
//! process (a claim in the store, a lock per account inside a process); the others wait and
//! take its result. The rotated refresh token and both expiries are stored (one write, and only
//! over the refresh token they replace, only while the account is connected) before the new
//! access token is returned to anyone. An account turns *needs reconnect* only when TikTok
//! refused (`invalid_grant`, any failure the catalog answers with "Reconnect") the refresh token
//! it still holds. A failed refresh backs off for every process. A refresh is never due before
//! half the granted lifetime has passed (see [`policy`]), so however short TikTok's lifetimes,
//! the keeper refreshes an account at most twice per lifetime.
//!
//! Refresh-token expiry warnings (30 and 7 days before by default) are announced as
//! [`KeeperEvent`]s and logged, once per account, refresh token and threshold across all workers
//! and restarts: each is recorded first as an account notice in the store.
//!
//! What it must not do: read the wall clock, log or put a token in an error, or decide anything
//! about posts.

mod flight;
mod policy;

use std::sync::Arc;
use std::time::Duration;

use clock::{SharedClock, SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tiktok::catalog::Action;
use tiktok::{AccessToken, RefreshToken, TikTokClient, TikTokFailure, TokenGrant};
use tokio::sync::broadcast;
use tokpost_core::{Account, AccountId, AccountStatus, JobKind, ReconnectReason};
use tokpost_store::{
    AccountTokens, Enqueued, Job, NewJob, Store, StoreError, WebhookEvent, WebhookEventType,
};

/// The key prefix of the notices recorded when a refresh token's expiry crosses a warning
/// threshold (`refresh_token_expiry_warning:<threshold>s:<expiry ms>`), one per threshold.
const REFRESH_TOKEN_WARNING_NOTICE: &str = "refresh_token_expiry_warning:";

use crate::worker::{JobHandler, JobOutcome};
use flight::{Cause, Flight, Flights};
pub use policy::KeeperPolicy;

/// The payload field naming the access-token expiry a refresh job was scheduled for, so that a
/// job finding a later expiry knows someone already refreshed.
const REFRESHES_EXPIRY_FIELD: &str = "refreshes_expiry_ms";

const DAY: Duration = Duration::from_secs(86_400);

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
    /// A refresh of this account failed recently; nobody refreshes it before `until`.
    #[error("a refresh failed recently; the next one may start at {until}")]
    BackingOff { until: Timestamp },
}

impl KeeperError {
    /// Whether trying again later can succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(_) | Self::BackingOff { .. } => true,
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
    /// This keeper's name on the refresh claims it takes (unique per process).
    holder: String,
    flights: Flights,
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
        let holder = format!("keeper:{}", tokpost_core::JobId::generate(clock.now()));
        Self {
            store,
            clock,
            client,
            policy,
            events,
            holder,
            flights: Flights::default(),
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
            let Some(tokens) = self.store.account_tokens(id).await? else {
                continue;
            };
            let lifetime = flight::lifetime(&tokens);
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
    /// storing the result) when it expires within [`KeeperPolicy::urgent_margin`]. Safe to call
    /// from anywhere: refreshes of one account never overlap.
    ///
    /// # Errors
    /// [`KeeperError::NotConnected`] / [`KeeperError::NeedsReconnect`] when the account cannot
    /// be acted for, [`KeeperError::TikTok`] when the refresh failed otherwise,
    /// [`KeeperError::BackingOff`] after a recent failure, store failures.
    pub async fn access_token_for(&self, account: AccountId) -> Result<AccessToken, KeeperError> {
        let tokens = self.connected_tokens(account).await?;
        let left = non_negative(
            tokens
                .access_token_expires_at
                .duration_since(self.clock.now()),
        );
        if left > self.policy.urgent_margin(flight::lifetime(&tokens)) {
            return Ok(AccessToken::new(tokens.access_token.expose_secret()));
        }
        let fresh = self.refresh(account, Cause::Expiring).await?.tokens();
        Ok(AccessToken::new(fresh.access_token.expose_secret()))
    }

    /// A refresh someone asked for. Callers who ask while another refresh of the account is
    /// in flight wait for it and take its tokens instead of refreshing again. Returns whether
    /// this call refreshed.
    ///
    /// # Errors
    /// As [`TokenKeeper::access_token_for`].
    pub async fn refresh_on_request(&self, account: AccountId) -> Result<bool, KeeperError> {
        let tokens = self.connected_tokens(account).await?;
        let seen = RefreshToken::new(tokens.refresh_token.expose_secret());
        let flight = self.refresh(account, Cause::Requested(seen)).await?;
        Ok(matches!(flight, Flight::Refreshed(_)))
    }

    /// TikTok rejected `rejected`, an access token of `account`: refresh, unless the account
    /// holds another token by now (someone refreshed since). Returns whether this call
    /// refreshed.
    ///
    /// # Errors
    /// As [`TokenKeeper::access_token_for`].
    pub async fn refresh_rejected(
        &self,
        account: AccountId,
        rejected: &AccessToken,
    ) -> Result<bool, KeeperError> {
        let flight = self
            .refresh(account, Cause::Rejected(rejected.clone()))
            .await?;
        Ok(matches!(flight, Flight::Refreshed(_)))
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
    /// (someone refreshed or reconnected since the job was planned). Returns whether a refresh
    /// happened.
    ///
    /// # Errors
    /// As [`TokenKeeper::access_token_for`].
    pub async fn refresh_if_still_due(
        &self,
        account: AccountId,
        scheduled_for: Option<Timestamp>,
    ) -> Result<bool, KeeperError> {
        match self.refresh(account, Cause::Scheduled(scheduled_for)).await {
            Ok(flight) => Ok(matches!(flight, Flight::Refreshed(_))),
            // Nothing to refresh any more: not a failure of the job.
            Err(KeeperError::UnknownAccount | KeeperError::NotConnected(_)) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// After new tokens were stored: the next refresh is scheduled, and a refresh-token expiry
    /// warning is sent if due. Failures here are picked up by the next scheduling pass.
    async fn after_refresh(&self, account: AccountId, fresh: &AccountTokens, lifetime: Duration) {
        let now = self.clock.now();
        if let Err(error) = self
            .enqueue_refresh(account, fresh.access_token_expires_at, lifetime, now)
            .await
        {
            tracing::warn!(%account, %error, "could not schedule the next refresh");
        }
        let refreshed = match self.store.account(account).await {
            Ok(Some(refreshed)) => refreshed,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%account, %error, "could not read the account to judge its refresh-token warning");
                return;
            }
        };
        if let Err(error) = self.warn_if_due(&refreshed, now).await {
            tracing::warn!(%account, %error, "could not record a refresh-token expiry warning");
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
        let because = match why {
            ReconnectReason::RefreshTokenRejected => {
                "TikTok rejected its refresh token (a password change, a revocation or its end)"
            }
            ReconnectReason::RefreshTokenExpired => "its refresh token's lifetime ran out",
            ReconnectReason::AuthorizationRemoved => "the creator removed the app on TikTok",
            ReconnectReason::MissingScope => "a scope a post needs was not granted",
        };
        self.store
            .record_account_event(tokpost_store::AccountEvent {
                account_id: account,
                at: self.clock.now(),
                change: tokpost_store::AccountChange::NeedsReconnect,
                message: format!("needs a reconnect: {because}"),
                by: tokpost_core::Principal::Service,
            })
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
        let key = |threshold: Duration| {
            format!(
                "{REFRESH_TOKEN_WARNING_NOTICE}{}s:{}",
                threshold.as_secs(),
                end.as_millisecond()
            )
        };
        let keys: Vec<String> = crossed.iter().copied().map(key).collect();
        // Integrators hear of a pass once, whatever the number of thresholds it crossed.
        let announce = WebhookEvent {
            event_type: WebhookEventType::AccountRefreshTokenExpiring,
            at: now,
            data: serde_json::json!({ "notice": key(tightest) }),
        };
        let recorded = self
            .store
            .record_account_notices(account.id, &keys, now, Some(announce))
            .await?;
        let fresh_warning = crossed
            .iter()
            .zip(&recorded)
            .any(|(threshold, new)| *threshold == tightest && *new);
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
            Err(KeeperError::BackingOff { until }) => JobOutcome::RetryAt {
                at: until,
                reason: "a refresh of this account failed recently".to_owned(),
            },
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
        granted_at: sent_at,
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
