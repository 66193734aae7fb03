//! Posts and their history. A post moves only by compare-and-set on its state, and every move
//! writes its event, its publishing progress, its quota use, its next job, the completion of
//! the job that made it and its outbound webhook in one transaction (`moves`). While an init
//! may have reached TikTok (`init_pending`), a post cannot be cancelled or rescheduled. People's
//! edits and approval decisions are compare-and-sets on the revision too (`edits`).

pub(crate) mod edits;
pub(crate) mod moves;

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{AccountId, JobId, Post, PostEvent, PostId, PublishId, StateKind, WorkspaceId};

use crate::db::{query, query_as, query_scalar};
use crate::types::*;
use crate::{SqlStore, StoreError};

/// Posts, their moves and their events.
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Creates a post in `scheduled` with its publish job, or in `awaiting_approval` without one
    /// when its account requires approval, with its first event, in one transaction.
    /// A repeated idempotency key returns the existing post and creates nothing.
    async fn create_post(
        &self,
        post: NewPost,
        now: Timestamp,
    ) -> Result<Inserted<Post>, StoreError>;

    /// A post by id.
    async fn post(&self, id: PostId) -> Result<Option<Post>, StoreError>;

    /// Posts of a workspace by schedule time.
    async fn posts(&self, workspace: WorkspaceId, limit: u32) -> Result<Vec<Post>, StoreError>;

    /// An account's posts in one state, by schedule time (e.g. the posts waiting for a
    /// reconnect, to resume them once the creator is back).
    async fn account_posts_in_state(
        &self,
        account: AccountId,
        state: tokpost_core::StateKind,
        limit: u32,
    ) -> Result<Vec<Post>, StoreError>;

    /// The post's history, in order.
    async fn post_events(&self, id: PostId) -> Result<Vec<PostEvent>, StoreError>;

    /// Moves a post from `expected` to `to` if it is still in `expected` (compare-and-set),
    /// recording the event, the publishing progress, the quota use, the next job and the
    /// completion of the current job in the same transaction. A move to `cancelled` is refused
    /// (as stale, the post unchanged) while an init of the post may have reached TikTok.
    ///
    /// # Errors
    /// [`StoreError::IllegalTransition`] when the state machine forbids the move (a bug in the
    /// caller, not a race).
    async fn transition_post(
        &self,
        transition: Transition,
    ) -> Result<TransitionOutcome, StoreError>;

    /// Applies many transitions in one transaction, each on its own terms (a stale one writes
    /// nothing and the others still apply). One outcome per transition, in order. A transition
    /// that completes a job is refused ([`PostStore::transition_post`] takes those).
    async fn transition_posts(
        &self,
        transitions: Vec<Transition>,
    ) -> Result<Vec<TransitionOutcome>, StoreError>;

    /// Adds an event without changing the state. Returns its sequence number.
    async fn append_post_event(
        &self,
        id: PostId,
        event: tokpost_core::NewPostEvent,
    ) -> Result<u32, StoreError>;

    /// Records the `init_requested` event of an init about to be sent, if the post is still in
    /// `expected` and (with `lease`) the job is still held by that worker. From then until an
    /// answer (a `tiktok_response` event) or a move is stored, the post cannot be cancelled or
    /// rescheduled: TikTok may hold it.
    async fn record_init_request(
        &self,
        id: PostId,
        expected: &tokpost_core::PostState,
        event: tokpost_core::NewPostEvent,
        lease: Option<(JobId, WorkerId)>,
    ) -> Result<InitRecord, StoreError>;

    /// The post whose current publish at TikTok has this id.
    async fn post_by_publish_id(&self, publish_id: &PublishId) -> Result<Option<Post>, StoreError>;

    /// Posts matching `filter`, by schedule time then id.
    async fn list_posts(&self, filter: &PostFilter) -> Result<Vec<Post>, StoreError>;

    /// Edits a post that has not started (its content, its time or both) as a new revision, if
    /// it is still in `expected` at the revision the caller read. It goes to
    /// `awaiting_approval` when its account requires approval now, else to `scheduled`; a post
    /// prepared ahead whose old time is before [`Revise::prepared_frozen_from`] stays (its init
    /// may be on the wire), and never while an init of it may have reached TikTok. `None`: it
    /// moved on, was edited by someone else, or is about to be sent; nothing changed.
    ///
    /// # Errors
    /// [`StoreError::IllegalTransition`] for a post in a state no edit leaves (a caller's bug).
    async fn revise_post(&self, change: Revise, now: Timestamp)
    -> Result<Option<Post>, StoreError>;

    /// Approves or rejects a post awaiting approval, if it still is, at the revision the
    /// reviewer saw. An approval schedules it and queues its publish job; a rejection sends it
    /// back to its author. `None`: it was decided, edited or cancelled first; nothing changed.
    async fn decide_post(
        &self,
        decision: Decision,
        now: Timestamp,
    ) -> Result<Option<Post>, StoreError>;

    /// How many posts are in each state (for metrics), and how many jobs are queued.
    async fn post_state_counts(&self) -> Result<(Vec<(StateKind, u64)>, u64), StoreError>;
}

impl SqlStore {
    /// The workspace's post made with idempotency key `key`.
    async fn post_by_key(
        &self,
        workspace: WorkspaceId,
        key: &str,
    ) -> Result<Option<Post>, StoreError> {
        query_as::<crate::rows::PostRow>(concat!(
            "SELECT ",
            crate::rows::post_columns!(),
            " FROM posts WHERE workspace_id = $1 AND idempotency_key = $2"
        ))
        .bind(workspace.as_uuid())
        .bind(key)
        .optional(&self.db, |row| row.into_domain(&self.cipher))
        .await
    }
}

#[async_trait]
impl PostStore for SqlStore {
    async fn create_post(
        &self,
        post: crate::NewPost,
        now: jiff::Timestamp,
    ) -> Result<crate::Inserted<tokpost_core::Post>, crate::StoreError> {
        use crate::rows::{from_ms, ms, to_json};
        let key = post
            .idempotency_key
            .as_ref()
            .map(|key| key.as_str().to_owned());
        // A repeated request reads the post it made, without taking the write turn.
        if let Some(key) = &key
            && let Some(existing) = self.post_by_key(post.workspace_id, key).await?
        {
            return Ok(crate::Inserted::Existing(existing));
        }
        // Read before the write turn, which then holds only the three inserts: a change of the
        // approval rule committed in between finds this post as made just before it (as a
        // PostgreSQL transaction reading it first would too).
        let awaits_approval =
            crate::approvals::requires_approval_in(&self.db, post.account_id).await?;
        let id = tokpost_core::PostId::generate(now);
        let state = if awaits_approval {
            tokpost_core::PostState::AwaitingApproval
        } else {
            tokpost_core::PostState::Scheduled
        };
        let event = if awaits_approval {
            tokpost_core::NewPostEvent::new(
                now,
                tokpost_core::EventKind::ApprovalRequested,
                format!(
                    "Sent for approval; to go out at {} once approved",
                    post.scheduled_at.at()
                ),
            )
        } else {
            tokpost_core::NewPostEvent::new(
                now,
                tokpost_core::EventKind::Scheduled,
                format!("Scheduled for {}", post.scheduled_at.at()),
            )
        }
        .by(post.created_by);
        // A second post with the key fails on the unique index (see the end).
        let mut writes = vec![
            query(
                "INSERT INTO posts (id, workspace_id, account_id, spec, scheduled_at_ms, idempotency_key, state, state_detail, event_count, created_at_ms, updated_at_ms, created_by_kind, created_by_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9, $10, $11)",
            )
            .bind(id.as_uuid())
            .bind(post.workspace_id.as_uuid())
            .bind(post.account_id.as_uuid())
            .bind(to_json(&post.spec)?)
            .bind(ms(post.scheduled_at.at()))
            .bind(key.clone())
            .bind(state.kind().as_str())
            .bind(to_json(&state)?)
            .bind(ms(now))
            .bind(post.created_by.kind())
            .bind(post.created_by.id()),
            crate::posts::moves::events_sql(&[(id, 1, &event, state.kind())])?,
        ];
        if !awaits_approval {
            writes.push(crate::posts::edits::publish_job_sql(
                id,
                post.account_id,
                post.scheduled_at.at(),
                now,
            )?);
        }
        // The post as a read would return it (instants at the stored millisecond), without
        // reading it inside the write turn.
        let stored_now = from_ms(ms(now))?;
        let created = tokpost_core::Post {
            id,
            workspace_id: post.workspace_id,
            account_id: post.account_id,
            scheduled_at: tokpost_core::ScheduleTime::from_stored(from_ms(ms(post
                .scheduled_at
                .at()))?),
            idempotency_key: post.idempotency_key,
            state,
            progress: tokpost_core::PublishProgress::default(),
            created_by: Some(post.created_by),
            revision: tokpost_core::Revision(1),
            created_at: stored_now,
            updated_at: stored_now,
            spec: post.spec,
        };
        let written = if awaits_approval {
            // The webhook's recipients are read inside the transaction.
            let announced = crate::webhooks::approval_event(
                crate::WebhookEventType::PostAwaitingApproval,
                &created,
                &event,
            );
            async {
                let mut tx = self.db.write_tx().await?;
                for write in writes {
                    write.execute(&mut tx).await?;
                }
                crate::webhooks::enqueue_webhook_in_tx(&mut tx, created.workspace_id, &announced)
                    .await?;
                tx.commit().await?;
                Ok::<_, crate::StoreError>(())
            }
            .await
        } else {
            // Three inserts and nothing to read: one round trip in the write turn.
            self.db.write_all(writes).await.map_err(Into::into)
        };
        match written {
            Ok(()) => {}
            Err(crate::StoreError::Database(sqlx::Error::Database(error)))
                if error.is_unique_violation()
                    && let Some(key) = &key =>
            {
                // A concurrent request with the same key won (PostgreSQL waited for it).
                let existing = self
                    .post_by_key(created.workspace_id, key)
                    .await?
                    .ok_or(crate::StoreError::NotFound("post"))?;
                return Ok(crate::Inserted::Existing(existing));
            }
            Err(error) => return Err(error),
        }
        // Its job is due at its time; awaiting approval, it has none (a webhook may be queued).
        let due = (!awaits_approval).then(|| created.scheduled_at.at());
        self.db.job_due_at(due).await;
        Ok(crate::Inserted::Created(created))
    }

    async fn post(
        &self,
        id: tokpost_core::PostId,
    ) -> Result<Option<tokpost_core::Post>, crate::StoreError> {
        query_as::<crate::rows::PostRow>(concat!(
            "SELECT ",
            crate::rows::post_columns!(),
            " FROM posts WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .optional(&self.db, |row| row.into_domain(&self.cipher))
        .await
    }

    async fn posts(
        &self,
        workspace: tokpost_core::WorkspaceId,
        limit: u32,
    ) -> Result<Vec<tokpost_core::Post>, crate::StoreError> {
        query_as::<crate::rows::PostRow>(concat!(
            "SELECT ",
            crate::rows::post_columns!(),
            " FROM posts WHERE workspace_id = $1 ORDER BY scheduled_at_ms, id LIMIT $2"
        ))
        .bind(workspace.as_uuid())
        .bind(i64::from(limit))
        .all(&self.db, |row| row.into_domain(&self.cipher))
        .await
    }

    async fn account_posts_in_state(
        &self,
        account: tokpost_core::AccountId,
        state: tokpost_core::StateKind,
        limit: u32,
    ) -> Result<Vec<tokpost_core::Post>, crate::StoreError> {
        query_as::<crate::rows::PostRow>(concat!(
            "SELECT ",
            crate::rows::post_columns!(),
            " FROM posts WHERE account_id = $1 AND state = $2 ORDER BY scheduled_at_ms, id LIMIT $3"
        ))
        .bind(account.as_uuid())
        .bind(state.as_str())
        .bind(i64::from(limit))
        .all(&self.db, |row| row.into_domain(&self.cipher))
        .await
    }

    async fn post_events(
        &self,
        id: tokpost_core::PostId,
    ) -> Result<Vec<tokpost_core::PostEvent>, crate::StoreError> {
        query_as::<crate::rows::EventRow>(
                "SELECT post_id, sequence, at_ms, kind, state, message, native_response, actor_kind, actor_id FROM post_events WHERE post_id = $1 ORDER BY sequence",
            )
            .bind(id.as_uuid())
            .all(&self.db, crate::rows::EventRow::into_domain).await
    }

    async fn transition_post(
        &self,
        transition: crate::Transition,
    ) -> Result<crate::TransitionOutcome, crate::StoreError> {
        transition.expected.check_transition(&transition.to)?;
        let mut tx = self.db.write_tx().await?;
        if let Some((job, worker)) = &transition.completes
            && !crate::queue::leases::finish_job(&mut tx, *job, worker).await?
        {
            return Ok(crate::TransitionOutcome::LeaseLost);
        }
        if let Some((job, worker)) = &transition.lease
            && !crate::queue::leases::holds_job(&mut tx, *job, worker).await?
        {
            return Ok(crate::TransitionOutcome::LeaseLost);
        }
        let Some(post) =
            crate::posts::moves::apply_transitions(&mut tx, &self.cipher, &[&transition])
                .await?
                .pop()
                .flatten()
        else {
            tx.rollback().await?;
            let current = self
                .post(transition.post)
                .await?
                .ok_or(crate::StoreError::NotFound("post"))?;
            return Ok(crate::TransitionOutcome::Stale {
                current: current.state,
            });
        };
        if let Some((job, _)) = &transition.lease
            && transition.to.kind() != transition.expected.kind()
        {
            crate::queue::leases::restart_counts(&mut tx, *job).await?;
        }
        tx.commit().await?;
        if transition.next_job.is_some() || transition.completes.is_some() {
            self.db.jobs_changed().await;
        }
        Ok(crate::TransitionOutcome::Applied(Box::new(post)))
    }

    async fn transition_posts(
        &self,
        transitions: Vec<crate::Transition>,
    ) -> Result<Vec<crate::TransitionOutcome>, crate::StoreError> {
        for transition in &transitions {
            transition.expected.check_transition(&transition.to)?;
            if transition.completes.is_some() || transition.lease.is_some() {
                return Err(crate::StoreError::Misuse(
                    "a transition that completes or holds a job goes through transition_post",
                ));
            }
        }
        if transitions.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.db.write_tx().await?;
        let all: Vec<&crate::Transition> = transitions.iter().collect();
        let moved = crate::posts::moves::apply_transitions(&mut tx, &self.cipher, &all).await?;
        let mut outcomes = Vec::with_capacity(transitions.len());
        let mut queued = false;
        for (transition, moved) in transitions.iter().zip(moved) {
            match moved {
                Some(post) => {
                    queued |= transition.next_job.is_some();
                    outcomes.push(crate::TransitionOutcome::Applied(Box::new(post)));
                }
                None => {
                    let current =
                        crate::posts::moves::fetch_post(&mut tx, &self.cipher, transition.post)
                            .await?;
                    outcomes.push(crate::TransitionOutcome::Stale {
                        current: current.state,
                    });
                }
            }
        }
        tx.commit().await?;
        if queued {
            self.db.jobs_changed().await;
        }
        Ok(outcomes)
    }

    async fn append_post_event(
        &self,
        id: tokpost_core::PostId,
        event: tokpost_core::NewPostEvent,
    ) -> Result<u32, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        // An init recorded makes the post uncancellable until TikTok's answer is noted.
        let row: Option<(i64, String)> = query_as(
                "UPDATE posts SET event_count = event_count + 1,
                   init_pending = CASE WHEN $2 = 'init_requested' THEN 1 WHEN $2 = 'tiktok_response' THEN 0 ELSE init_pending END
                 WHERE id = $1 RETURNING event_count, state",
            )
            .bind(id.as_uuid())
            .bind(event.kind.as_str())
            .fetch_optional(&mut tx)
            .await?;
        let (sequence, state) = row.ok_or(crate::StoreError::NotFound("post"))?;
        let state = tokpost_core::StateKind::parse(&state)
            .ok_or_else(|| crate::rows::corrupt("post state"))?;
        crate::posts::moves::insert_event(&mut tx, id, sequence, &event, state).await?;
        tx.commit().await?;
        u32::try_from(sequence).map_err(|_| crate::rows::corrupt("event sequence"))
    }

    async fn record_init_request(
        &self,
        id: tokpost_core::PostId,
        expected: &tokpost_core::PostState,
        event: tokpost_core::NewPostEvent,
        lease: Option<(tokpost_core::JobId, crate::WorkerId)>,
    ) -> Result<crate::InitRecord, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        if let Some((job, worker)) = &lease
            && !crate::queue::leases::holds_job(&mut tx, *job, worker).await?
        {
            return Ok(crate::InitRecord::LeaseLost);
        }
        let row: Option<(i64, String)> = query_as(
            "UPDATE posts SET event_count = event_count + 1, init_pending = 1
                 WHERE id = $1 AND state_detail = $2 RETURNING event_count, state",
        )
        .bind(id.as_uuid())
        .bind(crate::rows::to_json(expected)?)
        .fetch_optional(&mut tx)
        .await?;
        let Some((sequence, state)) = row else {
            tx.rollback().await?;
            let current = self
                .post(id)
                .await?
                .ok_or(crate::StoreError::NotFound("post"))?;
            return Ok(crate::InitRecord::Moved {
                current: current.state,
            });
        };
        let state = tokpost_core::StateKind::parse(&state)
            .ok_or_else(|| crate::rows::corrupt("post state"))?;
        crate::posts::moves::insert_event(&mut tx, id, sequence, &event, state).await?;
        tx.commit().await?;
        Ok(crate::InitRecord::Recorded)
    }

    async fn post_by_publish_id(
        &self,
        publish_id: &tokpost_core::PublishId,
    ) -> Result<Option<tokpost_core::Post>, crate::StoreError> {
        query_as::<crate::rows::PostRow>(concat!(
            "SELECT ",
            crate::rows::post_columns!(),
            " FROM posts WHERE publish_id = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(publish_id.as_str())
        .optional(&self.db, |row| row.into_domain(&self.cipher))
        .await
    }

    async fn list_posts(
        &self,
        filter: &crate::PostFilter,
    ) -> Result<Vec<tokpost_core::Post>, crate::StoreError> {
        use crate::rows::ms;
        // Absent filters bind NULL and match everything, so one statement serves every
        // combination on both backends.
        let (after_ms, after_id) = match filter.after {
            Some((at, id)) => (Some(ms(at)), Some(id.as_uuid())),
            None => (None, None),
        };
        query_as::<crate::rows::PostRow>(concat!(
            "SELECT ",
            crate::rows::post_columns!(),
            " FROM posts WHERE workspace_id = $1
                   AND ($2 IS NULL OR state = $2)
                   AND ($3 IS NULL OR account_id = $3)
                   AND ($4 IS NULL OR scheduled_at_ms >= $4)
                   AND ($5 IS NULL OR scheduled_at_ms < $5)
                   AND ($6 IS NULL OR scheduled_at_ms > $6 OR (scheduled_at_ms = $6 AND id > $7))
                 ORDER BY scheduled_at_ms, id LIMIT $8"
        ))
        .bind(filter.workspace_id.as_uuid())
        .bind(filter.state.map(tokpost_core::StateKind::as_str))
        .bind(filter.account_id.map(|id| id.as_uuid()))
        .bind(filter.scheduled_from.map(ms))
        .bind(filter.scheduled_before.map(ms))
        .bind(after_ms)
        .bind(after_id)
        .bind(i64::from(filter.limit))
        .all(&self.db, |row| row.into_domain(&self.cipher))
        .await
    }

    async fn revise_post(
        &self,
        change: crate::Revise,
        now: jiff::Timestamp,
    ) -> Result<Option<tokpost_core::Post>, crate::StoreError> {
        self.revise(change, now).await
    }

    async fn decide_post(
        &self,
        decision: crate::Decision,
        now: jiff::Timestamp,
    ) -> Result<Option<tokpost_core::Post>, crate::StoreError> {
        self.decide(decision, now).await
    }

    async fn post_state_counts(
        &self,
    ) -> Result<(Vec<(tokpost_core::StateKind, u64)>, u64), crate::StoreError> {
        let rows: Vec<(String, i64)> =
            query_as("SELECT state, COUNT(*) FROM posts GROUP BY state ORDER BY state")
                .fetch_all(&self.db)
                .await?;
        let counts = rows
            .into_iter()
            .map(|(state, count)| {
                let kind = tokpost_core::StateKind::parse(&state)
                    .ok_or_else(|| crate::rows::corrupt("post state"))?;
                Ok((kind, u64::try_from(count).unwrap_or(0)))
            })
            .collect::<Result<Vec<_>, crate::StoreError>>()?;
        let queued: i64 = query_scalar("SELECT COUNT(*) FROM jobs")
            .fetch_one(&self.db)
            .await?;
        Ok((counts, u64::try_from(queued).unwrap_or(0)))
    }
}
