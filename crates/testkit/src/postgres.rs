//! A real PostgreSQL for tests: never a mock, never skipped.
//!
//! [`PostgresServer::start`] uses `TOKPOST_TEST_DATABASE_URL` when set (CI may provide a server);
//! otherwise it runs Debian's PostgreSQL 15 binaries on a private cluster: unix socket only, no
//! TCP, `fsync=off`. `initdb` runs once per machine into a cached template that each server
//! copies, so a test pays only for the copy and the server start. PostgreSQL refuses to run as
//! root, so under root (here and in CI) every command runs as the `postgres` user through
//! `runuser`, in directories owned by that user. Each [`PostgresServer::fresh_database`] is a new
//! empty database. The server stops when the value is dropped.
//!
//! This module is test support: it may block and shells out, and must not be used by the service.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::Connection as _;

/// Where Debian installs PostgreSQL 15.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// Overrides the local server with an existing one (an admin URL allowed to create databases).
pub const DATABASE_URL_VAR: &str = "TOKPOST_TEST_DATABASE_URL";

/// Why the test database could not be provided. Tests fail with this message; they never skip.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("PostgreSQL test server: {0}")]
    Setup(String),
    #[error("PostgreSQL test server: {0}")]
    Database(#[from] sqlx::Error),
}

fn setup(message: impl Into<String>) -> HarnessError {
    HarnessError::Setup(message.into())
}

/// A running PostgreSQL (local cluster or the one named by `TOKPOST_TEST_DATABASE_URL`).
#[derive(Debug)]
pub struct PostgresServer {
    admin_url: String,
    local: Option<LocalCluster>,
}

#[derive(Debug)]
struct LocalCluster {
    dir: tempfile::TempDir,
    postmaster: Child,
    as_postgres_user: bool,
}

impl PostgresServer {
    /// Starts (or connects to) a server and waits until it accepts connections.
    ///
    /// # Errors
    /// A clear message when the binaries are missing, a command fails or the server never
    /// becomes ready.
    pub async fn start() -> Result<Self, HarnessError> {
        if let Ok(url) = std::env::var(DATABASE_URL_VAR) {
            wait_until_ready(&url).await?;
            return Ok(Self {
                admin_url: url,
                local: None,
            });
        }
        let as_postgres_user = running_as_root();
        let template = ensure_template(as_postgres_user)?;
        let dir = tempfile::Builder::new()
            .prefix("tokpost-pg-")
            .tempdir()
            .map_err(|e| setup(format!("cannot create a temp dir: {e}")))?;
        let data = dir.path().join("data");
        let socket = dir.path().join("sock");
        std::fs::create_dir(&socket)
            .map_err(|e| setup(format!("cannot create the socket dir: {e}")))?;
        run(Command::new("cp").arg("-a").arg(&template).arg(&data))?;
        if as_postgres_user {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path()))?;
        }
        let postmaster = pg_command(as_postgres_user, "postgres")
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&socket)
            .args(["-c", "listen_addresses="])
            .args(["-c", "fsync=off"])
            .args(["-c", "full_page_writes=off"])
            .args(["-c", "synchronous_commit=off"])
            .args(["-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| setup(format!("cannot start postgres from {PG_BIN}: {e}")))?;
        let admin_url = format!(
            "postgres://postgres@localhost/postgres?host={}",
            socket.display()
        );
        let server = Self {
            admin_url,
            local: Some(LocalCluster {
                dir,
                postmaster,
                as_postgres_user,
            }),
        };
        wait_until_ready(&server.admin_url).await?;
        Ok(server)
    }

    /// The local cluster's data directory (`None` for a server from `TOKPOST_TEST_DATABASE_URL`),
    /// so tests can inspect what reached the disk.
    #[must_use]
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.local
            .as_ref()
            .map(|local| local.dir.path().join("data"))
    }

    /// Creates a new empty database and returns its URL.
    ///
    /// # Errors
    /// When the server refuses to create it.
    pub async fn fresh_database(&self) -> Result<String, HarnessError> {
        let name = format!(
            "tokpost_test_{}",
            uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, 0, 0)).simple()
        );
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(replace_database(&self.admin_url, &name))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let Some(local) = &mut self.local else { return };
        let data = local.dir.path().join("data");
        let stopped = pg_command(local.as_postgres_user, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["stop", "-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !stopped.is_ok_and(|status| status.success()) {
            let _ = local.postmaster.kill();
        }
        let _ = local.postmaster.wait();
    }
}

fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
    if query.is_empty() {
        format!("{base}/{database}")
    } else {
        format!("{base}/{database}?{query}")
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

fn pg_command(as_postgres_user: bool, program: &str) -> Command {
    let binary = Path::new(PG_BIN).join(program);
    if as_postgres_user {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(binary);
        command
    } else {
        Command::new(binary)
    }
}

fn run(command: &mut Command) -> Result<(), HarnessError> {
    let output = command
        .output()
        .map_err(|e| setup(format!("cannot run {command:?}: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(setup(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

/// An initialised cluster directory shared by every test process of this machine and user;
/// created once, atomically (built aside, then renamed into place).
fn ensure_template(as_postgres_user: bool) -> Result<PathBuf, HarnessError> {
    let owner = if as_postgres_user { "postgres" } else { "self" };
    let root = std::env::temp_dir().join(format!("tokpost-pg15-template-{owner}"));
    let template = root.join("data");
    if template.join("PG_VERSION").exists() {
        return Ok(template);
    }
    std::fs::create_dir_all(&root)
        .map_err(|e| setup(format!("cannot create {}: {e}", root.display())))?;
    let building = tempfile::Builder::new()
        .prefix("building-")
        .tempdir_in(&root)
        .map_err(|e| setup(format!("cannot create a build dir: {e}")))?;
    if as_postgres_user {
        run(Command::new("chown")
            .arg("postgres:postgres")
            .arg(&root)
            .arg(building.path()))?;
    }
    let data = building.path().join("data");
    run(pg_command(as_postgres_user, "initdb")
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]))?;
    // Another process may have finished first; either template is good.
    if std::fs::rename(&data, &template).is_err() && !template.join("PG_VERSION").exists() {
        return Err(setup(format!(
            "cannot move the template cluster into {}",
            template.display()
        )));
    }
    Ok(template)
}

async fn wait_until_ready(url: &str) -> Result<(), HarnessError> {
    let mut last_error = None;
    // 30 s in 10 ms steps; counted in attempts because tests do not read the clock.
    for _ in 0..3000 {
        match sqlx::PgConnection::connect(url).await {
            Ok(connection) => {
                connection.close().await?;
                return Ok(());
            }
            Err(err) => last_error = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(setup(format!(
        "the server at {url} did not accept connections: {}",
        last_error.map_or_else(String::new, |e| e.to_string())
    )))
}
