//! Review links: one post shown to someone outside the team, who may approve or reject it
//! without signing in.
//!
//! Invariants:
//! - A link's secret is stored only as its SHA-256; the link is shown once, to whoever made it.
//! - A link opens one post of one workspace, until it expires or is revoked. What it may do to
//!   the post is what a reviewer may: decide on the revision it shows, through
//!   [`crate::PostStore::decide_post`], recorded as the link's decision.

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{PostId, Principal, ReviewLinkId, WorkspaceId};
use uuid::Uuid;

use crate::db::{query, query_as};
use crate::rows::{from_ms, ms};
use crate::{SqlStore, StoreError};

/// A review link to make.
#[derive(Debug, Clone)]
pub struct NewReviewLink {
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
    /// Who it is for, as the team wrote it ("Dana at Acme").
    pub reviewer_name: String,
    /// Where it was emailed, if it was.
    pub reviewer_email: Option<String>,
    /// Lowercase hex SHA-256 of the link's secret.
    pub secret_hash: String,
    pub created_by: Principal,
    pub expires_at: Timestamp,
}

/// A recorded review link (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewLink {
    pub id: ReviewLinkId,
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
    pub reviewer_name: String,
    pub reviewer_email: Option<String>,
    pub created_by: Option<Principal>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl ReviewLink {
    /// Whether the link opens its post at `now`.
    #[must_use]
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    /// The principal its decisions and comments are recorded as.
    #[must_use]
    pub const fn principal(&self) -> Principal {
        Principal::ReviewLink(self.id)
    }
}

/// Review links.
#[async_trait]
pub trait ReviewLinkStore: Send + Sync {
    /// Records a link.
    async fn create_review_link(
        &self,
        link: NewReviewLink,
        now: Timestamp,
    ) -> Result<ReviewLink, StoreError>;

    /// The links made for a post, newest first.
    async fn review_links(&self, post: PostId) -> Result<Vec<ReviewLink>, StoreError>;

    /// A link by id (to name it as an actor), open or not.
    async fn review_link(&self, id: ReviewLinkId) -> Result<Option<ReviewLink>, StoreError>;

    /// The link whose secret hashes to `secret_hash`, open or not.
    async fn review_link_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ReviewLink>, StoreError>;

    /// Revokes an open link of `workspace`; `false` when there is none.
    async fn revoke_review_link(
        &self,
        id: ReviewLinkId,
        workspace: WorkspaceId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

#[derive(Debug, sqlx::FromRow)]
struct ReviewLinkRow {
    id: Uuid,
    workspace_id: Uuid,
    post_id: Uuid,
    reviewer_name: String,
    reviewer_email: Option<String>,
    created_by_kind: String,
    created_by_id: Option<Uuid>,
    created_at_ms: i64,
    expires_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

impl ReviewLinkRow {
    fn into_domain(self) -> Result<ReviewLink, StoreError> {
        Ok(ReviewLink {
            id: ReviewLinkId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            post_id: PostId::from_uuid(self.post_id),
            reviewer_name: self.reviewer_name,
            reviewer_email: self.reviewer_email,
            created_by: Principal::from_parts(&self.created_by_kind, self.created_by_id),
            created_at: from_ms(self.created_at_ms)?,
            expires_at: from_ms(self.expires_at_ms)?,
            revoked_at: self.revoked_at_ms.map(from_ms).transpose()?,
        })
    }
}

const COLUMNS: &str = "id, workspace_id, post_id, reviewer_name, reviewer_email, created_by_kind, \
     created_by_id, created_at_ms, expires_at_ms, revoked_at_ms";

#[async_trait]
impl ReviewLinkStore for SqlStore {
    async fn create_review_link(
        &self,
        link: NewReviewLink,
        now: Timestamp,
    ) -> Result<ReviewLink, StoreError> {
        let id = ReviewLinkId::generate(now);
        query(
            "INSERT INTO review_links (id, workspace_id, post_id, reviewer_name, reviewer_email,
                 secret_hash, created_by_kind, created_by_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.as_uuid())
        .bind(link.workspace_id.as_uuid())
        .bind(link.post_id.as_uuid())
        .bind(&link.reviewer_name)
        .bind(link.reviewer_email.as_deref())
        .bind(&link.secret_hash)
        .bind(link.created_by.kind())
        .bind(link.created_by.id())
        .bind(ms(now))
        .bind(ms(link.expires_at))
        .execute(&self.db)
        .await?;
        Ok(ReviewLink {
            id,
            workspace_id: link.workspace_id,
            post_id: link.post_id,
            reviewer_name: link.reviewer_name,
            reviewer_email: link.reviewer_email,
            created_by: Some(link.created_by),
            created_at: now,
            expires_at: link.expires_at,
            revoked_at: None,
        })
    }

    async fn review_links(&self, post: PostId) -> Result<Vec<ReviewLink>, StoreError> {
        query_as::<ReviewLinkRow>(format!(
            "SELECT {COLUMNS} FROM review_links WHERE post_id = $1 ORDER BY created_at_ms DESC, id DESC"
        ))
        .bind(post.as_uuid())
        .all(&self.db, ReviewLinkRow::into_domain)
        .await
    }

    async fn review_link(&self, id: ReviewLinkId) -> Result<Option<ReviewLink>, StoreError> {
        query_as::<ReviewLinkRow>(format!("SELECT {COLUMNS} FROM review_links WHERE id = $1"))
            .bind(id.as_uuid())
            .optional(&self.db, ReviewLinkRow::into_domain)
            .await
    }

    async fn review_link_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ReviewLink>, StoreError> {
        query_as::<ReviewLinkRow>(format!(
            "SELECT {COLUMNS} FROM review_links WHERE secret_hash = $1"
        ))
        .bind(secret_hash)
        .optional(&self.db, ReviewLinkRow::into_domain)
        .await
    }

    async fn revoke_review_link(
        &self,
        id: ReviewLinkId,
        workspace: WorkspaceId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(query(
            "UPDATE review_links SET revoked_at_ms = $3
             WHERE id = $1 AND workspace_id = $2 AND revoked_at_ms IS NULL AND expires_at_ms > $3",
        )
        .bind(id.as_uuid())
        .bind(workspace.as_uuid())
        .bind(ms(now))
        .execute(&self.db)
        .await?
        .rows_affected()
            > 0)
    }
}
