//! Accounts: each creator's health checklist, connect and reconnect.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use super::{CALENDAR_LIMIT, Chrome, CsrfForm, SignedIn, render};
use crate::Dashboard;
use crate::error::PageError;
use crate::views::{self, AccountCard, AccountJson, AppAudit, Outcomes};

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    chrome: Chrome,
    accounts: Vec<AccountCard>,
}

pub(crate) async fn account_json(
    state: &Dashboard,
    signed_in: &SignedIn,
    id: &str,
) -> Result<AccountJson, PageError> {
    let value = state
        .api
        .get(signed_in.key(), &format!("/v1/accounts/{id}"))
        .await?;
    serde_json::from_value(value)
        .map_err(|_| PageError::Internal("the API's account could not be read"))
}

/// Every account of the workspace as `GET /v1/accounts` lists them, page after page.
pub(crate) async fn account_list(
    state: &Dashboard,
    signed_in: &SignedIn,
) -> Result<Vec<Value>, PageError> {
    let mut accounts = Vec::new();
    let mut path = "/v1/accounts?limit=200".to_owned();
    loop {
        let mut page = state.api.get(signed_in.key(), &path).await?;
        if let Some(Value::Array(listed)) = page.get_mut("accounts").map(Value::take) {
            accounts.extend(listed);
        }
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(cursor) => path = format!("/v1/accounts?limit=200&cursor={cursor}"),
            None => return Ok(accounts),
        }
    }
}

pub(crate) async fn account_ids(
    state: &Dashboard,
    signed_in: &SignedIn,
) -> Result<Vec<String>, PageError> {
    Ok(account_list(state, signed_in)
        .await?
        .iter()
        .filter_map(|account| account.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .collect())
}

pub(crate) async fn accounts(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let now = state.app.now();
    let posts = state
        .app
        .store
        .posts(signed_in.session.workspace_id, CALENDAR_LIMIT)
        .await?;
    let audit = AppAudit::of(&state.app);
    let mut cards = Vec::new();
    for id in account_ids(&state, &signed_in).await? {
        let account = account_json(&state, &signed_in, &id).await?;
        let mut outcomes = Outcomes::default();
        for post in posts.iter().filter(|p| p.account_id.to_string() == id) {
            let at = post.scheduled_at.at();
            match post.state {
                tokpost_core::PostState::Published | tokpost_core::PostState::InboxDelivered
                    if outcomes.last_success.is_none_or(|seen| seen < at) =>
                {
                    outcomes.last_success = Some(at);
                }
                tokpost_core::PostState::Failed { action, .. }
                    if outcomes
                        .last_failure
                        .as_ref()
                        .is_none_or(|(seen, _)| *seen < at) =>
                {
                    let action = serde_json::to_value(action)
                        .ok()
                        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                        .unwrap_or_default();
                    outcomes.last_failure = Some((at, action));
                }
                _ => {}
            }
        }
        cards.push(views::account_card(
            account,
            &outcomes,
            Some(audit),
            now,
            signed_in.zone(),
        ));
    }
    render(&AccountsPage {
        chrome: signed_in.chrome("accounts"),
        accounts: cards,
    })
}

/// Starts TikTok's consent flow (connect or reconnect: TikTok's answer says which creator).
pub(crate) async fn connect(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let answer = state
        .api
        .call(signed_in.key(), Method::POST, "/v1/accounts/connect", None)
        .await?;
    let url = answer
        .body
        .get("authorize_url")
        .and_then(Value::as_str)
        .filter(|_| answer.status.is_success())
        .ok_or_else(|| PageError::Api(answer.error_message()))?;
    Ok(Redirect::to(url).into_response())
}
