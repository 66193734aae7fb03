//! A person's own alerts: which events are emailed to them, in the workspace they are signed
//! in to. Who an event reaches is `tokpost_core::alerts`: a person chooses among the events
//! that can concern their role, and each one still reaches them only when it is theirs (an
//! approval request when they may approve, a rejection of their own post).
//!
//! The workspace's shared channels (Slack, Discord, Telegram, a team mailbox, signed JSON) are
//! webhook endpoints (`/v1/webhook-endpoints`), set up by an owner.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokpost_core::alerts::concerns;
use tokpost_core::{Principal, Role, UserId};
use tokpost_store::{PersonalAlerts, WebhookEndpoint, WebhookEventType};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::state::AppState;

/// Deliveries shown with a person's alerts.
const RECENT: u32 = 10;

/// An event a person may choose.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertChoice {
    /// `post.failed`, …
    event: &'static str,
    /// What it means.
    description: &'static str,
    /// Whether it is emailed to them now.
    chosen: bool,
}

/// One alert sent (or on its way).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SentAlert {
    event: String,
    /// `pending`, `delivered` or `failed`.
    status: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    /// Why the last attempt failed.
    last_error: Option<String>,
}

/// The signed-in person's alerts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PersonalAlertsView {
    /// Where they go.
    email: String,
    /// Whether this server sends email at all (its operator sets `email.smtp_url`).
    email_configured: bool,
    /// Every event this person's role can be concerned by, and whether they chose it.
    choices: Vec<AlertChoice>,
    /// `active`, `paused` (after repeated failures: saving again resumes) or `off`.
    status: &'static str,
    /// Why the alerts were paused.
    paused_reason: Option<String>,
    /// The latest alerts, newest first.
    recent: Vec<SentAlert>,
}

/// The events to email; none turns alerts off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetPersonalAlerts {
    events: Vec<String>,
}

/// The person behind a session, and their email; an API key has no inbox.
async fn person(state: &AppState, auth: &Authenticated) -> Result<(UserId, String), ApiError> {
    let Principal::User(id) = auth.principal else {
        return Err(ApiError::refused(
            StatusCode::FORBIDDEN,
            "people_only",
            "alerts belong to a person: call this with a session, not an API key",
        ));
    };
    let user = state
        .people()
        .user(id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok((id, user.email))
}

fn choosable(role: Role) -> impl Iterator<Item = WebhookEventType> {
    WebhookEventType::ALL
        .into_iter()
        .filter(move |event| concerns(event.audience(), role))
}

async fn view(
    state: &AppState,
    role: Role,
    email: String,
    endpoint: Option<WebhookEndpoint>,
) -> Result<PersonalAlertsView, ApiError> {
    let recent = match &endpoint {
        Some(endpoint) => state
            .webhooks()
            .webhook_deliveries(endpoint.id, RECENT)
            .await?
            .into_iter()
            .map(|delivery| SentAlert {
                event: delivery.event_type.as_str().to_owned(),
                status: delivery.status.as_str().to_owned(),
                created_at: delivery.created_at,
                last_error: delivery.last_error,
            })
            .collect(),
        None => Vec::new(),
    };
    let chosen = |event: WebhookEventType| {
        endpoint
            .as_ref()
            .is_some_and(|endpoint| endpoint.events.contains(&event))
    };
    Ok(PersonalAlertsView {
        email,
        email_configured: state.settings.mailer.is_some(),
        choices: choosable(role)
            .map(|event| AlertChoice {
                event: event.as_str(),
                description: event.describe(),
                chosen: chosen(event),
            })
            .collect(),
        status: match &endpoint {
            None => "off",
            Some(endpoint) if endpoint.paused_at.is_some() => "paused",
            Some(_) => "active",
        },
        paused_reason: endpoint.and_then(|endpoint| endpoint.paused_reason),
        recent,
    })
}

/// The signed-in person's alerts in this workspace.
#[utoipa::path(get, path = "/v1/me/alerts", tag = "people",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "What is emailed to them, and what they may choose", body = PersonalAlertsView),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "An API key (code `people_only`): alerts belong to a person", body = ErrorBody),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<PersonalAlertsView>, ApiError> {
    let (user, email) = person(&state, &auth).await?;
    let endpoint = state
        .webhooks()
        .personal_alerts(auth.workspace_id, user)
        .await?;
    Ok(Json(view(&state, auth.role, email, endpoint).await?))
}

/// Chooses the events emailed to the signed-in person (none: off). Saving again resumes
/// alerts that were paused after repeated failures.
#[utoipa::path(put, path = "/v1/me/alerts", tag = "people",
    security(("api_key" = [])),
    request_body = SetPersonalAlerts,
    responses(
        (status = 200, description = "Saved", body = PersonalAlertsView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid session", body = ErrorBody),
        (status = 403, description = "An API key (code `people_only`): alerts belong to a person", body = ErrorBody),
        (status = 422, description = "An unknown event, one the role is never concerned by (`not_for_your_role`), or a server that sends no email (`email_not_configured`)", body = ErrorBody),
    ))]
pub(crate) async fn set(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(request): JsonBody<SetPersonalAlerts>,
) -> Result<Json<PersonalAlertsView>, ApiError> {
    let (user, email) = person(&state, &auth).await?;
    let allowed: Vec<&str> = choosable(auth.role).map(WebhookEventType::as_str).collect();
    let mut events = std::collections::BTreeSet::new();
    for (index, name) in request.events.iter().enumerate() {
        let field = format!("events[{index}]");
        let event = WebhookEventType::parse(name.trim()).ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_event_type",
                field.clone(),
                format!("{name:?} is not an event type"),
                json!(allowed),
                json!(name),
            )
        })?;
        if !concerns(event.audience(), auth.role) {
            return Err(ApiError::unprocessable(
                "not_for_your_role",
                field,
                format!(
                    "{} never reaches a {}: {}",
                    event.as_str(),
                    auth.role,
                    event.describe().to_lowercase()
                ),
                json!(allowed),
                json!(name),
            ));
        }
        events.insert(event);
    }
    if !events.is_empty() && state.settings.mailer.is_none() {
        return Err(ApiError::unprocessable(
            "email_not_configured",
            "events",
            "this server sends no email: its operator sets email.smtp_url first",
            json!("email.smtp_url set"),
            json!(null),
        ));
    }
    let endpoint = state
        .webhooks()
        .set_personal_alerts(
            PersonalAlerts {
                workspace_id: auth.workspace_id,
                user_id: user,
                email: email.clone(),
                events,
            },
            state.now(),
        )
        .await?;
    Ok(Json(view(&state, auth.role, email, endpoint).await?))
}
