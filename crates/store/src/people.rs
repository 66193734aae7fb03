//! People: users, their memberships of workspaces (each with a role), and their sessions.
//!
//! Invariants:
//! - An email names one user across the installation (stored trimmed and lowercased by the
//!   caller); a user joins workspaces through memberships.
//! - A session is valid only while its user is enabled, still a member of its workspace, and
//!   at the session epoch the user had when it was opened. Disabling a user, changing their
//!   role, removing them from a workspace and setting a new password bump the epoch, which ends
//!   every session at once on every process (sessions are read from the database each time).
//! - A workspace never loses its last enabled owner: demoting, removing or disabling them is
//!   refused in the same transaction that would do it, with the workspace's row locked.
//! - The store keeps what it is given: the argon2id hash of a password (never a password), the
//!   SHA-256 of a session's secret (never the secret).

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{Role, UserId, WorkspaceId};
use uuid::Uuid;

use crate::db::{Tx, query, query_as, query_scalar};
use crate::rows::{from_ms, ms};
use crate::{SqlStore, StoreError};

/// A password's argon2id hash in PHC form. Not a secret, but nothing logs it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

/// A person who signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Trimmed and lowercased.
    pub email: String,
    pub name: String,
    /// `None` until the user sets a password (one who signs in only through the
    /// installation's OpenID Connect provider never does).
    pub password_hash: Option<PasswordHash>,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
}

impl User {
    /// Whether the user may sign in.
    #[must_use]
    pub const fn is_enabled(&self) -> bool {
        self.disabled_at.is_none()
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: Option<PasswordHash>,
}

/// A user's place in a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub workspace_id: WorkspaceId,
    pub role: Role,
    pub joined_at: Timestamp,
}

/// A session to open.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Lowercase hex SHA-256 of the cookie's secret.
    pub secret_hash: String,
    pub user_id: UserId,
    pub workspace_id: WorkspaceId,
    /// The IANA time zone the browser reported, for showing times.
    pub time_zone: String,
    pub expires_at: Timestamp,
}

/// A valid session: who, where, with which role, as of this read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user: User,
    pub workspace_id: WorkspaceId,
    pub role: Role,
    pub time_zone: String,
    pub expires_at: Timestamp,
}

/// What a change to a membership did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    Changed,
    /// The user is not a member of the workspace (or does not exist).
    NotMember,
    /// The change would leave the workspace without an enabled owner.
    LastOwner,
}

/// Users, memberships and sessions.
#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Creates a user; `None` when a user with this email exists.
    async fn create_user(&self, user: NewUser, now: Timestamp) -> Result<Option<User>, StoreError>;

    /// A user by id.
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// A user by (trimmed, lowercased) email.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// Every user of the installation, oldest first (the operator's `tokpost users list`).
    async fn users(&self) -> Result<Vec<User>, StoreError>;

    /// The members of a workspace, oldest first.
    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, StoreError>;

    /// The workspaces a user belongs to, with their role, oldest membership first.
    async fn memberships(&self, user: UserId) -> Result<Vec<(WorkspaceId, Role)>, StoreError>;

    /// Adds a user to a workspace; `false` when they are a member already (their role is kept).
    async fn join(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        role: Role,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Gives a member another role, ending their sessions.
    async fn set_role(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        role: Role,
    ) -> Result<MembershipChange, StoreError>;

    /// Removes a member from a workspace, ending their sessions.
    async fn leave(
        &self,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<MembershipChange, StoreError>;

    /// Sets a user's password hash, ending their sessions; `false` when there is no such user.
    async fn set_password(&self, user: UserId, hash: PasswordHash) -> Result<bool, StoreError>;

    /// Disables (ending every session) or enables a user. Disabling the last enabled owner of
    /// a workspace is refused.
    async fn set_disabled(
        &self,
        user: UserId,
        disabled: bool,
        now: Timestamp,
    ) -> Result<MembershipChange, StoreError>;

    /// Opens a session at the user's current epoch.
    async fn open_session(&self, session: NewSession, now: Timestamp) -> Result<(), StoreError>;

    /// The session whose secret hashes to `secret_hash`, if it is still valid at `now`.
    async fn session(
        &self,
        secret_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionUser>, StoreError>;

    /// Ends a session (signing out).
    async fn close_session(&self, secret_hash: &str) -> Result<(), StoreError>;
}

/// The user's columns, prefixed by `u.`.
macro_rules! user_columns {
    () => {
        "u.id, u.email, u.name, u.password_hash, u.created_at_ms, u.disabled_at_ms"
    };
}

#[derive(Debug, sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    password_hash: Option<String>,
    created_at_ms: i64,
    disabled_at_ms: Option<i64>,
}

impl UserRow {
    fn into_domain(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId::from_uuid(self.id),
            email: self.email,
            name: self.name,
            password_hash: self.password_hash.map(PasswordHash),
            created_at: from_ms(self.created_at_ms)?,
            disabled_at: self.disabled_at_ms.map(from_ms).transpose()?,
        })
    }
}

fn role_of(name: &str) -> Result<Role, StoreError> {
    Role::parse(name).ok_or_else(|| StoreError::CorruptRow(format!("unknown role {name:?}")))
}

#[derive(Debug, sqlx::FromRow)]
struct MemberRow {
    #[sqlx(flatten)]
    user: UserRow,
    workspace_id: Uuid,
    role: String,
    joined_at_ms: i64,
}

impl MemberRow {
    fn into_domain(self) -> Result<Member, StoreError> {
        Ok(Member {
            user: self.user.into_domain()?,
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            role: role_of(&self.role)?,
            joined_at: from_ms(self.joined_at_ms)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    user: UserRow,
    workspace_id: Uuid,
    role: String,
    time_zone: String,
    expires_at_ms: i64,
}

/// Ends every session of `user` (a bumped epoch already makes them invalid; this frees rows).
pub(crate) async fn end_sessions(tx: &mut Tx, user: UserId) -> Result<(), StoreError> {
    query("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1")
        .bind(user.as_uuid())
        .execute(&mut *tx)
        .await?;
    query("DELETE FROM user_sessions WHERE user_id = $1")
        .bind(user.as_uuid())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Whether `workspace` keeps an enabled owner other than `user`. The caller has locked the
/// workspace's row, so two owners cannot demote each other at once.
async fn has_other_owner(
    tx: &mut Tx,
    workspace: WorkspaceId,
    user: UserId,
) -> Result<bool, StoreError> {
    let others: i64 = query_scalar(
        "SELECT COUNT(*) FROM memberships AS m JOIN users AS u ON u.id = m.user_id
         WHERE m.workspace_id = $1 AND m.role = 'owner' AND m.user_id <> $2
           AND u.disabled_at_ms IS NULL",
    )
    .bind(workspace.as_uuid())
    .bind(user.as_uuid())
    .fetch_one(&mut *tx)
    .await?;
    Ok(others > 0)
}

impl SqlStore {
    /// Locks `workspace` and reads `user`'s role in it.
    async fn locked_role(
        &self,
        tx: &mut Tx,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<Option<Role>, StoreError> {
        query(self.db.dialect().lock_workspace)
            .bind(workspace.as_uuid())
            .execute(&mut *tx)
            .await?;
        let role: Option<String> =
            query_scalar("SELECT role FROM memberships WHERE user_id = $1 AND workspace_id = $2")
                .bind(user.as_uuid())
                .bind(workspace.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        role.as_deref().map(role_of).transpose()
    }
}

#[async_trait]
impl PeopleStore for SqlStore {
    async fn create_user(&self, user: NewUser, now: Timestamp) -> Result<Option<User>, StoreError> {
        let id = UserId::generate(now);
        let created = query(
            "INSERT INTO users (id, email, name, password_hash, session_epoch, created_at_ms)
             VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (email) DO NOTHING",
        )
        .bind(id.as_uuid())
        .bind(&user.email)
        .bind(&user.name)
        .bind(user.password_hash.as_ref().map(|hash| hash.0.clone()))
        .bind(ms(now))
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok((created == 1).then_some(User {
            id,
            email: user.email,
            name: user.name,
            password_hash: user.password_hash,
            created_at: now,
            disabled_at: None,
        }))
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        query_as::<UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users AS u WHERE u.id = $1"
        ))
        .bind(id.as_uuid())
        .optional(&self.db, UserRow::into_domain)
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        query_as::<UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users AS u WHERE u.email = $1"
        ))
        .bind(email)
        .optional(&self.db, UserRow::into_domain)
        .await
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        query_as::<UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users AS u ORDER BY u.created_at_ms, u.id"
        ))
        .all(&self.db, UserRow::into_domain)
        .await
    }

    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, StoreError> {
        query_as::<MemberRow>(concat!(
            "SELECT ",
            user_columns!(),
            ", m.workspace_id, m.role, m.created_at_ms AS joined_at_ms
             FROM memberships AS m JOIN users AS u ON u.id = m.user_id
             WHERE m.workspace_id = $1 ORDER BY m.created_at_ms, u.id"
        ))
        .bind(workspace.as_uuid())
        .all(&self.db, MemberRow::into_domain)
        .await
    }

    async fn memberships(&self, user: UserId) -> Result<Vec<(WorkspaceId, Role)>, StoreError> {
        let rows: Vec<(Uuid, String)> = query_as(
            "SELECT workspace_id, role FROM memberships WHERE user_id = $1
             ORDER BY created_at_ms, workspace_id",
        )
        .bind(user.as_uuid())
        .fetch_all(&self.db)
        .await?;
        rows.into_iter()
            .map(|(workspace, role)| Ok((WorkspaceId::from_uuid(workspace), role_of(&role)?)))
            .collect()
    }

    async fn join(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        role: Role,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let joined = query(
            "INSERT INTO memberships (user_id, workspace_id, role, created_at_ms)
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, workspace_id) DO NOTHING",
        )
        .bind(user.as_uuid())
        .bind(workspace.as_uuid())
        .bind(role.as_str())
        .bind(ms(now))
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(joined == 1)
    }

    async fn set_role(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        role: Role,
    ) -> Result<MembershipChange, StoreError> {
        let mut tx = self.db.write_tx().await?;
        let Some(current) = self.locked_role(&mut tx, user, workspace).await? else {
            return Ok(MembershipChange::NotMember);
        };
        if current == role {
            return Ok(MembershipChange::Changed);
        }
        if current == Role::Owner && !has_other_owner(&mut tx, workspace, user).await? {
            return Ok(MembershipChange::LastOwner);
        }
        query("UPDATE memberships SET role = $3 WHERE user_id = $1 AND workspace_id = $2")
            .bind(user.as_uuid())
            .bind(workspace.as_uuid())
            .bind(role.as_str())
            .execute(&mut tx)
            .await?;
        end_sessions(&mut tx, user).await?;
        tx.commit().await?;
        Ok(MembershipChange::Changed)
    }

    async fn leave(
        &self,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<MembershipChange, StoreError> {
        let mut tx = self.db.write_tx().await?;
        let Some(current) = self.locked_role(&mut tx, user, workspace).await? else {
            return Ok(MembershipChange::NotMember);
        };
        if current == Role::Owner && !has_other_owner(&mut tx, workspace, user).await? {
            return Ok(MembershipChange::LastOwner);
        }
        query("DELETE FROM memberships WHERE user_id = $1 AND workspace_id = $2")
            .bind(user.as_uuid())
            .bind(workspace.as_uuid())
            .execute(&mut tx)
            .await?;
        end_sessions(&mut tx, user).await?;
        tx.commit().await?;
        Ok(MembershipChange::Changed)
    }

    async fn set_password(&self, user: UserId, hash: PasswordHash) -> Result<bool, StoreError> {
        let mut tx = self.db.write_tx().await?;
        let set = query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user.as_uuid())
            .bind(hash.0)
            .execute(&mut tx)
            .await?
            .rows_affected();
        if set == 0 {
            return Ok(false);
        }
        end_sessions(&mut tx, user).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_disabled(
        &self,
        user: UserId,
        disabled: bool,
        now: Timestamp,
    ) -> Result<MembershipChange, StoreError> {
        let mut tx = self.db.write_tx().await?;
        if disabled {
            let workspaces: Vec<Uuid> = query_scalar(
                "SELECT workspace_id FROM memberships WHERE user_id = $1 AND role = 'owner'
                 ORDER BY workspace_id",
            )
            .bind(user.as_uuid())
            .fetch_all(&mut tx)
            .await?;
            for workspace in workspaces.into_iter().map(WorkspaceId::from_uuid) {
                let role = self.locked_role(&mut tx, user, workspace).await?;
                if role == Some(Role::Owner) && !has_other_owner(&mut tx, workspace, user).await? {
                    return Ok(MembershipChange::LastOwner);
                }
            }
        }
        let changed = query("UPDATE users SET disabled_at_ms = $2 WHERE id = $1")
            .bind(user.as_uuid())
            .bind(disabled.then(|| ms(now)))
            .execute(&mut tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Ok(MembershipChange::NotMember);
        }
        end_sessions(&mut tx, user).await?;
        tx.commit().await?;
        Ok(MembershipChange::Changed)
    }

    async fn open_session(&self, session: NewSession, now: Timestamp) -> Result<(), StoreError> {
        query(
            "INSERT INTO user_sessions
                 (secret_hash, user_id, workspace_id, epoch, time_zone, created_at_ms, expires_at_ms)
             SELECT $1, id, $3, session_epoch, $4, $5, $6 FROM users WHERE id = $2",
        )
        .bind(&session.secret_hash)
        .bind(session.user_id.as_uuid())
        .bind(session.workspace_id.as_uuid())
        .bind(&session.time_zone)
        .bind(ms(now))
        .bind(ms(session.expires_at))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn session(
        &self,
        secret_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionUser>, StoreError> {
        query_as::<SessionRow>(concat!(
            "SELECT ",
            user_columns!(),
            ", s.workspace_id, m.role, s.time_zone, s.expires_at_ms
             FROM user_sessions AS s
             JOIN users AS u ON u.id = s.user_id AND u.session_epoch = s.epoch
             JOIN memberships AS m ON m.user_id = s.user_id AND m.workspace_id = s.workspace_id
             WHERE s.secret_hash = $1 AND s.expires_at_ms > $2 AND u.disabled_at_ms IS NULL"
        ))
        .bind(secret_hash)
        .bind(ms(now))
        .optional(&self.db, |row| {
            Ok(SessionUser {
                user: row.user.into_domain()?,
                workspace_id: WorkspaceId::from_uuid(row.workspace_id),
                role: role_of(&row.role)?,
                time_zone: row.time_zone,
                expires_at: from_ms(row.expires_at_ms)?,
            })
        })
        .await
    }

    async fn close_session(&self, secret_hash: &str) -> Result<(), StoreError> {
        query("DELETE FROM user_sessions WHERE secret_hash = $1")
            .bind(secret_hash)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
