//! One account's history: who connected, reconnected, refreshed or disconnected it, and when it
//! lost access, newest first (`GET /v1/accounts/{id}/history`).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;

use super::{Chrome, SignedIn, encode_segment, render};
use crate::Dashboard;
use crate::error::PageError;
use crate::views;

struct Change {
    at: String,
    change: String,
    message: String,
    by: String,
}

#[derive(Template)]
#[template(path = "account_history.html")]
struct HistoryPage {
    chrome: Chrome,
    name: String,
    changes: Vec<Change>,
}

pub(crate) async fn account_history(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = encode_segment(&id);
    let account = super::accounts::account_json(&state, &signed_in, &id).await?;
    let history = state
        .api
        .get(signed_in.key(), &format!("/v1/accounts/{id}/history"))
        .await?;
    let text = |event: &Value, pointer: &str| {
        event
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let changes = history
        .get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .map(|event| Change {
                    at: text(event, "/at")
                        .parse::<jiff::Timestamp>()
                        .map(|at| views::when(at, signed_in.zone()))
                        .unwrap_or_default(),
                    change: text(event, "/change").replace('_', " "),
                    message: text(event, "/message"),
                    by: text(event, "/by/name"),
                })
                .collect()
        })
        .unwrap_or_default();
    render(&HistoryPage {
        chrome: signed_in.chrome("accounts"),
        name: account.display_name,
        changes,
    })
}
