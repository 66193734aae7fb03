//! The one seam between the store's queries and the two databases.
//!
//! A query is written once, as an [`Sql`]: both SQLite and PostgreSQL accept `$n` parameters,
//! `ON CONFLICT … DO NOTHING/UPDATE`, `RETURNING`, and the columns use types both decode the
//! same way (bigint milliseconds, UUID, text, bytes). [`Db`] runs it on the pool the URL named,
//! [`Tx`] inside a write transaction. What the two cannot say alike is a [`Dialect`], chosen
//! once at open: row locks PostgreSQL needs where SQLite's single writer already excludes
//! everyone, and the claim queries.
//!
//! Statements over many rows are built at run time (`IN (…)` lists, multi-row `VALUES`,
//! `UPDATE … FROM (VALUES …)`, whose columns both backends name `column1…`).

mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Database, PgPool, Postgres, Sqlite, SqlitePool};
use tokio::sync::watch;

pub(crate) use sql::{Arg, Scalar, Sql, query, query_as, query_scalar};

use crate::StoreError;

/// The database: a pool of either backend, and the signal that jobs changed.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    backend: Backend,
    changes: Arc<watch::Sender<crate::queue::changes::ChangeLog>>,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// A write transaction. On SQLite it also holds the process's write turn (see
/// [`Db::write_tx`]).
pub(crate) enum Tx {
    Sqlite {
        tx: sqlx::Transaction<'static, Sqlite>,
        _turn: tokio::sync::OwnedMutexGuard<()>,
    },
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite { tx, .. } => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite { tx, .. } => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// Where a statement runs: on a connection of the pool, or inside a transaction.
pub(crate) enum On<'c> {
    Db(&'c Db),
    Tx(&'c mut Tx),
}

impl<'c> From<&'c Db> for On<'c> {
    fn from(db: &'c Db) -> Self {
        On::Db(db)
    }
}

impl<'c> From<&'c mut Tx> for On<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        On::Tx(tx)
    }
}

/// A connection of one backend, taken from the pool for one statement or borrowed from a
/// transaction.
enum Conn<'c> {
    Sqlite(Held<'c, Sqlite>),
    Postgres(Held<'c, Postgres>),
}

enum Held<'c, DB: Database> {
    Pooled(PoolConnection<DB>),
    Borrowed(&'c mut DB::Connection),
}

impl<DB: Database> Held<'_, DB> {
    fn as_mut(&mut self) -> &mut DB::Connection {
        match self {
            Held::Pooled(c) => c,
            Held::Borrowed(c) => c,
        }
    }
}

impl<'c> On<'c> {
    async fn conn(self) -> Result<Conn<'c>, sqlx::Error> {
        Ok(match self {
            On::Db(db) => match &db.backend {
                Backend::Sqlite(b) => Conn::Sqlite(Held::Pooled(b.pool.acquire().await?)),
                Backend::Postgres(b) => Conn::Postgres(Held::Pooled(b.pool.acquire().await?)),
            },
            On::Tx(Tx::Sqlite { tx, .. }) => Conn::Sqlite(Held::Borrowed(&mut **tx)),
            On::Tx(Tx::Postgres(tx)) => Conn::Postgres(Held::Borrowed(&mut **tx)),
        })
    }
}

/// What the two databases cannot say alike. One value per backend
/// (`db::sqlite::DIALECT`, `db::postgres::DIALECT`).
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Whether write transactions run side by side (PostgreSQL) or take turns (SQLite).
    pub(crate) writes_side_by_side: bool,
    /// Locks accounts' rows (`$1`: their ids) so that a count then an insert about them is
    /// atomic across processes; `None` where writers already take turns.
    pub(crate) lock_accounts: Option<&'static str>,
    /// Appended to the check that a worker holds a job, so that a sweep or a claim of the job
    /// waits until the write made under the lease commits.
    pub(crate) lock_held_job: &'static str,
    /// Appended to the init wave's check of its held jobs (`j`), to keep them until its commit.
    pub(crate) hold_jobs: &'static str,
    /// Serializes admissions among the app's active creators.
    pub(crate) lock_active_creators: Option<&'static str>,
    /// Serializes the counts of the app's own rate windows ([`crate::RateLimitSlot::APP`]),
    /// which have no account row to lock.
    pub(crate) lock_app_windows: Option<&'static str>,
    /// The init wave's candidates (see `rows::claim_init_candidates`).
    pub(crate) claim_init_candidates: &'static str,
    /// The first `$2` due jobs of each workspace (and of no workspace), each list in run order.
    pub(crate) claim_candidates: &'static str,
    /// Appended to the claim of due webhook deliveries (`d`).
    pub(crate) claim_deliveries: &'static str,
    /// Reads a workspace's row, locking it where writers do not take turns.
    pub(crate) lock_workspace: &'static str,
    /// Appended to the read of an account's refresh claim.
    pub(crate) lock_refresh_claim: &'static str,
    /// Reads a media item's row, locking it where writers do not take turns.
    pub(crate) lock_media: &'static str,
}

impl Db {
    /// Opens, creates if need be, and migrates the database named by `url`.
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let changes = Arc::new(watch::Sender::new(
            crate::queue::changes::ChangeLog::default(),
        ));
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::Sqlite::open(url, &changes).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::Postgres::open(url, &changes).await?)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(Self { backend, changes })
    }

    pub(crate) fn dialect(&self) -> &'static Dialect {
        match self.backend {
            Backend::Sqlite(_) => &sqlite::DIALECT,
            Backend::Postgres(_) => &postgres::DIALECT,
        }
    }

    /// A write transaction. SQLite lets one transaction write at a time; writers that collide
    /// wait in SQLite's busy handler, which sleeps in growing steps and wastes most of the time
    /// under load. Writers of this process therefore queue for their turn on an async mutex
    /// first (fair, no sleeping), so `BEGIN IMMEDIATE` (which never fails half-way when a read
    /// upgrades to a write) only ever waits for another process.
    pub(crate) async fn write_tx(&self) -> Result<Tx, sqlx::Error> {
        match &self.backend {
            Backend::Sqlite(b) => {
                let turn = Arc::clone(&b.write_turn).lock_owned().await;
                let tx = b.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Tx::Sqlite { tx, _turn: turn })
            }
            Backend::Postgres(b) => Ok(Tx::Postgres(b.pool.begin().await?)),
        }
    }

    /// Runs `statements` as one write transaction whose statements need no answer. On SQLite
    /// the whole transaction is one call to a connection's thread (`BEGIN IMMEDIATE`, the
    /// statements, `COMMIT` as one script), so it holds the write turn for one round trip
    /// instead of one per statement; it runs in a task of its own, so a caller that goes away
    /// (a client that hung up) cannot leave it half done.
    pub(crate) async fn write_all(&self, statements: Vec<Sql>) -> Result<(), sqlx::Error> {
        match &self.backend {
            Backend::Sqlite(b) => {
                let turn = Arc::clone(&b.write_turn).lock_owned().await;
                let pool = b.pool.clone();
                tokio::spawn(async move {
                    let ran = sql::run_sqlite_script(&pool, statements).await;
                    drop(turn);
                    ran
                })
                .await
                .map_err(|error| {
                    sqlx::Error::Protocol(format!("a write transaction's task ended: {error}"))
                })?
            }
            Backend::Postgres(_) => {
                let mut tx = self.write_tx().await?;
                for statement in statements {
                    statement.execute(&mut tx).await?;
                }
                tx.commit().await
            }
        }
    }

    /// This process's view of the queue's changes (see `QueueStore::job_changes`).
    pub(crate) fn job_changes(&self) -> crate::queue::changes::JobChanges {
        crate::queue::changes::JobChanges::new(self.changes.subscribe())
    }

    /// Announces a job change to this process's workers and, on PostgreSQL, to every other
    /// process (a SQLite file's other processes see its commits on their own). Best effort:
    /// workers also poll.
    pub(crate) async fn jobs_changed(&self) {
        self.job_due_at(None).await;
    }

    /// [`Db::jobs_changed`] for a change whose jobs are due at `due` at the earliest (`None`:
    /// unknown, or now): listeners asleep until before then stay asleep, in this process and,
    /// on PostgreSQL, in the others.
    pub(crate) async fn job_due_at(&self, due: Option<jiff::Timestamp>) {
        self.changes.send_modify(|log| log.record(due));
        if let Backend::Postgres(b) = &self.backend {
            b.notify(due).await;
        }
    }

    /// The SQLite pool, for tests that look behind the store.
    pub(crate) fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.backend {
            Backend::Sqlite(b) => Some(&b.pool),
            Backend::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for tests that look behind the store.
    pub(crate) fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres(b) => Some(&b.pool),
            Backend::Sqlite(_) => None,
        }
    }
}

/// Rows one multi-row statement carries at most: well inside both backends' limits on bound
/// parameters (SQLite 32,766, PostgreSQL 65,535) at seven per row.
pub(crate) const ROWS_PER_STATEMENT: usize = 1_000;

impl Tx {
    /// The dialect of the transaction's database.
    pub(crate) fn dialect(&self) -> &'static Dialect {
        match self {
            Tx::Sqlite { .. } => &sqlite::DIALECT,
            Tx::Postgres(_) => &postgres::DIALECT,
        }
    }
}
