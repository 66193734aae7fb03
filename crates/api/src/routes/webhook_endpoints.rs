//! Outbound webhook endpoints of a workspace: register (the signing secret is answered once),
//! list, get, delete, resume after a pause, and the delivery log. The signature scheme and the
//! delivery loop are in `tokpost_pipeline::webhooks`.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokpost_store::{
    ChannelFormat, EndpointCreated, NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint,
    WebhookEndpointId, WebhookEventType,
};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::parse_id;
use crate::state::AppState;
use tokpost_core::Action;
use tokpost_pipeline::webhooks::address::UrlRefusal;

/// The longest endpoint URL accepted.
const MAX_URL_CHARS: usize = 2_048;
/// The longest description accepted.
const MAX_DESCRIPTION_CHARS: usize = 256;
/// Endpoints per workspace: enough for every integration, few enough that one event never fans
/// out into a flood.
const MAX_ENDPOINTS: usize = 16;
/// Deliveries listed by default and at most.
const DEFAULT_DELIVERIES: u32 = 50;
const MAX_DELIVERIES: u32 = 200;

/// An endpoint to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateEndpoint {
    /// Where events are POSTed (`https://…`, or `http://…` for a receiver on the same network).
    url: String,
    /// The event types to receive: `post.published`, `post.failed`, `post.deferred`,
    /// `post.missed`, `post.awaiting_approval`, `post.approved`, `post.rejected`,
    /// `account.needs_reconnect`, `account.refresh_token_expiring`.
    events: Vec<String>,
    /// A note for people (what receives these events).
    #[serde(default)]
    description: Option<String>,
    /// What is sent: `tokpost` (the default: the event as signed JSON), `slack`, `discord` or
    /// `telegram` (a message for people saying what happened, who must act and a link to
    /// where, shaped for that chat's incoming webhook or bot API), or `email` (the same message
    /// by email through the server's SMTP settings; `url` is then `mailto:address`).
    #[serde(default)]
    format: Option<String>,
    /// The chat a `telegram` endpoint writes to (`-1001234567890`, or `@channelname`); its
    /// `url` is `https://api.telegram.org/bot<token>/sendMessage`. Refused for other formats.
    #[serde(default)]
    chat_id: Option<String>,
}

/// A registered endpoint (never its secret, nor its whole URL).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EndpointView {
    #[schema(value_type = String, format = Uuid)]
    id: WebhookEndpointId,
    /// Where events go, as far as it may be shown: scheme, host and port, then `/…` when the
    /// URL has a path or query. The whole URL is sealed at rest like a token (a Slack or
    /// Discord webhook's URL is its credential) and is never shown again.
    url: String,
    /// `tokpost`, `slack`, `discord`, `telegram` or `email`.
    format: &'static str,
    /// The Telegram chat of a `telegram` endpoint.
    chat_id: Option<String>,
    description: String,
    events: Vec<String>,
    /// `active`, or `paused` after repeated failures (nothing is sent until it is resumed).
    status: &'static str,
    /// Failed attempts since the last successful one.
    consecutive_failures: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    failing_since: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    paused_at: Option<Timestamp>,
    /// Why it was paused.
    paused_reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
}

pub(crate) fn endpoint_view(endpoint: WebhookEndpoint) -> EndpointView {
    EndpointView {
        id: endpoint.id,
        url: endpoint.url,
        format: endpoint.format.as_str(),
        chat_id: endpoint.chat_id,
        description: endpoint.description,
        events: endpoint
            .events
            .iter()
            .map(|event| event.as_str().to_owned())
            .collect(),
        status: if endpoint.paused_at.is_some() {
            "paused"
        } else {
            "active"
        },
        consecutive_failures: endpoint.consecutive_failures,
        failing_since: endpoint.failing_since,
        paused_at: endpoint.paused_at,
        paused_reason: endpoint.paused_reason,
        created_at: endpoint.created_at,
    }
}

/// A new endpoint with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedEndpoint {
    endpoint: EndpointView,
    /// The signing secret (`whsec_…`). Stored encrypted; it is not shown again.
    secret: String,
    /// How to check a request's `Tokpost-Signature` header with the secret.
    signature_scheme: &'static str,
}

const SIGNATURE_SCHEME: &str = "Tokpost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 with the secret of the bytes \"<t>.<raw body>\">; compare in constant time and refuse a t older than your tolerance (5 minutes)";

/// Endpoints of the workspace.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EndpointList {
    endpoints: Vec<EndpointView>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttemptView {
    attempt: u32,
    #[schema(value_type = String, format = DateTime)]
    at: Timestamp,
    /// The endpoint's HTTP status; absent when it did not answer.
    status_code: Option<u16>,
    latency_ms: u64,
    error: Option<String>,
}

/// One event's delivery to the endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    /// The event's id (`Tokpost-Event-Id`), the same for every endpoint and retry.
    #[schema(value_type = String, format = Uuid)]
    event_id: String,
    event_type: String,
    /// `pending`, `delivered` or `failed` (every attempt failed).
    status: String,
    attempts: u32,
    /// When a pending delivery is tried next.
    #[schema(value_type = Option<String>, format = DateTime)]
    next_attempt_at: Option<Timestamp>,
    last_status_code: Option<u16>,
    last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    completed_at: Option<Timestamp>,
    /// The event as stored (`{id, type, created_at, workspace_id, data}`).
    #[schema(value_type = Object)]
    payload: Value,
    /// Every attempt, oldest first.
    log: Vec<AttemptView>,
}

fn delivery_view(delivery: WebhookDelivery) -> DeliveryView {
    let pending = delivery.status == tokpost_store::DeliveryStatus::Pending;
    DeliveryView {
        id: delivery.id.to_string(),
        event_id: delivery.event_id.to_string(),
        event_type: delivery.event_type.as_str().to_owned(),
        status: delivery.status.as_str().to_owned(),
        attempts: delivery.attempts,
        next_attempt_at: pending.then_some(delivery.next_attempt_at),
        last_status_code: delivery.last_status_code,
        last_error: delivery.last_error,
        created_at: delivery.created_at,
        completed_at: delivery.completed_at,
        payload: delivery.payload,
        log: delivery
            .log
            .into_iter()
            .map(|attempt| AttemptView {
                attempt: attempt.attempt,
                at: attempt.at,
                status_code: attempt.status_code,
                latency_ms: attempt.latency_ms,
                error: attempt.error,
            })
            .collect(),
    }
}

/// The endpoint's deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryList {
    deliveries: Vec<DeliveryView>,
}

/// How many deliveries to list.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct DeliveriesQuery {
    /// At most this many, newest first (default 50, at most 200).
    limit: Option<u32>,
}

/// Checks an endpoint URL: absolute, `http` or `https`, with a host, no credentials, bounded.
fn parse_url(text: &str) -> Result<String, ApiError> {
    let chars = text.chars().count();
    if chars > MAX_URL_CHARS {
        return Err(ApiError::unprocessable(
            "too_long",
            "url",
            format!("the URL has {chars} characters; the limit is {MAX_URL_CHARS}"),
            json!(MAX_URL_CHARS),
            json!(chars),
        ));
    }
    let malformed = |why: &str| {
        ApiError::unprocessable(
            "invalid_url",
            "url",
            format!("the URL {why}"),
            json!("an absolute http:// or https:// URL with a host and no user:password"),
            json!(text),
        )
    };
    let url = url::Url::parse(text.trim()).map_err(|_| malformed("is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(malformed("must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(malformed("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(malformed("must not carry a user name or password"));
    }
    Ok(url.to_string())
}

/// Refuses an endpoint whose host is, or resolves to, an address inside the operator's network
/// (see [`tokpost_pipeline::webhooks::address`]).
async fn check_address(state: &AppState, url: &str) -> Result<(), ApiError> {
    let parsed = url::Url::parse(url).map_err(|_| {
        ApiError::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
            "the URL is not an absolute URL",
        )
    })?;
    match state.settings.webhook_addresses.check_url(&parsed).await {
        Ok(()) => Ok(()),
        Err(UrlRefusal::Internal { host, refused }) => Err(ApiError::unprocessable(
            "internal_address",
            "url",
            format!("{host} resolves to {refused}"),
            json!("a public address"),
            json!({ "address": refused.address.to_string(), "kind": refused.kind }),
        )),
        // A name that does not resolve yet (DNS set up after the endpoint) reaches nothing;
        // every send judges it again as it resolves.
        Err(UrlRefusal::Unresolvable { .. }) => Ok(()),
        Err(refusal @ UrlRefusal::NoHost) => Err(ApiError::unprocessable(
            "invalid_url",
            "url",
            format!("the URL cannot be sent to: {refusal}"),
            json!("an absolute http:// or https:// URL with a host"),
            json!(url),
        )),
    }
}

/// The chosen format; `tokpost` when none is named.
fn parse_format(name: Option<&str>) -> Result<ChannelFormat, ApiError> {
    let Some(name) = name else {
        return Ok(ChannelFormat::Tokpost);
    };
    ChannelFormat::parse(name.trim()).ok_or_else(|| {
        ApiError::unprocessable(
            "unknown_format",
            "format",
            format!("{name:?} is not a format"),
            json!(
                ChannelFormat::ALL
                    .iter()
                    .map(|format| format.as_str())
                    .collect::<Vec<_>>()
            ),
            json!(name),
        )
    })
}

/// The longest Telegram chat id or channel name accepted.
const MAX_CHAT_ID_CHARS: usize = 64;

/// A Telegram chat: a number (`-100…` for groups and channels) or `@name`. Required for
/// `telegram`, refused for the rest.
fn parse_chat_id(format: ChannelFormat, chat: Option<&str>) -> Result<Option<String>, ApiError> {
    let chat = chat.map(str::trim).filter(|chat| !chat.is_empty());
    let expected = json!("a chat id like -1001234567890, or @channelname");
    match (format, chat) {
        (ChannelFormat::Telegram, None) => Err(ApiError::unprocessable(
            "required",
            "chat_id",
            "a telegram endpoint needs the chat it writes to",
            expected,
            json!(null),
        )),
        (ChannelFormat::Telegram, Some(chat)) => {
            let numeric = chat
                .strip_prefix('-')
                .unwrap_or(chat)
                .chars()
                .all(|c| c.is_ascii_digit());
            let named = chat.strip_prefix('@').is_some_and(|name| {
                name.len() >= 5 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if chat.chars().count() > MAX_CHAT_ID_CHARS || !(numeric || named) {
                return Err(ApiError::unprocessable(
                    "invalid_chat_id",
                    "chat_id",
                    format!("{chat:?} is not a Telegram chat"),
                    expected,
                    json!(chat),
                ));
            }
            Ok(Some(chat.to_owned()))
        }
        (_, None) => Ok(None),
        (other, Some(chat)) => Err(ApiError::unprocessable(
            "not_allowed",
            "chat_id",
            format!("a {} endpoint has no chat", other.as_str()),
            json!(null),
            json!(chat),
        )),
    }
}

/// An `email` endpoint's `mailto:` address, on a server that sends email.
fn email_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    if state.settings.mailer.is_none() {
        return Err(ApiError::unprocessable(
            "email_not_configured",
            "format",
            "this server sends no email: its operator sets email.smtp_url first",
            json!("email.smtp_url set"),
            json!(null),
        ));
    }
    let address = url.trim().strip_prefix("mailto:").ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_url",
            "url",
            "an email endpoint's URL is mailto: and one address",
            json!("mailto:team@example.com"),
            json!(url),
        )
    })?;
    let address = crate::people::normalize_email(address, "url")?;
    Ok(format!("mailto:{address}"))
}

fn parse_events(names: &[String]) -> Result<BTreeSet<WebhookEventType>, ApiError> {
    let known: Vec<&str> = WebhookEventType::ALL
        .iter()
        .map(|event| event.as_str())
        .collect();
    if names.is_empty() {
        return Err(ApiError::unprocessable(
            "empty",
            "events",
            "name at least one event type",
            json!(known),
            json!(0),
        ));
    }
    names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            WebhookEventType::parse(name.trim()).ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_event_type",
                    format!("events[{index}]"),
                    format!("{name:?} is not an event type"),
                    json!(known),
                    json!(name),
                )
            })
        })
        .collect()
}

async fn owned_endpoint(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
) -> Result<WebhookEndpoint, ApiError> {
    let id: WebhookEndpointId = parse_id(id, "webhook endpoint")?;
    state
        .webhooks()
        .webhook_endpoint(id)
        .await?
        // A person's own alerts are theirs to change, at /v1/me/alerts.
        .filter(|endpoint| endpoint.workspace_id == auth.workspace_id && endpoint.user_id.is_none())
        .ok_or(ApiError::NotFound("webhook endpoint"))
}

/// Registers an endpoint. The answer holds its signing secret, shown this once.
#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhooks",
    security(("api_key" = [])),
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = CreatedEndpoint),
        (status = 400, description = "Not JSON, or not this shape (serde's path and message)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 422, description = "A bad URL, an unknown event type, too many endpoints: code, field, limit, measured", body = ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(request): JsonBody<CreateEndpoint>,
) -> Result<(StatusCode, Json<CreatedEndpoint>), ApiError> {
    auth.require(Action::ManageWebhooks)?;
    let format = parse_format(request.format.as_deref())?;
    let chat_id = parse_chat_id(format, request.chat_id.as_deref())?;
    let url = if format == ChannelFormat::Email {
        email_url(&state, &request.url)?
    } else {
        let url = parse_url(&request.url)?;
        check_address(&state, &url).await?;
        if format == ChannelFormat::Telegram && !url.ends_with("/sendMessage") {
            return Err(ApiError::unprocessable(
                "invalid_url",
                "url",
                "a telegram endpoint posts to its bot's sendMessage method",
                json!("https://api.telegram.org/bot<token>/sendMessage"),
                json!(tokpost_store::webhooks::shown_url(&url)),
            ));
        }
        url
    };
    let events = parse_events(&request.events)?;
    let description = request.description.unwrap_or_default();
    let chars = description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::unprocessable(
            "too_long",
            "description",
            format!("the description has {chars} characters; the limit is {MAX_DESCRIPTION_CHARS}"),
            json!(MAX_DESCRIPTION_CHARS),
            json!(chars),
        ));
    }
    let secret = tokpost_pipeline::webhooks::generate_secret();
    let created = state
        .webhooks()
        .create_webhook_endpoint(
            NewWebhookEndpoint {
                workspace_id: auth.workspace_id,
                url,
                format,
                chat_id,
                description,
                events,
                secret: SecretString::from(secret.as_str()),
                at_most: MAX_ENDPOINTS as u64,
            },
            state.now(),
        )
        .await?;
    let endpoint = match created {
        EndpointCreated::Created(endpoint) => *endpoint,
        EndpointCreated::AtLimit { existing } => {
            return Err(ApiError::unprocessable(
                "too_many_endpoints",
                "url",
                format!("the workspace has {existing} endpoints; the limit is {MAX_ENDPOINTS}"),
                json!(MAX_ENDPOINTS),
                json!(existing),
            ));
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint {
            endpoint: endpoint_view(endpoint),
            secret,
            signature_scheme: SIGNATURE_SCHEME,
        }),
    ))
}

/// The workspace's endpoints, oldest first.
#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhooks",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The endpoints", body = EndpointList),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<EndpointList>, ApiError> {
    auth.require(Action::ManageWebhooks)?;
    let endpoints = state
        .webhooks()
        .webhook_endpoints(auth.workspace_id)
        .await?;
    Ok(Json(EndpointList {
        endpoints: endpoints.into_iter().map(endpoint_view).collect(),
    }))
}

/// One endpoint.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such endpoint in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    auth.require(Action::ManageWebhooks)?;
    Ok(Json(endpoint_view(
        owned_endpoint(&state, &auth, &id).await?,
    )))
}

/// Deletes an endpoint with its delivery log; nothing more is sent to it.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such endpoint in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Action::ManageWebhooks)?;
    let endpoint = owned_endpoint(&state, &auth, &id).await?;
    if state
        .webhooks()
        .delete_webhook_endpoint(endpoint.id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("webhook endpoint"))
    }
}

/// Resumes an endpoint paused after repeated failures: its pending deliveries go out now.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/resume", tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 200, description = "Active again", body = EndpointView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such endpoint in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    auth.require(Action::ManageWebhooks)?;
    let endpoint = owned_endpoint(&state, &auth, &id).await?;
    state
        .webhooks()
        .resume_webhook_endpoint(endpoint.id, state.now())
        .await?;
    let endpoint = state
        .webhooks()
        .webhook_endpoint(endpoint.id)
        .await?
        .ok_or(ApiError::NotFound("webhook endpoint"))?;
    Ok(Json(endpoint_view(endpoint)))
}

/// The endpoint's delivery log, newest first: every attempt with its status, latency and error.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint id"), DeliveriesQuery),
    responses(
        (status = 200, description = "The deliveries", body = DeliveryList),
        (status = 400, description = "A query parameter is not a number", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such endpoint in this workspace", body = ErrorBody),
        (status = 422, description = "limit out of range: field, limit, measured", body = ErrorBody),
    ))]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    auth.require(Action::ManageWebhooks)?;
    let Query(query) = query.map_err(|rejection| ApiError::MalformedBody {
        code: "invalid_query",
        path: Some("limit".to_owned()),
        message: rejection.body_text(),
    })?;
    let limit = query.limit.unwrap_or(DEFAULT_DELIVERIES);
    if limit == 0 || limit > MAX_DELIVERIES {
        return Err(ApiError::unprocessable(
            "out_of_range",
            "limit",
            format!("limit must be between 1 and {MAX_DELIVERIES}; it is {limit}"),
            json!({"min": 1, "max": MAX_DELIVERIES}),
            json!(limit),
        ));
    }
    let endpoint = owned_endpoint(&state, &auth, &id).await?;
    let deliveries = state
        .webhooks()
        .webhook_deliveries(endpoint.id, limit)
        .await?;
    Ok(Json(DeliveryList {
        deliveries: deliveries.into_iter().map(delivery_view).collect(),
    }))
}
