//! Media: a file streamed into the media store (a directory or S3, hashed while it arrives,
//! never whole in memory, refused past the configured size) and probed there by the `media`
//! crate; or a URL on a verified prefix that TikTok will pull.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokpost_core::{MediaId, ValidationError, ValidationProblem};
use tokpost_media_store::{
    BlockingObjectReader, ByteStream, MediaStoreError, ObjectSize, PutOptions, StoredObject,
};
use tokpost_store::{Inserted, MediaAsset, MediaKind, NewMediaAsset};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::{paging, parse_id};
use crate::state::AppState;
use tokpost_core::Action;

/// Containers that are videos; every other recognised container is judged as a photo.
const VIDEO_CONTAINERS: [&str; 5] = ["mp4", "mov", "webm", "matroska", "3gp"];

/// A media item.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MediaView {
    #[schema(value_type = String, format = Uuid)]
    id: MediaId,
    /// `video` or `photo`.
    kind: String,
    /// `file` (uploaded to tokpost) or `url` (TikTok pulls it).
    source: String,
    /// The URL TikTok pulls, for `url` media.
    url: Option<String>,
    /// Hex SHA-256 of the bytes (of the URL, for `url` media).
    content_hash: String,
    size_bytes: u64,
    /// The probe's facts and verdict (`ok`, `warning`, `rejected`) with every problem.
    #[schema(value_type = Object)]
    probe: Value,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    /// The newest fix of this item (`POST /v1/media/{id}/fix`), in `GET /v1/media/{id}` and
    /// the fix's own answer; absent in lists and when it was never fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<super::media_fix::FixView>,
}

pub(crate) fn is_url_location(location: &str) -> bool {
    location.starts_with("https://") || location.starts_with("http://")
}

pub(crate) fn media_view(asset: MediaAsset) -> MediaView {
    let is_url = is_url_location(&asset.location);
    MediaView {
        id: asset.id,
        kind: match asset.kind {
            MediaKind::Video => "video",
            MediaKind::Photo => "photo",
        }
        .to_owned(),
        source: if is_url { "url" } else { "file" }.to_owned(),
        url: is_url.then(|| asset.location.clone()),
        content_hash: asset.content_hash,
        size_bytes: asset.size_bytes,
        probe: asset.probe,
        created_at: asset.created_at,
        fix: None,
    }
}

impl MediaView {
    /// The view with the item's newest fix.
    pub(crate) fn with_fix(mut self, fix: Option<super::media_fix::FixView>) -> Self {
        self.fix = fix;
        self
    }
}

/// Uploads a video or photo file (the raw bytes as the body).
#[utoipa::path(post, path = "/v1/media", tag = "media",
    security(("api_key" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 201, description = "Stored and probed", body = MediaView),
        (status = 200, description = "The same bytes were uploaded before; the existing item", body = MediaView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 413, description = "Larger than the configured limit", body = ErrorBody),
        (status = 422, description = "Not a video or photo tokpost recognises", body = ErrorBody),
    ))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<MediaView>), ApiError> {
    auth.require(Action::Compose)?;
    let limit = state.settings.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut options = PutOptions::limited_to(limit);
    if let Some(declared) = declared {
        options = options.with_declared_len(declared);
    }
    // Streamed into the media store, hashed on the way; content-addressed, so the same bytes
    // land on the same object whoever sends them.
    let content: ByteStream = Box::pin(
        body.into_data_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other)),
    );
    let stored = state
        .media
        .put(content, options)
        .await
        .map_err(|error| put_failure(error, limit))?;
    if stored.size_bytes == 0 {
        forget(&state, &stored).await;
        return Err(ApiError::field(
            "empty_upload",
            "body",
            "the upload has no bytes",
        ));
    }
    // The probe reads the container's headers by range from the store (a few blocks, never
    // the whole file, nor a local copy of it).
    let reader = BlockingObjectReader::open(Arc::clone(&state.media), stored.key.clone())
        .await
        .map_err(storage_failure)?;
    let name = stored.key.to_string();
    let verdict = tokio::task::spawn_blocking(move || {
        media::preflight_reader(&name, reader, &media::Limits::default())
    })
    .await
    .map_err(|error| {
        ApiError::refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "probe_failed",
            format!("the media probe stopped: {error}"),
        )
    })?;
    let Some(container) = verdict.container.clone() else {
        forget(&state, &stored).await;
        return Err(ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "media_unrecognised",
            message: "the file is not a video or photo tokpost can read (videos: MP4, MOV, WebM; photos: JPEG, WebP)".to_owned(),
            field: Some("body".to_owned()),
            limit: None,
            measured: serde_json::to_value(&verdict.problems).ok(),
        });
    };
    let kind = if VIDEO_CONTAINERS.contains(&container.as_str()) {
        MediaKind::Video
    } else {
        MediaKind::Photo
    };
    let probe = tokpost_pipeline::media_access::probe_record(&verdict);
    let inserted = state
        .media_assets()
        .add_media(
            NewMediaAsset {
                workspace_id: auth.workspace_id,
                kind,
                content_hash: stored.sha256_hex.to_string(),
                size_bytes: stored.size_bytes,
                location: stored.key.to_string(),
                probe,
            },
            state.now(),
        )
        .await?;
    Ok(match inserted {
        Inserted::Created(asset) => (StatusCode::CREATED, Json(media_view(asset))),
        Inserted::Existing(asset) => (StatusCode::OK, Json(media_view(asset))),
    })
}

/// Removes an object this upload created and nothing will refer to; one that was already
/// stored belongs to earlier uploads and stays.
async fn forget(state: &AppState, stored: &StoredObject) {
    if !stored.already_stored
        && let Err(error) = state.media.delete(&stored.key).await
    {
        tracing::warn!(key = %stored.key, %error, "could not remove a refused upload");
    }
}

fn put_failure(error: MediaStoreError, limit: u64) -> ApiError {
    match error {
        MediaStoreError::TooLarge { size, .. } => ApiError::TooLarge {
            limit,
            measured: match size {
                ObjectSize::Exactly(bytes) => Some(bytes),
                ObjectSize::MoreThan(_) => None,
            },
        },
        MediaStoreError::LengthMismatch { declared, received } => ApiError::MalformedBody {
            code: "upload_interrupted",
            path: None,
            message: format!(
                "the upload declared Content-Length {declared} but carried {received} bytes"
            ),
        },
        MediaStoreError::Source(error) => ApiError::MalformedBody {
            code: "upload_interrupted",
            path: None,
            message: format!("the upload stopped before its end: {error}"),
        },
        other => storage_failure(other),
    }
}

fn storage_failure(error: MediaStoreError) -> ApiError {
    tracing::error!(%error, "media storage failed");
    ApiError::refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        "media_storage_failed",
        "the media could not be stored; it was logged",
    )
}

/// A URL TikTok should pull the media from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterUrl {
    /// Must start with one of the app's verified URL prefixes.
    url: Option<String>,
    /// `video` or `photo`.
    kind: Option<String>,
}

/// Registers a URL for PULL_FROM_URL.
#[utoipa::path(post, path = "/v1/media/url", tag = "media",
    security(("api_key" = [])),
    request_body = RegisterUrl,
    responses(
        (status = 201, description = "Registered", body = MediaView),
        (status = 200, description = "Registered before; the existing item", body = MediaView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 422, description = "Not a URL on a verified prefix, or no kind", body = ErrorBody),
    ))]
pub(crate) async fn register_url(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(request): JsonBody<RegisterUrl>,
) -> Result<(StatusCode, Json<MediaView>), ApiError> {
    auth.require(Action::Compose)?;
    let kind = match request.kind.as_deref() {
        Some("video") => MediaKind::Video,
        Some("photo") => MediaKind::Photo,
        Some(_) => {
            return Err(ApiError::field(
                "malformed",
                "kind",
                "kind is `video` or `photo`",
            ));
        }
        None => {
            return Err(ApiError::field(
                "required",
                "kind",
                "kind is required: `video` or `photo`",
            ));
        }
    };
    let text = request
        .url
        .ok_or_else(|| ApiError::field("required", "url", "url is required"))?;
    Ok(
        match register_url_media(&state, &auth, kind, &text).await? {
            Inserted::Created(asset) => (StatusCode::CREATED, Json(media_view(asset))),
            Inserted::Existing(asset) => (StatusCode::OK, Json(media_view(asset))),
        },
    )
}

/// Registers `text` (a URL on a verified prefix) as media of `kind`; the same URL again answers
/// the existing item. Also the bulk import's path for rows with `media_url`.
pub(crate) async fn register_url_media(
    state: &AppState,
    auth: &Authenticated,
    kind: MediaKind,
    text: &str,
) -> Result<Inserted<MediaAsset>, ApiError> {
    let url = url::Url::parse(text.trim()).map_err(|error| {
        ApiError::field("malformed", "url", format!("not an absolute URL: {error}"))
    })?;
    let prefixes = &state.settings.verified_url_prefixes;
    if !prefixes
        .iter()
        .any(|prefix| url.as_str().starts_with(prefix.as_str()))
    {
        return Err(ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "url_not_verified",
            message: if prefixes.is_empty() {
                "no URL prefix is verified for this TikTok app (tiktok.verified_url_prefixes); upload the file instead".to_owned()
            } else {
                format!(
                    "TikTok only pulls from the app's verified URL prefixes: {}",
                    prefixes.join(", ")
                )
            },
            field: Some("url".to_owned()),
            limit: Some(json!(prefixes)),
            measured: Some(json!(url.as_str())),
        });
    }
    let inserted = state.media_assets()
        .add_media(
            NewMediaAsset {
                workspace_id: auth.workspace_id,
                kind,
                content_hash: hex::encode(Sha256::digest(url.as_str().as_bytes())),
                size_bytes: 0,
                location: url.to_string(),
                probe: json!({"verdict": "unknown", "note": "TikTok downloads and checks URL media itself"}),
            },
            state.now(),
        )
        .await?;
    Ok(inserted)
}

/// The media item of this workspace with this id.
pub(crate) async fn owned_media(
    state: &AppState,
    auth: &Authenticated,
    id: MediaId,
) -> Result<Option<MediaAsset>, ApiError> {
    Ok(state
        .media_assets()
        .media(id)
        .await?
        .filter(|asset| asset.workspace_id == auth.workspace_id))
}

/// One media item with its probe result and verdict.
#[utoipa::path(get, path = "/v1/media/{id}", tag = "media",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The media id")),
    responses(
        (status = 200, description = "The media item", body = MediaView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such media in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<MediaView>, ApiError> {
    auth.require(Action::Read)?;
    let id: MediaId = parse_id(&id, "media")?;
    let asset = owned_media(&state, &auth, id)
        .await?
        .ok_or(ApiError::NotFound("media"))?;
    let fix = state.media_fixes().latest_fix_of(asset.id).await?;
    Ok(Json(
        media_view(asset).with_fix(fix.map(super::media_fix::FixView::from)),
    ))
}

/// Listing filters of the media library.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MediaQuery {
    /// `video` or `photo`; both when absent.
    kind: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of the media library.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MediaPage {
    media: Vec<MediaView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// The workspace's media library, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/media", tag = "media",
    security(("api_key" = [])),
    params(MediaQuery),
    responses(
        (status = 200, description = "A page of media items", body = MediaPage),
        (status = 400, description = "A query parameter is not understood", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 422, description = "A filter value is malformed", body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<MediaQuery>, QueryRejection>,
) -> Result<Json<MediaPage>, ApiError> {
    auth.require(Action::Read)?;
    let query = paging::query(query)?;
    let kind = match query.kind.as_deref().map(str::trim) {
        None => None,
        Some("video") => Some(MediaKind::Video),
        Some("photo") => Some(MediaKind::Photo),
        Some(_) => {
            return Err(ApiError::Validation(ValidationError::new(
                "kind",
                ValidationProblem::Malformed {
                    expected: "video or photo",
                },
            )));
        }
    };
    let limit = paging::limit(query.limit.as_deref())?;
    let before = paging::cursor::<MediaId>(query.cursor.as_deref())?;
    let media = state
        .media_assets()
        .list_media(auth.workspace_id, kind, before, limit)
        .await?;
    let next_cursor = paging::next_cursor(
        media.len(),
        limit,
        media.last().map(|last| (last.created_at, last.id)),
    );
    Ok(Json(MediaPage {
        media: media.into_iter().map(media_view).collect(),
        next_cursor,
    }))
}
