//! The service process as a deployment runs it: `tokpost serve` (API, dashboard and workers)
//! over SQLite, with TikTok being the in-test sandbox.
//!
//! - Memory: resident memory when idle with 0, 10,000 and 100,000 connected accounts in the
//!   store, the time until it answers, and what listing every account costs.
//! - API: create-post and get-post throughput and latency under `wrk` (which must be on the
//!   PATH: `apt-get install wrk`) at 1, 16 and 64 connections, every answer checked to be a 2xx.
//!
//! ```text
//! cargo bench -p tokpost --bench service
//! SERVICE_ACCOUNTS=0,1000 SERVICE_CONNECTIONS=1,8 SERVICE_WRK_SECS=5 cargo bench -p tokpost --bench service
//! ```
//!
//! `SERVICE_RUNS` repeats each measurement under wrk (default 1). With
//! `TOKPOST_PERF_MARKDOWN=FILE` both tables are also written to FILE as a section of
//! docs/PERFORMANCE.md, each wrk figure the median of its runs with their range.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_precision_loss,
    clippy::print_stdout,
    clippy::disallowed_methods // a benchmark measures real elapsed time
)]

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tokpost_testkit::bench::{by_key, spread_text};

use futures_util::StreamExt as _;
use secrecy::SecretString;
use serde_json::{Value, json};
use support::{Database, Fleet, resident_kib};
use tiktok_sandbox::SandboxConfig;
use tokpost_core::{AccountId, OpenId, Scope};
use tokpost_store::{AccountTokens, MediaKind, NewAccount, NewMediaAsset};

/// How long an idle process is left alone before its memory is read: long enough for the
/// workers' first passes (token keeper, queue, heartbeats) over every account.
const SETTLE: Duration = Duration::from_secs(10);
/// Accounts the posts of the API measurement are spread over.
const API_ACCOUNTS: usize = 1_000;

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            item.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: a comma-separated list of numbers"))
        })
        .collect()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let wrk_available = Command::new("wrk").arg("--version").output().is_ok();
    assert!(
        wrk_available,
        "wrk is not on the PATH; install it (apt-get install wrk)"
    );
    let memory: Vec<Memory> = {
        let mut rows = Vec::new();
        for accounts in env_list("SERVICE_ACCOUNTS", "0,10000,100000") {
            let row = idle_memory(accounts).await;
            println!(
                "memory: {} accounts: answers after {:.2} s, idle RSS {:.0} MiB, after listing every account {:.0} MiB ({:.0} ms, {} KiB), peak {:.0} MiB",
                row.accounts,
                row.startup.as_secs_f64(),
                row.idle_mib,
                row.after_list_mib,
                row.list_time.as_secs_f64() * 1_000.0,
                row.list_bytes / 1024,
                row.peak_mib
            );
            rows.push(row);
        }
        rows
    };
    let api = api_under_wrk().await;
    for row in &api {
        println!(
            "api: {} with {} connection(s): {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} requests, store holding {} posts, server peak RSS {:.0} MiB",
            row.operation,
            row.connections,
            row.requests_per_sec,
            row.p50_ms,
            row.p99_ms,
            row.requests,
            row.posts_in_store,
            row.server_peak_mib
        );
    }
    if let Ok(path) = std::env::var("TOKPOST_PERF_MARKDOWN") {
        std::fs::write(&path, markdown(&memory, &api)).unwrap();
    }
}

/// One idle process's memory with `accounts` in its store.
struct Memory {
    accounts: usize,
    startup: Duration,
    idle_mib: f64,
    after_list_mib: f64,
    peak_mib: f64,
    list_time: Duration,
    list_bytes: usize,
}

/// A fleet whose seeded accounts only exist in the store (the sandbox wants one creator; their
/// tokens are valid for a day, so the token keeper has nothing to refresh yet).
async fn quiet_fleet() -> Fleet {
    let mut fleet = Fleet::start(1, Database::Sqlite, SandboxConfig::default()).await;
    fleet.extra_env = vec![("TOKPOST_LOG".to_owned(), "warn".to_owned())];
    fleet
}

async fn seed_accounts(fleet: &Fleet, count: usize) -> Vec<AccountId> {
    futures_util::stream::iter(0..count)
        .map(|n| {
            let store = std::sync::Arc::clone(&fleet.store);
            let (workspace, now) = (fleet.workspace, fleet.clock.now());
            async move {
                store
                    .connect_account(
                        NewAccount {
                            workspace_id: workspace,
                            open_id: OpenId::new(format!("-000Bench{n:07}_OpenId")).unwrap(),
                            display_name: format!("bench.{n}"),
                            avatar_url: None,
                            scopes: Scope::parse_list("user.info.basic,video.publish").unwrap(),
                            tokens: AccountTokens {
                                access_token: SecretString::from(format!("act.bench.{n}")),
                                refresh_token: SecretString::from(format!("rft.bench.{n}")),
                                access_token_expires_at: now + jiff::SignedDuration::from_hours(24),
                                refresh_token_expires_at: now
                                    + jiff::SignedDuration::from_hours(24 * 365),
                                granted_at: now,
                            },
                        },
                        now,
                    )
                    .await
                    .unwrap()
                    .id
            }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

async fn api_key(fleet: &Fleet) -> String {
    tokpost_api::issue_key(
        fleet.store.as_ref(),
        fleet.workspace,
        "bench",
        tokpost_core::Role::Owner,
        fleet.clock.now(),
    )
    .await
    .unwrap()
    .secret
    .expose_secret()
    .to_owned()
}

/// Starts `tokpost serve` with its workers; returns it and its base URL without the final `/`.
fn spawn_service(fleet: &Fleet) -> (Child, String) {
    let (child, base) = fleet.spawn_serve(true);
    (child, base.trim_end_matches('/').to_owned())
}

/// Waits for `/healthz` and returns how long the process took to answer.
async fn wait_until_answering(base: &str, started: Instant) -> Duration {
    let http = reqwest::Client::new();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{base}/healthz did not answer 200 within 60 s"
        );
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|answer| answer.status().is_success())
        {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stop(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn idle_memory(accounts: usize) -> Memory {
    let fleet = quiet_fleet().await;
    seed_accounts(&fleet, accounts).await;
    let key = api_key(&fleet).await;
    let started = Instant::now();
    let (child, base) = spawn_service(&fleet);
    let startup = wait_until_answering(&base, started).await;
    tokio::time::sleep(SETTLE).await;
    let (idle_kib, _) = resident_kib(child.id()).unwrap();
    // Every account, through the paged listing (200 a page), as the CLI and dashboard read it.
    let listing = Instant::now();
    let http = reqwest::Client::new();
    let (mut listed, mut list_bytes) = (0, 0);
    let mut path = "/v1/accounts?limit=200".to_owned();
    loop {
        let answer = http
            .get(format!("{base}{path}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "listing accounts: {answer:?}");
        let body = answer.bytes().await.unwrap();
        list_bytes += body.len();
        let page: Value = serde_json::from_slice(&body).unwrap();
        listed += page["accounts"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/accounts?limit=200&cursor={cursor}"),
            None => break,
        }
    }
    let list_time = listing.elapsed();
    assert_eq!(listed, accounts, "the API lists every seeded account");
    let (after_list_kib, peak_kib) = resident_kib(child.id()).unwrap();
    stop(child);
    Memory {
        accounts,
        startup,
        idle_mib: mib(idle_kib),
        after_list_mib: mib(after_list_kib),
        peak_mib: mib(peak_kib),
        list_time,
        list_bytes,
    }
}

/// One `wrk` run's figures.
struct ApiRun {
    operation: &'static str,
    connections: usize,
    requests: u64,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    posts_in_store: u64,
    server_peak_mib: f64,
}

/// The lua body both scripts share: the report line `done` prints for this bench to parse, and
/// the count of non-2xx answers (which `wrk` counts but a script must surface).
const WRK_REPORT: &str = r#"
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("TOKPOST requests=%d duration_us=%d failures=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#;

fn lua_list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("\"{item}\""))
        .collect::<Vec<_>>()
        .join(",")
}

fn create_script(key: &str, accounts: &[String], media: &str, at: &str) -> String {
    format!(
        r#"
local accounts = {{{accounts}}}
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{{"account_id":"%s","video":{{"media_id":"{media}","caption":"wrk %d #tokpost"}},"privacy_level":"SELF_ONLY","scheduled_at":"{at}"}}',
    accounts[(counter % #accounts) + 1], counter)
  return wrk.format("POST", "/v1/posts",
    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}}, body)
end
{WRK_REPORT}"#,
        accounts = lua_list(accounts)
    )
}

fn get_script(key: &str, posts: &[String]) -> String {
    format!(
        r#"
local posts = {{{posts}}}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/posts/" .. posts[(counter % #posts) + 1],
    {{["Authorization"] = "Bearer {key}"}})
end
{WRK_REPORT}"#,
        posts = lua_list(posts)
    )
}

/// Runs `wrk` with `script` against `base` and parses the script's report line.
fn wrk(
    dir: &std::path::Path,
    script: &str,
    base: &str,
    connections: usize,
    seconds: usize,
) -> (u64, f64, f64, f64) {
    let path = dir.join("bench.lua");
    std::fs::write(&path, script).unwrap();
    let output = Command::new("wrk")
        .args([
            "--threads",
            &connections.min(2).to_string(),
            "--connections",
            &connections.to_string(),
            "--duration",
            &format!("{seconds}s"),
            "--timeout",
            "10s",
            "--script",
        ])
        .arg(&path)
        .arg(base)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: BTreeMap<&str, u64> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("TOKPOST "))
        .unwrap_or_else(|| panic!("wrk gave no report: {stdout}"))
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name, value.parse().unwrap()))
        .collect();
    assert_eq!(
        report["failures"], 0,
        "wrk saw failed or non-2xx answers: {stdout}"
    );
    let requests = report["requests"];
    (
        requests,
        requests as f64 / (report["duration_us"] as f64 / 1e6),
        report["p50_us"] as f64 / 1_000.0,
        report["p99_us"] as f64 / 1_000.0,
    )
}

/// One `wrk` run of `script` and what the store and the server look like after it.
async fn measure(
    fleet: &Fleet,
    server: &Child,
    operation: &'static str,
    script: &str,
    base: &str,
    connections: usize,
    seconds: usize,
) -> ApiRun {
    let (requests, requests_per_sec, p50_ms, p99_ms) =
        wrk(fleet.dir.path(), script, base, connections, seconds);
    ApiRun {
        operation,
        connections,
        requests,
        requests_per_sec,
        p50_ms,
        p99_ms,
        posts_in_store: post_count(fleet).await,
        server_peak_mib: mib(resident_kib(server.id()).unwrap().1),
    }
}

async fn post_count(fleet: &Fleet) -> u64 {
    let (counts, _) = fleet.store.post_state_counts().await.unwrap();
    counts.iter().map(|(_, n)| n).sum()
}

async fn api_under_wrk() -> Vec<ApiRun> {
    let fleet = quiet_fleet().await;
    let accounts: Vec<String> = seed_accounts(&fleet, API_ACCOUNTS)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    let key = api_key(&fleet).await;
    let now = fleet.clock.now();
    // Creating a post reads the media's record, never its bytes.
    let media = fleet
        .store
        .add_media(
            NewMediaAsset {
                workspace_id: fleet.workspace,
                kind: MediaKind::Video,
                content_hash: "00".repeat(32),
                size_bytes: 1,
                location: fleet.dir.path().join("video.mp4").display().to_string(),
                probe: json!({}),
            },
            now,
        )
        .await
        .unwrap()
        .into_inner()
        .id
        .to_string();
    // Two days ahead: the workers stay idle while the API is measured.
    let at = (now + jiff::SignedDuration::from_hours(48)).to_string();
    let (child, base) = spawn_service(&fleet);
    wait_until_answering(&base, Instant::now()).await;
    let connections = env_list("SERVICE_CONNECTIONS", "1,16,64");
    let seconds = env_list("SERVICE_WRK_SECS", "10")
        .first()
        .copied()
        .unwrap_or(10);
    let repeats = tokpost_testkit::bench::env_number("SERVICE_RUNS", 1);
    // Each count's runs follow one another (a run's posts stay for the next one).
    let connections: Vec<usize> = connections
        .iter()
        .flat_map(|&count| std::iter::repeat_n(count, repeats))
        .collect();
    let mut runs = Vec::new();
    let create = create_script(&key, &accounts, &media, &at);
    for &connections in &connections {
        runs.push(
            measure(
                &fleet,
                &child,
                "create post",
                &create,
                &base,
                connections,
                seconds,
            )
            .await,
        );
    }
    let page: Value = reqwest::Client::new()
        .get(format!("{base}/v1/posts?limit=200"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let posts: Vec<String> = page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|post| post["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!posts.is_empty(), "the creates left posts to read");
    let get = get_script(&key, &posts);
    for &connections in &connections {
        runs.push(
            measure(
                &fleet,
                &child,
                "get post",
                &get,
                &base,
                connections,
                seconds,
            )
            .await,
        );
    }
    stop(child);
    runs
}

fn markdown(memory: &[Memory], api: &[ApiRun]) -> String {
    let command = format!(
        "SERVICE_ACCOUNTS={} SERVICE_CONNECTIONS={} SERVICE_WRK_SECS={} SERVICE_RUNS={} cargo bench -p tokpost --bench service",
        std::env::var("SERVICE_ACCOUNTS").unwrap_or_else(|_| "0,10000,100000".to_owned()),
        std::env::var("SERVICE_CONNECTIONS").unwrap_or_else(|_| "1,16,64".to_owned()),
        std::env::var("SERVICE_WRK_SECS").unwrap_or_else(|_| "10".to_owned()),
        tokpost_testkit::bench::env_number("SERVICE_RUNS", 1),
    );
    let mut text = format!(
        "## Memory\n\n\
         `tokpost serve` (API, dashboard and workers in one process) over SQLite, left idle for \
         10 s after it first answers, with N connected accounts in the store; then one \
         listing of every account through `GET /v1/accounts`, 200 a page. \
         `{}`.\n\n\
         | accounts | first answer after | idle RSS | RSS after listing every account | listing time | listing size | peak RSS |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n",
        command
    );
    for row in memory {
        text.push_str(&format!(
            "| {} | {:.2} s | {:.0} MiB | {:.0} MiB | {:.0} ms | {:.1} MiB | {:.0} MiB |\n",
            row.accounts,
            row.startup.as_secs_f64(),
            row.idle_mib,
            row.after_list_mib,
            row.list_time.as_secs_f64() * 1_000.0,
            row.list_bytes as f64 / 1_048_576.0,
            row.peak_mib
        ));
    }
    if let (Some(first), Some(last)) = (memory.first(), memory.last())
        && last.accounts > first.accounts
    {
        text.push_str(&format!(
            "\nIdle memory grows by {:.2} KiB per connected account between {} and {} \
                 accounts.\n",
            (last.idle_mib - first.idle_mib) * 1024.0 / (last.accounts - first.accounts) as f64,
            first.accounts,
            last.accounts
        ));
    }
    text.push_str(&format!(
        "\n## API under wrk\n\n\
         `wrk` against `tokpost serve` on SQLite (workers running, {API_ACCOUNTS} accounts), \
         each run {} s; creates spread over the accounts, gets over the 200 newest posts; every \
         answer checked to be a 2xx. `wrk` runs on the same cores as the server. \
         `{command}`.\n\n\
         Each figure is the median of the runs, with their range in brackets.\n\n\
         | operation | connections | runs | requests/s | p50 | p99 | posts in store after | server peak RSS |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        env_list("SERVICE_WRK_SECS", "10").first().copied().unwrap_or(10)
    ));
    // One row per operation and connection count, in the order measured.
    for group in by_key(api, |row| (row.operation, row.connections)) {
        let first = group[0];
        let spread = |figure: &dyn Fn(&ApiRun) -> f64, decimals: usize| {
            spread_text(&group, figure, 1.0, decimals)
        };
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} ms | {} ms | {} | {} MiB |\n",
            first.operation,
            first.connections,
            group.len(),
            spread(&|row| row.requests_per_sec, 0),
            spread(&|row| row.p50_ms, 2),
            spread(&|row| row.p99_ms, 2),
            group.last().map_or(0, |row| row.posts_in_store),
            spread(&|row| row.server_peak_mib, 0),
        ));
    }
    text
}
