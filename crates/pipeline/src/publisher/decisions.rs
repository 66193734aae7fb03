//! What the publisher does once `policy::decide` has judged a failure: retry, wait, defer, wait
//! for a reconnect, start over, or fail naming who acts.

use super::*;

impl Publisher {
    pub(super) async fn on_failure(
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

    pub(super) async fn retry_or_give_up(
        &self,
        job: &Job,
        post: &Post,
        failure: &TikTokFailure,
    ) -> Next {
        // This failure and the step's earlier ones (claims lost to a stopped worker are not
        // failures of the step).
        let failures = job.failures.saturating_add(1);
        if failures >= self.policy.transient_attempts {
            let entry = failure.classification().entry();
            return self
                .fail(
                    post,
                    required_action(entry.and_then(|entry| entry.action)),
                    actor(entry.map_or(&[][..], |entry| entry.who_acts)),
                    format!(
                        "{} persisted after {} attempts",
                        failure.classification().id(),
                        failures
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

    pub(super) async fn reinit_later(&self, post: &Post, at: Timestamp, why: &str) -> Next {
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
            lease: None,
        };
        match self.apply(transition).await {
            Next::Continue(_) => done(),
            stop @ Next::Stop(_) => stop,
        }
    }

    /// Defers (or fails, by policy) a post a counted cap blocks, until the slot frees.
    pub(super) async fn defer_for_block(&self, post: &Post, block: crate::caps::CapBlock) -> Next {
        self.defer_for_cap(
            post,
            block.why,
            block.frees_at,
            Some((block.used, block.cap)),
        )
        .await
    }

    pub(super) async fn defer_for_cap(
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
            lease: None,
        };
        match self.apply(transition).await {
            Next::Continue(_) => done(),
            stop @ Next::Stop(_) => stop,
        }
    }

    pub(super) async fn learn_cap(&self, post: &Post, now: Timestamp) {
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

    pub(super) async fn wait_for_reconnect(&self, post: &Post, why: &str) -> Next {
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
            lease: None,
        };
        match self.apply(transition).await {
            Next::Continue(_) => done(),
            stop @ Next::Stop(_) => stop,
        }
    }

    /// A waiting post continues where its progress allows once the account is connected again.
    pub(super) async fn resume_after_reconnect(&self, post: &Post, job: Option<&Job>) -> Next {
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
            lease: None,
        };
        self.apply(transition).await
    }

    pub(super) async fn fail(
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
        let failed = self
            .move_post(post, PostState::Failed { action, who }, event)
            .await;
        if post.spec.mode == PostMode::Inbox && matches!(failed, Next::Continue(_)) {
            // A draft that never reached the inbox is no pending share at TikTok.
            if let Err(error) = self
                .store
                .release_quota_use(post.id, QuotaKind::InboxShare, self.clock.now())
                .await
            {
                tracing::warn!(post = %post.id, %error, "could not release the failed draft's inbox share; it counts until its 24 hours pass");
            }
        }
        failed
    }

    /// Fails the post for something the user must change (the media, the caption, a setting).
    pub(super) async fn fail_input(&self, post: &Post, message: String) -> Next {
        self.fail(post, RequiredAction::FixInput, Actor::User, message, None)
            .await
    }

    pub(super) async fn note_answer(
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
}
