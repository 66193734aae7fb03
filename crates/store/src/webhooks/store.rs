//! [`WebhookStore`](super::WebhookStore) over SQL, and the in-transaction helpers that queue a
//! delivery with the change that causes it.

use secrecy::ExposeSecret as _;

use crate::db::{Tx, query, query_as, query_scalar};

#[async_trait::async_trait]
impl crate::WebhookStore for crate::SqlStore {
    async fn create_webhook_endpoint(
        &self,
        endpoint: crate::NewWebhookEndpoint,
        now: jiff::Timestamp,
    ) -> Result<crate::webhooks::EndpointCreated, crate::StoreError> {
        let id = crate::WebhookEndpointId::generate(now);
        let secret = self.cipher.seal(
            &endpoint.secret,
            id.as_uuid().as_bytes(),
            crate::webhooks::WEBHOOK_SECRET,
        )?;
        let url_sealed = self.cipher.seal(
            &secrecy::SecretString::from(endpoint.url.clone()),
            id.as_uuid().as_bytes(),
            crate::webhooks::WEBHOOK_URL,
        )?;
        let shown = crate::webhooks::shown_url(&endpoint.url);
        let mut tx = self.db.write_tx().await?;
        // The workspace row is the turnstile: on PostgreSQL registrations of one
        // workspace count and insert one after the other (SQLite's write transaction
        // already admits one writer).
        query(self.db.dialect().lock_workspace)
            .bind(endpoint.workspace_id.as_uuid())
            .execute(&mut tx)
            .await?;
        let existing: i64 = query_scalar(
            "SELECT COUNT(*) FROM webhook_endpoints WHERE workspace_id = $1 AND user_id IS NULL",
        )
        .bind(endpoint.workspace_id.as_uuid())
        .fetch_one(&mut tx)
        .await?;
        let existing = u64::try_from(existing).unwrap_or(0);
        if existing >= endpoint.at_most {
            tx.rollback().await?;
            return Ok(crate::webhooks::EndpointCreated::AtLimit { existing });
        }
        query(
            "INSERT INTO webhook_endpoints (id, workspace_id, url, description, secret, created_at_ms, consecutive_failures, url_sealed, format, chat_id)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)",
        )
        .bind(id.as_uuid())
        .bind(endpoint.workspace_id.as_uuid())
        .bind(&shown)
        .bind(&endpoint.description)
        .bind(secret)
        .bind(crate::rows::ms(now))
        .bind(url_sealed)
        .bind(endpoint.format.as_str())
        .bind(endpoint.chat_id.as_deref())
        .execute(&mut tx)
        .await?;
        for event in &endpoint.events {
            query("INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1, $2)")
                .bind(id.as_uuid())
                .bind(event.as_str())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(crate::webhooks::EndpointCreated::Created(Box::new(
            crate::WebhookEndpoint {
                id,
                workspace_id: endpoint.workspace_id,
                url: shown,
                format: endpoint.format,
                chat_id: endpoint.chat_id,
                user_id: None,
                description: endpoint.description,
                events: endpoint.events,
                created_at: now,
                consecutive_failures: 0,
                failing_since: None,
                paused_at: None,
                paused_reason: None,
            },
        )))
    }

    async fn webhook_endpoint(
        &self,
        id: crate::WebhookEndpointId,
    ) -> Result<Option<crate::WebhookEndpoint>, crate::StoreError> {
        let query = concat!(
            "SELECT ",
            crate::webhooks::endpoint_columns!(),
            " FROM webhook_endpoints WHERE id = $1"
        );
        let Some(row) = query_as::<crate::webhooks::EndpointRow>(query)
            .bind(id.as_uuid())
            .fetch_optional(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let events: Vec<String> =
            query_scalar("SELECT event_type FROM webhook_endpoint_events WHERE endpoint_id = $1")
                .bind(id.as_uuid())
                .fetch_all(&self.db)
                .await?;
        let events = events
            .iter()
            .map(|name| crate::webhooks::parse_event_type(name))
            .collect::<Result<_, _>>()?;
        row.into_domain(events).map(Some)
    }

    async fn webhook_endpoints(
        &self,
        workspace: tokpost_core::WorkspaceId,
    ) -> Result<Vec<crate::WebhookEndpoint>, crate::StoreError> {
        let query = concat!(
            "SELECT ",
            crate::webhooks::endpoint_columns!(),
            " FROM webhook_endpoints WHERE workspace_id = $1 AND user_id IS NULL ORDER BY created_at_ms, id"
        );
        let rows = query_as::<crate::webhooks::EndpointRow>(query)
            .bind(workspace.as_uuid())
            .fetch_all(&self.db)
            .await?;
        let subscriptions: Vec<(uuid::Uuid, String)> = query_as(
            "SELECT ev.endpoint_id, ev.event_type FROM webhook_endpoint_events ev
             JOIN webhook_endpoints e ON e.id = ev.endpoint_id WHERE e.workspace_id = $1 AND e.user_id IS NULL",
        )
        .bind(workspace.as_uuid())
        .fetch_all(&self.db)
        .await?;
        rows.into_iter()
            .map(|row| {
                let events = subscriptions
                    .iter()
                    .filter(|(endpoint, _)| *endpoint == row.id())
                    .map(|(_, name)| crate::webhooks::parse_event_type(name))
                    .collect::<Result<_, _>>()?;
                row.into_domain(events)
            })
            .collect()
    }

    async fn delete_webhook_endpoint(
        &self,
        id: crate::WebhookEndpointId,
    ) -> Result<bool, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        let deleted = query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn resume_webhook_endpoint(
        &self,
        id: crate::WebhookEndpointId,
        now: jiff::Timestamp,
    ) -> Result<bool, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        let resumed = query(
            "UPDATE webhook_endpoints SET paused_at_ms = NULL, paused_reason = NULL, consecutive_failures = 0, failing_since_ms = NULL WHERE id = $1",
        )
        .bind(id.as_uuid())
        .execute(&mut tx)
        .await?
        .rows_affected();
        query(
            "UPDATE webhook_deliveries SET next_attempt_at_ms = $2
             WHERE endpoint_id = $1 AND status = 'pending' AND locked_by IS NULL AND next_attempt_at_ms > $2",
        )
        .bind(id.as_uuid())
        .bind(crate::rows::ms(now))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(resumed > 0)
    }

    async fn webhook_deliveries(
        &self,
        endpoint: crate::WebhookEndpointId,
        limit: u32,
    ) -> Result<Vec<crate::WebhookDelivery>, crate::StoreError> {
        let query = concat!(
            "SELECT ",
            crate::webhooks::delivery_columns!(),
            " FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
        );
        let mut deliveries = query_as::<crate::webhooks::DeliveryRow>(query)
            .bind(endpoint.as_uuid())
            .bind(i64::from(limit))
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(crate::webhooks::DeliveryRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        let attempts = query_as::<crate::webhooks::AttemptRow>(
            "SELECT a.delivery_id, a.attempt, a.at_ms, a.status_code, a.latency_ms, a.error
             FROM webhook_attempts a
             WHERE a.delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1
                                     ORDER BY created_at_ms DESC, id DESC LIMIT $2)
             ORDER BY a.attempt",
        )
        .bind(endpoint.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(&self.db)
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
        event: crate::WebhookEvent,
    ) -> Result<u64, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        let queued = enqueue_webhook_in_tx(&mut tx, workspace, &event).await?;
        tx.commit().await?;
        Ok(queued)
    }

    async fn claim_webhook_deliveries(
        &self,
        worker: &crate::WorkerId,
        now: jiff::Timestamp,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<crate::ClaimedDelivery>, crate::StoreError> {
        use crate::rows::ms;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = ms(crate::queue::leases::clock_add(now, lease));
        let mut tx = self.db.write_tx().await?;
        let ids: Vec<uuid::Uuid> = query_scalar(format!(
            "UPDATE webhook_deliveries SET locked_by = $1, locked_until_ms = $2, attempts = attempts + 1
             WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                WHERE d.status = 'pending' AND d.next_attempt_at_ms <= $3
                  AND (d.locked_until_ms IS NULL OR d.locked_until_ms <= $3) AND e.paused_at_ms IS NULL
                ORDER BY d.next_attempt_at_ms, d.id LIMIT $4 {}) RETURNING id",
            self.db.dialect().claim_deliveries
        ))
        .bind(worker.as_str())
        .bind(until)
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut tx)
        .await?;
        let query = concat!(
            "SELECT ",
            crate::webhooks::delivery_columns!(),
            " FROM webhook_deliveries WHERE id = $1"
        );
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            let delivery = query_as::<crate::webhooks::DeliveryRow>(query)
                .bind(id)
                .fetch_one(&mut tx)
                .await?
                .into_domain()?;
            let (sealed_url, sealed, format, chat_id): (
                Option<Vec<u8>>,
                Vec<u8>,
                String,
                Option<String>,
            ) = query_as(
                "SELECT url_sealed, secret, format, chat_id FROM webhook_endpoints WHERE id = $1",
            )
            .bind(delivery.endpoint_id.as_uuid())
            .fetch_one(&mut tx)
            .await?;
            let aad = delivery.endpoint_id.as_uuid();
            let opened = sealed_url
                .ok_or_else(|| crate::rows::corrupt("an endpoint without its sealed URL"))
                .and_then(|url| {
                    Ok(self
                        .cipher
                        .open(&url, aad.as_bytes(), crate::webhooks::WEBHOOK_URL)?)
                })
                .and_then(|url| {
                    Ok((
                        url,
                        self.cipher.open(
                            &sealed,
                            aad.as_bytes(),
                            crate::webhooks::WEBHOOK_SECRET,
                        )?,
                    ))
                });
            let (url, secret) = match opened {
                Ok((url, secret)) => (url.expose_secret().to_owned(), secret),
                Err(error) => {
                    // Release the claimed rows now: a dropped transaction rolls back
                    // only when its connection is next used, and until then other
                    // senders skip the locked rows.
                    tx.rollback().await?;
                    return Err(error);
                }
            };
            let Some(format) = crate::ChannelFormat::parse(&format) else {
                tx.rollback().await?;
                return Err(crate::rows::corrupt(format!("channel format {format}")));
            };
            claimed.push(crate::ClaimedDelivery {
                delivery,
                url,
                secret,
                format,
                chat_id,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn settle_webhook_delivery(
        &self,
        settle: crate::SettleDelivery,
    ) -> Result<crate::SettleOutcome, crate::StoreError> {
        use crate::rows::ms;
        let at = settle.attempt.at;
        let (status, next) = match settle.result {
            crate::DeliveryResult::Delivered => (crate::DeliveryStatus::Delivered, at),
            crate::DeliveryResult::RetryAt(next) => (crate::DeliveryStatus::Pending, next),
            crate::DeliveryResult::GiveUp => (crate::DeliveryStatus::Failed, at),
        };
        let completed = (status != crate::DeliveryStatus::Pending).then_some(ms(at));
        let mut tx = self.db.write_tx().await?;
        let held: Option<(uuid::Uuid, i64)> = query_as(
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
        .fetch_optional(&mut tx)
        .await?;
        let Some((endpoint, attempt)) = held else {
            tx.rollback().await?;
            return Ok(crate::SettleOutcome::LeaseLost);
        };
        query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at_ms, status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(settle.id.as_uuid())
        .bind(attempt)
        .bind(ms(at))
        .bind(settle.attempt.status_code.map(i64::from))
        .bind(crate::rows::to_i64(settle.attempt.latency_ms))
        .bind(settle.attempt.error.as_deref())
        .execute(&mut tx)
        .await?;
        let mut paused = false;
        if settle.result == crate::DeliveryResult::Delivered {
            query("UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since_ms = NULL WHERE id = $1")
                .bind(endpoint)
                .execute(&mut tx)
                .await?;
        } else {
            let streak: Option<(i64, Option<i64>, Option<i64>)> = query_as(
                "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, failing_since_ms = COALESCE(failing_since_ms, $2)
                 WHERE id = $1 RETURNING consecutive_failures, failing_since_ms, paused_at_ms",
            )
            .bind(endpoint)
            .bind(ms(at))
            .fetch_optional(&mut tx)
            .await?;
            if let Some((failures, Some(since), None)) = streak {
                let since = crate::rows::from_ms(since)?;
                if let Some(reason) =
                    crate::webhooks::pause_reason(settle.pause, failures, since, at)
                {
                    query("UPDATE webhook_endpoints SET paused_at_ms = $2, paused_reason = $3 WHERE id = $1")
                        .bind(endpoint)
                        .bind(ms(at))
                        .bind(&reason)
                        .execute(&mut tx)
                        .await?;
                    paused = true;
                }
            }
        }
        tx.commit().await?;
        Ok(crate::SettleOutcome::Settled { paused })
    }

    async fn next_webhook_delivery_at(&self) -> Result<Option<jiff::Timestamp>, crate::StoreError> {
        let next: Option<i64> = query_scalar(
            "SELECT MIN(CASE WHEN d.locked_until_ms IS NOT NULL AND d.locked_until_ms > d.next_attempt_at_ms
                             THEN d.locked_until_ms ELSE d.next_attempt_at_ms END)
             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.status = 'pending' AND e.paused_at_ms IS NULL",
        )
        .fetch_one(&self.db)
        .await?;
        next.map(crate::rows::from_ms).transpose()
    }

    async fn personal_alerts(
        &self,
        workspace: tokpost_core::WorkspaceId,
        user: tokpost_core::UserId,
    ) -> Result<Option<crate::WebhookEndpoint>, crate::StoreError> {
        let id = self.personal_endpoint_id(workspace, user).await?;
        super::personal::endpoint_or_none(self, id).await
    }

    async fn set_personal_alerts(
        &self,
        alerts: crate::PersonalAlerts,
        now: jiff::Timestamp,
    ) -> Result<Option<crate::WebhookEndpoint>, crate::StoreError> {
        let id = self.replace_personal_alerts(alerts, now).await?;
        super::personal::endpoint_or_none(self, id).await
    }

    async fn queue_daily_digests(
        &self,
        window: &crate::DigestWindow,
        now: jiff::Timestamp,
    ) -> Result<u64, crate::StoreError> {
        self.queue_digests(window, now).await
    }
}

/// An endpoint subscribed to an event: its id, and for a person's own alerts the person, their
/// role in the workspace (none once they left) and when they were disabled.
type Candidate = (uuid::Uuid, Option<uuid::Uuid>, Option<String>, Option<i64>);

/// Queues `event` for each endpoint of `workspace` subscribed to its type, inside the
/// caller's transaction. A person's own endpoint gets it only while they are an enabled member
/// whom the event concerns ([`tokpost_core::alerts::reaches`]). A post event is given its
/// account's name here, once for every receiver.
pub(crate) async fn enqueue_webhook_in_tx(
    tx: &mut Tx,
    workspace: tokpost_core::WorkspaceId,
    event: &crate::WebhookEvent,
) -> Result<u64, crate::StoreError> {
    let candidates: Vec<Candidate> = query_as(
        "SELECT e.id, e.user_id, m.role, u.disabled_at_ms FROM webhook_endpoints e
         JOIN webhook_endpoint_events ev ON ev.endpoint_id = e.id
         LEFT JOIN memberships m ON m.user_id = e.user_id AND m.workspace_id = e.workspace_id
         LEFT JOIN users u ON u.id = e.user_id
         WHERE e.workspace_id = $1 AND ev.event_type = $2 ORDER BY e.id",
    )
    .bind(workspace.as_uuid())
    .bind(event.event_type.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let author = principal_at(&event.data, "/post/created_by");
    let actor = principal_at(&event.data, "/by");
    let endpoints: Vec<uuid::Uuid> = candidates
        .into_iter()
        .filter(|(_, user, role, disabled)| match user {
            None => true,
            Some(user) => {
                disabled.is_none()
                    && role
                        .as_deref()
                        .and_then(tokpost_core::Role::parse)
                        .is_some_and(|role| {
                            tokpost_core::alerts::reaches(
                                event.event_type.audience(),
                                tokpost_core::UserId::from_uuid(*user),
                                role,
                                author,
                                actor,
                            )
                        })
            }
        })
        .map(|(id, ..)| id)
        .collect();
    if endpoints.is_empty() {
        return Ok(0);
    }
    let mut event = event.clone();
    name_the_account(tx, &mut event.data).await?;
    let event_id = crate::WebhookDeliveryId::generate(event.at).as_uuid();
    let payload = crate::rows::to_json(&crate::webhooks::envelope(event_id, workspace, &event))?;
    for endpoint in &endpoints {
        query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at_ms, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
        )
        .bind(crate::WebhookDeliveryId::generate(event.at).as_uuid())
        .bind(endpoint)
        .bind(event_id)
        .bind(event.event_type.as_str())
        .bind(&payload)
        .bind(crate::rows::ms(event.at))
        .execute(&mut *tx)
        .await?;
    }
    Ok(u64::try_from(endpoints.len()).unwrap_or(u64::MAX))
}

/// The principal an event names at `pointer` (`{"kind": "user", "id": …}`).
fn principal_at(data: &serde_json::Value, pointer: &str) -> Option<tokpost_core::Principal> {
    let found = data.pointer(pointer)?;
    let kind = found.get("kind")?.as_str()?;
    let id = found
        .get("id")
        .and_then(serde_json::Value::as_str)
        .and_then(|id| uuid::Uuid::parse_str(id).ok());
    tokpost_core::Principal::from_parts(kind, id)
}

/// Adds `account: {id, display_name}` to a post event that has none, so that a message can
/// say whose post it is.
async fn name_the_account(
    tx: &mut Tx,
    data: &mut serde_json::Value,
) -> Result<(), crate::StoreError> {
    if data.get("account").is_some() {
        return Ok(());
    }
    let Some(account) = data
        .pointer("/post/account_id")
        .and_then(serde_json::Value::as_str)
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
    else {
        return Ok(());
    };
    let name: Option<String> = query_scalar("SELECT display_name FROM accounts WHERE id = $1")
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
    if let (Some(name), Some(object)) = (name, data.as_object_mut()) {
        object.insert(
            "account".to_owned(),
            serde_json::json!({ "id": account, "display_name": name }),
        );
    }
    Ok(())
}

/// Queues an account event, filling in the account's workspace, TikTok id and name.
pub(crate) async fn enqueue_account_webhook_in_tx(
    tx: &mut Tx,
    account: tokpost_core::AccountId,
    mut event: crate::WebhookEvent,
) -> Result<u64, crate::StoreError> {
    let row: Option<(uuid::Uuid, String, String, i64)> = query_as(
        "SELECT workspace_id, open_id, display_name, refresh_token_expires_at_ms FROM accounts WHERE id = $1",
    )
    .bind(account.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((workspace, open_id, display_name, refresh_ends)) = row else {
        return Ok(0);
    };
    let facts = serde_json::json!({
        "id": account,
        "open_id": open_id,
        "display_name": display_name,
        "refresh_token_expires_at": crate::rows::from_ms(refresh_ends)?,
    });
    match event.data.as_object_mut() {
        Some(data) => {
            data.insert("account".to_owned(), facts);
        }
        None => event.data = serde_json::json!({ "account": facts }),
    }
    enqueue_webhook_in_tx(tx, tokpost_core::WorkspaceId::from_uuid(workspace), &event).await
}
