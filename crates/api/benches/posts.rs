//! Load generator on loopback: create-post and get-post throughput and latency percentiles
//! through the real server on SQLite (issue 5's target: 500 creates/s at p99 under 10 ms).
//!
//! ```text
//! cargo bench -p tokpost-api --bench posts
//! ```
//!
//! Not a criterion bench: the figure that matters is latency under concurrent load, so it sends
//! `REQUESTS` requests from `BENCH_CONCURRENCY` (default 16) clients at once and reports throughput, p50 and p99.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::disallowed_methods // a benchmark measures real elapsed time
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};
use tiktok::{TikTokClient, TikTokConfig};
use tokio::net::TcpListener;
use tokpost_api::{ApiSettings, AppState};
use tokpost_core::{OpenId, Scope};
use tokpost_pipeline::{Pipeline, PipelineConfig};
use tokpost_store::{AccountTokens, MediaKind, NewAccount, NewMediaAsset, TokenCipher};

const REQUESTS: usize = 4_000;
/// Concurrent clients; `BENCH_CONCURRENCY` overrides it.
const DEFAULT_CONCURRENCY: usize = 16;

fn concurrency() -> usize {
    tokpost_testkit::bench::env_number("BENCH_CONCURRENCY", DEFAULT_CONCURRENCY)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock::SystemClock::shared();
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
    let now = clock.now();
    let account = store
        .connect_account(
            NewAccount {
                workspace_id: workspace.id,
                open_id: OpenId::new("bench-creator").unwrap(),
                display_name: "bench".into(),
                avatar_url: None,
                scopes: Scope::parse_list("user.info.basic,video.publish").unwrap(),
                tokens: AccountTokens {
                    access_token: SecretString::from("act.bench"),
                    refresh_token: SecretString::from("rft.bench"),
                    access_token_expires_at: now + jiff::SignedDuration::from_hours(24),
                    refresh_token_expires_at: now + jiff::SignedDuration::from_hours(24 * 365),
                    granted_at: now,
                },
            },
            now,
        )
        .await
        .unwrap();
    let media = store
        .add_media(
            NewMediaAsset {
                workspace_id: workspace.id,
                kind: MediaKind::Video,
                content_hash: "00".repeat(32),
                size_bytes: 1,
                location: dir.path().join("video.mp4").display().to_string(),
                probe: json!({}),
            },
            now,
        )
        .await
        .unwrap()
        .into_inner();
    // TikTok is never called while posts are created and read; the client points nowhere.
    let config = TikTokConfig::production(
        "bench",
        SecretString::from("bench"),
        "http://127.0.0.1:9/cb",
    )
    .unwrap()
    .with_base_urls(
        url::Url::parse("http://127.0.0.1:9/").unwrap(),
        url::Url::parse("http://127.0.0.1:9/").unwrap(),
    );
    let client = TikTokClient::new(config, Arc::clone(&clock)).unwrap();
    let pipeline = Pipeline::new(
        Arc::clone(&store),
        Arc::clone(&clock),
        client.clone(),
        PipelineConfig::default(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings = ApiSettings::new(
        url::Url::parse(&format!("{base}/")).unwrap(),
        dir.path().join("media"),
    );
    let state = AppState::new(Arc::clone(&store), clock, client, pipeline, settings);
    tokio::spawn(tokpost_api::serve(listener, state, std::future::pending()));

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency())
        .build()
        .unwrap();
    let secret = key.secret.expose_secret().to_owned();
    let body = json!({
        "account_id": account.id,
        "video": {"media_id": media.id, "caption": "benchmark #tokpost"},
        "privacy_level": "SELF_ONLY",
        "scheduled_at": (now + jiff::SignedDuration::from_hours(48)).to_string(),
    });

    let (created, elapsed, latencies) = load(concurrency(), REQUESTS, |i| {
        let request = http
            .post(format!("{base}/v1/posts"))
            .bearer_auth(&secret)
            .header("Idempotency-Key", format!("bench-{i}"))
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::CREATED);
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    })
    .await;
    report("create post", elapsed, &latencies);

    let ids = Arc::new(created);
    let (_, elapsed, latencies) = load(concurrency(), REQUESTS, |i| {
        let request = http
            .get(format!("{base}/v1/posts/{}", ids[i % ids.len()]))
            .bearer_auth(&secret);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            response.bytes().await.unwrap();
        }
    })
    .await;
    report("get post", elapsed, &latencies);
    let distinct: BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), REQUESTS, "every create made one post");
}

/// Runs `total` requests from `concurrency` tasks; returns their results, the wall time and every
/// request's latency.
async fn load<T, F, Fut>(
    concurrency: usize,
    total: usize,
    make: F,
) -> (Vec<T>, Duration, Vec<Duration>)
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let make = Arc::new(make);
    for _ in 0..concurrency {
        let next = Arc::clone(&next);
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= total {
                break;
            }
            mine.push((i, make(i)));
            if mine.len() >= total.div_ceil(concurrency) {
                break;
            }
        }
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(mine.len());
            for (i, request) in mine {
                let sent = Instant::now();
                let result = request.await;
                out.push((i, result, sent.elapsed()));
            }
            out
        }));
    }
    let mut results = Vec::with_capacity(total);
    for task in tasks {
        results.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    results.sort_by_key(|(i, _, _)| *i);
    let latencies = results.iter().map(|(_, _, latency)| *latency).collect();
    (
        results.into_iter().map(|(_, result, _)| result).collect(),
        elapsed,
        latencies,
    )
}

fn report(what: &str, elapsed: Duration, latencies: &[Duration]) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let percentile = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    println!(
        "{what}: {} requests, {} concurrent, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        sorted.len(),
        concurrency(),
        sorted.len() as f64 / elapsed.as_secs_f64(),
        percentile(0.50).as_secs_f64() * 1e3,
        percentile(0.99).as_secs_f64() * 1e3,
        sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
}
