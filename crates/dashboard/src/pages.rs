//! One handler per page and form. Reads go through the API in-process (or the store for the
//! listings the API pages differently); every form that changes something checks the session's
//! CSRF token first.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use tokpost_core::{AccountId, StateKind};
use tokpost_store::PostFilter;

use crate::Dashboard;
use crate::error::PageError;
use crate::session::{
    SESSION_COOKIE, SESSION_LIFETIME, SIGN_IN_COOKIE, Session, clear_cookie, cookie, random_token,
    set_cookie, tokens_match,
};
use crate::views::{self, AccountCard, AccountJson, Explanation, Outcomes, PostJson};

/// TikTok's caption limit, in UTF-16 code units (tiktok-api.md §3).
const CAPTION_LIMIT: usize = 2200;
/// How many posts the calendar shows at once.
const CALENDAR_LIMIT: u32 = 200;
/// How long the sign-in form's token lives.
const SIGN_IN_FORM_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// A browser with a live session.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    session_id: String,
    session: Session,
}

impl SignedIn {
    fn key(&self) -> &SecretString {
        &self.session.api_key
    }

    fn zone(&self) -> &TimeZone {
        &self.session.time_zone
    }

    /// Refuses a form without this session's CSRF token.
    fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        if tokens_match(&self.session.csrf_token, given) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    fn chrome(&self, active: &'static str) -> Chrome {
        Chrome {
            csrf: self.session.csrf_token.clone(),
            signed_in: true,
            active,
            zone: self
                .session
                .time_zone
                .iana_name()
                .unwrap_or("UTC")
                .to_owned(),
        }
    }
}

impl FromRequestParts<Dashboard> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Dashboard,
    ) -> Result<Self, Self::Rejection> {
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or(PageError::SignInNeeded)?;
        let session = state
            .sessions
            .get(id, state.app.now())
            .ok_or(PageError::SignInNeeded)?;
        Ok(Self {
            session_id: id.to_owned(),
            session,
        })
    }
}

/// What the base layout needs on every page.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub(crate) csrf: String,
    pub(crate) signed_in: bool,
    pub(crate) active: &'static str,
    pub(crate) zone: String,
}

fn render(template: &impl Template) -> Result<Response, PageError> {
    Ok(Html(template.render()?).into_response())
}

// --- sign in and out ---

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    error: Option<String>,
}

pub(crate) async fn sign_in_page(State(state): State<Dashboard>) -> Result<Response, PageError> {
    sign_in_form(&state, None, StatusCode::OK)
}

/// Cookies carry `Secure` when users reach tokpost over HTTPS.
fn secure_cookies(state: &Dashboard) -> bool {
    state.app.settings.public_base_url.scheme() == "https"
}

fn sign_in_form(
    state: &Dashboard,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let token = random_token();
    let page = SignInPage {
        chrome: Chrome {
            csrf: token.clone(),
            signed_in: false,
            active: "sign-in",
            zone: "UTC".to_owned(),
        },
        error,
    };
    Ok((
        status,
        [(
            header::SET_COOKIE,
            set_cookie(
                SIGN_IN_COOKIE,
                &token,
                SIGN_IN_FORM_LIFETIME,
                secure_cookies(state),
            ),
        )],
        Html(page.render()?),
    )
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    time_zone: String,
}

pub(crate) async fn sign_in(
    State(state): State<Dashboard>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !tokens_match(expected, &form.csrf) {
        return Err(PageError::Forbidden);
    }
    let secret = form.api_key.trim();
    let key = state
        .app
        .store
        .api_key_by_hash(&tokpost_api::hash_key(secret))
        .await?
        .filter(tokpost_store::ApiKey::is_active);
    let Some(key) = key else {
        return sign_in_form(
            &state,
            Some("This API key is not valid (or was revoked).".to_owned()),
            StatusCode::UNAUTHORIZED,
        );
    };
    let now = state.app.now();
    let time_zone = TimeZone::get(form.time_zone.trim()).unwrap_or(TimeZone::UTC);
    let id = state.sessions.open(
        Session {
            workspace_id: key.workspace_id,
            api_key: SecretString::from(secret.to_owned()),
            csrf_token: random_token(),
            time_zone,
            expires_at: clock::add(now, SESSION_LIFETIME),
        },
        now,
    );
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_owned()),
            (
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &id,
                    SESSION_LIFETIME,
                    secure_cookies(&state),
                ),
            ),
        ],
    )
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn sign_out(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    state.sessions.close(&signed_in.session_id);
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/sign-in".to_owned()),
            (header::SET_COOKIE, clear_cookie(SESSION_COOKIE)),
        ],
    )
        .into_response())
}

// --- home ---

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    counts: Vec<(String, usize)>,
    accounts: usize,
}

pub(crate) async fn home(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let posts = state
        .app
        .store
        .posts(signed_in.session.workspace_id, CALENDAR_LIMIT)
        .await?;
    let mut counts: BTreeMap<StateKind, usize> = BTreeMap::new();
    for post in &posts {
        *counts.entry(post.state.kind()).or_default() += 1;
    }
    let accounts = state
        .app
        .store
        .accounts(signed_in.session.workspace_id)
        .await?
        .len();
    render(&HomePage {
        chrome: signed_in.chrome("home"),
        counts: counts
            .into_iter()
            .map(|(kind, n)| (kind.as_str().to_owned(), n))
            .collect(),
        accounts,
    })
}

// --- accounts ---

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    chrome: Chrome,
    accounts: Vec<AccountCard>,
}

async fn account_json(
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

async fn account_ids(state: &Dashboard, signed_in: &SignedIn) -> Result<Vec<String>, PageError> {
    let list = state.api.get(signed_in.key(), "/v1/accounts").await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
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
    let audited = state.app.pipeline.publisher().policy().audited;
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
            Some(audited),
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

// --- compose ---

/// What the compose form holds (the submitted values, redisplayed after a check).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ComposeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account_id: String,
    #[serde(default)]
    media_id: String,
    #[serde(default)]
    caption: String,
    #[serde(default)]
    privacy_level: String,
    allow_comment: Option<String>,
    allow_duet: Option<String>,
    allow_stitch: Option<String>,
    disclose: Option<String>,
    brand_organic: Option<String>,
    brand_content: Option<String>,
    is_aigc: Option<String>,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    scheduled_at: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    intent: String,
}

/// The creator's answer that shapes the form.
#[derive(Debug, Clone, Default)]
struct Creator {
    nickname: String,
    privacy_options: Vec<String>,
    comment_disabled: bool,
    duet_disabled: bool,
    stitch_disabled: bool,
    max_duration_sec: Option<u64>,
}

/// One preflight finding as shown.
#[derive(Debug, Clone)]
struct Verdict {
    severity: String,
    message: String,
    measured: String,
    limit: String,
    fix: String,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    chrome: Chrome,
    accounts: Vec<(String, String)>,
    account_id: String,
    creator: Option<Creator>,
    creator_error: Option<String>,
    form: ComposeForm,
    caption_units: usize,
    caption_limit: usize,
    next_slot: Option<String>,
    checked: bool,
    passes: bool,
    verdicts: Vec<Verdict>,
    error: Option<String>,
}

impl ComposePage {
    fn is_checked(value: &Option<String>) -> bool {
        value.is_some()
    }

    /// TikTok's privacy options in the words of its own app; an option tokpost does not know
    /// is shown as TikTok named it.
    fn privacy_label(option: &str) -> &str {
        match option {
            "PUBLIC_TO_EVERYONE" => "Everyone",
            "MUTUAL_FOLLOW_FRIENDS" => "Friends (followers you follow back)",
            "FOLLOWER_OF_CREATOR" => "Followers",
            "SELF_ONLY" => "Only me",
            other => other,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ComposeQuery {
    account: Option<String>,
}

pub(crate) async fn compose_page(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Query(query): Query<ComposeQuery>,
) -> Result<Response, PageError> {
    let form = ComposeForm {
        account_id: query.account.unwrap_or_default(),
        mode: "direct".to_owned(),
        ..ComposeForm::default()
    };
    compose_view(&state, &signed_in, form, None, None)
        .await
        .and_then(|page| render(&page))
}

async fn compose_view(
    state: &Dashboard,
    signed_in: &SignedIn,
    form: ComposeForm,
    report: Option<&Value>,
    error: Option<String>,
) -> Result<ComposePage, PageError> {
    let list = state.api.get(signed_in.key(), "/v1/accounts").await?;
    let accounts: Vec<(String, String)> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a.get("status").and_then(Value::as_str) == Some("connected"))
        .filter_map(|a| {
            Some((
                a.get("id")?.as_str()?.to_owned(),
                a.get("display_name")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    let account_id = accounts
        .iter()
        .find(|(id, _)| *id == form.account_id)
        .or_else(|| accounts.first())
        .map(|(id, _)| id.clone())
        .unwrap_or_default();
    let (mut creator, mut creator_error, mut next_slot) = (None, None, None);
    if !account_id.is_empty() {
        let answer = state
            .api
            .call(
                signed_in.key(),
                Method::GET,
                &format!("/v1/accounts/{account_id}/creator-info"),
                None,
            )
            .await?;
        if answer.status.is_success() {
            creator = Some(creator_from(&answer.body));
        } else {
            creator_error = Some(answer.error_message());
        }
        let account = account_json(state, signed_in, &account_id).await?;
        next_slot = account.health.and_then(|h| {
            let near = h.posts_last_24h.saturating_add(2) >= u64::from(h.daily_post_cap);
            match h.next_slot_at {
                Some(at) => Some(format!(
                    "The daily cap is reached: the next slot frees {}.",
                    views::when(at, signed_in.zone())
                )),
                None if near => Some(format!(
                    "{} of {} posts in the last 24 h: the cap is near.",
                    h.posts_last_24h, h.daily_post_cap
                )),
                None => None,
            }
        });
    }
    let verdicts = report
        .and_then(|r| r.get("findings"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let text = |key: &str| {
                f.get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            Verdict {
                severity: text("severity"),
                message: text("message"),
                measured: text("measured"),
                limit: text("limit"),
                fix: text("fix"),
            }
        })
        .collect();
    Ok(ComposePage {
        chrome: signed_in.chrome("compose"),
        caption_units: form.caption.encode_utf16().count(),
        caption_limit: CAPTION_LIMIT,
        accounts,
        account_id,
        creator,
        creator_error,
        next_slot,
        checked: report.is_some(),
        passes: report
            .and_then(|r| r.get("passes"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        verdicts,
        form,
        error,
    })
}

fn creator_from(body: &Value) -> Creator {
    let flag = |key: &str| body.get(key).and_then(Value::as_bool).unwrap_or(false);
    Creator {
        nickname: body
            .get("creator_nickname")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        privacy_options: body
            .get("privacy_level_options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        comment_disabled: flag("comment_disabled"),
        duet_disabled: flag("duet_disabled"),
        stitch_disabled: flag("stitch_disabled"),
        max_duration_sec: body
            .get("max_video_post_duration_sec")
            .and_then(Value::as_u64),
    }
}

/// The date and time the user typed, in their zone, as the API's RFC 3339 instant. Empty: now.
fn schedule_instant(text: &str, zone: &str) -> Result<Option<String>, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let civil: DateTime = text
        .parse()
        .map_err(|_| PageError::BadInput(format!("“{text}” is not a date and time")))?;
    let zone = TimeZone::get(zone.trim()).unwrap_or(TimeZone::UTC);
    let zoned = civil
        .to_zoned(zone)
        .map_err(|_| PageError::BadInput(format!("“{text}” does not exist in this time zone")))?;
    Ok(Some(zoned.timestamp().to_string()))
}

fn request_from(form: &ComposeForm) -> Result<Value, PageError> {
    let disclose = form.disclose.is_some();
    let mut request = json!({
        "account_id": form.account_id,
        "video": {"media_id": form.media_id.trim(), "caption": form.caption},
        "disable_comment": form.allow_comment.is_none(),
        "disable_duet": form.allow_duet.is_none(),
        "disable_stitch": form.allow_stitch.is_none(),
        "brand_organic": disclose && form.brand_organic.is_some(),
        "brand_content": disclose && form.brand_content.is_some(),
        "is_aigc": form.is_aigc.is_some(),
        "mode": if form.mode == "inbox" { "inbox" } else { "direct" },
    });
    if let Some(object) = request.as_object_mut() {
        if !form.privacy_level.is_empty() {
            object.insert("privacy_level".to_owned(), json!(form.privacy_level));
        }
        if let Some(at) = schedule_instant(&form.scheduled_at, &form.time_zone)? {
            object.insert("scheduled_at".to_owned(), json!(at));
        }
    }
    Ok(request)
}

pub(crate) async fn compose(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<ComposeForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let request = match request_from(&form) {
        Ok(request) => request,
        Err(error) => {
            let page =
                compose_view(&state, &signed_in, form, None, Some(error.to_string())).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
        }
    };
    let check = state
        .api
        .post_json(signed_in.key(), "/v1/posts/validate", &request)
        .await?;
    if !check.status.is_success() {
        let message = check.error_message();
        let page = compose_view(&state, &signed_in, form, None, Some(message)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
    }
    let passes = check.body.get("passes").and_then(Value::as_bool) == Some(true);
    if form.intent != "schedule" || !passes {
        let page = compose_view(&state, &signed_in, form, Some(&check.body), None).await?;
        return render(&page);
    }
    let created = state
        .api
        .post_json(signed_in.key(), "/v1/posts", &request)
        .await?;
    match created.body.get("id").and_then(Value::as_str) {
        Some(id) if created.status.is_success() => {
            Ok(Redirect::to(&format!("/posts/{id}")).into_response())
        }
        _ => {
            let message = created.error_message();
            let page =
                compose_view(&state, &signed_in, form, Some(&check.body), Some(message)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
        }
    }
}

/// Streams a file from the compose page to the API's media upload (the CSRF token comes in a
/// header, since the body is the file itself).
pub(crate) async fn upload_media(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    signed_in.check_csrf(token)?;
    let answer = state
        .api
        .call(
            signed_in.key(),
            Method::POST,
            "/v1/media",
            Some(("application/octet-stream", body)),
        )
        .await?;
    Ok((answer.status, Json(answer.body)).into_response())
}

// --- posts ---

#[derive(Debug, Deserialize)]
pub(crate) struct PostsQuery {
    account: Option<String>,
    state: Option<String>,
}

/// One line of the calendar.
#[derive(Debug, Clone)]
struct PostLine {
    id: String,
    time: String,
    state: String,
    account: String,
    text: String,
}

#[derive(Template)]
#[template(path = "posts.html")]
struct PostsPage {
    chrome: Chrome,
    days: Vec<(String, Vec<PostLine>)>,
    by_state: Vec<(String, usize)>,
    accounts: Vec<(String, String)>,
    states: Vec<&'static str>,
    account: String,
    state: String,
}

pub(crate) async fn posts(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Query(query): Query<PostsQuery>,
) -> Result<Response, PageError> {
    let workspace = signed_in.session.workspace_id;
    let accounts = state.app.store.accounts(workspace).await?;
    let account: Option<AccountId> = query
        .account
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok());
    let kind = query
        .state
        .as_deref()
        .and_then(|name| StateKind::ALL.into_iter().find(|k| k.as_str() == name));
    let posts = state
        .app
        .store
        .list_posts(&PostFilter {
            workspace_id: workspace,
            state: kind,
            account_id: account,
            scheduled_from: None,
            scheduled_before: None,
            after: None,
            limit: CALENDAR_LIMIT,
        })
        .await?;
    let names: BTreeMap<AccountId, String> = accounts
        .iter()
        .map(|a| (a.id, a.display_name.clone()))
        .collect();
    let mut days: Vec<(String, Vec<PostLine>)> = Vec::new();
    let mut by_state: BTreeMap<StateKind, usize> = BTreeMap::new();
    for post in posts {
        *by_state.entry(post.state.kind()).or_default() += 1;
        let zoned = post.scheduled_at.at().to_zoned(signed_in.zone().clone());
        let day = zoned.strftime("%A %Y-%m-%d").to_string();
        let spec = serde_json::to_value(&post.spec).unwrap_or(Value::Null);
        let line = PostLine {
            id: post.id.to_string(),
            time: zoned.strftime("%H:%M").to_string(),
            state: post.state.kind().as_str().to_owned(),
            account: names.get(&post.account_id).cloned().unwrap_or_default(),
            text: views::post_text(&spec),
        };
        match days.last_mut() {
            Some((last, lines)) if *last == day => lines.push(line),
            _ => days.push((day, vec![line])),
        }
    }
    render(&PostsPage {
        chrome: signed_in.chrome("posts"),
        days,
        by_state: by_state
            .into_iter()
            .map(|(k, n)| (k.as_str().to_owned(), n))
            .collect(),
        accounts: accounts
            .iter()
            .map(|a| (a.id.to_string(), a.display_name.clone()))
            .collect(),
        states: StateKind::ALL.iter().map(|k| k.as_str()).collect(),
        account: account.map(|a| a.to_string()).unwrap_or_default(),
        state: kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
    })
}

/// One event as the timeline shows it.
#[derive(Debug, Clone)]
struct EventLine {
    sequence: u32,
    at: String,
    kind: String,
    state: String,
    message: String,
    native: Option<String>,
}

#[derive(Template)]
#[template(path = "post.html")]
struct PostPage {
    chrome: Chrome,
    id: String,
    account_id: String,
    state: String,
    detail: String,
    scheduled: String,
    text: String,
    publish_id: String,
    events: Vec<EventLine>,
    explanation: Option<Explanation>,
    cancellable: bool,
    retryable: bool,
}

pub(crate) async fn post(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let path = format!("/v1/posts/{}", encode_segment(&id));
    let value = state.api.get(signed_in.key(), &path).await?;
    let post: PostJson = serde_json::from_value(value)
        .map_err(|_| PageError::Internal("the API's post could not be read"))?;
    let zone = signed_in.zone();
    let detail = match &post.state_detail {
        Value::Object(map) => map
            .iter()
            .filter(|(key, _)| *key != "state")
            .map(|(key, value)| match value.as_str() {
                Some(text) => format!("{key}: {}", text.replace('_', " ")),
                None => format!("{key}: {value}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    let page = PostPage {
        chrome: signed_in.chrome("posts"),
        cancellable: matches!(
            post.state.as_str(),
            "scheduled" | "preflighted" | "creator_checked" | "deferred" | "waiting_for_reconnect"
        ),
        retryable: matches!(post.state.as_str(), "failed" | "missed"),
        explanation: post.failure.as_ref().map(views::explain),
        events: post
            .events
            .unwrap_or_default()
            .into_iter()
            .map(|e| EventLine {
                sequence: e.sequence,
                at: views::when(e.at, zone),
                kind: e.kind.replace('_', " "),
                state: e.state,
                message: e.message,
                native: e
                    .native_response
                    .map(|n| serde_json::to_string_pretty(&n).unwrap_or_default()),
            })
            .collect(),
        id: post.id,
        account_id: post.account_id,
        detail,
        scheduled: views::when(post.scheduled_at, zone),
        text: views::post_text(&post.spec),
        publish_id: post.publish_id.unwrap_or_default(),
        state: post.state,
    };
    render(&page)
}

/// A post id as a path segment; anything else cannot name a post.
fn encode_segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

async fn post_action(
    state: &Dashboard,
    signed_in: &SignedIn,
    id: &str,
    action: &str,
) -> Result<Response, PageError> {
    let answer = state
        .api
        .call(
            signed_in.key(),
            Method::POST,
            &format!("/v1/posts/{}/{action}", encode_segment(id)),
            None,
        )
        .await?;
    if answer.status == StatusCode::NOT_FOUND {
        return Err(PageError::NotFound);
    }
    if !answer.status.is_success() {
        return Err(PageError::BadInput(answer.error_message()));
    }
    let target = answer
        .body
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or(id)
        .to_owned();
    Ok(Redirect::to(&format!("/posts/{}", encode_segment(&target))).into_response())
}

pub(crate) async fn cancel(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    post_action(&state, &signed_in, &id, "cancel").await
}

pub(crate) async fn retry(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    post_action(&state, &signed_in, &id, "retry").await
}

// --- the error reference ---

/// One catalog entry as the reference shows it.
#[derive(Debug, Clone)]
struct CatalogLine {
    id: &'static str,
    codes: String,
    category: &'static str,
    action: &'static str,
    meaning: &'static str,
    how_to_fix: &'static str,
    service_action: &'static str,
}

#[derive(Template)]
#[template(path = "errors.html")]
struct ErrorsPage {
    chrome: Chrome,
    query: String,
    entries: Vec<CatalogLine>,
    total: usize,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorsQuery {
    #[serde(default)]
    q: String,
}

/// The catalog entries mentioning every word of `query` (case-insensitive).
fn search_catalog(query: &str) -> Vec<CatalogLine> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    tiktok::catalog::CATALOG
        .iter()
        .filter(|entry| {
            let haystack = format!(
                "{} {} {} {} {}",
                entry.id,
                entry.codes.join(" "),
                entry.category.label(),
                entry.meaning,
                entry.how_to_fix
            )
            .to_lowercase();
            words.iter().all(|word| haystack.contains(word.as_str()))
        })
        .map(|entry| CatalogLine {
            id: entry.id,
            codes: entry.codes.join(", "),
            category: entry.category.label(),
            action: entry.action.map_or("", tiktok::catalog::Action::label),
            meaning: entry.meaning,
            how_to_fix: entry.how_to_fix,
            service_action: entry.service_action,
        })
        .collect()
}

pub(crate) async fn errors(
    signed_in: Result<SignedIn, PageError>,
    Query(query): Query<ErrorsQuery>,
) -> Result<Response, PageError> {
    let chrome = match &signed_in {
        Ok(s) => s.chrome("errors"),
        Err(_) => Chrome {
            csrf: String::new(),
            signed_in: false,
            active: "errors",
            zone: "UTC".to_owned(),
        },
    };
    render(&ErrorsPage {
        chrome,
        entries: search_catalog(&query.q),
        total: tiktok::catalog::CATALOG.len(),
        query: query.q,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn the_error_search_narrows_by_every_word() {
        let all = search_catalog("");
        assert_eq!(all.len(), tiktok::catalog::CATALOG.len());
        let narrowed = search_catalog("video_too_long");
        assert!(!narrowed.is_empty() && narrowed.len() < all.len());
        assert!(search_catalog("no entry mentions this zzzzq").is_empty());
    }

    #[rstest]
    #[case("2026-12-01T18:00", "Europe/Berlin", Some("2026-12-01T17:00:00Z"))]
    #[case("2026-07-01T18:00", "Europe/Berlin", Some("2026-07-01T16:00:00Z"))]
    #[case("2026-12-01T18:00", "Not/AZone", Some("2026-12-01T18:00:00Z"))]
    #[case("", "UTC", None)]
    fn a_scheduled_time_is_read_in_the_users_zone(
        #[case] text: &str,
        #[case] zone: &str,
        #[case] expected: Option<&str>,
    ) {
        assert_eq!(schedule_instant(text, zone).unwrap().as_deref(), expected);
    }

    #[test]
    fn a_time_that_is_not_one_is_refused() {
        assert!(matches!(
            schedule_instant("tomorrow-ish", "UTC"),
            Err(PageError::BadInput(_))
        ));
    }

    #[test]
    fn unticked_interactions_are_disabled_and_disclosure_needs_its_switch() {
        let form = ComposeForm {
            account_id: "a".to_owned(),
            allow_comment: Some("on".to_owned()),
            brand_content: Some("on".to_owned()),
            ..ComposeForm::default()
        };
        let request = request_from(&form).unwrap();
        assert_eq!(request["disable_comment"], false);
        assert_eq!(request["disable_duet"], true);
        assert_eq!(request["brand_content"], false, "disclosure switch is off");
        assert!(request.get("privacy_level").is_none(), "no default privacy");
    }
}
