//! A real tokpost server for the dashboard's tests: the dashboard and the API over a temporary
//! SQLite store, the in-process sandbox as TikTok on a shared manual clock, the pipeline's
//! workers running on that clock (tests move it instead of sleeping).
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod http;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clock::{Clock, ManualClock};
use secrecy::SecretString;
use tiktok::{TikTokClient, TikTokConfig};
use tiktok_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use tokio::net::TcpListener;
use tokpost_api::{ApiSettings, AppState};
use tokpost_core::{PostId, StateKind, WorkspaceId};
use tokpost_media_store::{PULL_ROUTE_PREFIX, PullBaseUrl, UrlSigner, pull_router};
use tokpost_pipeline::{Pipeline, PipelineConfig, PublishPolicy, StatusPolling};
use tokpost_store::{Store, TokenCipher};

pub struct Server {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub workspace: WorkspaceId,
    /// The workspace's admin key, for what a script does beside the pages.
    pub api_key: String,
    /// The workspace's first owner, who signs in to the pages.
    pub owner: Person,
    pub sandbox: SandboxHandle,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// Someone who signs in.
#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    pub password: String,
}

/// The password every test person has.
pub const PASSWORD: &str = "a long enough test passphrase";

/// Creates a user with [`PASSWORD`] and adds them to `workspace` with `role`.
pub async fn add_person(
    store: &dyn Store,
    workspace: WorkspaceId,
    email: &str,
    name: &str,
    role: tokpost_core::Role,
    now: jiff::Timestamp,
) -> Person {
    let hash = tokpost_api::people::passwords::hash(SecretString::from(PASSWORD.to_owned()))
        .await
        .unwrap();
    let user = store
        .create_user(
            tokpost_store::NewUser {
                email: email.to_owned(),
                name: name.to_owned(),
                password_hash: Some(hash),
            },
            now,
        )
        .await
        .unwrap()
        .expect("a new email");
    assert!(store.join(user.id, workspace, role, now).await.unwrap());
    Person {
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
    }
}

/// A fixture video the sandbox accepts.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tiktok-sandbox/tests/fixtures")
        .join(name)
}

pub async fn start() -> Server {
    start_with(|_| {}).await
}

/// [`start`] with the API's settings changed by `customize` (a mailer, say).
pub async fn start_with(customize: impl FnOnce(&mut ApiSettings)) -> Server {
    let clock = ManualClock::at_fixed_start();
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    // TikTok takes photos only by pulling them: the sandbox pulls uploads from this server's
    // signed URLs over loopback, as with `tokpost serve --sandbox`.
    let pull_base =
        PullBaseUrl::parse_loopback(&format!("{base}{}/", PULL_ROUTE_PREFIX.trim_matches('/')))
            .unwrap();
    let pull_prefix = pull_base.as_url().to_string();
    let mut sandbox_config = SandboxConfig {
        processing_delay: tiktok_sandbox::Delay::Fixed { ms: 2_000 },
        moderation_delay: tiktok_sandbox::Delay::Fixed { ms: 2_000 },
        allow_insecure_loopback_pull: true,
        ..SandboxConfig::default()
    };
    for app in &mut sandbox_config.apps {
        app.verified_url_prefixes.push(pull_prefix.clone());
    }
    let app = sandbox_config.apps[0].clone();
    let sandbox = Sandbox::start(
        sandbox_config,
        clock.shared(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        None,
    )
    .await
    .unwrap();
    let client_config = TikTokConfig::production(
        app.client_key.clone(),
        SecretString::from(app.client_secret.expose().to_owned()),
        format!("{base}v1/oauth/tiktok/callback"),
    )
    .unwrap()
    .with_base_urls(sandbox.api_base_url(), sandbox.authorize_base_url());
    let client = TikTokClient::new(client_config, clock.shared()).unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tokpost.db").display()
    );
    let cipher = TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap();
    let store = tokpost_store::open(&url, cipher).await.unwrap();
    let (workspace, key) = tokpost_api::bootstrap(store.as_ref(), clock.now())
        .await
        .unwrap()
        .unwrap();
    let owner = add_person(
        store.as_ref(),
        workspace.id,
        "owner@example.com",
        "Olga Owner",
        tokpost_core::Role::Owner,
        clock.now(),
    )
    .await;
    let media_dir = dir.path().join("media");
    std::fs::create_dir_all(&media_dir).unwrap();
    let signer = Arc::new(
        UrlSigner::new(
            pull_base,
            &SecretString::from("a test signing key of at least 32 bytes".to_owned()),
            clock.shared(),
        )
        .unwrap(),
    );
    let media = tokpost_pipeline::MediaAccess::local(media_dir.clone())
        .with_pull(Arc::clone(&signer), Duration::from_secs(3_600));
    let media_store = Arc::clone(media.store());
    let pipeline = Pipeline::with_media(
        store.clone(),
        clock.shared(),
        client.clone(),
        PipelineConfig {
            publishing: PublishPolicy {
                status_polling: StatusPolling {
                    first: Duration::from_secs(2),
                    ..StatusPolling::default()
                },
                verified_url_prefixes: vec![pull_prefix.clone()],
                ..PublishPolicy::audited()
            },
            workers: 1,
            ..PipelineConfig::default()
        },
        Some(media),
    );
    let mut settings = ApiSettings::new(url::Url::parse(&base).unwrap(), media_dir);
    settings.verified_url_prefixes = vec![pull_prefix];
    // TikTok here is the built-in sandbox in this process, as with `serve --sandbox`.
    settings.builtin_sandbox = true;
    customize(&mut settings);
    let state = AppState::new(
        store.clone(),
        clock.shared(),
        client,
        pipeline.clone(),
        settings,
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let _workers = pipeline.spawn("dashboard-test", shutdown);
    let router = tokpost_api::router(state.clone())
        .merge(tokpost_dashboard::router(state))
        .nest(PULL_ROUTE_PREFIX, pull_router(media_store, signer));
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server {
        base,
        clock,
        store,
        workspace: workspace.id,
        api_key: key.secret.expose_secret().to_owned(),
        owner,
        sandbox,
        _stop: stop,
        _dir: dir,
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    /// Moves the shared clock a few seconds at a time (letting the workers run in between)
    /// until `post` is in one of `states`. Panics with the post's history if it never gets
    /// there within a simulated day.
    pub async fn drive_until(&self, post: PostId, states: &[StateKind]) -> StateKind {
        for _ in 0..20_000 {
            let current = self.store.post(post).await.unwrap().unwrap().state.kind();
            if states.contains(&current) {
                return current;
            }
            self.clock.advance(Duration::from_secs(5));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let events = self.store.post_events(post).await.unwrap();
        panic!("post {post} never reached {states:?}: {events:#?}");
    }
}
