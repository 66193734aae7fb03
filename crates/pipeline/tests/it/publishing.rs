//! The publishing steps end to end against the sandbox on a shared manual clock: every kind of
//! post reaches its final state and matches what the sandbox says it published; lost answers
//! never publish twice; caps defer; late posts follow the grace policy; catalogued failures
//! injected at the step where they occur end in the catalog's state, with no resend of a
//! non-transient failure.
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
use support::{ADA, BO, Backend, Env, Setup, inits, photos, start, video};
use tiktok_sandbox::{FaultEffect, FaultEndpoint, FaultRule, FaultTimes};
use tokpost_core::{
    Actor, EventKind, PostMode, PostState, PrivacyLevel, RequiredAction, StateKind, UploadSource,
};
use tokpost_store::MediaKind;

const HOUR: Duration = Duration::from_secs(3_600);
const MIB: u64 = 1024 * 1024;

fn published_records(env: &Env, publish_id: &str) -> Vec<tiktok_sandbox::PublishedRecord> {
    env.sandbox
        .published()
        .into_iter()
        .filter(|record| record.publish_id == publish_id)
        .collect()
}

async fn publish_id(env: &Env, post: tokpost_core::PostId) -> String {
    env.post(post)
        .await
        .progress
        .publish_id
        .expect("a publish id")
        .as_str()
        .to_owned()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_multi_chunk_video_is_published_at_its_time(#[case] backend: Backend) {
    let env = start(Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    let media = env.large_video(70 * MIB, 1).await;
    let post = env
        .schedule(
            ada,
            video(
                media,
                "seventy megabytes #tokpost",
                PrivacyLevel::PublicToEveryone,
            ),
            600,
        )
        .await;
    let worker = env.worker("w1");

    assert_eq!(
        worker.run_once().await.unwrap(),
        0,
        "nothing is due before its time"
    );
    assert_eq!(env.state(post).await, StateKind::Scheduled);

    env.drive(&[&worker], &[post], &[], 2 * HOUR).await;
    let stored = env.post(post).await;
    assert_eq!(stored.state, PostState::Published);
    assert_eq!(stored.progress.uploaded_bytes, 70 * MIB);
    assert_eq!(
        stored.progress.public_post_ids.len(),
        1,
        "the public id arrived after moderation"
    );

    let records = published_records(&env, &publish_id(&env, post).await);
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.status, "PUBLISH_COMPLETE");
    assert_eq!(record.source, "FILE_UPLOAD");
    assert_eq!(record.post_mode, "DIRECT_POST");
    assert_eq!(record.privacy_level.as_deref(), Some("PUBLIC_TO_EVERYONE"));
    assert_eq!(record.title.as_deref(), Some("seventy megabytes #tokpost"));
    assert_eq!(record.transferred_bytes, 70 * MIB);
    assert_eq!(
        record.public_post_ids,
        stored
            .progress
            .public_post_ids
            .iter()
            .map(|id| id.parse::<u64>().unwrap())
            .collect::<Vec<_>>()
    );
    let init_at = env
        .events(post)
        .await
        .into_iter()
        .find(|event| event.kind == EventKind::InitRequested)
        .unwrap()
        .at;
    assert_eq!(
        init_at,
        stored.scheduled_at.at(),
        "initialized at the scheduled second"
    );
    assert_eq!(env.sandbox.published().len(), 1, "exactly one publish");
}

/// The move to `processing` after the last chunk removes the publish job in its own
/// transaction (the worker then writes no completion): once the worker's run ends, the status
/// check is the only job left, not due yet, and the post goes on to be published.
#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_uploads_last_move_takes_its_publish_job_with_it(#[case] backend: Backend) {
    let env = start(Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    let media = env.small_video(7).await;
    let post = env
        .schedule(
            ada,
            video(media, "one chunk", PrivacyLevel::PublicToEveryone),
            0,
        )
        .await;
    let worker = env.worker("w1");
    let mut runs = 0;
    while env.state(post).await != StateKind::Processing {
        runs += 1;
        assert!(runs < 10, "not processing: {:?}", env.states(&[post]).await);
        worker.run_once().await.unwrap();
    }
    let (_, queued) = env.store.post_state_counts().await.unwrap();
    assert_eq!(queued, 1, "only the status check is queued");
    let next = env.store.next_due_at().await.unwrap().unwrap();
    assert!(
        next > env.clock.now(),
        "the status check waits for its first poll"
    );
    env.drive(&[&worker], &[post], &[], HOUR).await;
    assert_eq!(env.state(post).await, StateKind::Published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_from_url_video_is_published() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    let media = env
        .served(MediaKind::Video, "ok_720x1280_30fps_4s.mp4", "clip.mp4")
        .await;
    let mut spec = video(media, "pulled", PrivacyLevel::SelfOnly);
    spec.source = UploadSource::PullFromUrl;
    let post = env.schedule(ada, spec, 0).await;

    env.drive(&[&env.worker("w1")], &[post], &[], 2 * HOUR)
        .await;
    assert_eq!(env.state(post).await, StateKind::Published);
    let records = published_records(&env, &publish_id(&env, post).await);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].source, "PULL_FROM_URL");
    assert_eq!(records[0].status, "PUBLISH_COMPLETE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_carousel_is_published() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    let mut media = Vec::new();
    for n in 0..3 {
        media.push(
            env.served(MediaKind::Photo, "photo_1080.jpg", &format!("p{n}.jpg"))
                .await,
        );
    }
    let post = env
        .schedule(
            ada,
            photos(media, "three views", PrivacyLevel::PublicToEveryone),
            60,
        )
        .await;

    env.drive(&[&env.worker("w1")], &[post], &[], 2 * HOUR)
        .await;
    assert_eq!(env.state(post).await, StateKind::Published);
    let records = published_records(&env, &publish_id(&env, post).await);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].media, "photo");
    assert_eq!(records[0].title.as_deref(), Some("three views"));
    assert_eq!(records[0].status, "PUBLISH_COMPLETE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_draft_is_delivered_to_the_creator() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    let media = env.small_video(2).await;
    let mut spec = video(media, "draft", PrivacyLevel::SelfOnly);
    spec.mode = PostMode::Inbox;
    let post = env.schedule(ada, spec, 0).await;

    env.drive(&[&env.worker("w1")], &[post], &[], 2 * HOUR)
        .await;
    assert_eq!(env.state(post).await, StateKind::InboxDelivered);
    let records = published_records(&env, &publish_id(&env, post).await);
    assert_eq!(records[0].post_mode, "MEDIA_UPLOAD");
    assert_eq!(records[0].status, "SEND_TO_USER_INBOX");
}

/// The inbox shares of `account` the store counts as pending today.
async fn pending_shares(env: &Env, account: tokpost_core::AccountId) -> u64 {
    let since = clock::sub(env.clock.now(), Duration::from_secs(24 * 3_600));
    env.store
        .quota_used(account, tokpost_store::QuotaKind::InboxShare, since)
        .await
        .unwrap()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_the_creator_posts_no_longer_counts_as_a_pending_share(#[case] backend: Backend) {
    let env = start(Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    let mut spec = video(env.small_video(3).await, "draft", PrivacyLevel::SelfOnly);
    spec.mode = PostMode::Inbox;
    let post = env.schedule(ada, spec, 0).await;
    let worker = env.worker("w1");
    env.drive(&[&worker], &[post], &[], 2 * HOUR).await;
    assert_eq!(env.state(post).await, StateKind::InboxDelivered);
    assert_eq!(
        pending_shares(&env, ada).await,
        1,
        "delivered, not yet posted"
    );

    // Hours later the creator posts it from the TikTok app.
    env.clock.advance(3 * HOUR);
    assert!(
        env.sandbox
            .user_posts_from_inbox(&publish_id(&env, post).await)
    );
    env.drive(&[&worker], &[post], &[], 2 * HOUR).await;
    assert_eq!(
        pending_shares(&env, ada).await,
        0,
        "{:#?}",
        env.events(post).await
    );
    assert_eq!(env.state(post).await, StateKind::InboxDelivered);
    let posted: Vec<_> = env
        .events(post)
        .await
        .into_iter()
        .filter(|event| event.message.contains("posted the draft"))
        .collect();
    assert_eq!(posted.len(), 1, "said once however often it is polled");

    // A draft never posted stops being watched once it has left TikTok's 24-hour window.
    let mut spec = video(env.small_video(4).await, "ignored", PrivacyLevel::SelfOnly);
    spec.mode = PostMode::Inbox;
    let ignored = env.schedule(ada, spec, 0).await;
    env.drive(&[&worker], &[ignored], &[], 30 * HOUR).await;
    assert_eq!(env.state(ignored).await, StateKind::InboxDelivered);
    // Counts the status requests from here on (a fault that changes nothing).
    let counter = env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::Status,
        creator: None,
        effect: FaultEffect::Latency { ms: 0 },
        times: FaultTimes::Always,
    });
    env.drive(&[&worker], &[ignored], &[], 24 * HOUR).await;
    let asked = env
        .sandbox
        .faults()
        .into_iter()
        .find(|fault| fault.id == counter)
        .map(|fault| fault.fired);
    assert_eq!(asked, Some(0), "no status asked for after the draft's day");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_that_failed_before_the_inbox_is_no_pending_share() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    for injected in fail_reason_at(FaultEndpoint::InboxInit, "auth_removed") {
        env.sandbox.add_fault(FaultRule {
            endpoint: injected.endpoint,
            creator: None,
            effect: injected.effect,
            times: injected.times,
        });
    }
    let post = post_of(&env, Kind::InboxVideo, ada).await;
    env.drive(&[&env.worker("w1")], &[post], &[], 12 * HOUR)
        .await;
    assert_eq!(env.state(post).await, StateKind::Failed);
    assert_eq!(pending_shares(&env, ada).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_file_upload_init_answer_is_sent_again_and_publishes_once() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::VideoInit,
        creator: None,
        effect: FaultEffect::DropConnection {
            after_processing: true,
        },
        times: FaultTimes::Once,
    });
    let post = env
        .schedule(
            ada,
            video(env.small_video(3).await, "again", PrivacyLevel::SelfOnly),
            0,
        )
        .await;

    env.drive(&[&env.worker("w1")], &[post], &[], 4 * HOUR)
        .await;
    assert_eq!(env.state(post).await, StateKind::Published);
    assert_eq!(inits(&env.events(post).await), 2);
    let complete: Vec<_> = env
        .sandbox
        .published()
        .into_iter()
        .filter(|record| record.status == "PUBLISH_COMPLETE")
        .collect();
    assert_eq!(
        complete.len(),
        1,
        "the orphaned first init never received bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pull_init_answer_is_never_sent_again() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::VideoInit,
        creator: None,
        effect: FaultEffect::DropConnection {
            after_processing: true,
        },
        times: FaultTimes::Once,
    });
    let media = env
        .served(MediaKind::Video, "ok_720x1280_30fps_4s.mp4", "lost.mp4")
        .await;
    let mut spec = video(media, "lost answer", PrivacyLevel::SelfOnly);
    spec.source = UploadSource::PullFromUrl;
    let post = env.schedule(ada, spec, 0).await;

    env.drive(
        &[&env.worker("w1")],
        &[post],
        &[StateKind::Uncertain],
        4 * HOUR,
    )
    .await;
    assert_eq!(env.state(post).await, StateKind::Uncertain);
    assert_eq!(inits(&env.events(post).await), 1, "not resent blindly");
    assert_eq!(
        env.sandbox.published().len(),
        1,
        "TikTok took the one init; tokpost did not add a second"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pull_init_is_reconciled_when_tiktok_reports_its_publish() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::VideoInit,
        creator: None,
        effect: FaultEffect::DropConnection {
            after_processing: true,
        },
        times: FaultTimes::Once,
    });
    let media = env
        .served(MediaKind::Video, "ok_720x1280_30fps_4s.mp4", "adopted.mp4")
        .await;
    let mut spec = video(media, "adopted", PrivacyLevel::SelfOnly);
    spec.source = UploadSource::PullFromUrl;
    let post = env.schedule(ada, spec, 0).await;
    let worker = env.worker("w1");
    env.drive(&[&worker], &[post], &[StateKind::Uncertain], HOUR)
        .await;
    assert_eq!(env.state(post).await, StateKind::Uncertain);

    // TikTok's webhook names a publish id nobody knows: the lost init's.
    let reported = env.sandbox.published()[0].publish_id.clone();
    let reported = tokpost_core::PublishId::new(reported).unwrap();
    let other = env.connect(BO).await;
    assert_eq!(
        env.publisher
            .publish_reported(other, &reported)
            .await
            .unwrap(),
        None,
        "another creator's uncertain posts are not candidates"
    );
    assert_eq!(
        env.publisher
            .publish_reported(ada, &reported)
            .await
            .unwrap(),
        Some(post)
    );
    env.drive(&[&worker], &[post], &[], 2 * HOUR).await;
    assert_eq!(env.state(post).await, StateKind::Published);
    assert_eq!(inits(&env.events(post).await), 1);
    assert_eq!(
        env.sandbox.published().len(),
        1,
        "still exactly one publish"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_fell_due_while_tokpost_was_down_follows_the_grace_policy() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    let late = env
        .schedule(
            ada,
            video(env.small_video(4).await, "late", PrivacyLevel::SelfOnly),
            900,
        )
        .await;
    let missed = env
        .schedule(
            ada,
            video(env.small_video(5).await, "missed", PrivacyLevel::SelfOnly),
            60,
        )
        .await;
    // Down from now until 70 minutes later: `missed` is 69 min late, `late` 55 min late.
    env.clock.advance(Duration::from_secs(70 * 60));

    env.drive(&[&env.worker("w1")], &[late, missed], &[], 2 * HOUR)
        .await;
    assert_eq!(env.state(missed).await, StateKind::Missed);
    assert_eq!(env.state(late).await, StateKind::Published);
    let missed_event = env.events(missed).await.last().unwrap().message.clone();
    assert!(
        missed_event.contains("beyond the 1 h grace period"),
        "{missed_event}"
    );
    assert!(
        env.events(late)
            .await
            .iter()
            .any(|event| event.message.contains("inside the 1 h grace period")),
        "a late post says how late it went"
    );
    assert_eq!(
        env.sandbox.published().len(),
        1,
        "the missed post was not published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_over_the_daily_cap_is_deferred_to_the_free_slot() {
    let mut setup = Setup::new(Backend::Sqlite);
    setup.policy.daily_post_cap = 2;
    let env = start(setup).await;
    let ada = env.connect(ADA).await;
    let mut posts = Vec::new();
    for n in 0..3 {
        let media = env.small_video(10 + n).await;
        posts.push(
            env.schedule(
                ada,
                video(media, &format!("post {n}"), PrivacyLevel::SelfOnly),
                u64::from(n) * 60,
            )
            .await,
        );
    }
    let first_init = env.at(0);
    let worker = env.worker("w1");
    env.drive(&[&worker], &posts[..2], &[], HOUR).await;
    let deferred = env.post(posts[2]).await;
    let PostState::Deferred { until, why } = deferred.state else {
        panic!("expected deferred, got {:?}", deferred.state);
    };
    assert_eq!(why, tokpost_core::DeferReason::DailyPostCap);
    assert_eq!(
        until,
        clock::add(first_init, Duration::from_secs(86_400)),
        "when the first post leaves the window"
    );

    env.drive(&[&worker], &posts, &[], 26 * HOUR).await;
    assert_eq!(env.state(posts[2]).await, StateKind::Published);
    assert_eq!(env.sandbox.published().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiktoks_earlier_cap_is_learned_and_the_post_waits_for_the_window() {
    let mut setup = Setup::new(Backend::Sqlite);
    // Other apps already posted for the creator: TikTok's cap bites at 2 of ours.
    setup.sandbox.creators[0].daily_post_cap = 2;
    let env = start(setup).await;
    let ada = env.connect(ADA).await;
    let mut posts = Vec::new();
    for n in 0..3 {
        let media = env.small_video(20 + n).await;
        posts.push(
            env.schedule(
                ada,
                video(media, &format!("capped {n}"), PrivacyLevel::SelfOnly),
                u64::from(n) * 60,
            )
            .await,
        );
    }
    let worker = env.worker("w1");
    env.drive(&[&worker], &posts[..2], &[], HOUR).await;
    env.drive(&[&worker], &posts[2..], &[StateKind::Deferred], HOUR)
        .await;
    let PostState::Deferred { why, .. } = env.post(posts[2]).await.state else {
        panic!("deferred expected");
    };
    assert_eq!(why, tokpost_core::DeferReason::DailyPostCap);
    let since = clock::add(env.clock.now(), Duration::ZERO)
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap();
    assert_eq!(
        env.store.learned_post_cap(ada, since).await.unwrap(),
        Some(2)
    );
    assert_eq!(
        inits(&env.events(posts[2]).await),
        0,
        "the cap answer came before any init"
    );

    env.drive(&[&worker], &posts, &[], 30 * HOUR).await;
    assert_eq!(env.state(posts[2]).await, StateKind::Published);
}

struct Injected {
    endpoint: FaultEndpoint,
    effect: FaultEffect,
    times: FaultTimes,
}

fn error(endpoint: FaultEndpoint, code: &str, http_status: u16) -> Injected {
    Injected {
        endpoint,
        effect: FaultEffect::Error {
            code: code.to_owned(),
            http_status,
            message: None,
        },
        times: FaultTimes::Once,
    }
}

/// The publish TikTok creates at this init ends FAILED with `reason`.
fn fail_reason(reason: &str) -> Injected {
    Injected {
        endpoint: FaultEndpoint::VideoInit,
        effect: FaultEffect::FailReason {
            fail_reason: reason.to_owned(),
        },
        times: FaultTimes::Once,
    }
}

fn always(mut injected: Injected) -> Injected {
    injected.times = FaultTimes::Always;
    injected
}

/// The end state, how many inits were sent, and how many publishes TikTok completed.
#[rstest]
#[case::creator_banned(error(FaultEndpoint::CreatorInfo, "spam_risk_user_banned_from_posting", 200), PostState::Failed { action: RequiredAction::FixInput, who: Actor::Creator }, 0, 0)]
#[case::creator_info_unavailable_then_fine(
    error(FaultEndpoint::CreatorInfo, "internal_error", 500),
    PostState::Published,
    1,
    1
)]
#[case::creator_info_rate_limited_then_fine(
    error(FaultEndpoint::CreatorInfo, "rate_limit_exceeded", 429),
    PostState::Published,
    1,
    1
)]
#[case::token_rejected_at_creator_info_refreshes_once(
    error(FaultEndpoint::CreatorInfo, "access_token_invalid", 401),
    PostState::Published,
    1,
    1
)]
#[case::scope_missing_waits_for_reconnect(always(error(FaultEndpoint::CreatorInfo, "scope_not_authorized", 401)), PostState::WaitingForReconnect { publish_started: false }, 0, 0)]
#[case::init_refused_privacy(error(FaultEndpoint::VideoInit, "privacy_level_option_mismatch", 400), PostState::Failed { action: RequiredAction::FixInput, who: Actor::User }, 1, 0)]
#[case::init_bad_params_is_never_resent(error(FaultEndpoint::VideoInit, "invalid_params", 400), PostState::Failed { action: RequiredAction::FixInput, who: Actor::Operator }, 1, 0)]
#[case::init_unaudited(error(FaultEndpoint::VideoInit, "unaudited_client_can_only_post_to_private_accounts", 403), PostState::Failed { action: RequiredAction::FixInput, who: Actor::Operator }, 1, 0)]
#[case::init_internal_error_retried(
    error(FaultEndpoint::VideoInit, "internal_error", 500),
    PostState::Published,
    2,
    1
)]
#[case::init_rate_limited_waits_the_window(
    error(FaultEndpoint::VideoInit, "rate_limit_exceeded", 429),
    PostState::Published,
    2,
    1
)]
#[case::init_token_rejected_refreshes_and_resends(
    error(FaultEndpoint::VideoInit, "access_token_invalid", 401),
    PostState::Published,
    2,
    1
)]
#[case::init_outdated_app(error(FaultEndpoint::VideoInit, "app_version_check_failed", 403), PostState::Failed { action: RequiredAction::FixInput, who: Actor::Creator }, 1, 0)]
#[case::upload_url_expired_reinits(
    error(FaultEndpoint::Upload, "upload_url_expired", 403),
    PostState::Published,
    2,
    1
)]
#[case::upload_answers_lost_resyncs_from_status(
    Injected {
        endpoint: FaultEndpoint::Upload,
        effect: FaultEffect::DropConnection { after_processing: true },
        times: FaultTimes::Always,
    },
    PostState::Published,
    1,
    1
)]
#[case::status_frame_rate(fail_reason("frame_rate_check_failed"), PostState::Failed { action: RequiredAction::FixInput, who: Actor::User }, 1, 0)]
#[case::status_spam_text(fail_reason("spam_risk_text"), PostState::Failed { action: RequiredAction::FixInput, who: Actor::User }, 1, 0)]
#[case::status_internal_failure_reinits(fail_reason("internal_error"), PostState::Published, 2, 1)]
#[case::status_fetch_unavailable_then_fine(
    error(FaultEndpoint::Status, "internal_error", 500),
    PostState::Published,
    1,
    1
)]
#[case::status_publish_id_unknown(always(error(FaultEndpoint::Status, "invalid_publish_id", 400)), PostState::Failed { action: RequiredAction::FixInput, who: Actor::Operator }, 1, 1)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_failure_ends_where_the_catalog_says(
    #[case] injected: Injected,
    #[case] expected: PostState,
    #[case] expected_inits: usize,
    #[case] completed_at_tiktok: usize,
) {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    env.sandbox.add_fault(FaultRule {
        endpoint: injected.endpoint,
        creator: None,
        effect: injected.effect,
        times: injected.times,
    });
    let post = env
        .schedule(
            ada,
            video(
                env.small_video(30).await,
                "injected",
                PrivacyLevel::SelfOnly,
            ),
            0,
        )
        .await;

    env.drive(
        &[&env.worker("w1")],
        &[post],
        &[StateKind::WaitingForReconnect],
        12 * HOUR,
    )
    .await;
    let stored = env.post(post).await;
    let events = env.events(post).await;
    assert_eq!(stored.state, expected, "{:#?}", env.states(&[post]).await);
    assert_eq!(
        inits(&events),
        expected_inits,
        "{:#?}",
        env.states(&[post]).await
    );
    if let PostState::Failed { .. } = expected {
        let last = events.last().unwrap();
        assert!(last.message.starts_with("failed: "), "{}", last.message);
        assert!(last.native_response.is_some(), "the native answer is kept");
    }
    let complete = env
        .sandbox
        .published()
        .into_iter()
        .filter(|record| record.status == "PUBLISH_COMPLETE")
        .count();
    assert_eq!(complete, completed_at_tiktok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unaudited_apps_fail_public_posts_in_preflight_before_tiktok_is_asked() {
    let mut setup = Setup::new(Backend::Sqlite);
    setup.policy = tokpost_pipeline::PublishPolicy {
        status_polling: setup.policy.status_polling,
        ..tokpost_pipeline::PublishPolicy::default()
    };
    setup.sandbox.apps[0].audited = false;
    let env = start(setup).await;
    let ada = env.connect(ADA).await;
    let bo = env.connect(BO).await;
    let public = env
        .schedule(
            ada,
            video(
                env.small_video(40).await,
                "public",
                PrivacyLevel::PublicToEveryone,
            ),
            0,
        )
        .await;
    let private = env
        .schedule(
            bo,
            video(env.small_video(41).await, "private", PrivacyLevel::SelfOnly),
            0,
        )
        .await;

    env.drive(&[&env.worker("w1")], &[public, private], &[], 2 * HOUR)
        .await;
    assert_eq!(
        env.post(public).await.state,
        PostState::Failed {
            action: RequiredAction::FixInput,
            who: Actor::Operator
        }
    );
    assert_eq!(inits(&env.events(public).await), 0);
    assert_eq!(env.state(private).await, StateKind::Published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_creator_cap_admits_one_new_creator_when_two_workers_race_for_the_last_slot() {
    let mut setup = Setup::new(Backend::Sqlite);
    setup.policy.active_creator_cap = Some(1);
    let env = start(setup).await;
    let ada = env.connect(ADA).await;
    let bo = env.connect(BO).await;
    let first = env
        .schedule(
            ada,
            video(env.small_video(60).await, "ada", PrivacyLevel::SelfOnly),
            0,
        )
        .await;
    let second = env
        .schedule(
            bo,
            video(env.small_video(61).await, "bo", PrivacyLevel::SelfOnly),
            0,
        )
        .await;

    let (w1, w2) = (env.worker("w1"), env.worker("w2"));
    env.drive(&[&w1, &w2], &[first, second], &[StateKind::Deferred], HOUR)
        .await;
    let states = [env.state(first).await, env.state(second).await];
    assert!(
        states.contains(&StateKind::Published) && states.contains(&StateKind::Deferred),
        "one creator fits the cap of one, the other waits: {states:?}"
    );
    let deferred = if states[0] == StateKind::Deferred {
        first
    } else {
        second
    };
    assert_eq!(
        inits(&env.events(deferred).await),
        0,
        "TikTok never saw the second creator"
    );
    assert!(matches!(
        env.post(deferred).await.state,
        PostState::Deferred {
            why: tokpost_core::DeferReason::ActiveCreatorCap,
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_wait_for_a_reconnect_and_continue_by_themselves() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    env.keeper.authorization_removed(ada).await.unwrap();
    let post = env
        .schedule(
            ada,
            video(env.small_video(50).await, "patient", PrivacyLevel::SelfOnly),
            0,
        )
        .await;
    let worker = env.worker("w1");
    env.drive(&[&worker], &[post], &[StateKind::WaitingForReconnect], HOUR)
        .await;
    assert_eq!(
        env.post(post).await.state,
        PostState::WaitingForReconnect {
            publish_started: false
        }
    );

    assert_eq!(
        env.connect(ADA).await,
        ada,
        "reconnecting keeps the account"
    );
    env.drive(&[&worker], &[post], &[], 2 * HOUR).await;
    assert_eq!(env.state(post).await, StateKind::Published);
}

/// The kinds of post whose failures differ from a direct file upload's.
#[derive(Debug, Clone, Copy)]
enum Kind {
    PullVideo,
    InboxVideo,
    Photos,
}

async fn post_of(env: &Env, kind: Kind, account: tokpost_core::AccountId) -> tokpost_core::PostId {
    let spec = match kind {
        Kind::PullVideo => {
            let media = env
                .served(MediaKind::Video, "ok_720x1280_30fps_4s.mp4", "pull.mp4")
                .await;
            let mut spec = video(media, "pulled", PrivacyLevel::SelfOnly);
            spec.source = UploadSource::PullFromUrl;
            spec
        }
        Kind::InboxVideo => {
            let mut spec = video(env.small_video(60).await, "draft", PrivacyLevel::SelfOnly);
            spec.mode = PostMode::Inbox;
            spec
        }
        Kind::Photos => {
            let media = env
                .served(MediaKind::Photo, "photo_1080.jpg", "photo.jpg")
                .await;
            photos(vec![media], "one view", PrivacyLevel::SelfOnly)
        }
    };
    env.schedule(account, spec, 0).await
}

/// Failures of pulls, inbox shares and tokens: the end state's kind, the inits sent, and the
/// publishes TikTok completed.
#[rstest]
#[case::pull_failed_reinits(
    Kind::PullVideo,
    fail_reason_at(FaultEndpoint::VideoInit, "video_pull_failed"),
    StateKind::Published,
    2,
    1
)]
#[case::photo_pull_failed_reinits(
    Kind::Photos,
    fail_reason_at(FaultEndpoint::ContentInit, "photo_pull_failed"),
    StateKind::Published,
    2,
    1
)]
#[case::unverified_url_is_the_operators(Kind::PullVideo, vec![error(FaultEndpoint::VideoInit, "url_ownership_unverified", 403)], StateKind::Failed, 1, 0)]
#[case::pull_init_dropped_before_tiktok_acted_is_still_uncertain(
    Kind::PullVideo,
    vec![Injected { endpoint: FaultEndpoint::VideoInit, effect: FaultEffect::DropConnection { after_processing: false }, times: FaultTimes::Once }],
    StateKind::Uncertain,
    1,
    0
)]
#[case::photo_init_unavailable_without_body_is_uncertain(
    Kind::Photos,
    vec![Injected { endpoint: FaultEndpoint::ContentInit, effect: FaultEffect::Http5xxWithoutBody { http_status: 502 }, times: FaultTimes::Once }],
    StateKind::Uncertain,
    1,
    0
)]
#[case::daily_cap_at_init_defers(Kind::PullVideo, vec![error(FaultEndpoint::VideoInit, "spam_risk_too_many_posts", 403)], StateKind::Deferred, 1, 0)]
#[case::pending_shares_defer(Kind::InboxVideo, vec![error(FaultEndpoint::InboxInit, "spam_risk_too_many_pending_share", 403)], StateKind::Deferred, 1, 0)]
#[case::active_creator_cap_defers(Kind::InboxVideo, vec![error(FaultEndpoint::CreatorInfo, "reached_active_user_cap", 200)], StateKind::Deferred, 0, 0)]
#[case::creator_removed_the_app_during_processing(
    Kind::InboxVideo,
    fail_reason_at(FaultEndpoint::InboxInit, "auth_removed"),
    StateKind::Failed,
    1,
    0
)]
#[case::refresh_refused_waits_for_reconnect(
    Kind::InboxVideo,
    chain(
        error(FaultEndpoint::CreatorInfo, "access_token_invalid", 401),
        error(FaultEndpoint::Token, "invalid_grant", 400)
    ),
    StateKind::WaitingForReconnect,
    0,
    0
)]
#[case::status_gateway_error_then_fine(Kind::PullVideo, vec![Injected { endpoint: FaultEndpoint::Status, effect: FaultEffect::Http5xxWithoutBody { http_status: 503 }, times: FaultTimes::Times { n: 3 } }], StateKind::Published, 1, 1)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_failure_on_a_pull_inbox_or_token_call_ends_where_the_catalog_says(
    #[case] kind: Kind,
    #[case] injected: Vec<Injected>,
    #[case] expected: StateKind,
    #[case] expected_inits: usize,
    #[case] completed_at_tiktok: usize,
) {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    for injected in injected {
        env.sandbox.add_fault(FaultRule {
            endpoint: injected.endpoint,
            creator: None,
            effect: injected.effect,
            times: injected.times,
        });
    }
    let post = post_of(&env, kind, ada).await;
    env.drive(
        &[&env.worker("w1")],
        &[post],
        &[
            StateKind::WaitingForReconnect,
            StateKind::Uncertain,
            StateKind::Deferred,
        ],
        12 * HOUR,
    )
    .await;
    let states = env.states(&[post]).await;
    assert_eq!(env.state(post).await, expected, "{states:#?}");
    assert_eq!(
        inits(&env.events(post).await),
        expected_inits,
        "{states:#?}"
    );
    let complete = env
        .sandbox
        .published()
        .into_iter()
        .filter(|record| {
            matches!(
                record.status.as_str(),
                "PUBLISH_COMPLETE" | "SEND_TO_USER_INBOX"
            )
        })
        .count();
    assert_eq!(complete, completed_at_tiktok, "{states:#?}");
}

fn fail_reason_at(endpoint: FaultEndpoint, reason: &str) -> Vec<Injected> {
    let mut injected = fail_reason(reason);
    injected.endpoint = endpoint;
    vec![injected]
}

fn chain(first: Injected, second: Injected) -> Vec<Injected> {
    vec![first, second]
}
