//! The media library: probed assets, one per content hash and workspace.

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{MediaId, WorkspaceId};

use crate::db::{query, query_as};
use crate::types::*;
use crate::{SqlStore, StoreError};

/// Probed media assets.
#[async_trait]
pub trait MediaAssetStore: Send + Sync {
    /// Records a probed media asset; the same content (hash) in the same workspace returns the
    /// existing asset.
    async fn add_media(
        &self,
        media: NewMediaAsset,
        now: Timestamp,
    ) -> Result<Inserted<MediaAsset>, StoreError>;

    /// A media asset by id.
    async fn media(&self, id: MediaId) -> Result<Option<MediaAsset>, StoreError>;

    /// The workspace's media, newest first: at most `limit` of `kind` (any when `None`),
    /// created before the `(created_at, id)` cursor when one is given.
    async fn list_media(
        &self,
        workspace: WorkspaceId,
        kind: Option<MediaKind>,
        before: Option<(Timestamp, MediaId)>,
        limit: u32,
    ) -> Result<Vec<MediaAsset>, StoreError>;
}

#[async_trait]
impl MediaAssetStore for SqlStore {
    async fn add_media(
        &self,
        media: crate::NewMediaAsset,
        now: jiff::Timestamp,
    ) -> Result<crate::Inserted<crate::MediaAsset>, crate::StoreError> {
        const SELECT: &str = "SELECT id, workspace_id, kind, content_hash, size_bytes, location, probe, created_at_ms FROM media_assets WHERE workspace_id = $1 AND content_hash = $2";
        let mut tx = self.db.write_tx().await?;
        let inserted = query(
                "INSERT INTO media_assets (id, workspace_id, kind, content_hash, size_bytes, location, probe, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (workspace_id, content_hash) DO NOTHING",
            )
            .bind(tokpost_core::MediaId::generate(now).as_uuid())
            .bind(media.workspace_id.as_uuid())
            .bind(media.kind.as_str())
            .bind(&media.content_hash)
            .bind(crate::rows::to_i64(media.size_bytes))
            .bind(&media.location)
            .bind(crate::rows::to_json(&media.probe)?)
            .bind(crate::rows::ms(now))
            .execute(&mut tx)
            .await?
            .rows_affected();
        let asset = query_as::<crate::rows::MediaRow>(SELECT)
            .bind(media.workspace_id.as_uuid())
            .bind(&media.content_hash)
            .fetch_one(&mut tx)
            .await?
            .into_domain()?;
        tx.commit().await?;
        Ok(if inserted > 0 {
            crate::Inserted::Created(asset)
        } else {
            crate::Inserted::Existing(asset)
        })
    }

    async fn media(
        &self,
        id: tokpost_core::MediaId,
    ) -> Result<Option<crate::MediaAsset>, crate::StoreError> {
        query_as::<crate::rows::MediaRow>(
                "SELECT id, workspace_id, kind, content_hash, size_bytes, location, probe, created_at_ms FROM media_assets WHERE id = $1",
            )
            .bind(id.as_uuid())
            .optional(&self.db, crate::rows::MediaRow::into_domain).await
    }

    async fn list_media(
        &self,
        workspace: tokpost_core::WorkspaceId,
        kind: Option<crate::MediaKind>,
        before: Option<(jiff::Timestamp, tokpost_core::MediaId)>,
        limit: u32,
    ) -> Result<Vec<crate::MediaAsset>, crate::StoreError> {
        let (before_ms, before_id) = match before {
            Some((at, id)) => (Some(at.as_millisecond()), Some(id.as_uuid())),
            None => (None, None),
        };
        query_as::<crate::rows::MediaRow>(
                "SELECT id, workspace_id, kind, content_hash, size_bytes, location, probe, created_at_ms \
                 FROM media_assets WHERE workspace_id = $1 AND ($2 IS NULL OR kind = $2) \
                 AND ($3 IS NULL OR created_at_ms < $3 OR (created_at_ms = $3 AND id < $4)) \
                 ORDER BY created_at_ms DESC, id DESC LIMIT $5",
            )
            .bind(workspace.as_uuid())
            .bind(kind.map(crate::MediaKind::as_str))
            .bind(before_ms)
            .bind(before_id)
            .bind(i64::from(limit))
            .all(&self.db, crate::rows::MediaRow::into_domain).await
    }
}
