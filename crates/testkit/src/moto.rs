//! A real S3-compatible server for tests and benchmarks: moto's server (PyPI `moto[server]`,
//! installed by `.ci/run`), started as a child process on 127.0.0.1 with a free port, waited
//! for, and killed when dropped.
//!
//! Tests must not skip silently in CI: [`MotoServer::start_or_skip`] returns `None` (with a
//! note on stderr) only when `CI` is unset; with `CI` set a server that cannot start is an
//! error.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use secrecy::SecretString;

use tokpost_media_store::{S3Config, S3Tuning};

/// Why moto could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("could not start `{command}` (is moto[server] installed?): {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("moto exited before it answered ({status}); its log:\n{log}")]
    Exited { status: String, log: String },
    #[error("moto did not answer on {endpoint} within {waited:?}; its log:\n{log}")]
    NotReady {
        endpoint: String,
        waited: Duration,
        log: String,
    },
    #[error("moto request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("moto answered {status} to {what}: {body}")]
    Refused {
        what: String,
        status: u16,
        body: String,
    },
    #[error("moto harness IO: {0}")]
    Io(#[from] std::io::Error),
}

/// A running moto server, killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    endpoint: String,
    log: tempfile::NamedTempFile,
    http: reqwest::Client,
}

/// How long to wait for moto to answer (it imports a lot of Python first).
const READY_WAIT: Duration = Duration::from_secs(60);
const READY_POLL: Duration = Duration::from_millis(100);

impl MotoServer {
    /// Starts moto (`python3 -m moto.server`, or `$TOKPOST_MOTO_PYTHON -m moto.server`) on a
    /// free loopback port and waits until it answers.
    pub async fn start() -> Result<Self, MotoError> {
        let port = free_port()?;
        let python = std::env::var("TOKPOST_MOTO_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let log = tempfile::NamedTempFile::new()?;
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log.reopen()?)
            .stderr(log.reopen()?)
            .spawn()
            .map_err(|source| MotoError::Spawn {
                command: format!("{python} -m moto.server"),
                source,
            })?;
        let http = reqwest::Client::builder().no_proxy().build()?;
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            http,
        };
        server.wait_until_ready().await?;
        Ok(server)
    }

    /// [`MotoServer::start`], or `None` outside CI when moto is not available here (the caller
    /// then skips its S3 case). In CI every failure is returned.
    pub async fn start_or_skip() -> Result<Option<Self>, MotoError> {
        match Self::start().await {
            Ok(server) => Ok(Some(server)),
            Err(error) if std::env::var_os("CI").is_none() => {
                eprintln!("skipping the S3 case: {error}");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    async fn wait_until_ready(&mut self) -> Result<(), MotoError> {
        let polls = READY_WAIT.as_millis() / READY_POLL.as_millis();
        for _ in 0..polls {
            if let Some(status) = self.child.try_wait()? {
                return Err(MotoError::Exited {
                    status: status.to_string(),
                    log: self.log_text(),
                });
            }
            if self.http.get(&self.endpoint).send().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(READY_POLL).await;
        }
        Err(MotoError::NotReady {
            endpoint: self.endpoint.clone(),
            waited: READY_WAIT,
            log: self.log_text(),
        })
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text.get(start..).unwrap_or_default().to_owned()
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates `bucket` and returns a configuration for it (moto accepts any credentials).
    pub async fn create_bucket(
        &self,
        bucket: &str,
        tuning: S3Tuning,
    ) -> Result<S3Config, MotoError> {
        let response = self
            .http
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await?;
        self.expect_success(response, &format!("creating bucket {bucket}"))
            .await?;
        Ok(S3Config {
            endpoint: self.endpoint.clone(),
            bucket: bucket.to_owned(),
            region: "us-east-1".to_owned(),
            access_key_id: "moto-test-access-key".to_owned(),
            secret_access_key: SecretString::from("moto-test-secret-key-never-logged"),
            prefix: String::new(),
            allow_http: true,
            tuning,
        })
    }

    /// The names of every object in `bucket` (raw `ListObjectsV2`, independent of the code
    /// under test).
    pub async fn object_names(&self, bucket: &str) -> Result<Vec<String>, MotoError> {
        let body = self
            .get_text(
                &format!("{}/{bucket}?list-type=2", self.endpoint),
                "listing objects",
            )
            .await?;
        Ok(xml_values(&body, "Key"))
    }

    /// How many multipart uploads in `bucket` were neither completed nor aborted.
    pub async fn pending_multipart_uploads(&self, bucket: &str) -> Result<usize, MotoError> {
        let body = self
            .get_text(
                &format!("{}/{bucket}?uploads", self.endpoint),
                "listing uploads",
            )
            .await?;
        Ok(xml_values(&body, "UploadId").len())
    }

    async fn get_text(&self, url: &str, what: &str) -> Result<String, MotoError> {
        let response = self.http.get(url).send().await?;
        let response = self.expect_success(response, what).await?;
        Ok(response.text().await?)
    }

    async fn expect_success(
        &self,
        response: reqwest::Response,
        what: &str,
    ) -> Result<reqwest::Response, MotoError> {
        if response.status().is_success() {
            return Ok(response);
        }
        Err(MotoError::Refused {
            what: what.to_owned(),
            status: response.status().as_u16(),
            body: response.text().await.unwrap_or_default(),
        })
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    // The port is free when asked; moto binds it a moment later (a rare race, reported as
    // `NotReady` with moto's log rather than hidden).
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The text of every `<tag>…</tag>` in an XML document (enough for S3's flat listings).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut values = Vec::new();
    let mut rest = xml;
    while let Some((_, after_open)) = rest.split_once(open.as_str()) {
        let Some((value, after_close)) = after_open.split_once(close.as_str()) else {
            break;
        };
        values.push(value.to_owned());
        rest = after_close;
    }
    values
}
