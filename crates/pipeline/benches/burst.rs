//! The burst benchmark: N posts for N sandbox accounts, all due in the same second, published
//! by the pipeline on the real clock against the in-process sandbox. Prints p50/p99/max lateness
//! from the scheduled instant to the init request, and the time until every post is published,
//! beside the issue's target (p99 under 1 s).
//!
//! ```text
//! cargo bench -p tokpost-pipeline --bench burst                      # 10,000 posts, SQLite
//! BURST_POSTS=2000 BURST_BACKEND=postgres BURST_WORKERS=32 cargo bench -p tokpost-pipeline --bench burst
//! ```
//!
//! `BURST_BACKEND=postgres` starts a private PostgreSQL 15 server (the store's test harness).
//! Workers run in this process (`BURST_WORKERS`, default 32); each serves one account at a time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_precision_loss,
    clippy::print_stdout
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use clock::{SystemClock, Timestamp};
use futures_util::StreamExt;
use secrecy::SecretString;
use tiktok::{AuthorizationCallback, AuthorizeRequest, Scope, TikTokClient, TikTokConfig};
use tiktok_sandbox::{CreatorConfig, Delay, Sandbox, SandboxConfig};
use tokio::net::TcpListener;
use tokpost_core::{
    EventKind, InteractionSettings, OpenId, PostContent, PostMode, PostSpec, PrivacyLevel,
    ScheduleTime, StateKind, UploadSource, VideoCaption,
};
use tokpost_pipeline::{Pipeline, PipelineConfig, PublishPolicy, StatusPolling, WorkerSettings};
use tokpost_store::{AccountTokens, MediaKind, NewAccount, NewMediaAsset, NewPost, TokenCipher};

const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let posts = env_number("BURST_POSTS", 10_000);
    let workers = env_number("BURST_WORKERS", 32);
    let backend = std::env::var("BURST_BACKEND").unwrap_or_else(|_| "sqlite".to_owned());
    let clock = SystemClock::shared();

    let creators: Vec<CreatorConfig> = (0..posts)
        .map(|n| CreatorConfig {
            open_id: format!("-000Burst{n:07}_OpenId_0000000000"),
            username: format!("burst.{n}"),
            nickname: format!("Burst {n}"),
            ..CreatorConfig::default()
        })
        .collect();
    let sandbox_config = SandboxConfig {
        creators,
        processing_delay: Delay::Fixed { ms: 1_000 },
        moderation_delay: Delay::Fixed { ms: 1_000 },
        max_retained_publishes: posts * 2,
        ..SandboxConfig::default()
    };
    let app = sandbox_config.apps[0].clone();
    let sandbox = Sandbox::start(
        sandbox_config,
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
            REDIRECT_URI,
        )
        .unwrap()
        .with_base_urls(sandbox.api_base_url(), sandbox.authorize_base_url()),
        Arc::clone(&clock),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut _postgres = None;
    let url = if backend == "postgres" {
        let server = tokpost_store::testing::PostgresServer::start()
            .await
            .unwrap();
        let url = server.fresh_database().await.unwrap();
        _postgres = Some(server);
        url
    } else {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("burst.db").display()
        )
    };
    let cipher = TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap();
    let store = tokpost_store::open(&url, cipher).await.unwrap();
    let workspace = store
        .create_workspace("burst", clock.now())
        .await
        .unwrap()
        .id;

    let setup_started = clock.now();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let accounts: Vec<_> = futures_util::stream::iter(0..posts)
        .map(|n| {
            let (client, http, store) = (client.clone(), http.clone(), Arc::clone(&store));
            let clock = Arc::clone(&clock);
            async move {
                let mut url = client
                    .authorize_url(&AuthorizeRequest {
                        scopes: &[Scope::UserInfoBasic, Scope::VideoPublish],
                        state: "burst",
                        disable_auto_auth: None,
                        pkce: None,
                    })
                    .unwrap();
                url.query_pairs_mut()
                    .append_pair("sandbox_creator", &format!("burst.{n}"));
                let answer = http.get(url).send().await.unwrap();
                let location =
                    url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
                let callback =
                    AuthorizationCallback::from_query(location.query().unwrap()).unwrap();
                let grant = client.exchange_code(&callback.code, None).await.unwrap();
                let now = clock.now();
                store
                    .connect_account(
                        NewAccount {
                            workspace_id: workspace,
                            open_id: OpenId::new(grant.open_id.as_str()).unwrap(),
                            display_name: format!("burst.{n}"),
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
                    .unwrap()
                    .id
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;

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

    // Every post due at the same whole second, far enough ahead to store them all first.
    let due =
        Timestamp::from_second(clock.now().as_second() + 10 + (posts as i64) / 1_000).unwrap();
    let mut post_ids = Vec::with_capacity(posts);
    for (n, account) in accounts.iter().enumerate() {
        let now = clock.now();
        let spec = PostSpec {
            content: PostContent::Video {
                media,
                caption: VideoCaption::new(format!("burst {n}")).unwrap(),
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
        };
        let post = store
            .create_post(
                NewPost {
                    workspace_id: workspace,
                    account_id: *account,
                    spec,
                    scheduled_at: ScheduleTime::new(due, now).unwrap(),
                    idempotency_key: None,
                },
                now,
            )
            .await
            .unwrap()
            .into_inner();
        post_ids.push(post.id);
    }
    let setup = clock.now().duration_since(setup_started);
    assert!(
        clock.now() < due,
        "setup overran the due second; raise the lead time"
    );

    let pipeline = Pipeline::new(
        Arc::clone(&store),
        Arc::clone(&clock),
        client,
        PipelineConfig {
            workers,
            worker: WorkerSettings {
                batch: 4,
                idle_poll: Duration::from_secs(1),
                ..WorkerSettings::default()
            },
            publishing: PublishPolicy {
                status_polling: StatusPolling {
                    first: Duration::from_secs(1),
                    max: Duration::from_secs(5),
                    ..StatusPolling::default()
                },
                ..PublishPolicy::audited()
            },
            ..PipelineConfig::default()
        },
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let handles = pipeline.spawn("burst", shutdown);

    let all_final_at = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (counts, _) = store.post_state_counts().await.unwrap();
        let final_posts: u64 = counts
            .iter()
            .filter(|(kind, _)| kind.is_final())
            .map(|(_, n)| n)
            .sum();
        if final_posts >= posts as u64 {
            break clock.now();
        }
    };
    let _ = stop.send(true);
    for handle in handles {
        let _ = handle.await;
    }

    let mut lateness_ms = Vec::with_capacity(posts);
    let mut published = 0;
    for id in &post_ids {
        let post = store.post(*id).await.unwrap().unwrap();
        published += usize::from(post.state.kind() == StateKind::Published);
        let events = store.post_events(*id).await.unwrap();
        if let Some(init) = events
            .iter()
            .find(|event| event.kind == EventKind::InitRequested)
        {
            lateness_ms.push(init.at.duration_since(due).as_secs_f64() * 1_000.0);
        }
    }
    lateness_ms.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        let index = ((lateness_ms.len() as f64 - 1.0) * q).round() as usize;
        lateness_ms.get(index).copied().unwrap_or(f64::NAN)
    };
    let total = all_final_at.duration_since(due);
    let p99 = pick(0.99);
    println!(
        "burst: {posts} posts for {posts} accounts due at one second, backend {backend}, {workers} in-process workers"
    );
    println!(
        "  setup (connect accounts, schedule posts): {:.1} s",
        setup.as_secs_f64()
    );
    println!(
        "  lateness, due → init request: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} inits)",
        pick(0.5),
        p99,
        pick(1.0),
        lateness_ms.len()
    );
    println!(
        "  due → every post final: {:.1} s ({published} published, {:.0} posts/s)",
        total.as_secs_f64(),
        posts as f64 / total.as_secs_f64()
    );
    println!(
        "  target p99 < 1000 ms: {}",
        if p99 < 1_000.0 { "met" } else { "NOT met" }
    );
}
