//! Crash safety with real processes: `tokpost worker` processes publish hundreds of posts while
//! the test kills them with SIGKILL at random moments and starts new ones. At the end every
//! post is final and TikTok (the sandbox, on loopback) completed exactly one publish per post:
//! no post lost, none published twice. On SQLite (one worker process at a time, as SQLite
//! serves one process) and on a real PostgreSQL with two worker processes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use clock::SystemClock;
use secrecy::ExposeSecret as _;
use secrecy::SecretString;
use tiktok::{AuthorizationCallback, AuthorizeRequest, Scope, TikTokClient, TikTokConfig};
use tiktok_sandbox::{CreatorConfig, Delay, Sandbox, SandboxConfig, SandboxHandle};
use tokio::net::TcpListener;
use tokpost_core::{
    InteractionSettings, OpenId, PostContent, PostId, PostMode, PostSpec, PrivacyLevel,
    ScheduleTime, StateKind, UploadSource, VideoCaption,
};
use tokpost_store::{
    AccountTokens, MediaKind, NewAccount, NewMediaAsset, NewPost, Store, TokenCipher,
};

// At most 5 posts per account: TikTok's 6 inits per minute per token then never delay a post.
const ACCOUNTS: usize = 40;
const POSTS_PER_ACCOUNT: usize = 5;

struct World {
    sandbox: SandboxHandle,
    store: Arc<dyn Store>,
    database_url: String,
    token_key: String,
    client_key: String,
    client_secret: String,
    dir: tempfile::TempDir,
    posts: Vec<PostId>,
}

async fn world(database_url: String, dir: tempfile::TempDir) -> World {
    let clock = SystemClock::shared();
    let creators = (0..ACCOUNTS)
        .map(|n| CreatorConfig {
            open_id: format!("-000Crash{n:04}_OpenId_000000000000"),
            username: format!("crash.{n}"),
            nickname: format!("Crash {n}"),
            daily_post_cap: 1_000,
            ..CreatorConfig::default()
        })
        .collect();
    let config = SandboxConfig {
        creators,
        processing_delay: Delay::Fixed { ms: 300 },
        moderation_delay: Delay::Fixed { ms: 300 },
        ..SandboxConfig::default()
    };
    let app = config.apps[0].clone();
    let sandbox = Sandbox::start(
        config,
        Arc::clone(&clock),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        None,
    )
    .await
    .unwrap();
    let client = TikTokClient::new(
        TikTokConfig::production(
            app.client_key.clone(),
            SecretString::from(app.client_secret.expose().to_owned()),
            "http://127.0.0.1:9/callback",
        )
        .unwrap()
        .with_base_urls(sandbox.api_base_url(), sandbox.authorize_base_url()),
        Arc::clone(&clock),
    )
    .unwrap();
    let token_key = TokenCipher::generate_key().unwrap();
    let store = tokpost_store::open(&database_url, TokenCipher::from_base64(&token_key).unwrap())
        .await
        .unwrap();
    let workspace = store
        .create_workspace("crash", clock.now())
        .await
        .unwrap()
        .id;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut accounts = Vec::new();
    for n in 0..ACCOUNTS {
        let mut url = client
            .authorize_url(&AuthorizeRequest {
                scopes: &[Scope::UserInfoBasic, Scope::VideoPublish],
                state: "crash",
                disable_auto_auth: None,
                pkce: None,
            })
            .unwrap();
        url.query_pairs_mut()
            .append_pair("sandbox_creator", &format!("crash.{n}"));
        let answer = http.get(url).send().await.unwrap();
        let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
        let callback = AuthorizationCallback::from_query(location.query().unwrap()).unwrap();
        let grant = client.exchange_code(&callback.code, None).await.unwrap();
        let now = clock.now();
        let account = store
            .connect_account(
                NewAccount {
                    workspace_id: workspace,
                    open_id: OpenId::new(grant.open_id.as_str()).unwrap(),
                    display_name: format!("crash.{n}"),
                    avatar_url: None,
                    scopes: grant
                        .scopes
                        .iter()
                        .map(|s| tokpost_core::Scope::new(s.as_str()).unwrap())
                        .collect::<BTreeSet<_>>(),
                    tokens: AccountTokens {
                        access_token: SecretString::from(
                            grant.access_token.expose_secret().to_owned(),
                        ),
                        refresh_token: SecretString::from(
                            grant.refresh_token.expose_secret().to_owned(),
                        ),
                        access_token_expires_at: clock::add(now, grant.expires_in),
                        refresh_token_expires_at: clock::add(now, grant.refresh_expires_in),
                    },
                },
                now,
            )
            .await
            .unwrap();
        accounts.push(account.id);
    }
    // A video of several chunks' worth would make uploads the likeliest place to die; a small
    // one keeps the test quick while init, upload and status are all still interrupted.
    let video = dir.path().join("clip.mp4");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tiktok-sandbox/tests/fixtures/ok_720x1280_30fps_4s.mp4"),
        &video,
    )
    .unwrap();
    let media = store
        .add_media(
            NewMediaAsset {
                workspace_id: workspace,
                kind: MediaKind::Video,
                content_hash: media::hash_file(&video).unwrap().to_hex(),
                size_bytes: std::fs::metadata(&video).unwrap().len(),
                location: video.display().to_string(),
                probe: serde_json::json!({ "container": "mp4" }),
            },
            clock.now(),
        )
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut posts = Vec::new();
    for round in 0..POSTS_PER_ACCOUNT {
        for (n, account) in accounts.iter().enumerate() {
            let now = clock.now();
            let at = clock::add(now, Duration::from_millis(200 * round as u64));
            let post = store
                .create_post(
                    NewPost {
                        workspace_id: workspace,
                        account_id: *account,
                        spec: PostSpec {
                            content: PostContent::Video {
                                media,
                                caption: VideoCaption::new(format!("crash {n}-{round}")).unwrap(),
                                cover_timestamp_ms: None,
                            },
                            privacy: PrivacyLevel::SelfOnly,
                            interactions: InteractionSettings::default(),
                            brand_content: false,
                            brand_organic: false,
                            is_aigc: false,
                            auto_add_music: false,
                            mode: PostMode::Direct,
                            source: UploadSource::FileUpload,
                        },
                        scheduled_at: ScheduleTime::new(at, now).unwrap(),
                        idempotency_key: None,
                    },
                    now,
                )
                .await
                .unwrap()
                .into_inner();
            posts.push(post.id);
        }
    }
    World {
        sandbox,
        store,
        database_url,
        token_key: token_key.expose_secret().to_owned(),
        client_key: app.client_key.clone(),
        client_secret: app.client_secret.expose().to_owned(),
        dir,
        posts,
    }
}

impl World {
    fn spawn_worker(&self, name: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_tokpost"))
            .arg("worker")
            .env(
                "TOKPOST_LOG",
                std::env::var("TOKPOST_CRASH_TEST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .env("TOKPOST_DATA_DIR", self.dir.path().join(name))
            .env("TOKPOST_DATABASE_URL", &self.database_url)
            .env("TOKPOST_TOKEN_KEY", &self.token_key)
            .env("TOKPOST_TIKTOK__CLIENT_KEY", &self.client_key)
            .env("TOKPOST_TIKTOK__CLIENT_SECRET", &self.client_secret)
            .env(
                "TOKPOST_TIKTOK__API_BASE_URL",
                self.sandbox.api_base_url().as_str(),
            )
            .env(
                "TOKPOST_TIKTOK__AUTHORIZE_BASE_URL",
                self.sandbox.authorize_base_url().as_str(),
            )
            .env("TOKPOST_TIKTOK__AUDITED", "true")
            .env("TOKPOST_WORKERS__COUNT", "4")
            .env("TOKPOST_WORKERS__LEASE_SECS", "3")
            .env("TOKPOST_WORKERS__HEARTBEAT_SECS", "1")
            .env("TOKPOST_WORKERS__RETRY_FIRST_BACKOFF_SECS", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap())
            .spawn()
            .expect("tokpost worker starts")
    }

    async fn final_count(&self) -> usize {
        let mut done = 0;
        for id in &self.posts {
            let post = self.store.post(*id).await.unwrap().unwrap();
            done += usize::from(post.state.kind().is_final());
        }
        done
    }
}

/// A reproducible stream of numbers in [0, 1).
fn next_fraction(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    f64::from(u32::try_from(*state >> 40).unwrap()) / f64::from(1_u32 << 24)
}

async fn kill_workers_until_everything_is_published(world: &World, processes: usize, seed: u64) {
    let mut rng = seed;
    let mut workers: Vec<Child> = (0..processes)
        .map(|n| world.spawn_worker(&format!("w{n}")))
        .collect();
    let mut kills = 0;
    let mut generation = processes;
    // A deadlock guard, not a timing assertion: the work takes a few seconds.
    for _ in 0..400 {
        let pause = Duration::from_millis(200 + (next_fraction(&mut rng) * 1_300.0) as u64);
        tokio::time::sleep(pause).await;
        let done = world.final_count().await;
        if done == world.posts.len() {
            break;
        }
        eprintln!(
            "crash test: {done}/{} posts final, {kills} kills",
            world.posts.len()
        );
        if kills < 12 {
            let victim = (next_fraction(&mut rng) * workers.len() as f64) as usize % workers.len();
            let mut child = workers.swap_remove(victim);
            child.kill().expect("SIGKILL a worker");
            child.wait().unwrap();
            kills += 1;
            workers.push(world.spawn_worker(&format!("w{generation}")));
            generation += 1;
        }
    }
    for mut child in workers {
        let _ = child.kill();
        let _ = child.wait();
    }
    for id in &world.posts {
        let post = world.store.post(*id).await.unwrap().unwrap();
        if !post.state.kind().is_final() {
            let events = world.store.post_events(*id).await.unwrap();
            eprintln!("--- a post left in {:?}:", post.state);
            for event in events {
                eprintln!("  {} {:?} {}", event.at, event.kind, event.message);
            }
            break;
        }
    }
    if world.final_count().await < world.posts.len() {
        for n in 0..generation {
            let log = std::fs::read_to_string(world.dir.path().join(format!("w{n}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            eprintln!(
                "--- worker w{n} (last lines, newest first)\n{}",
                tail.join("\n")
            );
        }
    }
    assert!(kills >= 5, "the test killed only {kills} workers");

    let mut states: HashMap<StateKind, usize> = HashMap::new();
    for id in &world.posts {
        let post = world.store.post(*id).await.unwrap().unwrap();
        *states.entry(post.state.kind()).or_default() += 1;
    }
    assert_eq!(
        states.get(&StateKind::Published).copied().unwrap_or(0),
        world.posts.len(),
        "every post published: {states:?}"
    );
    let mut completed_by_title: HashMap<String, usize> = HashMap::new();
    for record in world.sandbox.published() {
        if record.status == "PUBLISH_COMPLETE" {
            *completed_by_title
                .entry(record.title.clone().unwrap_or_default())
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = completed_by_title.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "published twice: {twice:?}");
    assert_eq!(
        completed_by_title.len(),
        world.posts.len(),
        "TikTok completed one publish per post"
    );
    for id in &world.posts {
        let post = world.store.post(*id).await.unwrap().unwrap();
        let publish_id = post
            .progress
            .publish_id
            .expect("a publish id")
            .as_str()
            .to_owned();
        let record = world
            .sandbox
            .published()
            .into_iter()
            .find(|record| record.publish_id == publish_id)
            .expect("the stored publish id is TikTok's");
        assert_eq!(record.status, "PUBLISH_COMPLETE");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_sqlite_workers_publish_every_post_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tokpost.db").display()
    );
    let world = world(url, dir).await;
    kill_workers_until_everything_is_published(&world, 1, 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_postgres_workers_publish_every_post_exactly_once() {
    let server = tokpost_store::testing::PostgresServer::start()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for this test: {e}"));
    let url = server.fresh_database().await.unwrap();
    let world = world(url, tempfile::tempdir().unwrap()).await;
    kill_workers_until_everything_is_published(&world, 2, 29).await;
}
