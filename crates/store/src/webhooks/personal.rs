//! A person's own alerts (an email endpoint bound to a user) and the daily digest, over SQL.
//!
//! A person's alerts are an endpoint like a workspace's channels, with `user_id` set and the
//! `email` format: they share the delivery table, its retries, its log and its pause. There is
//! at most one per person and workspace (a unique index), replaced in place so that a change of
//! events keeps what is still on its way.

use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::{Tx, query, query_as, query_scalar};
use crate::rows::{from_ms, ms};
use crate::webhooks::{
    ChannelFormat, DigestWindow, PersonalAlerts, WEBHOOK_SECRET, WEBHOOK_URL, WebhookEndpoint,
    WebhookEndpointId, WebhookEventType, enqueue_webhook_in_tx,
};
use crate::{SqlStore, StoreError};

/// Published posts a digest names one by one (the rest are counted).
const DIGEST_POSTS: i64 = 20;

/// States a digest counts, by the posts that entered them in its window.
const DIGEST_STATES: [&str; 5] = [
    "published",
    "inbox_delivered",
    "failed",
    "missed",
    "deferred",
];

impl SqlStore {
    pub(crate) async fn personal_endpoint_id(
        &self,
        workspace: tokpost_core::WorkspaceId,
        user: tokpost_core::UserId,
    ) -> Result<Option<WebhookEndpointId>, StoreError> {
        let id: Option<Uuid> = query_scalar(
            "SELECT id FROM webhook_endpoints WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(workspace.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        Ok(id.map(WebhookEndpointId::from_uuid))
    }

    pub(crate) async fn replace_personal_alerts(
        &self,
        alerts: PersonalAlerts,
        now: jiff::Timestamp,
    ) -> Result<Option<WebhookEndpointId>, StoreError> {
        let mut tx = self.db.write_tx().await?;
        let existing: Option<Uuid> = query_scalar(
            "SELECT id FROM webhook_endpoints WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(alerts.workspace_id.as_uuid())
        .bind(alerts.user_id.as_uuid())
        .fetch_optional(&mut tx)
        .await?;
        if alerts.events.is_empty() {
            if let Some(id) = existing {
                query("DELETE FROM webhook_endpoints WHERE id = $1")
                    .bind(id)
                    .execute(&mut tx)
                    .await?;
            }
            tx.commit().await?;
            return Ok(None);
        }
        let url = format!("mailto:{}", alerts.email);
        let id = existing.unwrap_or_else(|| WebhookEndpointId::generate(now).as_uuid());
        let sealed_url =
            self.cipher
                .seal(&SecretString::from(url.clone()), id.as_bytes(), WEBHOOK_URL)?;
        let shown = format!("mailto:{}", alerts.email);
        if existing.is_some() {
            // Saving again is also "try again": a paused endpoint resumes.
            query(
                "UPDATE webhook_endpoints SET url = $2, url_sealed = $3, paused_at_ms = NULL, paused_reason = NULL,
                   consecutive_failures = 0, failing_since_ms = NULL WHERE id = $1",
            )
                .bind(id)
                .bind(&shown)
                .bind(sealed_url)
                .execute(&mut tx)
                .await?;
            query("DELETE FROM webhook_endpoint_events WHERE endpoint_id = $1")
                .bind(id)
                .execute(&mut tx)
                .await?;
        } else {
            // Email is not signed: the endpoint's secret is empty.
            let secret = self.cipher.seal(
                &SecretString::from(String::new()),
                id.as_bytes(),
                WEBHOOK_SECRET,
            )?;
            query(
                "INSERT INTO webhook_endpoints (id, workspace_id, url, description, secret, created_at_ms, consecutive_failures, url_sealed, format, user_id)
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)",
            )
            .bind(id)
            .bind(alerts.workspace_id.as_uuid())
            .bind(&shown)
            .bind("email alerts")
            .bind(secret)
            .bind(ms(now))
            .bind(sealed_url)
            .bind(ChannelFormat::Email.as_str())
            .bind(alerts.user_id.as_uuid())
            .execute(&mut tx)
            .await?;
        }
        for event in &alerts.events {
            query("INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1, $2)")
                .bind(id)
                .bind(event.as_str())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(WebhookEndpointId::from_uuid(id)))
    }

    pub(crate) async fn queue_digests(
        &self,
        window: &DigestWindow,
        now: jiff::Timestamp,
    ) -> Result<u64, StoreError> {
        let workspaces: Vec<Uuid> = query_scalar(
            "SELECT DISTINCT e.workspace_id FROM webhook_endpoints e
             JOIN webhook_endpoint_events ev ON ev.endpoint_id = e.id
             WHERE ev.event_type = $1
               AND NOT EXISTS (SELECT 1 FROM alert_digests d WHERE d.workspace_id = e.workspace_id AND d.day = $2)
             ORDER BY e.workspace_id",
        )
        .bind(WebhookEventType::DigestDaily.as_str())
        .bind(&window.day)
        .fetch_all(&self.db)
        .await?;
        let mut queued = 0;
        for workspace in workspaces {
            let mut tx = self.db.write_tx().await?;
            let first = query(
                "INSERT INTO alert_digests (workspace_id, day, queued_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (workspace_id, day) DO NOTHING",
            )
            .bind(workspace)
            .bind(&window.day)
            .bind(ms(now))
            .execute(&mut tx)
            .await?
            .rows_affected();
            if first == 0 {
                // Another process queued this day's digest first.
                tx.rollback().await?;
                continue;
            }
            let data = digest_facts(&mut tx, workspace, window).await?;
            let event = crate::WebhookEvent {
                event_type: WebhookEventType::DigestDaily,
                at: now,
                data,
            };
            let workspace = tokpost_core::WorkspaceId::from_uuid(workspace);
            enqueue_webhook_in_tx(&mut tx, workspace, &event).await?;
            tx.commit().await?;
            queued += 1;
        }
        Ok(queued)
    }
}

/// What a digest says: the posts that entered each final state in the window, the published
/// ones by name, and what waits for approval now.
async fn digest_facts(
    tx: &mut Tx,
    workspace: Uuid,
    window: &DigestWindow,
) -> Result<Value, StoreError> {
    let counts: Vec<(String, i64)> = query_as(
        "SELECT ev.state, COUNT(DISTINCT ev.post_id) FROM post_events ev JOIN posts p ON p.id = ev.post_id
         WHERE p.workspace_id = $1 AND ev.at_ms >= $2 AND ev.at_ms < $3
           AND ev.state IN ($4, $5, $6, $7, $8)
         GROUP BY ev.state",
    )
    .bind(workspace)
    .bind(ms(window.from))
    .bind(ms(window.to))
    .bind(DIGEST_STATES[0])
    .bind(DIGEST_STATES[1])
    .bind(DIGEST_STATES[2])
    .bind(DIGEST_STATES[3])
    .bind(DIGEST_STATES[4])
    .fetch_all(&mut *tx)
    .await?;
    let count = |states: &[&str]| -> i64 {
        counts
            .iter()
            .filter(|(state, _)| states.contains(&state.as_str()))
            .map(|(_, n)| *n)
            .sum()
    };
    let published: Vec<(Uuid, Uuid, String, i64)> = query_as(
        "SELECT ev.post_id, p.account_id, a.display_name, MIN(ev.at_ms) AS at_ms
         FROM post_events ev JOIN posts p ON p.id = ev.post_id JOIN accounts a ON a.id = p.account_id
         WHERE p.workspace_id = $1 AND ev.at_ms >= $2 AND ev.at_ms < $3 AND ev.state IN ($4, $5)
         GROUP BY ev.post_id, p.account_id, a.display_name
         ORDER BY at_ms, ev.post_id LIMIT $6",
    )
    .bind(workspace)
    .bind(ms(window.from))
    .bind(ms(window.to))
    .bind(DIGEST_STATES[0])
    .bind(DIGEST_STATES[1])
    .bind(DIGEST_POSTS)
    .fetch_all(&mut *tx)
    .await?;
    let awaiting: i64 = query_scalar(
        "SELECT COUNT(*) FROM posts WHERE workspace_id = $1 AND state = 'awaiting_approval'",
    )
    .bind(workspace)
    .fetch_one(&mut *tx)
    .await?;
    let posts = published
        .into_iter()
        .map(|(post, account, name, at)| {
            Ok(json!({
                "id": post,
                "account": {"id": account, "display_name": name},
                "published_at": from_ms(at)?,
            }))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(json!({
        "window": {"day": window.day, "from": window.from, "to": window.to},
        "published": count(&DIGEST_STATES[..2]),
        "failed": count(&DIGEST_STATES[2..3]),
        "missed": count(&DIGEST_STATES[3..4]),
        "deferred": count(&DIGEST_STATES[4..5]),
        "awaiting_approval": awaiting,
        "posts": posts,
    }))
}

/// The trait's side of a person's alerts: reads the endpoint back whole.
pub(crate) async fn endpoint_or_none(
    store: &SqlStore,
    id: Option<WebhookEndpointId>,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    match id {
        Some(id) => crate::WebhookStore::webhook_endpoint(store, id).await,
        None => Ok(None),
    }
}
