//! Outbound webhooks: the endpoints a workspace registers, and one durable delivery per event and
//! endpoint.
//!
//! A delivery is written in the same transaction as the change that causes it (a post reaching
//! `published`, `failed`, `deferred` or `missed`; an account needing a reconnect; the first
//! refresh-token warning of a keeper pass), so an event can be neither lost nor sent for a change
//! that rolled back. Deliveries live in their own table rather than the job queue: they are
//! claimed with a lease like jobs, but never take an account's lease (a slow receiver must not
//! hold up a creator's publishing) and a paused endpoint's deliveries wait without being claimed.
//!
//! Like the rest of the store this module decides no policy: when to retry, when to give up and
//! when an endpoint has failed long enough to be paused are the caller's numbers
//! ([`DeliveryResult`], [`PausePolicy`]), applied here atomically with the attempt's record.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokpost_core::{AccountId, AccountStatus, Post, PostState, WorkspaceId};
use uuid::Uuid;

use crate::{StoreError, Transition, WorkerId};

/// The associated-data column under which endpoint secrets are sealed.
pub(crate) const WEBHOOK_SECRET: &str = "webhook_secret";

macro_rules! webhook_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id (UUID v7) whose embedded time is `at`.
            #[must_use]
            pub fn generate(at: Timestamp) -> Self {
                Self(uuid_v7_at(at))
            }

            /// Wraps an id read back from storage or a URL.
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    };
}

webhook_id!(
    /// A registered outbound webhook endpoint.
    WebhookEndpointId
);
webhook_id!(
    /// One event's delivery to one endpoint.
    WebhookDeliveryId
);

fn uuid_v7_at(at: Timestamp) -> Uuid {
    let millis = u64::try_from(at.as_millisecond()).unwrap_or(0);
    let nanos = u32::try_from((millis % 1000) * 1_000_000).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        millis / 1000,
        nanos,
    ))
}

/// What an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WebhookEventType {
    /// The post is live on TikTok (or TikTok accepted it into the creator's inbox).
    #[serde(rename = "post.published")]
    PostPublished,
    /// The post failed for good; the payload carries the action, who acts and the catalog code.
    #[serde(rename = "post.failed")]
    PostFailed,
    /// The post waits (a cap, a rate limit, TikTok unavailable) until a known instant.
    #[serde(rename = "post.deferred")]
    PostDeferred,
    /// The post fell due while tokpost was down and the grace period passed.
    #[serde(rename = "post.missed")]
    PostMissed,
    /// TikTok refused the account's tokens; the creator must connect again.
    #[serde(rename = "account.needs_reconnect")]
    AccountNeedsReconnect,
    /// The account's refresh token ends soon; the creator should connect again before then.
    #[serde(rename = "account.refresh_token_expiring")]
    AccountRefreshTokenExpiring,
}

impl WebhookEventType {
    /// Every type.
    pub const ALL: [Self; 6] = [
        Self::PostPublished,
        Self::PostFailed,
        Self::PostDeferred,
        Self::PostMissed,
        Self::AccountNeedsReconnect,
        Self::AccountRefreshTokenExpiring,
    ];

    /// The stable name used on the wire and in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PostPublished => "post.published",
            Self::PostFailed => "post.failed",
            Self::PostDeferred => "post.deferred",
            Self::PostMissed => "post.missed",
            Self::AccountNeedsReconnect => "account.needs_reconnect",
            Self::AccountRefreshTokenExpiring => "account.refresh_token_expiring",
        }
    }

    /// Parses a name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// An endpoint to register. The secret is generated by the caller and shown to the user once.
#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub workspace_id: WorkspaceId,
    pub url: String,
    pub description: String,
    pub events: BTreeSet<WebhookEventType>,
    pub secret: SecretString,
    /// The most endpoints the workspace may have: registering one more is refused, counted
    /// and inserted in one step so that simultaneous registrations cannot exceed it.
    pub at_most: u64,
}

/// What registering an endpoint came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointCreated {
    Created(Box<WebhookEndpoint>),
    /// The workspace already has `existing` endpoints, its limit: nothing was registered.
    AtLimit {
        existing: u64,
    },
}

/// A registered endpoint (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub workspace_id: WorkspaceId,
    pub url: String,
    pub description: String,
    pub events: BTreeSet<WebhookEventType>,
    pub created_at: Timestamp,
    /// Failed attempts since the last successful one.
    pub consecutive_failures: u32,
    /// The first failure of the current streak.
    pub failing_since: Option<Timestamp>,
    /// Set when the endpoint kept failing: nothing is sent until it is resumed.
    pub paused_at: Option<Timestamp>,
    pub paused_reason: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; no more will be made.
    Failed,
}

impl DeliveryStatus {
    /// The stable stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == name)
    }
}

/// One attempt to deliver, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    /// From 1.
    pub attempt: u32,
    pub at: Timestamp,
    /// The endpoint's HTTP status, `None` when no answer came (refused, timed out).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// What went wrong, `None` on success.
    pub error: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    /// The event's id: the same for every endpoint that receives the event (receivers dedupe on it).
    pub event_id: Uuid,
    pub event_type: WebhookEventType,
    /// The event as sent: `{id, type, created_at, workspace_id, data}`.
    pub payload: Value,
    pub status: DeliveryStatus,
    /// Claims so far.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    /// Every attempt, oldest first (empty for claimed deliveries).
    pub log: Vec<WebhookAttempt>,
}

/// A delivery leased to a sender, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery: WebhookDelivery,
    pub url: String,
    pub secret: SecretString,
}

/// What the sender decided after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    /// 2xx: done.
    Delivered,
    /// Failed; try again at this instant.
    RetryAt(Timestamp),
    /// Failed and out of attempts.
    GiveUp,
}

/// When an endpoint that keeps failing is paused (whichever comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PausePolicy {
    pub after_consecutive_failures: u32,
    pub after_failing_for: Duration,
}

/// An attempt's outcome to record.
#[derive(Debug, Clone)]
pub struct SettleDelivery {
    pub id: WebhookDeliveryId,
    pub worker: WorkerId,
    pub attempt: WebhookAttempt,
    pub result: DeliveryResult,
    pub pause: PausePolicy,
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleOutcome {
    /// Recorded; `paused` when this failure paused the endpoint.
    Settled { paused: bool },
    /// The lease ended (another sender may hold the delivery); nothing was recorded.
    LeaseLost,
}

/// An event to deliver to every endpoint of a workspace that subscribed to its type.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub event_type: WebhookEventType,
    pub at: Timestamp,
    /// The event's own facts (the post or account, and what happened).
    pub data: Value,
}

/// Outbound webhooks in the store (a part of [`crate::Store`]; see the module docs).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Registers an endpoint, its secret sealed, unless the workspace is at its limit.
    async fn create_webhook_endpoint(
        &self,
        endpoint: NewWebhookEndpoint,
        now: Timestamp,
    ) -> Result<EndpointCreated, StoreError>;

    /// An endpoint by id.
    async fn webhook_endpoint(
        &self,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// A workspace's endpoints, oldest first.
    async fn webhook_endpoints(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// Deletes an endpoint with its deliveries and their log. `false`: there was none.
    async fn delete_webhook_endpoint(&self, id: WebhookEndpointId) -> Result<bool, StoreError>;

    /// Resumes a paused endpoint: its failure streak starts over and its pending deliveries are
    /// due at `now`. `false`: no such endpoint.
    async fn resume_webhook_endpoint(
        &self,
        id: WebhookEndpointId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// An endpoint's most recent deliveries, newest first, each with its attempts.
    async fn webhook_deliveries(
        &self,
        endpoint: WebhookEndpointId,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Queues `event` for every subscribed endpoint of `workspace` (paused ones included: they
    /// get it after a resume). Returns how many deliveries were queued.
    async fn enqueue_webhook_event(
        &self,
        workspace: WorkspaceId,
        event: WebhookEvent,
    ) -> Result<u64, StoreError>;

    /// Leases up to `limit` due deliveries of endpoints that are not paused to `worker` until
    /// `now + lease` (a delivery whose lease ended is due again).
    async fn claim_webhook_deliveries(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Records an attempt, the delivery's next step and the endpoint's failure streak (pausing
    /// it per `pause`) in one transaction.
    async fn settle_webhook_delivery(
        &self,
        settle: SettleDelivery,
    ) -> Result<SettleOutcome, StoreError>;

    /// When the next pending delivery of an unpaused endpoint is due (or its lease ends).
    async fn next_webhook_delivery_at(&self) -> Result<Option<Timestamp>, StoreError>;
}

fn post_summary(post: &Post) -> Value {
    json!({
        "id": post.id,
        "account_id": post.account_id,
        "state": post.state.kind().as_str(),
        "scheduled_at": post.scheduled_at,
        "publish_id": post.progress.publish_id,
        "public_post_ids": post.progress.public_post_ids,
    })
}

/// The event a post transition causes, if any. A move within one state (a published post
/// recording its late public id, a status check that changed nothing) announces nothing; a
/// deferral to a new instant is a new `post.deferred`.
pub(crate) fn post_transition_event(transition: &Transition, post: &Post) -> Option<WebhookEvent> {
    let to = transition.to;
    let changed_kind = transition.expected.kind() != to.kind();
    let mut data = serde_json::Map::new();
    data.insert("post".to_owned(), post_summary(post));
    data.insert("message".to_owned(), json!(transition.event.message));
    let event_type = match to {
        PostState::Published | PostState::InboxDelivered if changed_kind => {
            WebhookEventType::PostPublished
        }
        PostState::Missed if changed_kind => WebhookEventType::PostMissed,
        PostState::Deferred { until, why } if transition.expected != to => {
            data.insert("deferred".to_owned(), json!({ "until": until, "why": why }));
            WebhookEventType::PostDeferred
        }
        PostState::Failed { action, who } if changed_kind => {
            let code = transition
                .event
                .native_response
                .as_ref()
                .and_then(|native| native.get("classification"))
                .and_then(Value::as_str);
            data.insert(
                "failure".to_owned(),
                json!({
                    "action": action,
                    "who": who,
                    "reason": transition.event.message,
                    "code": code,
                }),
            );
            WebhookEventType::PostFailed
        }
        _ => return None,
    };
    Some(WebhookEvent {
        event_type,
        at: transition.event.at,
        data: Value::Object(data),
    })
}

/// The event an account status change causes: entering `needs_reconnect` from any other status.
pub(crate) fn account_status_event(
    previous: Option<&AccountStatus>,
    status: &AccountStatus,
    account: AccountId,
    at: Timestamp,
) -> Option<WebhookEvent> {
    let AccountStatus::NeedsReconnect { why } = status else {
        return None;
    };
    if matches!(previous, Some(AccountStatus::NeedsReconnect { .. })) {
        return None;
    }
    Some(WebhookEvent {
        event_type: WebhookEventType::AccountNeedsReconnect,
        at,
        data: json!({ "account": { "id": account }, "why": why }),
    })
}

/// The envelope stored and sent: `{id, type, created_at, workspace_id, data}`.
pub(crate) fn envelope(event_id: Uuid, workspace: WorkspaceId, event: &WebhookEvent) -> Value {
    json!({
        "id": event_id,
        "type": event.event_type.as_str(),
        "created_at": event.at,
        "workspace_id": workspace,
        "data": event.data,
    })
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EndpointRow {
    id: Uuid,
    workspace_id: Uuid,
    url: String,
    description: String,
    created_at_ms: i64,
    consecutive_failures: i64,
    failing_since_ms: Option<i64>,
    paused_at_ms: Option<i64>,
    paused_reason: Option<String>,
}

macro_rules! endpoint_columns {
    () => {
        "id, workspace_id, url, description, created_at_ms, consecutive_failures, failing_since_ms, paused_at_ms, paused_reason"
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

/// The [`WebhookStore`] implementation of a backend; `$claim_lock` is what the backend adds to
/// the claim's candidate query (`FOR UPDATE … SKIP LOCKED` on PostgreSQL), `$workspace_lock`
/// a statement that locks a workspace's row (`$1`) until the transaction ends. Also defines the
/// in-transaction helpers the backend's post and account writes call.
macro_rules! impl_webhook_store {
    ($store:ident, $claim_lock:literal, $workspace_lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::WebhookStore for $store {
            async fn create_webhook_endpoint(
                &self,
                endpoint: $crate::NewWebhookEndpoint,
                now: jiff::Timestamp,
            ) -> Result<$crate::webhooks::EndpointCreated, $crate::StoreError> {
                let id = $crate::WebhookEndpointId::generate(now);
                let secret = self.cipher.seal(
                    &endpoint.secret,
                    id.as_uuid().as_bytes(),
                    $crate::webhooks::WEBHOOK_SECRET,
                )?;
                let mut tx = self.write_tx().await?;
                // The workspace row is the turnstile: on PostgreSQL registrations of one
                // workspace count and insert one after the other (SQLite's write transaction
                // already admits one writer).
                sqlx::query($workspace_lock)
                    .bind(endpoint.workspace_id.as_uuid())
                    .execute(&mut *tx)
                    .await?;
                let existing: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM webhook_endpoints WHERE workspace_id = $1",
                )
                .bind(endpoint.workspace_id.as_uuid())
                .fetch_one(&mut *tx)
                .await?;
                let existing = u64::try_from(existing).unwrap_or(0);
                if existing >= endpoint.at_most {
                    tx.rollback().await?;
                    return Ok($crate::webhooks::EndpointCreated::AtLimit { existing });
                }
                sqlx::query(
                    "INSERT INTO webhook_endpoints (id, workspace_id, url, description, secret, created_at_ms, consecutive_failures)
                     VALUES ($1, $2, $3, $4, $5, $6, 0)",
                )
                .bind(id.as_uuid())
                .bind(endpoint.workspace_id.as_uuid())
                .bind(&endpoint.url)
                .bind(&endpoint.description)
                .bind(secret)
                .bind($crate::rows::ms(now))
                .execute(&mut *tx)
                .await?;
                for event in &endpoint.events {
                    sqlx::query("INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1, $2)")
                        .bind(id.as_uuid())
                        .bind(event.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok($crate::webhooks::EndpointCreated::Created(Box::new($crate::WebhookEndpoint {
                    id,
                    workspace_id: endpoint.workspace_id,
                    url: endpoint.url,
                    description: endpoint.description,
                    events: endpoint.events,
                    created_at: now,
                    consecutive_failures: 0,
                    failing_since: None,
                    paused_at: None,
                    paused_reason: None,
                })))
            }

            async fn webhook_endpoint(
                &self,
                id: $crate::WebhookEndpointId,
            ) -> Result<Option<$crate::WebhookEndpoint>, $crate::StoreError> {
                let query = concat!(
                    "SELECT ",
                    $crate::webhooks::endpoint_columns!(),
                    " FROM webhook_endpoints WHERE id = $1"
                );
                let Some(row) = sqlx::query_as::<_, $crate::webhooks::EndpointRow>(query)
                    .bind(id.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let events: Vec<String> = sqlx::query_scalar(
                    "SELECT event_type FROM webhook_endpoint_events WHERE endpoint_id = $1",
                )
                .bind(id.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                let events = events
                    .iter()
                    .map(|name| $crate::webhooks::parse_event_type(name))
                    .collect::<Result<_, _>>()?;
                row.into_domain(events).map(Some)
            }

            async fn webhook_endpoints(
                &self,
                workspace: tokpost_core::WorkspaceId,
            ) -> Result<Vec<$crate::WebhookEndpoint>, $crate::StoreError> {
                let query = concat!(
                    "SELECT ",
                    $crate::webhooks::endpoint_columns!(),
                    " FROM webhook_endpoints WHERE workspace_id = $1 ORDER BY created_at_ms, id"
                );
                let rows = sqlx::query_as::<_, $crate::webhooks::EndpointRow>(query)
                    .bind(workspace.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                let subscriptions: Vec<(uuid::Uuid, String)> = sqlx::query_as(
                    "SELECT ev.endpoint_id, ev.event_type FROM webhook_endpoint_events ev
                     JOIN webhook_endpoints e ON e.id = ev.endpoint_id WHERE e.workspace_id = $1",
                )
                .bind(workspace.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|row| {
                        let events = subscriptions
                            .iter()
                            .filter(|(endpoint, _)| *endpoint == row.id())
                            .map(|(_, name)| $crate::webhooks::parse_event_type(name))
                            .collect::<Result<_, _>>()?;
                        row.into_domain(events)
                    })
                    .collect()
            }

            async fn delete_webhook_endpoint(
                &self,
                id: $crate::WebhookEndpointId,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
                    .bind(id.as_uuid())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(deleted > 0)
            }

            async fn resume_webhook_endpoint(
                &self,
                id: $crate::WebhookEndpointId,
                now: jiff::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                let resumed = sqlx::query(
                    "UPDATE webhook_endpoints SET paused_at_ms = NULL, paused_reason = NULL, consecutive_failures = 0, failing_since_ms = NULL WHERE id = $1",
                )
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "UPDATE webhook_deliveries SET next_attempt_at_ms = $2
                     WHERE endpoint_id = $1 AND status = 'pending' AND locked_by IS NULL AND next_attempt_at_ms > $2",
                )
                .bind(id.as_uuid())
                .bind($crate::rows::ms(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(resumed > 0)
            }

            async fn webhook_deliveries(
                &self,
                endpoint: $crate::WebhookEndpointId,
                limit: u32,
            ) -> Result<Vec<$crate::WebhookDelivery>, $crate::StoreError> {
                let query = concat!(
                    "SELECT ",
                    $crate::webhooks::delivery_columns!(),
                    " FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
                );
                let mut deliveries = sqlx::query_as::<_, $crate::webhooks::DeliveryRow>(query)
                    .bind(endpoint.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::webhooks::DeliveryRow::into_domain)
                    .collect::<Result<Vec<_>, _>>()?;
                let attempts = sqlx::query_as::<_, $crate::webhooks::AttemptRow>(
                    "SELECT a.delivery_id, a.attempt, a.at_ms, a.status_code, a.latency_ms, a.error
                     FROM webhook_attempts a
                     WHERE a.delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1
                                             ORDER BY created_at_ms DESC, id DESC LIMIT $2)
                     ORDER BY a.attempt",
                )
                .bind(endpoint.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                for row in attempts {
                    let delivery = row.delivery_id;
                    if let Some(target) = deliveries.iter_mut().find(|d| d.id.as_uuid() == delivery) {
                        target.log.push(row.into_domain()?);
                    }
                }
                Ok(deliveries)
            }

            async fn enqueue_webhook_event(
                &self,
                workspace: tokpost_core::WorkspaceId,
                event: $crate::WebhookEvent,
            ) -> Result<u64, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                let queued = enqueue_webhook_in_tx(&mut tx, workspace, &event).await?;
                tx.commit().await?;
                Ok(queued)
            }

            async fn claim_webhook_deliveries(
                &self,
                worker: &$crate::WorkerId,
                now: jiff::Timestamp,
                lease: std::time::Duration,
                limit: u32,
            ) -> Result<Vec<$crate::ClaimedDelivery>, $crate::StoreError> {
                use $crate::rows::ms;
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let until = ms(clock_add(now, lease));
                let mut tx = self.write_tx().await?;
                let ids: Vec<uuid::Uuid> = sqlx::query_scalar(concat!(
                    "UPDATE webhook_deliveries SET locked_by = $1, locked_until_ms = $2, attempts = attempts + 1
                     WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                        WHERE d.status = 'pending' AND d.next_attempt_at_ms <= $3
                          AND (d.locked_until_ms IS NULL OR d.locked_until_ms <= $3) AND e.paused_at_ms IS NULL
                        ORDER BY d.next_attempt_at_ms, d.id LIMIT $4 ",
                    $claim_lock,
                    ") RETURNING id"
                ))
                .bind(worker.as_str())
                .bind(until)
                .bind(ms(now))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                let query = concat!(
                    "SELECT ",
                    $crate::webhooks::delivery_columns!(),
                    " FROM webhook_deliveries WHERE id = $1"
                );
                let mut claimed = Vec::with_capacity(ids.len());
                for id in ids {
                    let delivery = sqlx::query_as::<_, $crate::webhooks::DeliveryRow>(query)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?
                        .into_domain()?;
                    let (url, sealed): (String, Vec<u8>) = sqlx::query_as(
                        "SELECT url, secret FROM webhook_endpoints WHERE id = $1",
                    )
                    .bind(delivery.endpoint_id.as_uuid())
                    .fetch_one(&mut *tx)
                    .await?;
                    let secret = match self.cipher.open(
                        &sealed,
                        delivery.endpoint_id.as_uuid().as_bytes(),
                        $crate::webhooks::WEBHOOK_SECRET,
                    ) {
                        Ok(secret) => secret,
                        Err(error) => {
                            // Release the claimed rows now: a dropped transaction rolls back
                            // only when its connection is next used, and until then other
                            // senders skip the locked rows.
                            tx.rollback().await?;
                            return Err(error.into());
                        }
                    };
                    claimed.push($crate::ClaimedDelivery { delivery, url, secret });
                }
                tx.commit().await?;
                Ok(claimed)
            }

            async fn settle_webhook_delivery(
                &self,
                settle: $crate::SettleDelivery,
            ) -> Result<$crate::SettleOutcome, $crate::StoreError> {
                use $crate::rows::ms;
                let at = settle.attempt.at;
                let (status, next) = match settle.result {
                    $crate::DeliveryResult::Delivered => ($crate::DeliveryStatus::Delivered, at),
                    $crate::DeliveryResult::RetryAt(next) => ($crate::DeliveryStatus::Pending, next),
                    $crate::DeliveryResult::GiveUp => ($crate::DeliveryStatus::Failed, at),
                };
                let completed = (status != $crate::DeliveryStatus::Pending).then_some(ms(at));
                let mut tx = self.write_tx().await?;
                let held: Option<(uuid::Uuid, i64)> = sqlx::query_as(
                    "UPDATE webhook_deliveries SET status = $3, next_attempt_at_ms = $4, locked_by = NULL, locked_until_ms = NULL,
                       last_status_code = $5, last_error = $6, completed_at_ms = $7
                     WHERE id = $1 AND locked_by = $2 AND status = 'pending' RETURNING endpoint_id, attempts",
                )
                .bind(settle.id.as_uuid())
                .bind(settle.worker.as_str())
                .bind(status.as_str())
                .bind(ms(next))
                .bind(settle.attempt.status_code.map(i64::from))
                .bind(settle.attempt.error.as_deref())
                .bind(completed)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((endpoint, attempt)) = held else {
                    tx.rollback().await?;
                    return Ok($crate::SettleOutcome::LeaseLost);
                };
                sqlx::query(
                    "INSERT INTO webhook_attempts (delivery_id, attempt, at_ms, status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (delivery_id, attempt) DO NOTHING",
                )
                .bind(settle.id.as_uuid())
                .bind(attempt)
                .bind(ms(at))
                .bind(settle.attempt.status_code.map(i64::from))
                .bind($crate::rows::to_i64(settle.attempt.latency_ms))
                .bind(settle.attempt.error.as_deref())
                .execute(&mut *tx)
                .await?;
                let mut paused = false;
                if settle.result == $crate::DeliveryResult::Delivered {
                    sqlx::query("UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since_ms = NULL WHERE id = $1")
                        .bind(endpoint)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    let streak: Option<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                        "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, failing_since_ms = COALESCE(failing_since_ms, $2)
                         WHERE id = $1 RETURNING consecutive_failures, failing_since_ms, paused_at_ms",
                    )
                    .bind(endpoint)
                    .bind(ms(at))
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((failures, Some(since), None)) = streak {
                        let since = $crate::rows::from_ms(since)?;
                        if let Some(reason) = $crate::webhooks::pause_reason(settle.pause, failures, since, at) {
                            sqlx::query("UPDATE webhook_endpoints SET paused_at_ms = $2, paused_reason = $3 WHERE id = $1")
                                .bind(endpoint)
                                .bind(ms(at))
                                .bind(&reason)
                                .execute(&mut *tx)
                                .await?;
                            paused = true;
                        }
                    }
                }
                tx.commit().await?;
                Ok($crate::SettleOutcome::Settled { paused })
            }

            async fn next_webhook_delivery_at(
                &self,
            ) -> Result<Option<jiff::Timestamp>, $crate::StoreError> {
                let next: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(CASE WHEN d.locked_until_ms IS NOT NULL AND d.locked_until_ms > d.next_attempt_at_ms
                                     THEN d.locked_until_ms ELSE d.next_attempt_at_ms END)
                     FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                     WHERE d.status = 'pending' AND e.paused_at_ms IS NULL",
                )
                .fetch_one(&self.pool)
                .await?;
                next.map($crate::rows::from_ms).transpose()
            }
        }

        /// Queues `event` for each endpoint of `workspace` subscribed to its type, inside the
        /// caller's transaction.
        async fn enqueue_webhook_in_tx(
            tx: &mut Tx,
            workspace: tokpost_core::WorkspaceId,
            event: &$crate::WebhookEvent,
        ) -> Result<u64, $crate::StoreError> {
            let endpoints: Vec<uuid::Uuid> = sqlx::query_scalar(
                "SELECT e.id FROM webhook_endpoints e JOIN webhook_endpoint_events ev ON ev.endpoint_id = e.id
                 WHERE e.workspace_id = $1 AND ev.event_type = $2 ORDER BY e.id",
            )
            .bind(workspace.as_uuid())
            .bind(event.event_type.as_str())
            .fetch_all(&mut **tx)
            .await?;
            if endpoints.is_empty() {
                return Ok(0);
            }
            let event_id = $crate::WebhookDeliveryId::generate(event.at).as_uuid();
            let payload = $crate::rows::to_json(&$crate::webhooks::envelope(event_id, workspace, event))?;
            for endpoint in &endpoints {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at_ms, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
                )
                .bind($crate::WebhookDeliveryId::generate(event.at).as_uuid())
                .bind(endpoint)
                .bind(event_id)
                .bind(event.event_type.as_str())
                .bind(&payload)
                .bind($crate::rows::ms(event.at))
                .execute(&mut **tx)
                .await?;
            }
            Ok(u64::try_from(endpoints.len()).unwrap_or(u64::MAX))
        }

        /// Queues an account event, filling in the account's workspace, TikTok id and name.
        async fn enqueue_account_webhook_in_tx(
            tx: &mut Tx,
            account: tokpost_core::AccountId,
            mut event: $crate::WebhookEvent,
        ) -> Result<u64, $crate::StoreError> {
            let row: Option<(uuid::Uuid, String, String, i64)> = sqlx::query_as(
                "SELECT workspace_id, open_id, display_name, refresh_token_expires_at_ms FROM accounts WHERE id = $1",
            )
            .bind(account.as_uuid())
            .fetch_optional(&mut **tx)
            .await?;
            let Some((workspace, open_id, display_name, refresh_ends)) = row else {
                return Ok(0);
            };
            let facts = serde_json::json!({
                "id": account,
                "open_id": open_id,
                "display_name": display_name,
                "refresh_token_expires_at": $crate::rows::from_ms(refresh_ends)?,
            });
            match event.data.as_object_mut() {
                Some(data) => {
                    data.insert("account".to_owned(), facts);
                }
                None => event.data = serde_json::json!({ "account": facts }),
            }
            enqueue_webhook_in_tx(tx, tokpost_core::WorkspaceId::from_uuid(workspace), &event).await
        }
    };
}

pub(crate) use impl_webhook_store;
