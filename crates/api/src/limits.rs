//! What one process serves at once, and for how long: every route of the API and the dashboard.
//!
//! - **Concurrency.** At most [`Limits::max_in_flight`] requests are served at once; one more
//!   is answered at once with 503 `overloaded` and `Retry-After`, instead of queueing until
//!   memory or the database's pool runs out.
//! - **Time.** A request that has not produced its answer within [`Limits::timeout`] is answered
//!   503 `request_timeout` (its work is dropped). Transfers that take as long as their bytes
//!   (a media upload, an import, media served to TikTok or the dashboard) are exempt: they
//!   read or write a stream, and stop when it stalls (the HTTP server's own timeouts).
//!
//! These are waits on the runtime's timer, like network timeouts, not the injected clock.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// A process's request limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests served at once.
    pub max_in_flight: usize,
    /// The longest a request (other than a transfer) may take.
    pub timeout: Duration,
}

impl Default for Limits {
    /// 512 requests at once, 30 seconds each.
    fn default() -> Self {
        Self {
            max_in_flight: 512,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The limits applied to `router` (call it last, on the whole router of the process).
pub fn apply(router: axum::Router, limits: Limits) -> axum::Router {
    let state = Arc::new(Gate {
        permits: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
        limits,
    });
    router.layer(axum::middleware::from_fn_with_state(state, limit))
}

#[derive(Debug)]
struct Gate {
    permits: Arc<Semaphore>,
    limits: Limits,
}

async fn limit(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let Ok(permit) = Arc::clone(&gate.permits).try_acquire_owned() else {
        metrics::counter!("tokpost_http_requests_shed_total").increment(1);
        let mut response = ApiError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "tokpost is serving {} requests at once, its limit; try again in a second",
                gate.limits.max_in_flight
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let response = if is_transfer(request.method(), request.uri().path()) {
        next.run(request).await
    } else {
        match tokio::time::timeout(gate.limits.timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                metrics::counter!("tokpost_http_requests_timed_out_total").increment(1);
                ApiError::refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "request_timeout",
                    format!(
                        "the request took longer than {} s and was stopped; try again",
                        gate.limits.timeout.as_secs()
                    ),
                )
                .into_response()
            }
        }
    };
    drop(permit);
    response
}

/// Requests whose length is their bytes': no overall deadline.
fn is_transfer(method: &Method, path: &str) -> bool {
    (method == Method::POST && matches!(path, "/v1/media" | "/v1/posts/batch"))
        || (method == Method::GET
            && (path.starts_with("/media/") || path.starts_with("/compose/media/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    fn app(limits: Limits, wait: Arc<tokio::sync::Notify>) -> axum::Router {
        let slow = {
            let wait = Arc::clone(&wait);
            move || {
                let wait = Arc::clone(&wait);
                async move {
                    wait.notified().await;
                    "done"
                }
            }
        };
        apply(
            axum::Router::new()
                .route("/slow", get(slow.clone()))
                .route("/media/pull/x", get(slow))
                .route("/fast", get(|| async { "fast" })),
            limits,
        )
    }

    async fn status(app: &axum::Router, path: &str) -> (StatusCode, String) {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_request_past_the_limit_of_requests_at_once_is_shed_with_503() {
        let wait = Arc::new(tokio::sync::Notify::new());
        let app = app(
            Limits {
                max_in_flight: 2,
                timeout: Duration::from_secs(60),
            },
            Arc::clone(&wait),
        );
        let first = tokio::spawn({
            let app = app.clone();
            async move { status(&app, "/slow").await }
        });
        let second = tokio::spawn({
            let app = app.clone();
            async move { status(&app, "/slow").await }
        });
        // Both slow requests hold their permits.
        while Arc::strong_count(&wait) < 5 {
            tokio::task::yield_now().await;
        }
        let (shed, body) = status(&app, "/fast").await;
        assert_eq!(shed, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("overloaded"), "{body}");
        wait.notify_waiters();
        assert_eq!(first.await.unwrap().0, StatusCode::OK);
        assert_eq!(second.await.unwrap().0, StatusCode::OK);
        assert_eq!(status(&app, "/fast").await.0, StatusCode::OK);
    }

    // On tokio's paused clock, which moves itself forward whenever every task waits: the
    // deadlines pass without the test sleeping.
    #[tokio::test(start_paused = true)]
    async fn a_slow_request_is_stopped_at_the_timeout_but_a_transfer_is_not() {
        let wait = Arc::new(tokio::sync::Notify::new());
        let app = app(
            Limits {
                max_in_flight: 8,
                timeout: Duration::from_millis(50),
            },
            Arc::clone(&wait),
        );
        let (timed_out, body) = status(&app, "/slow").await;
        assert_eq!(timed_out, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("request_timeout"), "{body}");
        let transfer = tokio::spawn({
            let app = app.clone();
            async move { status(&app, "/media/pull/x").await }
        });
        tokio::time::sleep(Duration::from_secs(3_600)).await;
        assert!(
            !transfer.is_finished(),
            "a transfer has no overall deadline"
        );
        wait.notify_waiters();
        assert_eq!(transfer.await.unwrap().0, StatusCode::OK);
    }
}
