//! PULL_FROM_URL: the sandbox really downloads the media (tiktok-api.md §12). Any transport
//! error, non-2xx answer, redirect (3xx is never followed) or a download still running when the
//! pull deadline passes on the shared clock fails the publish with `video_pull_failed` /
//! `photo_pull_failed`. `downloaded_bytes` grows as the bytes arrive. Cancel aborts the task.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::faults::{FaultEffect, FaultEndpoint};
use crate::media_check;
use crate::publish::{fail_now, media_arrived};
use crate::state::{MediaKind, Shared, Source};

/// Starts the download task and records its handle on the publish (so cancel can stop it).
pub(crate) fn start(
    shared: &Arc<Shared>,
    publish_id: String,
    open_id: String,
    urls: Vec<String>,
    kind: MediaKind,
) {
    let task = shared.spawn(run(
        Arc::clone(shared),
        publish_id.clone(),
        open_id,
        urls,
        kind,
    ));
    let mut world = shared.world();
    if let Some(publish) = world.publishes.get_mut(&publish_id)
        && let Source::PullFromUrl(pull) = &mut publish.source
    {
        pull.task = Some(task);
    }
}

fn pull_failed(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Video => "video_pull_failed",
        MediaKind::Photo => "photo_pull_failed",
    }
}

async fn run(
    shared: Arc<Shared>,
    publish_id: String,
    open_id: String,
    urls: Vec<String>,
    kind: MediaKind,
) {
    let decision = shared.faults(FaultEndpoint::Pull, Some(&open_id));
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    if matches!(
        decision.action,
        Some(
            FaultEffect::Error { .. }
                | FaultEffect::DropConnection { .. }
                | FaultEffect::Http5xxWithoutBody { .. }
        )
    ) {
        fail_now(&shared, &publish_id, pull_failed(kind));
        return;
    }
    if let Some(reason) = decision.fail_reason {
        let mut world = shared.world();
        if let Some(publish) = world.publishes.get_mut(&publish_id) {
            publish.forced_fail_reason = Some(reason);
        }
    }
    let deadline = clock::add(
        shared.now(),
        Duration::from_secs(shared.config.pull_timeout_secs),
    );
    let outcome = tokio::select! {
        outcome = download_all(&shared, &publish_id, &urls, kind, &open_id) => outcome,
        () = shared.clock.sleep_until(deadline) => Err(()),
    };
    match outcome {
        Ok((media_failure, hashes)) => media_arrived(&shared, &publish_id, media_failure, hashes),
        Err(()) => fail_now(&shared, &publish_id, pull_failed(kind)),
    }
}

/// Largest file a pull accepts: a photo may have 20 MB, a video 4 GB (§11); anything longer is
/// cut off and the pull fails.
fn max_pull_bytes(kind: MediaKind) -> u64 {
    match kind {
        MediaKind::Video => 4 * 1024 * 1024 * 1024,
        MediaKind::Photo => 20 * 1024 * 1024,
    }
}

/// Downloads every URL to its file; the first media-check failure, if any, and the hash of each file.
async fn download_all(
    shared: &Shared,
    publish_id: &str,
    urls: &[String],
    kind: MediaKind,
    open_id: &str,
) -> Result<(Option<&'static str>, Vec<String>), ()> {
    let paths = {
        let world = shared.world();
        match world.publishes.get(publish_id).map(|p| &p.source) {
            Some(Source::PullFromUrl(pull)) => pull.paths.clone(),
            _ => return Err(()),
        }
    };
    for (url, path) in urls.iter().zip(&paths) {
        let response = shared.http.get(url).send().await.map_err(|_| ())?;
        if !response.status().is_success() {
            return Err(());
        }
        let mut file = tokio::fs::File::create(path).await.map_err(|_| ())?;
        let mut total = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|_| ())?;
            total += piece.len() as u64;
            if total > max_pull_bytes(kind) {
                return Err(());
            }
            file.write_all(&piece).await.map_err(|_| ())?;
            let mut world = shared.world();
            if let Some(publish) = world.publishes.get_mut(publish_id)
                && let Source::PullFromUrl(pull) = &mut publish.source
            {
                pull.downloaded += piece.len() as u64;
            }
        }
        file.flush().await.map_err(|_| ())?;
    }
    let max_duration = shared
        .creator(open_id)
        .map_or(600, |creator| creator.max_video_post_duration_sec);
    Ok(media_check::inspect_and_delete(paths, kind, max_duration).await)
}
