//! The values the [`crate::Store`] takes and returns besides the domain types.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokpost_core::{
    AccountId, IdempotencyKey, JobId, JobKind, MediaId, NewPostEvent, OpenId, Post, PostId,
    PostSpec, PostState, PublishProgress, ScheduleTime, Scope, WorkspaceId,
};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
}

/// An account's OAuth tokens, decrypted. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct AccountTokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub access_token_expires_at: Timestamp,
    pub refresh_token_expires_at: Timestamp,
    /// When TikTok granted them (when the request that obtained them was sent): the access
    /// token's lifetime is the span from here to its expiry.
    pub granted_at: Timestamp,
}

/// An account as the connect flow hands it over.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub workspace_id: WorkspaceId,
    pub open_id: OpenId,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub scopes: BTreeSet<Scope>,
    pub tokens: AccountTokens,
}

/// A creator-info answer kept as TikTok sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatorInfoSnapshot {
    pub account_id: AccountId,
    pub fetched_at: Timestamp,
    pub info: serde_json::Value,
}

impl CreatorInfoSnapshot {
    /// The creator's @username as TikTok reported it, if it did.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.info
            .get("creator_username")
            .and_then(serde_json::Value::as_str)
    }
}

/// Video or photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Video,
    Photo,
}

impl MediaKind {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Photo => "photo",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        [Self::Video, Self::Photo]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// A media asset to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMediaAsset {
    pub workspace_id: WorkspaceId,
    pub kind: MediaKind,
    /// Hex SHA-256 of the bytes.
    pub content_hash: String,
    pub size_bytes: u64,
    /// Where the bytes are: a path under the data directory or a URL on a verified domain.
    pub location: String,
    /// The probe's findings (codec, dimensions, duration…) as JSON.
    pub probe: serde_json::Value,
}

/// A recorded media asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaAsset {
    pub id: MediaId,
    pub workspace_id: WorkspaceId,
    pub kind: MediaKind,
    pub content_hash: String,
    pub size_bytes: u64,
    pub location: String,
    pub probe: serde_json::Value,
    pub created_at: Timestamp,
}

/// Whether a create call made something new or found what an earlier call made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted<T> {
    Created(T),
    Existing(T),
}

impl<T> Inserted<T> {
    /// The value, new or existing.
    pub fn into_inner(self) -> T {
        match self {
            Self::Created(value) | Self::Existing(value) => value,
        }
    }

    /// Whether it was created by this call.
    pub const fn is_created(&self) -> bool {
        matches!(self, Self::Created(_))
    }
}

/// A post to create (already validated by the domain).
#[derive(Debug, Clone)]
pub struct NewPost {
    pub workspace_id: WorkspaceId,
    pub account_id: AccountId,
    pub spec: PostSpec,
    pub scheduled_at: ScheduleTime,
    pub idempotency_key: Option<IdempotencyKey>,
    /// Who wrote it (recorded on the post and its first event).
    pub created_by: tokpost_core::Principal,
}

/// A compare-and-set move of a post, with everything that must happen with it.
#[derive(Debug, Clone)]
pub struct Transition {
    pub post: PostId,
    /// The state the caller read; the move applies only if the post is still in it.
    pub expected: PostState,
    pub to: PostState,
    pub event: NewPostEvent,
    /// Replaces the stored publishing progress when given (written before bytes are sent).
    pub progress: Option<PublishProgress>,
    /// A quota use to record with the move (e.g. a direct post counted at init).
    pub quota_use: Option<QuotaKind>,
    /// The next job (e.g. a status check in 10 s).
    pub next_job: Option<NewJob>,
    /// The job that caused the move, completed with it; if its lease was lost, nothing applies.
    pub completes: Option<(JobId, WorkerId)>,
    /// The job (and the worker holding it) on whose behalf the move is made, when it does not
    /// complete it: if another worker holds the job now, nothing applies. A move to another
    /// state starts the job's counts over (see [`Job::failures`]).
    pub lease: Option<(JobId, WorkerId)>,
}

/// The start of one init in an init wave ([`crate::InitWaveStore::prepare_inits`]): the checks and
/// records that precede the request, for a post prepared ahead whose time has come.
#[derive(Debug, Clone)]
pub struct InitStart<'a> {
    /// The post's publish job, which the starting worker must still hold.
    pub job: JobId,
    pub post: PostId,
    /// The state the caller read (`creator_checked`); the init starts only if the post is
    /// still in it.
    pub expected: PostState,
    /// The `init_requested` event, written when the init starts.
    pub event: NewPostEvent,
    /// The init endpoint's rate limit for the post's account.
    pub rate_limit: RateLimitSlot<'a>,
    /// The app's active-creator cap, when one is configured.
    pub active_creators: Option<ActiveCreatorRule>,
}

/// The app's cap of creators posting in a rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveCreatorRule {
    /// The window's first instant.
    pub since: Timestamp,
    pub cap: u64,
}

/// What became of one [`InitStart`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitStartOutcome {
    /// The event is written: send the init now.
    Started,
    /// The worker no longer holds the job (its lease ended and another worker may run it):
    /// nothing was written, and this worker must leave the post alone.
    LeaseLost,
    /// The post moved, or its last event is an init whose answer was lost: nothing was
    /// written, and the one-post path must judge it.
    NotPrepared,
    /// The app's active creators fill the cap: their latest uses, oldest first. The account is
    /// not counted, no event is written.
    ActiveCreatorsFull { latest_uses: Vec<Timestamp> },
    /// The init endpoint's limit is reached until `retry_at`; no event is written (the account
    /// may have been admitted among the active creators, as a one-post init would be).
    RateLimited { retry_at: Timestamp },
}

/// Init starts written by [`crate::InitWaveStore::prepare_inits`] in a transaction still open. Nobody
/// else sees them, and the rows and locks they took keep every other starter of those posts
/// and accounts waiting, until [`PreparedInits::commit`] makes them real together; dropped
/// uncommitted, they never happened.
pub struct PreparedInits {
    outcomes: Vec<InitStartOutcome>,
    open: Option<Box<dyn OpenTransaction>>,
}

impl PreparedInits {
    pub(crate) fn new(
        outcomes: Vec<InitStartOutcome>,
        open: Option<Box<dyn OpenTransaction>>,
    ) -> Self {
        Self { outcomes, open }
    }

    /// Commits the starts: one outcome per start, in order. Only a [`InitStartOutcome::Started`]
    /// init may be sent, and only once this returned `Ok`.
    ///
    /// # Errors
    /// The commit failed: nothing was written, as if every start had been refused.
    pub async fn commit(self) -> Result<Vec<InitStartOutcome>, crate::StoreError> {
        if let Some(open) = self.open {
            open.commit().await?;
        }
        Ok(self.outcomes)
    }
}

impl fmt::Debug for PreparedInits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedInits")
            .field("starts", &self.outcomes.len())
            .field("open", &self.open.is_some())
            .finish()
    }
}

/// A backend's write transaction, kept open past the call that wrote it.
#[async_trait::async_trait]
pub(crate) trait OpenTransaction: Send {
    async fn commit(self: Box<Self>) -> Result<(), crate::StoreError>;
}

/// One held job put back in the queue by [`crate::QueueStore::retry_jobs_at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRetry {
    pub job: JobId,
    pub at: Timestamp,
    /// What it waits for or why it failed, for the dashboard.
    pub note: String,
}

/// What became of a [`Transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// Applied; the post as it is now.
    Applied(Box<Post>),
    /// Someone else moved the post first; nothing was written.
    Stale { current: PostState },
    /// The completing (or leased) job's lease was lost; nothing was written.
    LeaseLost,
}

/// What became of the record of an init about to be sent ([`crate::PostStore::record_init_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitRecord {
    /// Recorded: the init may be sent, and until an answer or a move is stored the post can
    /// no longer be cancelled or rescheduled.
    Recorded,
    /// The post is no longer in the state read (a cancel came first): send nothing.
    Moved { current: PostState },
    /// Another worker holds the job now: send nothing.
    LeaseLost,
}

/// The rolling quotas tokpost counts itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaKind {
    /// A direct post (counts toward the creator's ~15 per rolling 24 h).
    DirectPost,
    /// An inbox share, pending until released (TikTok allows 5 pending).
    InboxShare,
    /// A creator admitted among the app's active creators before its first init of the day
    /// ([`crate::QuotaStore::admit_active_creator`]); counts toward no per-creator cap.
    ActiveCreator,
}

impl QuotaKind {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::DirectPost => "direct_post",
            Self::InboxShare => "inbox_share",
            Self::ActiveCreator => "active_creator",
        }
    }
}

/// The answer of [`crate::QuotaStore::admit_active_creator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActiveCreatorAdmission {
    /// The creator counts among the active ones (it already did, or a slot was free).
    Admitted,
    /// Every slot is taken: the latest use of each active creator, oldest first (a slot frees
    /// when the oldest leaves the window).
    Full { latest_uses: Vec<Timestamp> },
}

/// One use of a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaUse {
    pub account_id: AccountId,
    pub kind: QuotaKind,
    pub post_id: Option<PostId>,
    pub at: Timestamp,
}

/// A request against a per-token, per-endpoint limit of `limit` requests per `window`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitSlot<'a> {
    /// Whose window: an account's token, or [`RateLimitSlot::APP`].
    pub account_id: AccountId,
    /// A stable endpoint name, e.g. `video_init`.
    pub endpoint: &'a str,
    /// At most an hour: the sweep forgets older requests.
    pub window: Duration,
    pub limit: u32,
}

impl<'a> RateLimitSlot<'a> {
    /// The window of the whole app: the nil id, which names no account.
    pub const APP: AccountId = AccountId::from_uuid(uuid::Uuid::nil());

    /// A request against a limit the whole app shares: every account's requests to `endpoint`
    /// count in one window.
    #[must_use]
    pub fn app_wide(endpoint: &'a str, window: Duration, limit: u32) -> Self {
        Self {
            account_id: Self::APP,
            endpoint,
            window,
            limit,
        }
    }
}

/// Whether a request may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitDecision {
    Allowed {
        used: u32,
    },
    /// The window is full; the next window opens at `retry_at`.
    Limited {
        retry_at: Timestamp,
    },
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    pub payload: serde_json::Value,
    /// Jobs of one account never run concurrently.
    pub account_id: Option<AccountId>,
    pub post_id: Option<PostId>,
    pub run_at: Timestamp,
    /// At most one queued job per key.
    pub dedupe_key: Option<String>,
}

/// Whether [`crate::QueueStore::enqueue`] added a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Added(JobId),
    /// A job with the same dedupe key is already queued.
    AlreadyQueued,
}

/// A queued or leased job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub account_id: Option<AccountId>,
    pub post_id: Option<PostId>,
    pub run_at: Timestamp,
    /// Claims since the job last moved its post to another state, this one included (a move
    /// made under the job's lease starts the count over at 1). A claim lost to a stopped
    /// worker counts here and nowhere else.
    pub attempts: u32,
    /// Runs since the job last moved its post to another state that ended in a transient
    /// failure ([`crate::Requeue::AfterFailure`]): what a step's retry budget counts, and the
    /// back-off doubles with.
    pub failures: u32,
    pub locked_by: Option<WorkerId>,
    pub locked_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub created_at: Timestamp,
}

/// A worker's name in leases (host, process and task, e.g. `web-1:4242:0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkerId(String);

impl WorkerId {
    /// A worker id.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a job goes back to the queue, which decides whether the run counts against its step's
/// budget of failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// The run failed transiently: it counts as an attempt and as a failure.
    AfterFailure,
    /// The run ended in a planned wait (a post's time, a rate window, a cap): it does not count,
    /// so that waiting never uses up the retries a later failure needs.
    Wait,
}

/// Whether the worker still held the lease it acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    Held,
    /// The lease expired and was swept (maybe claimed by another worker); the call did nothing.
    Lost,
}

impl LeaseStatus {
    pub(crate) const fn from_rows(rows: u64) -> Self {
        if rows > 0 { Self::Held } else { Self::Lost }
    }
}

// --- API access ---

/// An API key to record. Only the SHA-256 of the secret is stored; the secret is shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub workspace_id: tokpost_core::WorkspaceId,
    pub name: String,
    /// The first characters of the key, shown in listings so people can tell keys apart.
    pub prefix: String,
    /// Lowercase hex SHA-256 of the whole key.
    pub secret_hash: String,
    /// What the key may do.
    pub role: tokpost_core::Role,
}

/// A recorded API key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: tokpost_core::ApiKeyId,
    pub workspace_id: tokpost_core::WorkspaceId,
    pub name: String,
    pub prefix: String,
    /// What the key may do, like a person's role.
    pub role: tokpost_core::Role,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    /// Whether the key still authenticates.
    #[must_use]
    pub const fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// An OAuth `state` handed out with an authorize URL, bound to the workspace that asked.
#[derive(Debug, Clone)]
pub struct NewOAuthState {
    /// Lowercase hex SHA-256 of the state value (the value itself travels through the browser).
    pub state_hash: String,
    pub workspace_id: tokpost_core::WorkspaceId,
    /// The PKCE verifier, sealed at rest like tokens.
    pub pkce_verifier: Option<SecretString>,
    pub expires_at: Timestamp,
    /// Who asked for the authorize URL: the connect is theirs.
    pub started_by: tokpost_core::Principal,
}

/// A sign-in through the OpenID Connect provider, between the redirect and the callback.
#[derive(Debug, Clone)]
pub struct NewSignInState {
    /// Lowercase hex SHA-256 of the state value.
    pub state_hash: String,
    /// What the ID token's `nonce` claim must be.
    pub nonce: String,
    /// The PKCE verifier, sealed at rest.
    pub pkce_verifier: SecretString,
    /// The person's time zone, for the session.
    pub time_zone: String,
    pub expires_at: Timestamp,
}

/// What taking a sign-in state found.
#[derive(Debug, Clone)]
pub enum SignInStateTake {
    Taken {
        nonce: String,
        pkce_verifier: SecretString,
        time_zone: String,
    },
    Unknown,
    AlreadyUsed,
    Expired,
}

/// What taking an OAuth state found. Each state can be taken once.
#[derive(Debug, Clone)]
pub enum OAuthStateTake {
    /// First use within its lifetime.
    Taken {
        workspace_id: tokpost_core::WorkspaceId,
        pkce_verifier: Option<SecretString>,
        started_by: tokpost_core::Principal,
    },
    /// No such state was ever handed out.
    Unknown,
    /// Used before (a replayed callback).
    AlreadyUsed,
    /// Handed out, but its lifetime ended before the callback.
    Expired,
}

/// Which posts a listing returns, in schedule order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostFilter {
    pub workspace_id: tokpost_core::WorkspaceId,
    pub state: Option<tokpost_core::StateKind>,
    pub account_id: Option<AccountId>,
    /// Scheduled at or after.
    pub scheduled_from: Option<Timestamp>,
    /// Scheduled before.
    pub scheduled_before: Option<Timestamp>,
    /// Continue after this post (schedule time and id of the last post of the previous page).
    pub after: Option<(Timestamp, PostId)>,
    pub limit: u32,
}

/// An edit of a post that has not started: its content, its time or both, as a new revision.
/// Where it goes is decided in the store's transaction: to `awaiting_approval` when its account
/// requires approval now (its queued publish job removed), else to `scheduled` (its publish job
/// moved, or made when it had none).
#[derive(Debug, Clone)]
pub struct Revise {
    pub post: PostId,
    /// The state the caller read; nothing changes if the post moved since.
    pub expected: PostState,
    /// The revision the caller read; nothing changes if someone edited it since.
    pub revision: tokpost_core::Revision,
    /// New content; `None` keeps it (a move in time).
    pub spec: Option<tokpost_core::PostSpec>,
    pub scheduled_at: ScheduleTime,
    pub event: NewPostEvent,
    /// A post prepared ahead (preflighted, creator checked) whose current time is before this
    /// instant stays where it is: a worker may be sending its init (the caller's policy says
    /// how long before its time a prepared post is frozen).
    pub prepared_frozen_from: jiff::Timestamp,
}

/// A decision on a post awaiting approval.
#[derive(Debug, Clone)]
pub struct Decision {
    pub post: PostId,
    /// The revision the reviewer saw; a post edited since is not decided.
    pub revision: tokpost_core::Revision,
    pub verdict: Verdict,
    /// Recorded with the decision (kind `approved` or `rejected`, the comment as message).
    pub event: NewPostEvent,
}

/// What a reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Scheduled, at `scheduled_at` when given (else its time), its publish job due at `run_at`
    /// (its time, or now for a late approval within the grace).
    Approve {
        scheduled_at: Option<ScheduleTime>,
        run_at: Timestamp,
    },
    /// Back to its author.
    Reject,
}

/// Up to when each kind of bookkeeping row has served its purpose ([`crate::OperationsStore::prune`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneBefore {
    /// OAuth states that expired before this instant.
    pub oauth_states_expired: Timestamp,
    /// Inbound webhook ids received before this instant (older than any replay accepted).
    pub inbound_webhooks_received: Timestamp,
    /// Outbound deliveries finished (delivered or given up) before this instant.
    pub deliveries_finished: Timestamp,
    /// Sessions that expired before this instant.
    pub sessions_expired: Timestamp,
    /// Invitation and password-reset links that expired before this instant (the Team page
    /// lists invitations until then).
    pub links_expired: Timestamp,
    /// Failed sign-ins recorded before this instant (older than the rate limit's window).
    pub sign_in_failures: Timestamp,
    /// Insights snapshots (a post's or a creator's counts) taken before this instant.
    pub stats_taken: Timestamp,
}

/// How many rows one [`crate::OperationsStore::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub oauth_states: u64,
    pub inbound_webhooks: u64,
    pub deliveries: u64,
    /// Expired sessions, expired links and old failed sign-ins.
    pub people: u64,
    /// Old insights snapshots (of posts and of creators).
    pub stats: u64,
}

impl Pruned {
    /// Whether any kind filled its batch (there may be more).
    #[must_use]
    pub fn filled(&self, batch: u32) -> bool {
        let batch = u64::from(batch);
        self.oauth_states >= batch
            || self.inbound_webhooks >= batch
            || self.deliveries >= batch
            || self.people >= batch
            || self.stats >= batch
    }
}
