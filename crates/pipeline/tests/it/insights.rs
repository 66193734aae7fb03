//! Insights snapshots against the sandbox on a manual clock, on both databases: a public post is
//! followed from the move that records its public id and read hourly while young, its counts a
//! growing series; a private post is never followed; the creator's counts are read once a day;
//! an account connected for publishing only keeps publishing and its snapshot job waits a day;
//! the Display API's limit is counted per token, or for the whole app when the operator says so;
//! a post whose public id TikTok never reports is found among the creator's public videos by its
//! caption and time, unless another post of the same words and hour makes that ambiguous.
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
use support::{ADA, Backend, Env, INSIGHTS, Setup, start, video};
use tiktok_sandbox::FaultEndpoint;
use tokpost_core::{EventKind, PostId, PrivacyLevel, StateKind};
use tokpost_store::{RateLimitDecision, RateLimitSlot};

const HOUR: Duration = Duration::from_secs(3_600);

/// Runs every job due now, then moves the clock on by `step`, `times` times.
async fn run_for(
    env: &Env,
    worker: &tokpost_pipeline::Worker<tokpost_pipeline::Publisher>,
    step: Duration,
    times: u32,
) {
    for _ in 0..times {
        while worker.run_once().await.unwrap() > 0 {}
        env.clock.advance(step);
    }
    while worker.run_once().await.unwrap() > 0 {}
}

async fn views(env: &Env, post: PostId) -> Vec<u64> {
    env.store
        .post_counts(post)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, counts)| counts.views.unwrap())
        .collect()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_posts_counts_are_read_hourly_into_a_growing_series_and_a_private_one_is_not(
    #[case] backend: Backend,
) {
    let env = start(Setup::new(backend)).await;
    let account = env.connect_with(ADA, INSIGHTS).await;
    let media = env.small_video(1).await;
    let public = env
        .schedule(
            account,
            video(media, "launch", PrivacyLevel::PublicToEveryone),
            0,
        )
        .await;
    let private = env
        .schedule(account, video(media, "for me", PrivacyLevel::SelfOnly), 0)
        .await;
    let worker = env.worker("w");
    env.drive(&[&worker], &[public, private], &[], 2 * HOUR)
        .await;
    assert_eq!(env.state(public).await, StateKind::Published);
    assert!(!env.post(public).await.progress.public_post_ids.is_empty());

    // A day of hourly passes.
    run_for(&env, &worker, HOUR, 24).await;
    let series = views(&env, public).await;
    assert!(series.len() >= 20, "read about hourly: {series:?}");
    assert!(
        series.windows(2).all(|pair| pair[0] <= pair[1]),
        "{series:?}"
    );
    assert!(series.last() > series.first(), "{series:?}");
    assert!(
        env.store.post_counts(private).await.unwrap().is_empty(),
        "a private post is not in the Display API and is never followed"
    );
    let creator = env.store.account_counts(account).await.unwrap();
    assert!(
        !creator.is_empty() && creator.len() <= 2,
        "once a day: {creator:?}"
    );
    assert!(creator[0].1.followers.is_some());

    // After the first day, every 6 hours.
    let before = views(&env, public).await.len();
    run_for(&env, &worker, HOUR, 24).await;
    let added = views(&env, public).await.len() - before;
    assert!(
        (3..=5).contains(&added),
        "every 6 h in the second day: {added}"
    );
    assert!(env.store.account_counts(account).await.unwrap().len() >= 2);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_connected_for_publishing_only_publishes_and_its_snapshots_wait(
    #[case] backend: Backend,
) {
    let env = start(Setup::new(backend)).await;
    let account = env.connect(ADA).await;
    let media = env.small_video(2).await;
    let post = env
        .schedule(
            account,
            video(media, "launch", PrivacyLevel::PublicToEveryone),
            0,
        )
        .await;
    let worker = env.worker("w");
    env.drive(&[&worker], &[post], &[], 2 * HOUR).await;
    assert_eq!(env.state(post).await, StateKind::Published);
    run_for(&env, &worker, HOUR, 3).await;
    assert!(env.store.post_counts(post).await.unwrap().is_empty());
    // The account's job waits a day for a reconnect instead of failing.
    let next = env.store.next_due_at().await.unwrap().unwrap();
    assert!(
        next.duration_since(env.clock.now()).unsigned_abs() > 12 * HOUR,
        "{next}"
    );
}

/// Whose window the Display API's requests take: each token's by default, the app's when the
/// operator says TikTok counts per app. Two creators read at the same instant: their queries
/// land in their own windows, or both in the app's.
#[rstest]
#[case::per_token_on_sqlite(Backend::Sqlite, false)]
#[case::per_app_on_sqlite(Backend::Sqlite, true)]
#[case::per_app_on_postgres(Backend::Postgres, true)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_display_limit_is_counted_per_token_or_for_the_whole_app(
    #[case] backend: Backend,
    #[case] limit_per_app: bool,
) {
    let mut setup = Setup::new(backend);
    setup.insights.limit_per_app = limit_per_app;
    let ada = setup.sandbox.creators[0].clone();
    setup.sandbox.creators.push(tiktok_sandbox::CreatorConfig {
        open_id: "-000Fay_PublicCreator_Pq2WsXe4Rt_F6H".to_owned(),
        username: "fay.public".to_owned(),
        nickname: "Fay (public)".to_owned(),
        ..ada
    });
    let env = start(setup).await;
    let accounts = [
        env.connect_with(ADA, INSIGHTS).await,
        env.connect_with("fay.public", INSIGHTS).await,
    ];
    let media = env.small_video(1).await;
    let mut posts = Vec::new();
    for account in accounts {
        posts.push(
            env.schedule(
                account,
                video(media, "reach", PrivacyLevel::PublicToEveryone),
                0,
            )
            .await,
        );
    }
    let worker = env.worker("w");
    env.drive(&[&worker], &posts, &[], 2 * HOUR).await;

    // Both posts are due again; each creator's pass sends one query at this instant.
    env.clock.advance(2 * HOUR);
    while worker.run_once().await.unwrap() > 0 {}
    let window = Duration::from_secs(60);
    let used = |slot: RateLimitSlot<'static>| {
        let store = env.store.clone();
        let now = env.clock.now();
        async move {
            match store.take_rate_limit_slot(slot, now).await.unwrap() {
                RateLimitDecision::Allowed { used } => used - 1,
                limited @ RateLimitDecision::Limited { .. } => panic!("{limited:?}"),
            }
        }
    };
    let app = used(RateLimitSlot::app_wide("video_query", window, 600)).await;
    let mut own = Vec::new();
    for account in accounts {
        own.push(
            used(RateLimitSlot {
                account_id: account,
                endpoint: "video_query",
                window,
                limit: 600,
            })
            .await,
        );
    }
    if limit_per_app {
        assert_eq!(
            (app, own),
            (2, vec![0, 0]),
            "both queries in the app's window"
        );
    } else {
        assert_eq!(
            (app, own),
            (0, vec![1, 1]),
            "each query in its token's window"
        );
    }
    for post in posts {
        assert!(
            views(&env, post).await.len() >= 2,
            "read again after two hours"
        );
    }
}

/// ed.quiet's posts go public but status fetch never names their public id. Once status fetch
/// gives up (3 h), the account's pass lists the creator's public videos and matches each post by
/// caption and time: a unique one is followed from then on; two posts with one caption in one
/// hour stay unmatched (a swap of their counts would be worse than none); a private post is
/// never looked for; after a week nobody looks any more.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_public_id_never_arrives_is_found_by_its_caption_and_time(
    #[case] backend: Backend,
) {
    let env = start(Setup::new(backend)).await;
    let account = env.connect_with("ed.quiet", INSIGHTS).await;
    let mut posts = Vec::new();
    for (salt, caption, privacy) in [
        (1, "quiet launch\n#bread", PrivacyLevel::PublicToEveryone),
        (2, "twin", PrivacyLevel::PublicToEveryone),
        (3, "twin", PrivacyLevel::PublicToEveryone),
        (4, "quiet launch\n#bread", PrivacyLevel::SelfOnly),
    ] {
        let media = env.small_video(salt).await;
        posts.push(
            env.schedule(account, video(media, caption, privacy), 0)
                .await,
        );
    }
    let [unique, twin_a, twin_b, private] = posts[..] else {
        unreachable!()
    };
    let worker = env.worker("w");
    env.drive(&[&worker], &posts, &[], 2 * HOUR).await;
    for post in &posts {
        assert_eq!(env.state(*post).await, StateKind::Published);
        assert!(env.post(*post).await.progress.public_post_ids.is_empty());
    }
    let lists = || env.sandbox.admitted(FaultEndpoint::VideoList);
    assert_eq!(lists(), 0, "nobody looks while status fetch may still tell");

    // Status fetch gives up after 3 h; the account's pass then looks.
    run_for(&env, &worker, HOUR, 4).await;
    assert!(lists() >= 1);
    let found = env.post(unique).await.progress.public_post_ids;
    assert_eq!(found.len(), 1, "{found:?}");
    let history = env.store.post_events(unique).await.unwrap();
    let note = history
        .iter()
        .rfind(|event| event.kind == EventKind::Note)
        .unwrap();
    assert!(
        note.message.contains(&found[0]) && note.message.contains("caption and time"),
        "{}",
        note.message
    );
    for post in [twin_a, twin_b, private] {
        assert!(env.post(post).await.progress.public_post_ids.is_empty());
        assert!(env.store.following(post).await.unwrap().is_none());
    }

    // Followed like any other post from then on.
    run_for(&env, &worker, HOUR, 3).await;
    assert!(env.store.following(unique).await.unwrap().is_some());
    assert!(views(&env, unique).await.len() >= 2);

    // The twins are looked for hourly for a week, then not at all.
    let before = lists();
    run_for(&env, &worker, HOUR, 24).await;
    let a_day = lists() - before;
    assert!((20..=26).contains(&a_day), "hourly looks: {a_day}");
    run_for(&env, &worker, 6 * HOUR, 28).await;
    let after_a_week = lists();
    run_for(&env, &worker, 6 * HOUR, 8).await;
    assert_eq!(
        lists(),
        after_a_week,
        "a week after publishing nobody looks"
    );
    assert!(env.post(twin_a).await.progress.public_post_ids.is_empty());
}
