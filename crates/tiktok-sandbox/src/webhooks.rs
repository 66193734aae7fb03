//! Webhook delivery: the documented Content Posting and `authorization.removed` events, POSTed
//! to the app's configured URL, signed `TikTok-Signature: t=<unix s>,s=<hex HMAC-SHA256>` over
//! `t + "." + body` with the client secret, retried with doubling waits on any non-200 answer and
//! occasionally delivered twice (at-least-once delivery).
//!
//! Each event is a task that waits on the shared clock until the moment the event happens (the
//! end of processing, a public id appearing), checks that it still happened (a revoke or a cancel
//! may have changed the story), then delivers. Waiting uses the injected clock, so a test that
//! advances a `ManualClock` receives the events at once.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use rand::RngExt;
use serde_json::json;
use sha2::Sha256;

use crate::state::{Shared, Status};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventKind {
    PublishFailed { publish_id: String, reason: String },
    PublishComplete { publish_id: String },
    InboxDelivered { publish_id: String },
    PubliclyAvailable { publish_id: String, post_id: u64 },
    AuthorizationRemoved { reason: u8 },
}

/// An event due at `at`.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) at: Timestamp,
    pub(crate) client_key: String,
    pub(crate) open_id: String,
    pub(crate) publish_type: &'static str,
    pub(crate) kind: EventKind,
}

impl Event {
    fn name(&self) -> &'static str {
        match self.kind {
            EventKind::PublishFailed { .. } => "post.publish.failed",
            EventKind::PublishComplete { .. } => "post.publish.complete",
            EventKind::InboxDelivered { .. } => "post.publish.inbox_delivered",
            EventKind::PubliclyAvailable { .. } => "post.publish.publicly_available",
            EventKind::AuthorizationRemoved { .. } => "authorization.removed",
        }
    }

    fn content(&self) -> serde_json::Value {
        let publish_type = self.publish_type;
        match &self.kind {
            EventKind::PublishFailed { publish_id, reason } => {
                json!({ "publish_id": publish_id, "reason": reason, "publish_type": publish_type })
            }
            EventKind::PublishComplete { publish_id }
            | EventKind::InboxDelivered { publish_id } => {
                json!({ "publish_id": publish_id, "publish_type": publish_type })
            }
            EventKind::PubliclyAvailable {
                publish_id,
                post_id,
            } => json!({
                "publish_id": publish_id,
                "publish_type": publish_type,
                // A string in webhooks, a bare number in status fetch (§0.2).
                "post_id": post_id.to_string(),
            }),
            EventKind::AuthorizationRemoved { reason } => json!({ "reason": reason }),
        }
    }

    /// The webhook body: the envelope with `content` serialised as a string.
    pub(crate) fn body(&self) -> String {
        json!({
            "client_key": self.client_key,
            "event": self.name(),
            "create_time": self.at.as_second(),
            "user_openid": self.open_id,
            "content": self.content().to_string(),
        })
        .to_string()
    }

    /// Whether the event still holds at `now` (a cancel or revoke may have overtaken it).
    fn still_true(&self, shared: &Shared, now: Timestamp) -> bool {
        let world = shared.world();
        let publish = |id: &str| world.publishes.get(id);
        match &self.kind {
            EventKind::AuthorizationRemoved { .. } => true,
            EventKind::PublishFailed { publish_id, reason } => publish(publish_id)
                .is_none_or(|p| p.status_at(now) == Status::Failed(reason.clone())),
            EventKind::PublishComplete { publish_id } => {
                publish(publish_id).is_none_or(|p| p.status_at(now) == Status::PublishComplete)
            }
            EventKind::InboxDelivered { publish_id } => publish(publish_id).is_none_or(|p| {
                matches!(
                    p.status_at(now),
                    Status::SendToUserInbox | Status::PublishComplete
                )
            }),
            EventKind::PubliclyAvailable {
                publish_id,
                post_id,
            } => publish(publish_id).is_none_or(|p| p.visible_post_ids(now).contains(post_id)),
        }
    }
}

/// `hex(HMAC-SHA256(client_secret, "{t}.{body}"))`, the `s=` part of `TikTok-Signature`.
#[must_use]
pub fn sign_webhook(client_secret: &str, timestamp: i64, body: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) else {
        // HMAC takes keys of any length; this branch is never taken.
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Schedules delivery of events (no-op for apps without a webhook URL).
pub(crate) fn schedule(shared: &Arc<Shared>, events: Vec<Event>) {
    for event in events {
        let has_url = shared
            .config
            .app(&event.client_key)
            .is_some_and(|app| app.webhook_url.is_some());
        if has_url {
            let task_shared = Arc::clone(shared);
            shared.spawn(deliver(task_shared, event));
        }
    }
}

async fn deliver(shared: Arc<Shared>, event: Event) {
    shared.clock.sleep_until(event.at).await;
    if !event.still_true(&shared, shared.now()) {
        return;
    }
    let Some(app) = shared.config.app(&event.client_key) else {
        return;
    };
    let Some(url) = app.webhook_url.clone() else {
        return;
    };
    let secret = app.client_secret.expose().to_owned();
    let body = event.body();
    let policy = shared.config.webhooks.clone();
    let mut wait = Duration::from_millis(policy.first_retry_after_ms);
    for attempt in 1..=policy.max_attempts.max(1) {
        // The back-off counts from the attempt's start, so a clock moved while the answer was
        // on its way still counts towards the wait.
        let attempted_at = shared.now();
        if post(&shared, &url, &secret, &body).await {
            let duplicate = shared.world().rng.random::<f64>() < policy.duplicate_probability;
            if duplicate {
                post(&shared, &url, &secret, &body).await;
            }
            return;
        }
        if attempt < policy.max_attempts {
            shared
                .clock
                .sleep_until(clock::add(attempted_at, wait))
                .await;
            wait = wait.saturating_mul(2);
        }
    }
    tracing::warn!(event = event.name(), "webhook dropped after the last retry");
}

async fn post(shared: &Shared, url: &str, secret: &str, body: &str) -> bool {
    let timestamp = shared.now().as_second();
    let signature = sign_webhook(secret, timestamp, body);
    let answer = shared
        .http
        .post(url)
        .header("Content-Type", "application/json")
        .header("TikTok-Signature", format!("t={timestamp},s={signature}"))
        .body(body.to_owned())
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    answer.is_ok_and(|response| response.status() == reqwest::StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_timestamp_dot_body() {
        // Reference value computed independently:
        // printf '1633174587.{"a":1}' | openssl dgst -sha256 -hmac secret
        let signature = sign_webhook("secret", 1_633_174_587, r#"{"a":1}"#);
        assert_eq!(
            signature,
            "7151550f9bebe052d14d518d957d02727224ec1912baffb80d34739a3b149820"
        );
        assert_ne!(
            signature,
            sign_webhook("other", 1_633_174_587, r#"{"a":1}"#)
        );
        assert_ne!(
            signature,
            sign_webhook("secret", 1_633_174_588, r#"{"a":1}"#)
        );
    }

    #[test]
    fn the_content_is_a_json_string_and_post_ids_are_strings() {
        let event = Event {
            at: Timestamp::constant(1_770_210_873, 0),
            client_key: "ck".to_owned(),
            open_id: "-000abc".to_owned(),
            publish_type: "DIRECT_PUBLISH",
            kind: EventKind::PubliclyAvailable {
                publish_id: "v_pub_file~v2-1.7602997070760331285".to_owned(),
                post_id: 7_602_997_517_160_123_666,
            },
        };
        let body: serde_json::Value = serde_json::from_str(&event.body()).unwrap();
        assert_eq!(body["event"], "post.publish.publicly_available");
        assert_eq!(body["create_time"], 1_770_210_873);
        let content: serde_json::Value =
            serde_json::from_str(body["content"].as_str().unwrap()).unwrap();
        assert_eq!(content["post_id"], "7602997517160123666");
        assert_eq!(content["publish_type"], "DIRECT_PUBLISH");
    }
}
