//! A fresh store on either database, for stories that run unchanged on both.

use std::path::PathBuf;
use std::sync::Arc;

use tokpost_store::{Store, TokenCipher};

use crate::postgres::PostgresServer;

/// Which database a test's store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Both, SQLite first: what a story runs on.
    pub const BOTH: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
}

/// A fresh cipher with a random key.
#[must_use]
pub fn cipher() -> TokenCipher {
    TokenCipher::from_base64(&TokenCipher::generate_key().expect("a key")).expect("a valid key")
}

/// A new empty store, and what keeps its database alive (the SQLite file's directory or the
/// PostgreSQL server): drop it and the database goes.
#[derive(Debug)]
pub struct TestStore {
    pub store: Arc<dyn Store>,
    /// The database URL, for a second process or a second store on the same data.
    pub url: String,
    /// The SQLite file (`None` on PostgreSQL).
    pub sqlite_file: Option<PathBuf>,
    /// The PostgreSQL server (`None` on SQLite), for tests that look behind the store.
    pub server: Option<PostgresServer>,
    pub cipher: TokenCipher,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// Opens a new empty store on `backend` with a fresh cipher. PostgreSQL is a real server,
    /// started here: a test that cannot have one fails, it never skips.
    pub async fn open(backend: Backend) -> Self {
        Self::open_with(backend, cipher()).await
    }

    /// [`TestStore::open`] with the given cipher.
    pub async fn open_with(backend: Backend, cipher: TokenCipher) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let file = dir.path().join("tokpost.db");
                let url = format!("sqlite://{}?mode=rwc", file.display());
                let store = tokpost_store::open(&url, cipher.clone())
                    .await
                    .unwrap_or_else(|e| panic!("opening {url}: {e}"));
                Self {
                    store,
                    url,
                    sqlite_file: Some(file),
                    server: None,
                    cipher,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let server = PostgresServer::start()
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL is required for this test: {e}"));
                let url = server
                    .fresh_database()
                    .await
                    .unwrap_or_else(|e| panic!("a fresh PostgreSQL database: {e}"));
                let store = tokpost_store::open(&url, cipher.clone())
                    .await
                    .unwrap_or_else(|e| panic!("opening the PostgreSQL store: {e}"));
                Self {
                    store,
                    url,
                    sqlite_file: None,
                    server: Some(server),
                    cipher,
                    _dir: None,
                }
            }
        }
    }
}
