//! The init wave against the sandbox on a manual clock: prepared posts due at one second are
//! claimed and readied ahead, started together at the second (not before), each exactly once,
//! and a refusal inside the wave still ends where the failure catalog says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::support;

use std::time::Duration;

use clock::Clock as _;
use rstest::rstest;
use support::{Backend, Env, Setup, start, video};
use tiktok_sandbox::{CreatorConfig, FaultEffect, FaultEndpoint, FaultRule, FaultTimes};
use tokpost_core::{Actor, EventKind, PostId, PostState, PrivacyLevel, RequiredAction, StateKind};
use tokpost_pipeline::init_wave;

const CREATORS: usize = 12;
const HOUR: Duration = Duration::from_secs(3_600);

fn creator(n: usize) -> String {
    format!("wave.{n}")
}

/// Waits (in real time: the wave runs on its own task) until `done` holds, for at most 20 s.
async fn eventually<F: AsyncFn() -> bool>(what: &str, done: F) {
    for _ in 0..1_000 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn inits_requested(env: &Env, posts: &[PostId]) -> usize {
    let mut requested = 0;
    for post in posts {
        requested += support::inits(&env.events(*post).await);
    }
    requested
}

/// Whether the wave's records are written and held open for their second: on PostgreSQL a
/// session sits idle inside a transaction whose last statement wrote the events; on SQLite
/// another writer is refused at once, again and again (a worker's write would be over in
/// milliseconds, the wave's lasts until the clock moves).
async fn records_held_for_their_second(env: &Env) -> bool {
    use sqlx::{ConnectOptions as _, Connection as _};
    if env.database_url.starts_with("sqlite:") {
        let mut connection = env
            .database_url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .busy_timeout(Duration::ZERO)
            .connect()
            .await
            .unwrap();
        let mut refused = 0;
        while refused < 10 {
            if sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut connection)
                .await
                .is_ok()
            {
                sqlx::query("ROLLBACK")
                    .execute(&mut connection)
                    .await
                    .unwrap();
                break;
            }
            refused += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        connection.close().await.unwrap();
        refused == 10
    } else {
        let mut connection = sqlx::PgConnection::connect(&env.database_url)
            .await
            .unwrap();
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state = 'idle in transaction'
               AND query LIKE 'INSERT INTO post_events%'",
        )
        .fetch_one(&mut connection)
        .await
        .unwrap();
        connection.close().await.unwrap();
        held > 0
    }
}

/// `ahead`: the clock reaches the posts' second from just before it, inside the lead in which
/// the wave writes its records and holds them for the second; otherwise it jumps straight to
/// the second and the wave records as it sends.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_posts_due_together_are_started_together_at_their_second(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
    #[values(false, true)] ahead: bool,
) {
    let mut setup = Setup::new(backend);
    setup
        .sandbox
        .creators
        .extend((0..CREATORS).map(|n| CreatorConfig {
            open_id: format!("-000Wave{n:08}_OpenId_0000000000"),
            username: creator(n),
            nickname: format!("Wave {n}"),
            ..CreatorConfig::default()
        }));
    let env = start(setup).await;
    // The last creator's init is refused for good: the wave must not resend it.
    env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::VideoInit,
        creator: Some(creator(CREATORS - 1)),
        effect: FaultEffect::Error {
            code: "privacy_level_option_mismatch".to_owned(),
            http_status: 400,
            message: None,
        },
        times: FaultTimes::Always,
    });
    let mut posts = Vec::new();
    for n in 0..CREATORS {
        let account = env.connect(&creator(n)).await;
        let media = env.small_video(u8::try_from(n).unwrap()).await;
        posts.push(
            env.schedule(
                account,
                video(media, &format!("wave {n}"), PrivacyLevel::SelfOnly),
                120,
            )
            .await,
        );
    }
    let due = env.post(posts[0]).await.scheduled_at.at();

    // Prepared ahead by an ordinary worker, as `bring_forward_due_posts` would have them.
    env.store
        .prepare_due_by(env.at(300), env.clock.now())
        .await
        .unwrap();
    let worker = env.worker("w1");
    while worker.run_once().await.unwrap() > 0 {}
    for post in &posts {
        assert_eq!(env.state(*post).await, StateKind::CreatorChecked);
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wave = tokio::spawn(init_wave::run(
        env.worker("wave"),
        env.publisher.clone(),
        env.store.clone(),
        env.clock.shared(),
        stopped,
    ));
    // Inside the arming window: claimed and readied, nothing sent.
    env.clock.set(
        due.checked_sub(jiff::SignedDuration::from_secs(10))
            .unwrap(),
    );
    eventually("the wave holds every post's job", async || {
        worker.run_once().await.unwrap() == 0
            && env.store.next_init_due_at().await.unwrap().is_none()
    })
    .await;
    assert_eq!(
        inits_requested(&env, &posts).await,
        0,
        "no init before its second"
    );
    assert!(env.sandbox.published().is_empty());

    if ahead {
        env.clock.set(
            due.checked_sub(jiff::SignedDuration::from_millis(50))
                .unwrap(),
        );
        eventually(
            "the wave writes its records ahead of the second",
            async || records_held_for_their_second(&env).await,
        )
        .await;
        assert_eq!(
            inits_requested(&env, &posts).await,
            0,
            "records written ahead are not seen before their second"
        );
        assert!(
            env.sandbox.published().is_empty(),
            "nothing sent before the second"
        );
        // The clock passes the second while the records wait: they are committed then, and
        // stamped with the second they were written for.
        env.clock.set(
            due.checked_add(jiff::SignedDuration::from_millis(700))
                .unwrap(),
        );
    } else {
        env.clock.set(due);
    }
    eventually("every init was answered", async || {
        let mut answered = 0;
        for post in &posts {
            answered += usize::from(env.state(*post).await != StateKind::CreatorChecked);
        }
        answered == CREATORS
    })
    .await;
    stop.send(true).unwrap();
    wave.await.unwrap();
    for post in &posts {
        let init = env
            .events(*post)
            .await
            .into_iter()
            .find(|event| event.kind == EventKind::InitRequested)
            .unwrap();
        assert_eq!(init.at, due, "started at its second, not before or after");
    }

    env.drive(&[&worker], &posts, &[], 2 * HOUR).await;
    let published = env.sandbox.published();
    for (n, post) in posts.iter().enumerate() {
        let stored = env.post(*post).await;
        let inits = inits_requested(&env, &[*post]).await;
        assert_eq!(inits, 1, "post {n} was initialized once");
        if n == CREATORS - 1 {
            assert_eq!(
                stored.state,
                PostState::Failed {
                    action: RequiredAction::FixInput,
                    who: Actor::User
                },
                "the refusal is decided as in the one-post path"
            );
            continue;
        }
        assert_eq!(stored.state, PostState::Published, "post {n}");
        let publish_id = stored.progress.publish_id.unwrap();
        let records: Vec<_> = published
            .iter()
            .filter(|record| record.publish_id == publish_id.as_str())
            .collect();
        assert_eq!(records.len(), 1, "post {n}: one publish at TikTok");
        assert_eq!(records[0].status, "PUBLISH_COMPLETE");
        assert_eq!(
            records[0].title.as_deref(),
            Some(format!("wave {n}").as_str())
        );
    }
    assert_eq!(
        published.len(),
        CREATORS - 1,
        "the refused init published nothing"
    );
}
