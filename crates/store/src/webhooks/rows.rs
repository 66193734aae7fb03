//! The rows of the outbound webhook tables, and the pause rule applied to an endpoint's
//! failure streak.

use crate::StoreError;
use jiff::Timestamp;
use std::collections::BTreeSet;
use tokpost_core::WorkspaceId;
use uuid::Uuid;

use super::{
    ChannelFormat, DeliveryStatus, PausePolicy, WebhookAttempt, WebhookDelivery, WebhookDeliveryId,
    WebhookEndpoint, WebhookEndpointId, WebhookEventType,
};

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EndpointRow {
    id: Uuid,
    workspace_id: Uuid,
    url: String,
    format: String,
    chat_id: Option<String>,
    user_id: Option<Uuid>,
    description: String,
    created_at_ms: i64,
    consecutive_failures: i64,
    failing_since_ms: Option<i64>,
    paused_at_ms: Option<i64>,
    paused_reason: Option<String>,
}

macro_rules! endpoint_columns {
    () => {
        "id, workspace_id, url, format, chat_id, user_id, description, created_at_ms, consecutive_failures, failing_since_ms, paused_at_ms, paused_reason"
    };
}
pub(crate) use endpoint_columns;

impl EndpointRow {
    pub(crate) fn id(&self) -> Uuid {
        self.id
    }

    pub(crate) fn into_domain(
        self,
        events: BTreeSet<WebhookEventType>,
    ) -> Result<WebhookEndpoint, StoreError> {
        use crate::rows::{corrupt, from_ms};
        Ok(WebhookEndpoint {
            id: WebhookEndpointId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            url: self.url,
            format: ChannelFormat::parse(&self.format)
                .ok_or_else(|| corrupt(format!("channel format {}", self.format)))?,
            chat_id: self.chat_id,
            user_id: self.user_id.map(tokpost_core::UserId::from_uuid),
            description: self.description,
            events,
            created_at: from_ms(self.created_at_ms)?,
            consecutive_failures: u32::try_from(self.consecutive_failures)
                .map_err(|_| corrupt("consecutive failures"))?,
            failing_since: self.failing_since_ms.map(from_ms).transpose()?,
            paused_at: self.paused_at_ms.map(from_ms).transpose()?,
            paused_reason: self.paused_reason,
        })
    }
}

pub(crate) fn parse_event_type(name: &str) -> Result<WebhookEventType, StoreError> {
    WebhookEventType::parse(name)
        .ok_or_else(|| crate::rows::corrupt(format!("webhook event type {name}")))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: Uuid,
    endpoint_id: Uuid,
    event_id: Uuid,
    event_type: String,
    payload: String,
    status: String,
    attempts: i64,
    next_attempt_at_ms: i64,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    created_at_ms: i64,
    completed_at_ms: Option<i64>,
}

macro_rules! delivery_columns {
    () => {
        "id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at_ms, last_status_code, last_error, created_at_ms, completed_at_ms"
    };
}
pub(crate) use delivery_columns;

fn status_code(code: Option<i64>) -> Result<Option<u16>, StoreError> {
    code.map(|code| u16::try_from(code).map_err(|_| crate::rows::corrupt("HTTP status")))
        .transpose()
}

impl DeliveryRow {
    pub(crate) fn into_domain(self) -> Result<WebhookDelivery, StoreError> {
        use crate::rows::{corrupt, from_ms};
        Ok(WebhookDelivery {
            id: WebhookDeliveryId::from_uuid(self.id),
            endpoint_id: WebhookEndpointId::from_uuid(self.endpoint_id),
            event_id: self.event_id,
            event_type: parse_event_type(&self.event_type)?,
            payload: serde_json::from_str(&self.payload)
                .map_err(|e| corrupt(format!("webhook payload: {e}")))?,
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| corrupt("delivery status"))?,
            attempts: u32::try_from(self.attempts).map_err(|_| corrupt("delivery attempts"))?,
            next_attempt_at: from_ms(self.next_attempt_at_ms)?,
            last_status_code: status_code(self.last_status_code)?,
            last_error: self.last_error,
            created_at: from_ms(self.created_at_ms)?,
            completed_at: self.completed_at_ms.map(from_ms).transpose()?,
            log: Vec::new(),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AttemptRow {
    pub(crate) delivery_id: Uuid,
    attempt: i64,
    at_ms: i64,
    status_code: Option<i64>,
    latency_ms: i64,
    error: Option<String>,
}

impl AttemptRow {
    pub(crate) fn into_domain(self) -> Result<WebhookAttempt, StoreError> {
        use crate::rows::{corrupt, from_ms};
        Ok(WebhookAttempt {
            attempt: u32::try_from(self.attempt).map_err(|_| corrupt("attempt number"))?,
            at: from_ms(self.at_ms)?,
            status_code: status_code(self.status_code)?,
            latency_ms: u64::try_from(self.latency_ms).map_err(|_| corrupt("latency"))?,
            error: self.error,
        })
    }
}

/// Why an endpoint is paused now, or `None` while its streak is inside `policy`.
pub(crate) fn pause_reason(
    policy: PausePolicy,
    consecutive_failures: i64,
    failing_since: Timestamp,
    now: Timestamp,
) -> Option<String> {
    let failing_for = now.duration_since(failing_since);
    let limit = jiff::SignedDuration::try_from(policy.after_failing_for)
        .unwrap_or(jiff::SignedDuration::MAX);
    if consecutive_failures >= i64::from(policy.after_consecutive_failures) {
        Some(format!(
            "{consecutive_failures} consecutive failed attempts since {failing_since} (the limit is {})",
            policy.after_consecutive_failures
        ))
    } else if failing_for >= limit {
        Some(format!(
            "no successful delivery since {failing_since} ({} s of failures; the limit is {} s)",
            failing_for.as_secs(),
            policy.after_failing_for.as_secs()
        ))
    } else {
        None
    }
}
