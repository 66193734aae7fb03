//! Crash safety with real processes: `tokpost worker` processes are killed with SIGKILL at
//! random points while they publish hundreds of posts, and restarted; at the end the sandbox
//! (TikTok's side) must show every post published exactly once.
//!
//! The kill schedule comes from a seed printed at the start; `CRASH_SEED=<n>` replays it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

mod support;

use std::process::Child;
use std::time::Duration;

use support::{Chaos, Database, Fleet};
use tiktok_sandbox::{Delay, SandboxConfig};

const CREATORS: usize = 100;
const POSTS_PER_CREATOR: usize = 3;
/// Kills spread over the run (one every 0.1–0.6 s); after the last one the survivors (and
/// restarts) finish the work.
const MAX_KILLS: u32 = 40;
/// Fewer kills than this means the run did not test much.
const MIN_KILLS: u32 = 10;
/// Long enough for a slow CI machine; a healthy run takes well under a minute.
const GIVE_UP_AFTER: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_sqlite_worker_restarts_and_every_post_is_published_exactly_once() {
    crash_and_verify(Database::Sqlite, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sigkilled_postgres_workers_publish_every_post_exactly_once() {
    let server = tokpost_store::testing::PostgresServer::start()
        .await
        .expect("PostgreSQL 15 binaries are needed (CI installs them)");
    crash_and_verify(Database::Postgres(server), 2).await;
}

async fn crash_and_verify(database: Database, processes: usize) {
    let fleet = Fleet::start(
        CREATORS,
        database,
        SandboxConfig {
            processing_delay: Delay::Fixed { ms: 500 },
            moderation_delay: Delay::Fixed { ms: 500 },
            max_retained_publishes: CREATORS * POSTS_PER_CREATOR * 4,
            ..SandboxConfig::default()
        },
    )
    .await;
    let accounts = fleet.connect_all().await;
    let post_accounts: Vec<_> = (0..POSTS_PER_CREATOR)
        .flat_map(|_| accounts.iter().copied())
        .collect();
    let due = clock::add(fleet.clock.now(), Duration::from_secs(1));
    let posts = fleet.schedule_videos(&post_accounts, due, "crash").await;

    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| fleet.clock.now().as_nanosecond().unsigned_abs() as u64);
    println!("kill schedule seed: CRASH_SEED={seed}");
    let mut chaos = Chaos::new(seed);

    let started = fleet.clock.now();
    let mut workers: Vec<Child> = (0..processes).map(|n| fleet.spawn_worker(n)).collect();
    let mut kills = 0;
    let mut final_posts = 0;
    while final_posts < posts.len() as u64 {
        tokio::time::sleep(Duration::from_millis(100 + chaos.below(500))).await;
        let (counts, _) = fleet.store.post_state_counts().await.unwrap();
        final_posts = counts
            .iter()
            .filter(|(kind, _)| kind.is_final())
            .map(|(_, n)| n)
            .sum();
        println!(
            "{:>5.1} s, {kills} kills: {counts:?}",
            fleet.clock.now().duration_since(started).as_secs_f64()
        );
        if fleet.clock.now().duration_since(started) > GIVE_UP_AFTER.try_into().unwrap() {
            if std::env::var_os("FLEET_KEEP").is_some() {
                println!("kept for inspection: {}", fleet.dir.path().display());
                std::mem::forget(fleet.dir);
                std::process::exit(1);
            }
            for worker in &mut workers {
                let _ = worker.kill();
            }
            panic!(
                "after {kills} kills only {final_posts} of {} posts are final: {counts:?}\n{}\n{}",
                posts.len(),
                support::unfinished_histories(&fleet, &posts).await,
                fleet.log_tails()
            );
        }
        if kills < MAX_KILLS && final_posts < posts.len() as u64 {
            let victim = usize::try_from(chaos.below(processes as u64)).unwrap();
            workers[victim].kill().unwrap();
            workers[victim].wait().unwrap();
            kills += 1;
            workers[victim] = fleet.spawn_worker(victim);
        }
    }
    for worker in &mut workers {
        worker.kill().unwrap();
        worker.wait().unwrap();
    }
    println!(
        "{} posts final after {kills} kills in {:.1} s",
        posts.len(),
        fleet.clock.now().duration_since(started).as_secs_f64()
    );
    assert!(
        kills >= MIN_KILLS,
        "only {kills} kills before every post was final; the run proves too little"
    );

    let outcome = support::verify_exactly_once(&fleet, &posts).await;
    assert_eq!(
        outcome.published,
        posts.len(),
        "every post is published: {outcome:?}"
    );
    assert!(
        fleet.sandbox.refusals().is_empty(),
        "the sandbox refused requests by its own rules (rate limits, caps): {:?}",
        fleet.sandbox.refusals()
    );
    println!(
        "every post published exactly once; {} init answers were lost to kills and those publishes abandoned unused",
        outcome.abandoned_inits
    );
}
