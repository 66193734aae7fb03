//! Media for the composer: uploads streamed through to the API, the library of earlier uploads,
//! and the bytes of an upload for the preview (the video element seeks with range requests).
//! Nobody types a media id: the composer picks from here.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tokpost_core::MediaId;
use tokpost_media_store::MediaKey;
use tokpost_store::MediaKind;

use super::SignedIn;
use crate::Dashboard;
use crate::error::PageError;
use crate::views;

/// How many earlier uploads the library offers.
const LIBRARY_SIZE: u32 = 48;

/// One earlier upload as the library shows it.
#[derive(Debug, Clone)]
pub(crate) struct LibraryItem {
    pub(crate) id: String,
    /// Where the preview reads the bytes (empty for media registered by URL: TikTok pulls
    /// those, and the page loads nothing from other origins).
    pub(crate) src: String,
    /// The registered URL, for URL media.
    pub(crate) url: String,
    pub(crate) duration_ms: Option<u64>,
    /// `1080×1920`, when known.
    pub(crate) dimensions: String,
    pub(crate) size: String,
    pub(crate) uploaded: String,
    /// The probe's verdict: `ok`, `warning`, `rejected` or `unknown`.
    pub(crate) verdict: String,
    /// The first problem the probe found, in words.
    pub(crate) problem: String,
}

impl LibraryItem {
    /// The length in seconds, as shown.
    pub(crate) fn seconds(&self) -> String {
        self.duration_ms
            .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
            .unwrap_or_default()
    }
}

fn size_text(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes == 0 {
        String::new()
    } else if (bytes as f64) < MIB {
        format!("{:.0} KB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MB", bytes as f64 / MIB)
    }
}

/// Reads one `MediaView` of the API.
pub(crate) fn library_item(media: &Value, zone: &TimeZone) -> Option<LibraryItem> {
    let text = |pointer: &str| {
        media
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let id = text("/id");
    if id.is_empty() {
        return None;
    }
    let is_url = text("/source") == "url";
    let probe = media.get("probe").unwrap_or(&Value::Null);
    let dimension = |key: &str| probe.get(key).and_then(Value::as_u64);
    Some(LibraryItem {
        src: if is_url {
            String::new()
        } else {
            format!("/compose/media/{id}")
        },
        url: text("/url"),
        duration_ms: probe
            .get("duration_s")
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0).round() as u64),
        dimensions: match (dimension("width"), dimension("height")) {
            (Some(w), Some(h)) => format!("{w}×{h}"),
            _ => String::new(),
        },
        size: size_text(media.get("size_bytes").and_then(Value::as_u64).unwrap_or(0)),
        uploaded: media
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(|at| at.parse::<Timestamp>().ok())
            .map(|at| views::when(at, zone))
            .unwrap_or_default(),
        verdict: probe
            .get("verdict")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned(),
        problem: probe
            .pointer("/problems/0/message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        id,
    })
}

/// The workspace's earlier uploads of `kind` (`video` or `photo`), newest first.
pub(crate) async fn library(
    state: &Dashboard,
    signed_in: &SignedIn,
    kind: &str,
) -> Result<Vec<LibraryItem>, PageError> {
    let page = state
        .api
        .get(
            signed_in.key(),
            &format!("/v1/media?kind={kind}&limit={LIBRARY_SIZE}"),
        )
        .await?;
    Ok(page
        .get("media")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|media| library_item(media, signed_in.zone()))
        .collect())
}

/// Streams a file from the compose page to the API's media upload (the CSRF token comes in a
/// header, since the body is the file itself).
pub(crate) async fn upload_media(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    signed_in.check_csrf(token)?;
    let answer = state
        .api
        .call(
            Some(signed_in.key()),
            Method::POST,
            "/v1/media",
            Some(("application/octet-stream", body)),
        )
        .await?;
    Ok((answer.status, Json(answer.body)).into_response())
}

/// The composer's "Fix it": asks the API for a fix of a media item (a new item, made by a job;
/// the original stays). The CSRF token comes in a header, as for uploads; the API's answer
/// goes back as is (its refusals name the reason, ffmpeg missing included).
pub(crate) async fn fix_media(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    signed_in.check_csrf(token)?;
    let id: MediaId = id.parse().map_err(|_| PageError::NotFound)?;
    let answer = state
        .api
        .call(
            Some(signed_in.key()),
            Method::POST,
            &format!("/v1/media/{id}/fix"),
            Some(("application/json", Body::from("{}"))),
        )
        .await?;
    Ok((answer.status, Json(answer.body)).into_response())
}

/// Where a fix stands, for the composer to poll: the item's `fix`, and once it is fixed the new
/// item as the library shows it.
pub(crate) async fn fix_status(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id: MediaId = id.parse().map_err(|_| PageError::NotFound)?;
    let media = state
        .api
        .get(signed_in.key(), &format!("/v1/media/{id}"))
        .await?;
    let fix = media.get("fix").cloned().unwrap_or(Value::Null);
    let fixed = match fix.get("fixed_media_id").and_then(Value::as_str) {
        Some(fixed) if fixed != id.to_string() => Some(
            state
                .api
                .get(signed_in.key(), &format!("/v1/media/{fixed}"))
                .await?,
        ),
        _ => None,
    };
    Ok(Json(serde_json::json!({ "fix": fix, "fixed": fixed })).into_response())
}

/// What the browser is told an upload is, from the probe's container.
fn content_type(kind: MediaKind, container: Option<&str>) -> &'static str {
    match (kind, container) {
        (MediaKind::Video, Some("webm" | "matroska")) => "video/webm",
        (MediaKind::Video, Some("mov")) => "video/quicktime",
        (MediaKind::Video, _) => "video/mp4",
        (MediaKind::Photo, Some("webp")) => "image/webp",
        (MediaKind::Photo, Some("png")) => "image/png",
        (MediaKind::Photo, _) => "image/jpeg",
    }
}

/// The content type an upload is served with.
fn content_type_of(asset: &tokpost_store::MediaAsset) -> &'static str {
    let container = asset.probe.get("container").and_then(Value::as_str);
    content_type(asset.kind, container)
}

/// The workspace's upload `id`, if `workspace` holds it.
pub(crate) async fn workspace_asset(
    state: &Dashboard,
    workspace: tokpost_core::WorkspaceId,
    id: &str,
) -> Result<tokpost_store::MediaAsset, PageError> {
    let id: MediaId = id.trim().parse().map_err(|_| PageError::NotFound)?;
    state
        .app
        .media_assets()
        .media(id)
        .await?
        .filter(|asset| asset.workspace_id == workspace)
        .ok_or(PageError::NotFound)
}

/// The bytes of an upload (ranges honoured), cached as `cache_control` says.
pub(crate) async fn serve_asset(
    state: &Dashboard,
    asset: &tokpost_store::MediaAsset,
    method: &Method,
    headers: &HeaderMap,
    cache_control: &'static str,
) -> Result<Response, PageError> {
    let key = MediaKey::parse(&asset.location).map_err(|_| PageError::NotFound)?;
    let access = state
        .app
        .pipeline
        .media()
        .ok_or(PageError::Internal("this process has no media store"))?;
    let mut response = tokpost_media_store::serve_object(
        access.store().as_ref(),
        &key,
        method,
        headers,
        content_type_of(asset),
    )
    .await;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(PageError::NotFound);
    }
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static(cache_control),
    );
    Ok(response)
}

/// The bytes of one of the workspace's uploads, for the preview (ranges honoured).
pub(crate) async fn media_file(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let asset = workspace_asset(&state, signed_in.session.workspace_id, &id).await?;
    // Private to the signed-in browser; the content never changes under one id.
    serve_asset(&state, &asset, &method, &headers, "private, max-age=3600").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_library_item_reads_the_probe_and_never_points_at_another_origin() {
        let file = json!({
            "id": "m1", "kind": "video", "source": "file", "size_bytes": 1_572_864,
            "created_at": "2026-12-01T10:00:00Z",
            "probe": {"duration_s": 4.0, "width": 720, "height": 1280, "verdict": "ok", "problems": []},
        });
        let item = library_item(&file, &TimeZone::UTC).unwrap();
        assert_eq!(item.src, "/compose/media/m1");
        assert_eq!(item.duration_ms, Some(4000));
        assert_eq!(item.seconds(), "4.0 s");
        assert_eq!(item.dimensions, "720×1280");
        assert_eq!(item.size, "1.5 MB");
        let url = json!({"id": "m2", "kind": "photo", "source": "url",
            "url": "https://cdn.example.com/a.jpg", "probe": {"verdict": "unknown"}});
        let item = library_item(&url, &TimeZone::UTC).unwrap();
        assert!(
            item.src.is_empty(),
            "a URL medium is not loaded by the page"
        );
        assert_eq!(item.url, "https://cdn.example.com/a.jpg");
        assert!(library_item(&json!({}), &TimeZone::UTC).is_none());
    }

    #[test]
    fn the_browser_is_told_what_the_probe_found() {
        assert_eq!(content_type(MediaKind::Video, Some("webm")), "video/webm");
        assert_eq!(content_type(MediaKind::Video, Some("mp4")), "video/mp4");
        assert_eq!(content_type(MediaKind::Photo, Some("webp")), "image/webp");
        assert_eq!(content_type(MediaKind::Photo, None), "image/jpeg");
    }
}
