//! The SQLite backend: one file in WAL mode, one writer at a time, created and migrated on
//! first open. It serves one tokpost process; several processes need PostgreSQL.

use std::str::FromStr as _;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::watch;

use super::Dialect;

/// The pool, and this process's write turn (see [`super::Db::write_tx`]).
#[derive(Debug, Clone)]
pub(super) struct Sqlite {
    pub(super) pool: SqlitePool,
    pub(super) write_turn: Arc<tokio::sync::Mutex<()>>,
}

/// SQLite's transactions take turns (`BEGIN IMMEDIATE`), so nothing needs locking on top.
pub(super) const DIALECT: Dialect = Dialect {
    writes_side_by_side: false,
    lock_accounts: None,
    lock_held_job: "",
    hold_jobs: "",
    lock_active_creators: None,
    lock_app_windows: None,
    claim_init_candidates: crate::rows::claim_init_candidates!(),
    // SQLite has one writer (the transaction holds the write lock), so no row locking is
    // needed to make the claim exclusive.
    claim_candidates: "SELECT j.id, j.account_id, j.workspace_id, j.run_at_ms
        FROM (SELECT id FROM workspaces UNION ALL SELECT NULL) AS w
        JOIN jobs AS j ON j.id IN (
            SELECT id FROM jobs
            WHERE workspace_id IS w.id AND locked_by IS NULL AND run_at_ms <= $1
              AND (account_id IS NULL OR NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = jobs.account_id))
            ORDER BY run_at_ms, id LIMIT $2)",
    claim_deliveries: "",
    lock_workspace: "SELECT id FROM workspaces WHERE id = $1",
    lock_refresh_claim: "",
    lock_media: "SELECT id FROM media_assets WHERE id = $1",
};

impl Sqlite {
    /// Opens `sqlite://path?mode=rwc` (or `sqlite::memory:`), creating and migrating it.
    pub(super) async fn open(
        url: &str,
        changes: &Arc<watch::Sender<crate::queue::changes::ChangeLog>>,
    ) -> Result<Self, crate::StoreError> {
        let in_memory = url.contains(":memory:");
        let options = SqliteConnectOptions::from_str(url)?
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
        if !in_memory {
            let watcher = sqlx::ConnectOptions::connect(&options).await?;
            tokio::spawn(watch_other_processes(watcher, Arc::downgrade(changes)));
        }
        Ok(Self {
            pool,
            write_turn: Arc::new(tokio::sync::Mutex::new(())),
        })
    }
}

/// How often another process's commits are looked for. Only a wake-up hint for idle workers
/// (who also poll on their own clock), so it runs on the runtime's timer, not the injected clock.
const OTHER_PROCESS_POLL: Duration = Duration::from_millis(200);

/// Wakes this process's idle workers when another process (an API process, a second worker
/// process) committed to the file: SQLite has no LISTEN/NOTIFY, but `PRAGMA data_version`
/// changes on every commit made through another connection. Ends when the store is dropped.
async fn watch_other_processes(
    mut connection: sqlx::SqliteConnection,
    changes: Weak<watch::Sender<crate::queue::changes::ChangeLog>>,
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
                    changes.send_modify(|log| log.record(None));
                }
                seen = Some(version);
            }
            Err(error) => {
                tracing::warn!(%error, "watching the database for other processes' commits failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqlStore, TokenCipher};

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
        let workers_side = SqlStore::open(&url, cipher.clone()).await.unwrap();
        let api_side = SqlStore::open(&url, cipher).await.unwrap();
        let mut changes = crate::QueueStore::job_changes(&workers_side);
        // Let the watcher read the version before the other side commits.
        tokio::time::sleep(OTHER_PROCESS_POLL * 2).await;
        sqlx::query("CREATE TABLE written_elsewhere (n INTEGER)")
            .execute(api_side.sqlite_pool().unwrap())
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(30), changes.changed())
            .await
            .expect("no wake-up after another connection's commit")
            .unwrap();
    }

    #[tokio::test]
    async fn a_write_script_binds_each_statement_its_own_values_and_one_that_fails_writes_nothing()
    {
        use crate::db::{Db, query, query_scalar};
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("script.db").display()
        );
        let db = Db::open(&url).await.unwrap();
        query("CREATE TABLE t (n INTEGER PRIMARY KEY, twice INTEGER, label TEXT)")
            .execute(&db)
            .await
            .unwrap();
        let insert = |n: i64, label: &str| {
            query("INSERT INTO t (n, twice, label) VALUES ($1, $1 * 2, $2)")
                .bind(n)
                .bind(label.to_owned())
        };
        // The second insert breaks the primary key: the first must not stay.
        let failed = db
            .write_all(vec![insert(1, "one"), insert(1, "again")])
            .await
            .unwrap_err();
        assert!(
            matches!(&failed, sqlx::Error::Database(error) if error.is_unique_violation()),
            "{failed}"
        );
        let count = || query_scalar::<i64>("SELECT COUNT(*) FROM t").fetch_one(&db);
        assert_eq!(count().await.unwrap(), 0);
        // More scripts than the pool has connections: the one that failed is used again,
        // and would refuse to begin if it had been left inside its transaction.
        for n in 2..20 {
            db.write_all(vec![
                insert(n, "a"),
                insert(n + 100, "b"),
                insert(n + 200, "c"),
            ])
            .await
            .unwrap();
        }
        assert_eq!(count().await.unwrap(), 54);
        let row: (i64, String) = crate::db::query_as("SELECT twice, label FROM t WHERE n = $1")
            .bind(119_i64)
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(row, (238, "b".to_owned()));
    }

    #[tokio::test]
    async fn first_start_creates_the_file_in_wal_mode_and_a_restart_migrates_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data/nested/tokpost.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let store = SqlStore::open(&url, cipher()).await.unwrap();
        assert!(file.exists());
        let pool = store.sqlite_pool().unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
        pool.close().await;

        let reopened = SqlStore::open(&url, cipher()).await.unwrap();
        let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(reopened.sqlite_pool().unwrap())
            .await
            .unwrap();
        let shipped = sqlx::migrate!("migrations/sqlite").iter().count();
        assert_eq!(usize::try_from(migrations).unwrap(), shipped);
    }
}
