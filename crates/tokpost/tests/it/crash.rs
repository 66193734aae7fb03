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

use crate::support;

use std::time::Duration;

use support::{Database, Fleet, KillSchedule};
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
    let server = tokpost_testkit::postgres::PostgresServer::start()
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

    let kills = fleet
        .publish_while_killing(
            &posts,
            processes,
            &KillSchedule {
                seed_variable: "CRASH_SEED",
                pause_min_ms: 100,
                pause_spread_ms: 500,
                max_kills: MAX_KILLS,
                give_up_after: GIVE_UP_AFTER,
            },
            &mut [],
        )
        .await;
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
