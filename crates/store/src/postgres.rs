//! The PostgreSQL backend, for several worker processes on several machines: claims skip rows
//! other workers are claiming (`FOR UPDATE SKIP LOCKED`) and per-account leases are rows whose
//! primary key makes a second concurrent lease impossible.

use std::time::Duration;

use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::{StoreError, TokenCipher};

type Tx = sqlx::Transaction<'static, Postgres>;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    cipher: TokenCipher,
}

impl PgStore {
    /// Connects to `postgres://…` and applies pending migrations.
    ///
    /// # Errors
    /// Connection or migration failure.
    pub async fn open(database_url: &str, cipher: TokenCipher) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(database_url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool, cipher })
    }

    /// The connection pool (for health checks and tests).
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn write_tx(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

    const CLAIM_CANDIDATES: &'static str = "SELECT id, account_id FROM jobs
        WHERE locked_by IS NULL AND run_at_ms <= $1
          AND (account_id IS NULL OR NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = jobs.account_id))
        ORDER BY run_at_ms, id LIMIT $2
        FOR UPDATE SKIP LOCKED";
}

crate::backend::impl_store!(PgStore);
