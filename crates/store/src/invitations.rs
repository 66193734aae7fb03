//! The ways into an account other than signing in: invitations to a workspace, password resets,
//! and the record of failed sign-ins that rate-limits guessing.
//!
//! Invariants:
//! - An invitation or a reset is a link whose secret is stored only as its SHA-256, expires,
//!   and is taken at most once: the statement that takes it is the compare-and-set, so two
//!   clicks on the same link (or two processes) cannot both use it.
//! - Nobody joins a workspace without an invitation for their email: accepting creates the
//!   user only for the invited address, and only joins the invited workspace with the invited
//!   role.

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{InvitationId, Principal, Role, UserId, WorkspaceId};
use uuid::Uuid;

use crate::db::{query, query_as, query_scalar};
use crate::people::{PasswordHash, PeopleStore as _, User};
use crate::rows::{from_ms, ms};
use crate::{SqlStore, StoreError};

/// An invitation to create.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub workspace_id: WorkspaceId,
    /// Trimmed and lowercased.
    pub email: String,
    pub role: Role,
    /// Lowercase hex SHA-256 of the link's secret.
    pub secret_hash: String,
    pub invited_by: Principal,
    pub expires_at: Timestamp,
}

/// A recorded invitation (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<Principal>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl Invitation {
    /// Whether the link can still be used at `now`.
    #[must_use]
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The user (created now, or existing with the invited email) joined the workspace.
    Joined {
        user: Box<User>,
        invitation: Box<Invitation>,
    },
    /// No such link, or it was used, revoked or has expired.
    Closed,
    /// The invited email belongs to a disabled user.
    UserDisabled,
}

/// Invitations, password resets and failed sign-ins.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Records an invitation.
    async fn create_invitation(
        &self,
        invitation: NewInvitation,
        now: Timestamp,
    ) -> Result<Invitation, StoreError>;

    /// A workspace's invitations, newest first (open, used and revoked).
    async fn invitations(&self, workspace: WorkspaceId) -> Result<Vec<Invitation>, StoreError>;

    /// The invitation whose secret hashes to `secret_hash`, open or not.
    async fn invitation_by_hash(&self, secret_hash: &str)
    -> Result<Option<Invitation>, StoreError>;

    /// Takes an open invitation: creates the invited user (with `name` and `password`) when no
    /// user has the email, and adds them to the workspace with the invited role.
    async fn accept_invitation(
        &self,
        secret_hash: &str,
        name: &str,
        password: Option<PasswordHash>,
        now: Timestamp,
    ) -> Result<Accepted, StoreError>;

    /// Revokes an open invitation of `workspace`; `false` when there is none.
    async fn revoke_invitation(
        &self,
        id: InvitationId,
        workspace: WorkspaceId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Records a password-reset link for `user`.
    async fn create_password_reset(
        &self,
        user: UserId,
        secret_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// How many reset links were made for `user` since `since`.
    async fn password_resets_since(
        &self,
        user: UserId,
        since: Timestamp,
    ) -> Result<u32, StoreError>;

    /// The user an open reset link is for, without taking it.
    async fn password_reset(
        &self,
        secret_hash: &str,
        now: Timestamp,
    ) -> Result<Option<UserId>, StoreError>;

    /// Takes an open reset link and sets the user's password (ending their sessions); the
    /// user, or `None` when the link is unknown, used or expired.
    async fn use_password_reset(
        &self,
        secret_hash: &str,
        password: PasswordHash,
        now: Timestamp,
    ) -> Result<Option<UserId>, StoreError>;

    /// Records a failed sign-in for `email` and says how many there were since `since`
    /// (this one included).
    async fn record_sign_in_failure(
        &self,
        email: &str,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<u32, StoreError>;

    /// Failed sign-ins for `email` since `since`, and the oldest of them.
    async fn sign_in_failures(
        &self,
        email: &str,
        since: Timestamp,
    ) -> Result<(u32, Option<Timestamp>), StoreError>;

    /// Forgets `email`'s failed sign-ins (after a successful one).
    async fn clear_sign_in_failures(&self, email: &str) -> Result<(), StoreError>;
}

#[derive(Debug, sqlx::FromRow)]
struct InvitationRow {
    id: Uuid,
    workspace_id: Uuid,
    email: String,
    role: String,
    invited_by_kind: String,
    invited_by_id: Option<Uuid>,
    created_at_ms: i64,
    expires_at_ms: i64,
    accepted_at_ms: Option<i64>,
    revoked_at_ms: Option<i64>,
}

impl InvitationRow {
    fn into_domain(self) -> Result<Invitation, StoreError> {
        Ok(Invitation {
            id: InvitationId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            email: self.email,
            role: Role::parse(&self.role)
                .ok_or_else(|| StoreError::CorruptRow(format!("unknown role {:?}", self.role)))?,
            invited_by: Principal::from_parts(&self.invited_by_kind, self.invited_by_id),
            created_at: from_ms(self.created_at_ms)?,
            expires_at: from_ms(self.expires_at_ms)?,
            accepted_at: self.accepted_at_ms.map(from_ms).transpose()?,
            revoked_at: self.revoked_at_ms.map(from_ms).transpose()?,
        })
    }
}

const INVITATION_COLUMNS: &str = "id, workspace_id, email, role, invited_by_kind, invited_by_id, \
     created_at_ms, expires_at_ms, accepted_at_ms, revoked_at_ms";

#[async_trait]
impl InvitationStore for SqlStore {
    async fn create_invitation(
        &self,
        invitation: NewInvitation,
        now: Timestamp,
    ) -> Result<Invitation, StoreError> {
        let id = InvitationId::generate(now);
        query(
            "INSERT INTO invitations (id, workspace_id, email, role, secret_hash, invited_by_kind,
                 invited_by_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.as_uuid())
        .bind(invitation.workspace_id.as_uuid())
        .bind(&invitation.email)
        .bind(invitation.role.as_str())
        .bind(&invitation.secret_hash)
        .bind(invitation.invited_by.kind())
        .bind(invitation.invited_by.id())
        .bind(ms(now))
        .bind(ms(invitation.expires_at))
        .execute(&self.db)
        .await?;
        Ok(Invitation {
            id,
            workspace_id: invitation.workspace_id,
            email: invitation.email,
            role: invitation.role,
            invited_by: Some(invitation.invited_by),
            created_at: now,
            expires_at: invitation.expires_at,
            accepted_at: None,
            revoked_at: None,
        })
    }

    async fn invitations(&self, workspace: WorkspaceId) -> Result<Vec<Invitation>, StoreError> {
        query_as::<InvitationRow>(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE workspace_id = $1
             ORDER BY created_at_ms DESC, id DESC"
        ))
        .bind(workspace.as_uuid())
        .all(&self.db, InvitationRow::into_domain)
        .await
    }

    async fn invitation_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<Invitation>, StoreError> {
        query_as::<InvitationRow>(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE secret_hash = $1"
        ))
        .bind(secret_hash)
        .optional(&self.db, InvitationRow::into_domain)
        .await
    }

    async fn accept_invitation(
        &self,
        secret_hash: &str,
        name: &str,
        password: Option<PasswordHash>,
        now: Timestamp,
    ) -> Result<Accepted, StoreError> {
        let mut tx = self.db.write_tx().await?;
        let taken = query_as::<InvitationRow>(format!(
            "UPDATE invitations SET accepted_at_ms = $2
             WHERE secret_hash = $1 AND accepted_at_ms IS NULL AND revoked_at_ms IS NULL
               AND expires_at_ms > $2
             RETURNING {INVITATION_COLUMNS}"
        ))
        .bind(secret_hash)
        .bind(ms(now))
        .optional(&mut tx, InvitationRow::into_domain)
        .await?;
        let Some(invitation) = taken else {
            return Ok(Accepted::Closed);
        };
        let existing: Option<(Uuid, Option<i64>)> =
            query_as("SELECT id, disabled_at_ms FROM users WHERE email = $1")
                .bind(&invitation.email)
                .fetch_optional(&mut tx)
                .await?;
        let user_id = match existing {
            Some((_, Some(_))) => return Ok(Accepted::UserDisabled),
            Some((id, None)) => UserId::from_uuid(id),
            None => {
                let id = UserId::generate(now);
                query(
                    "INSERT INTO users (id, email, name, password_hash, session_epoch, created_at_ms)
                     VALUES ($1, $2, $3, $4, 0, $5)",
                )
                .bind(id.as_uuid())
                .bind(&invitation.email)
                .bind(name)
                .bind(password.map(|hash| hash.0))
                .bind(ms(now))
                .execute(&mut tx)
                .await?;
                id
            }
        };
        query(
            "INSERT INTO memberships (user_id, workspace_id, role, created_at_ms)
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, workspace_id) DO NOTHING",
        )
        .bind(user_id.as_uuid())
        .bind(invitation.workspace_id.as_uuid())
        .bind(invitation.role.as_str())
        .bind(ms(now))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        let user = self
            .user(user_id)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        Ok(Accepted::Joined {
            user: Box::new(user),
            invitation: Box::new(invitation),
        })
    }

    async fn revoke_invitation(
        &self,
        id: InvitationId,
        workspace: WorkspaceId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let revoked = query(
            "UPDATE invitations SET revoked_at_ms = $3
             WHERE id = $1 AND workspace_id = $2 AND accepted_at_ms IS NULL
               AND revoked_at_ms IS NULL",
        )
        .bind(id.as_uuid())
        .bind(workspace.as_uuid())
        .bind(ms(now))
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(revoked == 1)
    }

    async fn create_password_reset(
        &self,
        user: UserId,
        secret_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO password_resets (secret_hash, user_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(secret_hash)
        .bind(user.as_uuid())
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn password_resets_since(
        &self,
        user: UserId,
        since: Timestamp,
    ) -> Result<u32, StoreError> {
        let count: i64 = query_scalar(
            "SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND created_at_ms >= $2",
        )
        .bind(user.as_uuid())
        .bind(ms(since))
        .fetch_one(&self.db)
        .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn password_reset(
        &self,
        secret_hash: &str,
        now: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let user: Option<Uuid> = query_scalar(
            "SELECT user_id FROM password_resets
             WHERE secret_hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2",
        )
        .bind(secret_hash)
        .bind(ms(now))
        .fetch_optional(&self.db)
        .await?;
        Ok(user.map(UserId::from_uuid))
    }

    async fn use_password_reset(
        &self,
        secret_hash: &str,
        password: PasswordHash,
        now: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let mut tx = self.db.write_tx().await?;
        let user: Option<Uuid> = query_scalar(
            "UPDATE password_resets SET used_at_ms = $2
             WHERE secret_hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2
             RETURNING user_id",
        )
        .bind(secret_hash)
        .bind(ms(now))
        .fetch_optional(&mut tx)
        .await?;
        let Some(user) = user else {
            return Ok(None);
        };
        query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user)
            .bind(password.0)
            .execute(&mut tx)
            .await?;
        crate::people::end_sessions(&mut tx, UserId::from_uuid(user)).await?;
        // Every other open link of the user dies with this one.
        query(
            "UPDATE password_resets SET used_at_ms = $2 WHERE user_id = $1 AND used_at_ms IS NULL",
        )
        .bind(user)
        .bind(ms(now))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(Some(UserId::from_uuid(user)))
    }

    async fn record_sign_in_failure(
        &self,
        email: &str,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let mut tx = self.db.write_tx().await?;
        query("INSERT INTO sign_in_failures (email, at_ms) VALUES ($1, $2)")
            .bind(email)
            .bind(ms(now))
            .execute(&mut tx)
            .await?;
        let count: i64 =
            query_scalar("SELECT COUNT(*) FROM sign_in_failures WHERE email = $1 AND at_ms >= $2")
                .bind(email)
                .bind(ms(since))
                .fetch_one(&mut tx)
                .await?;
        tx.commit().await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn sign_in_failures(
        &self,
        email: &str,
        since: Timestamp,
    ) -> Result<(u32, Option<Timestamp>), StoreError> {
        let (count, oldest): (i64, Option<i64>) = query_as(
            "SELECT COUNT(*), MIN(at_ms) FROM sign_in_failures WHERE email = $1 AND at_ms >= $2",
        )
        .bind(email)
        .bind(ms(since))
        .fetch_one(&self.db)
        .await?;
        Ok((
            u32::try_from(count).unwrap_or(u32::MAX),
            oldest.map(from_ms).transpose()?,
        ))
    }

    async fn clear_sign_in_failures(&self, email: &str) -> Result<(), StoreError> {
        query("DELETE FROM sign_in_failures WHERE email = $1")
            .bind(email)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
