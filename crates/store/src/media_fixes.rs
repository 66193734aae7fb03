//! Fixes of media (autofix): a request to turn a media item TikTok would reject into a new item
//! it accepts, run as a durable `fix_media` job; its progress while ffmpeg runs and its outcome,
//! read beside the media item.
//!
//! Invariants:
//! - a request and its job are written in one transaction: a fix is never forgotten, and never
//!   queued for a request that rolled back;
//! - at most one fix of a media item is queued or running: a second request while one is gets
//!   that one ([`Inserted::Existing`]);
//! - a fix ends once: progress and the end are written only while it is queued or running;
//! - the original media item is never changed: a fix names the new one it made.

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::Value;
use tokpost_core::{MediaFixId, MediaId, PostId, Principal, Revision, WorkspaceId};
use uuid::Uuid;

use crate::db::{query, query_as};
use crate::rows::{corrupt, from_json, from_ms, ms, to_json};
use crate::types::{Inserted, NewJob};
use crate::{SqlStore, StoreError};

/// Where a fix stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixState {
    /// Waiting for a worker.
    Queued,
    /// ffmpeg is running.
    Running,
    /// A new media item TikTok accepts was made.
    Fixed,
    /// No honest change makes it acceptable (the message says why).
    Unfixable,
    /// The fix could not be run to its end (ffmpeg missing, a timeout, the result still rejected).
    Failed,
}

impl FixState {
    const ALL: [Self; 5] = [
        Self::Queued,
        Self::Running,
        Self::Fixed,
        Self::Unfixable,
        Self::Failed,
    ];

    /// The stable stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Fixed => "fixed",
            Self::Unfixable => "unfixable",
            Self::Failed => "failed",
        }
    }

    /// Whether the fix has ended.
    #[must_use]
    pub const fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }
}

/// A request to fix a media item.
#[derive(Debug, Clone)]
pub struct NewMediaFix {
    pub workspace_id: WorkspaceId,
    pub media_id: MediaId,
    /// What the person allowed (trim, scale up, photo format…), as the API took it.
    pub options: Value,
    /// Swap the result into this post, if it is still at this revision.
    pub post: Option<(PostId, Revision)>,
    pub requested_by: Principal,
}

/// A fix and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaFix {
    pub id: MediaFixId,
    pub workspace_id: WorkspaceId,
    pub media_id: MediaId,
    pub options: Value,
    pub post: Option<(PostId, Revision)>,
    pub requested_by: Principal,
    pub state: FixState,
    /// 0–1000 while ffmpeg runs.
    pub progress_permille: u16,
    /// What ffmpeg is doing ("re-encoding the video to H.264").
    pub stage: Option<String>,
    /// What was changed and why, as the fix crate reported it.
    pub changes: Value,
    /// Why it is unfixable or failed, or what became of the swap into the post.
    pub message: Option<String>,
    pub result_media_id: Option<MediaId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How a fix ended.
#[derive(Debug, Clone, PartialEq)]
pub struct FixEnd {
    /// `Fixed`, `Unfixable` or `Failed`.
    pub state: FixState,
    pub changes: Value,
    pub message: Option<String>,
    pub result_media_id: Option<MediaId>,
}

/// Fixes of media (a part of [`crate::Store`]; see the module docs).
#[async_trait]
pub trait MediaFixStore: Send + Sync {
    /// Records a request and queues its job, or returns the fix of this media item already
    /// queued or running.
    async fn request_fix(
        &self,
        fix: NewMediaFix,
        now: Timestamp,
    ) -> Result<Inserted<MediaFix>, StoreError>;

    /// A fix by id.
    async fn media_fix(&self, id: MediaFixId) -> Result<Option<MediaFix>, StoreError>;

    /// The newest fix of a media item.
    async fn latest_fix_of(&self, media: MediaId) -> Result<Option<MediaFix>, StoreError>;

    /// Records progress of a queued or running fix (it is running from then); `false`: it has
    /// ended.
    async fn record_fix_progress(
        &self,
        id: MediaFixId,
        permille: u16,
        stage: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Ends a queued or running fix; `false`: it had ended already.
    async fn finish_fix(
        &self,
        id: MediaFixId,
        end: FixEnd,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// The dedupe key of a fix's job.
#[must_use]
pub fn fix_job_key(id: MediaFixId) -> String {
    format!("fix:{id}")
}

const COLUMNS: &str = "id, workspace_id, media_id, options, post_id, post_revision, requested_by_kind, requested_by_id, state, progress_permille, stage, changes, message, result_media_id, created_at_ms, updated_at_ms";

#[derive(Debug, sqlx::FromRow)]
struct FixRow {
    id: Uuid,
    workspace_id: Uuid,
    media_id: Uuid,
    options: String,
    post_id: Option<Uuid>,
    post_revision: Option<i64>,
    requested_by_kind: String,
    requested_by_id: Option<Uuid>,
    state: String,
    progress_permille: i64,
    stage: Option<String>,
    changes: String,
    message: Option<String>,
    result_media_id: Option<Uuid>,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl FixRow {
    fn into_domain(self) -> Result<MediaFix, StoreError> {
        let post = match (self.post_id, self.post_revision) {
            (Some(post), Some(revision)) => Some((
                PostId::from_uuid(post),
                Revision(
                    u32::try_from(revision)
                        .map_err(|_| corrupt(format!("fix post revision {revision}")))?,
                ),
            )),
            _ => None,
        };
        Ok(MediaFix {
            id: MediaFixId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            media_id: MediaId::from_uuid(self.media_id),
            options: from_json("fix options", &self.options)?,
            post,
            requested_by: Principal::from_parts(&self.requested_by_kind, self.requested_by_id)
                .ok_or_else(|| corrupt("fix requester"))?,
            state: FixState::parse(&self.state)
                .ok_or_else(|| corrupt(format!("fix state {}", self.state)))?,
            progress_permille: u16::try_from(self.progress_permille.clamp(0, 1000)).unwrap_or(0),
            stage: self.stage,
            changes: from_json("fix changes", &self.changes)?,
            message: self.message,
            result_media_id: self.result_media_id.map(MediaId::from_uuid),
            created_at: from_ms(self.created_at_ms)?,
            updated_at: from_ms(self.updated_at_ms)?,
        })
    }
}

#[async_trait]
impl MediaFixStore for SqlStore {
    async fn request_fix(
        &self,
        fix: NewMediaFix,
        now: Timestamp,
    ) -> Result<Inserted<MediaFix>, StoreError> {
        let mut tx = self.db.write_tx().await?;
        // Two requests for one item at once: the second waits here and finds the first.
        query(self.db.dialect().lock_media)
            .bind(fix.media_id.as_uuid())
            .execute(&mut tx)
            .await?;
        let open = query_as::<FixRow>(format!(
            "SELECT {COLUMNS} FROM media_fixes WHERE media_id = $1 AND state IN ('queued', 'running')
             ORDER BY created_at_ms DESC LIMIT 1"
        ))
        .bind(fix.media_id.as_uuid())
        .optional(&mut tx, FixRow::into_domain)
        .await?;
        if let Some(open) = open {
            tx.commit().await?;
            return Ok(Inserted::Existing(open));
        }
        let id = MediaFixId::generate(now);
        query(
            "INSERT INTO media_fixes (id, workspace_id, media_id, options, post_id, post_revision,
               requested_by_kind, requested_by_id, state, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $9)",
        )
        .bind(id.as_uuid())
        .bind(fix.workspace_id.as_uuid())
        .bind(fix.media_id.as_uuid())
        .bind(to_json(&fix.options)?)
        .bind(fix.post.map(|(post, _)| post.as_uuid()))
        .bind(fix.post.map(|(_, revision)| i64::from(revision.0)))
        .bind(fix.requested_by.kind())
        .bind(fix.requested_by.id())
        .bind(ms(now))
        .execute(&mut tx)
        .await?;
        crate::queue::leases::insert_job(
            &mut tx,
            &NewJob {
                kind: tokpost_core::JobKind::FixMedia,
                payload: serde_json::json!({ "fix_id": id }),
                account_id: None,
                post_id: None,
                run_at: now,
                dedupe_key: Some(fix_job_key(id)),
            },
            now,
        )
        .await?;
        let created =
            query_as::<FixRow>(format!("SELECT {COLUMNS} FROM media_fixes WHERE id = $1"))
                .bind(id.as_uuid())
                .optional(&mut tx, FixRow::into_domain)
                .await?
                .ok_or_else(|| corrupt("a fix just written"))?;
        tx.commit().await?;
        self.db.jobs_changed().await;
        Ok(Inserted::Created(created))
    }

    async fn media_fix(&self, id: MediaFixId) -> Result<Option<MediaFix>, StoreError> {
        query_as::<FixRow>(format!("SELECT {COLUMNS} FROM media_fixes WHERE id = $1"))
            .bind(id.as_uuid())
            .optional(&self.db, FixRow::into_domain)
            .await
    }

    async fn latest_fix_of(&self, media: MediaId) -> Result<Option<MediaFix>, StoreError> {
        query_as::<FixRow>(format!(
            "SELECT {COLUMNS} FROM media_fixes WHERE media_id = $1
             ORDER BY created_at_ms DESC, id DESC LIMIT 1"
        ))
        .bind(media.as_uuid())
        .optional(&self.db, FixRow::into_domain)
        .await
    }

    async fn record_fix_progress(
        &self,
        id: MediaFixId,
        permille: u16,
        stage: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let written = query(
            "UPDATE media_fixes SET state = 'running', progress_permille = $2, stage = $3,
               updated_at_ms = $4
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id.as_uuid())
        .bind(i64::from(permille.min(1000)))
        .bind(stage)
        .bind(ms(now))
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(written > 0)
    }

    async fn finish_fix(
        &self,
        id: MediaFixId,
        end: FixEnd,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        if !end.state.is_final() {
            return Err(corrupt(format!(
                "a fix ends fixed, unfixable or failed, not {}",
                end.state.as_str()
            )));
        }
        let written = query(
            "UPDATE media_fixes SET state = $2, changes = $3, message = $4, result_media_id = $5,
               progress_permille = CASE WHEN $2 = 'fixed' THEN 1000 ELSE progress_permille END,
               updated_at_ms = $6
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id.as_uuid())
        .bind(end.state.as_str())
        .bind(to_json(&end.changes)?)
        .bind(end.message)
        .bind(end.result_media_id.map(|media| media.as_uuid()))
        .bind(ms(now))
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(written > 0)
    }
}
