//! The publishing harness: a sandbox TikTok on a shared manual clock, a store (SQLite or a real
//! PostgreSQL), the pipeline's publisher and keeper, a loopback media server for pulls, and
//! helpers to connect creators, register media, schedule posts and drive the workers while
//! moving time instead of sleeping.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use clock::{Clock, ManualClock, Timestamp};
use secrecy::SecretString;
use tiktok::{TikTokClient, TikTokConfig, UploadRetry};
use tiktok_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use tokio::net::TcpListener;
use tokpost_core::{
    AccountId, InteractionSettings, MediaId, OpenId, PhotoDescription, PhotoTitle, Post,
    PostContent, PostId, PostMode, PostSpec, PrivacyLevel, ScheduleTime, StateKind, UploadSource,
    VideoCaption, WorkspaceId,
};
use tokpost_pipeline::token_keeper::{KeeperPolicy, TokenKeeper, tokens_from_grant};
use tokpost_pipeline::{PublishPolicy, Publisher, StatusPolling, Worker, WorkerSettings};
use tokpost_store::{MediaKind, NewAccount, NewMediaAsset, NewPost, Store, TokenCipher, WorkerId};
use tokpost_testkit::stores::TestStore;

pub const REDIRECT_URI: &str = "http://127.0.0.1:8765/auth/tiktok/callback";
pub const ADA: &str = "ada.public";
pub const BO: &str = "bo.private";

/// Publishing's scopes and every insight scope: an account whose counts can be read.
pub const INSIGHTS: &[tiktok::Scope] = &[
    tiktok::Scope::UserInfoBasic,
    tiktok::Scope::UserInfoProfile,
    tiktok::Scope::UserInfoStats,
    tiktok::Scope::VideoList,
    tiktok::Scope::VideoPublish,
    tiktok::Scope::VideoUpload,
];

pub use tokpost_testkit::stores::Backend;

pub struct Env {
    pub clock: Arc<ManualClock>,
    pub sandbox: SandboxHandle,
    pub client: TikTokClient,
    pub store: Arc<dyn Store>,
    pub keeper: Arc<TokenKeeper>,
    pub publisher: Arc<Publisher>,
    pub workspace: WorkspaceId,
    /// `http://127.0.0.1:PORT/media/`: files under `media_dir` served for pulls.
    pub media_base: String,
    pub media_dir: PathBuf,
    pub database_url: String,
    /// The key the store seals tokens with (a second process opens the same database with it).
    pub cipher: TokenCipher,
    _dir: tempfile::TempDir,
    _db: TestStore,
}

/// A fixture of the sandbox's test files (valid for TikTok's rules).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tiktok-sandbox/tests/fixtures")
        .join(name)
}

pub struct Setup {
    pub backend: Backend,
    pub sandbox: SandboxConfig,
    pub policy: PublishPolicy,
    pub insights: tokpost_pipeline::insights::InsightSettings,
}

impl Setup {
    /// An audited app, fast sandbox processing (5 s) and moderation (10 s), loopback pulls.
    pub fn new(backend: Backend) -> Self {
        let sandbox = SandboxConfig {
            allow_insecure_loopback_pull: true,
            processing_delay: tiktok_sandbox::Delay::Fixed { ms: 5_000 },
            moderation_delay: tiktok_sandbox::Delay::Fixed { ms: 10_000 },
            ..SandboxConfig::default()
        };
        let policy = PublishPolicy {
            status_polling: StatusPolling {
                first: Duration::from_secs(5),
                ..StatusPolling::default()
            },
            ..PublishPolicy::audited()
        };
        Self {
            backend,
            sandbox,
            policy,
            insights: tokpost_pipeline::insights::InsightSettings::default(),
        }
    }
}

pub async fn start(setup: Setup) -> Env {
    let clock = ManualClock::at_fixed_start();
    let dir = tempfile::tempdir().unwrap();
    let media_dir = dir.path().join("served");
    std::fs::create_dir_all(&media_dir).unwrap();
    let media_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let media_base = format!("http://{}/media/", media_listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/media/{name}", axum::routing::get(serve_media))
        .with_state(media_dir.clone());
    tokio::spawn(async move { axum::serve(media_listener, app).await });

    let mut sandbox_config = setup.sandbox;
    for app in &mut sandbox_config.apps {
        app.verified_url_prefixes.push(media_base.clone());
    }
    let app = sandbox_config.apps[0].clone();
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = Sandbox::start(sandbox_config, clock.shared(), api, None)
        .await
        .unwrap();
    let client_config = TikTokConfig::production(
        app.client_key.clone(),
        SecretString::from(app.client_secret.expose().to_owned()),
        REDIRECT_URI,
    )
    .unwrap()
    .with_base_urls(sandbox.api_base_url(), sandbox.authorize_base_url());
    let client = TikTokClient::new(client_config, clock.shared()).unwrap();
    let db = TestStore::open(setup.backend).await;
    let store = Arc::clone(&db.store);
    let workspace = store
        .create_workspace("publishing", clock.now())
        .await
        .unwrap()
        .id;
    let keeper = Arc::new(TokenKeeper::new(
        store.clone(),
        clock.shared(),
        client.clone(),
        KeeperPolicy::default(),
    ));
    let mut policy = setup.policy;
    policy.verified_url_prefixes.push(media_base.clone());
    let publisher = Arc::new(
        Publisher::new(
            store.clone(),
            clock.shared(),
            client.clone(),
            keeper.clone(),
            policy,
        )
        .with_upload_retry(UploadRetry {
            first_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            ..UploadRetry::default()
        })
        .with_insights(setup.insights),
    );
    Env {
        clock,
        sandbox,
        client,
        store,
        keeper,
        publisher,
        workspace,
        media_base,
        media_dir,
        database_url: db.url.clone(),
        cipher: db.cipher.clone(),
        _dir: dir,
        _db: db,
    }
}

async fn serve_media(
    State(dir): State<PathBuf>,
    UrlPath(name): UrlPath<String>,
) -> impl IntoResponse {
    if name.contains('/') || name.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dir.join(&name)).await {
        Ok(bytes) => {
            let kind = if name.ends_with(".jpg") {
                "image/jpeg"
            } else {
                "video/mp4"
            };
            ([(header::CONTENT_TYPE, kind)], bytes).into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

impl Env {
    /// Another process on the same database and the same sandbox: its own store (own
    /// connections; on SQLite its own writer queue) and its own token keeper.
    pub async fn second_process(&self, policy: KeeperPolicy) -> (Arc<dyn Store>, Arc<TokenKeeper>) {
        let store = tokpost_store::open(&self.database_url, self.cipher.clone())
            .await
            .unwrap();
        let keeper = Arc::new(TokenKeeper::new(
            store.clone(),
            self.clock.shared(),
            self.client.clone(),
            policy,
        ));
        (store, keeper)
    }

    pub fn worker(&self, name: &str) -> Worker<Publisher> {
        Worker::new(
            WorkerId::new(name),
            self.store.clone(),
            self.clock.shared(),
            self.publisher.clone(),
            WorkerSettings {
                first_backoff: Duration::from_secs(2),
                ..WorkerSettings::default()
            },
        )
    }

    /// Connects a sandbox creator through the authorize redirect and the code exchange.
    pub async fn connect(&self, creator: &str) -> AccountId {
        self.connect_with(creator, tokpost_testkit::oauth::PUBLISHING)
            .await
    }

    /// Connects a sandbox creator granting `scopes`.
    pub async fn connect_with(&self, creator: &str, scopes: &[tiktok::Scope]) -> AccountId {
        let grant = tokpost_testkit::oauth::grant(&self.client, creator, scopes).await;
        let now = self.clock.now();
        self.store
            .connect_account(
                NewAccount {
                    workspace_id: self.workspace,
                    open_id: OpenId::new(grant.open_id.as_str()).unwrap(),
                    display_name: creator.to_owned(),
                    avatar_url: None,
                    scopes: grant
                        .scopes
                        .iter()
                        .map(|s| tokpost_core::Scope::new(s.as_str()).unwrap())
                        .collect::<BTreeSet<_>>(),
                    tokens: tokens_from_grant(&grant, now),
                },
                now,
            )
            .await
            .unwrap()
            .id
    }

    /// Registers a local video file (as the API does after receiving an upload).
    pub async fn video_file(&self, path: &Path) -> MediaId {
        let hash = media::hash_file(path).unwrap().to_hex();
        let size = std::fs::metadata(path).unwrap().len();
        self.add_media(MediaKind::Video, hash, size, path.display().to_string())
            .await
    }

    /// A copy of the 4-second fixture grown past `size` bytes with a trailing `free` box (still
    /// a valid MP4), with distinct content per `salt`.
    pub async fn large_video(&self, size: u64, salt: u8) -> MediaId {
        let mut bytes = std::fs::read(fixture("ok_720x1280_30fps_4s.mp4")).unwrap();
        let padding = usize::try_from(size)
            .unwrap()
            .saturating_sub(bytes.len())
            .max(16);
        let box_size = u32::try_from(padding).unwrap();
        bytes.extend_from_slice(&box_size.to_be_bytes());
        bytes.extend_from_slice(b"free");
        bytes.resize(bytes.len() + padding - 8, salt);
        let path = self.media_dir.join(format!("large-{salt}.mp4"));
        std::fs::write(&path, &bytes).unwrap();
        self.video_file(&path).await
    }

    /// The 4-second fixture, copied so that each call is distinct content.
    pub async fn small_video(&self, salt: u8) -> MediaId {
        let mut bytes = std::fs::read(fixture("ok_720x1280_30fps_4s.mp4")).unwrap();
        bytes.extend_from_slice(&[0, 0, 0, 9, b'f', b'r', b'e', b'e', salt]);
        let path = self.media_dir.join(format!("small-{salt}.mp4"));
        std::fs::write(&path, &bytes).unwrap();
        self.video_file(&path).await
    }

    /// A file served on the loopback media server, registered by URL (for pulls).
    pub async fn served(&self, kind: MediaKind, fixture_name: &str, name: &str) -> MediaId {
        let target = self.media_dir.join(name);
        std::fs::copy(fixture(fixture_name), &target).unwrap();
        let hash = media::hash_file(&target).unwrap().to_hex();
        let size = std::fs::metadata(&target).unwrap().len();
        self.add_media(kind, hash, size, format!("{}{name}", self.media_base))
            .await
    }

    async fn add_media(
        &self,
        kind: MediaKind,
        content_hash: String,
        size: u64,
        location: String,
    ) -> MediaId {
        self.store
            .add_media(
                NewMediaAsset {
                    workspace_id: self.workspace,
                    kind,
                    content_hash,
                    size_bytes: size,
                    location,
                    probe: serde_json::json!({ "container": "mp4" }),
                },
                self.clock.now(),
            )
            .await
            .unwrap()
            .into_inner()
            .id
    }

    pub async fn schedule(&self, account: AccountId, spec: PostSpec, in_secs: u64) -> PostId {
        let now = self.clock.now();
        let at = clock::add(now, Duration::from_secs(in_secs));
        self.store
            .create_post(
                NewPost {
                    workspace_id: self.workspace,
                    account_id: account,
                    spec: spec.validate().unwrap(),
                    scheduled_at: ScheduleTime::new(at, now).unwrap(),
                    idempotency_key: None,
                    created_by: tokpost_core::Principal::Service,
                },
                now,
            )
            .await
            .unwrap()
            .into_inner()
            .id
    }

    pub async fn post(&self, id: PostId) -> Post {
        self.store.post(id).await.unwrap().unwrap()
    }

    pub async fn state(&self, id: PostId) -> StateKind {
        self.post(id).await.state.kind()
    }

    /// Runs the workers and moves the clock to each next due job until every post is final (or
    /// in `also_done`), or `horizon` of simulated time passed. Returns the simulated time spent.
    pub async fn drive(
        &self,
        workers: &[&Worker<Publisher>],
        posts: &[PostId],
        also_done: &[StateKind],
        horizon: Duration,
    ) -> Duration {
        let start = self.clock.now();
        let end = clock::add(start, horizon);
        loop {
            loop {
                let mut ran = 0;
                for worker in workers {
                    ran += worker.run_once().await.unwrap();
                }
                if ran == 0 {
                    break;
                }
            }
            let mut settled = true;
            for id in posts {
                let kind = self.state(*id).await;
                if !(kind.is_final() || also_done.contains(&kind)) {
                    settled = false;
                }
            }
            // A published post may still be waiting for its public id: let that finish too.
            let next = self.store.next_due_at().await.unwrap();
            if settled
                && next.is_none_or(|at| {
                    at > clock::add(self.clock.now(), Duration::from_secs(4 * 3_600))
                })
            {
                return self.clock.now().duration_since(start).unsigned_abs();
            }
            let Some(next) = next else {
                panic!(
                    "nothing queued but posts are not final: {:?}",
                    self.states(posts).await
                );
            };
            if next > end {
                if settled {
                    return self.clock.now().duration_since(start).unsigned_abs();
                }
                panic!(
                    "not final after {horizon:?}: {:?}",
                    self.states(posts).await
                );
            }
            if next > self.clock.now() {
                self.clock.set(next);
            }
        }
    }

    pub async fn states(&self, posts: &[PostId]) -> Vec<(StateKind, Vec<String>)> {
        let mut states = Vec::new();
        for id in posts {
            let events = self.store.post_events(*id).await.unwrap();
            states.push((
                self.state(*id).await,
                events
                    .into_iter()
                    .map(|event| format!("{:?}: {}", event.kind, event.message))
                    .collect(),
            ));
        }
        states
    }

    pub async fn events(&self, id: PostId) -> Vec<tokpost_core::PostEvent> {
        self.store.post_events(id).await.unwrap()
    }

    pub fn at(&self, secs: u64) -> Timestamp {
        clock::add(self.clock.now(), Duration::from_secs(secs))
    }
}

pub fn video(media: MediaId, caption: &str, privacy: PrivacyLevel) -> PostSpec {
    PostSpec {
        content: PostContent::Video {
            media,
            caption: VideoCaption::new(caption).unwrap(),
            cover_timestamp_ms: None,
        },
        privacy,
        interactions: InteractionSettings::default(),
        brand_content: false,
        brand_organic: false,
        is_aigc: false,
        auto_add_music: false,
        mode: PostMode::Direct,
        source: UploadSource::FileUpload,
    }
}

pub fn photos(media: Vec<MediaId>, title: &str, privacy: PrivacyLevel) -> PostSpec {
    PostSpec {
        content: PostContent::Photos {
            media,
            cover_index: 0,
            title: PhotoTitle::new(title).unwrap(),
            description: PhotoDescription::new(format!("{title} in pictures")).unwrap(),
        },
        privacy,
        interactions: InteractionSettings::default(),
        brand_content: false,
        brand_organic: false,
        is_aigc: false,
        auto_add_music: false,
        mode: PostMode::Direct,
        source: UploadSource::PullFromUrl,
    }
}

/// How many inits were requested among `events` (each `init_requested` is one request sent).
pub fn inits(events: &[tokpost_core::PostEvent]) -> usize {
    events
        .iter()
        .filter(|event| event.kind == tokpost_core::EventKind::InitRequested)
        .count()
}
