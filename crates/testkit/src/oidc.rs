//! A real OpenID Connect provider for tests: node-oidc-provider (OpenID Certified, pinned in
//! `crates/testkit/oidc/package-lock.json`), run by Node on a free loopback port with one
//! confidential client, PKCE required, its development login and consent pages, and the
//! accounts a test names. Killed when dropped.
//!
//! The package is installed by `.ci/run` (`npm ci`) under `~/.cache/tokpost/`, found through
//! `$TOKPOST_OIDC_PROVIDER_DIR`. A test that needs it fails when it cannot start: it never
//! skips.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The pinned version (the lock file's), part of the cache directory's name.
pub const VERSION: &str = "8.8.1";

/// A person the provider knows: the login typed on its page, and their claims.
#[derive(Debug, Clone)]
pub struct Account {
    pub login: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

/// A running provider, killed on drop.
#[derive(Debug)]
pub struct OidcProvider {
    child: Child,
    /// `http://127.0.0.1:<port>`, as the provider names itself.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

const READY_WAIT: Duration = Duration::from_secs(30);

/// Where node-oidc-provider is installed.
fn install_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TOKPOST_OIDC_PROVIDER_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var("XDG_CACHE_HOME").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"),
        PathBuf::from,
    );
    cache
        .join("tokpost")
        .join(format!("oidc-provider-{VERSION}"))
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc/provider.mjs")
}

impl OidcProvider {
    /// Starts the provider for a client redirecting to `redirect_uri`, knowing `accounts`,
    /// and waits until it listens.
    ///
    /// # Panics
    /// When Node or the package is missing (with how to install them), or it does not start.
    pub fn start(redirect_uri: &str, accounts: &[Account]) -> Self {
        let module = install_dir().join("node_modules/oidc-provider/lib/index.js");
        assert!(
            module.exists(),
            "node-oidc-provider is not installed at {}: run `bash .ci/run` once, or \
             `mkdir -p {dir} && cp crates/testkit/oidc/package*.json {dir} && npm ci --prefix {dir}` \
             (or set TOKPOST_OIDC_PROVIDER_DIR)",
            module.display(),
            dir = install_dir().display(),
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let accounts: serde_json::Map<String, serde_json::Value> = accounts
            .iter()
            .map(|account| {
                (
                    account.login.clone(),
                    serde_json::json!({
                        "email": account.email,
                        "email_verified": account.email_verified,
                        "name": account.name,
                    }),
                )
            })
            .collect();
        let client_id = "tokpost-test".to_owned();
        let client_secret = format!("secret-{port}-of-the-test-client");
        let mut child = Command::new("node")
            .arg(script())
            .env("OIDC_PROVIDER_MODULE", &module)
            .env("PORT", port.to_string())
            .env("CLIENT_ID", &client_id)
            .env("CLIENT_SECRET", &client_secret)
            .env("REDIRECT_URI", redirect_uri)
            .env("ACCOUNTS", serde_json::Value::Object(accounts).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("node could not be started ({error}): install Node.js 18 or later")
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready, waiting) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("ready ") {
                    let _ = ready.send(line);
                }
            }
        });
        let line = waiting.recv_timeout(READY_WAIT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("node-oidc-provider did not start within {READY_WAIT:?}")
        });
        Self {
            child,
            issuer: line.trim_start_matches("ready ").trim().to_owned(),
            client_id,
            client_secret,
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
