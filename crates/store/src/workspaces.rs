//! Workspaces and the API keys that act for them. A key is stored as the hash of its secret
//! only; the secret is shown once, when it is made.

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{ApiKeyId, WorkspaceId};

use crate::db::{query, query_as};
use crate::types::*;
use crate::{SqlStore, StoreError};

/// Workspaces and their API keys.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Creates a workspace.
    async fn create_workspace(&self, name: &str, now: Timestamp) -> Result<Workspace, StoreError>;

    /// A workspace by id.
    async fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError>;

    /// Every workspace, oldest first (the first start creates one when there is none).
    async fn workspaces(&self) -> Result<Vec<Workspace>, StoreError>;

    /// Records an API key.
    async fn create_api_key(&self, key: NewApiKey, now: Timestamp) -> Result<ApiKey, StoreError>;

    /// The key whose secret hashes to `secret_hash`, revoked or not.
    async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError>;

    /// Every key, oldest first, optionally of one workspace.
    async fn api_keys(&self, workspace: Option<WorkspaceId>) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes a key; `false` when it does not exist or was revoked before.
    async fn revoke_api_key(&self, id: ApiKeyId, now: Timestamp) -> Result<bool, StoreError>;
}

#[async_trait]
impl WorkspaceStore for SqlStore {
    async fn create_workspace(
        &self,
        name: &str,
        now: jiff::Timestamp,
    ) -> Result<crate::Workspace, crate::StoreError> {
        let id = tokpost_core::WorkspaceId::generate(now);
        query("INSERT INTO workspaces (id, name, created_at_ms) VALUES ($1, $2, $3)")
            .bind(id.as_uuid())
            .bind(name)
            .bind(crate::rows::ms(now))
            .execute(&self.db)
            .await?;
        Ok(crate::Workspace {
            id,
            name: name.to_owned(),
            created_at: now,
        })
    }

    async fn workspace(
        &self,
        id: tokpost_core::WorkspaceId,
    ) -> Result<Option<crate::Workspace>, crate::StoreError> {
        query_as::<crate::rows::WorkspaceRow>(
            "SELECT id, name, created_at_ms FROM workspaces WHERE id = $1",
        )
        .bind(id.as_uuid())
        .optional(&self.db, crate::rows::WorkspaceRow::into_domain)
        .await
    }

    async fn workspaces(&self) -> Result<Vec<crate::Workspace>, crate::StoreError> {
        query_as::<crate::rows::WorkspaceRow>(
            "SELECT id, name, created_at_ms FROM workspaces ORDER BY created_at_ms, id",
        )
        .all(&self.db, crate::rows::WorkspaceRow::into_domain)
        .await
    }

    async fn create_api_key(
        &self,
        key: crate::NewApiKey,
        now: jiff::Timestamp,
    ) -> Result<crate::ApiKey, crate::StoreError> {
        let id = tokpost_core::ApiKeyId::generate(now);
        query(
                "INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, created_at_ms, role) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id.as_uuid())
            .bind(key.workspace_id.as_uuid())
            .bind(&key.name)
            .bind(&key.prefix)
            .bind(&key.secret_hash)
            .bind(crate::rows::ms(now))
            .bind(key.role.as_str())
            .execute(&self.db)
            .await?;
        Ok(crate::ApiKey {
            id,
            workspace_id: key.workspace_id,
            name: key.name,
            prefix: key.prefix,
            role: key.role,
            created_at: now,
            revoked_at: None,
        })
    }

    async fn api_key_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<crate::ApiKey>, crate::StoreError> {
        query_as::<crate::rows::ApiKeyRow>(
                "SELECT id, workspace_id, name, prefix, role, created_at_ms, revoked_at_ms FROM api_keys WHERE secret_hash = $1",
            )
            .bind(secret_hash)
            .optional(&self.db, crate::rows::ApiKeyRow::into_domain).await
    }

    async fn api_keys(
        &self,
        workspace: Option<tokpost_core::WorkspaceId>,
    ) -> Result<Vec<crate::ApiKey>, crate::StoreError> {
        let query = match workspace {
                Some(workspace) => query_as::<crate::rows::ApiKeyRow>(
                    "SELECT id, workspace_id, name, prefix, role, created_at_ms, revoked_at_ms FROM api_keys WHERE workspace_id = $1 ORDER BY created_at_ms, id",
                )
                .bind(workspace.as_uuid()),
                None => query_as::<crate::rows::ApiKeyRow>(
                    "SELECT id, workspace_id, name, prefix, role, created_at_ms, revoked_at_ms FROM api_keys ORDER BY created_at_ms, id",
                ),
            };
        query
            .all(&self.db, crate::rows::ApiKeyRow::into_domain)
            .await
    }

    async fn revoke_api_key(
        &self,
        id: tokpost_core::ApiKeyId,
        now: jiff::Timestamp,
    ) -> Result<bool, crate::StoreError> {
        let revoked =
            query("UPDATE api_keys SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL")
                .bind(id.as_uuid())
                .bind(crate::rows::ms(now))
                .execute(&self.db)
                .await?
                .rows_affected();
        Ok(revoked > 0)
    }
}
