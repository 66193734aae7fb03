//! Token refreshes raced and stormed, on SQLite and a real PostgreSQL, against a sandbox whose
//! refresh tokens die on every use: many refreshes at once from two processes, refreshes racing
//! a disconnect and a reconnect, tokens that live a minute, and a refresh that fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use clock::Clock;
use rstest::rstest;
use secrecy::ExposeSecret;
use tiktok_sandbox::{FaultEffect, FaultEndpoint, FaultRule, FaultTimes, TokenPolicy};
use tokio::sync::broadcast;
use tokpost_core::AccountStatus;
use tokpost_pipeline::token_keeper::{KeeperError, KeeperEvent, KeeperPolicy, TokenKeeper};
use tokpost_pipeline::{Worker, WorkerSettings};
use tokpost_store::WorkerId;

use support::{ADA, Backend, Env, Setup, start};

async fn env_with(backend: Backend, tokens: TokenPolicy) -> Env {
    let mut setup = Setup::new(backend);
    setup.sandbox.tokens = tokens;
    start(setup).await
}

fn refreshes(events: &mut broadcast::Receiver<KeeperEvent>) -> usize {
    let mut count = 0;
    while let Ok(event) = events.try_recv() {
        if matches!(event, KeeperEvent::Refreshed { .. }) {
            count += 1;
        }
    }
    count
}

fn token_fault(effect: FaultEffect, times: FaultTimes) -> FaultRule {
    FaultRule {
        endpoint: FaultEndpoint::Token,
        creator: None,
        effect,
        times,
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_refreshes_at_once_from_two_processes_refresh_once_and_keep_the_account(
    #[case] backend: Backend,
) {
    let env = env_with(backend, TokenPolicy::always_rotating()).await;
    let account = env.connect(ADA).await;
    let (_other_store, other) = env.second_process(KeeperPolicy::default()).await;
    let mut here = env.keeper.subscribe();
    let mut there = other.subscribe();
    let planned = env
        .store
        .account(account)
        .await
        .unwrap()
        .unwrap()
        .access_token_expires_at;
    // Two minutes before expiry: requested refreshes, publishing steps wanting a token and the
    // keeper's own planned job all arrive at once, half in each process. TikTok answers slowly
    // enough for them all to overlap.
    env.clock.advance(Duration::from_secs(7_200 - 120));
    env.sandbox.add_fault(token_fault(
        FaultEffect::Latency { ms: 300 },
        FaultTimes::Always,
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16 {
        let keeper: Arc<TokenKeeper> = if n % 2 == 0 {
            Arc::clone(&env.keeper)
        } else {
            Arc::clone(&other)
        };
        tasks.spawn(async move {
            match n % 4 {
                0 | 1 => keeper.refresh_on_request(account).await.map(|_| None),
                2 => keeper.access_token_for(account).await.map(Some),
                _ => keeper
                    .refresh_if_still_due(account, Some(planned))
                    .await
                    .map(|_| None),
            }
        });
    }
    let mut handed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Some(token) = done.unwrap().unwrap() {
            handed.push(token);
        }
    }
    let stored = env.store.account(account).await.unwrap().unwrap();
    assert_eq!(stored.status, AccountStatus::Connected);
    assert_eq!(
        refreshes(&mut here) + refreshes(&mut there),
        1,
        "one refresh served every caller"
    );
    let tokens = env.store.account_tokens(account).await.unwrap().unwrap();
    for token in &handed {
        assert_eq!(token.expose_secret(), tokens.access_token.expose_secret());
    }
    // The stored refresh token is the live one: the next refresh works.
    env.sandbox.clear_faults();
    assert!(env.keeper.refresh_on_request(account).await.unwrap());
    assert_eq!(
        env.store.account(account).await.unwrap().unwrap().status,
        AccountStatus::Connected
    );
    env.sandbox.shutdown().await;
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_during_a_refresh_stays_disconnected_and_a_reconnect_keeps_its_tokens(
    #[case] backend: Backend,
) {
    let env = env_with(backend, TokenPolicy::always_rotating()).await;
    let account = env.connect(ADA).await;
    env.sandbox.add_fault(token_fault(
        FaultEffect::Latency { ms: 500 },
        FaultTimes::Always,
    ));

    // A reconnect lands while a refresh is at TikTok: the reconnect's tokens stay.
    let refreshing = {
        let keeper = Arc::clone(&env.keeper);
        tokio::spawn(async move { keeper.refresh_on_request(account).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    env.sandbox.clear_faults();
    let reconnected = env.connect(ADA).await;
    assert_eq!(reconnected, account);
    let after_reconnect = env.store.account_tokens(account).await.unwrap().unwrap();
    env.sandbox.add_fault(token_fault(
        FaultEffect::Latency { ms: 500 },
        FaultTimes::Always,
    ));
    // The refresh gives way to the reconnect (or, if the machine was slow to start it, came
    // after it and refreshed the reconnect's tokens): either way the account keeps live tokens.
    let refreshed_after = refreshing.await.unwrap().unwrap();
    let tokens = env.store.account_tokens(account).await.unwrap().unwrap();
    if !refreshed_after {
        assert_eq!(
            tokens.refresh_token.expose_secret(),
            after_reconnect.refresh_token.expose_secret(),
            "the reconnect's tokens stay"
        );
    }
    assert_eq!(
        env.store.account(account).await.unwrap().unwrap().status,
        AccountStatus::Connected
    );
    env.sandbox.clear_faults();
    assert!(
        env.keeper.refresh_on_request(account).await.unwrap(),
        "the stored refresh token is the live one"
    );
    env.sandbox.add_fault(token_fault(
        FaultEffect::Latency { ms: 500 },
        FaultTimes::Always,
    ));

    // A disconnect lands while a refresh is at TikTok: no tokens are written back.
    let refreshing = {
        let keeper = Arc::clone(&env.keeper);
        tokio::spawn(async move { keeper.refresh_on_request(account).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    env.store
        .set_account_status(account, AccountStatus::Disconnected, env.clock.now())
        .await
        .unwrap();
    assert!(matches!(
        refreshing.await.unwrap(),
        Err(KeeperError::NotConnected(AccountStatus::Disconnected))
    ));
    assert!(env.store.account_tokens(account).await.unwrap().is_none());
    assert_eq!(
        env.store.account(account).await.unwrap().unwrap().status,
        AccountStatus::Disconnected
    );
    env.sandbox.shutdown().await;
}

/// Ten simulated minutes of a keeper worker and a publishing step asking for a token every
/// second, with access tokens that live `ttl_secs`.
async fn refreshes_in_ten_minutes(backend: Backend, ttl_secs: u64) -> (usize, u64) {
    let tokens = TokenPolicy {
        access_token_ttl_secs: ttl_secs,
        ..TokenPolicy::always_rotating()
    };
    let env = env_with(backend, tokens).await;
    let account = env.connect(ADA).await;
    let mut events = env.keeper.subscribe();
    let worker = Worker::new(
        WorkerId::new("keeper"),
        env.store.clone(),
        env.clock.shared(),
        env.keeper.clone(),
        WorkerSettings::default(),
    );
    let start = env.clock.now();
    let mut refreshed = 0;
    for _ in 0..600 {
        env.keeper.schedule_due_refreshes().await.unwrap();
        while worker.run_once().await.unwrap() > 0 {}
        let token = env.keeper.access_token_for(account).await.unwrap();
        let tokens = env.store.account_tokens(account).await.unwrap().unwrap();
        assert_eq!(token.expose_secret(), tokens.access_token.expose_secret());
        assert!(
            tokens.access_token_expires_at > env.clock.now(),
            "a publishing step was handed an expired token"
        );
        refreshed += refreshes(&mut events);
        env.clock.advance(Duration::from_secs(1));
    }
    let elapsed = env.clock.now().duration_since(start).as_secs();
    assert_eq!(
        env.store.account(account).await.unwrap().unwrap().status,
        AccountStatus::Connected
    );
    env.sandbox.shutdown().await;
    (refreshed, u64::try_from(elapsed).unwrap())
}

#[rstest]
#[case::sqlite_60s(Backend::Sqlite, 60)]
#[case::sqlite_90s(Backend::Sqlite, 90)]
#[case::postgres_60s(Backend::Postgres, 60)]
#[tokio::test]
async fn short_lived_tokens_are_refreshed_at_most_twice_per_lifetime(
    #[case] backend: Backend,
    #[case] ttl_secs: u64,
) {
    let (refreshed, elapsed) = refreshes_in_ten_minutes(backend, ttl_secs).await;
    let lifetimes = elapsed / ttl_secs;
    let most = usize::try_from(2 * lifetimes + 1).unwrap();
    assert!(
        refreshed <= most,
        "{refreshed} refreshes in {elapsed} s of {ttl_secs} s tokens (at most {most})"
    );
    let fewest = usize::try_from(lifetimes.saturating_sub(1)).unwrap();
    assert!(
        refreshed >= fewest,
        "{refreshed} refreshes cannot keep {ttl_secs} s tokens fresh for {elapsed} s"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test]
async fn a_failed_refresh_backs_off_every_process_and_a_later_one_succeeds(
    #[case] backend: Backend,
) {
    let env = env_with(backend, TokenPolicy::always_rotating()).await;
    let account = env.connect(ADA).await;
    let (_other_store, other) = env.second_process(KeeperPolicy::default()).await;
    env.clock.advance(Duration::from_secs(7_200 - 120));
    env.sandbox.add_fault(token_fault(
        FaultEffect::Http5xxWithoutBody { http_status: 503 },
        FaultTimes::Once,
    ));
    let failed = env.keeper.access_token_for(account).await.unwrap_err();
    assert!(matches!(failed, KeeperError::TikTok(_)), "{failed:?}");
    // Neither process tries again at once: TikTok is not asked.
    for keeper in [&env.keeper, &other] {
        let error = keeper.access_token_for(account).await.unwrap_err();
        let KeeperError::BackingOff { until } = error else {
            panic!("expected a back-off, got {error:?}");
        };
        assert_eq!(
            until,
            clock::add(env.clock.now(), KeeperPolicy::default().first_backoff)
        );
    }
    env.clock.advance(KeeperPolicy::default().first_backoff);
    let token = other.access_token_for(account).await.unwrap();
    let tokens = env.store.account_tokens(account).await.unwrap().unwrap();
    assert_eq!(token.expose_secret(), tokens.access_token.expose_secret());
    assert_eq!(
        env.store.account(account).await.unwrap().unwrap().status,
        AccountStatus::Connected
    );
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_refresh_job_planned_for_a_backed_off_account_waits_for_the_back_off() {
    let env = env_with(Backend::Sqlite, TokenPolicy::always_rotating()).await;
    let account = env.connect(ADA).await;
    env.clock.advance(Duration::from_secs(7_200 - 120));
    env.sandbox.add_fault(token_fault(
        FaultEffect::Http5xxWithoutBody { http_status: 503 },
        FaultTimes::Once,
    ));
    env.keeper.access_token_for(account).await.unwrap_err();
    env.keeper.schedule_due_refreshes().await.unwrap();
    let worker = Worker::new(
        WorkerId::new("keeper"),
        env.store.clone(),
        env.clock.shared(),
        env.keeper.clone(),
        WorkerSettings::default(),
    );
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let next = env.store.next_due_at().await.unwrap().unwrap();
    assert_eq!(
        next,
        clock::add(env.clock.now(), KeeperPolicy::default().first_backoff),
        "the job comes back when the back-off ends"
    );
    env.sandbox.shutdown().await;
}
