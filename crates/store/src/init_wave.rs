//! The init wave: one process claims many prepared posts whose time is near and starts their
//! inits together, written ahead of the instant they are for in a transaction the caller
//! commits at that instant ([`PreparedInits`](crate::PreparedInits)).

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::db::{Tx, query, query_as, query_scalar};
use crate::types::*;
use crate::{SqlStore, StoreError};

/// The init wave's claim and its batch of starts.
#[async_trait]
pub trait InitWaveStore: Send + Sync {
    /// The init wave's claim: leases up to `limit` publish jobs of posts prepared ahead
    /// (`creator_checked`) whose time comes by `due_by`, like [`QueueStore::claim`] (never two jobs
    /// of one account), so that one process readies many inits and starts them together.
    async fn claim_due_inits(
        &self,
        worker: &WorkerId,
        due_by: Timestamp,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;

    /// When the earliest unleased publish job of a prepared post of a free account falls due
    /// (its job's time or the post's, whichever is later), for the init wave to wake then.
    async fn next_init_due_at(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Starts many inits in one transaction, written ahead of the instant they are for: for each
    /// post whose job `worker` still holds, still in its expected state and not waiting on a
    /// lost answer, admits the account among the active creators (when a cap is given), takes
    /// the init's rate-limit slot and writes the `init_requested` event (one outcome per start,
    /// in order), stamped `at`, in a transaction left open (see [`PreparedInits`]). The caller commits at `at`, so that the records become true when
    /// they become visible, and sends the inits after. On SQLite the open transaction holds
    /// the file's only write turn: every other writer waits for the commit.
    async fn prepare_inits(
        &self,
        worker: &WorkerId,
        starts: Vec<InitStart<'_>>,
        at: Timestamp,
    ) -> Result<PreparedInits, StoreError>;

    /// Whether write transactions run side by side (PostgreSQL) or take turns (SQLite): a
    /// caller holding several open at once only gains on the first.
    fn writes_side_by_side(&self) -> bool;
}

#[async_trait]
impl InitWaveStore for SqlStore {
    async fn claim_due_inits(
        &self,
        worker: &crate::WorkerId,
        due_by: jiff::Timestamp,
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
        let candidates =
            query_as::<crate::rows::ClaimCandidate>(self.db.dialect().claim_init_candidates)
                .bind(ms(due_by))
                .bind(i64::from(limit))
                .bind(tokpost_core::JobKind::PublishPost.as_str())
                .bind(tokpost_core::StateKind::CreatorChecked.as_str())
                .fetch_all(&mut tx)
                .await?;
        let chosen = crate::queue::leases::one_per_account(candidates, limit);
        let claimed =
            crate::queue::leases::lease_candidates(&mut tx, chosen, worker, until).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn next_init_due_at(&self) -> Result<Option<jiff::Timestamp>, crate::StoreError> {
        let next: Option<i64> = query_scalar(
                "SELECT MIN(CASE WHEN j.run_at_ms > p.scheduled_at_ms THEN j.run_at_ms ELSE p.scheduled_at_ms END)
                 FROM jobs AS j JOIN posts AS p ON p.id = j.post_id
                 WHERE j.kind = $1 AND j.locked_by IS NULL AND p.state = $2
                   AND NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = j.account_id)",
            )
            .bind(tokpost_core::JobKind::PublishPost.as_str())
            .bind(tokpost_core::StateKind::CreatorChecked.as_str())
            .fetch_one(&self.db)
            .await?;
        next.map(crate::rows::from_ms).transpose()
    }

    async fn prepare_inits(
        &self,
        worker: &crate::WorkerId,
        starts: Vec<crate::InitStart<'_>>,
        now: jiff::Timestamp,
    ) -> Result<crate::PreparedInits, crate::StoreError> {
        if starts.is_empty() {
            return Ok(crate::PreparedInits::new(Vec::new(), None));
        }
        let mut tx = self.db.write_tx().await?;
        // The active creators are read once for the whole wave and admitted into as it
        // goes; on PostgreSQL the lock keeps other processes' admissions out meanwhile.
        let mut active = None;
        if let Some(rule) = starts.iter().find_map(|start| start.active_creators) {
            if let Some(lock) = self.db.dialect().lock_active_creators {
                query(lock).execute(&mut tx).await?;
            }
            let rows: Vec<(uuid::Uuid, i64)> = query_as(crate::quotas::ACTIVE_CREATORS_SINCE)
                .bind(crate::rows::ms(rule.since))
                .fetch_all(&mut tx)
                .await?;
            active = Some(crate::limits::ActiveCreators::new(rows, rule.cap));
        }
        // In account order, batch after batch: the rate-limit locks are taken in that
        // order, so two waves cannot deadlock.
        let mut order: Vec<usize> = (0..starts.len()).collect();
        order.sort_by_key(|&at| {
            starts
                .get(at)
                .map(|start| start.rate_limit.account_id.as_uuid())
        });
        let mut outcomes = vec![crate::InitStartOutcome::NotPrepared; starts.len()];
        for batch in order.chunks(crate::db::ROWS_PER_STATEMENT) {
            let batch: Vec<(usize, &crate::InitStart<'_>)> = batch
                .iter()
                .filter_map(|&at| starts.get(at).map(|start| (at, start)))
                .collect();
            start_init_batch(
                &mut tx,
                worker,
                &batch,
                crate::rows::ms(now),
                active.as_mut(),
                &mut outcomes,
            )
            .await?;
        }
        Ok(crate::PreparedInits::new(outcomes, Some(Box::new(tx))))
    }

    fn writes_side_by_side(&self) -> bool {
        self.db.dialect().writes_side_by_side
    }
}

/// One batch of [`InitWaveStore::prepare_inits`](crate::InitWaveStore::prepare_inits) (at most
/// `ROWS_PER_STATEMENT` posts, in account order), a handful of statements whatever its
/// size: which jobs the worker holds and their posts' states, the rate-limit windows,
/// then the decisions in memory and their writes.
pub(crate) async fn start_init_batch(
    tx: &mut Tx,
    worker: &crate::WorkerId,
    batch: &[(usize, &crate::InitStart<'_>)],
    now_ms: i64,
    mut active: Option<&mut crate::limits::ActiveCreators>,
    outcomes: &mut [crate::InitStartOutcome],
) -> Result<(), crate::StoreError> {
    use crate::InitStartOutcome;
    use crate::limits::Admission;
    use std::collections::{BTreeMap, HashMap};
    let mut set = |at: usize, outcome: InitStartOutcome| {
        if let Some(slot) = outcomes.get_mut(at) {
            *slot = outcome;
        }
    };
    // In one read, each job the worker still holds with its post: the post's state
    // and its last event (looked up through its key: an anti-join planned on stale
    // statistics scanned every event once per post). A post still in the state the
    // wave read and not already started goes on; one whose last event is an unanswered
    // init belongs to the one-post path.
    let mut query = crate::db::query(
        "SELECT j.id, p.id, p.state_detail, (SELECT e.kind FROM post_events AS e WHERE e.post_id = p.id AND e.sequence = p.event_count)
         FROM jobs AS j JOIN posts AS p ON p.id = j.post_id WHERE j.locked_by = ",
    );
    query.push_bind(worker.as_str().to_owned());
    query.push(" AND j.id");
    query.push_in(batch.iter().map(|(_, start)| start.job.as_uuid()));
    query.push(tx.dialect().hold_jobs);
    let held: HashMap<uuid::Uuid, (uuid::Uuid, String, Option<String>)> = query
        .rows::<(uuid::Uuid, uuid::Uuid, String, Option<String>)>()
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(job, post, state, last_event)| (job, (post, state, last_event)))
        .collect();
    let init_requested = tokpost_core::EventKind::InitRequested.as_str();
    let mut candidates = Vec::with_capacity(batch.len());
    for &(at, start) in batch {
        let Some((post, state, last_event)) = held.get(&start.job.as_uuid()) else {
            set(at, InitStartOutcome::LeaseLost);
            continue;
        };
        let prepared = *post == start.post.as_uuid()
            && last_event.as_deref() != Some(init_requested)
            && *state == crate::rows::to_json(&start.expected)?;
        if prepared {
            candidates.push((at, start));
        }
    }
    if candidates.is_empty() {
        return Ok(());
    }
    let slots: Vec<crate::RateLimitSlot<'_>> = candidates
        .iter()
        .map(|(_, start)| start.rate_limit)
        .collect();
    let mut used = crate::quotas::rate_windows_in_use(tx, &slots, now_ms).await?;
    // The decisions, post by post, as the one-post path makes them: a creator the
    // active-creator cap keeps out takes no request slot, and a request the window
    // refuses admits no creator.
    let mut taken: BTreeMap<(uuid::Uuid, &str), i64> = BTreeMap::new();
    let mut admitted = Vec::new();
    let mut started = Vec::with_capacity(candidates.len());
    for (at, start) in candidates {
        let slot = start.rate_limit;
        let account = slot.account_id.as_uuid();
        let admission = match (start.active_creators, active.as_deref()) {
            (Some(_), Some(active)) => Some(active.admission(account)),
            _ => None,
        };
        if admission == Some(Admission::Full) {
            let latest_uses = active
                .as_deref()
                .map(|active| active.latest_uses())
                .transpose()?
                .unwrap_or_default();
            set(at, InitStartOutcome::ActiveCreatorsFull { latest_uses });
            continue;
        }
        let key = (account, slot.endpoint);
        let (count, oldest) = used.get(&key).copied().unwrap_or((0, None));
        match crate::limits::rate_limit_decision(
            count,
            oldest,
            slot.limit,
            crate::quotas::window_ms(&slot),
            now_ms,
        )? {
            crate::RateLimitDecision::Limited { retry_at } => {
                set(at, InitStartOutcome::RateLimited { retry_at });
                continue;
            }
            crate::RateLimitDecision::Allowed { .. } => {}
        }
        used.insert(
            key,
            (count.saturating_add(1), Some(oldest.unwrap_or(now_ms))),
        );
        *taken.entry(key).or_default() += 1;
        if admission == Some(Admission::SlotFree) {
            if let Some(active) = active.as_deref_mut() {
                active.admit(account, now_ms);
            }
            admitted.push(account);
        }
        started.push((at, start));
    }
    if started.is_empty() {
        return Ok(());
    }
    crate::quotas::record_requests(tx, &taken, now_ms).await?;
    let at = crate::rows::from_ms(now_ms)?;
    let admissions: Vec<crate::QuotaUse> = admitted
        .into_iter()
        .map(|account| crate::QuotaUse {
            account_id: tokpost_core::AccountId::from_uuid(account),
            kind: crate::QuotaKind::ActiveCreator,
            post_id: None,
            at,
        })
        .collect();
    crate::quotas::insert_quota_uses(tx, &admissions).await?;
    // Only posts still where the wave read them: on PostgreSQL a cancel may have moved
    // one since the read above (this statement waits for it, then sees the move). One
    // that moved is left to the one-post path, which reads it afresh.
    let mut query = crate::db::query(
        "UPDATE posts SET event_count = event_count + 1, init_pending = 1 WHERE init_pending = 0 AND state = ",
    );
    query.push_bind(tokpost_core::StateKind::CreatorChecked.as_str());
    query.push(" AND id");
    query.push_in(started.iter().map(|(_, start)| start.post.as_uuid()));
    query.push(" RETURNING id, event_count, state");
    let sequences: HashMap<uuid::Uuid, (i64, String)> = query
        .rows::<(uuid::Uuid, i64, String)>()
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(post, sequence, state)| (post, (sequence, state)))
        .collect();
    let mut events = Vec::with_capacity(started.len());
    for (at, start) in started {
        let Some((sequence, state)) = sequences.get(&start.post.as_uuid()) else {
            set(at, InitStartOutcome::NotPrepared);
            continue;
        };
        let state = tokpost_core::StateKind::parse(state)
            .ok_or_else(|| crate::rows::corrupt("post state"))?;
        events.push((start.post, *sequence, &start.event, state));
        set(at, InitStartOutcome::Started);
    }
    crate::posts::moves::insert_events(tx, events).await?;
    Ok(())
}

#[async_trait::async_trait]
impl crate::types::OpenTransaction for Tx {
    async fn commit(self: Box<Self>) -> Result<(), crate::StoreError> {
        Tx::commit(*self).await?;
        Ok(())
    }
}
