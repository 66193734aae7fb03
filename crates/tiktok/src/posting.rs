//! Content Posting API (tiktok-api.md §3–§9): creator info, the three inits, status fetch and
//! cancel.
//!
//! Every answer is judged by `error.code`, whatever the HTTP status. This module decides
//! nothing about what to do next: it returns values or classified failures.

use serde::Serialize;

use crate::client::TikTokClient;
use crate::failure::{self, AnswerShape, TikTokFailure};
use crate::wire::{
    AccessToken, CreatorInfo, DirectVideoInit, InboxVideoInit, PhotoInit, PublishId, PublishInit,
    PublishInitWire, PublishStatusReport, PublishStatusWire, UploadUrl, VideoSource,
};

const CREATOR_INFO_PATH: &str = "v2/post/publish/creator_info/query/";
const VIDEO_INIT_PATH: &str = "v2/post/publish/video/init/";
const INBOX_VIDEO_INIT_PATH: &str = "v2/post/publish/inbox/video/init/";
const CONTENT_INIT_PATH: &str = "v2/post/publish/content/init/";
const STATUS_FETCH_PATH: &str = "v2/post/publish/status/fetch/";
const CANCEL_PATH: &str = "v2/post/publish/cancel/";

#[derive(Serialize)]
struct PublishIdBody<'a> {
    publish_id: &'a str,
}

impl TikTokClient {
    /// The creator's current posting options. Posting caps come back as failures even though
    /// TikTok answers them with HTTP 200.
    ///
    /// # Errors
    /// A classified [`TikTokFailure`].
    pub async fn creator_info(&self, token: &AccessToken) -> Result<CreatorInfo, TikTokFailure> {
        let answer = self
            .post_json(CREATOR_INFO_PATH, token, None::<&()>)
            .await?;
        let data = failure::judge(answer.status, &answer.body, AnswerShape::Envelope)?;
        CreatorInfo::from_data(data)
            .map_err(|_| malformed_data(answer.status, &answer.body, "creator info"))
    }

    /// Starts a Direct Post video (`video.publish`).
    ///
    /// # Errors
    /// A classified [`TikTokFailure`]; a file-upload answer without `upload_url` is
    /// `malformed_response`.
    pub async fn init_direct_video(
        &self,
        token: &AccessToken,
        init: &DirectVideoInit,
    ) -> Result<PublishInit, TikTokFailure> {
        self.video_init(VIDEO_INIT_PATH, token, init, &init.source_info)
            .await
    }

    /// Sends a video to the user's inbox as a draft (`video.upload`).
    ///
    /// # Errors
    /// As [`TikTokClient::init_direct_video`].
    pub async fn init_inbox_video(
        &self,
        token: &AccessToken,
        init: &InboxVideoInit,
    ) -> Result<PublishInit, TikTokFailure> {
        self.video_init(INBOX_VIDEO_INIT_PATH, token, init, &init.source_info)
            .await
    }

    /// Starts a photo post, direct or as an inbox draft.
    ///
    /// # Errors
    /// A classified [`TikTokFailure`].
    pub async fn init_photo(
        &self,
        token: &AccessToken,
        init: &PhotoInit,
    ) -> Result<PublishId, TikTokFailure> {
        let answer = self.post_json(CONTENT_INIT_PATH, token, Some(init)).await?;
        let data = failure::judge(answer.status, &answer.body, AnswerShape::Envelope)?;
        let wire: PublishInitWire = failure::decode(answer.status, &answer.body, data)?;
        Ok(wire.publish_id)
    }

    /// The current state of a publish.
    ///
    /// # Errors
    /// A classified [`TikTokFailure`]. A `FAILED` status is *not* an error here: it is a
    /// report whose `fail_reason` converts with
    /// [`TikTokFailure::from_fail_reason`] (see [`PublishStatusReport::failure`]).
    pub async fn fetch_status(
        &self,
        token: &AccessToken,
        publish_id: &PublishId,
    ) -> Result<PublishStatusReport, TikTokFailure> {
        let body = PublishIdBody {
            publish_id: publish_id.as_str(),
        };
        let answer = self
            .post_json(STATUS_FETCH_PATH, token, Some(&body))
            .await?;
        let data = failure::judge(answer.status, &answer.body, AnswerShape::Envelope)?;
        let wire: PublishStatusWire = failure::decode(answer.status, &answer.body, data)?;
        Ok(PublishStatusReport {
            status: wire.status,
            fail_reason: wire.fail_reason.filter(|reason| !reason.is_empty()),
            public_post_ids: wire.publicaly_available_post_id,
            uploaded_bytes: wire.uploaded_bytes,
            downloaded_bytes: wire.downloaded_bytes,
            raw_body: answer.body,
        })
    }

    /// Asks TikTok to stop a pull-from-URL publish (best effort).
    ///
    /// # Errors
    /// A classified [`TikTokFailure`] (`publish_not_cancellable` once final).
    pub async fn cancel(
        &self,
        token: &AccessToken,
        publish_id: &PublishId,
    ) -> Result<(), TikTokFailure> {
        let body = PublishIdBody {
            publish_id: publish_id.as_str(),
        };
        let answer = self.post_json(CANCEL_PATH, token, Some(&body)).await?;
        failure::judge(answer.status, &answer.body, AnswerShape::Envelope).map(|_| ())
    }

    async fn video_init(
        &self,
        path: &str,
        token: &AccessToken,
        body: &impl Serialize,
        source: &VideoSource,
    ) -> Result<PublishInit, TikTokFailure> {
        let answer = self.post_json(path, token, Some(body)).await?;
        let data = failure::judge(answer.status, &answer.body, AnswerShape::Envelope)?;
        let wire: PublishInitWire = failure::decode(answer.status, &answer.body, data)?;
        if matches!(source, VideoSource::FileUpload(_)) && wire.upload_url.is_none() {
            return Err(malformed_data(
                answer.status,
                &answer.body,
                "file-upload init without upload_url",
            ));
        }
        Ok(PublishInit {
            publish_id: wire.publish_id,
            upload_url: wire.upload_url.map(UploadUrl::new),
        })
    }
}

fn malformed_data(status: u16, body: &str, what: &str) -> TikTokFailure {
    TikTokFailure {
        message: Some(format!("unexpected {what} data")),
        ..TikTokFailure::from_status(
            crate::catalog::ids::MALFORMED_RESPONSE,
            status,
            body.to_owned(),
        )
    }
}

impl PublishStatusReport {
    /// The failure a `FAILED` report describes (its `fail_reason`, classified), or `None` for
    /// any other status. A `FAILED` without a reason classifies as unknown.
    #[must_use]
    pub fn failure(&self) -> Option<TikTokFailure> {
        if self.status != crate::wire::PublishStatus::Failed {
            return None;
        }
        let reason = self.fail_reason.as_deref().unwrap_or("");
        Some(TikTokFailure::from_fail_reason(
            reason,
            self.raw_body.clone(),
        ))
    }
}
