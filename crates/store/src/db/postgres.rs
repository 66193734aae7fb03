//! The PostgreSQL backend, for several worker processes on several machines: claims skip rows
//! other workers are claiming (`FOR UPDATE SKIP LOCKED`) and per-account leases are rows whose
//! primary key makes a second concurrent lease impossible.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Executor as _;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::watch;

use super::Dialect;

/// The pool, and the task that hears other processes' job changes.
#[derive(Debug, Clone)]
pub(super) struct Postgres {
    pub(super) pool: PgPool,
    /// Names this process in its notifications, so that its listener skips its own (recorded
    /// already, with their due time).
    origin: Arc<str>,
    _listener: Arc<ListenerTask>,
}

pub(super) const DIALECT: Dialect = Dialect {
    writes_side_by_side: true,
    // A count then an insert is not atomic under READ COMMITTED. The lock is the account's row
    // (`FOR NO KEY UPDATE`, which inserts referring to the account do not wait for), not an
    // advisory lock: row locks live in the rows, while advisory locks fill the server's shared
    // lock table, which an init wave prepared ahead for thousands of accounts would overflow.
    // Rows are locked in id order, so two transactions locking several cannot deadlock.
    lock_accounts: Some("SELECT 1 FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE"),
    lock_held_job: " FOR SHARE",
    // The sweep cannot hand a held job to another worker between the check and the commit,
    // however long the commit waits.
    hold_jobs: " FOR SHARE OF j",
    // Counting the active creators, then adding one, is not atomic under READ COMMITTED.
    lock_active_creators: Some(
        "SELECT pg_advisory_xact_lock(hashtextextended('tokpost active creators', 0))",
    ),
    lock_app_windows: Some(
        "SELECT pg_advisory_xact_lock(hashtextextended('tokpost app rate windows', 0))",
    ),
    claim_init_candidates: concat!(
        crate::rows::claim_init_candidates!(),
        " FOR UPDATE OF j SKIP LOCKED"
    ),
    // Rows another claimer holds are skipped.
    claim_candidates: "SELECT j.id, j.account_id, j.workspace_id, j.run_at_ms
        FROM workspaces AS w
        CROSS JOIN LATERAL (
            SELECT id, account_id, workspace_id, run_at_ms FROM jobs
            WHERE workspace_id = w.id AND locked_by IS NULL AND run_at_ms <= $1
              AND (account_id IS NULL OR NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = jobs.account_id))
            ORDER BY run_at_ms, id LIMIT $2
            FOR UPDATE SKIP LOCKED) AS j
        UNION ALL
        SELECT id, account_id, workspace_id, run_at_ms FROM (
            SELECT id, account_id, workspace_id, run_at_ms FROM jobs
            WHERE workspace_id IS NULL AND locked_by IS NULL AND run_at_ms <= $1
              AND (account_id IS NULL OR NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = jobs.account_id))
            ORDER BY run_at_ms, id LIMIT $2
            FOR UPDATE SKIP LOCKED) AS unowned",
    claim_deliveries: "FOR UPDATE OF d SKIP LOCKED",
    lock_workspace: "SELECT id FROM workspaces WHERE id = $1 FOR UPDATE",
    lock_refresh_claim: "FOR UPDATE",
    lock_media: "SELECT id FROM media_assets WHERE id = $1 FOR UPDATE",
};

/// The NOTIFY channel on which every process announces job changes.
const JOBS_CHANNEL: &str = "tokpost_jobs";

/// Stops the LISTEN task when the last clone of the store is dropped.
#[derive(Debug)]
struct ListenerTask(tokio::task::JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Postgres {
    /// Connects to `postgres://…` and applies pending migrations.
    pub(super) async fn open(
        url: &str,
        changes: &Arc<watch::Sender<crate::queue::changes::ChangeLog>>,
    ) -> Result<Self, crate::StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            // No JIT: every query here runs in a millisecond, and the queue's fast-changing
            // tables mislead the planner's estimates past `jit_above_cost`, where compiling a
            // claim took 100 ms of the server's CPU each time (measured in the burst benchmark).
            // A `SET` rather than a startup option, which connection poolers may refuse.
            .after_connect(|connection, _| {
                Box::pin(async move {
                    connection.execute("SET jit = off").await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(JOBS_CHANNEL).await?;
        let origin: Arc<str> = format!("{:032x}", rand::random::<u128>()).into();
        let task = tokio::spawn(listen(listener, Arc::clone(changes), Arc::clone(&origin)));
        Ok(Self {
            pool,
            origin,
            _listener: Arc::new(ListenerTask(task)),
        })
    }

    /// Announces a job change due at `due` (`None`: unknown or now) to every other process.
    pub(super) async fn notify(&self, due: Option<jiff::Timestamp>) {
        let payload = match due {
            Some(due) => format!("{} {}", self.origin, due.as_millisecond()),
            None => self.origin.to_string(),
        };
        if let Err(err) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(JOBS_CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %err, "could not notify other workers of a job change");
        }
    }
}

/// Forwards other processes' notifications to local subscribers, with their due time (a
/// payload `origin [due in ms]`; anything else counts as due now). A lost connection counts as
/// a change due now: jobs may have changed while nobody listened.
async fn listen(
    mut listener: PgListener,
    changes: Arc<watch::Sender<crate::queue::changes::ChangeLog>>,
    origin: Arc<str>,
) {
    loop {
        let due = match listener.try_recv().await {
            Ok(Some(notification)) => {
                let mut words = notification.payload().split(' ');
                if words.next() == Some(&*origin) {
                    continue;
                }
                words
                    .next()
                    .and_then(|ms| ms.parse().ok())
                    .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            }
            Ok(None) => {
                tracing::warn!("job notification listener reconnecting");
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "job notification listener failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                None
            }
        };
        changes.send_modify(|log| log.record(due));
    }
}
