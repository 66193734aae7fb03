//! Autofix over HTTP: `POST /v1/media/{id}/fix` asks for a new media item made from one TikTok
//! would reject (the original stays), run as a durable job; `GET /v1/media/{id}` shows its
//! progress and outcome. With a post, the fixed item replaces the original in that post when
//! the post is still at the revision the request saw.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokpost_core::{Action, MediaFixId, MediaId, Post, PostId};
use tokpost_pipeline::media_fix::{FixChoices, PhotoChoice};
use tokpost_pipeline::preflight::CreatorFacts;
use tokpost_store::{Inserted, MediaFix, NewMediaFix};
use utoipa::ToSchema;

use super::media::{MediaView, is_url_location, media_view, owned_media};
use super::post_changes::check_revision;
use super::posts::owned_post;
use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::parse_id;
use crate::state::AppState;

/// A fix and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FixView {
    #[schema(value_type = String, format = Uuid)]
    id: MediaFixId,
    /// `queued`, `running`, `fixed`, `unfixable` or `failed`.
    state: String,
    /// 0–1 while ffmpeg runs; 1 once fixed.
    progress: f64,
    /// What ffmpeg is doing ("video av1 → h264").
    stage: Option<String>,
    /// Every aspect changed or deliberately kept: `aspect`, `from`, `to` (absent when kept),
    /// `how`, `answers` (the preflight code it answers), `why`, `summary`.
    #[schema(value_type = Vec<Object>)]
    changes: Value,
    /// Why it is unfixable or failed, or what became of the swap into the post.
    message: Option<String>,
    /// The new media item, once fixed (the same item when nothing needed to change).
    #[schema(value_type = Option<String>, format = Uuid)]
    fixed_media_id: Option<MediaId>,
    /// The post the fixed item goes into.
    #[schema(value_type = Option<String>, format = Uuid)]
    post_id: Option<PostId>,
    /// What the request allowed.
    #[schema(value_type = Object)]
    options: Value,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<MediaFix> for FixView {
    fn from(fix: MediaFix) -> Self {
        Self {
            id: fix.id,
            state: fix.state.as_str().to_owned(),
            progress: f64::from(fix.progress_permille) / 1000.0,
            stage: fix.stage,
            changes: fix.changes,
            message: fix.message,
            fixed_media_id: fix.result_media_id,
            post_id: fix.post.map(|(post, _)| post),
            options: fix.options,
            created_at: fix.created_at,
            updated_at: fix.updated_at,
        }
    }
}

/// What a fix may do beyond the smallest change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixRequest {
    /// Put the fixed item in place of this one in this post (which must use it and still be
    /// editable).
    post_id: Option<String>,
    /// The post's revision the caller saw; the swap happens only if it is still at it (default:
    /// its current revision).
    revision: Option<u32>,
    /// The longest the video may play, in seconds (default: the post's creator's maximum when
    /// a post is given, else TikTok's 600).
    max_duration_secs: Option<u32>,
    /// Cut the end of a video longer than the maximum (never done unless asked).
    trim: Option<bool>,
    /// Scale a video under 360 px up (never done unless asked).
    upscale: Option<bool>,
    /// `jpeg` or `webp` for photos (default: JPEG and WebP stay, the rest become JPEG).
    photo_format: Option<String>,
}

/// Fixes a media item TikTok would reject: a new item, made by a job (ffmpeg), the original
/// kept. Its progress and outcome are in `GET /v1/media/{id}` under `fix`.
#[utoipa::path(post, path = "/v1/media/{id}/fix", tag = "media",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The media id")),
    request_body(content = FixRequest, description = "What the fix may do; `{}` for the smallest change"),
    responses(
        (status = 202, description = "Queued: the media item with its `fix`", body = MediaView),
        (status = 200, description = "A fix of this item is already queued or running: that one", body = MediaView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such media or post in this workspace", body = ErrorBody),
        (status = 409, description = "The post has started or ended (`not_editable`), or was edited since `revision` (`revision_changed`)", body = ErrorBody),
        (status = 422, description = "Media registered by URL (`not_fixable`), a post that does not use it (`media_not_in_post`), or a malformed option", body = ErrorBody),
        (status = 503, description = "Fixing is unavailable here (`fix_unavailable`: ffmpeg was not found; the message says where it was looked for)", body = ErrorBody),
    ))]
pub(crate) async fn fix(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<FixRequest>,
) -> Result<(StatusCode, Json<MediaView>), ApiError> {
    auth.require(Action::Compose)?;
    let id: MediaId = parse_id(&id, "media")?;
    let asset = owned_media(&state, &auth, id)
        .await?
        .ok_or(ApiError::NotFound("media"))?;
    if is_url_location(&asset.location) {
        return Err(ApiError::unprocessable(
            "not_fixable",
            "id",
            "media registered by URL are downloaded by TikTok itself; tokpost has no copy to fix: upload the file",
            json!("an uploaded file"),
            json!("url"),
        ));
    }
    if let Some(reason) = state.pipeline.fixes().unavailable() {
        return Err(ApiError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "fix_unavailable",
            format!("fixing media is unavailable: {reason}"),
        ));
    }
    let post = match request.post_id.as_deref() {
        Some(post_id) => Some(post_to_swap(&state, &auth, post_id, id, request.revision).await?),
        None => None,
    };
    let choices = FixChoices {
        max_duration_secs: match (request.max_duration_secs, &post) {
            (Some(seconds), _) => Some(seconds),
            (None, Some(post)) => creator_maximum(&state, post).await?,
            (None, None) => None,
        },
        trim: request.trim.unwrap_or(false),
        upscale: request.upscale.unwrap_or(false),
        photo_format: photo_choice(request.photo_format.as_deref())?,
    };
    let inserted = state
        .media_fixes()
        .request_fix(
            NewMediaFix {
                workspace_id: auth.workspace_id,
                media_id: id,
                options: serde_json::to_value(choices).unwrap_or(Value::Null),
                post: post.map(|post| (post.id, post.revision)),
                requested_by: auth.principal,
            },
            state.now(),
        )
        .await?;
    let (status, fix) = match inserted {
        Inserted::Created(fix) => (StatusCode::ACCEPTED, fix),
        Inserted::Existing(fix) => (StatusCode::OK, fix),
    };
    Ok((
        status,
        Json(media_view(asset).with_fix(Some(FixView::from(fix)))),
    ))
}

/// The post a fix of `media` goes into: this workspace's, using `media`, editable by the
/// caller, at `seen` when given.
async fn post_to_swap(
    state: &AppState,
    auth: &Authenticated,
    post_id: &str,
    media: MediaId,
    seen: Option<u32>,
) -> Result<Post, ApiError> {
    auth.require(Action::ChangeOwnPost)?;
    let post = owned_post(state, auth, post_id).await?;
    auth.require_post_change(post.created_by)?;
    if let Some(seen) = seen {
        check_revision(&post, seen)?;
    }
    let uses = post.spec.content.media().contains(&media);
    if !uses {
        return Err(ApiError::unprocessable(
            "media_not_in_post",
            "post_id",
            "the post does not use this media item, so a fix cannot replace it there",
            json!(media.to_string()),
            json!(post.id.to_string()),
        ));
    }
    let kind = post.state.kind();
    if !kind.is_editable() {
        return Err(ApiError::Refused {
            status: StatusCode::CONFLICT,
            code: "not_editable",
            message: format!(
                "this post is `{}`; a fixed file can only go into a post not yet sent to TikTok",
                kind.as_str()
            ),
            field: Some("post_id".to_owned()),
            limit: None,
            measured: Some(json!(kind.as_str())),
        });
    }
    Ok(post)
}

/// The post's creator's maximum video duration, from the newest creator info.
async fn creator_maximum(state: &AppState, post: &Post) -> Result<Option<u32>, ApiError> {
    Ok(state
        .accounts()
        .latest_creator_info(post.account_id)
        .await?
        .and_then(|snapshot| {
            CreatorFacts::from_snapshot(&snapshot.info).max_video_post_duration_sec
        }))
}

fn photo_choice(text: Option<&str>) -> Result<Option<PhotoChoice>, ApiError> {
    match text.map(str::trim) {
        None => Ok(None),
        Some("jpeg") => Ok(Some(PhotoChoice::Jpeg)),
        Some("webp") => Ok(Some(PhotoChoice::Webp)),
        Some(other) => Err(ApiError::unprocessable(
            "malformed",
            "photo_format",
            "photo_format is `jpeg` or `webp`",
            json!(["jpeg", "webp"]),
            json!(other),
        )),
    }
}
