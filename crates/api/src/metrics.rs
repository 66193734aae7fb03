//! Prometheus metrics, rendered by the `/metrics` handler (the exporter's own listener is off).
//! Requests are counted by route template and status here; TikTok calls (by endpoint, status and
//! TikTok's code, with latency), token refreshes (by outcome), publish latency (scheduled →
//! published) and webhook deliveries are recorded where they happen (the `tiktok` client, the
//! pipeline, the webhook sender); posts by state and the queue depth are read from the store when
//! scraped, so they hold across processes.

use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokpost_store::PostStore;

/// The process's recorder: installed once, shared by every router in the process (tests start
/// several).
pub(crate) fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Histograms, not the exporter's default summaries: buckets aggregate across
            // processes. TikTok calls take milliseconds to a minute (a chunk upload); a publish
            // takes seconds to hours after its scheduled time (moderation, deferrals).
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("tokpost_tiktok_call_duration_seconds".to_owned()),
                    &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("tokpost_publish_latency_seconds".to_owned()),
                        &[
                            1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3_600.0, 14_400.0,
                            86_400.0,
                        ],
                    )
                });
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                Err(error) => {
                    tracing::warn!(%error, "metrics buckets refused; histograms become summaries");
                    PrometheusBuilder::new().build_recorder()
                }
            };
            let handle = recorder.handle();
            // Another recorder may own the process (an embedding program); then we render
            // only what the store can tell.
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .clone()
}

/// Counts every request by method, route template (never the raw path: ids would explode the
/// label set) and status.
pub(crate) async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics::counter!(
        "tokpost_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

/// The exposition text: the recorder's metrics plus posts by state and queued jobs.
pub(crate) async fn render(store: &dyn PostStore) -> Result<String, tokpost_store::StoreError> {
    let (states, queued) = store.post_state_counts().await?;
    let mut text = handle().map(|handle| handle.render()).unwrap_or_default();
    text.push_str("# HELP tokpost_posts Posts by state.\n# TYPE tokpost_posts gauge\n");
    for (state, count) in states {
        text.push_str(&format!(
            "tokpost_posts{{state=\"{}\"}} {count}\n",
            state.as_str()
        ));
    }
    text.push_str(
        "# HELP tokpost_queue_jobs Jobs queued or leased.\n# TYPE tokpost_queue_jobs gauge\n",
    );
    text.push_str(&format!("tokpost_queue_jobs {queued}\n"));
    Ok(text)
}
