//! Step 6: tracking TikTok's status with back-off until the publish is final, and a while longer
//! for the public post id.
//!
//! An inbox draft stays *pending* at TikTok (5 at most in 24 h per creator) until the creator
//! posts it; so does the share tokpost counts against that cap. A delivered draft's status is
//! therefore looked at again every [`INBOX_DRAFT_POLL`] for [`INBOX_DRAFT_WATCH`] (TikTok's
//! `post.publish.complete` webhook asks at once), and once TikTok reports it posted, its share is
//! released: the creator may get another draft that day.

use super::*;

/// How often a delivered inbox draft's status is asked for.
const INBOX_DRAFT_POLL: Duration = Duration::from_secs(3_600);
/// How long a delivered draft is watched: past it, the share has left TikTok's 24-hour window.
const INBOX_DRAFT_WATCH: Duration = Duration::from_secs(24 * 3_600);

impl Publisher {
    pub(super) fn status_job(
        &self,
        post: PostId,
        account: tokpost_core::AccountId,
        at: Timestamp,
    ) -> NewJob {
        NewJob {
            kind: JobKind::CheckPublishStatus,
            payload: json!({}),
            account_id: Some(account),
            post_id: Some(post),
            run_at: at,
            dedupe_key: Some(format!("status:{post}")),
        }
    }

    pub(super) async fn ensure_status_job(&self, post: &Post) -> Result<(), StoreError> {
        if post.progress.publish_id.is_none() {
            // Nothing to ask TikTok about (a lost pull init): the user decides.
            return Ok(());
        }
        let job = self.status_job(post.id, post.account_id, self.clock.now());
        self.store.enqueue(job, self.clock.now()).await.map(|_| ())
    }

    pub(super) async fn track_status(&self, job: &Job) -> JobOutcome {
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
            StateKind::Processing
                | StateKind::Uncertain
                | StateKind::Published
                | StateKind::InboxDelivered
        );
        let Some(publish_id) = post.progress.publish_id.clone().filter(|_| tracking) else {
            return JobOutcome::Done;
        };
        match self.check_status_once(job, &post, &publish_id, false).await {
            Next::Continue(_) => JobOutcome::Done,
            Next::Stop(outcome) => outcome,
        }
    }

    pub(super) async fn check_status_once(
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
                    Decision::RefreshAndResend => match self.refresh_now(post, &token).await {
                        Ok(()) => {
                            Box::pin(self.check_status_once(job, post, publish_id, true)).await
                        }
                        Err(next) => next,
                    },
                    Decision::Backoff => Next::Stop(JobOutcome::RetryAt {
                        at: clock::add(
                            self.clock.now(),
                            self.policy
                                .status_polling
                                .delay_after(tracked_for(job, self.clock.now())),
                        ),
                        reason: format!("status fetch failed: {}", failure.classification().id()),
                    }),
                    other => self.on_failure(job, post, &failure, other).await,
                };
            }
        };
        self.on_status(job, post, report).await
    }

    pub(super) async fn on_status(
        &self,
        job: &Job,
        post: &Post,
        report: PublishStatusReport,
    ) -> Next {
        let now = self.clock.now();
        let native = native_json(&report.raw_body);
        let ids: Vec<String> = report
            .public_post_ids
            .iter()
            .map(ToString::to_string)
            .collect();
        let polling = self.policy.status_polling;
        let since_tracking = non_negative(now.duration_since(job.created_at));
        if post.state.kind() == StateKind::InboxDelivered {
            // A delivered draft is final here; only its posting by the creator is news.
            return match report.status {
                PublishStatus::PublishComplete => self.inbox_draft_posted(post, &ids, native).await,
                PublishStatus::SendToUserInbox => Self::watch_inbox_draft(since_tracking, now),
                _ => done(),
            };
        }
        match &report.status {
            PublishStatus::PublishComplete => {
                if post.state.kind() == StateKind::Published
                    && (ids.is_empty() || ids == post.progress.public_post_ids)
                {
                    return self.poll_for_post_ids(post, since_tracking).await;
                }
                let mut progress = post.progress.clone();
                progress.public_post_ids.clone_from(&ids);
                let message = if ids.is_empty() {
                    "published; TikTok has not reported the public post id yet".to_owned()
                } else {
                    format!("published: post id {}", ids.join(", "))
                };
                let transition = Transition {
                    post: post.id,
                    expected: post.state,
                    to: PostState::Published,
                    event: NewPostEvent::new(now, EventKind::TiktokResponse, message)
                        .with_native_response(native),
                    progress: Some(progress),
                    quota_use: None,
                    next_job: None,
                    completes: None,
                    lease: None,
                };
                // With the public post id known, the checks end with this move.
                let moved = if ids.is_empty() {
                    self.apply(transition).await
                } else {
                    self.apply_finishing(transition).await
                };
                if matches!(moved, Next::Continue(_)) && post.state.kind() != StateKind::Published {
                    metrics::histogram!("tokpost_publish_latency_seconds").record(
                        now.duration_since(post.scheduled_at.at())
                            .as_secs_f64()
                            .max(0.0),
                    );
                }
                match moved {
                    Next::Continue(_) if ids.is_empty() => {
                        self.poll_for_post_ids(post, since_tracking).await
                    }
                    Next::Continue(_) => done(),
                    stop @ Next::Stop(_) => stop,
                }
            }
            PublishStatus::SendToUserInbox => {
                let event = NewPostEvent::new(now, EventKind::TiktokResponse, "delivered to the creator's TikTok inbox; the creator finishes the post in the app")
                    .with_native_response(native);
                match self.move_post(post, PostState::InboxDelivered, event).await {
                    Next::Continue(_) => Self::watch_inbox_draft(since_tracking, now),
                    stop @ Next::Stop(_) => stop,
                }
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
                            at: clock::add(now, polling.delay_after(tracked_for(job, now))),
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
                    at: clock::add(now, polling.delay_after(tracked_for(job, now))),
                    reason: format!("TikTok: {}", report.status.as_str()),
                })
            }
        }
    }

    /// The next look at a delivered inbox draft, or none once it has left the 24-hour window.
    fn watch_inbox_draft(since_tracking: Duration, now: Timestamp) -> Next {
        if since_tracking >= INBOX_DRAFT_WATCH {
            return done();
        }
        Next::Stop(JobOutcome::RetryAt {
            at: clock::add(now, INBOX_DRAFT_POLL),
            reason: "the inbox draft is pending until the creator posts it".to_owned(),
        })
    }

    /// TikTok reports a delivered draft posted by its creator: the share is no longer pending,
    /// and the history says so (with the public post ids when TikTok gives them).
    async fn inbox_draft_posted(&self, post: &Post, ids: &[String], native: Value) -> Next {
        let now = self.clock.now();
        let kind = QuotaKind::InboxShare;
        match self.store.release_quota_use(post.id, kind, now).await {
            Ok(released) => {
                if released {
                    tracing::info!(post = %post.id, "the creator posted the inbox draft; its pending share is released");
                }
            }
            Err(error) => return error.into(),
        }
        if self.status_changed(post, "PUBLISH_COMPLETE").await {
            let posted = if ids.is_empty() {
                "the creator posted the draft from the TikTok inbox; it no longer counts as a pending share".to_owned()
            } else {
                format!(
                    "the creator posted the draft from the TikTok inbox (post id {}); it no longer counts as a pending share",
                    ids.join(", ")
                )
            };
            let event = NewPostEvent::new(now, EventKind::TiktokResponse, posted)
                .with_native_response(native);
            if let Err(error) = self.store.append_post_event(post.id, event).await {
                return error.into();
            }
        }
        done()
    }

    /// Asks again for the public id of a published post, until the policy gives up on status
    /// fetch: then the account's snapshot pass looks for the post among the creator's public
    /// videos, if insights may read them.
    pub(super) async fn poll_for_post_ids(&self, post: &Post, since_tracking: Duration) -> Next {
        let polling = self.policy.status_polling;
        if since_tracking > polling.post_ids_for {
            let readable = matches!(
                self.store.account(post.account_id).await,
                Ok(Some(account)) if account.has_scope(tokpost_core::Scope::VIDEO_LIST)
            );
            if readable
                && let Err(error) = self
                    .store
                    .snapshot_due(post.account_id, self.clock.now())
                    .await
            {
                return Next::Stop(JobOutcome::Transient {
                    error: format!("store: {error}"),
                });
            }
            return done();
        }
        Next::Stop(JobOutcome::RetryAt {
            at: clock::add(self.clock.now(), polling.delay_after(since_tracking)),
            reason: "waiting for the public post id".to_owned(),
        })
    }

    pub(super) async fn status_changed(&self, post: &Post, status: &str) -> bool {
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
}

/// How long the status job has been tracking its publish.
fn tracked_for(job: &Job, now: Timestamp) -> Duration {
    non_negative(now.duration_since(job.created_at))
}
