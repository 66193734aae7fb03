//! Accounts: connecting a creator through TikTok's consent page (state bound to the workspace,
//! single use, expiring; PKCE when configured), the callback that stores the account, listing,
//! health, refresh now, fresh creator info, and disconnecting (revoked at TikTok).

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tiktok::{AuthorizationCallback, AuthorizeRequest, CallbackError, PkceVerifier};
use tokpost_core::{Account, AccountId, AccountStatus, OpenId, Scope};
use tokpost_core::{ValidationError, ValidationProblem};
use tokpost_pipeline::token_keeper::KeeperError;
use tokpost_store::{
    AccountChange, AccountEvent, HealthFacts, NewAccount, NewOAuthState, OAuthStateTake,
};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Authenticated, hash_key};
use crate::error::{ApiError, ErrorBody};
use crate::routes::actors::{ActorView, Actors};
use crate::routes::{paging, parse_id};
use crate::state::AppState;
use tokpost_core::Action;

/// The scopes tokpost asks for: the profile, direct posting and inbox drafts.
const REQUESTED_SCOPES: [&str; 3] = [
    Scope::USER_INFO_BASIC,
    Scope::VIDEO_PUBLISH,
    Scope::VIDEO_UPLOAD,
];

/// Where to send the creator.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectView {
    /// TikTok's consent page; the callback comes back to tokpost.
    authorize_url: String,
    /// The link works until then.
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

/// A connected creator account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountView {
    #[schema(value_type = String, format = Uuid)]
    id: AccountId,
    /// TikTok's id of the creator for this app.
    open_id: String,
    display_name: String,
    avatar_url: Option<String>,
    /// `connected`, `needs_reconnect` or `disconnected`.
    status: String,
    /// Why a reconnect is needed, when it is.
    reconnect_reason: Option<String>,
    scopes: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    access_token_expires_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    refresh_token_expires_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    /// The checklist (on the single-account answer, and in a listing with `include=health`).
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<HealthView>,
}

/// An account's health: what could stop its next post.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthView {
    connected: bool,
    /// Scopes tokpost needs for direct posts and inbox drafts.
    scopes_needed: Vec<String>,
    /// Needed scopes the creator did not grant.
    scopes_missing: Vec<String>,
    /// Whether insights can be read: every insight scope (`tiktok.insight_scopes`) granted.
    insights_ready: bool,
    /// Insight scopes the creator did not grant (posting works without them; a reconnect
    /// with them checked brings insights).
    insight_scopes_missing: Vec<String>,
    /// Direct posts in the last 24 h.
    posts_last_24h: u64,
    /// The daily cap in force (the configured one, or a lower one TikTok enforced).
    daily_post_cap: u32,
    /// When the next direct-post slot frees, if the cap is reached.
    #[schema(value_type = Option<String>, format = DateTime)]
    next_slot_at: Option<Timestamp>,
    /// Inbox drafts the creator has not acted on yet (last 24 h).
    pending_inbox_shares: u64,
    /// The latest creator-info answer TikTok gave (privacy options, max duration, …).
    #[schema(value_type = Option<Object>)]
    creator_info: Option<Value>,
    #[schema(value_type = Option<String>, format = DateTime)]
    creator_info_fetched_at: Option<Timestamp>,
    /// When the account's last post of the past 30 days was published (or delivered to the
    /// creator's inbox).
    #[schema(value_type = Option<String>, format = DateTime)]
    last_published_at: Option<Timestamp>,
    /// The account's last failed post of the past 30 days: its id, what to do and who acts.
    #[schema(value_type = Option<Object>)]
    last_failure: Option<Value>,
    /// What to do next, in words; empty when nothing.
    advice: Vec<String>,
}

fn account_view(account: Account, health: Option<HealthView>) -> AccountView {
    let (status, reconnect_reason) = match account.status {
        AccountStatus::Connected => ("connected", None),
        AccountStatus::NeedsReconnect { why } => (
            "needs_reconnect",
            serde_json::to_value(why)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
        ),
        AccountStatus::Disconnected => ("disconnected", None),
    };
    AccountView {
        id: account.id,
        open_id: account.open_id.as_str().to_owned(),
        display_name: account.display_name,
        avatar_url: account.avatar_url,
        status: status.to_owned(),
        reconnect_reason,
        scopes: account
            .scopes
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        access_token_expires_at: account.access_token_expires_at,
        refresh_token_expires_at: account.refresh_token_expires_at,
        created_at: account.created_at,
        health,
    }
}

/// The account `id` of the caller's workspace; any other answers 404.
pub(crate) async fn owned_account(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
) -> Result<Account, ApiError> {
    let id: AccountId = parse_id(id, "account")?;
    state
        .accounts()
        .account(id)
        .await?
        .filter(|account| account.workspace_id == auth.workspace_id)
        .ok_or(ApiError::NotFound("account"))
}

/// Starts connecting a TikTok account: the URL to open in the creator's browser.
#[utoipa::path(post, path = "/v1/accounts/connect", tag = "accounts",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The consent page URL, valid for 10 minutes", body = ConnectView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
    ))]
pub(crate) async fn connect(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<ConnectView>, ApiError> {
    auth.require(Action::ManageAccounts)?;
    let now = state.now();
    let random: [u8; 32] = rand::random();
    let state_value = hex::encode(random);
    let verifier = state.settings.pkce.then(PkceVerifier::generate);
    let challenge = verifier.as_ref().map(PkceVerifier::challenge);
    let asked: Vec<&str> = REQUESTED_SCOPES
        .iter()
        .copied()
        .chain(state.settings.insight_scopes.iter().map(String::as_str))
        .collect();
    let scopes: Vec<tiktok::Scope> = tiktok::Scope::parse_list(&asked.join(","));
    let url = state
        .client
        .authorize_url(&AuthorizeRequest {
            scopes: &scopes,
            state: &state_value,
            disable_auto_auth: Some(true),
            pkce: challenge.as_ref(),
        })
        .map_err(|error| {
            ApiError::refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "misconfigured",
                format!("the TikTok authorize URL cannot be formed: {error}"),
            )
        })?;
    let expires_at = clock::add(now, state.settings.oauth_state_ttl);
    state
        .oauth_states()
        .save_oauth_state(
            NewOAuthState {
                state_hash: hash_key(&state_value),
                workspace_id: auth.workspace_id,
                pkce_verifier: verifier
                    .as_ref()
                    .map(|v| SecretString::from(v.expose_secret().to_owned())),
                expires_at,
                started_by: auth.principal,
            },
            now,
        )
        .await?;
    Ok(Json(ConnectView {
        authorize_url: url.to_string(),
        expires_at,
    }))
}

/// TikTok sends the creator back here after the consent page.
#[utoipa::path(get, path = "/v1/oauth/tiktok/callback", tag = "accounts",
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state tokpost sent"),
        ("scopes" = Option<String>, Query, description = "The scopes granted, comma-separated"),
        ("error" = Option<String>, Query, description = "TikTok's error, when the creator refused"),
    ),
    responses(
        (status = 200, description = "The account is connected", body = AccountView),
        (status = 303, description = "Connected; the browser goes to the dashboard"),
        (status = 400, description = "No state, an unknown state, or an expired one", body = ErrorBody),
        (status = 409, description = "The state was used before (a replayed callback)", body = ErrorBody),
        (status = 422, description = "TikTok refused, or scopes are missing", body = ErrorBody),
        (status = 503, description = "TikTok is unavailable", body = ErrorBody),
    ))]
pub(crate) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let now = state.now();
    let state_value = url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "state")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            ApiError::field(
                "oauth_state_missing",
                "state",
                "the callback carries no state; start again from POST /v1/accounts/connect",
            )
        })?;
    let (workspace_id, verifier, started_by) = match state
        .oauth_states()
        .take_oauth_state(&hash_key(&state_value), now)
        .await?
    {
        OAuthStateTake::Taken {
            workspace_id,
            pkce_verifier,
            started_by,
        } => (workspace_id, pkce_verifier, started_by),
        OAuthStateTake::Unknown => {
            return Err(state_error(
                StatusCode::BAD_REQUEST,
                "oauth_state_unknown",
                "this state was not issued by tokpost (a forged or mismatched callback)",
            ));
        }
        OAuthStateTake::AlreadyUsed => {
            return Err(state_error(
                StatusCode::CONFLICT,
                "oauth_state_replayed",
                "this state was used before; each connect link works once",
            ));
        }
        OAuthStateTake::Expired => {
            return Err(state_error(
                StatusCode::BAD_REQUEST,
                "oauth_state_expired",
                "the connect link expired; start again from POST /v1/accounts/connect",
            ));
        }
    };
    let callback = AuthorizationCallback::from_query(&query).map_err(|error| match error {
        CallbackError::Refused(failure) => ApiError::from(failure),
        CallbackError::Missing(what) => ApiError::field(
            "oauth_callback_incomplete",
            what,
            format!("the callback has no `{what}`"),
        ),
        other => ApiError::refused(
            StatusCode::BAD_REQUEST,
            "oauth_callback_invalid",
            other.to_string(),
        ),
    })?;
    let verifier = verifier
        .map(|secret| PkceVerifier::new(secret.expose_secret().to_owned()))
        .transpose()
        .map_err(|_| {
            ApiError::refused(
                StatusCode::BAD_REQUEST,
                "oauth_state_invalid",
                "the stored PKCE verifier is not valid",
            )
        })?;
    let grant = state
        .client
        .exchange_code(&callback.code, verifier.as_ref())
        .await?;
    let granted: BTreeSet<Scope> = grant
        .scopes
        .iter()
        .filter_map(|scope| Scope::new(scope.as_str()).ok())
        .collect();
    let has = |name: &str| granted.iter().any(|s| s.as_str() == name);
    if !has(Scope::USER_INFO_BASIC) || !(has(Scope::VIDEO_PUBLISH) || has(Scope::VIDEO_UPLOAD)) {
        return Err(ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "scopes_missing",
            message: "the creator must grant user.info.basic and video.publish (direct posts) or video.upload (inbox drafts); connect again and keep them checked".to_owned(),
            field: Some("scopes".to_owned()),
            limit: Some(json!(REQUESTED_SCOPES)),
            measured: Some(json!(granted.iter().map(Scope::as_str).collect::<Vec<_>>())),
        });
    }
    let creator = if has(Scope::VIDEO_PUBLISH) {
        match state.client.creator_info(&grant.access_token).await {
            Ok(info) => Some(info),
            // A creator who cannot post right now (their daily cap, a posting ban, the app's
            // cap of creators) can still connect: the composer says why when they try to post.
            Err(failure) if CANNOT_POST_NOW.contains(&failure.classification().id()) => None,
            Err(failure) => return Err(failure.into()),
        }
    } else {
        None
    };
    let open_id = OpenId::new(grant.open_id.as_str())?;
    let display_name = creator
        .as_ref()
        .map(|c| c.creator_nickname.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| open_id.as_str().to_owned());
    let known = state
        .accounts()
        .accounts_by_open_id(&open_id)
        .await?
        .iter()
        .any(|account| account.workspace_id == workspace_id);
    let account = state
        .accounts()
        .connect_account(
            NewAccount {
                workspace_id,
                open_id,
                display_name,
                avatar_url: creator
                    .as_ref()
                    .map(|c| c.creator_avatar_url.clone())
                    .filter(|u| !u.is_empty()),
                scopes: granted,
                tokens: tokpost_pipeline::token_keeper::tokens_from_grant(&grant, now),
            },
            now,
        )
        .await?;
    if let Some(creator) = &creator {
        state
            .accounts()
            .save_creator_info(
                account.id,
                &tokpost_pipeline::preflight::creator_info_snapshot(creator),
                now,
            )
            .await?;
    }
    state
        .account_history()
        .record_account_event(AccountEvent {
            account_id: account.id,
            at: now,
            change: if known {
                AccountChange::Reconnected
            } else {
                AccountChange::Connected
            },
            message: format!(
                "{} through TikTok's consent, granting {}",
                if known { "reconnected" } else { "connected" },
                account
                    .scopes
                    .iter()
                    .map(Scope::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            by: started_by,
        })
        .await?;
    state.pipeline.account_reconnected(account.id).await?;
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return Ok(Redirect::to(state.settings.public_base_url.as_str()).into_response());
    }
    Ok(Json(account_view(account, None)).into_response())
}

fn state_error(status: StatusCode, code: &'static str, message: &str) -> ApiError {
    ApiError::Refused {
        status,
        code,
        message: message.to_owned(),
        field: Some("state".to_owned()),
        limit: None,
        measured: None,
    }
}

/// `GET /v1/accounts`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccountListQuery {
    /// Page size, 1–200 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `health`: each account with its health checklist, as `GET /v1/accounts/{id}` answers
    /// it (read for the whole page at once).
    include: Option<String>,
}

/// Whether the listing's `include` asks for the health checklists.
fn include_health(include: Option<&str>) -> Result<bool, ApiError> {
    let Some(include) = include else {
        return Ok(false);
    };
    let mut health = false;
    for part in include.split(',').map(str::trim) {
        match part {
            "health" => health = true,
            _ => {
                return Err(ApiError::Validation(ValidationError::new(
                    "include",
                    ValidationProblem::Malformed {
                        expected: "health (the only part a listing can include)",
                    },
                )));
            }
        }
    }
    Ok(health)
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountPage {
    accounts: Vec<AccountView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// The workspace's accounts, oldest first, a page at a time; with `include=health`, each with
/// its health checklist.
#[utoipa::path(get, path = "/v1/accounts", tag = "accounts",
    security(("api_key" = [])),
    params(AccountListQuery),
    responses(
        (status = 200, description = "A page of the workspace's accounts, oldest first", body = AccountPage),
        (status = 400, description = "A query parameter is not understood", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 422, description = "The limit, cursor or include is not acceptable", body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<AccountListQuery>, QueryRejection>,
) -> Result<Json<AccountPage>, ApiError> {
    auth.require(Action::Read)?;
    let query = paging::query(query)?;
    let limit = paging::limit(query.limit.as_deref())?;
    let after = paging::cursor::<AccountId>(query.cursor.as_deref())?;
    let with_health = include_health(query.include.as_deref())?;
    let accounts = state
        .accounts()
        .accounts_page(auth.workspace_id, after, limit)
        .await?;
    let next_cursor = paging::next_cursor(
        accounts.len(),
        limit,
        accounts.last().map(|last| (last.created_at, last.id)),
    );
    let mut health = if with_health {
        healths(&state, &accounts).await?
    } else {
        HashMap::new()
    };
    Ok(Json(AccountPage {
        accounts: accounts
            .into_iter()
            .map(|account| {
                let health = health.remove(&account.id);
                account_view(account, health)
            })
            .collect(),
        next_cursor,
    }))
}

/// One account with its health checklist.
#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The account and its health", body = AccountView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such account in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    auth.require(Action::Read)?;
    let account = owned_account(&state, &auth, &id).await?;
    let health = healths(&state, std::slice::from_ref(&account))
        .await?
        .remove(&account.id);
    Ok(Json(account_view(account, health)))
}

/// The health of each of `accounts`, from one bulk read of the store (a handful of queries
/// whatever the number of accounts).
async fn healths(
    state: &AppState,
    accounts: &[Account],
) -> Result<HashMap<AccountId, HealthView>, ApiError> {
    let now = state.now();
    let window_from = tokpost_pipeline::caps::window_start(now);
    let outcomes_from = now
        .checked_sub(jiff::SignedDuration::from_hours(24 * OUTCOMES_DAYS))
        .unwrap_or(now);
    let ids: Vec<AccountId> = accounts.iter().map(|account| account.id).collect();
    let mut facts = state
        .account_health()
        .account_health(&ids, window_from, outcomes_from)
        .await?;
    Ok(accounts
        .iter()
        .map(|account| {
            let facts = facts.remove(&account.id).unwrap_or_default();
            (
                account.id,
                health(
                    account,
                    facts,
                    state.settings.daily_post_cap,
                    &state.settings.insight_scopes,
                    now,
                ),
            )
        })
        .collect())
}

/// Outcomes (the last success, the last failure) are looked for among the posts scheduled in
/// the past this many days.
const OUTCOMES_DAYS: i64 = 30;

/// What could stop `account`'s next post, judged from its recorded `facts` at `now`.
fn health(
    account: &Account,
    facts: HealthFacts,
    configured_cap: u32,
    insight_scopes: &[String],
    now: Timestamp,
) -> HealthView {
    let cap = facts
        .learned_cap
        .map_or(configured_cap, |learned| learned.min(configured_cap));
    let scopes_missing: Vec<String> = REQUESTED_SCOPES
        .iter()
        .filter(|scope| !account.has_scope(scope))
        .map(|s| (*s).to_owned())
        .collect();
    let insight_scopes_missing: Vec<String> = insight_scopes
        .iter()
        .filter(|scope| !account.has_scope(scope))
        .cloned()
        .collect();
    let next_slot_at = tokpost_pipeline::caps::frees_at(&facts.direct_posts, u64::from(cap));
    let last_failure = facts.last_failure.map(|failure| {
        json!({
            "post_id": failure.post,
            "at": failure.at,
            "state": failure.state,
        })
    });
    let mut advice = Vec::new();
    match account.status {
        AccountStatus::Connected => {}
        AccountStatus::NeedsReconnect { .. } => advice.push(
            "connect the account again (POST /v1/accounts/connect); its posts wait meanwhile"
                .to_owned(),
        ),
        AccountStatus::Disconnected => {
            advice.push("the account was disconnected; connect it again to post".to_owned());
        }
    }
    if !scopes_missing.is_empty() {
        advice.push(format!(
            "the creator did not grant {}; connect again and keep them checked",
            scopes_missing.join(", ")
        ));
    }
    if !insight_scopes_missing.is_empty() {
        advice.push(format!(
            "insights need a reconnect: the creator did not grant {} (posting is not affected)",
            insight_scopes_missing.join(", ")
        ));
    }
    if account.refresh_token_expires_at.duration_since(now)
        < jiff::SignedDuration::from_hours(24 * 30)
    {
        advice
            .push("the refresh token expires within 30 days; connect again before then".to_owned());
    }
    if let Some(at) = next_slot_at {
        advice.push(format!(
            "the daily post cap is reached; the next slot frees at {at}"
        ));
    }
    HealthView {
        connected: account.status == AccountStatus::Connected,
        scopes_needed: REQUESTED_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        scopes_missing,
        insights_ready: insight_scopes_missing.is_empty(),
        insight_scopes_missing,
        posts_last_24h: facts.direct_posts.len() as u64,
        daily_post_cap: cap,
        next_slot_at,
        pending_inbox_shares: facts.inbox_shares,
        creator_info_fetched_at: facts.creator_info.as_ref().map(|s| s.fetched_at),
        creator_info: facts.creator_info.map(|s| s.info),
        last_published_at: facts.last_success_at,
        last_failure,
        advice,
    }
}

/// TikTok's `creator_info` answers for a creator who cannot post now (tiktok-api.md, Point 1b of
/// the UX guidelines): no reason to refuse the connection.
const CANNOT_POST_NOW: [&str; 3] = [
    "spam_risk_too_many_posts",
    "spam_risk_user_banned_from_posting",
    "reached_active_user_cap",
];

fn keeper_error(error: KeeperError) -> ApiError {
    match error {
        KeeperError::Store(error) => ApiError::Store(error),
        KeeperError::UnknownAccount => ApiError::NotFound("account"),
        KeeperError::NotConnected(status) => ApiError::refused(
            StatusCode::CONFLICT,
            "account_not_connected",
            format!("the account is not connected ({status:?}); connect it again"),
        ),
        KeeperError::NeedsReconnect(why) => ApiError::refused(
            StatusCode::CONFLICT,
            "account_needs_reconnect",
            format!("the account must be connected again ({why:?})"),
        ),
        KeeperError::TikTok(failure) => ApiError::TikTok(failure),
        KeeperError::BackingOff { until } => ApiError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "token_refresh_backing_off",
            format!(
                "a refresh of this account failed moments ago; tokpost tries again from {until}"
            ),
        ),
    }
}

/// Refreshes the account's access token now.
#[utoipa::path(post, path = "/v1/accounts/{id}/refresh", tag = "accounts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "Refreshed, or refreshed by a request that was already in flight; the account with its new expiries", body = AccountView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such account in this workspace", body = ErrorBody),
        (status = 409, description = "The account is not connected", body = ErrorBody),
        (status = 422, description = "TikTok refused the refresh", body = ErrorBody),
        (status = 503, description = "TikTok is unavailable", body = ErrorBody),
    ))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    auth.require(Action::ManageAccounts)?;
    let account = owned_account(&state, &auth, &id).await?;
    if account.status != AccountStatus::Connected {
        return Err(keeper_error(KeeperError::NotConnected(account.status)));
    }
    state
        .pipeline
        .keeper()
        .refresh_on_request(account.id)
        .await
        .map_err(keeper_error)?;
    state
        .account_history()
        .record_account_event(AccountEvent {
            account_id: account.id,
            at: state.now(),
            change: AccountChange::Refreshed,
            message: "tokens refreshed on request".to_owned(),
            by: auth.principal,
        })
        .await?;
    let account = state
        .accounts()
        .account(account.id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(Json(account_view(account, None)))
}

/// The creator's current options, fresh from TikTok.
#[utoipa::path(get, path = "/v1/accounts/{id}/creator-info", tag = "accounts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "Privacy options, nickname, max duration, disabled interactions", body = Object),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such account in this workspace", body = ErrorBody),
        (status = 409, description = "The account is not connected", body = ErrorBody),
        (status = 422, description = "TikTok refused", body = ErrorBody),
        (status = 503, description = "TikTok is unavailable", body = ErrorBody),
    ))]
pub(crate) async fn creator_info(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Action::Read)?;
    let account = owned_account(&state, &auth, &id).await?;
    let token = state
        .pipeline
        .keeper()
        .access_token_for(account.id)
        .await
        .map_err(keeper_error)?;
    let info = state.client.creator_info(&token).await?;
    let snapshot = tokpost_pipeline::preflight::creator_info_snapshot(&info);
    state
        .accounts()
        .save_creator_info(account.id, &snapshot, state.now())
        .await?;
    Ok(Json(snapshot))
}

/// Disconnects the account: revokes its token at TikTok and forgets the tokens.
#[utoipa::path(delete, path = "/v1/accounts/{id}", tag = "accounts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "Disconnected", body = AccountView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such account in this workspace", body = ErrorBody),
        (status = 503, description = "TikTok is unavailable; nothing changed", body = ErrorBody),
    ))]
pub(crate) async fn disconnect(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    auth.require(Action::ManageAccounts)?;
    let account = owned_account(&state, &auth, &id).await?;
    if let Some(tokens) = state.accounts().account_tokens(account.id).await? {
        let token = tiktok::AccessToken::new(tokens.access_token.expose_secret());
        match state.client.revoke(&token).await {
            Ok(()) => {}
            // TikTok unreachable: keep the tokens so that disconnecting can be tried again.
            Err(failure) if failure.is_transient() => return Err(failure.into()),
            // An expired or already revoked token: TikTok holds nothing to revoke.
            Err(failure) => {
                tracing::info!(account = %account.id, code = failure.classification().id(), "revoke refused; disconnecting anyway");
            }
        }
    }
    state
        .accounts()
        .set_account_status(account.id, AccountStatus::Disconnected, state.now())
        .await?;
    state
        .account_history()
        .record_account_event(AccountEvent {
            account_id: account.id,
            at: state.now(),
            change: AccountChange::Disconnected,
            message: "disconnected: TikTok's tokens revoked and deleted".to_owned(),
            by: auth.principal,
        })
        .await?;
    let account = state
        .accounts()
        .account(account.id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(Json(account_view(account, None)))
}

/// One change of an account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountEventView {
    #[schema(value_type = String, format = DateTime)]
    at: Timestamp,
    /// `connected`, `reconnected`, `refreshed`, `disconnected` or `needs_reconnect`.
    change: &'static str,
    message: String,
    /// Who did it: a person, an API key, or tokpost itself.
    by: ActorView,
}

/// An account's changes, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountHistory {
    events: Vec<AccountEventView>,
}

/// Who connected, refreshed, disconnected the account, and when it lost access: the last 100
/// changes, newest first.
#[utoipa::path(get, path = "/v1/accounts/{id}/history", tag = "accounts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The changes, newest first", body = AccountHistory),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such account in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn history(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AccountHistory>, ApiError> {
    auth.require(Action::Read)?;
    let account = owned_account(&state, &auth, &id).await?;
    let events = state
        .account_history()
        .account_events(account.id, 100)
        .await?;
    let mut actors = Actors::new(&state, auth.workspace_id);
    let mut views = Vec::with_capacity(events.len());
    for event in events {
        views.push(AccountEventView {
            at: event.at,
            change: event.change.as_str(),
            message: event.message,
            by: actors.view(event.by).await?,
        });
    }
    Ok(Json(AccountHistory { events: views }))
}
