//! Persistence for tokpost, one module per aggregate, each with its own narrow trait:
//! workspaces and API keys ([`WorkspaceStore`]), accounts and tokens ([`AccountStore`]),
//! OAuth states ([`OAuthStateStore`]), media ([`MediaAssetStore`]), posts and their events
//! ([`PostStore`]), the job queue and leases ([`QueueStore`]), the init wave ([`InitWaveStore`]),
//! quotas and rate limits ([`QuotaStore`]), outbound webhooks ([`WebhookStore`]), inbound webhook
//! ids ([`InboundWebhookStore`]), guarded token refreshes ([`TokenRefreshStore`]), many accounts'
//! health ([`AccountHealthStore`]), people ([`PeopleStore`], [`InvitationStore`]), account history
//! ([`AccountHistoryStore`]), approval settings ([`ApprovalStore`]), review links
//! ([`ReviewLinkStore`]) and running the store ([`OperationsStore`]). [`Store`] is all of
//! them; a caller that needs one part asks for that part.
//!
//! One implementation, [`SqlStore`], serves SQLite (the default, one process) and PostgreSQL
//! (many worker processes), chosen from the database URL by [`open`]. Each query is written
//! once beside its trait and runs on either database through `db`, which also holds the few
//! things the two say differently (`db::Dialect`).
//!
//! Every change and the job it causes are written in one transaction. Expected outcomes (an
//! idempotency key seen before, a stale compare-and-set, a lost lease, nothing due) are values,
//! not errors. Instants are stored as unix milliseconds so that they sort on both backends.
//!
//! This crate must not decide policy (when to retry, what a TikTok error means) and must not read
//! the clock: every call that needs "now" takes it as an argument.

pub mod account_health;
pub mod account_history;
pub mod accounts;
pub mod approvals;
pub mod crypto;
mod db;
pub mod inbound;
pub mod init_wave;
pub mod insights;
pub mod invitations;
mod limits;
pub mod media;
pub mod media_fixes;
pub mod oauth_states;
pub mod operations;
pub mod people;
pub mod posts;
pub mod queue;
pub mod quotas;
pub mod review_links;
mod rows;
pub mod token_refresh;
mod types;
pub mod webhooks;
pub mod workspaces;

use std::sync::Arc;

pub use crypto::{CryptoError, Reencrypted, TokenCipher};

pub use account_health::{AccountHealthStore, HealthFacts, RecentFailure};
pub use account_history::{AccountChange, AccountEvent, AccountHistoryStore};
pub use accounts::AccountStore;
pub use approvals::{ApprovalSettings, ApprovalStore};
pub use inbound::InboundWebhookStore;
pub use init_wave::InitWaveStore;
pub use insights::{
    AccountCounts, AwaitingIds, Counts, Following, InsightStore, PostSnapshot, Track,
};
pub use invitations::{Accepted, Invitation, InvitationStore, NewInvitation};
pub use media::MediaAssetStore;
pub use media_fixes::{FixEnd, FixState, MediaFix, MediaFixStore, NewMediaFix};
pub use oauth_states::OAuthStateStore;
pub use operations::OperationsStore;
pub use people::{
    Member, MembershipChange, NewSession, NewUser, PasswordHash, PeopleStore, SessionUser, User,
};
pub use posts::PostStore;
pub use queue::QueueStore;
pub use queue::changes::JobChanges;
pub use quotas::QuotaStore;
pub use review_links::{NewReviewLink, ReviewLink, ReviewLinkStore};
pub use token_refresh::{RefreshClaim, TokenRefreshStore, TokenWrite};
pub use types::*;
pub use webhooks::{
    ChannelFormat, ClaimedDelivery, DeliveryResult, DeliveryStatus, DigestWindow, EndpointCreated,
    NewWebhookEndpoint, PausePolicy, PersonalAlerts, SettleDelivery, SettleOutcome, WebhookAttempt,
    WebhookDelivery, WebhookDeliveryId, WebhookEndpoint, WebhookEndpointId, WebhookEvent,
    WebhookEventType, WebhookStore,
};
pub use workspaces::WorkspaceStore;

/// What can go wrong talking to the database. Expected outcomes are not here (see the outcome
/// enums); these are failures the caller can only log and retry later.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("a stored row is not valid: {0}")]
    CorruptRow(String),
    #[error(transparent)]
    IllegalTransition(#[from] tokpost_core::IllegalTransition),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A call the store refuses whatever the data (a caller's bug, not a database failure).
    #[error("refused: {0}")]
    Misuse(&'static str),
}

/// Opens (creating and migrating on first start) the database named by `database_url`:
/// `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://…`. Upload URLs stored in
/// plaintext by a version before migration 0013 are sealed with `cipher` before it returns.
///
/// # Errors
/// [`StoreError::UnsupportedUrl`], connection and migration failures.
pub async fn open(database_url: &str, cipher: TokenCipher) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::open(database_url, cipher).await?))
}

/// The whole store: every aggregate's part. Callers that need one part ask for that part's
/// trait (`&dyn PostStore`); a `&dyn Store` gives any of them.
pub trait Store:
    WorkspaceStore
    + AccountStore
    + OAuthStateStore
    + MediaAssetStore
    + PostStore
    + QueueStore
    + InitWaveStore
    + QuotaStore
    + WebhookStore
    + InboundWebhookStore
    + TokenRefreshStore
    + AccountHealthStore
    + OperationsStore
    + PeopleStore
    + InvitationStore
    + AccountHistoryStore
    + ApprovalStore
    + ReviewLinkStore
    + InsightStore
    + MediaFixStore
    + Send
    + Sync
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: WorkspaceStore
        + AccountStore
        + OAuthStateStore
        + MediaAssetStore
        + PostStore
        + QueueStore
        + InitWaveStore
        + QuotaStore
        + WebhookStore
        + InboundWebhookStore
        + TokenRefreshStore
        + AccountHealthStore
        + OperationsStore
        + PeopleStore
        + InvitationStore
        + AccountHistoryStore
        + ApprovalStore
        + ReviewLinkStore
        + InsightStore
        + MediaFixStore
        + Send
        + Sync
        + std::fmt::Debug
{
}

/// The store over SQL: one implementation of every part, for SQLite (the default, one
/// process) and PostgreSQL (many worker processes), chosen from the database URL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: db::Db,
    cipher: TokenCipher,
}

impl SqlStore {
    /// Opens (creating and migrating on first start) the database named by `database_url`:
    /// `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://…`. Upload URLs stored in
    /// plaintext by a version before migration 0013, and webhook endpoint URLs before 0019, are
    /// sealed with `cipher` before it returns.
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`], connection and migration failures.
    pub async fn open(database_url: &str, cipher: TokenCipher) -> Result<Self, StoreError> {
        let store = Self {
            db: db::Db::open(database_url).await?,
            cipher,
        };
        store.seal_legacy_plaintext().await?;
        Ok(store)
    }

    /// The SQLite pool behind the store (`None` on PostgreSQL), for tests that look behind it.
    #[must_use]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        self.db.sqlite_pool()
    }

    /// The PostgreSQL pool behind the store (`None` on SQLite), for tests that look behind it.
    #[must_use]
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        self.db.postgres_pool()
    }
}
