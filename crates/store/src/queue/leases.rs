//! The queue's writes inside a transaction (enqueue, lease, finish, requeue, the check that a
//! worker still holds a job) and the fair order of a claim's candidates.

use crate::db::{Tx, query, query_as};
use crate::rows::ClaimCandidate;

pub(crate) fn clock_add(at: jiff::Timestamp, by: std::time::Duration) -> jiff::Timestamp {
    jiff::SignedDuration::try_from(by)
        .ok()
        .and_then(|by| at.checked_add(by).ok())
        .unwrap_or(jiff::Timestamp::MAX)
}

pub(crate) async fn insert_job(
    tx: &mut Tx,
    job: &crate::NewJob,
    now: jiff::Timestamp,
) -> Result<crate::Enqueued, crate::StoreError> {
    let (id, insert) = job_sql(job, now)?;
    let inserted = insert.execute(&mut *tx).await?.rows_affected();
    Ok(if inserted > 0 {
        crate::Enqueued::Added(id)
    } else {
        crate::Enqueued::AlreadyQueued
    })
}

/// The insert of `job`, under a new id, as one statement (which inserts nothing when a job
/// with its dedupe key is queued).
pub(crate) fn job_sql(
    job: &crate::NewJob,
    now: jiff::Timestamp,
) -> Result<(tokpost_core::JobId, crate::db::Sql), crate::StoreError> {
    let id = tokpost_core::JobId::generate(now);
    let insert = query(
        "INSERT INTO jobs (id, kind, payload, account_id, post_id, run_at_ms, attempts, dedupe_key, created_at_ms, workspace_id)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, COALESCE(
             (SELECT workspace_id FROM posts WHERE id = $5),
             (SELECT workspace_id FROM accounts WHERE id = $4)))
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(id.as_uuid())
    .bind(job.kind.as_str())
    .bind(crate::rows::to_json(&job.payload)?)
    .bind(job.account_id.map(|a| a.as_uuid()))
    .bind(job.post_id.map(|p| p.as_uuid()))
    .bind(crate::rows::ms(job.run_at))
    .bind(job.dedupe_key.as_deref())
    .bind(crate::rows::ms(now));
    Ok((id, insert))
}

/// Deletes a job the worker holds and frees its account. `false`: the lease was lost.
pub(crate) async fn finish_job(
    tx: &mut Tx,
    job: tokpost_core::JobId,
    worker: &crate::WorkerId,
) -> Result<bool, crate::StoreError> {
    let held = query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2")
        .bind(job.as_uuid())
        .bind(worker.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if held > 0 {
        query("DELETE FROM account_leases WHERE job_id = $1")
            .bind(job.as_uuid())
            .execute(&mut *tx)
            .await?;
    }
    Ok(held > 0)
}

/// Starts a held job's counts over: the claim that moved its post to another state is the
/// first attempt of the next step, which has failed none yet, so the failures of one step do
/// not use up the retries of the next.
pub(crate) async fn restart_counts(
    tx: &mut Tx,
    job: tokpost_core::JobId,
) -> Result<(), crate::StoreError> {
    query("UPDATE jobs SET attempts = 1, failures = 0 WHERE id = $1")
        .bind(job.as_uuid())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Whether `worker` still holds `job`; on PostgreSQL the job row stays locked against a
/// sweep or a claim until the transaction ends, so the write that follows is made under
/// the lease.
pub(crate) async fn holds_job(
    tx: &mut Tx,
    job: tokpost_core::JobId,
    worker: &crate::WorkerId,
) -> Result<bool, crate::StoreError> {
    let mut query = crate::db::query("SELECT 1 FROM jobs WHERE id = ");
    query.push_bind(job.as_uuid());
    query.push(" AND locked_by = ");
    query.push_bind(worker.as_str().to_owned());
    query.push(tx.dialect().lock_held_job);
    let held: Option<i32> = query.values().fetch_optional(&mut *tx).await?;
    Ok(held.is_some())
}

/// Leases the chosen candidates to `worker` (each with its account's lease; a candidate
/// whose account another claimer took in the meantime is skipped), in run order.
pub(crate) async fn lease_candidates(
    tx: &mut Tx,
    chosen: Vec<crate::rows::ClaimCandidate>,
    worker: &crate::WorkerId,
    until: i64,
) -> Result<Vec<crate::Job>, crate::StoreError> {
    let mut claimed = Vec::with_capacity(chosen.len());
    for candidate in chosen {
        if let Some(account) = candidate.account_id {
            let leased = query(
                "INSERT INTO account_leases (account_id, job_id, locked_by, locked_until_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id) DO NOTHING",
            )
            .bind(account)
            .bind(candidate.id)
            .bind(worker.as_str())
            .bind(until)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if leased == 0 {
                continue;
            }
        }
        let row = query_as::<crate::rows::JobRow>(concat!(
            "UPDATE jobs SET locked_by = $2, locked_until_ms = $3, attempts = attempts + 1 WHERE id = $1 RETURNING ",
            crate::rows::job_columns!()
        ))
        .bind(candidate.id)
        .bind(worker.as_str())
        .bind(until)
        .fetch_one(&mut *tx)
        .await?;
        claimed.push(row.into_domain()?);
    }
    claimed.sort_by_key(|job| (job.run_at, job.id));
    Ok(claimed)
}

/// Returns a held job to the queue at `at` and frees its account. `false`: the lease
/// was lost.
pub(crate) async fn requeue_job(
    tx: &mut Tx,
    job: tokpost_core::JobId,
    worker: &crate::WorkerId,
    at: jiff::Timestamp,
    note: &str,
    why: crate::Requeue,
) -> Result<bool, crate::StoreError> {
    let retry = crate::JobRetry {
        job,
        at,
        note: note.to_owned(),
    };
    Ok(requeue_jobs(tx, worker, std::slice::from_ref(&retry), why)
        .await?
        .contains(&job.as_uuid()))
}

/// Returns held jobs to the queue, each at its time, and frees their accounts: two
/// statements per `ROWS_PER_STATEMENT` jobs, in job order (every transaction touching
/// many jobs takes their rows in the same order); of a job named twice, the last retry
/// counts. Returns the jobs the worker still held.
pub(crate) async fn requeue_jobs(
    tx: &mut Tx,
    worker: &crate::WorkerId,
    retries: &[crate::JobRetry],
    why: crate::Requeue,
) -> Result<std::collections::HashSet<uuid::Uuid>, crate::StoreError> {
    // A failure keeps the claim and counts a failure; a wait gives the claim back.
    let (given_back, failed): (i64, i64) = match why {
        crate::Requeue::AfterFailure => (0, 1),
        crate::Requeue::Wait => (1, 0),
    };
    let mut latest: std::collections::BTreeMap<uuid::Uuid, &crate::JobRetry> =
        std::collections::BTreeMap::new();
    for retry in retries {
        latest.insert(retry.job.as_uuid(), retry);
    }
    let latest: Vec<(uuid::Uuid, &crate::JobRetry)> = latest.into_iter().collect();
    let mut held = std::collections::HashSet::new();
    for batch in latest.chunks(crate::db::ROWS_PER_STATEMENT) {
        let mut query = crate::db::query(
            "UPDATE jobs SET locked_by = NULL, locked_until_ms = NULL, run_at_ms = v.column2,
               last_error = v.column3, attempts = jobs.attempts - ",
        );
        query.push_bind(given_back);
        query.push(", failures = jobs.failures + ");
        query.push_bind(failed);
        query.push(" FROM (");
        query.push_values(batch, |row, (job, retry)| {
            row.push_bind(*job)
                .push_bind(crate::rows::ms(retry.at))
                .push_bind(retry.note.clone());
        });
        query.push(") AS v WHERE jobs.id = v.column1 AND jobs.locked_by = ");
        query.push_bind(worker.as_str().to_owned());
        query.push(" RETURNING jobs.id");
        let returned: Vec<uuid::Uuid> = query.values().fetch_all(&mut *tx).await?;
        if returned.is_empty() {
            continue;
        }
        let mut query = crate::db::query("DELETE FROM account_leases WHERE job_id");
        query.push_in(returned.iter().copied());
        query.execute(&mut *tx).await?;
        held.extend(returned);
    }
    Ok(held)
}

/// The candidates of every workspace (each workspace's list in run order, as the claim query
/// returns them) interleaved one workspace at a time, the workspace with the oldest due job
/// first: a workspace with thousands of due posts gets one turn per round like one with a
/// single post, so its burst cannot starve the others.
pub(crate) fn take_turns(candidates: Vec<ClaimCandidate>) -> Vec<ClaimCandidate> {
    let mut lanes: Vec<std::collections::VecDeque<ClaimCandidate>> = Vec::new();
    let mut lane_of = std::collections::HashMap::new();
    for candidate in candidates {
        let lane = *lane_of.entry(candidate.workspace_id).or_insert_with(|| {
            lanes.push(std::collections::VecDeque::new());
            lanes.len() - 1
        });
        if let Some(lane) = lanes.get_mut(lane) {
            lane.push_back(candidate);
        }
    }
    for lane in &mut lanes {
        lane.make_contiguous()
            .sort_by_key(|candidate| (candidate.run_at_ms, candidate.id));
    }
    lanes.sort_by_key(|lane| lane.front().map(|first| (first.run_at_ms, first.id)));
    let total = lanes.iter().map(std::collections::VecDeque::len).sum();
    let mut turns = Vec::with_capacity(total);
    while turns.len() < total {
        for lane in &mut lanes {
            turns.extend(lane.pop_front());
        }
    }
    turns
}

/// The first due job of each account (in run order) plus account-less jobs, at most `limit`,
/// ordered by account so that concurrent claimers take account rows in the same order.
pub(crate) fn one_per_account(candidates: Vec<ClaimCandidate>, limit: u32) -> Vec<ClaimCandidate> {
    let mut seen = std::collections::HashSet::new();
    let mut chosen: Vec<ClaimCandidate> = candidates
        .into_iter()
        .filter(|c| c.account_id.is_none_or(|account| seen.insert(account)))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    chosen.sort_by_key(|c| (c.account_id, c.id));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(n: u128, workspace: Option<u128>, run_at_ms: i64) -> ClaimCandidate {
        ClaimCandidate {
            id: uuid::Uuid::from_u128(n),
            account_id: Some(uuid::Uuid::from_u128(1_000 + n)),
            workspace_id: workspace.map(uuid::Uuid::from_u128),
            run_at_ms,
        }
    }

    #[test]
    fn workspaces_take_turns_from_the_one_with_the_oldest_due_job() {
        let busy = (1..=5).map(|n| candidate(n, Some(1), i64::try_from(n).unwrap()));
        let quiet = [candidate(10, Some(2), 100)];
        let unowned = [candidate(20, None, 50)];
        let order: Vec<u128> = take_turns(busy.chain(quiet).chain(unowned).collect())
            .into_iter()
            .map(|c| c.id.as_u128())
            .collect();
        assert_eq!(order, [1, 20, 10, 2, 3, 4, 5]);
    }

    #[test]
    fn a_lane_is_taken_in_run_order_whatever_order_the_query_returned() {
        let order: Vec<u128> = take_turns(vec![
            candidate(3, Some(1), 30),
            candidate(1, Some(1), 10),
            candidate(2, Some(1), 20),
        ])
        .into_iter()
        .map(|c| c.id.as_u128())
        .collect();
        assert_eq!(order, [1, 2, 3]);
    }
}
