//! The init wave's loop, one per process beside its workers: claims the prepared posts due
//! within [`ARM_AHEAD`], readies their inits, records them just before their second and
//! starts them together at it (see [`crate::publisher::Publisher::start_ready_inits`]). The
//! workers still take any due init the wave has not claimed, so the wave only makes a busy
//! second faster; it never holds the only path.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use clock::{SharedClock, Timestamp};
use tokio::sync::watch;
use tokpost_core::JobId;
use tokpost_store::{Job, JobRetry, Requeue, Store};

use crate::publisher::{Publisher, Readied, ReadyInit};
use crate::worker::{JobHandler, JobOutcome, Worker};

/// How far ahead of their time posts are claimed and readied. Their accounts' other jobs
/// (status checks of earlier posts) wait for the init meanwhile, so it stays short.
pub const ARM_AHEAD: Duration = Duration::from_secs(15);
/// The most jobs one claim takes (several processes share a burst claim by claim).
const CLAIM_AT_MOST: u32 = 1_000;
/// The shortest pause between two claims that found nothing, however often the queue changes.
const EMPTY_CLAIM_PAUSE: Duration = Duration::from_millis(200);
/// How long before their second a wave's records begin, at least and per post (see
/// [`Publisher::start_ready_inits`]): enough for the database to write them all before the
/// second, with room to spare on a loaded machine. On SQLite the records hold the file's write
/// turn from then until the second, so the lead grows with the wave instead of being generous.
const RECORD_AHEAD_LEAST: Duration = Duration::from_millis(100);
const RECORD_AHEAD_PER_POST: Duration = Duration::from_micros(150);
/// The longest lead, whatever the wave's size: a larger wave is recorded late.
const RECORD_AHEAD_MOST: Duration = Duration::from_secs(3);
/// Tries at putting the wave's jobs back (a deadlock with another process's transaction is
/// worth another try; beyond, their leases lapse and the sweep hands them back).
const SETTLE_TRIES: u32 = 3;

/// The jobs the wave holds now: only their leases are kept alive. A job leaves the set once
/// settled (or given up), so a job the wave could not put back is not held forever.
#[derive(Default)]
struct Held {
    jobs: std::sync::Mutex<HeldJobs>,
    /// Taken for each renewal, so that a wave starts only between two renewals.
    renewal: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct HeldJobs {
    all: HashSet<JobId>,
    /// Those of the wave being started: their leases were renewed just before, and are not
    /// renewed again meanwhile, since the wave's own transactions hold their rows until the
    /// second (on PostgreSQL a renewal would wait for them, or deadlock with them).
    starting: HashSet<JobId>,
}

impl Held {
    fn with<T>(&self, f: impl FnOnce(&mut HeldJobs) -> T) -> T {
        // A panic elsewhere cannot leave the sets half-changed: insert and remove are whole.
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut jobs)
    }

    fn hold(&self, jobs: impl IntoIterator<Item = JobId>) {
        self.with(|held| held.all.extend(jobs));
    }

    /// Marks `jobs` as starting: the heartbeat leaves them alone from now on.
    fn start(&self, jobs: impl IntoIterator<Item = JobId>) {
        self.with(|held| held.starting.extend(jobs));
    }

    fn release(&self, jobs: impl IntoIterator<Item = JobId>) {
        self.with(|held| {
            for job in jobs {
                held.all.remove(&job);
                held.starting.remove(&job);
            }
        });
    }

    /// The jobs whose leases the next heartbeat renews.
    fn to_renew(&self) -> Vec<JobId> {
        self.with(|held| held.all.difference(&held.starting).copied().collect())
    }
}

/// Runs init waves until `shutdown`, settling every job through `worker` (whose name leases
/// them; its handler is not used: the publisher runs the jobs).
pub async fn run<H: JobHandler>(
    worker: Worker<H>,
    publisher: Arc<Publisher>,
    store: Arc<dyn Store>,
    clock: SharedClock,
    shutdown: watch::Receiver<bool>,
) {
    // The leases are kept beside the waves, in the same task, so that they hold however long
    // a wave waits for its second or for TikTok.
    let held = Held::default();
    tokio::select! {
        () = waves(&worker, &publisher, &store, &clock, &held, shutdown) => {}
        never = keep_leased(&worker, store.as_ref(), &clock, &held) => match never {},
    }
}

/// Extends the leases of every job the wave holds but those starting, every `heartbeat_every`.
async fn keep_leased<H: JobHandler>(
    worker: &Worker<H>,
    store: &dyn Store,
    clock: &SharedClock,
    held: &Held,
) -> std::convert::Infallible {
    loop {
        clock::sleep(clock.as_ref(), worker.settings().heartbeat_every).await;
        let _renewing = held.renewal.lock().await;
        let jobs = held.to_renew();
        if jobs.is_empty() {
            continue;
        }
        let until = clock::add(clock.now(), worker.settings().lease);
        if let Err(error) = store.extend_leases(worker.id(), &jobs, until).await {
            tracing::warn!(worker = %worker.id(), %error, "the init wave could not extend its leases");
        }
    }
}

async fn waves<H: JobHandler>(
    worker: &Worker<H>,
    publisher: &Publisher,
    store: &Arc<dyn Store>,
    clock: &SharedClock,
    held: &Held,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = store.job_changes();
    let mut armed: BTreeMap<Timestamp, Vec<ReadyInit>> = BTreeMap::new();
    let mut last_empty_claim: Option<Timestamp> = None;
    // A job claimed again (its lease ended and the wave took it back) is armed once.
    let mut armed_jobs: HashSet<JobId> = HashSet::new();
    loop {
        if *shutdown.borrow() || shutdown.has_changed().is_err() {
            // Armed jobs stay leased until their lease ends; then a worker takes them.
            return;
        }
        let now = clock.now();
        // The first armed group starts once its records may begin; any other group whose
        // second has passed too (the wave fell behind) goes with it, at once.
        let due: Vec<Timestamp> = match armed.keys().next() {
            Some(&first) if record_from(&armed).is_some_and(|from| from <= now) => {
                if first <= now {
                    armed.range(..=now).map(|(at, _)| *at).collect()
                } else {
                    vec![first]
                }
            }
            _ => Vec::new(),
        };
        if let Some(&second) = due.last() {
            let second = second.max(now);
            let ready: Vec<ReadyInit> = due
                .iter()
                .filter_map(|at| armed.remove(at))
                .flatten()
                .collect();
            let count = ready.len();
            for started in &ready {
                armed_jobs.remove(&started.job().id);
            }
            let wave_jobs: Vec<JobId> = ready.iter().map(|ready| ready.job().id).collect();
            let leased_until;
            {
                // Between two heartbeats: one under way would write the rows the wave's
                // transactions are about to lock.
                let _no_renewal = held.renewal.lock().await;
                let until = clock::add(clock.now(), worker.settings().lease);
                leased_until = match store.extend_leases(worker.id(), &wave_jobs, until).await {
                    Ok(_) => until,
                    Err(error) => {
                        // Each job's lease is checked again as its init is recorded; the hold
                        // may last only as long as the shortest lease could.
                        tracing::warn!(worker = %worker.id(), %error, "the init wave could not renew its leases before starting");
                        clock::add(clock.now(), worker.settings().heartbeat_every)
                    }
                };
                held.start(wave_jobs.iter().copied());
            }
            let settled = publisher
                .start_ready_inits(worker.id(), ready, second, leased_until)
                .await;
            // Settled after the whole wave: the uploads that follow its inits are released
            // together, so none of them competes with an init of the same second.
            tracing::info!(
                inits = count,
                due = %due.first().copied().unwrap_or(now),
                recorded_ahead_ms = second.duration_since(now).as_millis(),
                took_after_second_ms = clock.now().duration_since(second).as_millis(),
                "init wave started its posts"
            );
            settle(worker, store.as_ref(), clock, settled).await;
            held.release(wave_jobs);
            continue;
        }
        // However often the queue changes, an empty claim is not repeated at once.
        if let Some(pause_until) = last_empty_claim
            .map(|at| clock::add(at, EMPTY_CLAIM_PAUSE))
            .filter(|until| now < *until)
        {
            let wake_at = record_from(&armed).map_or(pause_until, |at| pause_until.min(at));
            tokio::select! {
                () = clock.sleep_until(wake_at) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let claimed = match store
            .claim_due_inits(
                worker.id(),
                clock::add(now, ARM_AHEAD),
                now,
                worker.settings().lease,
                CLAIM_AT_MOST,
            )
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "the init wave could not claim posts");
                Vec::new()
            }
        };
        held.hold(claimed.iter().map(|job| job.id));
        let claimed_any = !claimed.is_empty();
        last_empty_claim = (!claimed_any).then_some(now);
        let claimed_count = claimed.len();
        let mut settled = Vec::new();
        for readied in publisher.ready_inits(claimed).await {
            match readied {
                Readied::Ready(ready) => {
                    if armed_jobs.insert(ready.job().id) {
                        armed.entry(ready.due_at()).or_default().push(*ready);
                    }
                }
                Readied::Settled(job, outcome) => settled.push((*job, outcome)),
            }
        }
        let settled_jobs: Vec<JobId> = settled.iter().map(|(job, _)| job.id).collect();
        settle(worker, store.as_ref(), clock, settled).await;
        held.release(settled_jobs);
        if claimed_any {
            tracing::info!(
                claimed = claimed_count,
                armed = armed.values().map(Vec::len).sum::<usize>(),
                took_ms = clock.now().duration_since(now).as_millis(),
                "init wave readied posts due soon"
            );
            continue;
        }
        let next_armed = record_from(&armed);
        let next_claimable = match store.next_init_due_at().await {
            Ok(next) => next.map(|at| {
                // Claimable once inside the arming window; one the claim passed over (its
                // account busy, say) is looked at again after the pause.
                clock::sub(at, ARM_AHEAD).max(clock::add(now, EMPTY_CLAIM_PAUSE))
            }),
            Err(error) => {
                tracing::warn!(%error, "the init wave could not read the next due init");
                None
            }
        };
        let idle = clock::add(now, worker.settings().idle_poll);
        let wake_at = [next_armed, next_claimable]
            .into_iter()
            .flatten()
            .fold(idle, Timestamp::min);
        tokio::select! {
            () = clock.sleep_until(wake_at) => {}
            // A job becomes the wave's to claim `ARM_AHEAD` before its time.
            changed = changes.due_before(clock::add(wake_at, ARM_AHEAD)) => {
                if changed.is_err() {
                    changes = store.job_changes();
                }
            }
            _ = shutdown.changed() => {}
        }
    }
}

/// When the records of the first armed group begin: ahead of its second by a lead that grows
/// with its size.
fn record_from(armed: &BTreeMap<Timestamp, Vec<ReadyInit>>) -> Option<Timestamp> {
    let (second, group) = armed.iter().next()?;
    let per_post = u32::try_from(group.len()).unwrap_or(u32::MAX);
    let lead = RECORD_AHEAD_PER_POST
        .saturating_mul(per_post)
        .saturating_add(RECORD_AHEAD_LEAST)
        .min(RECORD_AHEAD_MOST);
    Some(clock::sub(*second, lead))
}

/// Settles the wave's jobs: the planned waits (the uploads that follow their inits above all)
/// in one transaction, the rest one by one as a worker would.
async fn settle<H: JobHandler>(
    worker: &Worker<H>,
    store: &dyn Store,
    clock: &SharedClock,
    settled: Vec<(Job, JobOutcome)>,
) {
    let mut waits = Vec::new();
    let mut others = Vec::new();
    for (job, outcome) in settled {
        match outcome {
            JobOutcome::RetryAt { at, reason } => waits.push(JobRetry {
                job: job.id,
                at,
                note: reason,
            }),
            outcome => others.push((job, outcome)),
        }
    }
    for tried in 1..=SETTLE_TRIES {
        match store
            .retry_jobs_at(worker.id(), &waits, Requeue::Wait)
            .await
        {
            Ok(_) => break,
            Err(error) if tried < SETTLE_TRIES => {
                tracing::info!(%error, jobs = waits.len(), tried, "the init wave tries again to put its jobs back");
                clock::sleep(clock.as_ref(), EMPTY_CLAIM_PAUSE * tried).await;
            }
            // Their leases run out and the sweep hands them back; the steps are idempotent.
            Err(error) => {
                tracing::warn!(%error, jobs = waits.len(), "the init wave could not put its jobs back");
            }
        }
    }
    for (job, outcome) in others {
        worker.settle(&job, &outcome).await;
    }
}
