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
    let changes = history
        .get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .map(|event| Change {
                    at: views::when_text(&views::text_at(event, "/at"), signed_in.zone()),
                    change: views::text_at(event, "/change").replace('_', " "),
                    message: views::text_at(event, "/message"),
                    by: views::text_at(event, "/by/name"),
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
