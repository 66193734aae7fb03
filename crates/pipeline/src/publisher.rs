//! The publishing steps: moves one post through the state machine, one compare-and-set
//! transition per step, each recorded as an event with TikTok's native answer.
//!
//! ```text
//! scheduled ─preflight─► preflighted ─token, creator info─► creator_checked
//!   ─init (publish_id stored before any byte)─► initialized ─upload (offset stored per chunk)─►
//!   uploading ─► processing ─status, with back-off─► published | inbox_delivered | failed
//! ```
//!
//! Exactly once: a post is initialized again only when TikTok's first publish is known dead
//! (upload URL expired with the upload incomplete, or status FAILED). An `init_requested` event
//! is written before every init; a worker that finds it as the post's last event knows the
//! answer was lost. A lost FILE_UPLOAD init is re-sent (TikTok publishes nothing until the bytes
//! arrive); a lost pull init is not: the post becomes `uncertain`.
//!
//! What to do about each failure is [`crate::policy::decide`]'s call, never this module's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clock::{SharedClock, SignedDuration, Timestamp};
use serde_json::{Value, json};
use tiktok::{
    AccessToken, ChunkPlan, DirectPhotoSettings, DirectVideoInit, InboxVideoInit, PhotoInit,
    PhotoMode, PublishInit, PublishStatus, PublishStatusReport, TikTokClient, TikTokFailure,
    UploadJob, UploadOutcome, UploadRetry, UploadUrl, VideoContentType, VideoPostInfo, VideoSource,
};
use tokio::sync::watch;
use tokpost_core::{
    Actor, DeferReason, EventKind, JobKind, NewPostEvent, Post, PostContent, PostId, PostMode,
    PostSpec, PostState, PublishId, PublishProgress, RequiredAction, StateKind, UploadSource,
};
use tokpost_store::{
    Job, MediaAsset, NewJob, QuotaKind, RateLimitDecision, RateLimitSlot, Store, StoreError,
    Transition, TransitionOutcome,
};
use url::Url;

use crate::caps::{self, blocking_cap};
use crate::policy::{Decision, OverCap, PublishPolicy, Step, actor, decide, required_action};
use crate::preflight::{CreatorFacts, PostDraft, preflight};
use crate::token_keeper::{KeeperError, TokenKeeper};
use crate::worker::{JobHandler, JobOutcome};

/// TikTok's upload URL lives one hour after init.
const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(3_600);
/// An upload is not started on a URL with less life left than this.
const UPLOAD_URL_MARGIN: Duration = Duration::from_secs(120);
/// How often a post waiting for its account's reconnect looks again.
const RECONNECT_RECHECK: Duration = Duration::from_secs(15 * 60);
/// Steps taken in one job run before it yields (a guard against a loop, not a limit in use).
const MAX_STEPS_PER_RUN: usize = 16;

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
        }
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
        };
        match self.store.transition_post(transition).await? {
            TransitionOutcome::Applied(post) => Ok(Some(post.id)),
            TransitionOutcome::Stale { .. } | TransitionOutcome::LeaseLost => Ok(None),
        }
    }

    /// Fetches and stores the creator's current options (a `SyncCreatorInfo` job).
    async fn sync_creator_info(&self, job: &Job) -> JobOutcome {
        let Some(account) = job.account_id else {
            return JobOutcome::Done;
        };
        let token = match self.keeper.access_token_for(account).await {
            Ok(token) => token,
            Err(error) if error.is_transient() => {
                return JobOutcome::Transient {
                    error: error.to_string(),
                };
            }
            Err(_) => return JobOutcome::Done,
        };
        let slot = RateLimitSlot {
            account_id: account,
            endpoint: CREATOR_INFO.name,
            window: Duration::from_secs(60),
            limit: CREATOR_INFO.per_minute,
        };
        match self
            .store
            .take_rate_limit_slot(slot, self.clock.now())
            .await
        {
            Ok(RateLimitDecision::Allowed { .. }) => {}
            Ok(RateLimitDecision::Limited { retry_at }) => {
                return JobOutcome::RetryAt {
                    at: retry_at,
                    reason: "creator_info limit reached".to_owned(),
                };
            }
            Err(error) => return transient_outcome(&error),
        }
        match self.client.creator_info(&token).await {
            Ok(info) => match self
                .store
                .save_creator_info(account, &creator_info_json(&info), self.clock.now())
                .await
            {
                Ok(()) => JobOutcome::Done,
                Err(error) => transient_outcome(&error),
            },
            Err(failure) if failure.is_transient() => JobOutcome::Transient {
                error: failure.classification().id().to_owned(),
            },
            Err(failure) => {
                // A cap or ban answer is information, not a fault of the job; posts meet it
                // in their own creator-info step.
                tracing::info!(%account, code = failure.classification().id(), "creator info refused");
                JobOutcome::Done
            }
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

    // --- the publish job ---

    async fn advance(&self, job: &Job) -> JobOutcome {
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
                StateKind::Published
                | StateKind::InboxDelivered
                | StateKind::Failed
                | StateKind::Missed
                | StateKind::Cancelled => done(),
            };
            match next {
                Next::Continue(moved) => post = *moved,
                Next::Stop(outcome) => return outcome,
            }
        }
        JobOutcome::RetryAt {
            at: self.clock.now(),
            reason: "yielded after many steps".to_owned(),
        }
    }

    /// Step 1: lateness, then preflight against the latest snapshot and the caps.
    async fn start(&self, job: &Job, post: &Post) -> Next {
        let now = self.clock.now();
        if let PostState::Deferred { until, .. } = post.state
            && until > now
        {
            return Next::Stop(JobOutcome::RetryAt {
                at: until,
                reason: "deferred".to_owned(),
            });
        }
        let due = job.run_at.max(post.scheduled_at.at());
        let late = non_negative(now.duration_since(due));
        if late > self.policy.late_grace {
            let message = format!(
                "missed: due at {due}, tokpost picked it up at {now}, {} late, beyond the {} grace period; not published",
                human(late),
                human(self.policy.late_grace)
            );
            return self
                .move_post(
                    post,
                    PostState::Missed,
                    NewPostEvent::new(now, EventKind::StateChanged, message),
                )
                .await;
        }
        let mut post = post.clone();
        if let PostState::Deferred { why, .. } = post.state {
            let event = NewPostEvent::new(
                now,
                EventKind::StateChanged,
                format!("the wait for {} is over", defer_words(why)),
            );
            match self.move_post(&post, PostState::Scheduled, event).await {
                Next::Continue(moved) => post = *moved,
                stop @ Next::Stop(_) => return stop,
            }
        }
        let creator = match self.creator_facts(post.account_id).await {
            Ok(creator) => creator,
            Err(error) => return error.into(),
        };
        let report = match preflight(
            self.store.as_ref(),
            &self.policy,
            &PostDraft::of(&post),
            creator.as_ref(),
            now,
            false,
        )
        .await
        {
            Ok(report) => report,
            Err(error) => return error.into(),
        };
        if !report.passes() {
            let errors: Vec<_> = report.errors().cloned().collect();
            let who = if errors.iter().any(|finding| {
                matches!(
                    finding.code.as_str(),
                    "url_ownership_unverified"
                        | "unaudited_client_can_only_post_to_private_accounts"
                )
            }) {
                Actor::Operator
            } else {
                Actor::User
            };
            let summary = errors
                .iter()
                .map(|finding| {
                    let measured = finding
                        .measured
                        .as_ref()
                        .zip(finding.limit.as_ref())
                        .map(|(measured, limit)| format!(" (measured {measured}, limit {limit})"))
                        .unwrap_or_default();
                    format!(
                        "{}: {}{measured}. {}",
                        finding.field, finding.message, finding.fix
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let event = NewPostEvent::new(
                now,
                EventKind::StateChanged,
                format!("preflight failed: {summary}"),
            )
            .with_native_response(json!({ "preflight": errors }));
            return self
                .move_post(
                    &post,
                    PostState::Failed {
                        action: RequiredAction::FixInput,
                        who,
                    },
                    event,
                )
                .await;
        }
        if let Some(block) = report.cap {
            return self
                .defer_for_cap(
                    &post,
                    block.why,
                    block.frees_at,
                    Some((block.used, block.cap)),
                )
                .await;
        }
        let mut message = "preflight passed".to_owned();
        if late > Duration::from_secs(60) {
            message.push_str(&format!(
                "; {} late, inside the {} grace period",
                human(late),
                human(self.policy.late_grace)
            ));
        }
        let warnings = report
            .findings
            .iter()
            .filter(|finding| !finding.is_error())
            .count();
        if warnings > 0 {
            message.push_str(&format!("; {warnings} warning(s)"));
        }
        let mut event = NewPostEvent::new(now, EventKind::StateChanged, message);
        if warnings > 0 {
            event = event.with_native_response(json!({ "preflight": report.findings }));
        }
        self.move_post(&post, PostState::Preflighted, event).await
    }

    /// Steps 2 and 3: a fresh token, then the creator's current options.
    async fn check_creator(&self, job: &Job, post: &Post, refreshed: bool) -> Next {
        let token = match self.token(post).await {
            Ok(token) => token,
            Err(next) => return next,
        };
        if let Some(wait) = self.rate_limit(post, CREATOR_INFO).await {
            return wait;
        }
        let info = match self.client.creator_info(&token).await {
            Ok(info) => info,
            Err(failure) => {
                let decision = decide(&failure, Step::CreatorInfo, refreshed);
                if decision == Decision::RefreshAndResend {
                    return match self.refresh_now(post).await {
                        Ok(()) => Box::pin(self.check_creator(job, post, true)).await,
                        Err(next) => next,
                    };
                }
                return self.on_failure(job, post, &failure, decision).await;
            }
        };
        let now = self.clock.now();
        let snapshot = creator_info_json(&info);
        if let Err(error) = self
            .store
            .save_creator_info(post.account_id, &snapshot, now)
            .await
        {
            return error.into();
        }
        let facts = CreatorFacts::from_snapshot(&snapshot);
        let report = match preflight(
            self.store.as_ref(),
            &self.policy,
            &PostDraft::of(post),
            Some(&facts),
            now,
            false,
        )
        .await
        {
            Ok(report) => report,
            Err(error) => return error.into(),
        };
        if let Some(finding) = report.errors().next() {
            let who = if finding.code == "unaudited_client_can_only_post_to_private_accounts" {
                Actor::Operator
            } else {
                Actor::User
            };
            let event = NewPostEvent::new(
                now,
                EventKind::StateChanged,
                format!(
                    "creator info for {}: {}: {}. {}",
                    facts.nickname.as_deref().unwrap_or("the creator"),
                    finding.field,
                    finding.message,
                    finding.fix
                ),
            )
            .with_native_response(
                json!({ "creator_info": snapshot, "preflight": report.findings }),
            );
            return self
                .move_post(
                    post,
                    PostState::Failed {
                        action: RequiredAction::FixInput,
                        who,
                    },
                    event,
                )
                .await;
        }
        let event = NewPostEvent::new(
            now,
            EventKind::StateChanged,
            format!(
                "creator {} can post: privacy {} offered",
                facts.nickname.as_deref().unwrap_or("(no nickname)"),
                post.spec.privacy
            ),
        )
        .with_native_response(json!({ "creator_info": snapshot }));
        self.move_post(post, PostState::CreatorChecked, event).await
    }

    /// Step 4: init, with the publish id stored before any byte is sent.
    async fn init(&self, job: &Job, post: &Post) -> Next {
        let now = self.clock.now();
        let events = match self.store.post_events(post.id).await {
            Ok(events) => events,
            Err(error) => return error.into(),
        };
        let answer_lost = events
            .last()
            .is_some_and(|event| event.kind == EventKind::InitRequested);
        let inits_so_far = events
            .iter()
            .filter(|event| event.kind == EventKind::InitRequested)
            .count();
        let pulls = is_pull(&post.spec);
        if answer_lost && pulls {
            let event = NewPostEvent::new(
                now,
                EventKind::StateChanged,
                "the answer to the init was lost; TikTok may be fetching and publishing the post, so it is not sent again. Check the creator's profile, then mark the post published or retry it",
            );
            return self.move_post(post, PostState::Uncertain, event).await;
        }
        if inits_so_far > self.policy.reinit_attempts as usize + 1 {
            return self
                .fail(
                    post,
                    RequiredAction::RetryLater,
                    Actor::Tiktok,
                    format!(
                        "TikTok did not take the post after {inits_so_far} inits; retry it later"
                    ),
                    None,
                )
                .await;
        }
        if post.state.kind() == StateKind::CreatorChecked {
            match blocking_cap(
                self.store.as_ref(),
                &self.policy,
                post.account_id,
                post.spec.mode,
                now,
            )
            .await
            {
                Ok(Some(block)) => {
                    return self
                        .defer_for_cap(
                            post,
                            block.why,
                            block.frees_at,
                            Some((block.used, block.cap)),
                        )
                        .await;
                }
                Ok(None) => {}
                Err(error) => return error.into(),
            }
        }
        if let Some(wait) = self.rate_limit(post, INIT).await {
            return wait;
        }
        let request = match self.init_request(post).await {
            Ok(request) => request,
            Err(next) => return next,
        };
        let mut refreshed = false;
        loop {
            let note = if answer_lost {
                "init sent again: the previous answer was lost, and a file-upload init publishes nothing until its bytes arrive"
            } else {
                "init sent"
            };
            if let Err(error) = self
                .store
                .append_post_event(
                    post.id,
                    NewPostEvent::new(self.clock.now(), EventKind::InitRequested, note),
                )
                .await
            {
                return error.into();
            }
            let token = match self.token(post).await {
                Ok(token) => token,
                Err(next) => return next,
            };
            let sent = match &request {
                InitRequest::DirectVideo(init) => self.client.init_direct_video(&token, init).await,
                InitRequest::InboxVideo(init) => self.client.init_inbox_video(&token, init).await,
                InitRequest::Photo(init) => {
                    self.client
                        .init_photo(&token, init)
                        .await
                        .map(|publish_id| PublishInit {
                            publish_id,
                            upload_url: None,
                        })
                }
            };
            match sent {
                Ok(init) => return self.initialized(post, init).await,
                Err(failure) => {
                    let step = if pulls {
                        Step::InitPull
                    } else {
                        Step::InitFileUpload
                    };
                    let decision = decide(&failure, step, refreshed);
                    if decision == Decision::RefreshAndResend {
                        if let Err(next) = self.note_answer(post, &failure, "init refused: the access token was rejected; refreshing it and sending again").await {
                            return next;
                        }
                        match self.refresh_now(post).await {
                            Ok(()) => {
                                refreshed = true;
                                continue;
                            }
                            Err(next) => return next,
                        }
                    }
                    if decision == Decision::Uncertain {
                        let event = NewPostEvent::new(
                            self.clock.now(),
                            EventKind::StateChanged,
                            format!(
                                "the init's answer was lost ({}); TikTok may be fetching and publishing the post, so it is not sent again",
                                failure.classification().id()
                            ),
                        );
                        return self.move_post(post, PostState::Uncertain, event).await;
                    }
                    // A definite answer: record it, so that a later run does not take the init
                    // for lost.
                    if let Err(next) = self.note_answer(post, &failure, "init refused").await {
                        return next;
                    }
                    return self.on_failure(job, post, &failure, decision).await;
                }
            }
        }
    }

    async fn initialized(&self, post: &Post, init: PublishInit) -> Next {
        let now = self.clock.now();
        let publish_id = match PublishId::new(init.publish_id.as_str()) {
            Ok(id) => id,
            Err(error) => {
                return self
                    .fail(
                        post,
                        RequiredAction::RetryLater,
                        Actor::Tiktok,
                        format!("TikTok answered the init with an unusable publish id: {error}"),
                        None,
                    )
                    .await;
            }
        };
        let progress = PublishProgress {
            publish_id: Some(publish_id.clone()),
            upload_url: init.upload_url.as_ref().map(|url| url.as_url().to_string()),
            upload_url_expires_at: init
                .upload_url
                .as_ref()
                .map(|_| clock::add(now, UPLOAD_URL_LIFETIME)),
            uploaded_bytes: 0,
            public_post_ids: Vec::new(),
        };
        let quota = match post.spec.mode {
            PostMode::Direct => QuotaKind::DirectPost,
            PostMode::Inbox => QuotaKind::InboxShare,
        };
        let pulls = init.upload_url.is_none();
        let transition = Transition {
            post: post.id,
            expected: post.state,
            to: PostState::Initialized,
            event: NewPostEvent::new(
                now,
                EventKind::TiktokResponse,
                format!("initialized: publish id {publish_id}"),
            )
            .with_native_response(json!({ "publish_id": publish_id.as_str() })),
            progress: Some(progress.clone()),
            quota_use: Some(quota),
            next_job: None,
            completes: None,
        };
        let initialized = match self.apply(transition).await {
            Next::Continue(post) => post,
            stop @ Next::Stop(_) => return stop,
        };
        if !pulls {
            return Next::Continue(initialized);
        }
        // TikTok fetches by itself: from here on only status tells.
        self.to_processing(&initialized, "TikTok is fetching the media")
            .await
    }

    /// Step 5: upload from the stored offset, storing each acknowledged chunk; a dead upload URL
    /// with the upload incomplete means a new init.
    async fn upload_or_reinit(&self, job: &Job, post: &Post) -> Next {
        let now = self.clock.now();
        let Some(upload_url) = post.progress.upload_url.clone() else {
            if post.progress.publish_id.is_none() {
                // Back in initialized after TikTok reported the publish dead: a new init.
                return self.init(job, post).await;
            }
            // A pull publish: status tells.
            return self
                .to_processing(post, "TikTok is fetching the media")
                .await;
        };
        let (asset, path) = match self.video_file(post).await {
            Ok(found) => found,
            Err(next) => return next,
        };
        if post.progress.uploaded_bytes >= asset.size_bytes {
            // TikTok holds every byte: only status can tell now, and a new init could publish
            // twice.
            return self
                .to_processing(
                    post,
                    "the upload was complete before; TikTok is processing it",
                )
                .await;
        }
        let url_alive = post
            .progress
            .upload_url_expires_at
            .is_some_and(|expires| clock::add(now, UPLOAD_URL_MARGIN) < expires);
        if !url_alive {
            return self
                .reinit_after_dead_upload(job, post, "the one-hour upload URL expired before the upload completed; nothing was published with it")
                .await;
        }
        let Ok(url) = Url::parse(&upload_url) else {
            return self
                .reinit_after_dead_upload(job, post, "the stored upload URL is not a URL")
                .await;
        };
        let plan = match ChunkPlan::for_size(asset.size_bytes) {
            Ok(plan) => plan,
            Err(error) => {
                return self
                    .fail(
                        post,
                        RequiredAction::FixInput,
                        Actor::User,
                        format!("the video cannot be uploaded in chunks: {error}"),
                        None,
                    )
                    .await;
            }
        };
        let upload = UploadJob {
            upload_url: UploadUrl::new(url),
            file: path,
            plan,
            content_type: content_type(&asset),
            resume_from: post.progress.uploaded_bytes,
            retry: self.upload_retry,
        };
        let token = match self.token(post).await {
            Ok(token) => token,
            Err(next) => return next,
        };
        let publish_id = post
            .progress
            .publish_id
            .as_ref()
            .map(|id| tiktok::PublishId::new(id.as_str()));
        let (acknowledged, mut acknowledged_rx) = watch::channel(post.progress.uploaded_bytes);
        let client = &self.client;
        let resync = || {
            let token = token.clone();
            let publish_id = publish_id.clone();
            async move {
                let publish_id = publish_id?;
                client
                    .fetch_status(&token, &publish_id)
                    .await
                    .ok()
                    .and_then(|report| report.uploaded_bytes)
            }
        };
        let sending = async move {
            let outcome = client
                .upload_with_resync(&upload, resync, |progress| {
                    acknowledged.send_replace(progress.acknowledged_bytes);
                })
                .await;
            drop(acknowledged);
            outcome
        };
        let recording = async {
            let mut current = post.clone();
            loop {
                let changed = acknowledged_rx.changed().await.is_ok();
                let bytes = *acknowledged_rx.borrow_and_update();
                if bytes != current.progress.uploaded_bytes {
                    match self.record_upload_progress(&current, bytes).await {
                        Some(moved) => current = moved,
                        None => return (current, false),
                    }
                }
                if !changed {
                    return (current, true);
                }
            }
        };
        let (outcome, (current, recorded)) = tokio::join!(sending, recording);
        if !recorded {
            return transient("the post moved while uploading (cancelled or taken over)");
        }
        match outcome {
            Err(error) => {
                self.fail(
                    &current,
                    RequiredAction::FixInput,
                    Actor::User,
                    format!("the video file cannot be read for upload: {error}"),
                    None,
                )
                .await
            }
            Ok(UploadOutcome::Completed { total_bytes }) => {
                let mut progress = current.progress.clone();
                progress.uploaded_bytes = total_bytes;
                self.to_processing_with(
                    &current,
                    progress,
                    &format!("upload complete: {total_bytes} bytes"),
                )
                .await
            }
            Ok(outcome) => {
                let Some(failure) = outcome.failure().cloned() else {
                    return transient("upload ended without an outcome");
                };
                let decision = decide(&failure, Step::Upload, false);
                if let Err(next) = self.note_answer(&current, &failure, "upload stopped").await {
                    return next;
                }
                match decision {
                    Decision::Reinit => {
                        self.reinit_after_dead_upload(job, &current, "TikTok no longer accepts chunks on this upload URL; nothing was published with it").await
                    }
                    Decision::Backoff => self.retry_or_give_up(job, &current, &failure).await,
                    other => self.on_failure(job, &current, &failure, other).await,
                }
            }
        }
    }

    /// Stores an acknowledged offset with the move to `uploading`; `None` when the post moved.
    async fn record_upload_progress(&self, post: &Post, bytes: u64) -> Option<Post> {
        let mut progress = post.progress.clone();
        progress.uploaded_bytes = bytes;
        let transition = Transition {
            post: post.id,
            expected: post.state,
            to: PostState::Uploading,
            event: NewPostEvent::new(
                self.clock.now(),
                EventKind::Note,
                format!("TikTok acknowledged {bytes} bytes"),
            ),
            progress: Some(progress),
            quota_use: None,
            next_job: None,
            completes: None,
        };
        match self.store.transition_post(transition).await {
            Ok(TransitionOutcome::Applied(post)) => Some(*post),
            Ok(TransitionOutcome::Stale { .. } | TransitionOutcome::LeaseLost) => None,
            Err(error) => {
                // The offset stays at the last stored chunk; resuming from there re-sends at most
                // the chunks since, which TikTok answers by re-syncing.
                tracing::warn!(post = %post.id, %error, "could not store the upload offset");
                Some(post.clone())
            }
        }
    }

    async fn reinit_after_dead_upload(&self, job: &Job, post: &Post, why: &str) -> Next {
        // The last chunk may have arrived with its answer lost: ask TikTok before starting over,
        // since a new init next to a complete upload would publish twice.
        if let Some(publish_id) = post.progress.publish_id.clone() {
            let token = match self.token(post).await {
                Ok(token) => token,
                Err(next) => return next,
            };
            if let Some(wait) = self.rate_limit(post, STATUS).await {
                return wait;
            }
            let size = match self.video_file(post).await {
                Ok((asset, _)) => asset.size_bytes,
                Err(next) => return next,
            };
            match self
                .client
                .fetch_status(&token, &tiktok::PublishId::new(publish_id.as_str()))
                .await
            {
                Ok(report)
                    if report.status != PublishStatus::Failed
                        && report.uploaded_bytes.is_some_and(|bytes| bytes >= size) =>
                {
                    let mut progress = post.progress.clone();
                    progress.uploaded_bytes = size;
                    return self
                        .to_processing_with(
                            post,
                            progress,
                            "TikTok holds every byte (the last answer was lost); processing",
                        )
                        .await;
                }
                Ok(_) => {}
                Err(failure) => {
                    return transient(format!(
                        "status before a new init: {}",
                        failure.classification().id()
                    ));
                }
            }
        }
        let transition = Transition {
            post: post.id,
            expected: post.state,
            to: PostState::Initialized,
            event: NewPostEvent::new(
                self.clock.now(),
                EventKind::StateChanged,
                format!("{why}; starting over with a new init"),
            ),
            progress: Some(PublishProgress::default()),
            quota_use: None,
            next_job: None,
            completes: None,
        };
        match self.apply(transition).await {
            Next::Continue(post) => self.init(job, &post).await,
            stop @ Next::Stop(_) => stop,
        }
    }

    async fn to_processing(&self, post: &Post, message: &str) -> Next {
        self.to_processing_with(post, post.progress.clone(), message)
            .await
    }

    async fn to_processing_with(
        &self,
        post: &Post,
        progress: PublishProgress,
        message: &str,
    ) -> Next {
        let now = self.clock.now();
        let transition = Transition {
            post: post.id,
            expected: post.state,
            to: PostState::Processing,
            event: NewPostEvent::new(now, EventKind::StateChanged, message),
            progress: Some(progress),
            quota_use: None,
            next_job: Some(self.status_job(
                post.id,
                post.account_id,
                clock::add(now, self.policy.status_polling.first),
            )),
            completes: None,
        };
        match self.apply(transition).await {
            Next::Continue(_) => done(),
            stop @ Next::Stop(_) => stop,
        }
    }

    fn status_job(&self, post: PostId, account: tokpost_core::AccountId, at: Timestamp) -> NewJob {
        NewJob {
            kind: JobKind::CheckPublishStatus,
            payload: json!({}),
            account_id: Some(account),
            post_id: Some(post),
            run_at: at,
            dedupe_key: Some(format!("status:{post}")),
        }
    }

    async fn ensure_status_job(&self, post: &Post) -> Result<(), StoreError> {
        if post.progress.publish_id.is_none() {
            // Nothing to ask TikTok about (a lost pull init): the user decides.
            return Ok(());
        }
        let job = self.status_job(post.id, post.account_id, self.clock.now());
        self.store.enqueue(job, self.clock.now()).await.map(|_| ())
    }

    // --- the status job ---

    async fn track_status(&self, job: &Job) -> JobOutcome {
        let Some(post_id) = job.post_id else {
            return JobOutcome::Done;
        };
        let post = match self.store.post(post_id).await {
            Ok(Some(post)) => post,
            Ok(None) => return JobOutcome::Done,
            Err(error) => return transient_outcome(&error),
        };
        let tracking = matches!(
            post.state.kind(),
            StateKind::Processing | StateKind::Uncertain | StateKind::Published
        );
        let Some(publish_id) = post.progress.publish_id.clone().filter(|_| tracking) else {
            return JobOutcome::Done;
        };
        match self.check_status_once(job, &post, &publish_id, false).await {
            Next::Continue(_) => JobOutcome::Done,
            Next::Stop(outcome) => outcome,
        }
    }

    async fn check_status_once(
        &self,
        job: &Job,
        post: &Post,
        publish_id: &PublishId,
        refreshed: bool,
    ) -> Next {
        let token = match self.token(post).await {
            Ok(token) => token,
            Err(next) => return next,
        };
        if let Some(wait) = self.rate_limit(post, STATUS).await {
            return wait;
        }
        let report = match self
            .client
            .fetch_status(&token, &tiktok::PublishId::new(publish_id.as_str()))
            .await
        {
            Ok(report) => report,
            Err(failure) => {
                let decision = decide(&failure, Step::StatusFetch, refreshed);
                return match decision {
                    Decision::RefreshAndResend => match self.refresh_now(post).await {
                        Ok(()) => {
                            Box::pin(self.check_status_once(job, post, publish_id, true)).await
                        }
                        Err(next) => next,
                    },
                    Decision::Backoff => Next::Stop(JobOutcome::RetryAt {
                        at: clock::add(
                            self.clock.now(),
                            self.policy.status_polling.delay(job.attempts),
                        ),
                        reason: format!("status fetch failed: {}", failure.classification().id()),
                    }),
                    other => self.on_failure(job, post, &failure, other).await,
                };
            }
        };
        self.on_status(job, post, report).await
    }

    async fn on_status(&self, job: &Job, post: &Post, report: PublishStatusReport) -> Next {
        let now = self.clock.now();
        let native = native_json(&report.raw_body);
        let ids: Vec<String> = report
            .public_post_ids
            .iter()
            .map(ToString::to_string)
            .collect();
        let polling = self.policy.status_polling;
        let since_tracking = non_negative(now.duration_since(job.created_at));
        match &report.status {
            PublishStatus::PublishComplete => {
                if post.state.kind() == StateKind::Published
                    && (ids.is_empty() || ids == post.progress.public_post_ids)
                {
                    return self.poll_for_post_ids(job, since_tracking);
                }
                let mut progress = post.progress.clone();
                progress.public_post_ids.clone_from(&ids);
                let message = if ids.is_empty() {
                    "published; TikTok has not reported the public post id yet".to_owned()
                } else {
                    format!("published: post id {}", ids.join(", "))
                };
                let moved = self
                    .apply(Transition {
                        post: post.id,
                        expected: post.state,
                        to: PostState::Published,
                        event: NewPostEvent::new(now, EventKind::TiktokResponse, message)
                            .with_native_response(native),
                        progress: Some(progress),
                        quota_use: None,
                        next_job: None,
                        completes: None,
                    })
                    .await;
                match moved {
                    Next::Continue(_) if ids.is_empty() => {
                        self.poll_for_post_ids(job, since_tracking)
                    }
                    Next::Continue(_) => done(),
                    stop @ Next::Stop(_) => stop,
                }
            }
            PublishStatus::SendToUserInbox => {
                let event = NewPostEvent::new(now, EventKind::TiktokResponse, "delivered to the creator's TikTok inbox; the creator finishes the post in the app")
                    .with_native_response(native);
                self.move_post(post, PostState::InboxDelivered, event).await
            }
            PublishStatus::Failed => {
                let failure = report.failure().unwrap_or_else(|| {
                    TikTokFailure::from_fail_reason("", report.raw_body.clone())
                });
                let decision = decide(&failure, Step::PublishFailed, false);
                if let Err(next) = self
                    .note_answer(post, &failure, "TikTok reported the publish FAILED")
                    .await
                {
                    return next;
                }
                self.on_failure(job, post, &failure, decision).await
            }
            PublishStatus::ProcessingUpload
            | PublishStatus::ProcessingDownload
            | PublishStatus::Unknown(_) => {
                if post.state.kind() == StateKind::Uncertain {
                    let event = NewPostEvent::new(
                        now,
                        EventKind::TiktokResponse,
                        format!("TikTok knows the publish: {}", report.status.as_str()),
                    )
                    .with_native_response(native);
                    return match self.move_post(post, PostState::Processing, event).await {
                        Next::Continue(_) => Next::Stop(JobOutcome::RetryAt {
                            at: clock::add(now, polling.delay(job.attempts)),
                            reason: "still processing".to_owned(),
                        }),
                        stop @ Next::Stop(_) => stop,
                    };
                }
                if since_tracking > polling.give_up_after {
                    let event = NewPostEvent::new(
                        now,
                        EventKind::StateChanged,
                        format!("TikTok has been processing for {} without a final status; shown for a person to check", human(since_tracking)),
                    )
                    .with_native_response(native);
                    return self.move_post(post, PostState::Uncertain, event).await;
                }
                if self.status_changed(post, report.status.as_str()).await {
                    let event = NewPostEvent::new(
                        now,
                        EventKind::TiktokResponse,
                        format!("TikTok: {}", report.status.as_str()),
                    )
                    .with_native_response(native);
                    if let Err(error) = self.store.append_post_event(post.id, event).await {
                        return error.into();
                    }
                }
                Next::Stop(JobOutcome::RetryAt {
                    at: clock::add(now, polling.delay(job.attempts)),
                    reason: format!("TikTok: {}", report.status.as_str()),
                })
            }
        }
    }

    fn poll_for_post_ids(&self, job: &Job, since_tracking: Duration) -> Next {
        let polling = self.policy.status_polling;
        if since_tracking > polling.post_ids_for {
            return done();
        }
        Next::Stop(JobOutcome::RetryAt {
            at: clock::add(self.clock.now(), polling.delay(job.attempts)),
            reason: "waiting for the public post id".to_owned(),
        })
    }

    async fn status_changed(&self, post: &Post, status: &str) -> bool {
        let Ok(events) = self.store.post_events(post.id).await else {
            return true;
        };
        let last_status = events
            .iter()
            .rev()
            .filter(|event| event.kind == EventKind::TiktokResponse)
            .find_map(|event| {
                event
                    .native_response
                    .as_ref()
                    .and_then(|native| native.pointer("/data/status"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        last_status.as_deref() != Some(status)
    }

    // --- decisions applied ---

    async fn on_failure(
        &self,
        job: &Job,
        post: &Post,
        failure: &TikTokFailure,
        decision: Decision,
    ) -> Next {
        let now = self.clock.now();
        match decision {
            Decision::Backoff | Decision::RefreshAndResend => {
                self.retry_or_give_up(job, post, failure).await
            }
            Decision::WaitWindow {
                why: DeferReason::RateLimited,
                window,
            }
            | Decision::WaitWindow {
                why: DeferReason::TiktokUnavailable,
                window,
            } => Next::Stop(JobOutcome::RetryAt {
                at: clock::add(now, window),
                reason: format!(
                    "{}: waiting out TikTok's window",
                    failure.classification().id()
                ),
            }),
            Decision::WaitWindow { window, why } => {
                if why == DeferReason::DailyPostCap {
                    self.learn_cap(post, now).await;
                }
                let planned = blocking_cap(
                    self.store.as_ref(),
                    &self.policy,
                    post.account_id,
                    post.spec.mode,
                    now,
                )
                .await
                .ok()
                .flatten()
                .map(|block| block.frees_at);
                let until = planned.unwrap_or_else(|| clock::add(now, window));
                if post.state.kind().tiktok_may_have_it() {
                    // TikTok's publish is dead (FAILED): a new init once the window frees.
                    return self
                        .reinit_later(
                            post,
                            until,
                            &format!("TikTok refused: {}", defer_words(why)),
                        )
                        .await;
                }
                self.defer_for_cap(post, why, until, None).await
            }
            Decision::WaitForReconnect(why) => {
                if let Err(error) = self.keeper.mark_needs_reconnect(post.account_id, why).await {
                    return error.into();
                }
                if post.state.kind() == StateKind::Processing
                    && post.progress.publish_id.is_some()
                    && failure.occurrence == tiktok::catalog::Occurrence::FailReason
                {
                    return self
                        .fail(post, RequiredAction::Reconnect, Actor::Creator, format!("TikTok stopped the publish: {}; reconnect the account, then retry the post", failure.classification().id()), Some(failure))
                        .await;
                }
                self.wait_for_reconnect(post, &format!("TikTok refused the account ({}); the post waits until the creator reconnects", failure.classification().id())).await
            }
            Decision::Uncertain => {
                let event = NewPostEvent::new(
                    now,
                    EventKind::StateChanged,
                    "TikTok's answer was lost; not sent again",
                );
                self.move_post(post, PostState::Uncertain, event).await
            }
            Decision::Reinit => {
                let inits = self
                    .store
                    .post_events(post.id)
                    .await
                    .map(|events| {
                        events
                            .iter()
                            .filter(|event| event.kind == EventKind::InitRequested)
                            .count()
                    })
                    .unwrap_or(usize::MAX);
                if inits > self.policy.reinit_attempts as usize {
                    return self
                        .fail(
                            post,
                            RequiredAction::RetryLater,
                            Actor::Tiktok,
                            format!("{} after {inits} inits", failure.classification().id()),
                            Some(failure),
                        )
                        .await;
                }
                let delay = self
                    .policy
                    .status_polling
                    .delay(u32::try_from(inits).unwrap_or(u32::MAX));
                self.reinit_later(
                    post,
                    clock::add(now, delay),
                    &format!("TikTok reported {}", failure.classification().id()),
                )
                .await
            }
            Decision::Fail { action, who } => {
                let entry = failure.classification().entry();
                let how = entry.map_or("", |entry| entry.how_to_fix);
                let meaning = entry.map_or(
                    "TikTok refused with a code tokpost does not know",
                    |entry| entry.meaning,
                );
                self.fail(
                    post,
                    action,
                    who,
                    format!(
                        "{}: {meaning}. {how}",
                        failure
                            .code
                            .as_deref()
                            .unwrap_or(failure.classification().id())
                    ),
                    Some(failure),
                )
                .await
            }
        }
    }

    async fn retry_or_give_up(&self, job: &Job, post: &Post, failure: &TikTokFailure) -> Next {
        if job.attempts >= self.policy.transient_attempts {
            let entry = failure.classification().entry();
            return self
                .fail(
                    post,
                    required_action(entry.and_then(|entry| entry.action)),
                    actor(entry.map_or(&[][..], |entry| entry.who_acts)),
                    format!(
                        "{} persisted after {} attempts",
                        failure.classification().id(),
                        job.attempts
                    ),
                    Some(failure),
                )
                .await;
        }
        transient(format!(
            "{} ({})",
            failure.classification().id(),
            failure
                .http_status
                .map_or_else(|| "no answer".to_owned(), |status| format!("HTTP {status}"))
        ))
    }

    async fn reinit_later(&self, post: &Post, at: Timestamp, why: &str) -> Next {
        let now = self.clock.now();
        let transition = Transition {
            post: post.id,
            expected: post.state,
            to: PostState::Initialized,
            event: NewPostEvent::new(
                now,
                EventKind::StateChanged,
                format!("{why}; the publish is dead, a new init follows at {at}"),
            ),
            progress: Some(PublishProgress::default()),
            quota_use: None,
            next_job: Some(NewJob {
                kind: JobKind::PublishPost,
                payload: json!({}),
                account_id: Some(post.account_id),
                post_id: Some(post.id),
                run_at: at,
                dedupe_key: None,
            }),
            completes: None,
        };
        match self.apply(transition).await {
            Next::Continue(_) => done(),
            stop @ Next::Stop(_) => stop,
        }
    }

    async fn defer_for_cap(
        &self,
        post: &Post,
        why: DeferReason,
        until: Timestamp,
        counted: Option<(u64, u64)>,
    ) -> Next {
        let now = self.clock.now();
        let counted = counted
            .map(|(used, cap)| format!(" ({used} of {cap} in the last 24 h)"))
            .unwrap_or_default();
        if self.policy.over_cap == OverCap::Fail {
            return self
                .fail(
                    post,
                    RequiredAction::RetryLater,
                    Actor::Tiktok,
                    format!(
                        "{}{counted}; the next slot frees at {until}",
                        defer_words(why)
                    ),
                    None,
                )
                .await;
        }
        let transition = Transition {
            post: post.id,
            expected: post.state,
            to: PostState::Deferred { until, why },
            event: NewPostEvent::new(
                now,
                EventKind::StateChanged,
                format!("deferred until {until}: {}{counted}", defer_words(why)),
            ),
            progress: None,
            quota_use: None,
            next_job: Some(NewJob {
                kind: JobKind::PublishPost,
                payload: json!({}),
                account_id: Some(post.account_id),
                post_id: Some(post.id),
                run_at: until,
                dedupe_key: None,
            }),
            completes: None,
        };
        match self.apply(transition).await {
            Next::Continue(_) => done(),
            stop @ Next::Stop(_) => stop,
        }
    }

    async fn learn_cap(&self, post: &Post, now: Timestamp) {
        let used = self
            .store
            .quota_used(
                post.account_id,
                QuotaKind::DirectPost,
                caps::window_start(now),
            )
            .await
            .unwrap_or(0);
        // Our count minus this post (counted at its init) is what TikTok let through.
        let counted_self = u64::from(post.state.kind().tiktok_may_have_it());
        let cap = u32::try_from(used.saturating_sub(counted_self)).unwrap_or(u32::MAX);
        if cap < self.policy.daily_post_cap
            && let Err(error) = self.store.learn_post_cap(post.account_id, cap, now).await
        {
            tracing::warn!(account = %post.account_id, %error, "could not record the learned post cap");
        }
    }

    async fn wait_for_reconnect(&self, post: &Post, why: &str) -> Next {
        let now = self.clock.now();
        let publish_started = post.state.kind().tiktok_may_have_it();
        let transition = Transition {
            post: post.id,
            expected: post.state,
            to: PostState::WaitingForReconnect { publish_started },
            event: NewPostEvent::new(now, EventKind::StateChanged, why),
            progress: None,
            quota_use: None,
            next_job: Some(NewJob {
                kind: JobKind::PublishPost,
                payload: json!({}),
                account_id: Some(post.account_id),
                post_id: Some(post.id),
                run_at: clock::add(now, RECONNECT_RECHECK),
                dedupe_key: None,
            }),
            completes: None,
        };
        match self.apply(transition).await {
            Next::Continue(_) => done(),
            stop @ Next::Stop(_) => stop,
        }
    }

    /// A waiting post continues where its progress allows once the account is connected again.
    async fn resume_after_reconnect(&self, post: &Post, job: Option<&Job>) -> Next {
        let connected = match self.store.account(post.account_id).await {
            Ok(account) => account
                .is_some_and(|account| account.status == tokpost_core::AccountStatus::Connected),
            Err(error) => return error.into(),
        };
        if !connected {
            return match job {
                Some(_) => Next::Stop(JobOutcome::RetryAt {
                    at: clock::add(self.clock.now(), RECONNECT_RECHECK),
                    reason: "waiting for the account to be reconnected".to_owned(),
                }),
                None => done(),
            };
        }
        let PostState::WaitingForReconnect { publish_started } = post.state else {
            return done();
        };
        let now = self.clock.now();
        let progress = &post.progress;
        let (to, next_job) = if !publish_started {
            (PostState::Scheduled, JobKind::PublishPost)
        } else if progress.publish_id.is_some() && progress.upload_url.is_some() {
            // The upload step resumes, or moves on to processing if every byte arrived.
            (PostState::Initialized, JobKind::PublishPost)
        } else if progress.publish_id.is_some() {
            (PostState::Processing, JobKind::CheckPublishStatus)
        } else if !is_pull(&post.spec) {
            // A new init was due (the last publish died); a file upload publishes nothing
            // until its bytes arrive, so it may go again.
            (PostState::Initialized, JobKind::PublishPost)
        } else {
            (PostState::Uncertain, JobKind::CheckPublishStatus)
        };
        let next_job = NewJob {
            kind: next_job,
            payload: json!({}),
            account_id: Some(post.account_id),
            post_id: Some(post.id),
            run_at: now,
            dedupe_key: (next_job == JobKind::CheckPublishStatus)
                .then(|| format!("status:{}", post.id)),
        };
        let transition = Transition {
            post: post.id,
            expected: post.state,
            to,
            event: NewPostEvent::new(
                now,
                EventKind::StateChanged,
                "the account is connected again; the post continues",
            ),
            progress: None,
            quota_use: None,
            next_job: (job.is_none() || next_job.kind == JobKind::CheckPublishStatus)
                .then_some(next_job),
            completes: None,
        };
        self.apply(transition).await
    }

    async fn fail(
        &self,
        post: &Post,
        action: RequiredAction,
        who: Actor,
        message: String,
        failure: Option<&TikTokFailure>,
    ) -> Next {
        let mut event = NewPostEvent::new(
            self.clock.now(),
            EventKind::StateChanged,
            format!("failed: {message}"),
        );
        if let Some(failure) = failure {
            event = event.with_native_response(failure_json(failure));
        }
        self.move_post(post, PostState::Failed { action, who }, event)
            .await
    }

    async fn note_answer(
        &self,
        post: &Post,
        failure: &TikTokFailure,
        what: &str,
    ) -> Result<(), Next> {
        let event = NewPostEvent::new(
            self.clock.now(),
            EventKind::TiktokResponse,
            format!(
                "{what}: {}",
                failure
                    .code
                    .as_deref()
                    .unwrap_or(failure.classification().id())
            ),
        )
        .with_native_response(failure_json(failure));
        self.store
            .append_post_event(post.id, event)
            .await
            .map(|_| ())
            .map_err(Next::from)
    }

    // --- plumbing ---

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
        })
        .await
    }

    async fn apply(&self, transition: Transition) -> Next {
        let post = transition.post;
        match self.store.transition_post(transition).await {
            Ok(TransitionOutcome::Applied(post)) => Next::Continue(post),
            Ok(TransitionOutcome::Stale { current }) => {
                // Someone else moved it (a cancel, another worker): reload and go on from there.
                match self.store.post(post).await {
                    Ok(Some(post)) if post.state.kind() == current.kind() => {
                        Next::Continue(Box::new(post))
                    }
                    Ok(_) => done(),
                    Err(error) => error.into(),
                }
            }
            Ok(TransitionOutcome::LeaseLost) => done(),
            Err(StoreError::IllegalTransition(illegal)) => {
                tracing::error!(%post, %illegal, "the publisher tried an illegal move; the post stays where it is");
                done()
            }
            Err(error) => error.into(),
        }
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
        }
    }

    async fn refresh_now(&self, post: &Post) -> Result<(), Next> {
        match self.keeper.refresh_if_still_due(post.account_id, None).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_transient() => Err(transient(format!("token refresh: {error}"))),
            Err(_) => Err(self
                .wait_for_reconnect(post, "TikTok rejected the account's tokens; the post waits until the creator reconnects")
                .await),
        }
    }

    async fn rate_limit(&self, post: &Post, endpoint: Endpoint) -> Option<Next> {
        let slot = RateLimitSlot {
            account_id: post.account_id,
            endpoint: endpoint.name,
            window: Duration::from_secs(60),
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

    async fn video_file(&self, post: &Post) -> Result<(MediaAsset, PathBuf), Next> {
        let PostContent::Video { media, .. } = &post.spec.content else {
            return Err(transient("a file upload of a post without a video"));
        };
        match self.store.media(*media).await {
            Ok(Some(asset)) => {
                let path = PathBuf::from(&asset.location);
                Ok((asset, path))
            }
            Ok(None) => Err(self
                .fail(
                    post,
                    RequiredAction::FixInput,
                    Actor::User,
                    format!("media {media} no longer exists"),
                    None,
                )
                .await),
            Err(error) => Err(error.into()),
        }
    }

    async fn init_request(&self, post: &Post) -> Result<InitRequest, Next> {
        let spec = &post.spec;
        match &spec.content {
            PostContent::Video {
                caption,
                cover_timestamp_ms,
                media,
            } => {
                let asset = match self.store.media(*media).await {
                    Ok(Some(asset)) => asset,
                    Ok(None) => {
                        return Err(self
                            .fail(
                                post,
                                RequiredAction::FixInput,
                                Actor::User,
                                format!("media {media} no longer exists"),
                                None,
                            )
                            .await);
                    }
                    Err(error) => return Err(error.into()),
                };
                let source = match spec.source {
                    UploadSource::FileUpload => match ChunkPlan::for_size(asset.size_bytes) {
                        Ok(plan) => VideoSource::FileUpload(plan),
                        Err(error) => {
                            return Err(self
                                .fail(
                                    post,
                                    RequiredAction::FixInput,
                                    Actor::User,
                                    format!("the video cannot be uploaded: {error}"),
                                    None,
                                )
                                .await);
                        }
                    },
                    UploadSource::PullFromUrl => match Url::parse(&asset.location) {
                        Ok(url) => VideoSource::PullFromUrl(url),
                        Err(error) => {
                            return Err(self
                                .fail(
                                    post,
                                    RequiredAction::FixInput,
                                    Actor::User,
                                    format!("the media URL is not valid: {error}"),
                                    None,
                                )
                                .await);
                        }
                    },
                };
                let creator = self
                    .creator_facts(post.account_id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                Ok(match spec.mode {
                    PostMode::Direct => {
                        let mut info = VideoPostInfo::new(wire_privacy(spec));
                        info.title =
                            Some(caption.as_str().to_owned()).filter(|title| !title.is_empty());
                        info.disable_comment =
                            spec.interactions.disable_comment || creator.comment_disabled;
                        info.disable_duet = spec.interactions.disable_duet || creator.duet_disabled;
                        info.disable_stitch =
                            spec.interactions.disable_stitch || creator.stitch_disabled;
                        info.video_cover_timestamp_ms = *cover_timestamp_ms;
                        info.brand_content_toggle = spec.brand_content;
                        info.brand_organic_toggle = spec.brand_organic;
                        info.is_aigc = spec.is_aigc;
                        InitRequest::DirectVideo(DirectVideoInit {
                            post_info: info,
                            source_info: source,
                        })
                    }
                    PostMode::Inbox => InitRequest::InboxVideo(InboxVideoInit {
                        source_info: source,
                    }),
                })
            }
            PostContent::Photos {
                media,
                cover_index,
                title,
                description,
            } => {
                let mut urls = Vec::with_capacity(media.len());
                for id in media {
                    let asset = match self.store.media(*id).await {
                        Ok(Some(asset)) => asset,
                        Ok(None) => {
                            return Err(self
                                .fail(
                                    post,
                                    RequiredAction::FixInput,
                                    Actor::User,
                                    format!("media {id} no longer exists"),
                                    None,
                                )
                                .await);
                        }
                        Err(error) => return Err(error.into()),
                    };
                    match Url::parse(&asset.location) {
                        Ok(url) => urls.push(url),
                        Err(error) => {
                            return Err(self
                                .fail(
                                    post,
                                    RequiredAction::FixInput,
                                    Actor::User,
                                    format!("photo {id} has no usable URL: {error}"),
                                    None,
                                )
                                .await);
                        }
                    }
                }
                let creator = self
                    .creator_facts(post.account_id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let mode = match spec.mode {
                    PostMode::Direct => PhotoMode::DirectPost(DirectPhotoSettings {
                        privacy_level: wire_privacy(spec),
                        disable_comment: spec.interactions.disable_comment
                            || creator.comment_disabled,
                        auto_add_music: spec.auto_add_music,
                        brand_content_toggle: spec.brand_content,
                        brand_organic_toggle: spec.brand_organic,
                    }),
                    PostMode::Inbox => PhotoMode::MediaUpload,
                };
                Ok(InitRequest::Photo(PhotoInit {
                    mode,
                    title: Some(title.as_str().to_owned()).filter(|text| !text.is_empty()),
                    description: Some(description.as_str().to_owned())
                        .filter(|text| !text.is_empty()),
                    photo_images: urls,
                    photo_cover_index: *cover_index,
                }))
            }
        }
    }
}

/// The three init requests.
enum InitRequest {
    DirectVideo(DirectVideoInit),
    InboxVideo(InboxVideoInit),
    Photo(PhotoInit),
}

impl JobHandler for Publisher {
    async fn handle(&self, job: &Job) -> JobOutcome {
        match job.kind {
            JobKind::PublishPost => self.advance(job).await,
            JobKind::CheckPublishStatus => self.track_status(job).await,
            JobKind::SyncCreatorInfo => self.sync_creator_info(job).await,
            JobKind::RefreshToken => JobOutcome::Transient {
                error: format!("the publisher does not run {} jobs", job.kind.as_str()),
            },
        }
    }
}

fn is_pull(spec: &PostSpec) -> bool {
    spec.source == UploadSource::PullFromUrl || matches!(spec.content, PostContent::Photos { .. })
}

fn wire_privacy(spec: &PostSpec) -> tiktok::PrivacyLevel {
    match spec.privacy {
        tokpost_core::PrivacyLevel::PublicToEveryone => tiktok::PrivacyLevel::PublicToEveryone,
        tokpost_core::PrivacyLevel::MutualFollowFriends => {
            tiktok::PrivacyLevel::MutualFollowFriends
        }
        tokpost_core::PrivacyLevel::FollowerOfCreator => tiktok::PrivacyLevel::FollowerOfCreator,
        tokpost_core::PrivacyLevel::SelfOnly => tiktok::PrivacyLevel::SelfOnly,
    }
}

fn content_type(asset: &MediaAsset) -> VideoContentType {
    let container = asset
        .probe
        .get("container")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if container.contains("webm") || container.contains("matroska") {
        VideoContentType::WebM
    } else if container.contains("mov") || container.contains("quicktime") {
        VideoContentType::QuickTime
    } else {
        VideoContentType::Mp4
    }
}

fn creator_info_json(info: &tiktok::CreatorInfo) -> Value {
    let mut options: Vec<String> = info
        .privacy_level_options
        .iter()
        .map(|level| level.as_str().to_owned())
        .collect();
    options.extend(info.unrecognised_privacy_options.iter().cloned());
    json!({
        "creator_avatar_url": info.creator_avatar_url,
        "creator_username": info.creator_username,
        "creator_nickname": info.creator_nickname,
        "privacy_level_options": options,
        "comment_disabled": info.comment_disabled,
        "duet_disabled": info.duet_disabled,
        "stitch_disabled": info.stitch_disabled,
        "max_video_post_duration_sec": info.max_video_post_duration_sec,
    })
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
