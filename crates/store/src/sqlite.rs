//! The SQLite backend: one file in WAL mode, one writer at a time (`BEGIN IMMEDIATE` so a
//! transaction never fails half-way when upgrading from read to write), created and migrated
//! on first open. It serves one tokpost process; several processes need PostgreSQL.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::{StoreError, TokenCipher};

/// The backend, for statements built at run time.
type Db = Sqlite;

/// A write transaction holding the process's write turn (see [`SqliteStore::write_tx`]).
pub(crate) struct Tx {
    tx: sqlx::Transaction<'static, Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    cipher: TokenCipher,
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// One write transaction at a time in this process (see [`SqliteStore::write_tx`]).
    write_turn: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// Opens `sqlite://path?mode=rwc` (or `sqlite::memory:`), creating and migrating it, and
    /// seals any upload URL an older version stored in plaintext.
    ///
    /// # Errors
    /// Connection or migration failure, or a plaintext upload URL that cannot be sealed.
    pub async fn open(database_url: &str, cipher: TokenCipher) -> Result<Self, StoreError> {
        let in_memory = database_url.contains(":memory:");
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if !in_memory
            && let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
        }
        // An in-memory database exists per connection: keep exactly one.
        let max_connections = if in_memory { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        let changes = Arc::new(tokio::sync::watch::Sender::new(0));
        if !in_memory {
            let watcher = sqlx::ConnectOptions::connect(&options).await?;
            tokio::spawn(watch_other_processes(watcher, Arc::downgrade(&changes)));
        }
        let store = Self {
            pool,
            cipher,
            changes,
            write_turn: Arc::new(tokio::sync::Mutex::new(())),
        };
        store.seal_plaintext_upload_urls().await?;
        Ok(store)
    }

    /// The connection pool (for health checks and tests).
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// One process owns a SQLite file, so an in-process signal reaches every worker.
    async fn jobs_changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// SQLite lets one transaction write at a time; writers that collide wait in SQLite's busy
    /// handler, which sleeps in growing steps and wastes most of the time under load. Writers of
    /// this process therefore queue for their turn on an async mutex first (fair, no sleeping),
    /// so `BEGIN IMMEDIATE` only ever waits for another process.
    async fn write_tx(&self) -> Result<Tx, StoreError> {
        let turn = Arc::clone(&self.write_turn).lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Tx { tx, _turn: turn })
    }

    /// Writers already take turns (`BEGIN IMMEDIATE`): nothing more to lock.
    #[allow(clippy::unused_async)]
    async fn lock_rate_limits(_tx: &mut Tx, _accounts: Vec<uuid::Uuid>) -> Result<(), StoreError> {
        Ok(())
    }

    /// One write transaction at a time per file.
    const WRITES_SIDE_BY_SIDE: bool = false;

    /// The write transaction already keeps a sweep or a claim from changing the job.
    const LOCK_HELD_JOB: &'static str = "";

    /// The write transaction already keeps every other writer out.
    const HOLD_JOBS: &'static str = "";

    /// The write transaction already admits one creator at a time.
    const LOCK_ACTIVE_CREATORS: Option<&'static str> = None;

    /// The init wave's candidates (see `rows::claim_init_candidates`); the write transaction
    /// makes the claim exclusive.
    const CLAIM_INIT_CANDIDATES: &'static str = crate::rows::claim_init_candidates!();

    /// The first `$2` due jobs of each workspace (and of no workspace), each list in run
    /// order: `backend::take_turns` interleaves them. SQLite has one writer (the transaction
    /// holds the write lock), so no row locking is needed to make the claim exclusive.
    const CLAIM_CANDIDATES: &'static str = "SELECT j.id, j.account_id, j.workspace_id, j.run_at_ms
        FROM (SELECT id FROM workspaces UNION ALL SELECT NULL) AS w
        JOIN jobs AS j ON j.id IN (
            SELECT id FROM jobs
            WHERE workspace_id IS w.id AND locked_by IS NULL AND run_at_ms <= $1
              AND (account_id IS NULL OR NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = jobs.account_id))
            ORDER BY run_at_ms, id LIMIT $2)";
}

/// How often another process's commits are looked for. Only a wake-up hint for idle workers
/// (who also poll on their own clock), so it runs on the runtime's timer, not the injected clock.
const OTHER_PROCESS_POLL: Duration = Duration::from_millis(200);

/// Wakes this process's idle workers when another process (an API process, a second worker
/// process) committed to the file: SQLite has no LISTEN/NOTIFY, but `PRAGMA data_version`
/// changes on every commit made through another connection. Ends when the store is dropped.
async fn watch_other_processes(
    mut connection: sqlx::SqliteConnection,
    changes: std::sync::Weak<tokio::sync::watch::Sender<u64>>,
) {
    let mut seen: Option<i64> = None;
    loop {
        tokio::time::sleep(OTHER_PROCESS_POLL).await;
        let Some(changes) = changes.upgrade() else {
            return;
        };
        match sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut connection)
            .await
        {
            Ok(version) => {
                if seen.is_some_and(|seen| seen != version) {
                    changes.send_modify(|n| *n = n.wrapping_add(1));
                }
                seen = Some(version);
            }
            Err(error) => {
                tracing::warn!(%error, "watching the database for other processes' commits failed");
            }
        }
    }
}

crate::backend::impl_store!(SqliteStore);
crate::webhooks::impl_webhook_store!(SqliteStore, "", "SELECT id FROM workspaces WHERE id = $1");
crate::account_health::impl_account_health_store!(SqliteStore);
crate::token_refresh::impl_token_refresh_store!(SqliteStore, "");

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> TokenCipher {
        TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_commit_by_another_process_wakes_this_ones_idle_workers() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("shared.db").display()
        );
        let cipher = cipher();
        let workers_side = SqliteStore::open(&url, cipher.clone()).await.unwrap();
        let api_side = SqliteStore::open(&url, cipher).await.unwrap();
        let mut changes = workers_side.changes.subscribe();
        changes.borrow_and_update();
        // Let the watcher read the version before the other side commits.
        tokio::time::sleep(OTHER_PROCESS_POLL * 2).await;
        sqlx::query("CREATE TABLE written_elsewhere (n INTEGER)")
            .execute(api_side.pool())
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(30), changes.changed())
            .await
            .expect("no wake-up after another connection's commit")
            .unwrap();
    }

    #[tokio::test]
    async fn first_start_creates_the_file_in_wal_mode_and_a_restart_migrates_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data/nested/tokpost.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let store = SqliteStore::open(&url, cipher()).await.unwrap();
        assert!(file.exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
        store.pool().close().await;

        let reopened = SqliteStore::open(&url, cipher()).await.unwrap();
        let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(reopened.pool())
            .await
            .unwrap();
        let shipped = sqlx::migrate!("migrations/sqlite").iter().count();
        assert_eq!(usize::try_from(migrations).unwrap(), shipped);
    }
}
