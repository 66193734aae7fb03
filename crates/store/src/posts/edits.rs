//! The moves people make on a post that has not started: an edit (a new revision of its
//! content or time) and a decision on it (approve or reject). Both are compare-and-sets on the
//! state and the revision the person saw, written with their event and the post's publish job
//! in one transaction, so that a post awaiting approval never has a job a worker could pick;
//! the webhook each causes (`post.awaiting_approval`, `post.approved`, `post.rejected`) commits
//! with it.

use jiff::Timestamp;
use tokpost_core::{AccountId, JobKind, Post, PostId, PostState, StateKind};

use crate::db::{Tx, query, query_as, query_scalar};
use crate::rows::{MovedPostRow, ms, to_json};
use crate::{Decision, Revise, SqlStore, StoreError, Verdict};

/// Queues the publish job of `post`, due at `run_at`.
pub(crate) async fn insert_publish_job(
    tx: &mut Tx,
    post: PostId,
    account: AccountId,
    run_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    publish_job_sql(post, account, run_at, now)?
        .execute(tx)
        .await?;
    Ok(())
}

/// The insert of the publish job of `post`, due at `run_at`, as one statement.
pub(crate) fn publish_job_sql(
    post: PostId,
    account: AccountId,
    run_at: Timestamp,
    now: Timestamp,
) -> Result<crate::db::Sql, StoreError> {
    let (_, insert) = crate::queue::leases::job_sql(
        &crate::NewJob {
            kind: JobKind::PublishPost,
            payload: serde_json::json!({ "post_id": post }),
            account_id: Some(account),
            post_id: Some(post),
            run_at,
            dedupe_key: None,
        },
        now,
    )?;
    Ok(insert)
}

/// Removes the post's publish jobs no worker holds (a held one finds the post moved and ends).
async fn remove_queued_publish_jobs(tx: &mut Tx, post: PostId) -> Result<(), StoreError> {
    query("DELETE FROM jobs WHERE post_id = $1 AND kind = $2 AND locked_by IS NULL")
        .bind(post.as_uuid())
        .bind(JobKind::PublishPost.as_str())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Makes the post's publish job due at `run_at`: the queued one moves, or one is made when the
/// post has none (it waited for approval, or was rejected).
async fn ensure_publish_job(
    tx: &mut Tx,
    post: &Post,
    run_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let moved = query(
        "UPDATE jobs SET run_at_ms = $2 WHERE post_id = $1 AND kind = $3 AND locked_by IS NULL",
    )
    .bind(post.id.as_uuid())
    .bind(ms(run_at))
    .bind(JobKind::PublishPost.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved > 0 {
        return Ok(());
    }
    let held: i64 = query_scalar("SELECT COUNT(*) FROM jobs WHERE post_id = $1 AND kind = $2")
        .bind(post.id.as_uuid())
        .bind(JobKind::PublishPost.as_str())
        .fetch_one(&mut *tx)
        .await?;
    if held == 0 {
        insert_publish_job(tx, post.id, post.account_id, run_at, now).await?;
    }
    Ok(())
}

impl SqlStore {
    pub(crate) async fn revise(
        &self,
        change: Revise,
        now: Timestamp,
    ) -> Result<Option<Post>, StoreError> {
        let mut tx = self.db.write_tx().await?;
        let account: Option<uuid::Uuid> =
            query_scalar("SELECT account_id FROM posts WHERE id = $1")
                .bind(change.post.as_uuid())
                .fetch_optional(&mut tx)
                .await?;
        let Some(account) = account else {
            return Ok(None);
        };
        let awaits_approval =
            crate::approvals::requires_approval_in(&mut tx, AccountId::from_uuid(account)).await?;
        let to = if awaits_approval {
            PostState::AwaitingApproval
        } else {
            PostState::Scheduled
        };
        // Scheduled → scheduled is a move in time, not a move of the state machine.
        if change.expected != to {
            change.expected.check_transition(&to)?;
        }
        let spec = change.spec.as_ref().map(to_json).transpose()?;
        let row = query_as::<MovedPostRow>(concat!(
            "UPDATE posts SET spec = COALESCE($9, spec), scheduled_at_ms = $2, revision = revision + 1,
                 event_count = event_count + 1, updated_at_ms = $3, state = $5, state_detail = $6
             WHERE id = $1 AND state_detail = $4 AND revision = $8 AND init_pending = 0
               AND (state IN ('scheduled', 'awaiting_approval', 'rejected') OR scheduled_at_ms > $7)
             RETURNING event_count, ",
            crate::rows::post_columns!()
        ))
        .bind(change.post.as_uuid())
        .bind(ms(change.scheduled_at.at()))
        .bind(ms(now))
        .bind(to_json(&change.expected)?)
        .bind(to.kind().as_str())
        .bind(to_json(&to)?)
        .bind(ms(change.prepared_frozen_from))
        .bind(i64::from(change.revision.0))
        .bind(spec)
        .fetch_optional(&mut tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sequence = row.event_count;
        let post = row.post.into_domain(&self.cipher)?;
        crate::posts::moves::insert_event(&mut tx, post.id, sequence, &change.event, to.kind())
            .await?;
        if awaits_approval {
            remove_queued_publish_jobs(&mut tx, post.id).await?;
            let announced = crate::webhooks::approval_event(
                crate::WebhookEventType::PostAwaitingApproval,
                &post,
                &change.event,
            );
            crate::webhooks::enqueue_webhook_in_tx(&mut tx, post.workspace_id, &announced).await?;
        } else {
            ensure_publish_job(&mut tx, &post, post.scheduled_at.at(), now).await?;
        }
        tx.commit().await?;
        self.db.jobs_changed().await;
        Ok(Some(post))
    }

    pub(crate) async fn decide(
        &self,
        decision: Decision,
        now: Timestamp,
    ) -> Result<Option<Post>, StoreError> {
        let to = match decision.verdict {
            Verdict::Approve { .. } => PostState::Scheduled,
            Verdict::Reject => PostState::Rejected,
        };
        let new_time = match decision.verdict {
            Verdict::Approve {
                scheduled_at: Some(at),
                ..
            } => Some(ms(at.at())),
            _ => None,
        };
        let mut tx = self.db.write_tx().await?;
        let row = query_as::<MovedPostRow>(concat!(
            "UPDATE posts SET state = $2, state_detail = $3, scheduled_at_ms = COALESCE($6, scheduled_at_ms),
                 event_count = event_count + 1, updated_at_ms = $4
             WHERE id = $1 AND state = $5 AND revision = $7
             RETURNING event_count, ",
            crate::rows::post_columns!()
        ))
        .bind(decision.post.as_uuid())
        .bind(to.kind().as_str())
        .bind(to_json(&to)?)
        .bind(ms(now))
        .bind(StateKind::AwaitingApproval.as_str())
        .bind(new_time)
        .bind(i64::from(decision.revision.0))
        .fetch_optional(&mut tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sequence = row.event_count;
        let post = row.post.into_domain(&self.cipher)?;
        crate::posts::moves::insert_event(&mut tx, post.id, sequence, &decision.event, to.kind())
            .await?;
        let announced = match decision.verdict {
            Verdict::Approve { run_at, .. } => {
                ensure_publish_job(&mut tx, &post, run_at, now).await?;
                crate::WebhookEventType::PostApproved
            }
            Verdict::Reject => crate::WebhookEventType::PostRejected,
        };
        let announced = crate::webhooks::approval_event(announced, &post, &decision.event);
        crate::webhooks::enqueue_webhook_in_tx(&mut tx, post.workspace_id, &announced).await?;
        tx.commit().await?;
        self.db.jobs_changed().await;
        Ok(Some(post))
    }
}
