//! Connected TikTok accounts: their sealed tokens (opened only for the caller that needs them),
//! their status, the creator-info snapshots TikTok returned, and the notices a keeper pass
//! records once per account.

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{Account, AccountId, AccountStatus, OpenId, WorkspaceId};

use crate::db::{query, query_as, query_scalar};
use crate::types::*;
use crate::{SqlStore, StoreError};

/// Accounts, their tokens and creator-info snapshots.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Connects an account, or reconnects it when the workspace already has this `open_id`
    /// (new tokens and scopes, status back to connected, same [`AccountId`]).
    async fn connect_account(
        &self,
        account: NewAccount,
        now: Timestamp,
    ) -> Result<Account, StoreError>;

    /// An account by id.
    async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;

    /// The accounts of a workspace, oldest first.
    async fn accounts(&self, workspace: WorkspaceId) -> Result<Vec<Account>, StoreError>;

    /// A page of a workspace's accounts, oldest first: at most `limit` of those connected after
    /// `after` (the creation instant and id of the previous page's last account).
    async fn accounts_page(
        &self,
        workspace: WorkspaceId,
        after: Option<(Timestamp, AccountId)>,
        limit: u32,
    ) -> Result<Vec<Account>, StoreError>;

    /// Connected accounts whose access token expires before `before` (for the token keeper).
    async fn accounts_expiring_before(
        &self,
        before: Timestamp,
    ) -> Result<Vec<AccountId>, StoreError>;

    /// The decrypted tokens of an account, `None` when it has none (disconnected or unknown).
    async fn account_tokens(&self, id: AccountId) -> Result<Option<AccountTokens>, StoreError>;

    /// Changes an account's status. `Disconnected` also erases its tokens.
    async fn set_account_status(
        &self,
        id: AccountId,
        status: AccountStatus,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Records account-level notices (e.g. the refresh-token expiry thresholds one keeper pass
    /// crossed) under their keys, each once: one `bool` per key, `true` when this call recorded
    /// it, `false` when any worker recorded it before. When at least one is new, `announce` (if
    /// any) is queued as the account's webhook event in the same transaction: the caller decides
    /// which notices are news, and its integrators hear of a pass once, not once per key.
    async fn record_account_notices(
        &self,
        account: AccountId,
        keys: &[String],
        at: Timestamp,
        announce: Option<crate::WebhookEvent>,
    ) -> Result<Vec<bool>, StoreError>;

    /// Records a creator-info answer (the raw JSON TikTok returned).
    async fn save_creator_info(
        &self,
        account: AccountId,
        info: &serde_json::Value,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The most recent creator-info snapshot.
    async fn latest_creator_info(
        &self,
        account: AccountId,
    ) -> Result<Option<CreatorInfoSnapshot>, StoreError>;

    /// The accounts, in any workspace, of the creator TikTok knows as `open_id`.
    async fn accounts_by_open_id(&self, open_id: &OpenId) -> Result<Vec<Account>, StoreError>;
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn connect_account(
        &self,
        account: crate::NewAccount,
        now: jiff::Timestamp,
    ) -> Result<tokpost_core::Account, crate::StoreError> {
        use crate::rows::{ms, scopes_text, to_json};
        let mut tx = self.db.write_tx().await?;
        let existing: Option<uuid::Uuid> =
            query_scalar("SELECT id FROM accounts WHERE workspace_id = $1 AND open_id = $2")
                .bind(account.workspace_id.as_uuid())
                .bind(account.open_id.as_str())
                .fetch_optional(&mut tx)
                .await?;
        let status = to_json(&tokpost_core::AccountStatus::Connected)?;
        let scopes = scopes_text(&account.scopes);
        let mut id = existing.unwrap_or_else(|| tokpost_core::AccountId::generate(now).as_uuid());
        let mut needs_update = existing.is_some();
        if existing.is_none() {
            let (access, refresh) = self.seal_tokens(id, &account.tokens)?;
            let inserted = query(
                    "INSERT INTO accounts (id, workspace_id, open_id, display_name, avatar_url, scopes, status, access_token, refresh_token, access_token_expires_at_ms, refresh_token_expires_at_ms, tokens_granted_at_ms, created_at_ms, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $12, $12)
                     ON CONFLICT (workspace_id, open_id) DO NOTHING",
                )
                .bind(id)
                .bind(account.workspace_id.as_uuid())
                .bind(account.open_id.as_str())
                .bind(&account.display_name)
                .bind(account.avatar_url.as_deref())
                .bind(&scopes)
                .bind(&status)
                .bind(access)
                .bind(refresh)
                .bind(ms(account.tokens.access_token_expires_at))
                .bind(ms(account.tokens.refresh_token_expires_at))
                .bind(ms(now))
                .bind(ms(account.tokens.granted_at))
                .execute(&mut tx)
                .await?
                .rows_affected();
            if inserted == 0 {
                // Another process connected the same creator between our read and
                // insert (PostgreSQL only); reconnect the row it created.
                id = query_scalar(
                    "SELECT id FROM accounts WHERE workspace_id = $1 AND open_id = $2",
                )
                .bind(account.workspace_id.as_uuid())
                .bind(account.open_id.as_str())
                .fetch_one(&mut tx)
                .await?;
                needs_update = true;
            }
        }
        if needs_update {
            let (access, refresh) = self.seal_tokens(id, &account.tokens)?;
            query(
                    "UPDATE accounts SET display_name = $2, avatar_url = $3, scopes = $4, status = $5, access_token = $6, refresh_token = $7, access_token_expires_at_ms = $8, refresh_token_expires_at_ms = $9, updated_at_ms = $10, tokens_granted_at_ms = $11,
                       refresh_claimed_by = NULL, refresh_claim_until_ms = NULL, refresh_failures = 0, refresh_not_before_ms = NULL
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&account.display_name)
                .bind(account.avatar_url.as_deref())
                .bind(&scopes)
                .bind(&status)
                .bind(access)
                .bind(refresh)
                .bind(ms(account.tokens.access_token_expires_at))
                .bind(ms(account.tokens.refresh_token_expires_at))
                .bind(ms(now))
                .bind(ms(account.tokens.granted_at))
                .execute(&mut tx)
                .await?;
        }
        let row = query_as::<crate::rows::AccountRow>(concat!(
            "SELECT ",
            crate::rows::account_columns!(),
            " FROM accounts WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut tx)
        .await?;
        tx.commit().await?;
        row.into_domain()
    }

    async fn account(
        &self,
        id: tokpost_core::AccountId,
    ) -> Result<Option<tokpost_core::Account>, crate::StoreError> {
        query_as::<crate::rows::AccountRow>(concat!(
            "SELECT ",
            crate::rows::account_columns!(),
            " FROM accounts WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .optional(&self.db, crate::rows::AccountRow::into_domain)
        .await
    }

    async fn accounts(
        &self,
        workspace: tokpost_core::WorkspaceId,
    ) -> Result<Vec<tokpost_core::Account>, crate::StoreError> {
        query_as::<crate::rows::AccountRow>(concat!(
            "SELECT ",
            crate::rows::account_columns!(),
            " FROM accounts WHERE workspace_id = $1 ORDER BY id"
        ))
        .bind(workspace.as_uuid())
        .all(&self.db, crate::rows::AccountRow::into_domain)
        .await
    }

    async fn accounts_page(
        &self,
        workspace: tokpost_core::WorkspaceId,
        after: Option<(jiff::Timestamp, tokpost_core::AccountId)>,
        limit: u32,
    ) -> Result<Vec<tokpost_core::Account>, crate::StoreError> {
        // (created, id) walks the index on (workspace_id, created_at_ms, id) from where
        // the last page stopped, whatever the workspace's size.
        let (after_ms, after_id) = after.map_or((i64::MIN, uuid::Uuid::nil()), |(at, id)| {
            (crate::rows::ms(at), id.as_uuid())
        });
        query_as::<crate::rows::AccountRow>(concat!(
                "SELECT ",
                crate::rows::account_columns!(),
                " FROM accounts WHERE workspace_id = $1 AND (created_at_ms > $2 OR (created_at_ms = $2 AND id > $3))
                  ORDER BY created_at_ms, id LIMIT $4"
            ))
            .bind(workspace.as_uuid())
            .bind(after_ms)
            .bind(after_id)
            .bind(i64::from(limit))
            .all(&self.db, crate::rows::AccountRow::into_domain).await
    }

    async fn accounts_expiring_before(
        &self,
        before: jiff::Timestamp,
    ) -> Result<Vec<tokpost_core::AccountId>, crate::StoreError> {
        let connected = crate::rows::to_json(&tokpost_core::AccountStatus::Connected)?;
        let ids: Vec<uuid::Uuid> = query_scalar(
                "SELECT id FROM accounts WHERE status = $1 AND access_token_expires_at_ms < $2 ORDER BY access_token_expires_at_ms",
            )
            .bind(connected)
            .bind(crate::rows::ms(before))
            .fetch_all(&self.db)
            .await?;
        Ok(ids
            .into_iter()
            .map(tokpost_core::AccountId::from_uuid)
            .collect())
    }

    async fn account_tokens(
        &self,
        id: tokpost_core::AccountId,
    ) -> Result<Option<crate::AccountTokens>, crate::StoreError> {
        let row = query_as::<crate::rows::TokenRow>(
                "SELECT access_token, refresh_token, access_token_expires_at_ms, refresh_token_expires_at_ms, COALESCE(tokens_granted_at_ms, updated_at_ms) AS granted_at_ms FROM accounts WHERE id = $1",
            )
            .bind(id.as_uuid())
            .fetch_optional(&self.db)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let (Some(access), Some(refresh)) = (row.access_token, row.refresh_token) else {
            return Ok(None);
        };
        let aad = id.as_uuid();
        Ok(Some(crate::AccountTokens {
            access_token: self.cipher.open(&access, aad.as_bytes(), ACCESS_TOKEN)?,
            refresh_token: self.cipher.open(&refresh, aad.as_bytes(), REFRESH_TOKEN)?,
            access_token_expires_at: crate::rows::from_ms(row.access_token_expires_at_ms)?,
            refresh_token_expires_at: crate::rows::from_ms(row.refresh_token_expires_at_ms)?,
            granted_at: crate::rows::from_ms(row.granted_at_ms)?,
        }))
    }

    async fn set_account_status(
        &self,
        id: tokpost_core::AccountId,
        status: tokpost_core::AccountStatus,
        now: jiff::Timestamp,
    ) -> Result<bool, crate::StoreError> {
        let query = if status == tokpost_core::AccountStatus::Disconnected {
            query(
                "UPDATE accounts SET status = $2, access_token = NULL, refresh_token = NULL, updated_at_ms = $3 WHERE id = $1",
            )
        } else {
            query("UPDATE accounts SET status = $2, updated_at_ms = $3 WHERE id = $1")
        };
        let mut tx = self.db.write_tx().await?;
        let previous: Option<String> = query_scalar("SELECT status FROM accounts WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&mut tx)
            .await?;
        let updated = query
            .bind(id.as_uuid())
            .bind(crate::rows::to_json(&status)?)
            .bind(crate::rows::ms(now))
            .execute(&mut tx)
            .await?
            .rows_affected();
        let previous = previous
            .as_deref()
            .and_then(|text| serde_json::from_str::<tokpost_core::AccountStatus>(text).ok());
        if updated > 0
            && let Some(event) =
                crate::webhooks::account_status_event(previous.as_ref(), &status, id, now)
        {
            crate::webhooks::enqueue_account_webhook_in_tx(&mut tx, id, event).await?;
        }
        tx.commit().await?;
        Ok(updated > 0)
    }

    async fn record_account_notices(
        &self,
        account: tokpost_core::AccountId,
        keys: &[String],
        at: jiff::Timestamp,
        announce: Option<crate::WebhookEvent>,
    ) -> Result<Vec<bool>, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        let mut recorded = Vec::with_capacity(keys.len());
        for key in keys {
            let inserted = query(
                    "INSERT INTO account_notices (account_id, notice, recorded_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (account_id, notice) DO NOTHING",
                )
                .bind(account.as_uuid())
                .bind(key)
                .bind(crate::rows::ms(at))
                .execute(&mut tx)
                .await?
                .rows_affected();
            recorded.push(inserted > 0);
        }
        if let Some(event) = announce.filter(|_| recorded.contains(&true)) {
            crate::webhooks::enqueue_account_webhook_in_tx(&mut tx, account, event).await?;
        }
        tx.commit().await?;
        Ok(recorded)
    }

    async fn save_creator_info(
        &self,
        account: tokpost_core::AccountId,
        info: &serde_json::Value,
        at: jiff::Timestamp,
    ) -> Result<(), crate::StoreError> {
        query(
            "INSERT INTO creator_info (account_id, fetched_at_ms, info) VALUES ($1, $2, $3)
                 ON CONFLICT (account_id, fetched_at_ms) DO UPDATE SET info = excluded.info",
        )
        .bind(account.as_uuid())
        .bind(crate::rows::ms(at))
        .bind(crate::rows::to_json(info)?)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn latest_creator_info(
        &self,
        account: tokpost_core::AccountId,
    ) -> Result<Option<crate::CreatorInfoSnapshot>, crate::StoreError> {
        query_as::<crate::rows::CreatorInfoRow>(
                "SELECT account_id, fetched_at_ms, info FROM creator_info WHERE account_id = $1 ORDER BY fetched_at_ms DESC LIMIT 1",
            )
            .bind(account.as_uuid())
            .optional(&self.db, crate::rows::CreatorInfoRow::into_domain).await
    }

    async fn accounts_by_open_id(
        &self,
        open_id: &tokpost_core::OpenId,
    ) -> Result<Vec<tokpost_core::Account>, crate::StoreError> {
        query_as::<crate::rows::AccountRow>(concat!(
            "SELECT ",
            crate::rows::account_columns!(),
            " FROM accounts WHERE open_id = $1 ORDER BY id"
        ))
        .bind(open_id.as_str())
        .all(&self.db, crate::rows::AccountRow::into_domain)
        .await
    }
}

pub(crate) const ACCESS_TOKEN: &str = "access_token";

pub(crate) const REFRESH_TOKEN: &str = "refresh_token";

impl crate::SqlStore {
    pub(crate) fn seal_tokens(
        &self,
        account: uuid::Uuid,
        tokens: &crate::AccountTokens,
    ) -> Result<(Vec<u8>, Vec<u8>), crate::StoreError> {
        Ok((
            self.cipher
                .seal(&tokens.access_token, account.as_bytes(), ACCESS_TOKEN)?,
            self.cipher
                .seal(&tokens.refresh_token, account.as_bytes(), REFRESH_TOKEN)?,
        ))
    }
}
