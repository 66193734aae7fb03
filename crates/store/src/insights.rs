//! Insights in the store: the public posts followed for their counts, and the time series of
//! each post's and each account's counts.
//!
//! A post is followed from the move that records its first public id while it is published and
//! went out public (or from the creator's inbox, where the creator chose), in that move's
//! transaction, which also makes the account's snapshot job due now: a post is never forgotten,
//! and never followed for a move that rolled back. When the next read is due is the caller's
//! (`tokpost_core::insights`); this module stores what it is told.

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{AccountId, Post, PostId, PostMode, PostState, PrivacyLevel};

use crate::db::{Tx, query, query_as, query_scalar};
use crate::rows::{from_ms, ms};
use crate::{SqlStore, StoreError};

/// The dedupe key of an account's snapshot job (one queued per account).
#[must_use]
pub fn snapshot_job_key(account: AccountId) -> String {
    format!("snapshot:{account}")
}

/// A followed post whose counts are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub post_id: PostId,
    /// The Display API's id of the video (the post's public id).
    pub video_id: u64,
    /// When the post went live (its public id was first recorded).
    pub live_at: Timestamp,
    /// Set while the Display API has not returned it since then.
    pub missing_since: Option<Timestamp>,
}

/// Where following a post stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Following {
    pub live_at: Timestamp,
    /// `None`: no longer read.
    pub next_at: Option<Timestamp>,
    pub last_at: Option<Timestamp>,
    pub missing_since: Option<Timestamp>,
}

/// Lifetime counts at one instant (`None`: TikTok did not say).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub views: Option<u64>,
    pub likes: Option<u64>,
    pub comments: Option<u64>,
    pub shares: Option<u64>,
}

/// What one read of a followed post found, and when to read it next (`None`: stop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostSnapshot {
    pub post_id: PostId,
    /// `None`: the Display API did not return the video (not yet visible, made private, deleted).
    pub counts: Option<Counts>,
    pub next_at: Option<Timestamp>,
}

/// A creator's counts at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountCounts {
    pub followers: Option<u64>,
    pub following: Option<u64>,
    pub likes: Option<u64>,
    pub videos: Option<u64>,
}

/// An account's published public posts without a public id, and the ids its other posts have
/// (see [`InsightStore::awaiting_public_ids`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwaitingIds {
    /// Direct, public, published; newest first.
    pub posts: Vec<Post>,
    /// The public ids of the account's posts moved in the same time: no candidates.
    pub known: Vec<u64>,
}

/// Insights (a part of [`crate::Store`]; see the module docs).
#[async_trait]
pub trait InsightStore: Send + Sync {
    /// `account`'s followed posts due at `now`, the longest overdue first, at most `limit`.
    async fn due_snapshots(
        &self,
        account: AccountId,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Track>, StoreError>;

    /// Records one pass over some followed posts at `at`: their counts (a point of the series)
    /// or their absence, and when each is read next, in one transaction.
    async fn record_snapshots(
        &self,
        snapshots: &[PostSnapshot],
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// When `account`'s next followed post is due, if any still is.
    async fn next_snapshot_at(&self, account: AccountId) -> Result<Option<Timestamp>, StoreError>;

    /// Records a creator's counts at `at`.
    async fn record_account_counts(
        &self,
        account: AccountId,
        counts: AccountCounts,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// When the creator's counts were last recorded.
    async fn last_account_counts_at(
        &self,
        account: AccountId,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// Whether a post is followed, and where that stands.
    async fn following(&self, post: PostId) -> Result<Option<Following>, StoreError>;

    /// A post's series, oldest first.
    async fn post_counts(&self, post: PostId) -> Result<Vec<(Timestamp, Counts)>, StoreError>;

    /// Every snapshot up to `until` of the posts of `workspace`'s accounts, by post then time:
    /// `(post, account, at, counts)`. What a summary over a range is computed from.
    async fn workspace_post_counts(
        &self,
        workspace: tokpost_core::WorkspaceId,
        until: Timestamp,
    ) -> Result<Vec<(PostId, AccountId, Timestamp, Counts)>, StoreError>;

    /// A creator's series, oldest first.
    async fn account_counts(
        &self,
        account: AccountId,
    ) -> Result<Vec<(Timestamp, AccountCounts)>, StoreError>;

    /// `account`'s direct, public posts that are published without a public id and moved
    /// last at or after `since` (the move to published), newest first, at most `limit`; with
    /// the public ids of its posts moved since then.
    async fn awaiting_public_ids(
        &self,
        account: AccountId,
        since: Timestamp,
        limit: u32,
    ) -> Result<AwaitingIds, StoreError>;

    /// Makes `account`'s snapshot job due at `at`: queues it, or brings the queued one forward.
    async fn snapshot_due(&self, account: AccountId, at: Timestamp) -> Result<(), StoreError>;
}

fn to_i64(count: Option<u64>) -> Option<i64> {
    count.map(|count| i64::try_from(count).unwrap_or(i64::MAX))
}

fn to_u64(count: Option<i64>) -> Option<u64> {
    count.and_then(|count| u64::try_from(count).ok())
}

/// A post's counts as stored (a negative one is corrupt and reads as unknown).
fn counts(
    views: Option<i64>,
    likes: Option<i64>,
    comments: Option<i64>,
    shares: Option<i64>,
) -> Counts {
    Counts {
        views: to_u64(views),
        likes: to_u64(likes),
        comments: to_u64(comments),
        shares: to_u64(shares),
    }
}

/// Starts following `post` when it is published, public, and has its public id: inside the move
/// that made it so, with the account's snapshot job made due at `at`.
pub(crate) async fn follow_in_tx(
    tx: &mut Tx,
    post: &Post,
    at: Timestamp,
) -> Result<(), StoreError> {
    let public =
        post.spec.mode == PostMode::Inbox || post.spec.privacy == PrivacyLevel::PublicToEveryone;
    // The Display API's id is the public id's digits; anything else names no video.
    let Some(video) = post
        .progress
        .public_post_ids
        .first()
        .and_then(|id| id.trim().parse::<u64>().ok())
    else {
        return Ok(());
    };
    if !public || !matches!(post.state, PostState::Published | PostState::InboxDelivered) {
        return Ok(());
    }
    let followed = query(
        "INSERT INTO stat_tracks (post_id, account_id, video_id, live_at_ms, next_at_ms)
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (post_id) DO NOTHING",
    )
    .bind(post.id.as_uuid())
    .bind(post.account_id.as_uuid())
    .bind(video.to_string())
    .bind(ms(at))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if followed == 0 {
        return Ok(());
    }
    snapshot_due_in_tx(tx, post.account_id, at).await
}

/// Queues `account`'s snapshot job at `at`, or brings a queued one forward to `at` (it may be
/// waiting for an older post's next read).
async fn snapshot_due_in_tx(
    tx: &mut Tx,
    account: AccountId,
    at: Timestamp,
) -> Result<(), StoreError> {
    let key = snapshot_job_key(account);
    let queued = crate::queue::leases::insert_job(
        tx,
        &crate::NewJob {
            kind: tokpost_core::JobKind::SnapshotStats,
            payload: serde_json::json!({}),
            account_id: Some(account),
            post_id: None,
            run_at: at,
            dedupe_key: Some(key.clone()),
        },
        at,
    )
    .await?;
    if queued == crate::Enqueued::AlreadyQueued {
        query(
            "UPDATE jobs SET run_at_ms = $2 WHERE dedupe_key = $1 AND locked_by IS NULL AND run_at_ms > $2",
        )
        .bind(&key)
        .bind(ms(at))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl InsightStore for SqlStore {
    async fn due_snapshots(
        &self,
        account: AccountId,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Track>, StoreError> {
        let rows: Vec<(uuid::Uuid, String, i64, Option<i64>)> = query_as(
            "SELECT post_id, video_id, live_at_ms, missing_since_ms FROM stat_tracks
             WHERE account_id = $1 AND next_at_ms IS NOT NULL AND next_at_ms <= $2
             ORDER BY next_at_ms, post_id LIMIT $3",
        )
        .bind(account.as_uuid())
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.db)
        .await?;
        rows.into_iter()
            .map(|(post, video, live, missing)| {
                Ok(Track {
                    post_id: PostId::from_uuid(post),
                    video_id: video
                        .parse()
                        .map_err(|_| crate::rows::corrupt(format!("video id {video}")))?,
                    live_at: from_ms(live)?,
                    missing_since: missing.map(from_ms).transpose()?,
                })
            })
            .collect()
    }

    async fn record_snapshots(
        &self,
        snapshots: &[PostSnapshot],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.write_tx().await?;
        for snapshot in snapshots {
            let next = snapshot.next_at.map(ms);
            match snapshot.counts {
                Some(counts) => {
                    query(
                        "INSERT INTO post_stats (post_id, at_ms, views, likes, comments, shares)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (post_id, at_ms) DO NOTHING",
                    )
                    .bind(snapshot.post_id.as_uuid())
                    .bind(ms(at))
                    .bind(to_i64(counts.views))
                    .bind(to_i64(counts.likes))
                    .bind(to_i64(counts.comments))
                    .bind(to_i64(counts.shares))
                    .execute(&mut tx)
                    .await?;
                    query(
                        "UPDATE stat_tracks SET next_at_ms = $2, last_at_ms = $3, missing_since_ms = NULL WHERE post_id = $1",
                    )
                    .bind(snapshot.post_id.as_uuid())
                    .bind(next)
                    .bind(ms(at))
                    .execute(&mut tx)
                    .await?;
                }
                None => {
                    query(
                        "UPDATE stat_tracks SET next_at_ms = $2, missing_since_ms = COALESCE(missing_since_ms, $3) WHERE post_id = $1",
                    )
                    .bind(snapshot.post_id.as_uuid())
                    .bind(next)
                    .bind(ms(at))
                    .execute(&mut tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn next_snapshot_at(&self, account: AccountId) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<i64> =
            query_scalar("SELECT MIN(next_at_ms) FROM stat_tracks WHERE account_id = $1")
                .bind(account.as_uuid())
                .fetch_one(&self.db)
                .await?;
        next.map(from_ms).transpose()
    }

    async fn record_account_counts(
        &self,
        account: AccountId,
        counts: AccountCounts,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO account_stats (account_id, at_ms, followers, following, likes, videos)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, at_ms) DO NOTHING",
        )
        .bind(account.as_uuid())
        .bind(ms(at))
        .bind(to_i64(counts.followers))
        .bind(to_i64(counts.following))
        .bind(to_i64(counts.likes))
        .bind(to_i64(counts.videos))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn last_account_counts_at(
        &self,
        account: AccountId,
    ) -> Result<Option<Timestamp>, StoreError> {
        let last: Option<i64> =
            query_scalar("SELECT MAX(at_ms) FROM account_stats WHERE account_id = $1")
                .bind(account.as_uuid())
                .fetch_one(&self.db)
                .await?;
        last.map(from_ms).transpose()
    }

    async fn following(&self, post: PostId) -> Result<Option<Following>, StoreError> {
        let row: Option<(i64, Option<i64>, Option<i64>, Option<i64>)> = query_as(
            "SELECT live_at_ms, next_at_ms, last_at_ms, missing_since_ms FROM stat_tracks WHERE post_id = $1",
        )
        .bind(post.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        row.map(|(live, next, last, missing)| {
            Ok(Following {
                live_at: from_ms(live)?,
                next_at: next.map(from_ms).transpose()?,
                last_at: last.map(from_ms).transpose()?,
                missing_since: missing.map(from_ms).transpose()?,
            })
        })
        .transpose()
    }

    async fn post_counts(&self, post: PostId) -> Result<Vec<(Timestamp, Counts)>, StoreError> {
        type Row = (i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
        let rows: Vec<Row> = query_as(
            "SELECT at_ms, views, likes, comments, shares FROM post_stats WHERE post_id = $1 ORDER BY at_ms",
        )
        .bind(post.as_uuid())
        .fetch_all(&self.db)
        .await?;
        rows.into_iter()
            .map(|(at, views, likes, comments, shares)| {
                Ok((from_ms(at)?, counts(views, likes, comments, shares)))
            })
            .collect()
    }

    async fn workspace_post_counts(
        &self,
        workspace: tokpost_core::WorkspaceId,
        until: Timestamp,
    ) -> Result<Vec<(PostId, AccountId, Timestamp, Counts)>, StoreError> {
        type Row = (
            uuid::Uuid,
            uuid::Uuid,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> = query_as(
            "SELECT s.post_id, p.account_id, s.at_ms, s.views, s.likes, s.comments, s.shares
             FROM post_stats s JOIN posts p ON p.id = s.post_id
             WHERE p.workspace_id = $1 AND s.at_ms <= $2 ORDER BY s.post_id, s.at_ms",
        )
        .bind(workspace.as_uuid())
        .bind(ms(until))
        .fetch_all(&self.db)
        .await?;
        rows.into_iter()
            .map(|(post, account, at, views, likes, comments, shares)| {
                Ok((
                    PostId::from_uuid(post),
                    AccountId::from_uuid(account),
                    from_ms(at)?,
                    counts(views, likes, comments, shares),
                ))
            })
            .collect()
    }

    async fn account_counts(
        &self,
        account: AccountId,
    ) -> Result<Vec<(Timestamp, AccountCounts)>, StoreError> {
        type Row = (i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
        let rows: Vec<Row> = query_as(
            "SELECT at_ms, followers, following, likes, videos FROM account_stats WHERE account_id = $1 ORDER BY at_ms",
        )
        .bind(account.as_uuid())
        .fetch_all(&self.db)
        .await?;
        rows.into_iter()
            .map(|(at, followers, following, likes, videos)| {
                Ok((
                    from_ms(at)?,
                    AccountCounts {
                        followers: to_u64(followers),
                        following: to_u64(following),
                        likes: to_u64(likes),
                        videos: to_u64(videos),
                    },
                ))
            })
            .collect()
    }

    async fn awaiting_public_ids(
        &self,
        account: AccountId,
        since: Timestamp,
        limit: u32,
    ) -> Result<AwaitingIds, StoreError> {
        let published: Vec<Post> = query_as::<crate::rows::PostRow>(concat!(
            "SELECT ",
            crate::rows::post_columns!(),
            " FROM posts WHERE account_id = $1 AND state = $2 AND public_post_ids = '[]'
              AND updated_at_ms >= $3 ORDER BY updated_at_ms DESC, id LIMIT $4"
        ))
        .bind(account.as_uuid())
        .bind(tokpost_core::StateKind::Published.as_str())
        .bind(ms(since))
        .bind(i64::from(limit))
        .all(&self.db, |row| row.into_domain(&self.cipher))
        .await?;
        let posts = published
            .into_iter()
            .filter(|post| {
                post.spec.mode == PostMode::Direct
                    && post.spec.privacy == PrivacyLevel::PublicToEveryone
            })
            .collect();
        let lists: Vec<String> = query_scalar(
            "SELECT public_post_ids FROM posts
             WHERE account_id = $1 AND public_post_ids <> '[]' AND updated_at_ms >= $2",
        )
        .bind(account.as_uuid())
        .bind(ms(since))
        .fetch_all(&self.db)
        .await?;
        let mut known = Vec::new();
        for list in lists {
            let ids: Vec<String> = crate::rows::from_json("public post ids", &list)?;
            known.extend(ids.iter().filter_map(|id| id.trim().parse::<u64>().ok()));
        }
        Ok(AwaitingIds { posts, known })
    }

    async fn snapshot_due(&self, account: AccountId, at: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.db.write_tx().await?;
        snapshot_due_in_tx(&mut tx, account, at).await?;
        tx.commit().await?;
        self.db.jobs_changed().await;
        Ok(())
    }
}
