//! Publishing raced, on SQLite and a real PostgreSQL, with the requests to TikTok really in
//! flight: a cancel that arrives while the init is at TikTok, a worker whose lease runs out
//! while it waits on TikTok, a job that resumes after its lease lapsed, and a job swept from a
//! worker and claimed again by that same worker.
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
use tiktok_sandbox::{FaultEffect, FaultEndpoint, FaultRule, FaultTimes};
use tokio::sync::{Notify, mpsc};
use tokpost_core::{
    EventKind, JobId, JobKind, NewPostEvent, PostId, PostState, PrivacyLevel, StateKind,
    UploadSource,
};
use tokpost_pipeline::lease::{self, JobLease};
use tokpost_pipeline::{JobHandler, JobOutcome, Worker, WorkerSettings};
use tokpost_store::{Job, LeaseStatus, MediaKind, Transition, TransitionOutcome, WorkerId};

use support::{ADA, Backend, Env, Setup, start, video};

const HOUR: Duration = Duration::from_secs(3_600);

fn init_latency(ms: u64) -> FaultRule {
    FaultRule {
        endpoint: FaultEndpoint::VideoInit,
        creator: None,
        effect: FaultEffect::Latency { ms },
        times: FaultTimes::Once,
    }
}

/// Waits (in real time: a request is in flight) until the post's latest event is its
/// `init_requested`.
async fn until_init_recorded(env: &Env, post: PostId) {
    for _ in 0..3_000 {
        let events = env.events(post).await;
        if events
            .last()
            .is_some_and(|event| event.kind == EventKind::InitRequested)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the init was never recorded: {:?}", env.events(post).await);
}

/// The move the API's cancel makes.
fn cancel(env: &Env, post: PostId, from: PostState) -> Transition {
    Transition {
        post,
        expected: from,
        to: PostState::Cancelled,
        event: NewPostEvent::new(env.clock.now(), EventKind::UserAction, "cancelled"),
        progress: None,
        quota_use: None,
        next_job: None,
        completes: None,
        lease: None,
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_a_pull_init_is_at_tiktok_is_refused_and_the_post_publishes_once(
    #[case] backend: Backend,
) {
    let env = start(Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    let media = env
        .served(MediaKind::Video, "ok_720x1280_30fps_4s.mp4", "raced.mp4")
        .await;
    let mut spec = video(media, "raced", PrivacyLevel::SelfOnly);
    spec.source = UploadSource::PullFromUrl;
    let post = env.schedule(ada, spec, 0).await;
    env.sandbox.add_fault(init_latency(3_000));

    let worker = env.worker("w1");
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once().await.unwrap() }
    });
    until_init_recorded(&env, post).await;
    let read = env.post(post).await;
    assert_eq!(read.state.kind(), StateKind::CreatorChecked);
    let outcome = env
        .store
        .transition_post(cancel(&env, post, read.state))
        .await
        .unwrap();
    assert!(
        matches!(outcome, TransitionOutcome::Stale { current } if current == read.state),
        "a post whose init is at TikTok is not cancelled: {outcome:?}"
    );
    running.await.unwrap();

    env.drive(&[&worker], &[post], &[], 2 * HOUR).await;
    let done = env.post(post).await;
    assert_eq!(done.state.kind(), StateKind::Published);
    let publish_id = done.progress.publish_id.expect("the publish id is kept");
    let published: Vec<_> = env
        .sandbox
        .published()
        .into_iter()
        .filter(|record| record.publish_id == publish_id.as_str())
        .collect();
    assert_eq!(published.len(), 1);
    assert_eq!(env.sandbox.published().len(), 1, "one post at TikTok");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_before_the_init_is_recorded_sends_nothing(#[case] backend: Backend) {
    let env = start(Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    let media = env
        .served(MediaKind::Video, "ok_720x1280_30fps_4s.mp4", "early.mp4")
        .await;
    let mut spec = video(media, "early", PrivacyLevel::SelfOnly);
    spec.source = UploadSource::PullFromUrl;
    let post = env.schedule(ada, spec, 0).await;
    let read = env.post(post).await;
    let outcome = env
        .store
        .transition_post(cancel(&env, post, read.state))
        .await
        .unwrap();
    assert!(matches!(outcome, TransitionOutcome::Applied(_)));
    env.drive(&[&env.worker("w1")], &[post], &[], HOUR).await;
    assert_eq!(env.state(post).await, StateKind::Cancelled);
    assert!(env.sandbox.published().is_empty());
    assert!(
        !env.events(post)
            .await
            .iter()
            .any(|event| event.kind == EventKind::InitRequested)
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_lease_runs_out_while_tiktok_answers_stops_and_the_post_publishes_once(
    #[case] backend: Backend,
) {
    let env = start(Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    let media = env.small_video(7).await;
    let post = env
        .schedule(ada, video(media, "leased", PrivacyLevel::SelfOnly), 0)
        .await;
    env.sandbox.add_fault(init_latency(6_000));

    let paused = env.worker("paused");
    let running = tokio::spawn({
        let paused = paused.clone();
        async move { paused.run_once().await.unwrap() }
    });
    until_init_recorded(&env, post).await;
    let before = env.events(post).await.len();
    // The worker is stuck on TikTok past its lease (as a stopped process would be).
    env.clock
        .advance(WorkerSettings::default().lease + Duration::from_secs(1));
    // Its job stops as soon as the lease is seen to be gone, without waiting for TikTok.
    tokio::time::timeout(Duration::from_millis(3_000), running)
        .await
        .expect("the job kept running after its lease ran out")
        .unwrap();
    assert_eq!(
        env.events(post).await.len(),
        before,
        "nothing was written after the lease ran out"
    );

    let other = env.worker("other");
    env.drive(&[&other], &[post], &[], 2 * HOUR).await;
    let done = env.post(post).await;
    assert_eq!(done.state.kind(), StateKind::Published);
    assert_eq!(env.sandbox.published().len(), 1, "published once");
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_resumes_after_its_lease_lapsed_neither_writes_nor_asks_tiktok(
    #[case] backend: Backend,
) {
    let env = start(Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    let media = env.small_video(8).await;
    let post = env
        .schedule(ada, video(media, "resumed", PrivacyLevel::SelfOnly), 0)
        .await;
    let settings = WorkerSettings::default();
    let worker = WorkerId::new("stopped");
    let mut jobs = env
        .store
        .claim(&worker, env.clock.now(), settings.lease, 1)
        .await
        .unwrap();
    let job = jobs.pop().expect("the publish job");
    assert_eq!(job.kind, JobKind::PublishPost);
    let lease = JobLease::new(job.id, worker, job.locked_until.unwrap());
    // Stopped (SIGSTOP) past its lease, then resumed: its first step runs now.
    env.clock.advance(settings.lease + Duration::from_secs(1));
    let events_before = env.events(post).await.len();
    let outcome = lease::run_under(lease, env.publisher.handle(&job)).await;
    assert!(
        matches!(&outcome, JobOutcome::Transient { error } if error.contains("lease")),
        "{outcome:?}"
    );
    assert_eq!(env.state(post).await, StateKind::Scheduled);
    assert_eq!(env.events(post).await.len(), events_before);
    assert!(env.sandbox.published().is_empty());
}

/// A handler that reports the lease each run holds, then waits to be let go.
struct Holding {
    clock: Arc<clock::ManualClock>,
    seen: mpsc::UnboundedSender<(JobId, WorkerId)>,
    release: Arc<Notify>,
}

impl JobHandler for Holding {
    async fn handle(&self, _job: &Job) -> JobOutcome {
        let lease::Held::Yes(guard) = lease::held(self.clock.now()) else {
            panic!("a worker's run holds its lease");
        };
        self.seen.send(guard).unwrap();
        self.release.notified().await;
        JobOutcome::Done
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_swept_from_a_worker_and_claimed_again_by_it_is_held_under_a_new_name(
    #[case] backend: Backend,
) {
    let env = start(Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    let media = env.small_video(9).await;
    let post = env
        .schedule(ada, video(media, "reclaimed", PrivacyLevel::SelfOnly), 0)
        .await;
    let settings = WorkerSettings::default();
    let (seen, mut leases) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let worker = Worker::new(
        WorkerId::new("starved"),
        env.store.clone(),
        env.clock.shared(),
        Arc::new(Holding {
            clock: Arc::clone(&env.clock),
            seen,
            release: Arc::clone(&release),
        }),
        settings,
    );
    let first = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once().await.unwrap() }
    });
    let stale = leases.recv().await.unwrap();
    // Its heartbeats do not get through (a starved process): the lease runs out, the run
    // stops, and the sweep hands the job back to the queue, where the same worker takes it.
    env.clock.advance(settings.lease + Duration::from_secs(1));
    first.await.unwrap();
    let second = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run_once().await.unwrap() }
    });
    let fresh = leases.recv().await.unwrap();
    assert_eq!(fresh.0, stale.0, "the same job, claimed again");
    assert_ne!(
        fresh.1, stale.1,
        "each claim holds its lease under its own name"
    );

    // Whatever the stale run would still do is refused while the new run holds the job.
    let until = clock::add(env.clock.now(), settings.lease);
    assert_eq!(
        env.store.heartbeat(stale.0, &stale.1, until).await.unwrap(),
        LeaseStatus::Lost
    );
    let scheduled = env.post(post).await.state;
    let mut write = cancel(&env, post, scheduled);
    write.lease = Some(stale.clone());
    assert!(matches!(
        env.store.transition_post(write).await.unwrap(),
        TransitionOutcome::LeaseLost
    ));
    assert_eq!(
        env.store.complete(stale.0, &stale.1).await.unwrap(),
        LeaseStatus::Lost,
        "the stale run's completion would delete the job the new run works on"
    );
    assert!(env.store.job(stale.0).await.unwrap().is_some());
    assert_eq!(env.state(post).await, StateKind::Scheduled);

    release.notify_one();
    assert_eq!(second.await.unwrap(), 1);
    assert!(
        env.store.job(stale.0).await.unwrap().is_none(),
        "the new run completed the job under its own lease"
    );
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_init_wave_acts_no_more_for_a_job_a_worker_took_over(#[case] backend: Backend) {
    let env = start(Setup::new(backend)).await;
    let ada = env.connect(ADA).await;
    let media = env.small_video(10).await;
    let post = env
        .schedule(ada, video(media, "taken over", PrivacyLevel::SelfOnly), 0)
        .await;
    let settings = WorkerSettings::default();
    let wave = WorkerId::new("host:1:wave");
    let job = env
        .store
        .claim(&wave, env.clock.now(), settings.lease, 1)
        .await
        .unwrap()
        .pop()
        .expect("the publish job");
    // The wave's lease lapses (its heartbeats did not get through); a worker takes the job.
    env.clock.advance(settings.lease + Duration::from_secs(1));
    env.store
        .sweep_expired_leases(env.clock.now())
        .await
        .unwrap();
    let taken = env
        .store
        .claim(
            &WorkerId::new("host:2:0#1"),
            env.clock.now(),
            settings.lease,
            1,
        )
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "the worker holds the job now");
    let events_before = env.events(post).await.len();

    // The wave, still holding its stale copy of the job, falls back to the one-post steps.
    let readied = env.publisher.ready_inits(vec![job]).await;
    assert_eq!(readied.len(), 1);
    assert_eq!(env.state(post).await, StateKind::Scheduled, "nothing moved");
    assert_eq!(
        env.events(post).await.len(),
        events_before,
        "nothing written"
    );
    assert!(env.sandbox.published().is_empty(), "nothing sent");
}
