//! The sandbox's own admin API under `/sandbox/admin/` (no TikTok counterpart):
//!
//! - `GET /published`: every remembered publish with its current status (the truth).
//! - `GET /creators`: the sandbox creators.
//! - `GET|POST|DELETE /faults`, `DELETE /faults/{id}`: list, add (a [`FaultRule`] as JSON,
//!   answers `{"id": n}`), clear, remove fault rules.
//! - `POST /inbox/{publish_id}/post`: the creator posts from an inbox draft.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;

use crate::faults::FaultRule;
use crate::publish::user_posts_from_inbox;
use crate::state::{PublishedRecord, Shared};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/published", get(list_published))
        .route("/creators", get(list_creators))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/faults/{id}", delete(remove_fault))
        .route("/inbox/{publish_id}/post", post(inbox_post))
}

/// Every remembered publish, oldest first.
pub(crate) fn published(shared: &Shared) -> Vec<PublishedRecord> {
    let now = shared.now();
    let world = shared.world();
    let mut records: Vec<PublishedRecord> =
        world.publishes.values().map(|p| p.record(now)).collect();
    records.sort_by(|a, b| (a.created_at, &a.publish_id).cmp(&(b.created_at, &b.publish_id)));
    records
}

async fn list_published(State(shared): State<Arc<Shared>>) -> Response {
    Json(published(&shared)).into_response()
}

async fn list_creators(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.config.creators.clone()).into_response()
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.world().faults.list()).into_response()
}

async fn add_fault(State(shared): State<Arc<Shared>>, Json(rule): Json<FaultRule>) -> Response {
    let id = shared.world().faults.add(rule);
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.world().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn remove_fault(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    if shared.world().faults.remove(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

async fn inbox_post(State(shared): State<Arc<Shared>>, Path(publish_id): Path<String>) -> Response {
    if user_posts_from_inbox(&shared, &publish_id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}
