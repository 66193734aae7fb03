//! The HTTP side of signed pull URLs: what TikTok (or anyone holding a valid URL) downloads.
//!
//! A thin handler: check the signature, find the object, resolve the `Range`, stream. It never
//! redirects (TikTok counts a 3xx as a failed pull), always sends an exact `Content-Length`, and
//! serves a single byte range with 206 so that a pull that broke off can resume.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE,
    RANGE,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::MediaStore;
use crate::error::MediaStoreError;
use crate::key::MediaKey;
use crate::range::parse_range_header;
use crate::signed_url::{SignatureRejected, UrlSigner};

/// Where the service mounts [`pull_router`] by convention (the pull base URL's path must reach
/// it, directly or through a reverse proxy).
pub const PULL_ROUTE_PREFIX: &str = "/media/pull";

#[derive(Clone)]
struct PullState {
    store: Arc<dyn MediaStore>,
    signer: Arc<UrlSigner>,
}

/// The routes serving signed objects: `GET`/`HEAD /{key}?expires=…&signature=…`. Mount it with
/// `Router::nest(PULL_ROUTE_PREFIX, pull_router(store, signer))`.
pub fn pull_router(store: Arc<dyn MediaStore>, signer: Arc<UrlSigner>) -> Router {
    Router::new()
        .route("/{*key}", get(serve_signed_object))
        .with_state(PullState { store, signer })
}

async fn serve_signed_object(
    State(state): State<PullState>,
    method: Method,
    Path(raw_key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(rejected) = state.signer.verify(&raw_key, query.as_deref()) {
        let why = match rejected {
            SignatureRejected::Expired { .. } => "this link has expired",
            SignatureRejected::Malformed | SignatureRejected::BadSignature => {
                "this link is not valid"
            }
        };
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    // Only a key we signed gets here, so a malformed one means the object cannot exist.
    let Ok(key) = MediaKey::parse(&raw_key) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    serve_object(
        state.store.as_ref(),
        &key,
        &method,
        &headers,
        "application/octet-stream",
    )
    .await
}

/// Answers `GET`/`HEAD` of a stored object: its bytes (one `Range` honoured with 206, `If-Range`
/// against the content's strong ETag), an exact `Content-Length`, `Accept-Ranges`, never cached.
/// The caller has decided that the asker may read it; `content_type` is what the object is.
pub async fn serve_object(
    store: &dyn MediaStore,
    key: &MediaKey,
    method: &Method,
    headers: &HeaderMap,
    content_type: &str,
) -> Response {
    let len = match store.len(key).await {
        Ok(len) => len,
        Err(MediaStoreError::NotFound { .. }) => return StatusCode::NOT_FOUND.into_response(),
        Err(error) => return internal_error(key, &error),
    };
    let etag = key
        .content_sha256()
        .and_then(|sha| HeaderValue::from_str(&format!("\"sha256-{sha}\"")).ok());

    let asked = headers
        .get(RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_range_header)
        .filter(|_| if_range_holds(headers, etag.as_ref()));
    let (status, range) = match asked.map(|spec| spec.resolve(len)) {
        None => (StatusCode::OK, 0..len),
        Some(Some(range)) => (StatusCode::PARTIAL_CONTENT, range),
        Some(None) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            insert(&mut response, CONTENT_RANGE, &format!("bytes */{len}"));
            insert(&mut response, ACCEPT_RANGES, "bytes");
            return response;
        }
    };

    let body = if *method == Method::HEAD || range.is_empty() {
        Body::empty()
    } else {
        match store.read_range(key, range.clone()).await {
            Ok(stream) => Body::from_stream(stream),
            Err(MediaStoreError::NotFound { .. }) => {
                return StatusCode::NOT_FOUND.into_response();
            }
            Err(error) => return internal_error(key, &error),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    insert(
        &mut response,
        CONTENT_LENGTH,
        &(range.end - range.start).to_string(),
    );
    insert(&mut response, ACCEPT_RANGES, "bytes");
    insert(&mut response, CONTENT_TYPE, content_type);
    insert(&mut response, CACHE_CONTROL, "no-store");
    if status == StatusCode::PARTIAL_CONTENT {
        let last = range.end.saturating_sub(1);
        insert(
            &mut response,
            CONTENT_RANGE,
            &format!("bytes {}-{last}/{len}", range.start),
        );
    }
    if let Some(etag) = etag {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}

/// `If-Range` (RFC 9110 §13.1.5): honour the `Range` only when the validator is our strong
/// ETag; any other validator (a date, a foreign tag) means "send everything".
fn if_range_holds(headers: &HeaderMap, etag: Option<&HeaderValue>) -> bool {
    match headers.get(IF_RANGE) {
        None => true,
        Some(validator) => etag.is_some_and(|etag| etag == validator),
    }
}

fn insert(response: &mut Response, name: http::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn internal_error(key: &MediaKey, error: &MediaStoreError) -> Response {
    tracing::error!(%key, %error, "serving a media object failed");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}
