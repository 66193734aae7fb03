//! The publishing steps: moves one post through the state machine, one compare-and-set
//! transition per step, each recorded as an event with TikTok's native answer.
//!
//! ```text
//! scheduled ─preflight─► preflighted ─token, creator info─► creator_checked
//!   ─init (publish_id stored before any byte)─► initialized ─upload (offset stored per chunk)─►
//!   uploading ─► processing ─status, with back-off─► published | inbox_delivered | failed
//! ```
//!
//! The steps up to `creator_checked` run ahead of the post's time (`prepare_ahead`), so that at
//! its time only the init is left; a post due with many others yields after its init, so every
//! due init goes out before the first upload takes a worker.
//!
//! Exactly once: a post is initialized again only when TikTok's first publish is known dead
//! (upload URL expired with the upload incomplete, or status FAILED). An `init_requested` event
//! is written before every init; a worker that finds it as the post's last event knows the
//! answer was lost. A lost FILE_UPLOAD init is re-sent (TikTok publishes nothing until the bytes
//! arrive); a lost pull init is not: the post becomes `uncertain`.
//!
//! What to do about each failure is [`crate::policy::decide`]'s call, never this module's.

use std::sync::Arc;
use std::time::Duration;

use clock::{SharedClock, SignedDuration, Timestamp};
use serde_json::{Value, json};
use tiktok::{
    AccessToken, ChunkPlan, ChunkSource, DirectPhotoSettings, DirectVideoInit, InboxVideoInit,
    PhotoInit, PhotoMode, PublishInit, PublishStatus, PublishStatusReport, TikTokClient,
    TikTokFailure, UploadJob, UploadOutcome, UploadRetry, UploadUrl, VideoContentType,
    VideoPostInfo, VideoSource,
};
use tokio::sync::watch;
use tokpost_core::{
    Actor, DeferReason, EventKind, JobId, JobKind, NewPostEvent, Post, PostContent, PostId,
    PostMode, PostSpec, PostState, PublishId, PublishProgress, RequiredAction, StateKind,
    UploadSource,
};
use tokpost_store::{
    Job, MediaAsset, NewJob, QuotaKind, RateLimitDecision, RateLimitSlot, Store, StoreError,
    Transition, TransitionOutcome, WorkerId,
};
use url::Url;

use crate::caps::{self, blocking_cap};
use crate::lease;
use crate::media_access::{MediaAccess, MediaLocation};
use crate::policy::{Decision, OverCap, PublishPolicy, Step, actor, decide, required_action};
use crate::preflight::{CreatorFacts, PostDraft, creator_info_snapshot, preflight};
use crate::token_keeper::{KeeperError, TokenKeeper};
use crate::worker::{JobHandler, JobOutcome};

mod decisions;
mod init;
mod prepare;
mod status;
mod upload;
mod wave;

pub use wave::{Readied, ReadyInit};

/// TikTok's upload URL lives one hour after init.
const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(3_600);
/// An upload is not started on a URL with less life left than this.
const UPLOAD_URL_MARGIN: Duration = Duration::from_secs(120);
/// How often a post waiting for its account's reconnect looks again.
const RECONNECT_RECHECK: Duration = Duration::from_secs(15 * 60);
/// Steps taken in one job run before it yields (a guard against a loop, not a limit in use).
const MAX_STEPS_PER_RUN: usize = 16;

/// TikTok's sliding minute, plus a second: a request is counted when it is recorded here,
/// TikTok counts it when it arrives, and a later arrival of the older request must not make
/// the newer one look early.
const RATE_WINDOW: Duration = Duration::from_secs(61);

/// Per-token, per-endpoint request limits TikTok enforces in a sliding minute.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    name: &'static str,
    per_minute: u32,
}

const CREATOR_INFO: Endpoint = Endpoint {
    name: "creator_info",
    per_minute: 20,
};
const INIT: Endpoint = Endpoint {
    name: "init",
    per_minute: 6,
};
const STATUS: Endpoint = Endpoint {
    name: "status_fetch",
    per_minute: 30,
};

/// Moves posts through the publishing steps. One per process, shared by its workers.
#[derive(Debug)]
pub struct Publisher {
    store: Arc<dyn Store>,
    clock: SharedClock,
    client: TikTokClient,
    keeper: Arc<TokenKeeper>,
    policy: PublishPolicy,
    upload_retry: UploadRetry,
    media: Option<MediaAccess>,
    insights: crate::insights::InsightSettings,
}

/// How one step ended.
enum Next {
    /// The post moved; take the next step.
    Continue(Box<Post>),
    /// The job is finished for now.
    Stop(JobOutcome),
}

fn done() -> Next {
    Next::Stop(JobOutcome::Done)
}

/// The post moved while this run was working on it (another run of its job, a user): the job
/// runs again from where the post is now. Never [`done`]: completing the job of a post that is
/// not final would strand it (the job is deleted and nothing moves the post again).
fn moved_on(now: Timestamp) -> Next {
    Next::Stop(JobOutcome::RetryAt {
        at: now,
        reason: "the post moved meanwhile; its job goes on from where it is".to_owned(),
    })
}

fn transient(error: impl Into<String>) -> Next {
    Next::Stop(JobOutcome::Transient {
        error: error.into(),
    })
}

impl From<StoreError> for Next {
    fn from(error: StoreError) -> Self {
        transient(format!("store: {error}"))
    }
}

impl Publisher {
    /// A publisher over `store`, calling TikTok through `client`, with tokens from `keeper`.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        client: TikTokClient,
        keeper: Arc<TokenKeeper>,
        policy: PublishPolicy,
    ) -> Self {
        Self {
            store,
            clock,
            client,
            keeper,
            policy,
            upload_retry: UploadRetry::default(),
            media: None,
            insights: crate::insights::InsightSettings::default(),
        }
    }

    /// Reads counts for insights with these settings.
    #[must_use]
    pub fn with_insights(mut self, settings: crate::insights::InsightSettings) -> Self {
        self.insights = settings;
        self
    }

    /// Reads uploaded media from this media store (and signs pull URLs with its signer).
    #[must_use]
    pub fn with_media(mut self, media: Option<MediaAccess>) -> Self {
        self.media = media;
        self
    }

    /// Uses `retry` for chunk retries (tests shorten the back-off).
    #[must_use]
    pub fn with_upload_retry(mut self, retry: UploadRetry) -> Self {
        self.upload_retry = retry;
        self
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &PublishPolicy {
        &self.policy
    }

    /// Runs preflight for a draft with the account's latest creator-info snapshot (the API's
    /// dry run).
    ///
    /// # Errors
    /// Store failures.
    pub async fn preflight(
        &self,
        draft: &PostDraft,
    ) -> Result<crate::preflight::PreflightReport, StoreError> {
        let creator = self.creator_facts(draft.account_id).await?;
        preflight(
            self.store.as_ref(),
            &self.policy,
            self.media.as_ref(),
            draft,
            creator.as_ref(),
            self.clock.now(),
            true,
        )
        .await
    }

    /// Resumes the account's posts that waited for a reconnect (call it when an account is
    /// connected again; waiting posts also look by themselves every 15 minutes). Returns how
    /// many resumed.
    ///
    /// # Errors
    /// Store failures.
    pub async fn account_reconnected(
        &self,
        account: tokpost_core::AccountId,
    ) -> Result<usize, StoreError> {
        let waiting = self
            .store
            .account_posts_in_state(account, StateKind::WaitingForReconnect, 10_000)
            .await?;
        let mut resumed = 0;
        for post in waiting {
            if let Next::Continue(_) = self.resume_after_reconnect(&post, None).await {
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    /// TikTok reported a publish (a `post.publish.*` webhook) that no post knows by its id. If
    /// the account has exactly one `uncertain` post whose init answer was lost, that publish is
    /// its own: the post adopts the id and its status is tracked from now on. Several such posts
    /// cannot be told apart and stay for a person to resolve. Returns the adopting post.
    ///
    /// # Errors
    /// Store failures.
    pub async fn publish_reported(
        &self,
        account: tokpost_core::AccountId,
        publish_id: &PublishId,
    ) -> Result<Option<PostId>, StoreError> {
        let orphans: Vec<Post> = self
            .store
            .account_posts_in_state(account, StateKind::Uncertain, 100)
            .await?
            .into_iter()
            .filter(|post| post.progress.publish_id.is_none())
            .collect();
        let [post] = orphans.as_slice() else {
            if !orphans.is_empty() {
                tracing::warn!(%account, publish_id = publish_id.as_str(), candidates = orphans.len(), "a reported publish matches several uncertain posts; left for a person");
            }
            return Ok(None);
        };
        let now = self.clock.now();
        let mut progress = post.progress.clone();
        progress.publish_id = Some(publish_id.clone());
        let transition = Transition {
            post: post.id,
            expected: post.state,
            to: PostState::Uncertain,
            event: NewPostEvent::new(
                now,
                EventKind::StateChanged,
                format!(
                    "TikTok reported publish {publish_id} for this creator: the init whose answer was lost; tracking its status"
                ),
            ),
            progress: Some(progress),
            quota_use: None,
            next_job: Some(self.status_job(post.id, post.account_id, now)),
            completes: None,
            lease: None,
        };
        match self.store.transition_post(transition).await? {
            TransitionOutcome::Applied(post) => Ok(Some(post.id)),
            TransitionOutcome::Stale { .. } | TransitionOutcome::LeaseLost => Ok(None),
        }
    }

    async fn creator_facts(
        &self,
        account: tokpost_core::AccountId,
    ) -> Result<Option<CreatorFacts>, StoreError> {
        Ok(self
            .store
            .latest_creator_info(account)
            .await?
            .map(|snapshot| CreatorFacts::from_snapshot(&snapshot.info)))
    }

    async fn advance(&self, claimed: &Job) -> JobOutcome {
        // A step's transient failures are counted from the move that began it: the store
        // starts a job's counts over with each move it makes (`Job::failures`), and so does
        // this run.
        let mut job = claimed.clone();
        let job = &mut job;
        let Some(post_id) = job.post_id else {
            tracing::warn!(job = %job.id, "publish job without a post; dropped");
            return JobOutcome::Done;
        };
        let mut post = match self.store.post(post_id).await {
            Ok(Some(post)) => post,
            Ok(None) => return JobOutcome::Done,
            Err(error) => return transient_outcome(&error),
        };
        for _ in 0..MAX_STEPS_PER_RUN {
            let next = match post.state.kind() {
                StateKind::Scheduled | StateKind::Deferred => self.start(job, &post).await,
                StateKind::Preflighted => self.check_creator(job, &post, false).await,
                StateKind::CreatorChecked if self.clock.now() < post.scheduled_at.at() => {
                    // Prepared ahead (see `PublishPolicy::prepare_ahead`): only the init waits
                    // for the post's time.
                    Next::Stop(JobOutcome::RetryAt {
                        at: post.scheduled_at.at(),
                        reason: "prepared; the init waits for the post's time".to_owned(),
                    })
                }
                StateKind::CreatorChecked => self.init(job, &post).await,
                StateKind::Initialized | StateKind::Uploading => {
                    self.upload_or_reinit(job, &post).await
                }
                StateKind::Processing | StateKind::Uncertain => {
                    // Status checks are their own job; make sure one exists.
                    match self.ensure_status_job(&post).await {
                        Ok(()) => done(),
                        Err(error) => error.into(),
                    }
                }
                StateKind::WaitingForReconnect => {
                    self.resume_after_reconnect(&post, Some(job)).await
                }
                // A person holds these; the approval queues a job of its own.
                StateKind::AwaitingApproval | StateKind::Rejected => done(),
                StateKind::Published
                | StateKind::InboxDelivered
                | StateKind::Failed
                | StateKind::Missed
                | StateKind::Cancelled => done(),
            };
            match next {
                Next::Continue(moved) => {
                    if moved.state.kind() != post.state.kind() {
                        job.attempts = 1;
                        job.failures = 0;
                    }
                    post = *moved;
                }
                Next::Stop(outcome) => return outcome,
            }
        }
        JobOutcome::RetryAt {
            at: self.clock.now(),
            reason: "yielded after many steps".to_owned(),
        }
    }

    async fn move_post(&self, post: &Post, to: PostState, event: NewPostEvent) -> Next {
        self.apply(Transition {
            post: post.id,
            expected: post.state,
            to,
            event,
            progress: None,
            quota_use: None,
            next_job: None,
            completes: None,
            lease: None,
        })
        .await
    }

    async fn apply(&self, transition: Transition) -> Next {
        self.apply_telling(transition).await.0
    }

    /// [`Publisher::apply`], and whether this very transition was written (`false` when it
    /// went on from a post someone else moved, or stopped).
    async fn apply_telling(&self, mut transition: Transition) -> (Next, bool) {
        if transition.completes.is_none() && transition.lease.is_none() {
            transition.lease = match self.lease() {
                Ok(lease) => lease,
                Err(stop) => return (stop, false),
            };
        }
        let post = transition.post;
        let next = match self.store.transition_post(transition).await {
            Ok(TransitionOutcome::Applied(post)) => return (Next::Continue(post), true),
            Ok(TransitionOutcome::Stale { current }) => {
                // Someone else moved it (a cancel, another worker): reload and go on from there.
                match self.store.post(post).await {
                    Ok(Some(post)) if post.state.kind() == current.kind() => {
                        Next::Continue(Box::new(post))
                    }
                    Ok(Some(_)) => moved_on(self.clock.now()),
                    Ok(None) => done(),
                    Err(error) => error.into(),
                }
            }
            Ok(TransitionOutcome::LeaseLost) => done(),
            Err(StoreError::IllegalTransition(illegal)) => {
                tracing::error!(%post, %illegal, "the publisher tried an illegal move; the post stays where it is");
                done()
            }
            Err(error) => error.into(),
        };
        (next, false)
    }

    /// [`Publisher::apply`] for a move after which the job is done: the job is removed in the
    /// move's transaction (one write instead of the move and then the completion). Outside a
    /// worker's job, the move alone.
    async fn apply_finishing(&self, mut transition: Transition) -> Next {
        transition.completes = match self.lease() {
            Ok(Some(guard)) => Some(guard),
            Ok(None) => return self.apply(transition).await,
            Err(stop) => return stop,
        };
        let (next, applied) = self.apply_telling(transition).await;
        if applied {
            lease::finished_by_last_move();
        }
        next
    }

    async fn token(&self, post: &Post) -> Result<AccessToken, Next> {
        match self.keeper.access_token_for(post.account_id).await {
            Ok(token) => Ok(token),
            Err(KeeperError::NeedsReconnect(_) | KeeperError::NotConnected(_)) => {
                Err(self.wait_for_reconnect(post, "the account must be reconnected; the post waits and continues by itself afterwards").await)
            }
            Err(KeeperError::UnknownAccount) => Err(self
                .fail(post, RequiredAction::Reconnect, Actor::User, "the account no longer exists".to_owned(), None)
                .await),
            Err(error @ (KeeperError::Store(_) | KeeperError::TikTok(_))) => Err(transient(format!("token: {error}"))),
            Err(KeeperError::BackingOff { until }) => Err(Next::Stop(JobOutcome::RetryAt {
                at: until,
                reason: "a token refresh of the account failed moments ago".to_owned(),
            })),
        }
    }

    /// TikTok rejected `rejected`: a fresh token for the next send (one refresh however many
    /// posts of the account saw the same token rejected).
    async fn refresh_now(&self, post: &Post, rejected: &AccessToken) -> Result<(), Next> {
        match self.keeper.refresh_rejected(post.account_id, rejected).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_transient() => Err(transient(format!("token refresh: {error}"))),
            Err(_) => Err(self
                .wait_for_reconnect(post, "TikTok rejected the account's tokens; the post waits until the creator reconnects")
                .await),
        }
    }

    /// The guard the job's writes carry, or the stop a lapsed lease means (a worker paused past
    /// its lease acts no more: another may be running the job). See [`crate::lease`].
    fn lease(&self) -> Result<Option<(JobId, WorkerId)>, Next> {
        match lease::held(self.clock.now()) {
            lease::Held::Yes(guard) => Ok(Some(guard)),
            lease::Held::Unguarded => Ok(None),
            lease::Held::No => Err(Next::Stop(JobOutcome::Transient {
                error: "the lease on this job lapsed (was the worker paused?); another worker may hold it, so this run stops".to_owned(),
            })),
        }
    }

    /// Takes a slot of `endpoint`'s rate limit just before a request to TikTok, after making
    /// sure the job's lease still holds (every request to TikTok goes through here).
    async fn rate_limit(&self, post: &Post, endpoint: Endpoint) -> Option<Next> {
        if let Err(stop) = self.lease() {
            return Some(stop);
        }
        let slot = RateLimitSlot {
            account_id: post.account_id,
            endpoint: endpoint.name,
            window: RATE_WINDOW,
            limit: endpoint.per_minute,
        };
        match self
            .store
            .take_rate_limit_slot(slot, self.clock.now())
            .await
        {
            Ok(RateLimitDecision::Allowed { .. }) => None,
            Ok(RateLimitDecision::Limited { retry_at }) => Some(Next::Stop(JobOutcome::RetryAt {
                at: retry_at,
                reason: format!(
                    "{} limit of {} per minute reached",
                    endpoint.name, endpoint.per_minute
                ),
            })),
            Err(error) => Some(error.into()),
        }
    }
}

impl JobHandler for Publisher {
    async fn handle(&self, job: &Job) -> JobOutcome {
        match job.kind {
            JobKind::PublishPost => self.advance(job).await,
            JobKind::CheckPublishStatus => self.track_status(job).await,
            JobKind::SyncCreatorInfo => self.sync_creator_info(job).await,
            // Reading counts needs what publishing has: the account's token and the client.
            JobKind::SnapshotStats => match job.account_id {
                Some(account) => {
                    crate::insights::Snapshotter::new(
                        Arc::clone(&self.store),
                        Arc::clone(&self.clock),
                        self.client.clone(),
                        Arc::clone(&self.keeper),
                        self.insights,
                    )
                    .run(account)
                    .await
                }
                None => JobOutcome::Done,
            },
            JobKind::RefreshToken | JobKind::FixMedia => JobOutcome::Transient {
                error: format!("the publisher does not run {} jobs", job.kind.as_str()),
            },
        }
    }
}

fn is_pull(spec: &PostSpec) -> bool {
    spec.source == UploadSource::PullFromUrl || matches!(spec.content, PostContent::Photos { .. })
}

/// TikTok's answer kept for the event: the body as JSON when it is JSON, else as text.
fn native_json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

fn failure_json(failure: &TikTokFailure) -> Value {
    json!({
        "classification": failure.classification().id(),
        "http_status": failure.http_status,
        "code": failure.code,
        "message": failure.message,
        "log_id": failure.log_id,
        "body": native_json(&failure.raw_body),
    })
}

fn transient_outcome(error: &StoreError) -> JobOutcome {
    JobOutcome::Transient {
        error: format!("store: {error}"),
    }
}

fn non_negative(span: SignedDuration) -> Duration {
    Duration::try_from(span).unwrap_or(Duration::ZERO)
}

fn defer_words(why: DeferReason) -> &'static str {
    match why {
        DeferReason::DailyPostCap => "the creator's daily post cap is reached",
        DeferReason::PendingInboxShares => {
            "the creator has too many drafts pending in the TikTok inbox"
        }
        DeferReason::ActiveCreatorCap => "the app's daily cap of active creators is reached",
        DeferReason::RateLimited => "TikTok's rate limit",
        DeferReason::TiktokUnavailable => "TikTok is unavailable",
    }
}

/// "1 h 5 min", "40 s".
fn human(span: Duration) -> String {
    let secs = span.as_secs();
    match (secs / 3_600, (secs % 3_600) / 60, secs % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(human(Duration::from_secs(40)), "40 s");
        assert_eq!(human(Duration::from_secs(300)), "5 min");
        assert_eq!(human(Duration::from_secs(3_900)), "1 h 5 min");
        assert_eq!(human(Duration::from_secs(7_200)), "2 h");
    }
}
