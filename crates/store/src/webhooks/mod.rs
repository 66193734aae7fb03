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
use tokpost_core::alerts::Audience;
use tokpost_core::{AccountId, AccountStatus, Post, PostContent, PostState, UserId, WorkspaceId};
use uuid::Uuid;

mod personal;
mod rows;
mod store;

pub(crate) use rows::*;
pub(crate) use store::{enqueue_account_webhook_in_tx, enqueue_webhook_in_tx};

use crate::{StoreError, Transition, WorkerId};

/// The associated-data column under which endpoint secrets are sealed.
pub(crate) const WEBHOOK_SECRET: &str = "webhook_secret";
/// The associated-data column under which endpoint URLs are sealed (a URL can be a credential).
pub(crate) const WEBHOOK_URL: &str = "webhook_url";

/// What of an endpoint's URL may be shown: its scheme, host and port, and `/…` when it has a
/// path or query (which can hold a credential: a Slack or Discord webhook's token, a bot's).
#[must_use]
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => {
            let origin = parsed.origin().ascii_serialization();
            let more = parsed.path() != "/" || parsed.query().is_some();
            format!("{origin}{}", if more { "/…" } else { "/" })
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

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
    /// A post (or a new revision of it) waits for an owner's or a reviewer's approval.
    #[serde(rename = "post.awaiting_approval")]
    PostAwaitingApproval,
    /// A post was approved (by whom in `by`); it goes out at its time.
    #[serde(rename = "post.approved")]
    PostApproved,
    /// A post was rejected with a comment (`message`); its author edits or cancels it.
    #[serde(rename = "post.rejected")]
    PostRejected,
    /// Once a day: what was published, what failed and what waits, over the last 24 hours.
    #[serde(rename = "digest.daily")]
    DigestDaily,
}

impl WebhookEventType {
    /// Every type.
    pub const ALL: [Self; 10] = [
        Self::PostPublished,
        Self::PostFailed,
        Self::PostDeferred,
        Self::PostMissed,
        Self::AccountNeedsReconnect,
        Self::AccountRefreshTokenExpiring,
        Self::PostAwaitingApproval,
        Self::PostApproved,
        Self::PostRejected,
        Self::DigestDaily,
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
            Self::PostAwaitingApproval => "post.awaiting_approval",
            Self::PostApproved => "post.approved",
            Self::PostRejected => "post.rejected",
            Self::DigestDaily => "digest.daily",
        }
    }

    /// What the event means, for people choosing what reaches them.
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Self::PostPublished => "A post went live on TikTok",
            Self::PostFailed => "A post failed and someone must act",
            Self::PostDeferred => "A post was delayed (a daily cap, a rate limit, TikTok down)",
            Self::PostMissed => "A post fell due while tokpost was down",
            Self::AccountNeedsReconnect => "An account must be connected again",
            Self::AccountRefreshTokenExpiring => "An account's TikTok sign-in ends in 30 or 7 days",
            Self::PostAwaitingApproval => "A post waits for approval",
            Self::PostApproved => "A post of yours was approved",
            Self::PostRejected => "A post of yours was rejected, with the comment",
            Self::DigestDaily => "A daily digest of what was published and what failed",
        }
    }

    /// Whom the event concerns, for a person's own alerts ([`tokpost_core::alerts`]).
    #[must_use]
    pub const fn audience(self) -> Audience {
        match self {
            Self::PostAwaitingApproval => Audience::Reviewers,
            Self::PostApproved | Self::PostRejected => Audience::Author,
            Self::AccountNeedsReconnect | Self::AccountRefreshTokenExpiring => {
                Audience::AccountManagers
            }
            Self::PostPublished
            | Self::PostFailed
            | Self::PostDeferred
            | Self::PostMissed
            | Self::DigestDaily => Audience::Team,
        }
    }

    /// Parses a name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// What an endpoint receives: the signed JSON event, or a message for people in a chat's or a
/// mailbox's shape. Every format goes through the same durable, retried, logged delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelFormat {
    /// The event as JSON, signed with the endpoint's secret (`Tokpost-Signature`).
    Tokpost,
    /// A Slack incoming webhook (or anything that takes Slack's `{"text": …}`).
    Slack,
    /// A Discord channel webhook (`{"content": …}`).
    Discord,
    /// A Telegram bot's `sendMessage`, to the endpoint's chat.
    Telegram,
    /// An email through the operator's SMTP server, to the endpoint's `mailto:` address.
    Email,
}

impl ChannelFormat {
    /// Every format.
    pub const ALL: [Self; 5] = [
        Self::Tokpost,
        Self::Slack,
        Self::Discord,
        Self::Telegram,
        Self::Email,
    ];

    /// The stable name used on the wire and in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tokpost => "tokpost",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Telegram => "telegram",
            Self::Email => "email",
        }
    }

    /// Parses a name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.as_str() == name)
    }
}

/// An endpoint to register. The secret is generated by the caller and shown to the user once.
#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub workspace_id: WorkspaceId,
    pub url: String,
    pub format: ChannelFormat,
    /// The Telegram chat a `telegram` endpoint writes to.
    pub chat_id: Option<String>,
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

/// A registered endpoint (never its secret, nor its full URL: see [`shown_url`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub workspace_id: WorkspaceId,
    /// What may be shown of its URL ([`shown_url`]); the URL itself is sealed.
    pub url: String,
    pub format: ChannelFormat,
    /// The Telegram chat a `telegram` endpoint writes to.
    pub chat_id: Option<String>,
    /// Set for a person's own alerts; `None` for the workspace's channels.
    pub user_id: Option<UserId>,
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
    pub format: ChannelFormat,
    pub chat_id: Option<String>,
}

/// A person's own alerts in a workspace: the events emailed to them.
#[derive(Debug, Clone)]
pub struct PersonalAlerts {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    /// Where they go (the person's email address).
    pub email: String,
    /// Empty: no alerts (the person's endpoint and its pending deliveries are removed).
    pub events: BTreeSet<WebhookEventType>,
}

/// The day a daily digest covers: `[from, to)`, named `day` (`2026-12-07`) so that a workspace
/// gets each day's digest once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestWindow {
    pub day: String,
    pub from: Timestamp,
    pub to: Timestamp,
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

    /// A person's own alerts in a workspace, if they chose any.
    async fn personal_alerts(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Replaces a person's own alerts (their address and events) in one transaction; `None`
    /// when they chose none. The endpoint keeps its id, history and pending deliveries.
    async fn set_personal_alerts(
        &self,
        alerts: PersonalAlerts,
        now: Timestamp,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Queues `window`'s `digest.daily` for every workspace with a subscriber that has not had
    /// it yet, each recorded in the transaction that queues it. Returns the workspaces queued.
    async fn queue_daily_digests(
        &self,
        window: &DigestWindow,
        now: Timestamp,
    ) -> Result<u64, StoreError>;
}

/// The longest excerpt of a caption or title an event carries.
const EXCERPT_CHARS: usize = 100;

fn post_summary(post: &Post) -> Value {
    let text = match &post.spec.content {
        PostContent::Video { caption, .. } => caption.as_str(),
        PostContent::Photos {
            title, description, ..
        } => {
            if title.as_str().trim().is_empty() {
                description.as_str()
            } else {
                title.as_str()
            }
        }
    };
    let mut excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    json!({
        "id": post.id,
        "account_id": post.account_id,
        "state": post.state.kind().as_str(),
        "scheduled_at": post.scheduled_at,
        "publish_id": post.progress.publish_id,
        "public_post_ids": post.progress.public_post_ids,
        "excerpt": excerpt,
        "created_by": post.created_by.map(|by| json!({"kind": by.kind(), "id": by.id()})),
    })
}

/// The event a person's move on a post causes: it awaits approval (created, or a new revision),
/// or was approved or rejected. The payload names who acted and carries the post's revision.
pub(crate) fn approval_event(
    event_type: WebhookEventType,
    post: &Post,
    event: &tokpost_core::NewPostEvent,
) -> WebhookEvent {
    let mut summary = post_summary(post);
    if let Some(object) = summary.as_object_mut() {
        object.insert("revision".to_owned(), json!(post.revision));
    }
    WebhookEvent {
        event_type,
        at: event.at,
        data: json!({
            "post": summary,
            "message": event.message,
            "by": {"kind": event.by.kind(), "id": event.by.id()},
        }),
    }
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
