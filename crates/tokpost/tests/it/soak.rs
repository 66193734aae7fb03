//! The soak test of scale-out: one API process (`tokpost serve --no-workers`) and three
//! `tokpost worker` processes on one PostgreSQL, 2,000 posts for 500 creators created through
//! the HTTP API, while the sandbox fails 30% of the calls transiently and workers are killed
//! with SIGKILL at random. At the end, by the sandbox's truth: every post is final, each
//! published post was published exactly once, and TikTok never had to refuse a request for a
//! rate limit or a cap.
//!
//! `SOAK_SEED=<n>` replays a kill schedule.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use support::{Database, Fleet, KillSchedule};
use tiktok_sandbox::{Delay, FaultEffect, FaultEndpoint, FaultRule, FaultTimes, SandboxConfig};

const CREATORS: usize = 500;
const POSTS: usize = 2_000;
const WORKER_PROCESSES: usize = 3;
const MAX_KILLS: u32 = 30;
const GIVE_UP_AFTER: Duration = Duration::from_secs(400);

/// 30% of the calls to each publishing endpoint fail transiently, each endpoint its own way.
fn transient_faults() -> Vec<FaultRule> {
    let rule = |endpoint, effect, p| FaultRule {
        endpoint,
        creator: None,
        effect,
        times: FaultTimes::Probability { p },
    };
    let internal = || FaultEffect::Error {
        code: "internal_error".to_owned(),
        http_status: 500,
        message: None,
    };
    vec![
        rule(FaultEndpoint::CreatorInfo, internal(), 0.3),
        // An init whose answer is lost after TikTok took it, or a gateway error before.
        rule(
            FaultEndpoint::VideoInit,
            FaultEffect::DropConnection {
                after_processing: true,
            },
            0.1,
        ),
        rule(
            FaultEndpoint::VideoInit,
            FaultEffect::Http5xxWithoutBody { http_status: 503 },
            0.22,
        ),
        rule(
            FaultEndpoint::Upload,
            FaultEffect::DropConnection {
                after_processing: false,
            },
            0.3,
        ),
        rule(FaultEndpoint::Status, internal(), 0.3),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_and_an_api_on_postgres_survive_faults_and_kills() {
    let server = tokpost_testkit::postgres::PostgresServer::start()
        .await
        .expect("PostgreSQL 15 binaries are needed (CI installs them)");
    let fleet = Fleet::start(
        CREATORS,
        Database::Postgres(server),
        SandboxConfig {
            processing_delay: Delay::Fixed { ms: 500 },
            moderation_delay: Delay::Fixed { ms: 500 },
            max_retained_publishes: POSTS * 4,
            ..SandboxConfig::default()
        },
    )
    .await;
    let accounts = fleet.connect_all().await;
    let key = tokpost_api::issue_key(
        fleet.store.as_ref(),
        fleet.workspace,
        "soak",
        tokpost_core::Role::Owner,
        fleet.clock.now(),
    )
    .await
    .unwrap();
    let bearer = format!("Bearer {}", key.secret.expose_secret());
    let (mut api, base) = fleet.spawn_api();
    let http = reqwest::Client::new();

    let video = std::fs::read(support::fixture("ok_720x1280_30fps_4s.mp4")).unwrap();
    let media: serde_json::Value = http
        .post(format!("{base}v1/media"))
        .header("authorization", &bearer)
        .header("content-type", "application/octet-stream")
        .body(video)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let media_id = media["id"].as_str().expect("a media id").to_owned();

    // Due a few seconds from now: all of them in one burst.
    let due = clock::add(fleet.clock.now(), Duration::from_secs(15));
    let created: Vec<(String, tokpost_core::PostId)> = futures_util::stream::iter(0..POSTS)
        .map(|n| {
            let (http, base, bearer, media_id) = (http.clone(), &base, &bearer, &media_id);
            let account = accounts[n % CREATORS].to_string();
            async move {
                let caption = format!("soak {n}");
                let answer = http
                    .post(format!("{base}v1/posts"))
                    .header("authorization", bearer)
                    .json(&serde_json::json!({
                        "account_id": account,
                        "video": { "media_id": media_id, "caption": caption },
                        "privacy_level": "SELF_ONLY",
                        "scheduled_at": due.to_string(),
                    }))
                    .send()
                    .await
                    .unwrap();
                let status = answer.status();
                let body: serde_json::Value = answer.json().await.unwrap();
                assert!(status.is_success(), "create answered {status}: {body}");
                (caption, body["id"].as_str().unwrap().parse().unwrap())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let posts: BTreeMap<_, _> = created.into_iter().collect();
    assert!(
        fleet.clock.now() < due,
        "creating the posts overran their due time; raise the lead"
    );
    for rule in transient_faults() {
        fleet.sandbox.add_fault(rule);
    }

    let started = fleet.clock.now();
    let kills = fleet
        .publish_while_killing(
            &posts,
            WORKER_PROCESSES,
            &KillSchedule {
                seed_variable: "SOAK_SEED",
                pause_min_ms: 500,
                pause_spread_ms: 2_500,
                max_kills: MAX_KILLS,
                give_up_after: GIVE_UP_AFTER,
            },
            std::slice::from_mut(&mut api),
        )
        .await;
    api.kill().unwrap();
    api.wait().unwrap();
    let fired: u32 = fleet.sandbox.faults().iter().map(|fault| fault.fired).sum();
    let outcome = support::verify_exactly_once(&fleet, &posts).await;
    println!(
        "{POSTS} posts final in {:.1} s after {kills} kills and {fired} injected faults: {outcome:?}",
        fleet.clock.now().duration_since(started).as_secs_f64()
    );
    assert!(kills >= 10, "only {kills} kills: the run proves too little");
    assert!(
        fleet.sandbox.refusals().is_empty(),
        "the sandbox refused requests by its own rules (rate limits, caps): {:?}",
        fleet.sandbox.refusals()
    );
    // Transient faults are retried inside a budget; a post that still failed must be rare.
    assert!(
        outcome.published >= POSTS * 99 / 100,
        "only {} of {POSTS} posts were published: {outcome:?}",
        outcome.published
    );
}
