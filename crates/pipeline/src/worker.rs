//! The worker loop: takes jobs from the durable queue and hands them to a [`JobHandler`].
//!
//! The loop owns the queue mechanics only: claiming with a lease, heartbeating while a job runs,
//! completing it or putting it back with exponential back-off, sweeping the leases of dead
//! workers, and sleeping on the injected clock until the next job is due, the store says a job
//! may have become claimable, or shutdown. What a job means and whether a failure is worth
//! retrying is the handler's call; the loop must not decide TikTok policy and must not read the
//! wall clock.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clock::{SharedClock, Timestamp};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokpost_store::{Job, LeaseStatus, Requeue, Store, StoreError, WorkerId};

use crate::lease::{self, JobLease};

/// What became of one run of a job, as the handler judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Finished (successfully, or with an outcome that retrying cannot change): remove the job.
    Done,
    /// A transient failure: run the job again after an exponential back-off.
    Transient { error: String },
    /// Run the job again at a known time (a rate-limit window reopens, a cap frees a slot).
    RetryAt { at: Timestamp, reason: String },
}

/// Runs one kind of work. Called only while the worker holds the job's lease, so (through the
/// store's per-account serialization) never for two jobs of one account at once.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs `job`. Store failures inside the handler are reported as [`JobOutcome::Transient`].
    fn handle(&self, job: &Job) -> impl Future<Output = JobOutcome> + Send;
}

/// How a worker uses the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long a claim holds a job before another worker may take it.
    pub lease: Duration,
    /// How often a running job's lease is extended (well inside `lease`).
    pub heartbeat_every: Duration,
    /// Jobs one worker runs at once, each of a different account (the store never hands out two
    /// jobs of one account). Every running job is heartbeated on its own, so a claimed job never
    /// waits unheartbeated behind another.
    pub batch: u32,
    /// The longest sleep without looking at the queue, in case a change notification was lost.
    pub idle_poll: Duration,
    /// The first retry delay after a transient failure; doubles with each attempt.
    pub first_backoff: Duration,
    /// The longest retry delay.
    pub max_backoff: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(300),
            heartbeat_every: Duration::from_secs(60),
            batch: 8,
            idle_poll: Duration::from_secs(30),
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3_600),
        }
    }
}

impl WorkerSettings {
    /// The delay before the next run of a job whose step has now failed `failures` times in a
    /// row: doubling from [`WorkerSettings::first_backoff`], capped at [`WorkerSettings::max_backoff`], minus up to
    /// a fifth of jitter so that jobs which failed together do not come back together.
    /// `jitter_seed` is any per-job number (the job id's random bits).
    #[must_use]
    pub fn backoff(&self, failures: u32, jitter_seed: u64) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let full = self
            .first_backoff
            .saturating_mul(1_u32 << doublings)
            .min(self.max_backoff);
        let jitter_per_mille = jitter_seed % 201;
        full.saturating_sub(
            full.saturating_mul(u32::try_from(jitter_per_mille).unwrap_or(0)) / 1_000,
        )
    }
}

/// The longest a dead worker's lease waits past its end for the sweep (shorter when the lease
/// itself is short). Sweeping before every claim cost a scan of the leases each time a job
/// changed anywhere, on every worker of every process.
const SWEEP_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// When a worker sweeps: before a claim, at most once per `every`.
#[derive(Debug)]
struct SweepSchedule {
    every: Duration,
    last: std::sync::Mutex<Option<Timestamp>>,
}

impl SweepSchedule {
    fn new(every: Duration) -> Self {
        Self {
            every,
            last: std::sync::Mutex::new(None),
        }
    }

    /// Whether to sweep before a claim at `now` (noted as the last sweep if so).
    fn due(&self, now: Timestamp) -> bool {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.is_none_or(|at| clock::add(at, self.every) <= now);
        if due {
            *last = Some(now);
        }
        due
    }
}

/// One worker: a name in leases, a store, a clock and a handler.
#[derive(Debug)]
pub struct Worker<H> {
    id: WorkerId,
    store: Arc<dyn Store>,
    clock: SharedClock,
    handler: Arc<H>,
    settings: WorkerSettings,
    /// When this worker (and its clones) sweeps expired leases.
    sweeps: Arc<SweepSchedule>,
    /// Claims made so far, naming each claim's lease (see [`Worker::lease_holder`]).
    claims: Arc<AtomicU64>,
}

impl<H> Clone for Worker<H> {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            handler: Arc::clone(&self.handler),
            settings: self.settings,
            sweeps: Arc::clone(&self.sweeps),
            claims: Arc::clone(&self.claims),
        }
    }
}

impl<H: JobHandler> Worker<H> {
    /// A worker named `id` (unique among all running workers, e.g. `host:pid:task`).
    #[must_use]
    pub fn new(
        id: WorkerId,
        store: Arc<dyn Store>,
        clock: SharedClock,
        handler: Arc<H>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            id,
            store,
            clock,
            handler,
            settings,
            sweeps: Arc::new(SweepSchedule::new(
                SWEEP_AT_MOST_EVERY.min(settings.lease / 2),
            )),
            claims: Arc::new(AtomicU64::new(0)),
        }
    }

    /// One round: returns dead workers' jobs to the queue, claims what is due and runs it to
    /// the end (concurrently: the jobs are of different accounts). Returns how many jobs ran.
    ///
    /// # Errors
    /// Store failures of the sweep or the claim (a job's own failures are retried, not
    /// returned).
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let jobs = self.claim(self.settings.batch).await?;
        let claimed = jobs.len();
        futures_util::future::join_all(jobs.iter().map(|job| self.run_job(job))).await;
        Ok(claimed)
    }

    async fn claim(&self, limit: u32) -> Result<Vec<Job>, StoreError> {
        let now = self.clock.now();
        if self.sweeps.due(now) {
            self.store.sweep_expired_leases(now).await?;
        }
        self.store
            .claim(&self.lease_holder(), now, self.settings.lease, limit)
            .await
    }

    /// The name a new claim's leases are held under: `{id}#{n}`, a new `n` for every claim.
    ///
    /// A run starved past its lease (its heartbeats could not get through) may still be polled
    /// after the sweep handed its job back, and this very worker may have claimed the job again
    /// meanwhile. Under one name for both claims, the stale run's heartbeats, guarded writes and
    /// settling would all pass as the new run's (a completion would delete the job the new run
    /// is working on, stranding its post). Under a name per claim, the store refuses them as it
    /// refuses another worker's.
    fn lease_holder(&self) -> WorkerId {
        let claim = self
            .claims
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        WorkerId::new(format!("{}#{claim}", self.id))
    }

    /// The name `job`'s lease is held under: the claim's (this worker's own name for a job
    /// claimed without one, as the init wave claims).
    fn holder_of<'j>(&'j self, job: &'j Job) -> &'j WorkerId {
        job.locked_by.as_ref().unwrap_or(&self.id)
    }

    /// Runs jobs until `shutdown` becomes `true` (or its sender is dropped), then lets the
    /// running ones finish. Up to [`WorkerSettings::batch`] jobs run at once; a finished job's
    /// slot is refilled at once, and with free slots and nothing claimable the worker sleeps
    /// until the next job is due, the queue changes or `idle_poll` passes.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.store.job_changes();
        // Each job is its own task: a job must make progress while this loop awaits the store
        // (a job holding SQLite's write turn would otherwise block the claim that waits for it).
        let mut running = JoinSet::new();
        loop {
            // A dropped sender is a shutdown too (its `changed()` would return at once forever).
            if *shutdown.borrow() || shutdown.has_changed().is_err() {
                while let Some(finished) = running.join_next().await {
                    self.job_task_ended(finished);
                }
                return;
            }
            let free = self
                .settings
                .batch
                .max(1)
                .saturating_sub(u32::try_from(running.len()).unwrap_or(u32::MAX));
            if free > 0 {
                match self.claim(free).await {
                    Ok(jobs) => {
                        // A claim that filled every free slot may have left more to claim.
                        let filled = jobs.len() == usize::try_from(free).unwrap_or(usize::MAX);
                        for job in jobs {
                            let worker = self.clone();
                            running.spawn(async move { worker.run_job(&job).await });
                        }
                        if filled {
                            continue;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(worker = %self.id, %error, "claiming jobs failed; waiting before the next try");
                    }
                }
            }
            if free == 0 {
                // Every slot is busy: only a finished job (or shutdown) makes room.
                tokio::select! {
                    Some(finished) = running.join_next() => self.job_task_ended(finished),
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let wake_at = self.next_wake().await;
            tokio::select! {
                Some(finished) = running.join_next() => {
                    // A slot freed; the job that ran may have queued the next step of its post.
                    self.job_task_ended(finished);
                }
                () = self.clock.sleep_until(wake_at) => {}
                // A job due after the wake-up is claimed then, or by a later look.
                changed = changes.due_before(wake_at) => {
                    if changed.is_err() {
                        // The store is gone; only shutdown can follow.
                        changes = self.store.job_changes();
                    }
                }
                _ = shutdown.changed() => {}
            }
        }
    }

    fn job_task_ended(&self, finished: Result<(), tokio::task::JoinError>) {
        if let Err(error) = finished {
            // The job's lease runs out and the sweep hands it to a worker again.
            tracing::error!(worker = %self.id, %error, "a job's task ended abnormally");
        }
    }

    async fn next_wake(&self) -> Timestamp {
        let poll = clock::add(self.clock.now(), self.settings.idle_poll);
        match self.store.next_due_at().await {
            Ok(Some(due)) => due.min(poll),
            Ok(None) => poll,
            Err(error) => {
                tracing::warn!(worker = %self.id, %error, "could not read the next due job");
                poll
            }
        }
    }

    async fn run_job(&self, job: &Job) {
        // The job and its heartbeats are polled side by side. A heartbeat awaited in place of
        // the job would deadlock SQLite: the job, suspended in the middle of a transaction,
        // holds the process's write turn that the heartbeat waits for, and every other writer
        // of the process queues behind them.
        let until = job
            .locked_until
            .unwrap_or_else(|| clock::add(self.clock.now(), self.settings.lease));
        let lease = JobLease::new(job.id, self.holder_of(job).clone(), until);
        let outcome = tokio::select! {
            outcome = lease::run_under(Arc::clone(&lease), self.handler.handle(job)) => outcome,
            () = self.keep_leased(job, &lease) => {
                // Losing the lease stops the job where it is: the worker that holds it now
                // runs it, and nothing of this run is settled.
                tracing::warn!(worker = %self.id, job = %job.id, kind = job.kind.as_str(), "lease lost; the job stopped here and is left to the worker that holds it");
                return;
            }
        };
        if outcome == JobOutcome::Done && lease.is_finished() {
            // Removed with its post's last move: nothing left to write.
            return;
        }
        self.settle(job, &outcome).await;
    }

    /// This worker's name in leases.
    #[must_use]
    pub fn id(&self) -> &WorkerId {
        &self.id
    }

    /// The settings it runs with.
    #[must_use]
    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// Ends a run of `job` as `outcome` says: completes it, or puts it back (after a back-off
    /// for a transient failure, at the named time for a planned wait).
    pub async fn settle(&self, job: &Job, outcome: &JobOutcome) {
        let settled = match outcome {
            JobOutcome::Done => self.store.complete(job.id, self.holder_of(job)).await,
            JobOutcome::Transient { error } => {
                let jitter_seed =
                    u64::try_from(job.id.as_uuid().as_u128() & u128::from(u64::MAX)).unwrap_or(0);
                // This run's failure is counted when the job goes back.
                let failures = job.failures.saturating_add(1);
                let delay = self.settings.backoff(failures, jitter_seed);
                let at = clock::add(self.clock.now(), delay);
                tracing::info!(worker = %self.id, job = %job.id, kind = job.kind.as_str(), attempts = job.attempts, failures, %error, retry_at = %at, "job failed transiently");
                self.store
                    .retry_at(
                        job.id,
                        self.holder_of(job),
                        at,
                        error,
                        Requeue::AfterFailure,
                    )
                    .await
            }
            JobOutcome::RetryAt { at, reason } => {
                tracing::debug!(worker = %self.id, job = %job.id, kind = job.kind.as_str(), %reason, retry_at = %at, "job waits");
                self.store
                    .retry_at(job.id, self.holder_of(job), *at, reason, Requeue::Wait)
                    .await
            }
        };
        match settled {
            Ok(LeaseStatus::Held) => {}
            Ok(LeaseStatus::Lost) => {
                tracing::warn!(worker = %self.id, job = %job.id, "lease lost before the job finished; another worker owns it now");
            }
            Err(error) => {
                // The lease runs out and the sweep returns the job; handlers are idempotent.
                tracing::warn!(worker = %self.id, job = %job.id, %error, "could not settle the job");
            }
        }
    }

    /// Extends `job`'s lease every `heartbeat_every`, for as long as it is polled, and returns
    /// once the lease is lost: a heartbeat found another worker holding the job, or the lease
    /// ended before a heartbeat got through (a paused process, a database out of reach). The
    /// beats count from the claim, not from when this is first polled or a beat returns: a
    /// clock that moves in between must not push the next beat a whole period later.
    async fn keep_leased(&self, job: &Job, lease: &JobLease) {
        let claimed_at = clock::sub(lease.until(), self.settings.lease);
        let mut beat_at = clock::add(claimed_at, self.settings.heartbeat_every);
        loop {
            self.clock.sleep_until(beat_at.min(lease.until())).await;
            if self.clock.now() >= lease.until() {
                // Ran out before a beat renewed it: another worker may hold the job by now.
                lease.lose();
                return;
            }
            if self.clock.now() >= beat_at {
                if !self.heartbeat(job, lease).await {
                    lease.lose();
                    return;
                }
                // After a long pause, one beat now, then the period again (no run of catch-up beats).
                beat_at = clock::add(beat_at, self.settings.heartbeat_every).max(self.clock.now());
            }
        }
    }

    /// One heartbeat; `false` when another worker holds the job.
    async fn heartbeat(&self, job: &Job, lease: &JobLease) -> bool {
        let until = clock::add(self.clock.now(), self.settings.lease);
        match self
            .store
            .heartbeat(job.id, self.holder_of(job), until)
            .await
        {
            Ok(LeaseStatus::Held) => {
                lease.renewed(until);
                true
            }
            Ok(LeaseStatus::Lost) => {
                tracing::warn!(worker = %self.id, job = %job.id, "lease lost while the job runs");
                false
            }
            Err(error) => {
                // The lease holds until its end; the next beat, or that end, decides.
                tracing::warn!(worker = %self.id, job = %job.id, %error, "heartbeat failed");
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_sweeps_before_its_first_claim_then_at_most_once_per_interval() {
        use clock::Clock as _;
        let schedule = SweepSchedule::new(Duration::from_secs(1));
        let start = clock::ManualClock::at_fixed_start().now();
        let at = |ms| clock::add(start, Duration::from_millis(ms));
        assert!(schedule.due(at(0)));
        assert!(!schedule.due(at(0)));
        assert!(!schedule.due(at(999)));
        assert!(schedule.due(at(1_000)));
        assert!(!schedule.due(at(1_500)));
        assert!(schedule.due(at(5_000)));
    }

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_cap_and_jitter_only_shortens_it() {
        let settings = WorkerSettings {
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(100),
            ..WorkerSettings::default()
        };
        assert_eq!(settings.backoff(1, 0), Duration::from_secs(10));
        assert_eq!(settings.backoff(2, 0), Duration::from_secs(20));
        assert_eq!(settings.backoff(3, 0), Duration::from_secs(40));
        assert_eq!(settings.backoff(5, 0), Duration::from_secs(100));
        assert_eq!(settings.backoff(u32::MAX, 0), Duration::from_secs(100));
        assert_eq!(settings.backoff(1, 200), Duration::from_secs(8));
        for seed in 0..1_000 {
            let delay = settings.backoff(2, seed);
            assert!(delay <= Duration::from_secs(20) && delay >= Duration::from_secs(16));
        }
    }
}
