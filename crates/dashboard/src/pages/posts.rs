//! The queue (every post, filtered) and one post: as it will go out, its timeline, and what
//! the person may do with it (cancel, retry, move, edit, decide, comment, share for review;
//! the forms that decide, comment and share live in `approval`).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::Value;
use tokpost_core::{AccountId, PostId, StateKind};
use tokpost_store::PostFilter;

use super::{CALENDAR_LIMIT, Chrome, CsrfForm, Outcome, SignedIn, encode_segment, render};
use crate::Dashboard;
use crate::error::PageError;
use crate::preview::Preview;
use crate::views::{self, Explanation, PostJson};

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
    let accounts = state.app.accounts().accounts(workspace).await?;
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
        .posts()
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
    /// Who acted ("Ana <ana@example.com>", "tokpost", an API key).
    by: String,
}

/// A published post's counts and where following them stands.
struct PostInsights {
    explanation: String,
    latest: Option<(u64, u64, u64, u64)>,
    engagement: String,
    chart: String,
}

#[derive(Template)]
#[template(path = "post.html")]
struct PostPage {
    chrome: Chrome,
    /// The processing notice, right after publishing.
    notice: Option<String>,
    /// Whether the state can still change (the page then follows it).
    is_final: bool,
    account_name: String,
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
    /// Whether this person may move it (its state allows, and their role for this post).
    movable: bool,
    /// Who wrote the post.
    author: String,
    /// The version an approval or an edit is of.
    revision: u32,
    preview: Preview,
    /// Whether this person may approve or reject it now.
    reviewable: bool,
    /// Whether this person may edit it now.
    editable: bool,
    /// Why it was rejected, and by whom, while it is.
    rejection: Option<String>,
    /// Its counts on TikTok, once it was published.
    insights: Option<PostInsights>,
    /// Whether this person may make review links for it.
    shareable: bool,
    review_links: Vec<LinkLine>,
    /// What the last form did.
    outcome: Option<Outcome>,
}

/// One review link as the post page lists it.
#[derive(Debug, Clone)]
struct LinkLine {
    id: String,
    reviewer: String,
    expires: String,
    open: bool,
    status: &'static str,
}

/// `?sent=1`: the composer just created the post.
#[derive(Debug, Deserialize)]
pub(crate) struct PostQuery {
    #[serde(default)]
    sent: Option<String>,
}

/// What the person is told right after publishing (TikTok's Point 5d): processing takes time.
fn processing_notice(
    post: &PostJson,
    account: &str,
    now: jiff::Timestamp,
    zone: &jiff::tz::TimeZone,
) -> String {
    let profile = if account.is_empty() {
        "the profile".to_owned()
    } else {
        format!("{account}'s profile")
    };
    if post.scheduled_at > now {
        format!(
            "Scheduled for {}. Once it is sent to TikTok, it may take a few minutes for the content to process and be visible on {profile}.",
            views::when(post.scheduled_at, zone)
        )
    } else {
        format!(
            "Sent to TikTok. It may take a few minutes for the content to process and be visible on {profile}. This page follows its status."
        )
    }
}

pub(crate) async fn post(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<PostQuery>,
) -> Result<Response, PageError> {
    show(&state, &signed_in, &id, query.sent.is_some(), None).await
}

/// The post page, with what the last form did.
pub(crate) async fn show(
    state: &Dashboard,
    signed_in: &SignedIn,
    id: &str,
    sent: bool,
    outcome: Option<Outcome>,
) -> Result<Response, PageError> {
    let path = format!("/v1/posts/{}", encode_segment(id));
    let value = state.api.get(signed_in.key(), &path).await?;
    let post: PostJson = serde_json::from_value(value)
        .map_err(|_| PageError::Internal("the API's post could not be read"))?;
    let zone = signed_in.zone();
    let account_name = match post.account_id.parse::<AccountId>() {
        Ok(account) => state
            .app
            .accounts()
            .account(account)
            .await?
            .map(|a| a.display_name)
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let notice = sent.then(|| processing_notice(&post, &account_name, state.app.now(), zone));
    let is_final = StateKind::parse(&post.state).is_some_and(StateKind::is_final);
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
    let changeable = signed_in.may_change(
        post.created_by
            .as_ref()
            .and_then(views::ActorJson::principal),
    );
    let events = post.events.unwrap_or_default();
    let rejection = (post.state == "rejected")
        .then(|| {
            events.iter().rev().find(|e| e.kind == "rejected").map(|e| {
                let by = e.by.as_ref().map_or("a reviewer", |by| by.name.as_str());
                format!("{by}: {}", e.message)
            })
        })
        .flatten();
    let shareable = changeable && !is_final;
    let review_links = if shareable {
        let links = state
            .api
            .get(signed_in.key(), &format!("{path}/review-links"))
            .await?;
        links
            .get("links")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|link| {
                let open = link.get("open").and_then(Value::as_bool) == Some(true);
                let revoked = link.get("revoked_at").is_some_and(|at| !at.is_null());
                LinkLine {
                    id: views::text_at(link, "/id"),
                    reviewer: match link.get("reviewer_email").and_then(Value::as_str) {
                        Some(email) => {
                            format!("{} <{email}>", views::text_at(link, "/reviewer_name"))
                        }
                        None => views::text_at(link, "/reviewer_name"),
                    },
                    expires: views::when_text(&views::text_at(link, "/expires_at"), zone),
                    open,
                    status: if open {
                        "open"
                    } else if revoked {
                        "revoked"
                    } else {
                        "expired"
                    },
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let username = match post.account_id.parse::<AccountId>() {
        Ok(account) => state
            .app
            .accounts()
            .latest_creator_info(account)
            .await?
            .and_then(|snapshot| snapshot.username().map(str::to_owned)),
        Err(_) => None,
    };
    let preview = Preview::of(
        &post.spec,
        username.as_deref().unwrap_or(&account_name),
        |media| format!("/compose/media/{}", encode_segment(media)),
    );
    let kind = StateKind::parse(&post.state);
    let editable = changeable && kind.is_some_and(StateKind::is_editable);
    let insights = if matches!(post.state.as_str(), "published" | "inbox_delivered") {
        let stats = state
            .api
            .get(
                signed_in.key(),
                &format!("/v1/posts/{}/stats", encode_segment(&post.id)),
            )
            .await?;
        let count = |point: &serde_json::Value, key: &str| {
            point
                .get(key)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        let views: Vec<u64> = stats
            .get("series")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .map(|point| count(point, "views"))
            .collect();
        let latest = stats.get("latest").filter(|latest| !latest.is_null());
        Some(PostInsights {
            explanation: {
                // The API's words, as a sentence.
                let words = views::text_at(&stats, "/explanation");
                let mut chars = words.chars();
                chars.next().map_or_else(String::new, |first| {
                    format!("{}{}.", first.to_uppercase(), chars.as_str())
                })
            },
            latest: latest.map(|latest| {
                (
                    count(latest, "views"),
                    count(latest, "likes"),
                    count(latest, "comments"),
                    count(latest, "shares"),
                )
            }),
            engagement: latest
                .and_then(|latest| latest.get("engagement_rate"))
                .and_then(serde_json::Value::as_f64)
                .map_or_else(|| "–".to_owned(), |rate| format!("{:.1}%", rate * 100.0)),
            chart: crate::charts::sparkline(&views, 240, 48),
        })
    } else {
        None
    };
    let page = PostPage {
        insights,
        author: post
            .created_by
            .as_ref()
            .map(|actor| actor.name.clone())
            .unwrap_or_default(),
        chrome: signed_in.chrome("posts"),
        notice,
        is_final,
        account_name,
        // The state machine's table says which states a cancel may leave (the API judges the
        // rest, a waiting post whose publish may have started included).
        cancellable: changeable
            && kind.is_some_and(|kind| kind.successors().contains(&StateKind::Cancelled)),
        retryable: changeable && matches!(post.state.as_str(), "failed" | "missed"),
        movable: editable,
        editable,
        reviewable: post.state == "awaiting_approval"
            && signed_in.may(tokpost_core::Action::Review),
        rejection,
        shareable,
        review_links,
        revision: post.revision,
        preview,
        outcome,
        explanation: post.failure.as_ref().map(views::explain),
        events: events
            .into_iter()
            .map(|e| EventLine {
                sequence: e.sequence,
                at: views::when(e.at, zone),
                kind: views::kind_unless_said(&e.kind, &e.message),
                state: e.state,
                message: e.message,
                native: e
                    .native_response
                    .map(|n| serde_json::to_string_pretty(&n).unwrap_or_default()),
                by: e.by.map(|by| by.name).unwrap_or_default(),
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

async fn post_action(
    state: &Dashboard,
    signed_in: &SignedIn,
    id: &str,
    action: &str,
) -> Result<Response, PageError> {
    let answer = state
        .api
        .call(
            Some(signed_in.key()),
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

/// A post's state for the page that follows it live (`assets/status.js`).
pub(crate) async fn post_status(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id: PostId = id.trim().parse().map_err(|_| PageError::NotFound)?;
    let post = state
        .app
        .posts()
        .post(id)
        .await?
        .filter(|post| post.workspace_id == signed_in.session.workspace_id)
        .ok_or(PageError::NotFound)?;
    let kind = post.state.kind();
    Ok(Json(serde_json::json!({
        "state": kind.as_str(),
        "final": kind.is_final(),
        "updated_at": post.updated_at,
    }))
    .into_response())
}
