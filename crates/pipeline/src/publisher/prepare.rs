//! Steps 1 to 3: lateness and preflight, a fresh token, the creator's current options.

use super::*;

impl Publisher {
    /// Step 1: lateness, then preflight against the latest snapshot and the caps.
    pub(super) async fn start(&self, job: &Job, post: &Post) -> Next {
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
            self.media.as_ref(),
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
        if let Some(why) = report.media_unavailable {
            return transient(format!("the media store cannot be read now: {why}"));
        }
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
        // Prepared ahead, a cap that frees by the post's time does not hold it back; the init
        // asks again at the time.
        if let Some(block) = report
            .cap
            .filter(|block| block.frees_at > post.scheduled_at.at())
        {
            return self.defer_for_block(&post, block).await;
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
    pub(super) async fn check_creator(&self, job: &Job, post: &Post, refreshed: bool) -> Next {
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
                    return match self.refresh_now(post, &token).await {
                        Ok(()) => Box::pin(self.check_creator(job, post, true)).await,
                        Err(next) => next,
                    };
                }
                return self.on_failure(job, post, &failure, decision).await;
            }
        };
        let now = self.clock.now();
        let snapshot = creator_info_snapshot(&info);
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
            self.media.as_ref(),
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
        if let Some(why) = report.media_unavailable {
            return transient(format!("the media store cannot be read now: {why}"));
        }
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

    /// Fetches and stores the creator's current options (a `SyncCreatorInfo` job).
    pub(super) async fn sync_creator_info(&self, job: &Job) -> JobOutcome {
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
                .save_creator_info(account, &creator_info_snapshot(&info), self.clock.now())
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
}
