//! A workspace of 100,000 accounts listed through `GET /v1/accounts` a page of 200 at a time,
//! through the real server on SQLite: the time per page and the process's peak memory while
//! listing (issue 18's target: under 60 MiB), plain and with `include=health` (each page's
//! checklists read together: a tenth of the creators have posted today and have creator info on
//! record, so the health reads find rows).
//!
//! ```text
//! cargo bench -p tokpost-api --bench accounts
//! ACCOUNTS_BENCH_ACCOUNTS=100000 ACCOUNTS_BENCH_RUNS=3 cargo bench -p tokpost-api --bench accounts
//! ```
//!
//! The peak is Linux's `VmHWM` of this process (server and client together), reset with
//! `/proc/self/clear_refs` once the accounts are written, so it covers the listing alone. Each
//! run lists every page; the figure is the median of the runs with their spread. It prints the
//! section of docs/PERFORMANCE.md, and with `TOKPOST_PERF_MARKDOWN=FILE` writes it to FILE.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::disallowed_methods // a benchmark measures real elapsed time
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::Value;
use tiktok::{TikTokClient, TikTokConfig};
use tokio::net::TcpListener;
use tokpost_api::{ApiSettings, AppState};
use tokpost_core::{OpenId, Scope};
use tokpost_pipeline::{Pipeline, PipelineConfig};
use tokpost_store::{AccountTokens, NewAccount, TokenCipher};
use tokpost_testkit::bench::env_number;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// The process's peak resident memory since the last reset, in KiB.
fn peak_kib() -> u64 {
    status_kib("VmHWM:")
}

/// The process's resident memory now, in KiB.
fn resident_kib() -> u64 {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Starts the peak over from the memory in use now.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

async fn run() {
    let accounts = env_number("ACCOUNTS_BENCH_ACCOUNTS", 100_000);
    let runs = env_number("ACCOUNTS_BENCH_RUNS", 3);
    let dir = tempfile::tempdir().unwrap();
    let clock = clock::SystemClock::shared();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tokpost.db").display()
    );
    let cipher = TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap();
    let store = tokpost_store::open(&url, cipher).await.unwrap();
    let now = clock.now();
    let (workspace, admin) = tokpost_api::bootstrap(store.as_ref(), now)
        .await
        .unwrap()
        .unwrap();
    let workspace = workspace.id;
    let writing = Instant::now();
    for n in 0..accounts {
        let account = store
            .connect_account(
                NewAccount {
                    workspace_id: workspace,
                    open_id: OpenId::new(format!("creator-{n:06}")).unwrap(),
                    display_name: format!("Creator {n}"),
                    avatar_url: None,
                    scopes: Scope::parse_list("user.info.basic,video.publish,video.upload")
                        .unwrap(),
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
        if n % 10 == 0 {
            store
                .save_creator_info(
                    account.id,
                    &serde_json::json!({"creator_nickname": format!("Creator {n}"), "privacy_level_options": ["PUBLIC_TO_EVERYONE", "SELF_ONLY"]}),
                    now,
                )
                .await
                .unwrap();
            // A creator who posted today: a post the way the publisher leaves one after its
            // init, with the direct post it counts.
            tokpost_testkit::posts::initialized(
                store.as_ref(),
                workspace,
                account.id,
                tokpost_core::PostMode::Direct,
                now,
            )
            .await;
        }
    }
    println!(
        "wrote {accounts} accounts in {:.1} s",
        writing.elapsed().as_secs_f64()
    );

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // TikTok is never called while accounts are listed; the client points nowhere.
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
    let settings = ApiSettings::new(
        url::Url::parse(&format!("{base}/")).unwrap(),
        dir.path().join("media"),
    );
    let state = AppState::new(Arc::clone(&store), clock, client, pipeline, settings);
    tokio::spawn(tokpost_api::serve(listener, state, std::future::pending()));
    let http = reqwest::Client::new();
    let key = admin.secret.expose_secret().to_owned();

    let plain = measure(&http, &base, &key, "", accounts, runs).await;
    let with_health = measure(&http, &base, &key, "&include=health", accounts, runs).await;
    let mut section = String::new();
    section.push_str("## Accounts listing\n\n");
    section.push_str(&format!(
        "`ACCOUNTS_BENCH_ACCOUNTS={accounts} ACCOUNTS_BENCH_RUNS={runs} cargo bench -p tokpost-api --bench accounts`: {accounts} accounts of one workspace listed through `GET /v1/accounts` 200 at a time, plain and with `include=health` (the checklists of a page read together; a tenth of the creators have posted today and have creator info on record), SQLite, server and client in one process; {runs} runs of each. The peak is the process's resident high-water mark while listing; what it held before (the store's caches, what writing the accounts left in the allocator) is shown beside it.\n\n"
    ));
    section.push_str("| listing | resident before listing, median | peak while listing, median | peak spread | time per page of 200, median | spread |\n");
    section.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for (name, figures) in [("plain", &plain), ("`include=health`", &with_health)] {
        section.push_str(&figures.row(name));
    }
    println!();
    print!("{section}");
    if let Ok(path) = std::env::var("TOKPOST_PERF_MARKDOWN") {
        std::fs::write(&path, section).unwrap();
    }
}

/// Peaks and times per page of several runs, sorted.
struct Figures {
    before_kib: Vec<u64>,
    peaks_kib: Vec<u64>,
    per_page: Vec<Duration>,
}

impl Figures {
    fn row(&self, name: &str) -> String {
        let mib = |kib: u64| kib as f64 / 1_024.0;
        let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
        let (before, peaks, times) = (&self.before_kib, &self.peaks_kib, &self.per_page);
        format!(
            "| {name} | {:.1} MiB | {:.1} MiB | {:.1}–{:.1} MiB | {:.2} ms | {:.2}–{:.2} ms |\n",
            mib(before[before.len() / 2]),
            mib(peaks[peaks.len() / 2]),
            mib(peaks[0]),
            mib(peaks[peaks.len() - 1]),
            ms(times[times.len() / 2]),
            ms(times[0]),
            ms(times[times.len() - 1])
        )
    }
}

/// Lists every account `runs` times with `extra` in each page's query.
async fn measure(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    extra: &str,
    accounts: usize,
    runs: usize,
) -> Figures {
    let mut before_kib = Vec::new();
    let mut peaks_kib = Vec::new();
    let mut per_page = Vec::new();
    for _ in 0..runs {
        reset_peak();
        before_kib.push(resident_kib());
        let started = Instant::now();
        let (mut listed, mut pages) = (0, 0_u32);
        let mut path = format!("/v1/accounts?limit=200{extra}");
        loop {
            let page: Value = http
                .get(format!("{base}{path}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let listed_here = page["accounts"].as_array().unwrap();
            if !extra.is_empty() {
                assert!(
                    listed_here
                        .iter()
                        .all(|account| account["health"].is_object()),
                    "every account with its health"
                );
            }
            listed += listed_here.len();
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/v1/accounts?limit=200{extra}&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(listed, accounts, "every account listed once");
        let took = started.elapsed();
        peaks_kib.push(peak_kib());
        per_page.push(took / pages);
        println!(
            "listed {listed} accounts ({}) in {pages} pages: {:.2} s, {:.2} ms a page, peak {:.1} MiB",
            if extra.is_empty() { "plain" } else { extra },
            took.as_secs_f64(),
            (took / pages).as_secs_f64() * 1_000.0,
            peaks_kib.last().copied().unwrap_or(0) as f64 / 1_024.0
        );
    }
    before_kib.sort_unstable();
    peaks_kib.sort_unstable();
    per_page.sort_unstable();
    Figures {
        before_kib,
        peaks_kib,
        per_page,
    }
}
