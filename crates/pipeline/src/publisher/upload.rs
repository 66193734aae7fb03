//! Step 5: the resumable upload, storing every acknowledged chunk, and the new init that follows
//! only a dead upload URL with the upload incomplete.

use super::*;

impl Publisher {
    /// Step 5: upload from the stored offset, storing each acknowledged chunk; a dead upload URL
    /// with the upload incomplete means a new init.
    pub(super) async fn upload_or_reinit(&self, job: &Job, post: &Post) -> Next {
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
        let (asset, source) = match self.video_file(post).await {
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
                    .fail_input(
                        post,
                        format!("the video cannot be uploaded in chunks: {error}"),
                    )
                    .await;
            }
        };
        let upload = UploadJob {
            upload_url: UploadUrl::new(url),
            source,
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
                // A status request like any other: only with a slot of the creator's status
                // limit free (else the upload goes on without learning TikTok's offset).
                if self.rate_limit(post, STATUS).await.is_some() {
                    return None;
                }
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
        // An offset that cannot be recorded (the post moved, the lease was lost or lapsed)
        // stops the sending at once: no further chunk leaves for a job this worker no longer
        // runs.
        tokio::pin!(sending, recording);
        let (outcome, (current, recorded)) = tokio::select! {
            recorded = &mut recording => {
                if !recorded.1 {
                    return transient("the post moved or the job's lease was lost while uploading; the upload stopped");
                }
                (sending.await, recorded)
            }
            outcome = &mut sending => (outcome, recording.await),
        };
        if !recorded {
            return transient(
                "the post moved or the job's lease was lost while uploading; the upload stopped",
            );
        }
        match outcome {
            Err(tiktok::UploadError::Io { path, source })
                if source.kind() != std::io::ErrorKind::NotFound
                    && matches!(MediaLocation::of(&asset.location), MediaLocation::Stored(_)) =>
            {
                // The shared store failing is not the user's input: the chunk is sent again
                // later from the stored offset.
                transient(format!("reading {} failed: {source}", path.display()))
            }
            Err(error) => {
                self.fail_input(
                    &current,
                    format!("the video file cannot be read for upload: {error}"),
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
    pub(super) async fn record_upload_progress(&self, post: &Post, bytes: u64) -> Option<Post> {
        let lease = self.lease().ok()?;
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
            lease,
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

    pub(super) async fn reinit_after_dead_upload(&self, job: &Job, post: &Post, why: &str) -> Next {
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
            lease: None,
        };
        match self.apply(transition).await {
            Next::Continue(post) => self.init(job, &post).await,
            stop @ Next::Stop(_) => stop,
        }
    }

    pub(super) async fn to_processing(&self, post: &Post, message: &str) -> Next {
        self.to_processing_with(post, post.progress.clone(), message)
            .await
    }

    pub(super) async fn to_processing_with(
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
            lease: None,
        };
        // The status checks are the next job's: this one ends with the move.
        match self.apply_finishing(transition).await {
            Next::Continue(_) => done(),
            stop @ Next::Stop(_) => stop,
        }
    }

    /// The post's video and where the uploader reads its bytes.
    pub(super) async fn video_file(&self, post: &Post) -> Result<(MediaAsset, ChunkSource), Next> {
        let PostContent::Video { media, .. } = &post.spec.content else {
            return Err(transient("a file upload of a post without a video"));
        };
        let asset = self.asset(post, *media).await?;
        let source = match MediaLocation::of(&asset.location) {
            MediaLocation::Stored(key) => match &self.media {
                Some(media) => media.chunk_source(key),
                None => {
                    return Err(transient(format!(
                        "media {} is in the media store, and this process has no [media] configuration",
                        asset.id
                    )));
                }
            },
            MediaLocation::LocalFile(path) => ChunkSource::File(path),
            MediaLocation::Url(_) => {
                return Err(self
                    .fail_input(post, "a file upload of media registered by URL".to_owned())
                    .await);
            }
        };
        Ok((asset, source))
    }

    /// A media asset of the post; a deleted one fails the post.
    pub(super) async fn asset(
        &self,
        post: &Post,
        id: tokpost_core::MediaId,
    ) -> Result<MediaAsset, Next> {
        match self.store.media(id).await {
            Ok(Some(asset)) => Ok(asset),
            Ok(None) => Err(self
                .fail_input(post, format!("media {id} no longer exists"))
                .await),
            Err(error) => Err(error.into()),
        }
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
