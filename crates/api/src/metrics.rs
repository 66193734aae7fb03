//! Prometheus metrics, rendered by the `/metrics` handler (the exporter's own listener is off).
//! Requests are counted by route template and status here; posts by state and the queue depth
//! are read from the store when scraped, so they hold across processes.

use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokpost_store::Store;

/// The process's recorder: installed once, shared by every router in the process (tests start
/// several).
pub(crate) fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
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
pub(crate) async fn render(store: &dyn Store) -> Result<String, tokpost_store::StoreError> {
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
