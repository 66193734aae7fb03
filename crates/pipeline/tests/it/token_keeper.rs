//! The token keeper against the sandbox on a shared manual clock: 400 simulated days of refreshes
//! with both token-lifetime generations, refresh-token expiry warnings and the reconnect that
//! follows, injected `invalid_grant` and transient failures, and two workers that must never
//! refresh one account at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use clock::{Clock, ManualClock, Timestamp};
use rstest::rstest;
use secrecy::{ExposeSecret, SecretString};
use tiktok::{AccessToken, TikTokClient, TikTokConfig, TokenGrant};
use tiktok_sandbox::{
    FaultEffect, FaultEndpoint, FaultRule, FaultTimes, Sandbox, SandboxConfig, SandboxHandle,
    TokenPolicy,
};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokpost_core::{AccountId, AccountStatus, JobKind, OpenId, ReconnectReason, WorkspaceId};
use tokpost_pipeline::token_keeper::{KeeperEvent, KeeperPolicy, TokenKeeper};
use tokpost_pipeline::{Worker, WorkerSettings};
use tokpost_store::{AccountTokens, NewAccount, NewJob, Store, WorkerId};

const REDIRECT_URI: &str = "http://127.0.0.1:8765/auth/tiktok/callback";
const ADA: &str = "ada.public";
const BO: &str = "bo.private";
const ED: &str = "ed.quiet";
const DAY: Duration = Duration::from_secs(86_400);

use tokpost_testkit::stores::{Backend, TestStore};

struct Env {
    clock: Arc<ManualClock>,
    sandbox: SandboxHandle,
    client: TikTokClient,
    store: Arc<dyn Store>,
    keeper: Arc<TokenKeeper>,
    workspace: WorkspaceId,
    _db: TestStore,
}

async fn start(tokens: TokenPolicy, backend: Backend) -> Env {
    let clock = ManualClock::at_fixed_start();
    let config = SandboxConfig {
        tokens,
        ..SandboxConfig::default()
    };
    let app = config.apps[0].clone();
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = Sandbox::start(config, clock.shared(), api, None)
        .await
        .unwrap();
    let client_config = TikTokConfig::production(
        app.client_key.clone(),
        SecretString::from(app.client_secret.expose().to_owned()),
        REDIRECT_URI,
    )
    .unwrap()
    .with_base_urls(sandbox.api_base_url(), sandbox.authorize_base_url());
    let client = TikTokClient::new(client_config, clock.shared()).unwrap();
    let db = TestStore::open(backend).await;
    let store = Arc::clone(&db.store);
    let workspace = store
        .create_workspace("keeper", clock.now())
        .await
        .unwrap()
        .id;
    let keeper = Arc::new(TokenKeeper::new(
        store.clone(),
        clock.shared(),
        client.clone(),
        KeeperPolicy::default(),
    ));
    Env {
        clock,
        sandbox,
        client,
        store,
        keeper,
        workspace,
        _db: db,
    }
}

impl Env {
    fn worker(&self, name: &str) -> Worker<TokenKeeper> {
        Worker::new(
            WorkerId::new(name),
            self.store.clone(),
            self.clock.shared(),
            self.keeper.clone(),
            WorkerSettings::default(),
        )
    }

    /// The authorize redirect (choosing `creator` on the sandbox's page) and the code exchange,
    /// then `connect_account`, as the connect flow will do it.
    async fn connect(&self, creator: &str) -> AccountId {
        let grant = tokpost_testkit::oauth::grant(
            &self.client,
            creator,
            tokpost_testkit::oauth::PUBLISHING,
        )
        .await;
        self.store_grant(creator, &grant).await
    }

    async fn store_grant(&self, creator: &str, grant: &TokenGrant) -> AccountId {
        let now = self.clock.now();
        let account = self
            .store
            .connect_account(
                NewAccount {
                    workspace_id: self.workspace,
                    open_id: OpenId::new(grant.open_id.as_str()).unwrap(),
                    display_name: creator.to_owned(),
                    avatar_url: None,
                    scopes: grant
                        .scopes
                        .iter()
                        .map(|s| tokpost_core::Scope::new(s.as_str()).unwrap())
                        .collect::<BTreeSet<_>>(),
                    tokens: AccountTokens {
                        access_token: SecretString::from(
                            grant.access_token.expose_secret().to_owned(),
                        ),
                        refresh_token: SecretString::from(
                            grant.refresh_token.expose_secret().to_owned(),
                        ),
                        access_token_expires_at: clock::add(now, grant.expires_in),
                        refresh_token_expires_at: clock::add(now, grant.refresh_expires_in),
                        granted_at: now,
                    },
                },
                now,
            )
            .await
            .unwrap();
        account.id
    }

    async fn status(&self, account: AccountId) -> AccountStatus {
        self.store.account(account).await.unwrap().unwrap().status
    }

    async fn stored_access_token(&self, account: AccountId) -> AccessToken {
        let tokens = self.store.account_tokens(account).await.unwrap().unwrap();
        AccessToken::new(tokens.access_token.expose_secret())
    }

    async fn stored_refresh_token(&self, account: AccountId) -> String {
        let tokens = self.store.account_tokens(account).await.unwrap().unwrap();
        tokens.refresh_token.expose_secret().to_owned()
    }

    async fn run_until_idle(&self, worker: &Worker<TokenKeeper>) {
        while worker.run_once().await.unwrap() > 0 {}
    }

    fn advance_to(&self, at: Timestamp) {
        if at > self.clock.now() {
            self.clock.set(at);
        }
    }
}

fn drain(events: &mut broadcast::Receiver<KeeperEvent>) -> Vec<KeeperEvent> {
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    seen
}

/// A reproducible fraction in [0, 1) for "random" probe points.
fn next_fraction(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    f64::from(u32::try_from(*state >> 40).unwrap()) / f64::from(1_u32 << 24)
}

fn whole_seconds_between(from: Timestamp, to: Timestamp, fraction: f64) -> Timestamp {
    let span = to.duration_since(from).as_secs();
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let offset = (span as f64 * fraction) as u64;
    clock::add(from, Duration::from_secs(offset))
}

/// Runs the scheduler (every 12 h) and a worker for 400 simulated days, jumping from one due
/// moment to the next and probing creator info with the stored token at a random moment in
/// between.
async fn keep_for_400_days(tokens: TokenPolicy, backend: Backend) {
    let refresh_lifetime = Duration::from_secs(tokens.refresh_token_ttl_secs);
    let always_rotates = matches!(tokens.rotation, tiktok_sandbox::Rotation::Always);
    let env = start(tokens, backend).await;
    let mut events = env.keeper.subscribe();
    let account = env.connect(ADA).await;
    let connected_at = env.clock.now();
    let refresh_token_ends = clock::add(connected_at, refresh_lifetime);
    let first_refresh_token = env.stored_refresh_token(account).await;
    let worker = env.worker("keeper-0");
    let end = clock::add(connected_at, 400 * DAY);
    let pass_every = Duration::from_secs(12 * 3_600);
    let mut next_pass = connected_at;
    let mut seed = 42;
    let (mut refreshes, mut rotations, mut probes) = (0_u32, 0_u32, 0_u32);
    let mut warnings = Vec::new();
    let mut reconnect: Option<(Timestamp, ReconnectReason)> = None;

    while env.clock.now() < end {
        let now = env.clock.now();
        if now >= next_pass {
            env.keeper.schedule_due_refreshes().await.unwrap();
            next_pass = clock::add(now, pass_every);
        }
        env.run_until_idle(&worker).await;
        for event in drain(&mut events) {
            match event {
                KeeperEvent::Refreshed { rotated, .. } => {
                    refreshes += 1;
                    rotations += u32::from(rotated);
                }
                KeeperEvent::RefreshTokenExpiresSoon {
                    refresh_token_expires_at,
                    threshold,
                    ..
                } => warnings.push((now, refresh_token_expires_at, threshold)),
                KeeperEvent::NeedsReconnect { why, .. } => {
                    assert!(reconnect.is_none(), "reconnect announced twice");
                    reconnect = Some((now, why));
                }
            }
        }
        let stored = env.store.account(account).await.unwrap().unwrap();
        let connected = stored.status == AccountStatus::Connected;
        if connected {
            assert!(
                stored.access_token_expires_at > now,
                "the access token expired unrefreshed at {now} (expiry {})",
                stored.access_token_expires_at
            );
        } else {
            assert!(
                now >= refresh_token_ends,
                "reconnect needed at {now}, before the refresh token ended"
            );
        }

        let due = env.store.next_due_at().await.unwrap().unwrap_or(end);
        let target = due.min(next_pass).min(end).max(now);
        let probe_at = whole_seconds_between(now, target, next_fraction(&mut seed));
        env.advance_to(probe_at);
        if connected {
            let token = env.stored_access_token(account).await;
            env.client
                .creator_info(&token)
                .await
                .unwrap_or_else(|f| panic!("creator info at {probe_at} failed: {f:?}"));
            probes += 1;
        }
        env.advance_to(target);
        if target == now {
            // Nothing became due: step to the next pass.
            env.advance_to(next_pass.min(end));
        }
    }

    eprintln!(
        "{backend:?}, refresh token {} days: {refreshes} refreshes, {rotations} rotations, {probes} creator-info probes, warnings {warnings:?}, reconnect {reconnect:?}",
        refresh_lifetime.as_secs() / DAY.as_secs()
    );
    let lifetime_days = refresh_lifetime.as_secs() / DAY.as_secs();
    assert!(
        refreshes as u64 > lifetime_days,
        "only {refreshes} refreshes in {lifetime_days} days"
    );
    assert!(probes > 300, "only {probes} probes");
    assert!(rotations > 0, "no rotation in {refreshes} refreshes");
    if always_rotates {
        assert_eq!(
            rotations, refreshes,
            "every refresh rotates with this preset"
        );
    }
    assert_ne!(
        env.stored_refresh_token(account).await,
        first_refresh_token,
        "the rotated refresh token was stored"
    );

    let thresholds: Vec<Duration> = warnings.iter().map(|w| w.2).collect();
    assert_eq!(thresholds, vec![30 * DAY, 7 * DAY], "{warnings:?}");
    for (seen_at, ends, threshold) in &warnings {
        assert_eq!(*ends, refresh_token_ends);
        let left = Duration::try_from(ends.duration_since(*seen_at)).unwrap();
        assert!(
            left <= *threshold && left > threshold.saturating_sub(DAY),
            "{threshold:?} warning with {left:?} left"
        );
    }
    let (reconnect_at, why) = reconnect.expect("the account never needed a reconnect");
    assert_eq!(why, ReconnectReason::RefreshTokenExpired);
    assert!(reconnect_at >= refresh_token_ends);
    assert!(
        reconnect_at <= clock::add(refresh_token_ends, DAY),
        "reconnect noticed late: {reconnect_at}"
    );
    assert_eq!(
        env.status(account).await,
        AccountStatus::NeedsReconnect {
            why: ReconnectReason::RefreshTokenExpired
        }
    );
    env.sandbox.shutdown().await;
}

#[rstest]
#[case::long_standing_24h_365d_maybe_rotating(TokenPolicy::long_standing())]
#[case::newer_2h_180d_always_rotating(TokenPolicy::always_rotating())]
#[tokio::test]
async fn tokens_stay_fresh_for_400_days_until_the_refresh_token_itself_ends(
    #[case] tokens: TokenPolicy,
) {
    keep_for_400_days(tokens, Backend::Sqlite).await;
}

#[rstest]
#[case::long_standing_24h_365d_maybe_rotating(TokenPolicy::long_standing())]
#[case::newer_2h_180d_always_rotating(TokenPolicy::always_rotating())]
#[tokio::test]
async fn tokens_stay_fresh_for_400_days_on_postgres(#[case] tokens: TokenPolicy) {
    keep_for_400_days(tokens, Backend::Postgres).await;
}

/// Connects ADA, schedules its refresh and moves the clock to when it is due.
async fn due_refresh(env: &Env) -> AccountId {
    let account = env.connect(ADA).await;
    let pass = env.keeper.schedule_due_refreshes().await.unwrap();
    assert_eq!(pass.enqueued, 1);
    let due = env.store.next_due_at().await.unwrap().unwrap();
    env.advance_to(due);
    account
}

#[tokio::test]
async fn an_injected_invalid_grant_on_refresh_marks_the_account_needs_reconnect() {
    let env = start(TokenPolicy::always_rotating(), Backend::Sqlite).await;
    let mut events = env.keeper.subscribe();
    let account = due_refresh(&env).await;
    env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::Token,
        creator: None,
        effect: FaultEffect::Error {
            code: "invalid_grant".to_owned(),
            http_status: 400,
            message: None,
        },
        times: FaultTimes::Once,
    });
    env.run_until_idle(&env.worker("w")).await;
    let why = ReconnectReason::RefreshTokenRejected;
    assert_eq!(
        env.status(account).await,
        AccountStatus::NeedsReconnect { why }
    );
    assert_eq!(
        drain(&mut events),
        vec![KeeperEvent::NeedsReconnect { account, why }]
    );
    assert_eq!(
        env.store.next_due_at().await.unwrap(),
        None,
        "the refresh job is not retried"
    );
    // A needs-reconnect account is no longer scheduled.
    assert_eq!(
        env.keeper.schedule_due_refreshes().await.unwrap().enqueued,
        0
    );
    env.sandbox.shutdown().await;
}

#[rstest]
#[case::bare_503(FaultEffect::Http5xxWithoutBody { http_status: 503 })]
#[case::dropped_connection(FaultEffect::DropConnection { after_processing: false })]
#[tokio::test]
async fn a_transient_refresh_failure_is_retried_later_and_the_account_stays_connected(
    #[case] effect: FaultEffect,
) {
    let env = start(TokenPolicy::always_rotating(), Backend::Sqlite).await;
    let mut events = env.keeper.subscribe();
    let account = due_refresh(&env).await;
    let expiry_before = env
        .store
        .account(account)
        .await
        .unwrap()
        .unwrap()
        .access_token_expires_at;
    env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::Token,
        creator: None,
        effect,
        times: FaultTimes::Once,
    });
    let worker = env.worker("w");
    env.run_until_idle(&worker).await;
    assert_eq!(env.status(account).await, AccountStatus::Connected);
    assert!(drain(&mut events).is_empty());
    let retry_at = env
        .store
        .next_due_at()
        .await
        .unwrap()
        .expect("the refresh is queued again");
    assert!(
        retry_at > env.clock.now(),
        "retried after a back-off, not at once"
    );

    env.advance_to(retry_at);
    env.run_until_idle(&worker).await;
    let events = drain(&mut events);
    assert!(
        matches!(
            events.as_slice(),
            [KeeperEvent::Refreshed { rotated: true, .. }]
        ),
        "{events:?}"
    );
    let stored = env.store.account(account).await.unwrap().unwrap();
    assert_eq!(stored.status, AccountStatus::Connected);
    assert!(stored.access_token_expires_at > expiry_before);
    env.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_refresh_one_account_at_once() {
    let env = start(TokenPolicy::always_rotating(), Backend::Sqlite).await;
    let mut events = env.keeper.subscribe();
    let mut accounts = Vec::new();
    for creator in [ADA, BO, ED] {
        let account = env.connect(creator).await;
        let expiry = env
            .store
            .account(account)
            .await
            .unwrap()
            .unwrap()
            .access_token_expires_at;
        // Two jobs per account (as a crash and a re-plan could leave), both due now: with
        // always-rotating tokens a second, overlapping refresh would present a dead refresh
        // token and end in invalid_grant.
        for copy in 0..2 {
            env.store
                .enqueue(
                    NewJob {
                        kind: JobKind::RefreshToken,
                        payload: serde_json::json!({ "refreshes_expiry_ms": expiry.as_millisecond() }),
                        account_id: Some(account),
                        post_id: None,
                        run_at: env.clock.now(),
                        dedupe_key: Some(format!("test:{account}:{copy}")),
                    },
                    env.clock.now(),
                )
                .await
                .unwrap();
        }
        accounts.push(account);
    }
    // Half-way through the 2 h lifetime, so a refresh yields a later expiry than planned.
    env.clock.advance(Duration::from_secs(3_600));
    let (first, second) = (env.worker("w-1"), env.worker("w-2"));
    let run = |worker: Worker<TokenKeeper>| async move {
        let mut ran = 0;
        loop {
            let now_ran = worker.run_once().await.unwrap();
            if now_ran == 0 {
                return ran;
            }
            ran += now_ran;
        }
    };
    let (ran_first, ran_second) = tokio::join!(tokio::spawn(run(first)), tokio::spawn(run(second)));
    // Whatever is left (a job skipped while its account was busy) runs now.
    env.run_until_idle(&env.worker("w-3")).await;
    assert!(ran_first.unwrap() + ran_second.unwrap() >= 3);
    let refreshed: Vec<AccountId> = drain(&mut events)
        .into_iter()
        .map(|event| match event {
            KeeperEvent::Refreshed { account, .. } => account,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    for account in &accounts {
        assert_eq!(
            refreshed.iter().filter(|a| *a == account).count(),
            1,
            "{refreshed:?}"
        );
        assert_eq!(env.status(*account).await, AccountStatus::Connected);
    }
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_publishing_step_gets_the_stored_token_or_a_fresh_one_when_it_is_about_to_expire() {
    let env = start(TokenPolicy::always_rotating(), Backend::Sqlite).await;
    let account = env.connect(ADA).await;
    let stored = env.stored_access_token(account).await;
    let handed = env.keeper.access_token_for(account).await.unwrap();
    assert_eq!(handed.expose_secret(), stored.expose_secret());

    // Two minutes before expiry (inside the 5 min margin): refreshed and stored before use.
    env.clock.advance(Duration::from_secs(7_200 - 120));
    let handed = env.keeper.access_token_for(account).await.unwrap();
    assert_ne!(handed.expose_secret(), stored.expose_secret());
    assert_eq!(
        handed.expose_secret(),
        env.stored_access_token(account).await.expose_secret()
    );
    env.client.creator_info(&handed).await.unwrap();
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_running_worker_sleeps_until_the_refresh_is_due_and_stops_on_shutdown() {
    let env = start(TokenPolicy::always_rotating(), Backend::Sqlite).await;
    let mut events = env.keeper.subscribe();
    let account = env.connect(ADA).await;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let worker = env.worker("looping");
    let running = tokio::spawn(async move { worker.run(shutdown).await });

    env.keeper.schedule_due_refreshes().await.unwrap();
    let due = env.store.next_due_at().await.unwrap().unwrap();
    env.advance_to(due);
    // The generous real-time bound only guards against a hang; the clock does the waiting.
    let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("the sleeping worker never woke for the due refresh")
        .unwrap();
    assert!(
        matches!(event, KeeperEvent::Refreshed { account: a, .. } if a == account),
        "{event:?}"
    );

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the worker did not stop on shutdown")
        .unwrap();
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_refresh_token_expiry_warning_is_sent_once_even_after_a_restart() {
    let short_lived = TokenPolicy {
        refresh_token_ttl_secs: 5 * 86_400,
        ..TokenPolicy::always_rotating()
    };
    let env = start(short_lived, Backend::Sqlite).await;
    let mut events = env.keeper.subscribe();
    let account = env.connect(ADA).await;
    let ends = env
        .store
        .account(account)
        .await
        .unwrap()
        .unwrap()
        .refresh_token_expires_at;
    assert_eq!(
        env.keeper.schedule_due_refreshes().await.unwrap().warnings,
        1
    );
    assert_eq!(
        drain(&mut events),
        vec![KeeperEvent::RefreshTokenExpiresSoon {
            account,
            refresh_token_expires_at: ends,
            threshold: 7 * DAY,
        }],
        "only the tightest crossed threshold is announced"
    );
    assert_eq!(
        env.keeper.schedule_due_refreshes().await.unwrap().warnings,
        0
    );

    let restarted = TokenKeeper::new(
        env.store.clone(),
        env.clock.shared(),
        env.client.clone(),
        KeeperPolicy::default(),
    );
    let mut after_restart = restarted.subscribe();
    assert_eq!(
        restarted.schedule_due_refreshes().await.unwrap().warnings,
        0
    );
    assert!(drain(&mut after_restart).is_empty());
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_removed_authorization_stops_the_refreshes_until_a_reconnect() {
    let env = start(TokenPolicy::always_rotating(), Backend::Sqlite).await;
    let mut events = env.keeper.subscribe();
    let account = due_refresh(&env).await;
    env.keeper.authorization_removed(account).await.unwrap();
    let why = ReconnectReason::AuthorizationRemoved;
    assert_eq!(
        env.status(account).await,
        AccountStatus::NeedsReconnect { why }
    );
    env.run_until_idle(&env.worker("w")).await;
    assert_eq!(
        drain(&mut events),
        vec![KeeperEvent::NeedsReconnect { account, why }],
        "the queued refresh is dropped, not attempted"
    );

    // The creator connects again: the same account is kept fresh again.
    assert_eq!(env.connect(ADA).await, account);
    assert_eq!(env.status(account).await, AccountStatus::Connected);
    assert_eq!(
        env.keeper.schedule_due_refreshes().await.unwrap().enqueued,
        1
    );
    env.advance_to(env.store.next_due_at().await.unwrap().unwrap());
    env.run_until_idle(&env.worker("w")).await;
    assert!(matches!(
        drain(&mut events).as_slice(),
        [KeeperEvent::Refreshed { .. }]
    ));
    env.sandbox.shutdown().await;
}

/// Holds its job until the test releases it.
struct HeldJob {
    started: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

impl tokpost_pipeline::JobHandler for HeldJob {
    async fn handle(&self, _job: &tokpost_store::Job) -> tokpost_pipeline::JobOutcome {
        self.started.notify_one();
        self.release.notified().await;
        tokpost_pipeline::JobOutcome::Done
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_keeps_its_lease_by_heartbeat_and_no_other_worker_takes_it() {
    let clock = ManualClock::at_fixed_start();
    let db = TestStore::open(Backend::Sqlite).await;
    let store = Arc::clone(&db.store);
    let job = match store
        .enqueue(
            NewJob {
                kind: JobKind::SyncCreatorInfo,
                payload: serde_json::json!({}),
                account_id: None,
                post_id: None,
                run_at: clock.now(),
                dedupe_key: None,
            },
            clock.now(),
        )
        .await
        .unwrap()
    {
        tokpost_store::Enqueued::Added(id) => id,
        other => panic!("{other:?}"),
    };
    let settings = WorkerSettings {
        lease: Duration::from_secs(300),
        heartbeat_every: Duration::from_secs(60),
        ..WorkerSettings::default()
    };
    let handler = Arc::new(HeldJob {
        started: Arc::new(tokio::sync::Notify::new()),
        release: Arc::new(tokio::sync::Notify::new()),
    });
    let holder = Worker::new(
        WorkerId::new("holder"),
        store.clone(),
        clock.shared(),
        handler.clone(),
        settings,
    );
    let running = tokio::spawn(async move { holder.run_once().await.unwrap() });
    tokio::time::timeout(Duration::from_secs(30), handler.started.notified())
        .await
        .expect("the job never started");

    // Six minutes in one-minute steps: past the first lease's end, kept alive by heartbeats.
    for _ in 0..6 {
        let before = store.job(job).await.unwrap().unwrap().locked_until.unwrap();
        clock.advance(Duration::from_secs(60));
        let mut extended = false;
        for _ in 0..3_000 {
            let until = store.job(job).await.unwrap().unwrap().locked_until.unwrap();
            if until > before {
                extended = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(extended, "no heartbeat after a minute of job time");
    }
    let other = Worker::new(
        WorkerId::new("other"),
        store.clone(),
        clock.shared(),
        handler.clone(),
        settings,
    );
    // A claim would block on the held handler; the bound turns that into a failure.
    let claimed = tokio::time::timeout(Duration::from_secs(30), other.run_once())
        .await
        .expect("the other worker claimed the held job")
        .unwrap();
    assert_eq!(claimed, 0, "a held job was swept or claimed");

    handler.release.notify_one();
    assert_eq!(running.await.unwrap(), 1);
    assert_eq!(
        store.job(job).await.unwrap(),
        None,
        "a finished job is removed"
    );
}
