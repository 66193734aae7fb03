//! The PostgreSQL backend, for several worker processes on several machines: claims skip rows
//! other workers are claiming (`FOR UPDATE SKIP LOCKED`) and per-account leases are rows whose
//! primary key makes a second concurrent lease impossible.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Executor as _;
use sqlx::Postgres;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::watch;

use crate::{StoreError, TokenCipher};

/// The backend, for statements built at run time.
type Db = Postgres;
type Tx = sqlx::Transaction<'static, Postgres>;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    cipher: TokenCipher,
    changes: Arc<watch::Sender<u64>>,
    _listener: Arc<ListenerTask>,
}

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

/// Forwards notifications from other processes (and our own) to local subscribers. A lost
/// connection also ticks: jobs may have changed while we were not listening.
async fn listen(mut listener: PgListener, changes: Arc<watch::Sender<u64>>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => {}
            Ok(None) => tracing::warn!("job notification listener reconnecting"),
            Err(err) => {
                tracing::warn!(error = %err, "job notification listener failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl PgStore {
    /// Connects to `postgres://…`, applies pending migrations and seals any upload URL an older
    /// version stored in plaintext.
    ///
    /// # Errors
    /// Connection or migration failure, or a plaintext upload URL that cannot be sealed.
    pub async fn open(database_url: &str, cipher: TokenCipher) -> Result<Self, StoreError> {
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
            .connect(database_url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let changes = Arc::new(watch::Sender::new(0));
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(JOBS_CHANNEL).await?;
        let task = tokio::spawn(listen(listener, changes.clone()));
        let store = Self {
            pool,
            cipher,
            changes,
            _listener: Arc::new(ListenerTask(task)),
        };
        store.seal_plaintext_upload_urls().await?;
        Ok(store)
    }

    /// The connection pool (for health checks and tests).
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Announces a job change to every process. Best effort: workers also poll.
    async fn jobs_changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        if let Err(err) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(JOBS_CHANNEL)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %err, "could not notify other workers of a job change");
        }
    }

    async fn write_tx(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Serializes the rate-limit checks of these accounts across processes: a count then an
    /// insert is not atomic under READ COMMITTED. The lock is the account's row (`FOR NO KEY
    /// UPDATE`, which inserts referring to the account do not wait for), not an advisory lock:
    /// row locks live in the rows, while advisory locks fill the server's shared lock table,
    /// which an init wave prepared ahead for thousands of accounts would overflow. Rows are
    /// locked in id order, so two transactions locking several cannot deadlock.
    async fn lock_rate_limits(tx: &mut Tx, accounts: Vec<uuid::Uuid>) -> Result<(), StoreError> {
        sqlx::query("SELECT 1 FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(accounts)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Transactions of several processes write side by side.
    const WRITES_SIDE_BY_SIDE: bool = true;

    /// A sweep or a claim of the job waits until the write made under its lease commits.
    const LOCK_HELD_JOB: &'static str = " FOR SHARE";

    /// Locks the init wave's held jobs until its transaction ends: the sweep cannot hand one
    /// to another worker between the check and the commit, however long the commit waits.
    const HOLD_JOBS: &'static str = " FOR SHARE OF j";

    /// Serializes admissions among the app's active creators across processes (counting the
    /// active ones, then adding one, is not atomic under READ COMMITTED).
    const LOCK_ACTIVE_CREATORS: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtextextended('tokpost active creators', 0))");

    /// The init wave's candidates (see `rows::claim_init_candidates`); rows another claimer
    /// holds are skipped.
    const CLAIM_INIT_CANDIDATES: &'static str = concat!(
        crate::rows::claim_init_candidates!(),
        " FOR UPDATE OF j SKIP LOCKED"
    );

    /// The first `$2` due jobs of each workspace (and of no workspace), each list in run
    /// order: `backend::take_turns` interleaves them. Rows another claimer holds are skipped.
    const CLAIM_CANDIDATES: &'static str = "SELECT j.id, j.account_id, j.workspace_id, j.run_at_ms
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
            FOR UPDATE SKIP LOCKED) AS unowned";
}

crate::backend::impl_store!(PgStore);
crate::webhooks::impl_webhook_store!(
    PgStore,
    "FOR UPDATE OF d SKIP LOCKED",
    "SELECT id FROM workspaces WHERE id = $1 FOR UPDATE"
);
crate::account_health::impl_account_health_store!(PgStore);
crate::token_refresh::impl_token_refresh_store!(PgStore, "FOR UPDATE");
