//! Liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret as _;
use serde::Serialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProbeView {
    /// `ok` or `ready`.
    status: &'static str,
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is alive", body = ProbeView)))]
pub(crate) async fn healthz() -> Json<ProbeView> {
    Json(ProbeView { status: "ok" })
}

/// The database answers and, in a process that runs workers, they are alive.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "The database answers and the workers (if this process runs them) beat recently", body = ProbeView),
        (status = 503, description = "The database does not answer (database_unavailable), or the workers have not beaten recently (workers_not_alive: limit and measured age in seconds)", body = ErrorBody),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(error) = state.operations().ping().await {
        tracing::warn!(%error, "readiness check: the database does not answer");
        return ApiError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database does not answer",
        )
        .into_response();
    }
    let Some(process) = &state.settings.workers_process else {
        return Json(ProbeView { status: "ready" }).into_response();
    };
    let limit = state.settings.worker_heartbeat_stale_after;
    let seen = match state.operations().worker_heartbeat(process).await {
        Ok(seen) => seen,
        Err(error) => {
            tracing::warn!(%error, "readiness check: the worker heartbeat cannot be read");
            return ApiError::refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database does not answer",
            )
            .into_response();
        }
    };
    let age = seen.map(|seen| state.now().duration_since(seen).as_secs_f64().max(0.0));
    if age.is_some_and(|age| age <= limit.as_secs_f64()) {
        return Json(ProbeView { status: "ready" }).into_response();
    }
    let message = match age {
        Some(age) => format!(
            "this process's workers last showed they run {age:.0} s ago; the limit is {} s",
            limit.as_secs()
        ),
        None => "this process's workers have not started".to_owned(),
    };
    tracing::warn!(process = %process, "readiness check: {message}");
    ApiError::Refused {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "workers_not_alive",
        message,
        field: None,
        limit: Some(json!(limit.as_secs())),
        measured: Some(json!(age)),
    }
    .into_response()
}

/// Prometheus metrics. When the operator set `http.metrics_token`, only a request carrying
/// `Authorization: Bearer <token>` is answered.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus exposition text", content_type = "text/plain", body = String),
        (status = 401, description = "A metrics token is configured and this request does not carry it", body = ErrorBody),
        (status = 500, description = "The database failed", body = ErrorBody),
    ))]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = &state.settings.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared without an early exit, so the time taken says nothing of the token.
        let matches: bool = presented
            .as_bytes()
            .ct_eq(token.expose_secret().as_bytes())
            .into();
        if !matches {
            return Err(ApiError::refused(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/metrics needs the metrics token: Authorization: Bearer <http.metrics_token>",
            ));
        }
    }
    let text = crate::metrics::render(state.posts()).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
