//! Insights at scale: one planning pass over N followed public posts of M creators, and the
//! queries the pass sends to TikTok (the in-process sandbox, over loopback HTTP).
//!
//! ```text
//! cargo bench -p tokpost-pipeline --bench insights
//! INSIGHTS_BENCH_POSTS=100000 INSIGHTS_BENCH_ACCOUNTS=1000 INSIGHTS_BENCH_RUNS=5 \
//!   INSIGHTS_BENCH_BACKENDS=sqlite,postgres cargo bench -p tokpost-pipeline --bench insights
//! ```
//!
//! The posts are created through the store and moved to `published` with a public id in
//! waves, as publishing would, so each is followed (`stat_tracks`) and its account's snapshot
//! job queued. A run makes every post due (the manual clock moves an hour: young posts are read
//! hourly) and then, for every account: the planning (`Snapshotter::plan`, the one store read
//! that picks a pass's due posts and cuts them into batches of 20), then the pass itself
//! (`Snapshotter::run`: the queries, each after a slot of the token's window, and the writes).
//! The planning pass is the sum of the planning over the accounts; issue 20's target is at most
//! a second for 100,000 posts. The queries are counted by the sandbox (requests it admitted),
//! against ⌈n/20⌉; its refusals (rate limits, scopes) must stay empty.
//!
//! The sandbox does not hold these posts (they were never uploaded to it), so it answers each
//! query without videos and the pass records them as not found; a found post would add one
//! `post_stats` row to the same transaction. Figures are medians of the runs with their spread;
//! it prints the section of docs/PERFORMANCE.md, and with `TOKPOST_PERF_MARKDOWN=FILE` writes
//! it to FILE.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::disallowed_methods // a benchmark measures real elapsed time
)]

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clock::Clock as _;

use support::{Backend, Env, INSIGHTS, Setup, start, video};
use tiktok_sandbox::{CreatorConfig, FaultEndpoint};
use tokpost_core::{
    AccountId, EventKind, NewPostEvent, PostState, PrivacyLevel, PublishId, PublishProgress,
};
use tokpost_pipeline::insights::{InsightSettings, Snapshotter};
use tokpost_store::Transition;
use tokpost_testkit::bench::env_number;

/// Transitions applied per store call while seeding.
const WAVE: usize = 1_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let posts = env_number("INSIGHTS_BENCH_POSTS", 100_000);
    let accounts = env_number("INSIGHTS_BENCH_ACCOUNTS", 1_000).min(posts);
    let runs = env_number("INSIGHTS_BENCH_RUNS", 5);
    let backends = std::env::var("INSIGHTS_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite".into());
    let mut rows = Vec::new();
    for name in backends.split(',').map(str::trim) {
        let backend = match name {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("INSIGHTS_BENCH_BACKENDS: `{other}` is neither sqlite nor postgres"),
        };
        rows.push(measure(backend, name, posts, accounts, runs).await);
    }
    let section = format!(
        "## Insights\n\n\
         One planning pass of insights snapshots over {posts} followed public posts of {accounts} \
         creators, {runs} runs, manual clock, the in-process sandbox over loopback HTTP: the \
         planning (one store read per creator that picks its due posts and cuts them into \
         batches of 20) summed over the creators, the whole pass (planning, every query after \
         a slot of the token's 600-a-minute window, every write), and the queries the sandbox \
         received, against ⌈n/20⌉. The sandbox does not hold these posts, so each query comes \
         back without videos and the pass records them as not found. \
         `INSIGHTS_BENCH_POSTS={posts} INSIGHTS_BENCH_ACCOUNTS={accounts} INSIGHTS_BENCH_RUNS={runs} \
         INSIGHTS_BENCH_BACKENDS={backends} cargo bench -p tokpost-pipeline --bench insights`.\n\n\
         | database | planning pass, median | spread | whole pass, median | spread | queries per pass | ⌈n/20⌉ | refused by TikTok | seeding |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n{}\n",
        rows.join("\n")
    );
    println!("{section}");
    if let Ok(path) = std::env::var("TOKPOST_PERF_MARKDOWN") {
        std::fs::write(path, section).unwrap();
    }
}

async fn measure(
    backend: Backend,
    name: &str,
    posts: usize,
    accounts: usize,
    runs: usize,
) -> String {
    let mut setup = Setup::new(backend);
    let model = setup.sandbox.creators[0].clone();
    setup.sandbox.creators = (0..accounts)
        .map(|n| CreatorConfig {
            open_id: format!("-000Bench_{n:07}_InsightsCreator"),
            username: format!("bench.{n}"),
            nickname: format!("Bench {n}"),
            ..model.clone()
        })
        .collect();
    let env = start(setup).await;
    let seeding = Instant::now();
    let mut ids = Vec::with_capacity(accounts);
    for n in 0..accounts {
        ids.push(env.connect_with(&format!("bench.{n}"), INSIGHTS).await);
    }
    seed(&env, &ids, posts).await;
    let seeded_in = seeding.elapsed();
    println!("{name}: {posts} posts of {accounts} creators followed in {seeded_in:.1?}");

    let snapshotter = Snapshotter::new(
        Arc::clone(&env.store),
        env.clock.shared(),
        env.client.clone(),
        Arc::clone(&env.keeper),
        InsightSettings::default(),
    );
    let expected_queries: usize = (0..accounts)
        .map(|n| posts_of(n, posts, accounts).div_ceil(20))
        .sum();
    let mut planning = Vec::new();
    let mut passes = Vec::new();
    let mut queries = Vec::new();
    for run in 0..runs {
        env.clock.advance(Duration::from_secs(3_600));
        let sent_before = env.sandbox.admitted(FaultEndpoint::VideoQuery);
        let started = Instant::now();
        let mut planned = 0;
        for account in &ids {
            planned += snapshotter
                .plan(*account)
                .await
                .unwrap()
                .batches
                .iter()
                .map(Vec::len)
                .sum::<usize>();
        }
        let planned_in = started.elapsed();
        assert_eq!(planned, posts, "run {run}: every post is due once");
        let started = Instant::now();
        for account in &ids {
            snapshotter.run(*account).await;
        }
        passes.push(started.elapsed());
        planning.push(planned_in);
        queries.push(env.sandbox.admitted(FaultEndpoint::VideoQuery) - sent_before);
        println!(
            "{name} run {run}: planning {planned_in:.1?}, pass {:.1?}, {} queries",
            passes[run], queries[run]
        );
    }
    let refused: u64 = env.sandbox.refusals().values().sum();
    planning.sort();
    passes.sort();
    queries.sort_unstable();
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1_000.0);
    let spread = |all: &[Duration]| format!("{}–{}", ms(all[0]), ms(all[all.len() - 1]));
    let database = if name == "postgres" {
        "PostgreSQL 15"
    } else {
        "SQLite"
    };
    format!(
        "| {database} | {} | {} | {} | {} | {} | {expected_queries} | {refused} | {:.0} s |",
        ms(planning[planning.len() / 2]),
        spread(&planning),
        ms(passes[passes.len() / 2]),
        spread(&passes),
        if queries[0] == queries[queries.len() - 1] {
            queries[0].to_string()
        } else {
            format!("{}–{}", queries[0], queries[queries.len() - 1])
        },
        seeded_in.as_secs_f64()
    )
}

/// How many of `posts` the `n`th of `accounts` creators has (the first ones one more).
fn posts_of(n: usize, posts: usize, accounts: usize) -> usize {
    posts / accounts + usize::from(n < posts % accounts)
}

/// Creates the posts and moves them, a wave of [`WAVE`] at a time, to `published` with a public
/// id of 19 digits: the move that starts following them.
async fn seed(env: &Env, accounts: &[AccountId], posts: usize) {
    let media = env.small_video(1).await;
    let mut created = Vec::with_capacity(posts);
    for (n, account) in accounts.iter().enumerate() {
        for k in 0..posts_of(n, posts, accounts.len()) {
            let spec = video(
                media,
                &format!("post {n}/{k}"),
                PrivacyLevel::PublicToEveryone,
            );
            created.push(env.schedule(*account, spec, 0).await);
        }
    }
    let path = [
        (PostState::Scheduled, PostState::Preflighted),
        (PostState::Preflighted, PostState::CreatorChecked),
        (PostState::CreatorChecked, PostState::Initialized),
        (PostState::Initialized, PostState::Processing),
        (PostState::Processing, PostState::Published),
    ];
    for (from, to) in path {
        for (wave, chunk) in created.chunks(WAVE).enumerate() {
            let now = env.clock.now();
            let transitions = chunk
                .iter()
                .enumerate()
                .map(|(i, post)| {
                    let number = wave * WAVE + i;
                    let progress = (to == PostState::Published).then(|| PublishProgress {
                        publish_id: Some(
                            PublishId::new(format!("v_pub_file~v2-1.{number}")).unwrap(),
                        ),
                        public_post_ids: vec![format!("{}", 7_400_000_000_000_000_000 + number)],
                        ..PublishProgress::default()
                    });
                    Transition {
                        post: *post,
                        expected: from,
                        to,
                        event: NewPostEvent::new(now, EventKind::StateChanged, "seeded"),
                        progress,
                        quota_use: None,
                        next_job: None,
                        completes: None,
                        lease: None,
                    }
                })
                .collect();
            env.store.transition_posts(transitions).await.unwrap();
        }
    }
}
