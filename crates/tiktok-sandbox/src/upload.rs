//! The upload listener: `PUT upload_url` with `Content-Range` chunks (tiktok-api.md §6).
//!
//! Chunks must arrive in order and follow the plan declared at init (every chunk `chunk_size`
//! bytes, the last one absorbing the remainder). Answers: 206 for a chunk accepted with more to
//! come, 201 for the last one, 400 for malformed headers or a body whose length differs from
//! `Content-Length`/`Content-Range`, 416 for a range that does not start where the received
//! bytes end (gap, overlap, replay), 403 once the one-hour window has passed, 404 for an
//! unknown upload. Every answer about a known upload carries the progress header
//! `Content-Range: bytes 0-{last received byte}/{total}` (style configurable).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::config::ProgressStyle;
use crate::faults::{FaultEffect, FaultEndpoint};
use crate::media_check;
use crate::publish::media_arrived;
use crate::state::{MediaKind, Phase, Shared, Source};
use crate::wire::{bare_5xx, dropped_connection};

const ALLOWED_TYPES: &[&str] = &["video/mp4", "video/quicktime", "video/webm"];

/// `bytes {first}-{last}/{total}`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) total: u64,
}

pub(crate) fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let parsed = ContentRange {
        first: first.trim().parse().ok()?,
        last: last.trim().parse().ok()?,
        total: total.trim().parse().ok()?,
    };
    (parsed.first <= parsed.last && parsed.last < parsed.total).then_some(parsed)
}

fn progress_header(style: ProgressStyle, received: u64, total: u64) -> String {
    match (style, received) {
        (ProgressStyle::LastByteIndex, 0) => format!("bytes */{total}"),
        (ProgressStyle::LastByteIndex, received) => format!("bytes 0-{}/{total}", received - 1),
        (ProgressStyle::Count, received) => format!("bytes 0-{received}/{total}"),
    }
}

/// What the upload id in the query points at.
#[derive(Debug)]
struct Target {
    publish_id: String,
    open_id: String,
    total: u64,
}

fn locate(shared: &Shared, query: &str) -> Option<Target> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let upload_id: u64 = value("upload_id")?.parse().ok()?;
    let token = value("upload_token")?;
    let world = shared.world();
    let publish_id = world.uploads.get(&upload_id)?;
    let publish = world.publishes.get(publish_id)?;
    match &publish.source {
        Source::FileUpload(upload) if upload.token == token => Some(Target {
            publish_id: publish_id.clone(),
            open_id: publish.open_id.clone(),
            total: upload.video_size,
        }),
        _ => None,
    }
}

fn answer(shared: &Shared, target: &Target, status: StatusCode) -> Response {
    let received = {
        let world = shared.world();
        match world.publishes.get(&target.publish_id).map(|p| &p.source) {
            Some(Source::FileUpload(upload)) => upload.received,
            _ => 0,
        }
    };
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(&progress_header(
        shared.config.upload_progress_style,
        received,
        target.total,
    )) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

/// `PUT /video/?upload_id=…&upload_token=…` on the upload listener.
pub(crate) async fn put_chunk(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(target) = locate(&shared, &query.unwrap_or_default()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let decision = shared.faults(FaultEndpoint::Upload, Some(&target.open_id));
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    match decision.action {
        Some(FaultEffect::Error { http_status, .. }) => {
            let status =
                StatusCode::from_u16(http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            reject(&shared, &target, status, body).await
        }
        Some(FaultEffect::Http5xxWithoutBody { http_status }) => {
            bare_5xx(StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_GATEWAY))
        }
        Some(FaultEffect::DropConnection {
            after_processing: false,
        }) => {
            // Read about half of the chunk, store none of it, then cut the connection.
            let announced = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let mut read = 0u64;
            let mut stream = body.into_data_stream();
            while read < announced / 2 {
                match stream.next().await {
                    Some(Ok(bytes)) => read += bytes.len() as u64,
                    _ => break,
                }
            }
            dropped_connection()
        }
        Some(FaultEffect::DropConnection {
            after_processing: true,
        }) => {
            drop(receive(&shared, &target, &headers, body).await);
            dropped_connection()
        }
        Some(FaultEffect::FailReason { .. } | FaultEffect::Latency { .. }) | None => {
            receive(&shared, &target, &headers, body).await
        }
    }
}

/// Where the next chunk must start and end, or the status refusing it.
fn expected_chunk(shared: &Shared, target: &Target) -> Result<(u64, u64), StatusCode> {
    let now = shared.now();
    let world = shared.world();
    let Some(publish) = world.publishes.get(&target.publish_id) else {
        return Err(StatusCode::NOT_FOUND);
    };
    let Source::FileUpload(upload) = &publish.source else {
        return Err(StatusCode::NOT_FOUND);
    };
    if now >= upload.expires_at && upload.received < upload.video_size {
        return Err(StatusCode::FORBIDDEN);
    }
    if !matches!(publish.phase, Phase::AwaitingMedia) || upload.received >= upload.video_size {
        // Everything already arrived (or the publish ended): any further range overlaps.
        return Err(StatusCode::RANGE_NOT_SATISFIABLE);
    }
    let index = upload.received / upload.chunk_size.max(1);
    let end = if index + 1 >= upload.total_chunks {
        upload.video_size
    } else {
        upload.received + upload.chunk_size
    };
    Ok((upload.received, end))
}

/// Marks the upload busy while one chunk is received, so a concurrent PUT cannot interleave
/// (chunks are sequential); released on drop, whatever the outcome.
struct InFlight<'a> {
    shared: &'a Shared,
    publish_id: &'a str,
}

impl<'a> InFlight<'a> {
    fn claim(shared: &'a Shared, publish_id: &'a str, start: u64) -> Option<(Self, PathBuf)> {
        let mut world = shared.world();
        let publish = world.publishes.get_mut(publish_id)?;
        let Source::FileUpload(upload) = &mut publish.source else {
            return None;
        };
        if upload.busy || upload.received != start {
            return None;
        }
        upload.busy = true;
        Some((Self { shared, publish_id }, upload.path.clone()))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut world = self.shared.world();
        if let Some(publish) = world.publishes.get_mut(self.publish_id)
            && let Source::FileUpload(upload) = &mut publish.source
        {
            upload.busy = false;
        }
    }
}

/// The most a refused chunk's body is read before answering (the largest legal chunk).
const MAX_DRAINED_BYTES: u64 = 128 * 1024 * 1024;

/// Reads and discards a refused chunk before answering: a server that answers while the client
/// is still sending makes many clients see a broken pipe instead of the status (and its
/// progress header) they need to re-sync.
async fn reject(shared: &Shared, target: &Target, status: StatusCode, body: Body) -> Response {
    let mut stream = body.into_data_stream();
    let mut read = 0u64;
    while read <= MAX_DRAINED_BYTES {
        match stream.next().await {
            Some(Ok(piece)) => read += piece.len() as u64,
            _ => break,
        }
    }
    answer(shared, target, status)
}

/// How writing a chunk to disk ended.
enum Received {
    Stored(u64),
    WrongLength,
    BrokenBody,
}

/// Streams the body to `path` at `start`; on any failure the file is cut back to `start`.
async fn write_chunk(
    path: &Path,
    start: u64,
    declared_length: u64,
    body: Body,
) -> std::io::Result<Received> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .await?;
    file.set_len(start).await?;
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let mut read = 0u64;
    let mut stream = body.into_data_stream();
    let mut outcome = None;
    while let Some(piece) = stream.next().await {
        let Ok(piece) = piece else {
            outcome = Some(Received::BrokenBody);
            break;
        };
        read += piece.len() as u64;
        if read > declared_length {
            outcome = Some(Received::WrongLength);
            break;
        }
        file.write_all(&piece).await?;
    }
    let outcome = match outcome {
        Some(failed) => failed,
        None if read != declared_length => Received::WrongLength,
        None => Received::Stored(read),
    };
    if matches!(outcome, Received::Stored(_)) {
        file.flush().await?;
    } else {
        file.set_len(start).await?;
    }
    Ok(outcome)
}

async fn receive(
    shared: &Arc<Shared>,
    target: &Target,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let (start, planned_end) = match expected_chunk(shared, target) {
        Ok(expected) => expected,
        Err(status) => return reject(shared, target, status, body).await,
    };
    let content_type_ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            ALLOWED_TYPES
                .iter()
                .any(|allowed| v.trim().eq_ignore_ascii_case(allowed))
        });
    let range = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_content_range);
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (Some(range), Some(declared_length), true) = (range, declared_length, content_type_ok)
    else {
        return reject(shared, target, StatusCode::BAD_REQUEST, body).await;
    };
    if range.total != target.total || declared_length != range.last - range.first + 1 {
        return reject(shared, target, StatusCode::BAD_REQUEST, body).await;
    }
    if range.first != start {
        return reject(shared, target, StatusCode::RANGE_NOT_SATISFIABLE, body).await;
    }
    if range.last + 1 != planned_end {
        return reject(shared, target, StatusCode::BAD_REQUEST, body).await;
    }
    let Some((in_flight, path)) = InFlight::claim(shared, &target.publish_id, start) else {
        return reject(shared, target, StatusCode::RANGE_NOT_SATISFIABLE, body).await;
    };
    let read = match write_chunk(&path, start, declared_length, body).await {
        Ok(Received::Stored(read)) => read,
        Ok(Received::WrongLength | Received::BrokenBody) => {
            drop(in_flight);
            return answer(shared, target, StatusCode::BAD_REQUEST);
        }
        Err(error) => {
            tracing::error!(%error, "sandbox could not store an upload chunk");
            drop(in_flight);
            return answer(shared, target, StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let complete = {
        let mut world = shared.world();
        let Some(publish) = world.publishes.get_mut(&target.publish_id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let Source::FileUpload(upload) = &mut publish.source else {
            return StatusCode::NOT_FOUND.into_response();
        };
        upload.received += read;
        upload.received == upload.video_size
    };
    drop(in_flight);
    if complete {
        let max_duration = shared
            .creator(&target.open_id)
            .map_or(600, |creator| creator.max_video_post_duration_sec);
        // TikTok processes what arrived whether or not the uploader is still connected, but a
        // handler's future dies with its connection: the processing gets a task of its own.
        let processing = tokio::spawn({
            let (shared, publish_id) = (Arc::clone(shared), target.publish_id.clone());
            async move {
                let (verdict, hashes) =
                    media_check::inspect_and_delete(vec![path], MediaKind::Video, max_duration)
                        .await;
                media_arrived(&shared, &publish_id, verdict, hashes);
            }
        });
        if let Err(error) = processing.await {
            tracing::error!(%error, "sandbox media processing task failed");
        }
        answer(shared, target, StatusCode::CREATED)
    } else {
        answer(shared, target, StatusCode::PARTIAL_CONTENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("bytes 0-9/20", Some((0, 9, 20)))]
    #[case("bytes 10-19/20", Some((10, 19, 20)))]
    #[case("bytes 10-19/15", None)]
    #[case("bytes 9-0/20", None)]
    #[case("bytes */20", None)]
    #[case("0-9/20", None)]
    #[case("", None)]
    fn content_ranges_are_parsed_strictly(
        #[case] text: &str,
        #[case] expected: Option<(u64, u64, u64)>,
    ) {
        let parsed = parse_content_range(text).map(|r| (r.first, r.last, r.total));
        assert_eq!(parsed, expected);
    }

    #[rstest]
    #[case(ProgressStyle::LastByteIndex, 0, "bytes */20")]
    #[case(ProgressStyle::LastByteIndex, 10, "bytes 0-9/20")]
    #[case(ProgressStyle::Count, 10, "bytes 0-10/20")]
    fn the_progress_header_follows_the_configured_style(
        #[case] style: ProgressStyle,
        #[case] received: u64,
        #[case] expected: &str,
    ) {
        assert_eq!(progress_header(style, received, 20), expected);
    }

    proptest! {
        #[test]
        fn content_range_parsing_never_panics(text in ".*") {
            let _ = parse_content_range(&text);
        }

        #[test]
        fn content_range_round_trips(first in 0u64..1_000_000, len in 1u64..1_000_000, extra in 0u64..1_000_000) {
            let last = first + len - 1;
            let total = last + 1 + extra;
            let parsed = parse_content_range(&format!("bytes {first}-{last}/{total}")).unwrap();
            prop_assert_eq!((parsed.first, parsed.last, parsed.total), (first, last, total));
        }
    }
}
