//! Inbound webhook events seen, so that TikTok's retries of one event act once.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::db::query;
use crate::{SqlStore, StoreError};

/// Inbound webhook event ids.
#[async_trait]
pub trait InboundWebhookStore: Send + Sync {
    /// Records an inbound webhook event id; `false` when it was seen before (a duplicate).
    async fn record_inbound_webhook(
        &self,
        event_id: &str,
        received_at: Timestamp,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
impl InboundWebhookStore for SqlStore {
    async fn record_inbound_webhook(
        &self,
        event_id: &str,
        received_at: jiff::Timestamp,
    ) -> Result<bool, crate::StoreError> {
        let inserted = query(
            "INSERT INTO inbound_webhook_events (event_id, received_at_ms) VALUES ($1, $2)
                 ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(crate::rows::ms(received_at))
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(inserted > 0)
    }
}
