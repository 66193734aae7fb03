//! Persistence for tokpost: one [`Store`] trait over the domain (workspaces, accounts with
//! encrypted tokens, creator-info snapshots, media assets, posts with encrypted upload URLs and
//! their event history, the quota ledger, rate-limit windows and the durable job queue),
//! implemented for SQLite ([`SqliteStore`], the default, one process) and PostgreSQL
//! ([`PgStore`], many worker processes), chosen from the database URL by [`open`].
//!
//! Every change and the job it causes are written in one transaction. Expected outcomes (an
//! idempotency key seen before, a stale compare-and-set, a lost lease, nothing due) are values,
//! not errors. Instants are stored as unix milliseconds so that they sort on both backends.
//!
//! This crate must not decide policy (when to retry, what a TikTok error means) and must not read
//! the clock: every call that needs "now" takes it as an argument.

pub mod account_health;
mod backend;
pub mod crypto;
mod limits;
mod postgres;
mod rows;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token_refresh;
mod types;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{
    Account, AccountId, AccountStatus, ApiKeyId, JobId, MediaId, OpenId, Post, PostEvent, PostId,
    PublishId, StateKind, WorkspaceId,
};

pub use crypto::{CryptoError, Reencrypted, TokenCipher};

pub use account_health::{AccountHealthStore, HealthFacts, RecentFailure};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use token_refresh::{RefreshClaim, TokenRefreshStore, TokenWrite};
pub use types::*;
pub use webhooks::{
    ClaimedDelivery, DeliveryResult, DeliveryStatus, EndpointCreated, NewWebhookEndpoint,
    PausePolicy, SettleDelivery, SettleOutcome, WebhookAttempt, WebhookDelivery, WebhookDeliveryId,
    WebhookEndpoint, WebhookEndpointId, WebhookEvent, WebhookEventType, WebhookStore,
};

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
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(database_url, cipher).await?))
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(database_url, cipher).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// The storage seam. Both implementations pass the same story test suite. Outbound webhooks
/// are its [`WebhookStore`] part, guarded token refreshes its [`TokenRefreshStore`] part, the
/// facts of many accounts' health its [`AccountHealthStore`] part.
#[async_trait]
pub trait Store:
    WebhookStore + TokenRefreshStore + AccountHealthStore + Send + Sync + std::fmt::Debug
{
    // --- workspaces and accounts ---

    /// Creates a workspace.
    async fn create_workspace(&self, name: &str, now: Timestamp) -> Result<Workspace, StoreError>;

    /// A workspace by id.
    async fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError>;

    /// Connects an account, or reconnects it when the workspace already has this `open_id`
    /// (new tokens and scopes, status back to connected, same [`AccountId`]).
    async fn connect_account(
        &self,
        account: NewAccount,
        now: Timestamp,
    ) -> Result<Account, StoreError>;

    /// An account by id.
    async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;

    /// The accounts of a workspace, oldest first.
    async fn accounts(&self, workspace: WorkspaceId) -> Result<Vec<Account>, StoreError>;

    /// A page of a workspace's accounts, oldest first: at most `limit` of those connected after
    /// `after` (the creation instant and id of the previous page's last account).
    async fn accounts_page(
        &self,
        workspace: WorkspaceId,
        after: Option<(Timestamp, AccountId)>,
        limit: u32,
    ) -> Result<Vec<Account>, StoreError>;

    /// Connected accounts whose access token expires before `before` (for the token keeper).
    async fn accounts_expiring_before(
        &self,
        before: Timestamp,
    ) -> Result<Vec<AccountId>, StoreError>;

    /// The decrypted tokens of an account, `None` when it has none (disconnected or unknown).
    async fn account_tokens(&self, id: AccountId) -> Result<Option<AccountTokens>, StoreError>;

    /// Changes an account's status. `Disconnected` also erases its tokens.
    async fn set_account_status(
        &self,
        id: AccountId,
        status: AccountStatus,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Deletes at most `batch` rows of each kind that `before` says have served their purpose
    /// (expired OAuth states, old inbound webhook ids, finished deliveries with their attempts),
    /// oldest first. Call again while a count equals `batch`.
    async fn prune(&self, before: PruneBefore, batch: u32) -> Result<Pruned, StoreError>;

    /// Records account-level notices (e.g. the refresh-token expiry thresholds one keeper pass
    /// crossed) under their keys, each once: one `bool` per key, `true` when this call recorded
    /// it, `false` when any worker recorded it before. When at least one is new, `announce` (if
    /// any) is queued as the account's webhook event in the same transaction: the caller decides
    /// which notices are news, and its integrators hear of a pass once, not once per key.
    async fn record_account_notices(
        &self,
        account: AccountId,
        keys: &[String],
        at: Timestamp,
        announce: Option<crate::WebhookEvent>,
    ) -> Result<Vec<bool>, StoreError>;

    /// Records a creator-info answer (the raw JSON TikTok returned).
    async fn save_creator_info(
        &self,
        account: AccountId,
        info: &serde_json::Value,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The most recent creator-info snapshot.
    async fn latest_creator_info(
        &self,
        account: AccountId,
    ) -> Result<Option<CreatorInfoSnapshot>, StoreError>;

    // --- media ---

    /// Records a probed media asset; the same content (hash) in the same workspace returns the
    /// existing asset.
    async fn add_media(
        &self,
        media: NewMediaAsset,
        now: Timestamp,
    ) -> Result<Inserted<MediaAsset>, StoreError>;

    /// A media asset by id.
    async fn media(&self, id: MediaId) -> Result<Option<MediaAsset>, StoreError>;

    /// The workspace's media, newest first: at most `limit` of `kind` (any when `None`),
    /// created before the `(created_at, id)` cursor when one is given.
    async fn list_media(
        &self,
        workspace: WorkspaceId,
        kind: Option<MediaKind>,
        before: Option<(Timestamp, MediaId)>,
        limit: u32,
    ) -> Result<Vec<MediaAsset>, StoreError>;

    // --- posts ---

    /// Creates a post in `scheduled`, its first event and its publish job in one transaction.
    /// A repeated idempotency key returns the existing post and creates nothing.
    async fn create_post(
        &self,
        post: NewPost,
        now: Timestamp,
    ) -> Result<Inserted<Post>, StoreError>;

    /// A post by id.
    async fn post(&self, id: PostId) -> Result<Option<Post>, StoreError>;

    /// Posts of a workspace by schedule time.
    async fn posts(&self, workspace: WorkspaceId, limit: u32) -> Result<Vec<Post>, StoreError>;

    /// An account's posts in one state, by schedule time (e.g. the posts waiting for a
    /// reconnect, to resume them once the creator is back).
    async fn account_posts_in_state(
        &self,
        account: AccountId,
        state: tokpost_core::StateKind,
        limit: u32,
    ) -> Result<Vec<Post>, StoreError>;

    /// The post's history, in order.
    async fn post_events(&self, id: PostId) -> Result<Vec<PostEvent>, StoreError>;

    /// Moves a post from `expected` to `to` if it is still in `expected` (compare-and-set),
    /// recording the event, the publishing progress, the quota use, the next job and the
    /// completion of the current job in the same transaction. A move to `cancelled` is refused
    /// (as stale, the post unchanged) while an init of the post may have reached TikTok.
    ///
    /// # Errors
    /// [`StoreError::IllegalTransition`] when the state machine forbids the move (a bug in the
    /// caller, not a race).
    async fn transition_post(
        &self,
        transition: Transition,
    ) -> Result<TransitionOutcome, StoreError>;

    /// Adds an event without changing the state. Returns its sequence number.
    async fn append_post_event(
        &self,
        id: PostId,
        event: tokpost_core::NewPostEvent,
    ) -> Result<u32, StoreError>;

    /// Records the `init_requested` event of an init about to be sent, if the post is still in
    /// `expected` and (with `lease`) the job is still held by that worker. From then until an
    /// answer (a `tiktok_response` event) or a move is stored, the post cannot be cancelled or
    /// rescheduled: TikTok may hold it.
    async fn record_init_request(
        &self,
        id: PostId,
        expected: &tokpost_core::PostState,
        event: tokpost_core::NewPostEvent,
        lease: Option<(JobId, WorkerId)>,
    ) -> Result<InitRecord, StoreError>;

    // --- quota ledger and rate limits ---

    /// Records one use of a quota (e.g. a direct post) for an account.
    async fn record_quota_use(&self, usage: QuotaUse) -> Result<(), StoreError>;

    /// Marks a post's pending use as resolved (e.g. the creator acted on an inbox draft).
    async fn release_quota_use(
        &self,
        post: PostId,
        kind: QuotaKind,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Unreleased uses of `kind` by `account` at or after `since`.
    async fn quota_used(
        &self,
        account: AccountId,
        kind: QuotaKind,
        since: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Records that TikTok enforced a daily post cap of `cap` for `account` (lower than the
    /// default because other apps post for the creator too). Replaces an earlier lesson.
    async fn learn_post_cap(
        &self,
        account: AccountId,
        cap: u32,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The daily post cap learned for `account` at or after `since`, if any.
    async fn learned_post_cap(
        &self,
        account: AccountId,
        since: Timestamp,
    ) -> Result<Option<u32>, StoreError>;

    /// When each unreleased use of `kind` by `account` at or after `since` happened, oldest
    /// first (the planner finds the next free slot of a rolling window from these).
    async fn quota_use_times(
        &self,
        account: AccountId,
        kind: QuotaKind,
        since: Timestamp,
    ) -> Result<Vec<Timestamp>, StoreError>;

    /// Every account with a quota use at or after `since`, with its latest use (the app-wide
    /// active creators, and when each stops counting).
    async fn active_creators_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(AccountId, Timestamp)>, StoreError>;

    /// Counts `account` among the app's active creators (accounts with a quota use at or after
    /// `since`) unless `cap` of them already are, in one step that holds across workers and
    /// processes: two creators cannot both take the last slot. An admitted creator that was
    /// not active yet gets an `ActiveCreator` use at `now`.
    async fn admit_active_creator(
        &self,
        account: AccountId,
        since: Timestamp,
        cap: u64,
        now: Timestamp,
    ) -> Result<ActiveCreatorAdmission, StoreError>;

    /// Takes one request slot from a fixed window shared by all workers.
    async fn take_rate_limit_slot(
        &self,
        slot: RateLimitSlot<'_>,
        now: Timestamp,
    ) -> Result<RateLimitDecision, StoreError>;

    // --- the job queue ---

    /// Enqueues a job on its own (e.g. a token refresh). A taken dedupe key enqueues nothing.
    async fn enqueue(&self, job: NewJob, now: Timestamp) -> Result<Enqueued, StoreError>;

    /// Leases up to `limit` due jobs to `worker` until `now + lease`. Never two jobs of one
    /// account at once, across all workers.
    async fn claim(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// The init wave's claim: leases up to `limit` publish jobs of posts prepared ahead
    /// (`creator_checked`) whose time comes by `due_by`, like [`Store::claim`] (never two jobs
    /// of one account), so that one process readies many inits and starts them together.
    async fn claim_due_inits(
        &self,
        worker: &WorkerId,
        due_by: Timestamp,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// When the earliest unleased publish job of a prepared post of a free account falls due
    /// (its job's time or the post's, whichever is later), for the init wave to wake then.
    async fn next_init_due_at(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Starts many inits in one transaction, written ahead of the instant they are for: for each
    /// post whose job `worker` still holds, still in its expected state and not waiting on a
    /// lost answer, admits the account among the active creators (when a cap is given), takes
    /// the init's rate-limit slot and writes the `init_requested` event (one outcome per start,
    /// in order), stamped `at`, in a transaction left open (see [`PreparedInits`]). The caller commits at `at`, so that the records become true when
    /// they become visible, and sends the inits after. On SQLite the open transaction holds
    /// the file's only write turn: every other writer waits for the commit.
    async fn prepare_inits(
        &self,
        worker: &WorkerId,
        starts: Vec<InitStart<'_>>,
        at: Timestamp,
    ) -> Result<PreparedInits, StoreError>;

    /// Whether write transactions run side by side (PostgreSQL) or take turns (SQLite): a
    /// caller holding several open at once only gains on the first.
    fn writes_side_by_side(&self) -> bool;

    /// Applies many transitions in one transaction, each on its own terms (a stale one writes
    /// nothing and the others still apply). One outcome per transition, in order. A transition
    /// that completes a job is refused ([`Store::transition_post`] takes those).
    async fn transition_posts(
        &self,
        transitions: Vec<Transition>,
    ) -> Result<Vec<TransitionOutcome>, StoreError>;

    /// [`Store::retry_at`] for many held jobs in one transaction. One lease status per job.
    async fn retry_jobs_at(
        &self,
        worker: &WorkerId,
        retries: &[JobRetry],
        why: Requeue,
    ) -> Result<Vec<LeaseStatus>, StoreError>;

    /// Extends to `until` the leases of those `jobs` that `worker` still holds (the init wave
    /// holds many jobs at once, and keeps only the ones it still means to run). Returns how
    /// many it extended.
    async fn extend_leases(
        &self,
        worker: &WorkerId,
        jobs: &[JobId],
        until: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Extends a lease the worker still holds.
    async fn heartbeat(
        &self,
        job: JobId,
        worker: &WorkerId,
        until: Timestamp,
    ) -> Result<LeaseStatus, StoreError>;

    /// Finishes a job (removes it and frees its account).
    async fn complete(&self, job: JobId, worker: &WorkerId) -> Result<LeaseStatus, StoreError>;

    /// Returns a job to the queue to run again at `at`, keeping the note (the error, or what it
    /// waits for) for the dashboard. A [`Requeue::Wait`] gives back the attempt its claim
    /// counted.
    async fn retry_at(
        &self,
        job: JobId,
        worker: &WorkerId,
        at: Timestamp,
        note: &str,
        why: Requeue,
    ) -> Result<LeaseStatus, StoreError>;

    /// Returns every job whose lease ended before `now` to the queue (its worker died), and
    /// forgets requests older than the longest rate window (an hour).
    async fn sweep_expired_leases(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Moves the publish jobs of `scheduled` posts due by `until` to `now`, so that the steps
    /// before the init (preflight, token, creator info) run ahead and only the init waits for
    /// the post's time. Only a job still at its post's time moves: one waiting out a back-off
    /// keeps it. Returns how many moved.
    async fn prepare_due_by(&self, until: Timestamp, now: Timestamp) -> Result<u64, StoreError>;

    /// Moves the queued job under `dedupe_key` up to `at`, if it is due later and no worker runs
    /// it: news that makes the job worth running now (a webhook about a post whose status check
    /// waits out a back-off). `false`: no such job, or it was due sooner, or it is running.
    async fn hasten_job(&self, dedupe_key: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// When the next job may become claimable (the earliest `run_at` of an unleased job of a
    /// free account, or the earliest end of a lease, after which a dead worker's job is swept
    /// back), so a worker can sleep exactly until then. `None`: nothing queued.
    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Ticks whenever a job may have become claimable (enqueued, retried, completed, swept), in
    /// this process or, on PostgreSQL, in any process (LISTEN/NOTIFY). A worker sleeps until
    /// [`Store::next_due_at`] or the next tick, whichever comes first, so a post due now is
    /// picked up at once instead of on the next poll. Keep polling as a fallback: a tick can be
    /// lost while the PostgreSQL listener reconnects.
    fn job_changes(&self) -> tokio::sync::watch::Receiver<u64>;

    /// A job by id (for tests and the dashboard).
    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError>;

    // --- API access ---

    /// Answers when the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Records that the workers of process `worker` were running at `at`.
    async fn record_worker_heartbeat(&self, worker: &str, at: Timestamp) -> Result<(), StoreError>;

    /// When the workers of process `worker` were last seen running.
    async fn worker_heartbeat(&self, worker: &str) -> Result<Option<Timestamp>, StoreError>;

    /// Every workspace, oldest first (the first start creates one when there is none).
    async fn workspaces(&self) -> Result<Vec<Workspace>, StoreError>;

    /// Records an API key.
    async fn create_api_key(&self, key: NewApiKey, now: Timestamp) -> Result<ApiKey, StoreError>;

    /// The key whose secret hashes to `secret_hash`, revoked or not.
    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError>;

    /// Every key, oldest first, optionally of one workspace.
    async fn api_keys(&self, workspace: Option<WorkspaceId>) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes a key; `false` when it does not exist or was revoked before.
    async fn revoke_api_key(&self, id: ApiKeyId, now: Timestamp) -> Result<bool, StoreError>;

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

    /// Key rotation: rewrites up to `batch` rows whose secrets (account tokens, PKCE verifiers,
    /// outbound webhook endpoint secrets, posts' upload URLs) are sealed with a key other than the cipher's current
    /// one, opening them with a previous key and sealing them with the current one, in one
    /// transaction. A row changed meanwhile (a token refresh seals with the current key anyway)
    /// is left alone. Repeat until `remaining` is 0; an interrupted rotation resumes where it
    /// stopped.
    ///
    /// # Errors
    /// A ciphertext sealed with a key the cipher does not hold ([`CryptoError::WrongKey`]).
    async fn reencrypt_secrets(&self, batch: u32) -> Result<Reencrypted, StoreError>;

    /// The accounts, in any workspace, of the creator TikTok knows as `open_id`.
    async fn accounts_by_open_id(&self, open_id: &OpenId) -> Result<Vec<Account>, StoreError>;

    /// The post whose current publish at TikTok has this id.
    async fn post_by_publish_id(&self, publish_id: &PublishId) -> Result<Option<Post>, StoreError>;

    /// Posts matching `filter`, by schedule time then id.
    async fn list_posts(&self, filter: &PostFilter) -> Result<Vec<Post>, StoreError>;

    /// Moves a post that has not started to a new time (the post and its queued publish job),
    /// if it is still in `expected`. A post prepared ahead of its old time returns to
    /// `scheduled`, to be prepared again for the new one, unless its old time is before
    /// [`Reschedule::prepared_frozen_from`] (its init may be on the wire); never while an init
    /// of it may have reached TikTok. `false`: it moved on first or is about to be sent;
    /// nothing changed.
    async fn reschedule_post(&self, change: Reschedule, now: Timestamp)
    -> Result<bool, StoreError>;

    /// Records an inbound webhook event id; `false` when it was seen before (a duplicate).
    async fn record_inbound_webhook(
        &self,
        event_id: &str,
        received_at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// How many posts are in each state (for metrics), and how many jobs are queued.
    async fn post_state_counts(&self) -> Result<(Vec<(StateKind, u64)>, u64), StoreError>;
}
