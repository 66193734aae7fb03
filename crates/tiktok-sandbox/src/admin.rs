//! The sandbox's own admin API under `/sandbox/admin/` (no TikTok counterpart):
//!
//! - `GET /published`: every remembered publish with its current status (the truth).
//! - `GET /creators`: the sandbox creators.
//! - `GET|POST|DELETE /faults`, `DELETE /faults/{id}`: list, add (a [`FaultRule`] as JSON,
//!   answers `{"id": n}`), clear, remove fault rules.
//! - `POST /inbox/{publish_id}/post`: the creator posts from an inbox draft.
//! - `GET /clock`: the sandbox's current time, `{"now": RFC 3339, "unix_seconds": n,
//!   "movable": bool}`.
//! - `POST /clock/advance` with `{"seconds": N}`: moves the clock forward by N seconds (a
//!   positive integer, at most [`MAX_CLOCK_ADVANCE_SECS`]) and answers like `GET /clock` plus
//!   `advanced_seconds`; sleepers (processing, moderation, webhook retries) wake as it passes
//!   their deadlines. Only when started with [`crate::Sandbox::start_with_manual_clock`]:
//!   otherwise 409 `clock_not_movable`. A bad body is 400 `invalid_clock_advance` naming the
//!   field, the limit and the value received. The clock never moves backwards.
//!
//! Errors of this API are `{"error": {"code": ..., "message": ..., ...}}`; they are the
//! sandbox's own, not TikTok's envelope.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use bytes::Bytes;
use serde_json::{Value, json};

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
        .route("/clock", get(read_clock))
        .route("/clock/advance", post(advance_clock))
}

/// Most seconds one `POST /sandbox/admin/clock/advance` may move the clock: 400 days, enough to
/// cross a 365-day refresh token in one step.
pub const MAX_CLOCK_ADVANCE_SECS: u64 = 400 * 86_400;

/// Why a clock advance body was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AdvanceRefusal {
    /// The body is not a JSON object.
    NotAnObject,
    /// `seconds` is missing, not a positive integer, or above the limit; carries what was sent
    /// (`null` when missing).
    Seconds(Value),
}

/// Reads `{"seconds": N}` with 1 ≤ N ≤ [`MAX_CLOCK_ADVANCE_SECS`].
pub(crate) fn parse_advance(body: &[u8]) -> Result<u64, AdvanceRefusal> {
    let value: Value = serde_json::from_slice(body).map_err(|_| AdvanceRefusal::NotAnObject)?;
    let object = value.as_object().ok_or(AdvanceRefusal::NotAnObject)?;
    let seconds = object.get("seconds").cloned().unwrap_or(Value::Null);
    match seconds.as_u64() {
        Some(n) if (1..=MAX_CLOCK_ADVANCE_SECS).contains(&n) => Ok(n),
        _ => Err(AdvanceRefusal::Seconds(seconds)),
    }
}

fn clock_view(shared: &Shared) -> Value {
    let now = shared.now();
    json!({
        "now": now.to_string(),
        "unix_seconds": now.as_second(),
        "movable": shared.movable_clock.is_some(),
    })
}

async fn read_clock(State(shared): State<Arc<Shared>>) -> Response {
    Json(clock_view(&shared)).into_response()
}

async fn advance_clock(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(clock) = &shared.movable_clock else {
        return admin_error(
            StatusCode::CONFLICT,
            json!({
                "code": "clock_not_movable",
                "message": "this sandbox was started on a clock it may not move; start it with a manual clock (Sandbox::start_with_manual_clock) to advance time",
            }),
        );
    };
    let seconds = match parse_advance(&body) {
        Ok(seconds) => seconds,
        Err(AdvanceRefusal::NotAnObject) => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                json!({
                    "code": "invalid_clock_advance",
                    "message": "the body must be a JSON object like {\"seconds\": 3600}",
                    "field": "seconds",
                    "limit": MAX_CLOCK_ADVANCE_SECS,
                    "value": Value::Null,
                }),
            );
        }
        Err(AdvanceRefusal::Seconds(value)) => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                json!({
                    "code": "invalid_clock_advance",
                    "message": format!("seconds must be a positive integer of at most {MAX_CLOCK_ADVANCE_SECS} (400 days), got {value}"),
                    "field": "seconds",
                    "limit": MAX_CLOCK_ADVANCE_SECS,
                    "value": value,
                }),
            );
        }
    };
    let now = clock.advance(std::time::Duration::from_secs(seconds));
    tracing::info!(seconds, %now, "sandbox clock advanced");
    let mut view = clock_view(&shared);
    if let Some(object) = view.as_object_mut() {
        object.insert("advanced_seconds".to_owned(), json!(seconds));
    }
    Json(view).into_response()
}

fn admin_error(status: StatusCode, error: Value) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
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

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::one_second(r#"{"seconds": 1}"#, Ok(1))]
    #[case::an_hour(r#"{"seconds": 3600}"#, Ok(3600))]
    #[case::the_limit(r#"{"seconds": 34560000}"#, Ok(MAX_CLOCK_ADVANCE_SECS))]
    #[case::above_the_limit(
        r#"{"seconds": 34560001}"#,
        Err(AdvanceRefusal::Seconds(json!(34_560_001)))
    )]
    #[case::zero(r#"{"seconds": 0}"#, Err(AdvanceRefusal::Seconds(json!(0))))]
    #[case::negative(r#"{"seconds": -5}"#, Err(AdvanceRefusal::Seconds(json!(-5))))]
    #[case::fraction(r#"{"seconds": 1.5}"#, Err(AdvanceRefusal::Seconds(json!(1.5))))]
    #[case::string(r#"{"seconds": "60"}"#, Err(AdvanceRefusal::Seconds(json!("60"))))]
    #[case::missing(r#"{"secs": 60}"#, Err(AdvanceRefusal::Seconds(Value::Null)))]
    #[case::not_an_object("60", Err(AdvanceRefusal::NotAnObject))]
    #[case::not_json("seconds=60", Err(AdvanceRefusal::NotAnObject))]
    fn a_clock_advance_takes_a_bounded_positive_number_of_seconds(
        #[case] body: &str,
        #[case] expected: Result<u64, AdvanceRefusal>,
    ) {
        assert_eq!(parse_advance(body.as_bytes()), expected);
    }
}
