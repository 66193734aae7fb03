//! Step 4: the init request (direct or inbox video, photos), sent after an `init_requested`
//! event so that a lost answer is recognised, its publish id stored before any byte moves.

use tokpost_store::InitRecord;

use super::*;

/// How a definite refusal of an init starts in the post's history: TikTok did not take it.
const INIT_REFUSED: &str = "init refused";

/// What follows an init TikTok did not take.
pub(super) enum Refused {
    /// The token was refreshed: send the init again.
    SendAgain,
    /// The job ends here for now.
    Stop(Next),
}

impl Publisher {
    /// Step 4: init, with the publish id stored before any byte is sent.
    pub(super) async fn init(&self, job: &Job, post: &Post) -> Next {
        let now = self.clock.now();
        let events = match self.store.post_events(post.id).await {
            Ok(events) => events,
            Err(error) => return error.into(),
        };
        let answer_lost = events
            .last()
            .is_some_and(|event| event.kind == EventKind::InitRequested);
        // Only inits TikTok may have taken count against the re-init budget; one it refused
        // outright (a 5xx, a rate limit) is the transient budget's business.
        let inits_so_far = events
            .iter()
            .enumerate()
            .filter(|(at, event)| {
                event.kind == EventKind::InitRequested
                    && !events.get(at + 1).is_some_and(|answer| {
                        answer.kind == EventKind::TiktokResponse
                            && answer.message.starts_with(INIT_REFUSED)
                    })
            })
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
                        "TikTok took {inits_so_far} inits of this post and none became a publish (answers lost, or uploads that expired); retry it later"
                    ),
                    None,
                )
                .await;
        }
        if post.state.kind() == StateKind::CreatorChecked {
            match caps::admit_for_init(
                self.store.as_ref(),
                &self.policy,
                post.account_id,
                post.spec.mode,
                now,
            )
            .await
            {
                Ok(Some(block)) => {
                    return self.defer_for_block(post, block).await;
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
            if refreshed {
                // The resend is a request of its own: it takes a slot of the init limit too.
                if let Some(wait) = self.rate_limit(post, INIT).await {
                    return wait;
                }
            }
            let token = match self.token(post).await {
                Ok(token) => token,
                Err(next) => return next,
            };
            // Recorded only while the post is where this step read it and the job is still
            // this worker's: a cancel that came first, or another worker, stops the send. From
            // here until the answer is stored the post cannot be cancelled.
            let lease = match self.lease() {
                Ok(lease) => lease,
                Err(stop) => return stop,
            };
            match self
                .store
                .record_init_request(
                    post.id,
                    &post.state,
                    NewPostEvent::new(self.clock.now(), EventKind::InitRequested, note),
                    lease,
                )
                .await
            {
                Ok(InitRecord::Recorded) => {}
                Ok(InitRecord::Moved { current }) => {
                    tracing::info!(post = %post.id, state = %current.kind(), "the post moved before its init was sent; nothing sent");
                    return moved_on(self.clock.now());
                }
                Ok(InitRecord::LeaseLost) => return done(),
                Err(error) => return error.into(),
            }
            match self.send_init(&token, &request).await {
                Ok(init) => return self.initialized(post, init).await,
                Err(failure) => match self
                    .init_refused(job, post, &token, &failure, refreshed)
                    .await
                {
                    Refused::SendAgain => refreshed = true,
                    Refused::Stop(next) => return next,
                },
            }
        }
    }

    /// What follows an init TikTok did not take: a rejected token is refreshed and the init
    /// sent again (once); a lost answer makes a pull `uncertain`; anything else is recorded
    /// as TikTok's answer (so that a later run does not take the init for lost) and decided
    /// by [`crate::policy::decide`].
    pub(super) async fn init_refused(
        &self,
        job: &Job,
        post: &Post,
        token: &AccessToken,
        failure: &TikTokFailure,
        refreshed: bool,
    ) -> Refused {
        let step = if is_pull(&post.spec) {
            Step::InitPull
        } else {
            Step::InitFileUpload
        };
        let decision = decide(failure, step, refreshed);
        if decision == Decision::RefreshAndResend {
            if let Err(next) = self
                .note_answer(
                    post,
                    failure,
                    &format!("{INIT_REFUSED}: the access token was rejected; refreshing it and sending again"),
                )
                .await
            {
                return Refused::Stop(next);
            }
            return match self.refresh_now(post, token).await {
                Ok(()) => Refused::SendAgain,
                Err(next) => Refused::Stop(next),
            };
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
            return Refused::Stop(self.move_post(post, PostState::Uncertain, event).await);
        }
        if let Err(next) = self.note_answer(post, failure, INIT_REFUSED).await {
            return Refused::Stop(next);
        }
        Refused::Stop(self.on_failure(job, post, failure, decision).await)
    }

    pub(super) async fn send_init(
        &self,
        token: &AccessToken,
        request: &InitRequest,
    ) -> Result<PublishInit, TikTokFailure> {
        match request {
            InitRequest::DirectVideo(init) => self.client.init_direct_video(token, init).await,
            InitRequest::InboxVideo(init) => self.client.init_inbox_video(token, init).await,
            InitRequest::Photo(init) => {
                self.client
                    .init_photo(token, init)
                    .await
                    .map(|publish_id| PublishInit {
                        publish_id,
                        upload_url: None,
                    })
            }
        }
    }

    pub(super) async fn initialized(&self, post: &Post, init: PublishInit) -> Next {
        let transition = match self.initialized_transition(post, &init).await {
            Ok(transition) => transition,
            Err(next) => return next,
        };
        let publish_id = transition
            .progress
            .as_ref()
            .and_then(|p| p.publish_id.clone());
        match self.apply(transition).await {
            Next::Continue(initialized) if initialized.state.kind() == StateKind::Initialized => {
                self.after_init(&initialized).await
            }
            // The post moved while the init was at TikTok (only another worker can move it
            // then): TikTok's answer is still the truth, so its publish id is kept.
            Next::Continue(moved) => self.answer_for_moved_post(&moved, publish_id).await,
            stop @ Next::Stop(_) => stop,
        }
    }

    /// TikTok took an init of a post that has moved since it was sent: the publish id goes
    /// into the post's history (never lost), and a post whose state leaves the outcome open
    /// (`uncertain`) learns it from TikTok's status.
    async fn answer_for_moved_post(&self, moved: &Post, publish_id: Option<PublishId>) -> Next {
        let Some(publish_id) = publish_id else {
            return moved_on(self.clock.now());
        };
        tracing::warn!(post = %moved.id, state = %moved.state.kind(), %publish_id, "TikTok took an init of a post that moved meanwhile; its publish id is kept");
        let event = NewPostEvent::new(
            self.clock.now(),
            EventKind::TiktokResponse,
            format!(
                "TikTok took an init sent before the post moved to {}: publish id {publish_id}",
                moved.state.kind()
            ),
        )
        .with_native_response(json!({ "publish_id": publish_id.as_str() }));
        if moved.state.kind() == StateKind::Uncertain && moved.progress.publish_id.is_none() {
            let mut progress = moved.progress.clone();
            progress.publish_id = Some(publish_id);
            let transition = Transition {
                post: moved.id,
                expected: moved.state,
                to: PostState::Processing,
                event,
                progress: Some(progress),
                quota_use: None,
                next_job: Some(self.status_job(moved.id, moved.account_id, self.clock.now())),
                completes: None,
                lease: None,
            };
            return match self.apply(transition).await {
                Next::Continue(_) | Next::Stop(_) => done(),
            };
        }
        match self.store.append_post_event(moved.id, event).await {
            Ok(_) => moved_on(self.clock.now()),
            Err(error) => error.into(),
        }
    }

    /// The move to `initialized` with the publish id, the upload URL and the quota use,
    /// stored before any byte moves. An unusable publish id fails the post instead.
    pub(super) async fn initialized_transition(
        &self,
        post: &Post,
        init: &PublishInit,
    ) -> Result<Transition, Next> {
        let now = self.clock.now();
        let publish_id = match PublishId::new(init.publish_id.as_str()) {
            Ok(id) => id,
            Err(error) => {
                return Err(self
                    .fail(
                        post,
                        RequiredAction::RetryLater,
                        Actor::Tiktok,
                        format!("TikTok answered the init with an unusable publish id: {error}"),
                        None,
                    )
                    .await);
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
        Ok(Transition {
            post: post.id,
            expected: post.state,
            to: PostState::Initialized,
            event: NewPostEvent::new(
                now,
                EventKind::TiktokResponse,
                format!("initialized: publish id {publish_id}"),
            )
            .with_native_response(json!({ "publish_id": publish_id.as_str() })),
            progress: Some(progress),
            quota_use: Some(quota),
            next_job: None,
            completes: None,
            lease: None,
        })
    }

    /// What follows an init stored as `initialized`: a file upload yields, queued behind every
    /// init already due (in a burst of posts due together, no upload takes a worker from a
    /// waiting init); a pull goes to processing, TikTok fetching by itself.
    pub(super) async fn after_init(&self, initialized: &Post) -> Next {
        if initialized.progress.upload_url.is_some() {
            return Next::Stop(JobOutcome::RetryAt {
                at: self.clock.now(),
                reason: "initialized; the upload follows the inits already due".to_owned(),
            });
        }
        self.to_processing(initialized, "TikTok is fetching the media")
            .await
    }

    pub(super) async fn init_request(&self, post: &Post) -> Result<InitRequest, Next> {
        let spec = &post.spec;
        match &spec.content {
            PostContent::Video {
                caption,
                cover_timestamp_ms,
                media,
            } => {
                let asset = self.asset(post, *media).await?;
                let source = match spec.source {
                    UploadSource::FileUpload => match ChunkPlan::for_size(asset.size_bytes) {
                        Ok(plan) => VideoSource::FileUpload(plan),
                        Err(error) => {
                            return Err(self
                                .fail_input(post, format!("the video cannot be uploaded: {error}"))
                                .await);
                        }
                    },
                    UploadSource::PullFromUrl => {
                        VideoSource::PullFromUrl(self.pull_url(post, &asset).await?)
                    }
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
                    let asset = self.asset(post, *id).await?;
                    urls.push(self.pull_url(post, &asset).await?);
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

impl Publisher {
    /// The URL TikTok downloads an asset from: the registered URL, or for an uploaded file a
    /// fresh signed URL under the pull base (signed at each init, so a retry never hands TikTok
    /// an expired one).
    async fn pull_url(&self, post: &Post, asset: &MediaAsset) -> Result<Url, Next> {
        let problem = match MediaLocation::of(&asset.location) {
            MediaLocation::Url(text) => match Url::parse(&text) {
                Ok(url) => return Ok(url),
                Err(error) => format!("the URL of media {} is not valid: {error}", asset.id),
            },
            MediaLocation::Stored(key) => {
                match self.media.as_ref().and_then(|media| media.signed_url(&key)) {
                    Some(url) => return Ok(url),
                    None => format!(
                        "media {} is an uploaded file and no media.pull_base_url is configured, so TikTok has nothing to pull",
                        asset.id
                    ),
                }
            }
            MediaLocation::LocalFile(_) => format!(
                "media {} is a file on one machine's disk; TikTok can only pull it once it is in the media store",
                asset.id
            ),
        };
        Err(self.fail_input(post, problem).await)
    }
}

/// The three init requests.
pub(super) enum InitRequest {
    DirectVideo(DirectVideoInit),
    InboxVideo(InboxVideoInit),
    Photo(PhotoInit),
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
