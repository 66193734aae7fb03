//! What happened to an account and who did it: connects, reconnects, refreshes, disconnects and
//! losses of access, each with its actor. Written beside the change it records; read newest
//! first.

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{AccountId, Principal};
use uuid::Uuid;

use crate::db::{query, query_as};
use crate::rows::{corrupt, from_ms, ms};
use crate::{SqlStore, StoreError};

/// Something that happened to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// Connected for the first time.
    Connected,
    /// Connected again (new tokens for the same creator).
    Reconnected,
    /// Tokens refreshed on request.
    Refreshed,
    /// Disconnected (tokens revoked and deleted).
    Disconnected,
    /// TikTok no longer accepts its tokens: someone must reconnect it.
    NeedsReconnect,
}

impl AccountChange {
    /// Every change, for parsing.
    pub const ALL: [Self; 5] = [
        Self::Connected,
        Self::Reconnected,
        Self::Refreshed,
        Self::Disconnected,
        Self::NeedsReconnect,
    ];

    /// The stable stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Reconnected => "reconnected",
            Self::Refreshed => "refreshed",
            Self::Disconnected => "disconnected",
            Self::NeedsReconnect => "needs_reconnect",
        }
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEvent {
    pub account_id: AccountId,
    pub at: Timestamp,
    pub change: AccountChange,
    /// Plain words ("reconnected by the creator's consent").
    pub message: String,
    pub by: Principal,
}

/// The history of accounts.
#[async_trait]
pub trait AccountHistoryStore: Send + Sync {
    /// Records a change of `account`.
    async fn record_account_event(&self, event: AccountEvent) -> Result<(), StoreError>;

    /// An account's changes, newest first (two within one millisecond in either order), at
    /// most `limit`.
    async fn account_events(
        &self,
        account: AccountId,
        limit: u32,
    ) -> Result<Vec<AccountEvent>, StoreError>;
}

#[derive(Debug, sqlx::FromRow)]
struct AccountEventRow {
    account_id: Uuid,
    at_ms: i64,
    kind: String,
    message: String,
    actor_kind: String,
    actor_id: Option<Uuid>,
}

impl AccountEventRow {
    fn into_domain(self) -> Result<AccountEvent, StoreError> {
        Ok(AccountEvent {
            account_id: AccountId::from_uuid(self.account_id),
            at: from_ms(self.at_ms)?,
            change: AccountChange::ALL
                .into_iter()
                .find(|change| change.as_str() == self.kind)
                .ok_or_else(|| corrupt("account event kind"))?,
            message: self.message,
            by: Principal::from_parts(&self.actor_kind, self.actor_id)
                .ok_or_else(|| corrupt("account event actor"))?,
        })
    }
}

#[async_trait]
impl AccountHistoryStore for SqlStore {
    async fn record_account_event(&self, event: AccountEvent) -> Result<(), StoreError> {
        query(
            "INSERT INTO account_events (id, account_id, at_ms, kind, message, actor_kind, actor_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tokpost_core::AccountEventId::generate(event.at).as_uuid())
        .bind(event.account_id.as_uuid())
        .bind(ms(event.at))
        .bind(event.change.as_str())
        .bind(event.message)
        .bind(event.by.kind())
        .bind(event.by.id())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn account_events(
        &self,
        account: AccountId,
        limit: u32,
    ) -> Result<Vec<AccountEvent>, StoreError> {
        query_as::<AccountEventRow>(
            "SELECT account_id, at_ms, kind, message, actor_kind, actor_id FROM account_events
             WHERE account_id = $1 ORDER BY at_ms DESC, id DESC LIMIT $2",
        )
        .bind(account.as_uuid())
        .bind(i64::from(limit))
        .all(&self.db, AccountEventRow::into_domain)
        .await
    }
}
