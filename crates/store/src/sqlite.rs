//! The SQLite backend: one file in WAL mode, one writer at a time (`BEGIN IMMEDIATE` so a
//! transaction never fails half-way when upgrading from read to write), created and migrated
//! on first open. It serves one tokpost process; several processes need PostgreSQL.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::{StoreError, TokenCipher};

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
    /// Opens `sqlite://path?mode=rwc` (or `sqlite::memory:`), creating and migrating it.
    ///
    /// # Errors
    /// Connection or migration failure.
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
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            cipher,
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
            write_turn: Arc::new(tokio::sync::Mutex::new(())),
        })
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

    /// SQLite has one writer (the transaction holds the write lock), so no row locking is
    /// needed to make the claim exclusive.
    const CLAIM_CANDIDATES: &'static str = "SELECT id, account_id FROM jobs
        WHERE locked_by IS NULL AND run_at_ms <= $1
          AND (account_id IS NULL OR NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = jobs.account_id))
        ORDER BY run_at_ms, id LIMIT $2";
}

crate::backend::impl_store!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> TokenCipher {
        TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap()
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
