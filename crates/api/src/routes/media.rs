//! Media: a file streamed to `<data_dir>/media/` (hashed while it arrives, never whole in
//! memory, refused past the configured size), probed by the `media` crate; or a URL on a
//! verified prefix that TikTok will pull.

use std::path::{Path as FsPath, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;
use tokpost_core::MediaId;
use tokpost_store::{Inserted, MediaAsset, MediaKind, NewMediaAsset};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::parse_id;
use crate::state::AppState;

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
}

pub(crate) fn is_url_location(location: &str) -> bool {
    location.starts_with("https://") || location.starts_with("http://")
}

fn media_view(asset: MediaAsset) -> MediaView {
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
        (status = 413, description = "Larger than the configured limit", body = ErrorBody),
        (status = 422, description = "Not a video or photo tokpost recognises", body = ErrorBody),
    ))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<MediaView>), ApiError> {
    let limit = state.settings.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(declared) = declared.filter(|&d| d > limit) {
        return Err(ApiError::TooLarge {
            limit,
            measured: Some(declared),
        });
    }
    let dir = state.settings.media_dir.clone();
    tokio::fs::create_dir_all(&dir).await.map_err(io_failure)?;
    let partial = dir.join(format!(
        "upload-{}.part",
        uuid::Uuid::from_bytes(rand::random::<[u8; 16]>())
    ));
    let received = receive(body, &partial, limit).await;
    let (hash, size) = match received {
        Ok(done) => done,
        Err(error) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(error);
        }
    };
    if size == 0 {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(ApiError::field(
            "empty_upload",
            "body",
            "the upload has no bytes",
        ));
    }
    // Content-addressed: the same bytes land on the same file whoever sends them.
    let path = dir.join(&hash);
    tokio::fs::rename(&partial, &path)
        .await
        .map_err(io_failure)?;
    let probed_path = path.clone();
    let verdict = tokio::task::spawn_blocking(move || {
        media::preflight_file(&probed_path, &media::Limits::default())
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
        let _ = tokio::fs::remove_file(&path).await;
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
    let mut probe = serde_json::to_value(&verdict).unwrap_or(Value::Null);
    // The server's own path is nobody else's business.
    if let Some(object) = probe.as_object_mut() {
        object.remove("file");
    }
    let inserted = state
        .store
        .add_media(
            NewMediaAsset {
                workspace_id: auth.workspace_id,
                kind,
                content_hash: hash,
                size_bytes: size,
                location: path_text(&path),
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

fn path_text(path: &FsPath) -> String {
    path.display().to_string()
}

fn io_failure(error: std::io::Error) -> ApiError {
    tracing::error!(%error, "media storage failed");
    ApiError::refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        "media_storage_failed",
        "the media could not be written; it was logged",
    )
}

/// Streams `body` to `partial`, hashing as it goes; stops at `limit` bytes.
async fn receive(body: Body, partial: &PathBuf, limit: u64) -> Result<(String, u64), ApiError> {
    let mut file = tokio::fs::File::create(partial).await.map_err(io_failure)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| ApiError::MalformedBody {
            code: "upload_interrupted",
            path: None,
            message: format!("the upload stopped before its end: {error}"),
        })?;
        size = size.saturating_add(chunk.len() as u64);
        if size > limit {
            return Err(ApiError::TooLarge {
                limit,
                measured: None,
            });
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io_failure)?;
    }
    file.flush().await.map_err(io_failure)?;
    file.sync_all().await.map_err(io_failure)?;
    Ok((hex::encode(hasher.finalize()), size))
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
        (status = 422, description = "Not a URL on a verified prefix, or no kind", body = ErrorBody),
    ))]
pub(crate) async fn register_url(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(request): JsonBody<RegisterUrl>,
) -> Result<(StatusCode, Json<MediaView>), ApiError> {
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
    let inserted = state
        .store
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
    Ok(match inserted {
        Inserted::Created(asset) => (StatusCode::CREATED, Json(media_view(asset))),
        Inserted::Existing(asset) => (StatusCode::OK, Json(media_view(asset))),
    })
}

/// The media item of this workspace with this id.
pub(crate) async fn owned_media(
    state: &AppState,
    auth: &Authenticated,
    id: MediaId,
) -> Result<Option<MediaAsset>, ApiError> {
    Ok(state
        .store
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
        (status = 404, description = "No such media in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<MediaView>, ApiError> {
    let id: MediaId = parse_id(&id, "media")?;
    owned_media(&state, &auth, id)
        .await?
        .map(|asset| Json(media_view(asset)))
        .ok_or(ApiError::NotFound("media"))
}
