//! The durable job queue. A job is leased to a worker until a time; a job of an account is only
//! leased together with that account's row in `account_leases` (primary key = account), so two
//! workers never hold jobs of one account at once, whatever their timing (on PostgreSQL a second
//! worker inserting the same account's row waits for the first transaction and then inserts
//! nothing). Rows are inserted in account order so that two claimers cannot deadlock. A dead
//! worker's leases run out and the sweep hands its jobs back.

pub mod changes;
pub(crate) mod leases;

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::JobId;

use crate::db::{query, query_as, query_scalar};
use crate::types::*;
use crate::{SqlStore, StoreError};

/// The job queue and its leases.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Enqueues a job on its own (e.g. a token refresh). A taken dedupe key enqueues nothing.
    async fn enqueue(&self, job: NewJob, now: Timestamp) -> Result<Enqueued, StoreError>;

    /// Leases up to `limit` due jobs to `worker` until `now + lease`. Never two jobs of one
    /// account at once, across all workers.
    async fn claim(
        &self,
        worker: &WorkerId,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// Extends a lease the worker still holds.
    async fn heartbeat(
        &self,
        job: JobId,
        worker: &WorkerId,
        until: Timestamp,
    ) -> Result<LeaseStatus, StoreError>;

    /// Finishes a job (removes it and frees its account).
    async fn complete(&self, job: JobId, worker: &WorkerId) -> Result<LeaseStatus, StoreError>;

    /// Returns a job to the queue to run again at `at`, keeping the note (the error, or what it
    /// waits for) for the dashboard. A [`Requeue::Wait`] gives back the attempt its claim
    /// counted.
    async fn retry_at(
        &self,
        job: JobId,
        worker: &WorkerId,
        at: Timestamp,
        note: &str,
        why: Requeue,
    ) -> Result<LeaseStatus, StoreError>;

    /// [`QueueStore::retry_at`] for many held jobs in one transaction. One lease status per job.
    async fn retry_jobs_at(
        &self,
        worker: &WorkerId,
        retries: &[JobRetry],
        why: Requeue,
    ) -> Result<Vec<LeaseStatus>, StoreError>;

    /// Extends to `until` the leases of those `jobs` that `worker` still holds (the init wave
    /// holds many jobs at once, and keeps only the ones it still means to run). Returns how
    /// many it extended.
    async fn extend_leases(
        &self,
        worker: &WorkerId,
        jobs: &[JobId],
        until: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Returns every job whose lease ended before `now` to the queue (its worker died), and
    /// forgets requests older than the longest rate window (an hour).
    async fn sweep_expired_leases(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Moves the publish jobs of `scheduled` posts due by `until` to `now`, so that the steps
    /// before the init (preflight, token, creator info) run ahead and only the init waits for
    /// the post's time. Only a job still at its post's time moves: one waiting out a back-off
    /// keeps it. Returns how many moved.
    async fn prepare_due_by(&self, until: Timestamp, now: Timestamp) -> Result<u64, StoreError>;

    /// Moves the queued job under `dedupe_key` up to `at`, if it is due later and no worker runs
    /// it: news that makes the job worth running now (a webhook about a post whose status check
    /// waits out a back-off). `false`: no such job, or it was due sooner, or it is running.
    async fn hasten_job(&self, dedupe_key: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// When the next job may become claimable (the earliest `run_at` of an unleased job of a
    /// free account, or the earliest end of a lease, after which a dead worker's job is swept
    /// back), so a worker can sleep exactly until then. `None`: nothing queued.
    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Tells whenever a job may have become claimable (enqueued, retried, completed, swept), in
    /// this process or, on PostgreSQL, in any process (LISTEN/NOTIFY), with when it is due where
    /// known. A worker sleeps until [`QueueStore::next_due_at`] or a change due before that,
    /// whichever comes first, so a post due now is picked up at once instead of on the next
    /// poll. Keep polling as a fallback: a change can be missed while the PostgreSQL listener
    /// reconnects.
    fn job_changes(&self) -> changes::JobChanges;

    /// A job by id (for tests and the dashboard).
    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError>;
}

#[async_trait]
impl QueueStore for SqlStore {
    async fn enqueue(
        &self,
        job: crate::NewJob,
        now: jiff::Timestamp,
    ) -> Result<crate::Enqueued, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        let enqueued = crate::queue::leases::insert_job(&mut tx, &job, now).await?;
        tx.commit().await?;
        if matches!(enqueued, crate::Enqueued::Added(_)) {
            self.db.jobs_changed().await;
        }
        Ok(enqueued)
    }

    async fn claim(
        &self,
        worker: &crate::WorkerId,
        now: jiff::Timestamp,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<crate::Job>, crate::StoreError> {
        use crate::rows::ms;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = ms(crate::queue::leases::clock_add(now, lease));
        let mut tx = self.db.write_tx().await?;
        // Over-fetch: several due jobs of one busy account must not hide other accounts.
        let candidates =
            query_as::<crate::rows::ClaimCandidate>(self.db.dialect().claim_candidates)
                .bind(ms(now))
                .bind(i64::from(limit).saturating_mul(4))
                .fetch_all(&mut tx)
                .await?;
        let chosen = crate::queue::leases::one_per_account(
            crate::queue::leases::take_turns(candidates),
            limit,
        );
        let claimed =
            crate::queue::leases::lease_candidates(&mut tx, chosen, worker, until).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn heartbeat(
        &self,
        job: tokpost_core::JobId,
        worker: &crate::WorkerId,
        until: jiff::Timestamp,
    ) -> Result<crate::LeaseStatus, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        let held = query("UPDATE jobs SET locked_until_ms = $3 WHERE id = $1 AND locked_by = $2")
            .bind(job.as_uuid())
            .bind(worker.as_str())
            .bind(crate::rows::ms(until))
            .execute(&mut tx)
            .await?
            .rows_affected();
        if held > 0 {
            query("UPDATE account_leases SET locked_until_ms = $2 WHERE job_id = $1")
                .bind(job.as_uuid())
                .bind(crate::rows::ms(until))
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(crate::LeaseStatus::from_rows(held))
    }

    async fn complete(
        &self,
        job: tokpost_core::JobId,
        worker: &crate::WorkerId,
    ) -> Result<crate::LeaseStatus, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        let held = crate::queue::leases::finish_job(&mut tx, job, worker).await?;
        tx.commit().await?;
        if held {
            self.db.jobs_changed().await;
        }
        Ok(crate::LeaseStatus::from_rows(u64::from(held)))
    }

    async fn retry_at(
        &self,
        job: tokpost_core::JobId,
        worker: &crate::WorkerId,
        at: jiff::Timestamp,
        note: &str,
        why: crate::Requeue,
    ) -> Result<crate::LeaseStatus, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        let held = crate::queue::leases::requeue_job(&mut tx, job, worker, at, note, why).await?;
        tx.commit().await?;
        if held {
            self.db.jobs_changed().await;
        }
        Ok(crate::LeaseStatus::from_rows(u64::from(held)))
    }

    async fn retry_jobs_at(
        &self,
        worker: &crate::WorkerId,
        retries: &[crate::JobRetry],
        why: crate::Requeue,
    ) -> Result<Vec<crate::LeaseStatus>, crate::StoreError> {
        if retries.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.db.write_tx().await?;
        let held = crate::queue::leases::requeue_jobs(&mut tx, worker, retries, why).await?;
        tx.commit().await?;
        if !held.is_empty() {
            self.db.jobs_changed().await;
        }
        Ok(retries
            .iter()
            .map(|retry| {
                crate::LeaseStatus::from_rows(u64::from(held.contains(&retry.job.as_uuid())))
            })
            .collect())
    }

    async fn extend_leases(
        &self,
        worker: &crate::WorkerId,
        jobs: &[tokpost_core::JobId],
        until: jiff::Timestamp,
    ) -> Result<u64, crate::StoreError> {
        let mut ids: Vec<uuid::Uuid> = jobs.iter().map(|job| job.as_uuid()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.write_tx().await?;
        let mut held = 0;
        for batch in ids.chunks(crate::db::ROWS_PER_STATEMENT) {
            let mut query = crate::db::query("UPDATE jobs SET locked_until_ms = ");
            query.push_bind(crate::rows::ms(until));
            query.push(" WHERE locked_by = ");
            query.push_bind(worker.as_str().to_owned());
            query.push(" AND id");
            query.push_in(batch.iter().copied());
            query.push(" RETURNING id");
            let extended: Vec<uuid::Uuid> = query.values().fetch_all(&mut tx).await?;
            if extended.is_empty() {
                continue;
            }
            let mut query = crate::db::query("UPDATE account_leases SET locked_until_ms = ");
            query.push_bind(crate::rows::ms(until));
            query.push(" WHERE job_id");
            query.push_in(extended.iter().copied());
            query.execute(&mut tx).await?;
            held += extended.len();
        }
        tx.commit().await?;
        Ok(u64::try_from(held).unwrap_or(u64::MAX))
    }

    async fn sweep_expired_leases(&self, now: jiff::Timestamp) -> Result<u64, crate::StoreError> {
        let now_ms = crate::rows::ms(now);
        let mut tx = self.db.write_tx().await?;
        let returned = query(
                "UPDATE jobs SET locked_by = NULL, locked_until_ms = NULL, last_error = 'lease expired: the worker stopped renewing it'
                 WHERE locked_by IS NOT NULL AND locked_until_ms < $1",
            )
            .bind(now_ms)
            .execute(&mut tx)
            .await?
            .rows_affected();
        query(
                "DELETE FROM account_leases WHERE locked_until_ms < $1
                   OR NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = account_leases.job_id AND jobs.locked_by IS NOT NULL)",
            )
            .bind(now_ms)
            .execute(&mut tx)
            .await?;
        query("DELETE FROM rate_limit_windows WHERE window_start_ms <= $1")
            .bind(now_ms.saturating_sub(crate::quotas::RATE_WINDOWS_KEPT_MS))
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        if returned > 0 {
            self.db.jobs_changed().await;
            tracing::warn!(
                jobs = returned,
                "returned jobs with expired leases to the queue"
            );
        }
        Ok(returned)
    }

    async fn prepare_due_by(
        &self,
        until: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<u64, crate::StoreError> {
        use crate::rows::ms;
        let mut tx = self.db.write_tx().await?;
        let moved = query(
            "UPDATE jobs SET run_at_ms = $1
                 WHERE kind = $3 AND locked_by IS NULL AND run_at_ms > $1 AND run_at_ms <= $2
                   AND run_at_ms = (SELECT p.scheduled_at_ms FROM posts p
                                    WHERE p.id = jobs.post_id AND p.state = $4)",
        )
        .bind(ms(now))
        .bind(ms(until))
        .bind(tokpost_core::JobKind::PublishPost.as_str())
        .bind(tokpost_core::StateKind::Scheduled.as_str())
        .execute(&mut tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if moved > 0 {
            self.db.jobs_changed().await;
        }
        Ok(moved)
    }

    async fn hasten_job(
        &self,
        dedupe_key: &str,
        at: jiff::Timestamp,
    ) -> Result<bool, crate::StoreError> {
        let moved = query(
                "UPDATE jobs SET run_at_ms = $2 WHERE dedupe_key = $1 AND locked_by IS NULL AND run_at_ms > $2",
            )
            .bind(dedupe_key)
            .bind(crate::rows::ms(at))
            .execute(&self.db)
            .await?
            .rows_affected();
        if moved > 0 {
            self.db.jobs_changed().await;
        }
        Ok(moved > 0)
    }

    async fn next_due_at(&self) -> Result<Option<jiff::Timestamp>, crate::StoreError> {
        // A leased job becomes claimable again when its lease ends (its worker died),
        // so the end of the earliest lease is a time to look too.
        let next: Option<i64> = query_scalar(
                "SELECT MIN(due) FROM (
                   SELECT MIN(run_at_ms) AS due FROM jobs WHERE locked_by IS NULL
                     AND (account_id IS NULL OR NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = jobs.account_id))
                   UNION ALL
                   SELECT MIN(locked_until_ms) AS due FROM jobs WHERE locked_by IS NOT NULL
                 ) AS candidates",
            )
            .fetch_one(&self.db)
            .await?;
        next.map(crate::rows::from_ms).transpose()
    }

    fn job_changes(&self) -> changes::JobChanges {
        self.db.job_changes()
    }

    async fn job(&self, id: tokpost_core::JobId) -> Result<Option<crate::Job>, crate::StoreError> {
        query_as::<crate::rows::JobRow>(concat!(
            "SELECT ",
            crate::rows::job_columns!(),
            " FROM jobs WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .optional(&self.db, crate::rows::JobRow::into_domain)
        .await
    }

    // --- API access ---
}
