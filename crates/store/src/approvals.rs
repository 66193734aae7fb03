//! Who must approve before a post goes out: the workspace's setting and each account's
//! override. The rule itself is `tokpost_core::requires_approval`; the store applies it inside
//! the transaction that edits a post (`requires_approval_in`), so an edit lands wholly before or
//! wholly after a change of the setting; a new post reads it just before its transaction and
//! is one made just before a change committed in between.

use async_trait::async_trait;
use tokpost_core::{AccountApproval, AccountId, WorkspaceId};
use uuid::Uuid;

use crate::db::{query, query_as};
use crate::rows::corrupt;
use crate::{SqlStore, StoreError};

/// A workspace's approval settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSettings {
    /// Every post needs approval unless its account says otherwise.
    pub workspace_requires: bool,
    /// Each account of the workspace with its choice (`Inherit` when it has none).
    pub accounts: Vec<(AccountId, AccountApproval)>,
}

impl ApprovalSettings {
    /// `account`'s own choice (`Inherit` when it has none).
    #[must_use]
    pub fn choice(&self, account: AccountId) -> AccountApproval {
        self.accounts
            .iter()
            .find(|(id, _)| *id == account)
            .map_or(AccountApproval::Inherit, |(_, choice)| *choice)
    }

    /// Whether a post for `account` needs approval now.
    #[must_use]
    pub fn requires(&self, account: AccountId) -> bool {
        tokpost_core::requires_approval(self.workspace_requires, self.choice(account))
    }
}

/// The approval settings of workspaces and accounts.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// A workspace's settings, its accounts by name.
    async fn approval_settings(
        &self,
        workspace: WorkspaceId,
    ) -> Result<ApprovalSettings, StoreError>;

    /// Whether every post of the workspace needs approval (unless its account overrides).
    async fn set_workspace_approval(
        &self,
        workspace: WorkspaceId,
        required: bool,
    ) -> Result<(), StoreError>;

    /// An account's override; `false` when the workspace has no such account.
    async fn set_account_approval(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        choice: AccountApproval,
    ) -> Result<bool, StoreError>;
}

fn stored(choice: AccountApproval) -> Option<&'static str> {
    match choice {
        AccountApproval::Inherit => None,
        other => Some(other.as_str()),
    }
}

fn parse(stored: Option<&str>) -> Result<AccountApproval, StoreError> {
    stored.map_or(Ok(AccountApproval::Inherit), |name| {
        AccountApproval::parse(name).ok_or_else(|| corrupt("account approval"))
    })
}

/// Whether a post for `account` needs approval, read `on` an edit's transaction or, for a new
/// post, on the pool just before its own.
pub(crate) async fn requires_approval_in(
    on: impl Into<crate::db::On<'_>>,
    account: AccountId,
) -> Result<bool, StoreError> {
    let (workspace, choice): (i64, Option<String>) = query_as(
        "SELECT w.approval_required, a.approval FROM accounts a
         JOIN workspaces w ON w.id = a.workspace_id WHERE a.id = $1",
    )
    .bind(account.as_uuid())
    .fetch_optional(on)
    .await?
    .ok_or(StoreError::NotFound("account"))?;
    Ok(tokpost_core::requires_approval(
        workspace != 0,
        parse(choice.as_deref())?,
    ))
}

#[async_trait]
impl ApprovalStore for SqlStore {
    async fn approval_settings(
        &self,
        workspace: WorkspaceId,
    ) -> Result<ApprovalSettings, StoreError> {
        let required: Option<i64> =
            crate::db::query_scalar("SELECT approval_required FROM workspaces WHERE id = $1")
                .bind(workspace.as_uuid())
                .fetch_optional(&self.db)
                .await?;
        let required = required.ok_or(StoreError::NotFound("workspace"))?;
        let accounts = query_as::<(Uuid, Option<String>)>(
            "SELECT id, approval FROM accounts WHERE workspace_id = $1 ORDER BY display_name, id",
        )
        .bind(workspace.as_uuid())
        .all(&self.db, |(id, choice)| {
            Ok((AccountId::from_uuid(id), parse(choice.as_deref())?))
        })
        .await?;
        Ok(ApprovalSettings {
            workspace_requires: required != 0,
            accounts,
        })
    }

    async fn set_workspace_approval(
        &self,
        workspace: WorkspaceId,
        required: bool,
    ) -> Result<(), StoreError> {
        let changed = query("UPDATE workspaces SET approval_required = $2 WHERE id = $1")
            .bind(workspace.as_uuid())
            .bind(i64::from(required))
            .execute(&self.db)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound("workspace"));
        }
        Ok(())
    }

    async fn set_account_approval(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        choice: AccountApproval,
    ) -> Result<bool, StoreError> {
        Ok(
            query("UPDATE accounts SET approval = $3 WHERE id = $1 AND workspace_id = $2")
                .bind(account.as_uuid())
                .bind(workspace.as_uuid())
                .bind(stored(choice))
                .execute(&self.db)
                .await?
                .rows_affected()
                > 0,
        )
    }
}
