//! Shared media, end to end: the API of one "process" streams an upload into the media store,
//! and a worker of another, with its own media store instance over the same directory or the
//! same S3 bucket (moto on loopback), publishes it to the sandbox, by FILE_UPLOAD (chunks read by
//! range from the store) or by PULL_FROM_URL (the sandbox downloads a signed URL that the API
//! process answers from its store). The sandbox's record of the bytes it received is the truth:
//! their SHA-256 must be the file's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clock::{Clock as _, ManualClock};
use secrecy::SecretString;
use sha2::Digest as _;
use tiktok::{TikTokClient, TikTokConfig};
use tiktok_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use tokio::net::TcpListener;
use tokpost_api::{ApiSettings, AppState};
use tokpost_core::{
    AccountId, InteractionSettings, MediaId, OpenId, PhotoDescription, PhotoTitle, PostContent,
    PostId, PostMode, PostSpec, PrivacyLevel, ScheduleTime, StateKind, UploadSource, VideoCaption,
    WorkspaceId,
};
use tokpost_media_store::{
    LocalMediaStore, MediaKey, MediaStore, PULL_ROUTE_PREFIX, PullBaseUrl, S3MediaStore, S3Tuning,
    UrlSigner, pull_router,
};
use tokpost_pipeline::{
    MediaAccess, Pipeline, PipelineConfig, PublishPolicy, Publisher, StatusPolling, Worker,
    WorkerSettings,
};
use tokpost_store::{AccountTokens, NewAccount, NewPost, Store, TokenCipher, WorkerId};
use tokpost_testkit::moto::MotoServer;

const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
const SIGNING_KEY: &str = "a-test-signing-key-of-more-than-32-characters";
const PULL_URL_LIFETIME: Duration = Duration::from_secs(2 * 3_600);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tiktok-sandbox/tests/fixtures")
        .join(name)
}

fn sha256_of(path: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Two handles on one shared store, as two machines would have.
enum Shared {
    Local(tempfile::TempDir),
    S3 {
        moto: Box<MotoServer>,
        config: Box<tokpost_media_store::S3Config>,
    },
}

impl Shared {
    async fn local() -> Self {
        Self::Local(tempfile::tempdir().unwrap())
    }

    /// `None` (skipped) only outside CI when moto is not installed.
    async fn s3() -> Option<Self> {
        let moto = MotoServer::start_or_skip().await.unwrap()?;
        let mut config = moto
            .create_bucket("tokpost-shared", S3Tuning::default())
            .await
            .unwrap();
        config.prefix = "install-1/media".to_owned();
        Some(Self::S3 {
            moto: Box::new(moto),
            config: Box::new(config),
        })
    }

    /// A fresh, independent instance over the shared bytes.
    fn instance(&self) -> Arc<dyn MediaStore> {
        match self {
            Self::Local(dir) => Arc::new(LocalMediaStore::new(dir.path())),
            Self::S3 { config, .. } => Arc::new(S3MediaStore::new(config).unwrap()),
        }
    }

    async fn describe_objects(&self) -> Vec<String> {
        match self {
            Self::Local(_) => Vec::new(),
            Self::S3 { moto, config } => moto.object_names(&config.bucket).await.unwrap(),
        }
    }
}

/// The API "process" (HTTP on loopback, with the pull route) and the worker "process" (its
/// own pipeline and media store instance), on one database and one sandbox.
struct Installation {
    clock: Arc<ManualClock>,
    sandbox: SandboxHandle,
    store: Arc<dyn Store>,
    workspace: WorkspaceId,
    api_base: String,
    api_key: String,
    api_signer: Arc<UrlSigner>,
    http: reqwest::Client,
    worker: Worker<Publisher>,
    account: AccountId,
    shared: Shared,
    _dir: tempfile::TempDir,
}

impl Installation {
    async fn start(shared: Shared) -> Self {
        let clock = ManualClock::at_fixed_start();
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_base = format!("http://{}", listener.local_addr().unwrap());
        let pull_base =
            PullBaseUrl::parse_loopback(&format!("{api_base}{PULL_ROUTE_PREFIX}/")).unwrap();

        let mut sandbox_config = SandboxConfig {
            allow_insecure_loopback_pull: true,
            processing_delay: tiktok_sandbox::Delay::Fixed { ms: 5_000 },
            moderation_delay: tiktok_sandbox::Delay::Fixed { ms: 10_000 },
            ..SandboxConfig::default()
        };
        for app in &mut sandbox_config.apps {
            app.verified_url_prefixes
                .push(pull_base.as_url().to_string());
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
        let client = TikTokClient::new(
            TikTokConfig::production(
                app.client_key.clone(),
                SecretString::from(app.client_secret.expose().to_owned()),
                REDIRECT_URI,
            )
            .unwrap()
            .with_base_urls(sandbox.api_base_url(), sandbox.authorize_base_url()),
            clock.shared(),
        )
        .unwrap();
        let cipher = TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap();
        let store = tokpost_store::open(
            &format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("tokpost.db").display()
            ),
            cipher,
        )
        .await
        .unwrap();
        let policy = PublishPolicy {
            status_polling: StatusPolling {
                first: Duration::from_secs(5),
                ..StatusPolling::default()
            },
            verified_url_prefixes: vec![pull_base.as_url().to_string()],
            ..PublishPolicy::audited()
        };
        let key = SecretString::from(SIGNING_KEY);
        let access = |media: Arc<dyn MediaStore>| {
            let signer = Arc::new(UrlSigner::new(pull_base.clone(), &key, clock.shared()).unwrap());
            (
                MediaAccess::new(media).with_pull(Arc::clone(&signer), PULL_URL_LIFETIME),
                signer,
            )
        };

        // The API process: its own pipeline (whose workers never run here) and store instance.
        let (api_media, api_signer) = access(shared.instance());
        let api_pipeline = Pipeline::with_media(
            Arc::clone(&store),
            clock.shared(),
            client.clone(),
            PipelineConfig {
                publishing: policy.clone(),
                ..PipelineConfig::default()
            },
            Some(api_media.clone()),
        );
        let settings = ApiSettings::new(
            url::Url::parse(&format!("{api_base}/")).unwrap(),
            dir.path().join("unused-media-dir"),
        );
        let state = AppState::new(
            Arc::clone(&store),
            clock.shared(),
            client.clone(),
            api_pipeline,
            settings,
        );
        let (workspace, admin) = tokpost_api::bootstrap(store.as_ref(), clock.now())
            .await
            .unwrap()
            .unwrap();
        let app = tokpost_api::router(state).nest(
            PULL_ROUTE_PREFIX,
            pull_router(Arc::clone(api_media.store()), Arc::clone(&api_signer)),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });

        // The worker process: a separately constructed pipeline and store instance.
        let (worker_media, _) = access(shared.instance());
        let worker_pipeline = Pipeline::with_media(
            Arc::clone(&store),
            clock.shared(),
            client.clone(),
            PipelineConfig {
                publishing: policy,
                ..PipelineConfig::default()
            },
            Some(worker_media),
        );
        let worker = Worker::new(
            WorkerId::new("worker-machine:1:0"),
            Arc::clone(&store),
            clock.shared(),
            worker_pipeline.publisher(),
            WorkerSettings {
                first_backoff: Duration::from_secs(2),
                ..WorkerSettings::default()
            },
        );
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        let account = connect(&client, store.as_ref(), workspace.id, &clock).await;
        Self {
            clock,
            sandbox,
            store,
            workspace: workspace.id,
            api_base,
            api_key: admin.secret.expose_secret().to_owned(),
            api_signer,
            http,
            worker,
            account,
            shared,
            _dir: dir,
        }
    }

    /// `POST /v1/media` with the file's bytes, as a client would.
    async fn upload(&self, path: &Path) -> (MediaId, String) {
        let bytes = std::fs::read(path).unwrap();
        let response = self
            .http
            .post(format!("{}/v1/media", self.api_base))
            .bearer_auth(&self.api_key)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let body: serde_json::Value = response.json().await.unwrap();
        let id: MediaId = body["id"].as_str().unwrap().parse().unwrap();
        let location = self.store.media(id).await.unwrap().unwrap().location;
        (id, location)
    }

    /// `POST /v1/posts` for an uploaded video, with `video.source` when given.
    async fn schedule_video_via_api(&self, media: MediaId, source: Option<&str>) -> PostId {
        let mut video = serde_json::json!({
            "media_id": media.to_string(),
            "caption": "shared media #tokpost",
        });
        if let Some(source) = source {
            video["source"] = serde_json::json!(source);
        }
        let at = clock::add(self.clock.now(), Duration::from_secs(60));
        let response = self
            .http
            .post(format!("{}/v1/posts", self.api_base))
            .bearer_auth(&self.api_key)
            .json(&serde_json::json!({
                "account_id": self.account.to_string(),
                "privacy_level": "SELF_ONLY",
                "video": video,
                "scheduled_at": at.to_string(),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let body: serde_json::Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().parse().unwrap()
    }

    async fn schedule(&self, spec: PostSpec) -> PostId {
        let now = self.clock.now();
        self.store
            .create_post(
                NewPost {
                    workspace_id: self.workspace,
                    account_id: self.account,
                    spec: spec.validate().unwrap(),
                    scheduled_at: ScheduleTime::new(clock::add(now, Duration::from_secs(60)), now)
                        .unwrap(),
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

    /// Runs the worker and moves the clock to each next due job until the post is final. A
    /// pull runs in the sandbox on real sockets: before moving the clock past it, wait (in real
    /// time, bounded) until every publish has its bytes.
    async fn drive(&self, post: PostId) -> StateKind {
        for _ in 0..200 {
            while self.worker.run_once().await.unwrap() > 0 {}
            let state = self.store.post(post).await.unwrap().unwrap().state.kind();
            if state.is_final() {
                return state;
            }
            for _ in 0..500 {
                if self.sandbox.published().iter().all(|r| r.media_settled) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let Some(next) = self.store.next_due_at().await.unwrap() else {
                panic!("nothing queued, post {post} is {state:?}");
            };
            if next > self.clock.now() {
                self.clock.set(next);
            }
        }
        panic!("post {post} did not settle");
    }
}

/// Connects the sandbox's `ada.public` through the consent redirect and the code exchange.
async fn connect(
    client: &TikTokClient,
    store: &dyn Store,
    workspace: WorkspaceId,
    clock: &ManualClock,
) -> AccountId {
    let grant =
        tokpost_testkit::oauth::grant(client, "ada.public", tokpost_testkit::oauth::PUBLISHING)
            .await;
    let now = clock.now();
    store
        .connect_account(
            NewAccount {
                workspace_id: workspace,
                open_id: OpenId::new(grant.open_id.as_str()).unwrap(),
                display_name: "ada".to_owned(),
                avatar_url: None,
                scopes: grant
                    .scopes
                    .iter()
                    .map(|s| tokpost_core::Scope::new(s.as_str()).unwrap())
                    .collect::<BTreeSet<_>>(),
                tokens: AccountTokens {
                    access_token: SecretString::from(grant.access_token.expose_secret().to_owned()),
                    refresh_token: SecretString::from(
                        grant.refresh_token.expose_secret().to_owned(),
                    ),
                    access_token_expires_at: clock::add(now, grant.expires_in),
                    refresh_token_expires_at: clock::add(now, grant.refresh_expires_in),
                    granted_at: now,
                },
            },
            now,
        )
        .await
        .unwrap()
        .id
}

fn video(media: MediaId, source: UploadSource) -> PostSpec {
    PostSpec {
        content: PostContent::Video {
            media,
            caption: VideoCaption::new("shared media #tokpost").unwrap(),
            cover_timestamp_ms: None,
        },
        privacy: PrivacyLevel::SelfOnly,
        interactions: InteractionSettings::default(),
        brand_content: false,
        brand_organic: false,
        is_aigc: false,
        auto_add_music: false,
        mode: PostMode::Direct,
        source,
    }
}

/// Uploads through the API, publishes from the worker, and checks what the sandbox received.
async fn publish_an_upload(installation: &Installation, source: UploadSource, wire: &str) {
    let file = fixture("ok_720x1280_30fps_4s.mp4");
    let (media, location) = installation.upload(&file).await;
    let expected = sha256_of(&file);
    assert_eq!(
        location,
        format!("sha256/{expected}"),
        "the API records the store key, not a path on its disk"
    );
    let post = match source {
        // Through the API, as a client asks for it.
        UploadSource::PullFromUrl => {
            installation
                .schedule_video_via_api(media, Some("pull_from_url"))
                .await
        }
        UploadSource::FileUpload => installation.schedule_video_via_api(media, None).await,
    };
    let stored = installation.store.post(post).await.unwrap().unwrap();
    assert_eq!(stored.spec.source, source);
    assert_eq!(installation.drive(post).await, StateKind::Published);
    let records = installation.sandbox.published();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].source, wire);
    assert_eq!(
        records[0].received_sha256,
        vec![expected],
        "TikTok got exactly the uploaded bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_to_the_api_is_published_by_another_process_from_the_local_store() {
    let installation = Installation::start(Shared::local().await).await;
    publish_an_upload(&installation, UploadSource::FileUpload, "FILE_UPLOAD").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_to_the_api_is_published_by_another_process_from_s3() {
    let Some(shared) = Shared::s3().await else {
        return;
    };
    let installation = Installation::start(shared).await;
    publish_an_upload(&installation, UploadSource::FileUpload, "FILE_UPLOAD").await;
    let objects = installation.shared.describe_objects().await;
    let expected = format!(
        "install-1/media/sha256/{}",
        sha256_of(&fixture("ok_720x1280_30fps_4s.mp4"))
    );
    assert_eq!(
        objects,
        vec![expected],
        "one object, under the prefix, nothing left in incoming/"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiktok_pulls_an_uploaded_video_through_a_signed_url_from_the_local_store() {
    let installation = Installation::start(Shared::local().await).await;
    publish_an_upload(&installation, UploadSource::PullFromUrl, "PULL_FROM_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiktok_pulls_an_uploaded_video_through_a_signed_url_from_s3() {
    let Some(shared) = Shared::s3().await else {
        return;
    };
    let installation = Installation::start(shared).await;
    publish_an_upload(&installation, UploadSource::PullFromUrl, "PULL_FROM_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_photo_is_pulled_through_a_signed_url() {
    let installation = Installation::start(Shared::local().await).await;
    let file = fixture("photo_1080.jpg");
    let (media, _) = installation.upload(&file).await;
    let spec = PostSpec {
        content: PostContent::Photos {
            media: vec![media],
            cover_index: 0,
            title: PhotoTitle::new("shared photo").unwrap(),
            description: PhotoDescription::new("uploaded, then pulled").unwrap(),
        },
        ..video(media, UploadSource::PullFromUrl)
    };
    let post = installation.schedule(spec).await;
    assert_eq!(installation.drive(post).await, StateKind::Published);
    let records = installation.sandbox.published();
    assert_eq!(records[0].media, "photo");
    assert_eq!(records[0].received_sha256, vec![sha256_of(&file)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_url_serves_ranges_and_refuses_a_tampered_or_expired_signature() {
    let installation = Installation::start(Shared::local().await).await;
    let file = fixture("ok_720x1280_30fps_4s.mp4");
    let bytes = std::fs::read(&file).unwrap();
    let (_, location) = installation.upload(&file).await;
    let key = MediaKey::parse(&location).unwrap();
    let url = installation
        .api_signer
        .sign_valid_for(&key, Duration::from_secs(600));
    let http = &installation.http;

    let whole = http.get(url.clone()).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.content_length(), Some(bytes.len() as u64));
    assert_eq!(whole.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let part = http
        .get(url.clone())
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100-199/{}", bytes.len())
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[100..200]);

    let mut tampered = url.clone();
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "signature" {
                let mut flipped = v.into_owned();
                let last = if flipped.ends_with('0') { "1" } else { "0" };
                flipped.replace_range(flipped.len() - 1.., last);
                flipped
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(query);
    assert_eq!(http.get(tampered).send().await.unwrap().status(), 403);

    let mut other_object = url.clone();
    other_object.set_path(&format!("{PULL_ROUTE_PREFIX}/sha256/{}", "0".repeat(64)));
    assert_eq!(
        http.get(other_object).send().await.unwrap().status(),
        403,
        "a signature is for one object only"
    );

    installation.clock.advance(Duration::from_secs(601));
    let expired = http.get(url).send().await.unwrap();
    assert_eq!(expired.status(), 403);
    assert!(expired.text().await.unwrap().contains("expired"));
}
