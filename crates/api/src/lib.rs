//! tokpost's HTTP API: what apps integrate with and what the CLI talks to.
//!
//! What it is: an axum router over [`AppState`] (the store, the injected clock, the TikTok
//! client, the pipeline and the [`ApiSettings`]). Every `/v1` route except the OAuth callback and
//! the inbound TikTok webhook needs an API key (`Authorization: Bearer tp_…`, stored hashed); each
//! key belongs to a workspace and every resource is scoped to it, so another workspace's id
//! answers 404. Requests are parsed at the edge into domain types (`tokpost-core`); every
//! rejection is one [`ApiError`] rendered as `{error: {code, message, field, limit, measured}}`.
//! The document at `/openapi.json` (OpenAPI 3.1, browsable at `/docs`) describes every route.
//!
//! What it must not do: publish anything itself (creating a post stores it with its job; the
//! pipeline's workers do the rest), decide publishing policy, read the wall clock (time comes from
//! [`clock::SharedClock`]), answer 5xx because of what a request contains (only a failing
//! database or TikTok being unavailable does that), or put a secret in a log, an error or a
//! `Debug` output.
//!
//! Map of the crate:
//!
//! ```text
//! state.rs      AppState and ApiSettings
//! auth.rs       the Bearer extractor (API keys and sessions), role checks; issuing keys
//! people/       passwords, session secrets, the sign-in rules
//! error.rs      ApiError and its JSON body
//! import/       the bulk import's CSV or JSON file read into rows, and a row into a request
//! json.rs       the JSON body extractor (serde's path and message on malformed bodies)
//! metrics.rs    Prometheus: request counters, posts by state, queue depth
//! openapi.rs    the OpenAPI document
//! routes/       one module per resource
//! ```

// An ApiError is built at most once per request and turned into a response at once; boxing its
// fields would buy nothing measurable and cost every constructor a layer of noise.
#![allow(clippy::result_large_err)]

mod auth;
mod error;
mod import;
mod json;
pub mod limits;
mod metrics;
mod openapi;
pub mod people;
mod routes;
mod state;

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

pub use auth::{
    ApiKeySecret, Authenticated, IssuedKey, bootstrap, hash_key, issue_key, refusal_message,
};
pub use error::{ApiError, ErrorBody, ErrorDetail};
/// A CSV for `POST /v1/posts/batch` with every column, to start a file from.
pub use import::SAMPLE_CSV as IMPORT_SAMPLE_CSV;
pub use openapi::document as openapi_document;
pub use state::{ApiSettings, AppState};

/// The whole HTTP surface: `/v1/…`, health, metrics, the OpenAPI document and its UI.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight requests finish.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings.limits;
    axum::serve(listener, limits::apply(router(state), limits))
        .with_graceful_shutdown(shutdown)
        .await
}
