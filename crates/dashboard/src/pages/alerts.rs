//! The Alerts page: what reaches people outside tokpost. Everyone chooses the events emailed to
//! them (`/v1/me/alerts`); owners set up the workspace's channels (`/v1/webhook-endpoints`):
//! a Slack, Discord or Telegram chat, a shared mailbox, or a signed JSON webhook. Every change
//! goes through the API, which judges the role and the input.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse as _, Response};
use serde_json::{Value, json};
use tokpost_core::Action;
use tokpost_store::{ChannelFormat, WebhookEventType};

use super::{CsrfForm, Outcome, SignedIn, encode_segment};
use crate::Dashboard;
use crate::error::PageError;
use crate::views::{text_at, when_text};

/// One event a person may choose, or a channel may carry.
struct Choice {
    event: &'static str,
    description: &'static str,
    chosen: bool,
}

/// An alert emailed to the person lately.
struct SentRow {
    event: String,
    status: String,
    at: String,
    error: String,
}

/// One of the workspace's channels.
struct ChannelRow {
    id: String,
    kind: &'static str,
    url: String,
    chat_id: String,
    description: String,
    events: Vec<String>,
    paused: bool,
    trouble: String,
}

/// A kind of channel an owner may add, with where its URL comes from.
struct Kind {
    value: &'static str,
    label: &'static str,
    help: &'static str,
}

const KINDS: [Kind; 5] = [
    Kind {
        value: "slack",
        label: "Slack",
        help: "In Slack: Apps, Incoming Webhooks, Add to a channel; paste its https://hooks.slack.com/services/… URL.",
    },
    Kind {
        value: "discord",
        label: "Discord",
        help: "In Discord: the channel's settings, Integrations, Webhooks, New Webhook, Copy Webhook URL.",
    },
    Kind {
        value: "telegram",
        label: "Telegram",
        help: "Make a bot with @BotFather and add it to the chat. URL: https://api.telegram.org/bot<token>/sendMessage, and the chat's id.",
    },
    Kind {
        value: "email",
        label: "Email (a shared mailbox)",
        help: "URL: mailto:team@example.com. Sent through this server's SMTP settings.",
    },
    Kind {
        value: "tokpost",
        label: "Webhook (signed JSON, for your own systems)",
        help: "Each event is POSTed as JSON with a Tokpost-Signature header; the secret is shown once.",
    },
];

fn kind_label(format: &str) -> &'static str {
    KINDS
        .iter()
        .find(|kind| kind.value == format)
        .map_or("Webhook", |kind| kind.label)
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    chrome: super::Chrome,
    email: String,
    email_configured: bool,
    status: String,
    paused_reason: String,
    choices: Vec<Choice>,
    recent: Vec<SentRow>,
    manage: bool,
    channels: Vec<ChannelRow>,
    kinds: &'static [Kind],
    all_events: Vec<Choice>,
    outcome: Option<Outcome>,
}

pub(crate) async fn page(
    state: &Dashboard,
    signed_in: &SignedIn,
    outcome: Option<Outcome>,
) -> Result<Response, PageError> {
    let mine = state.api.get(signed_in.key(), "/v1/me/alerts").await?;
    let choices = mine
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|choice| {
            let event = WebhookEventType::parse(&text_at(choice, "/event"))?;
            Some(Choice {
                event: event.as_str(),
                description: event.describe(),
                chosen: choice.get("chosen").and_then(Value::as_bool) == Some(true),
            })
        })
        .collect();
    let recent = mine
        .get("recent")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|sent| SentRow {
            event: text_at(sent, "/event"),
            status: text_at(sent, "/status"),
            at: when_text(&text_at(sent, "/created_at"), signed_in.zone()),
            error: text_at(sent, "/last_error"),
        })
        .collect();
    let manage = signed_in.may(Action::ManageWebhooks);
    let channels = if manage {
        channels(state, signed_in).await?
    } else {
        Vec::new()
    };
    let status = match &outcome {
        Some(outcome) if !outcome.ok => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let html = AlertsPage {
        chrome: signed_in.chrome("alerts"),
        email: text_at(&mine, "/email"),
        email_configured: mine.get("email_configured").and_then(Value::as_bool) == Some(true),
        status: text_at(&mine, "/status"),
        paused_reason: text_at(&mine, "/paused_reason"),
        choices,
        recent,
        manage,
        channels,
        kinds: &KINDS,
        all_events: WebhookEventType::ALL
            .into_iter()
            .map(|event| Choice {
                event: event.as_str(),
                description: event.describe(),
                chosen: matches!(
                    event,
                    WebhookEventType::PostFailed
                        | WebhookEventType::PostMissed
                        | WebhookEventType::AccountNeedsReconnect
                        | WebhookEventType::AccountRefreshTokenExpiring
                        | WebhookEventType::PostAwaitingApproval
                ),
            })
            .collect(),
        outcome,
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

/// The workspace's channels, each failing one with its last error.
async fn channels(state: &Dashboard, signed_in: &SignedIn) -> Result<Vec<ChannelRow>, PageError> {
    let list = state
        .api
        .get(signed_in.key(), "/v1/webhook-endpoints")
        .await?;
    let mut rows = Vec::new();
    for endpoint in list
        .get("endpoints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = text_at(endpoint, "/id");
        let failures = endpoint
            .get("consecutive_failures")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let trouble = if failures > 0 {
            let deliveries = state
                .api
                .get(
                    signed_in.key(),
                    &format!(
                        "/v1/webhook-endpoints/{}/deliveries?limit=1",
                        encode_segment(&id)
                    ),
                )
                .await?;
            format!(
                "{failures} failed in a row; last: {}",
                text_at(&deliveries, "/deliveries/0/last_error")
            )
        } else {
            String::new()
        };
        rows.push(ChannelRow {
            kind: kind_label(&text_at(endpoint, "/format")),
            url: text_at(endpoint, "/url"),
            chat_id: text_at(endpoint, "/chat_id"),
            description: text_at(endpoint, "/description"),
            events: endpoint
                .get("events")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            paused: text_at(endpoint, "/status") == "paused",
            trouble: match text_at(endpoint, "/paused_reason") {
                reason if !reason.is_empty() => format!("Paused: {reason}. {trouble}"),
                _ => trouble,
            },
            id,
        });
    }
    Ok(rows)
}

pub(crate) async fn alerts(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    page(&state, &signed_in, None).await
}

/// The events ticked on a form (`event:post.failed` = `on`).
fn ticked(form: &BTreeMap<String, String>) -> Vec<String> {
    form.keys()
        .filter_map(|key| key.strip_prefix("event:"))
        .map(str::to_owned)
        .collect()
}

pub(crate) async fn save_mine(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(form.get("csrf").map_or("", String::as_str))?;
    let events = ticked(&form);
    let answer = state
        .api
        .send_json(
            signed_in.key(),
            Method::PUT,
            "/v1/me/alerts",
            &json!({ "events": events }),
        )
        .await?;
    let outcome = if answer.status.is_success() {
        Outcome::done(if events.is_empty() {
            "Your email alerts are off.".to_owned()
        } else {
            let kinds = if events.len() == 1 {
                "1 kind of event is".to_owned()
            } else {
                format!("{} kinds of event are", events.len())
            };
            format!(
                "Saved: {kinds} emailed to {}.",
                text_at(&answer.body, "/email")
            )
        })
    } else {
        Outcome::failed(answer.error_message())
    };
    page(&state, &signed_in, Some(outcome)).await
}

pub(crate) async fn add_channel(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(form.get("csrf").map_or("", String::as_str))?;
    let field = |name: &str| form.get(name).map_or("", |value| value.trim());
    let format = field("format");
    // Only Telegram has a chat; a chat id typed for another kind is not sent.
    let chat_id = (format == ChannelFormat::Telegram.as_str()).then(|| field("chat_id"));
    let body = json!({
        "format": format,
        "url": field("url"),
        "events": ticked(&form),
        "description": field("description"),
        "chat_id": chat_id,
    });
    let answer = state
        .api
        .post_json(signed_in.key(), "/v1/webhook-endpoints", &body)
        .await?;
    let outcome = if answer.status == StatusCode::CREATED {
        let label = kind_label(&text_at(&answer.body, "/endpoint/format"));
        if format == ChannelFormat::Tokpost.as_str() {
            Outcome {
                link: Some(text_at(&answer.body, "/secret")),
                ..Outcome::done(format!(
                    "{label} added. Its signing secret, shown this once (check each request's Tokpost-Signature with it):"
                ))
            }
        } else {
            Outcome::done(format!(
                "{label} channel added. The events ticked reach it from now on."
            ))
        }
    } else {
        Outcome::failed(answer.error_message())
    };
    page(&state, &signed_in, Some(outcome)).await
}

/// Applies one change to a channel and shows the page with its outcome.
async fn change(
    state: &Dashboard,
    signed_in: &SignedIn,
    method: Method,
    path: String,
    done: &str,
) -> Result<Response, PageError> {
    let outcome = super::apply(state, signed_in, method, &path, None, done).await?;
    page(state, signed_in, Some(outcome)).await
}

pub(crate) async fn delete_channel(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    change(
        &state,
        &signed_in,
        Method::DELETE,
        format!("/v1/webhook-endpoints/{}", encode_segment(&id)),
        "Channel removed; nothing more is sent to it.",
    )
    .await
}

pub(crate) async fn resume_channel(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    change(
        &state,
        &signed_in,
        Method::POST,
        format!("/v1/webhook-endpoints/{}/resume", encode_segment(&id)),
        "Channel resumed; what waited for it is sent now.",
    )
    .await
}
