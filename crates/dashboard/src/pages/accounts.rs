//! Accounts: each creator's health checklist (a page of cards from one API request), connect
//! and reconnect.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::{Chrome, CsrfForm, SignedIn, render};
use crate::Dashboard;
use crate::error::PageError;
use crate::views::{self, AccountCard, AccountJson, AppAudit, Outcomes};

/// Account cards on one page of the accounts view.
const CARDS_PER_PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    chrome: Chrome,
    accounts: Vec<AccountCard>,
    /// The link to the next page of cards, if there is one.
    next_page: Option<String>,
    /// Whether this is a later page (a link back to the first one is shown).
    later_page: bool,
}

/// The accounts view's query: where the page starts.
#[derive(Debug, Deserialize)]
pub(crate) struct AccountsQuery {
    cursor: Option<String>,
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
    every_listed(state, signed_in, "").await
}

/// Every account `GET /v1/accounts` lists (with `include`, when not empty), 200 to a request.
async fn every_listed(
    state: &Dashboard,
    signed_in: &SignedIn,
    include: &str,
) -> Result<Vec<Value>, PageError> {
    let mut accounts = Vec::new();
    let mut cursor = None;
    loop {
        let (listed, next) = listed_page(state, signed_in, include, 200, cursor.as_deref()).await?;
        accounts.extend(listed);
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(accounts),
        }
    }
}

/// A page of `GET /v1/accounts` (with `include`, when not empty) from `cursor`: the listed
/// accounts and the next page's cursor.
async fn listed_page(
    state: &Dashboard,
    signed_in: &SignedIn,
    include: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Value>, Option<String>), PageError> {
    let mut path = format!("/v1/accounts?limit={limit}");
    if !include.is_empty() {
        path.push_str(&format!("&include={include}"));
    }
    if let Some(cursor) = cursor {
        path.push_str(&format!("&cursor={}", encoded(cursor)));
    }
    let mut page = state.api.get(signed_in.key(), &path).await?;
    let listed = match page.get_mut("accounts").map(Value::take) {
        Some(Value::Array(listed)) => listed,
        _ => Vec::new(),
    };
    let next = page
        .get("next_cursor")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((listed, next))
}

/// `text` as a query value.
fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A page of accounts with their health checklists (`GET /v1/accounts?include=health`: a
/// request per page, not per account), and the next page's cursor.
pub(crate) async fn health_page(
    state: &Dashboard,
    signed_in: &SignedIn,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<AccountJson>, Option<String>), PageError> {
    let (listed, next) = listed_page(state, signed_in, "health", limit, cursor).await?;
    Ok((read_accounts(listed)?, next))
}

/// Accounts as the API lists them, read for the dashboard.
fn read_accounts(listed: Vec<Value>) -> Result<Vec<AccountJson>, PageError> {
    listed
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|_| PageError::Internal("the API's accounts could not be read"))
}

/// Every account of the workspace with its health checklist, 200 to a request.
pub(crate) async fn every_account_health(
    state: &Dashboard,
    signed_in: &SignedIn,
) -> Result<Vec<AccountJson>, PageError> {
    read_accounts(every_listed(state, signed_in, "health").await?)
}

pub(crate) async fn accounts(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Query(query): Query<AccountsQuery>,
) -> Result<Response, PageError> {
    let now = state.app.now();
    let audit = AppAudit::of(&state.app);
    let cursor = query.cursor.filter(|cursor| !cursor.is_empty());
    let (accounts, next) = match health_page(&state, &signed_in, CARDS_PER_PAGE, cursor.as_deref())
        .await
    {
        Err(PageError::Api(message)) if cursor.is_some() => {
            return Err(PageError::BadInput(format!(
                "this link to a page of accounts is damaged ({message}); start again from the first page of accounts"
            )));
        }
        page => page?,
    };
    let cards = accounts
        .into_iter()
        .map(|account| {
            let outcomes = Outcomes::of(account.health.as_ref());
            views::account_card(account, &outcomes, Some(audit), now, signed_in.zone())
        })
        .collect();
    render(&AccountsPage {
        chrome: signed_in.chrome("accounts"),
        accounts: cards,
        next_page: next.map(|cursor| format!("/accounts?cursor={}", encoded(&cursor))),
        later_page: cursor.is_some(),
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
        .call(
            Some(signed_in.key()),
            Method::POST,
            "/v1/accounts/connect",
            None,
        )
        .await?;
    let url = answer
        .body
        .get("authorize_url")
        .and_then(Value::as_str)
        .filter(|_| answer.status.is_success())
        .ok_or_else(|| PageError::Api(answer.error_message()))?;
    Ok(Redirect::to(url).into_response())
}
