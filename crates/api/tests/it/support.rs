//! The API through the real server on port 0, with the TikTok sandbox on the same manual clock:
//! what every file of this test binary starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clock::{Clock as _, ManualClock};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use tiktok::{TikTokClient, TikTokConfig};
use tiktok_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use tokio::net::TcpListener;
use tokpost_api::{ApiSettings, AppState};
use tokpost_pipeline::webhooks::address::AddressPolicy;
use tokpost_pipeline::{Pipeline, PipelineConfig};
use tokpost_store::{Store, TokenCipher};

pub(crate) const SANDBOX_SECRET: &str = "sandbox-demo-client-secret";

/// Held by the tests that publish through the sandbox: the metrics recorder is global to the
/// process, so a test counting TikTok calls must not see another test's publish.
pub(crate) static SANDBOX_PUBLISHES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
pub(crate) const UPLOAD_LIMIT: u64 = 64 * 1024;

pub(crate) struct App {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) pipeline: Pipeline,
    /// The default workspace's admin key.
    pub(crate) key: String,
    /// A key of a second workspace.
    pub(crate) other_key: String,
    /// Where this operator lets webhooks go (the sender is built with the same).
    pub(crate) webhook_addresses: AddressPolicy,
    pub(crate) _sandbox: SandboxHandle,
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) _stop: tokio::sync::oneshot::Sender<()>,
}

impl App {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub(crate) async fn start_with(customize: impl FnOnce(&mut ApiSettings)) -> Self {
        Self::start_configured(customize, |_| {}).await
    }

    /// [`App::start_with`], the pipeline configured by `pipeline` too.
    pub(crate) async fn start_configured(
        customize: impl FnOnce(&mut ApiSettings),
        pipeline: impl FnOnce(&mut PipelineConfig),
    ) -> Self {
        let mut pipeline_config = PipelineConfig::default();
        pipeline(&mut pipeline_config);
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at_fixed_start();
        let sandbox = Sandbox::start_with_manual_clock(
            SandboxConfig::default(),
            Arc::clone(&clock),
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            None,
        )
        .await
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("tokpost.db").display()
        );
        let cipher = TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap();
        let store = tokpost_store::open(&url, cipher).await.unwrap();
        let config = TikTokConfig::production(
            "sbxdemo0000000001",
            SecretString::from(SANDBOX_SECRET),
            format!("{base}/v1/oauth/tiktok/callback"),
        )
        .unwrap()
        .with_base_urls(sandbox.api_base_url(), sandbox.authorize_base_url());
        let client = TikTokClient::new(config, clock.shared()).unwrap();
        let pipeline = Pipeline::with_media(
            Arc::clone(&store),
            clock.shared(),
            client.clone(),
            pipeline_config,
            Some(tokpost_pipeline::MediaAccess::local(
                dir.path().join("media"),
            )),
        );
        let mut settings = ApiSettings::new(
            url::Url::parse(&format!("{base}/")).unwrap(),
            dir.path().join("media"),
        );
        settings.max_upload_bytes = UPLOAD_LIMIT;
        settings.verified_url_prefixes = vec!["https://media.example.com/tokpost/".to_owned()];
        settings.webhook_secret = Some(SecretString::from(SANDBOX_SECRET));
        // The receivers of these tests listen on loopback: this operator allows its own.
        settings.webhook_addresses = AddressPolicy::allowing(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        customize(&mut settings);
        let webhook_addresses = settings.webhook_addresses.clone();
        let state = AppState::new(
            Arc::clone(&store),
            clock.shared(),
            client,
            pipeline.clone(),
            settings,
        );
        let (_, admin) = tokpost_api::bootstrap(store.as_ref(), clock.now())
            .await
            .unwrap()
            .expect("a fresh database has no workspace");
        assert!(
            tokpost_api::bootstrap(store.as_ref(), clock.now())
                .await
                .unwrap()
                .is_none(),
            "the admin key is made once"
        );
        let other = store.create_workspace("other", clock.now()).await.unwrap();
        let other_key = tokpost_api::issue_key(
            store.as_ref(),
            other.id,
            "other",
            tokpost_core::Role::Owner,
            clock.now(),
        )
        .await
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tokpost_api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            clock,
            store,
            pipeline,
            key: admin.secret.expose_secret().to_owned(),
            other_key: other_key.secret.expose_secret().to_owned(),
            webhook_addresses,
            _sandbox: sandbox,
            _dir: dir,
            _stop: stop,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(&self.key), None)
            .await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(&self.key), Some(body))
            .await
    }

    /// The consent page's redirect back to tokpost, as the browser would follow it.
    pub(crate) async fn authorize(&self, key: &str, extra: &str) -> String {
        let (status, connect) = self
            .call(
                reqwest::Method::POST,
                "/v1/accounts/connect",
                Some(key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{connect}");
        let authorize = format!("{}{extra}", connect["authorize_url"].as_str().unwrap());
        let consent = self.http.get(authorize).send().await.unwrap();
        assert!(consent.status().is_redirection(), "{}", consent.status());
        consent.headers()["location"].to_str().unwrap().to_owned()
    }

    pub(crate) async fn follow(&self, callback: &str) -> (StatusCode, Value) {
        let response = self.http.get(callback).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn connect(&self, key: &str, creator: &str) -> Value {
        let callback = self
            .authorize(key, &format!("&sandbox_creator={creator}"))
            .await;
        let (status, account) = self.follow(&callback).await;
        assert_eq!(status, StatusCode::OK, "{account}");
        account
    }

    pub(crate) async fn upload(&self, key: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/v1/media"))
            .bearer_auth(key)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}

/// The password of every person [`App::person`] makes.
pub(crate) const PASSWORD: &str = "a long enough test passphrase";

impl App {
    /// The workspace the admin key belongs to (the tests' second workspace is made at the same
    /// instant, so creation order does not tell them apart).
    pub(crate) async fn default_workspace(&self) -> tokpost_core::WorkspaceId {
        self.store
            .workspaces()
            .await
            .unwrap()
            .into_iter()
            .find(|workspace| workspace.name == "default")
            .unwrap()
            .id
    }

    /// A person of `role` in the default workspace, signed in with [`PASSWORD`]: their
    /// session token.
    pub(crate) async fn person(&self, role: tokpost_core::Role, email: &str) -> String {
        let workspace = self.default_workspace().await;
        let hash = tokpost_api::people::passwords::hash(SecretString::from(PASSWORD.to_owned()))
            .await
            .unwrap();
        let user = self
            .store
            .create_user(
                tokpost_store::NewUser {
                    email: email.to_owned(),
                    name: format!("The {role}"),
                    password_hash: Some(hash),
                },
                self.clock.now(),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(
            self.store
                .join(user.id, workspace, role, self.clock.now())
                .await
                .unwrap()
        );
        let (status, session) = self
            .call(
                reqwest::Method::POST,
                "/v1/sessions",
                None,
                Some(serde_json::json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        assert_eq!(session["role"], role.as_str());
        let token = session["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("tps_"));
        token
    }
}

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../media/tests/fixtures")
            .join(name),
    )
    .unwrap()
}

pub(crate) fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}
