//! Transient failures are retried within a budget per step: the failures of one step (the
//! creator check) do not use up the retries of the next (the init), and a step that keeps
//! failing ends the post naming the failure and how often it was tried; a claim lost to a
//! stopped worker is no failure.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::support;

use std::time::Duration;

use clock::Clock as _;
use rstest::rstest;
use support::{ADA, Backend, inits, start, video};
use tiktok_sandbox::{FaultEffect, FaultEndpoint, FaultRule, FaultTimes};
use tokpost_core::{PostState, PrivacyLevel, StateKind};
use tokpost_store::WorkerId;

const HOUR: Duration = Duration::from_secs(3_600);

fn failing(endpoint: FaultEndpoint, effect: FaultEffect, n: u32) -> FaultRule {
    FaultRule {
        endpoint,
        creator: None,
        effect,
        times: FaultTimes::Times { n },
    }
}

fn internal_error() -> FaultEffect {
    FaultEffect::Error {
        code: "internal_error".to_owned(),
        http_status: 500,
        message: None,
    }
}

fn gateway_error() -> FaultEffect {
    FaultEffect::Http5xxWithoutBody { http_status: 503 }
}

/// `creator_failures` failed creator checks, then `init_failures` failed inits: the end state's
/// kind and the inits sent.
#[rstest]
#[case::seven_and_seven_publish(Backend::Sqlite, 7, 7, StateKind::Published, 8)]
#[case::seven_and_seven_publish_on_postgres(Backend::Postgres, 7, 7, StateKind::Published, 8)]
#[case::an_init_failing_eight_times_fails(Backend::Sqlite, 0, 8, StateKind::Failed, 8)]
#[case::a_creator_check_failing_eight_times_fails(Backend::Sqlite, 8, 0, StateKind::Failed, 0)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_has_its_own_budget_of_transient_failures(
    #[case] backend: Backend,
    #[case] creator_failures: u32,
    #[case] init_failures: u32,
    #[case] expected: StateKind,
    #[case] expected_inits: usize,
) {
    let env = start(support::Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    for (endpoint, effect, n) in [
        (
            FaultEndpoint::CreatorInfo,
            internal_error(),
            creator_failures,
        ),
        (FaultEndpoint::VideoInit, gateway_error(), init_failures),
    ] {
        if n > 0 {
            env.sandbox.add_fault(failing(endpoint, effect, n));
        }
    }
    let post = env
        .schedule(
            ada,
            video(env.small_video(3).await, "budget", PrivacyLevel::SelfOnly),
            0,
        )
        .await;

    env.drive(&[&env.worker("w1")], &[post], &[], 12 * HOUR)
        .await;
    let states = env.states(&[post]).await;
    assert_eq!(env.state(post).await, expected, "{states:#?}");
    assert_eq!(
        inits(&env.events(post).await),
        expected_inits,
        "{states:#?}"
    );
    let events = env.events(post).await;
    if expected == StateKind::Failed {
        let PostState::Failed { .. } = env.post(post).await.state else {
            unreachable!("the state kind was checked");
        };
        let last = &events.last().unwrap().message;
        let (id, step) = if init_failures > 0 {
            ("http_5xx", "init")
        } else {
            ("internal_error", "creator check")
        };
        assert_eq!(
            last,
            &format!("failed: {id} persisted after 8 attempts"),
            "the {step}'s failure is named"
        );
    }
}

/// Workers that stop while they hold a post's job (a crash, a kill) cost it claims, never the
/// retries its step is allowed: after ten lost claims in the middle of an init failing seven
/// times, the eighth init publishes.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_lost_to_stopped_workers_are_not_failures(#[case] backend: Backend) {
    let env = start(support::Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    env.sandbox
        .add_fault(failing(FaultEndpoint::VideoInit, gateway_error(), 7));
    let post = env
        .schedule(
            ada,
            video(
                env.small_video(3).await,
                "lost claims",
                PrivacyLevel::SelfOnly,
            ),
            0,
        )
        .await;
    let worker = env.worker("w1");
    worker.run_once().await.unwrap();
    assert_eq!(
        (env.state(post).await, inits(&env.events(post).await)),
        (StateKind::CreatorChecked, 1),
        "the first init failed and the job waits for its retry"
    );

    let lease = Duration::from_secs(60);
    for n in 0..10 {
        let due = env.store.next_due_at().await.unwrap().unwrap();
        if due > env.clock.now() {
            env.clock.set(due);
        }
        let stopped = WorkerId::new(format!("stopped-{n}"));
        let claimed = env
            .store
            .claim(&stopped, env.clock.now(), lease, 1)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "the post's job is claimed");
        env.clock.advance(lease + Duration::from_secs(1));
        env.store
            .sweep_expired_leases(env.clock.now())
            .await
            .unwrap();
    }
    let job = env
        .store
        .claim(&WorkerId::new("peek"), env.clock.now(), lease, 1)
        .await
        .unwrap();
    assert_eq!((job[0].attempts, job[0].failures), (12, 1));
    env.clock.advance(lease + Duration::from_secs(1));
    env.store
        .sweep_expired_leases(env.clock.now())
        .await
        .unwrap();

    env.drive(&[&worker], &[post], &[], 12 * HOUR).await;
    let states = env.states(&[post]).await;
    assert_eq!(env.state(post).await, StateKind::Published, "{states:#?}");
    assert_eq!(inits(&env.events(post).await), 8);
}
