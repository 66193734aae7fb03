//! The burst benchmark with real processes: N posts for N sandbox creators, all due in the same
//! second, published by `tokpost worker` processes over one database against the in-test
//! sandbox on the real clock. Prints p50/p99/max lateness from the scheduled instant to the init
//! request, the time until every post is final, and the comparison with the issue's target
//! (p99 under 1 s).
//!
//! ```text
//! cargo bench -p tokpost --bench burst                                   # 10,000 posts, SQLite, 1 process
//! BURST_POSTS=2000 BURST_BACKEND=postgres BURST_PROCESSES=2 cargo bench -p tokpost --bench burst
//! ```
//!
//! `BURST_WORKERS` sets `workers.count` per process (default 4; each worker runs up to eight
//! accounts' jobs at once). `BURST_BACKEND=postgres` starts a private PostgreSQL 15 server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_precision_loss,
    clippy::print_stdout
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use clock::Timestamp;
use support::{Database, Fleet};
use tiktok_sandbox::{Delay, SandboxConfig};
use tokpost_core::{EventKind, StateKind};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let posts = env_number("BURST_POSTS", 10_000);
    let backend = std::env::var("BURST_BACKEND").unwrap_or_else(|_| "sqlite".to_owned());
    let processes = env_number("BURST_PROCESSES", if backend == "postgres" { 2 } else { 1 });
    let workers = env_number("BURST_WORKERS", 4);
    let database = if backend == "postgres" {
        Database::Postgres(
            tokpost_store::testing::PostgresServer::start()
                .await
                .unwrap(),
        )
    } else {
        Database::Sqlite
    };
    let mut fleet = Fleet::start(
        posts,
        database,
        SandboxConfig {
            processing_delay: Delay::Fixed { ms: 1_000 },
            moderation_delay: Delay::Fixed { ms: 1_000 },
            max_retained_publishes: posts * 2,
            ..SandboxConfig::default()
        },
    )
    .await;
    fleet.extra_env = vec![
        ("TOKPOST_WORKERS__COUNT".to_owned(), workers.to_string()),
        ("TOKPOST_LOG".to_owned(), "warn".to_owned()),
    ];
    let setup_started = fleet.clock.now();
    let accounts = fleet.connect_all().await;
    // One whole second, far enough ahead to store every post first.
    let due = Timestamp::from_second(
        fleet.clock.now().as_second() + 15 + i64::try_from(posts / 500).unwrap(),
    )
    .unwrap();
    let scheduled = fleet.schedule_videos(&accounts, due, "burst").await;
    let setup = fleet.clock.now().duration_since(setup_started);
    assert!(
        fleet.clock.now() < due,
        "setup overran the due second; raise the lead time"
    );
    // The workers start before the due second, as a running installation would be.
    let mut children: Vec<_> = (0..processes).map(|n| fleet.spawn_worker(n)).collect();

    let all_final_at = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if fleet.final_posts().await.1 >= posts as u64 {
            break fleet.clock.now();
        }
    };
    for child in &mut children {
        child.kill().unwrap();
        child.wait().unwrap();
    }

    let mut lateness_ms = Vec::with_capacity(posts);
    let mut published = 0;
    for id in scheduled.values() {
        let post = fleet.store.post(*id).await.unwrap().unwrap();
        published += usize::from(post.state.kind() == StateKind::Published);
        let events = fleet.store.post_events(*id).await.unwrap();
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
        "burst: {posts} posts for {posts} accounts due at one second, {backend}, {processes} `tokpost worker` process(es) × {workers} workers"
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
