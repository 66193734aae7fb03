//! The lease on the job a worker runs, as the job's own steps see it.
//!
//! A worker that is paused (a stopped process, a starved machine) past its lease may wake up
//! while another worker runs the same job. Three things keep the two from acting twice:
//! - the worker stops the job as soon as a heartbeat finds the lease taken, or the lease ran
//!   out without a heartbeat getting through ([`crate::Worker`]);
//! - before each request to TikTok, a step asks [`held`]: a lease whose end has passed on the
//!   injected clock is not used, whatever the database would say;
//! - every write of the job's progress carries the lease ([`JobLease::guard`]), and the store
//!   applies it only while the job is still this worker's.
//!
//! The lease travels with the job's task (a task-local), so the steps need no extra argument;
//! code running outside a worker's job (tests driving a step directly, the init wave, which
//! keeps its own leases) has none and is not guarded here.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use clock::Timestamp;
use tokpost_core::JobId;
use tokpost_store::WorkerId;

/// A job's lease, kept current by the worker's heartbeats.
#[derive(Debug)]
pub struct JobLease {
    job: JobId,
    worker: WorkerId,
    until: Mutex<Timestamp>,
    lost: AtomicBool,
    /// The job was removed with its post's last move ([`finished_by_last_move`]).
    finished: AtomicBool,
}

impl JobLease {
    /// The lease `worker` took on `job`, ending at `until`.
    #[must_use]
    pub fn new(job: JobId, worker: WorkerId, until: Timestamp) -> Arc<Self> {
        Arc::new(Self {
            job,
            worker,
            until: Mutex::new(until),
            lost: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        })
    }

    /// A heartbeat got through: the lease now ends at `until`.
    pub fn renewed(&self, until: Timestamp) {
        *self.until.lock().unwrap_or_else(PoisonError::into_inner) = until;
    }

    /// Another worker holds the job now, or the lease ended without a heartbeat.
    pub fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// When the lease ends unless renewed.
    #[must_use]
    pub fn until(&self) -> Timestamp {
        *self.until.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the job may still act at `now`.
    #[must_use]
    pub fn is_held_at(&self, now: Timestamp) -> bool {
        !self.lost.load(Ordering::SeqCst) && now < self.until()
    }

    /// Whether the job was removed with its post's last move, leaving nothing to settle.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    /// The job and worker a guarded write names.
    #[must_use]
    pub fn guard(&self) -> (JobId, WorkerId) {
        (self.job, self.worker.clone())
    }
}

tokio::task_local! {
    static CURRENT: Arc<JobLease>;
}

/// Runs `job` with `lease` as its current lease.
pub async fn run_under<F: Future>(lease: Arc<JobLease>, job: F) -> F::Output {
    CURRENT.scope(lease, job).await
}

/// What the current job's lease allows at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Held: writes carry this guard.
    Yes((JobId, WorkerId)),
    /// Not run under a worker's lease: nothing to guard.
    Unguarded,
    /// Lapsed or lost: act no more.
    No,
}

/// The current job's lease at `now`.
#[must_use]
pub fn held(now: Timestamp) -> Held {
    CURRENT
        .try_with(|lease| {
            if lease.is_held_at(now) {
                Held::Yes(lease.guard())
            } else {
                Held::No
            }
        })
        .unwrap_or(Held::Unguarded)
}

/// Notes that the current job was removed in the same transaction as its post's last move
/// (a move that `completes` the job): the worker then has no completion left to write.
pub fn finished_by_last_move() {
    // Outside a worker's job there is no lease to note it on (and nothing settles it).
    let _ = CURRENT.try_with(|lease| lease.finished.store(true, Ordering::SeqCst));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clock::{Clock as _, ManualClock};
    use std::time::Duration;

    #[tokio::test]
    async fn a_lease_is_held_until_its_end_or_its_loss_and_only_inside_its_job() {
        let clock = ManualClock::at_fixed_start();
        let now = clock.now();
        let lease = JobLease::new(
            JobId::generate(now),
            WorkerId::new("w"),
            clock::add(now, Duration::from_secs(60)),
        );
        assert_eq!(held(now), Held::Unguarded);
        let inside = run_under(Arc::clone(&lease), async {
            (held(now), held(clock::add(now, Duration::from_secs(60))))
        })
        .await;
        assert_eq!(inside, (Held::Yes(lease.guard()), Held::No));
        lease.renewed(clock::add(now, Duration::from_secs(120)));
        let later = clock::add(now, Duration::from_secs(90));
        assert!(lease.is_held_at(later));
        lease.lose();
        assert!(!lease.is_held_at(now));
        assert_eq!(run_under(lease, async { held(now) }).await, Held::No);
    }
}
