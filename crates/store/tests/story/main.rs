//! The story test suite: every story runs unchanged against SQLite and a real PostgreSQL 15
//! (started by `tokpost_store::testing`; never mocked, never skipped). Time only moves when a
//! story moves its `ManualClock`.

// Test support code outside `#[test]` functions: failing loudly is the point here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clock::{Clock as _, ManualClock};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret as _, SecretString};
use tokpost_core::{
    AccountId, AccountStatus, EventKind, IdempotencyKey, InteractionSettings, JobKind, MediaId,
    NewPostEvent, OpenId, PostContent, PostMode, PostSpec, PostState, PrivacyLevel, PublishId,
    PublishProgress, ReconnectReason, ScheduleTime, Scope, StateKind, UploadSource, VideoCaption,
    WorkspaceId,
};
use tokpost_store::{
    AccountTokens, ActiveCreatorAdmission, ActiveCreatorRule, Enqueued, InitStart,
    InitStartOutcome, Inserted, JobRetry, LeaseStatus, MediaKind, NewAccount, NewJob,
    NewMediaAsset, NewPost, QuotaKind, RateLimitDecision, RateLimitSlot, Requeue, Store,
    StoreError, Transition, TransitionOutcome, WorkerId,
};
use tokpost_store::{CryptoError, PostFilter};
use tokpost_store::{InitRecord, RefreshClaim, TokenWrite};
use tokpost_testkit::postgres::PostgresServer;
use tokpost_testkit::posts;
use tokpost_testkit::stores::{Backend, TestStore, cipher};

mod account_health;
mod alerts;
mod approval;
use account_health::the_health_of_a_page_of_accounts_is_read_together;
use alerts::{
    a_days_digest_is_queued_once_however_many_processes_ask,
    a_persons_alerts_reach_them_only_when_the_event_is_theirs,
};
use approval::{
    a_post_awaiting_approval_has_no_job_until_approved_at_the_revision_seen,
    an_approval_racing_an_edit_or_a_rejection_never_both_win,
};
mod insights;
mod media_fixes;
use insights::posts_awaiting_a_public_id_are_found_and_the_snapshot_job_made_due;
use media_fixes::racing_fix_requests_get_one_fix_that_ends_once;
mod people;
use people::{
    a_reset_link_sets_a_password_once_and_counts_failures,
    a_session_lives_only_while_its_user_may_use_it,
    an_invitation_is_taken_once_however_many_clicks_race,
    two_owners_demoting_each_other_at_once_leave_one_owner,
};

struct Harness {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    sqlite_file: Option<PathBuf>,
    postgres_url: Option<String>,
    server: Option<PostgresServer>,
    _db: TestStore,
}

impl Harness {
    async fn sqlite() -> Self {
        Self::on(Backend::Sqlite).await
    }

    async fn postgres() -> Self {
        Self::on(Backend::Postgres).await
    }

    async fn on(backend: Backend) -> Self {
        let mut db = TestStore::open(backend).await;
        Self {
            store: Arc::clone(&db.store),
            clock: ManualClock::at_fixed_start(),
            sqlite_file: db.sqlite_file.clone(),
            postgres_url: db.server.is_some().then(|| db.url.clone()),
            server: db.server.take(),
            _db: db,
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn advance(&self, by: Duration) -> Timestamp {
        self.clock.advance(by)
    }

    async fn workspace(&self) -> WorkspaceId {
        self.store
            .create_workspace("studio", self.now())
            .await
            .unwrap()
            .id
    }

    async fn account(&self, workspace: WorkspaceId, open_id: &str) -> AccountId {
        self.store
            .connect_account(
                new_account(workspace, open_id, "act.first", "rft.first", self.now()),
                self.now(),
            )
            .await
            .unwrap()
            .id
    }

    fn new_post(&self, workspace: WorkspaceId, account: AccountId, in_secs: u64) -> NewPost {
        let at = clock::add(self.now(), Duration::from_secs(in_secs));
        NewPost {
            workspace_id: workspace,
            account_id: account,
            spec: video_spec(self.now()),
            scheduled_at: ScheduleTime::new(at, self.now()).unwrap(),
            idempotency_key: None,
            created_by: tokpost_core::Principal::Service,
        }
    }

    /// The database's URL, for a second process's view of it.
    fn url(&self) -> String {
        match (&self.sqlite_file, &self.postgres_url) {
            (Some(file), _) => format!("sqlite://{}?mode=rwc", file.display()),
            (None, Some(url)) => url.clone(),
            (None, None) => unreachable!("a harness has a database"),
        }
    }

    /// Copies one post's sealed upload URL onto another post's row, behind the store's back (a
    /// ciphertext moved by someone with write access to the database).
    async fn copy_sealed_upload_url(&self, from: tokpost_core::PostId, to: tokpost_core::PostId) {
        use sqlx::Connection as _;
        const COPY: &str = "UPDATE posts SET upload_url_sealed = (SELECT upload_url_sealed FROM posts WHERE id = $1) WHERE id = $2";
        if let Some(url) = &self.postgres_url {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(COPY)
                .bind(from.as_uuid())
                .bind(to.as_uuid())
                .execute(&mut conn)
                .await
                .unwrap();
            return;
        }
        let file = self.sqlite_file.as_ref().unwrap();
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        sqlx::query(COPY)
            .bind(from.as_uuid())
            .bind(to.as_uuid())
            .execute(&mut conn)
            .await
            .unwrap();
    }

    /// The request windows the store keeps, read over a connection of its own: the sweep's
    /// forgetting shows in no store call.
    async fn rate_window_rows(&self) -> i64 {
        use sqlx::Connection as _;
        const COUNT: &str = "SELECT COUNT(*) FROM rate_limit_windows";
        if let Some(url) = &self.postgres_url {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            return sqlx::query_scalar(COUNT)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        }
        let file = self.sqlite_file.as_ref().unwrap();
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        sqlx::query_scalar(COUNT)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    /// A post due in `in_secs`, prepared: only its init is left.
    async fn prepared_post(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        in_secs: u64,
    ) -> tokpost_core::PostId {
        let post = self
            .store
            .create_post(self.new_post(workspace, account, in_secs), self.now())
            .await
            .unwrap()
            .into_inner();
        self.prepare(post.id).await;
        post.id
    }

    /// Moves a scheduled post through preflight and the creator check, as a worker preparing
    /// it does.
    async fn prepare(&self, post: tokpost_core::PostId) {
        for (from, to) in [
            (PostState::Scheduled, PostState::Preflighted),
            (PostState::Preflighted, PostState::CreatorChecked),
        ] {
            self.store
                .transition_post(step(post, from, to, self.now()))
                .await
                .unwrap();
        }
    }

    fn job(&self, account: Option<AccountId>) -> NewJob {
        NewJob {
            kind: JobKind::SyncCreatorInfo,
            payload: serde_json::json!({}),
            account_id: account,
            post_id: None,
            run_at: self.now(),
            dedupe_key: None,
        }
    }
}

fn new_account(
    workspace: WorkspaceId,
    open_id: &str,
    access: &str,
    refresh: &str,
    now: Timestamp,
) -> NewAccount {
    NewAccount {
        workspace_id: workspace,
        open_id: OpenId::new(open_id).unwrap(),
        display_name: format!("creator {open_id}"),
        avatar_url: None,
        scopes: Scope::parse_list("user.info.basic,video.publish").unwrap(),
        tokens: AccountTokens {
            access_token: SecretString::from(access),
            refresh_token: SecretString::from(refresh),
            access_token_expires_at: now + SignedDuration::from_hours(24),
            refresh_token_expires_at: now + SignedDuration::from_hours(24 * 365),
            granted_at: now,
        },
    }
}

fn video_spec(now: Timestamp) -> PostSpec {
    PostSpec {
        content: PostContent::Video {
            media: MediaId::generate(now),
            caption: VideoCaption::new("launch day 🚀 #tokpost").unwrap(),
            cover_timestamp_ms: None,
        },
        privacy: PrivacyLevel::SelfOnly,
        interactions: InteractionSettings::default(),
        brand_content: false,
        brand_organic: false,
        is_aigc: false,
        auto_add_music: false,
        mode: PostMode::Direct,
        source: UploadSource::FileUpload,
    }
}

fn event(at: Timestamp, message: &str) -> NewPostEvent {
    NewPostEvent::new(at, EventKind::StateChanged, message)
}

fn step(post: tokpost_core::PostId, from: PostState, to: PostState, at: Timestamp) -> Transition {
    Transition {
        post,
        expected: from,
        to,
        event: event(at, "moved"),
        progress: None,
        quota_use: None,
        next_job: None,
        completes: None,
        lease: None,
    }
}

/// Records inits at once, prepared and committed in one go (the wave commits at its second).
async fn start_inits(
    store: &dyn Store,
    worker: &WorkerId,
    starts: Vec<InitStart<'_>>,
    now: Timestamp,
) -> Result<Vec<InitStartOutcome>, StoreError> {
    store
        .prepare_inits(worker, starts, now)
        .await?
        .commit()
        .await
}

macro_rules! stories {
    ($($story:ident),* $(,)?) => {
        $(
            mod $story {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$story(super::Harness::sqlite().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$story(super::Harness::postgres().await).await;
                }
            }
        )*
    };
}

stories!(
    a_post_its_first_event_and_its_publish_job_are_created_together,
    a_repeated_idempotency_key_returns_the_first_post,
    concurrent_requests_with_one_idempotency_key_create_one_post,
    concurrent_claimers_never_get_the_same_job,
    one_account_is_served_by_one_worker_at_a_time,
    one_workspaces_burst_does_not_starve_another,
    concurrent_new_creators_cannot_both_take_the_last_active_slot,
    concurrent_workers_never_act_for_one_account_at_once,
    a_dead_workers_lease_is_swept_back_to_the_queue,
    a_heartbeat_keeps_the_lease_alive,
    a_transition_is_a_compare_and_set_and_records_events_in_order,
    a_transition_completes_its_job_and_enqueues_the_next_atomically,
    publishing_progress_is_stored_with_the_move,
    the_quota_ledger_counts_a_rolling_24_hour_window,
    rate_limit_slots_are_shared_and_roll_with_each_request,
    concurrent_requests_never_overfill_a_rate_limit_window,
    an_app_wide_window_is_shared_by_every_account_however_they_race,
    tokens_are_encrypted_at_rest,
    upload_urls_are_sealed_at_rest_and_opened_only_for_their_post,
    webhook_endpoint_urls_are_sealed_at_rest_and_shown_only_in_part,
    webhook_urls_stored_in_plaintext_before_are_sealed_when_the_store_opens,
    upload_urls_stored_in_plaintext_before_are_sealed_when_the_store_opens,
    reconnecting_a_creator_keeps_its_account_and_replaces_its_tokens,
    a_token_refresh_is_written_only_over_the_token_it_replaced,
    a_recorded_init_keeps_a_post_from_being_cancelled_or_rescheduled_until_answered,
    a_cancel_and_an_init_record_racing_never_both_win,
    a_write_under_a_lease_another_worker_took_is_refused,
    concurrent_refresh_claims_have_one_winner_and_a_failure_backs_everyone_off,
    the_same_media_content_is_recorded_once,
    the_media_library_pages_a_workspaces_uploads_newest_first,
    the_next_due_time_lets_a_worker_sleep_until_the_schedule,
    dedupe_keys_keep_one_queued_job,
    posts_waiting_for_a_reconnect_are_found_by_account_and_state,
    a_sleeping_worker_is_woken_when_a_job_becomes_claimable,
    creator_info_snapshots_are_kept_and_the_latest_is_returned,
    a_queued_job_can_be_hastened_but_never_delayed_or_taken_from_its_worker,
    the_health_of_a_page_of_accounts_is_read_together,
    a_session_lives_only_while_its_user_may_use_it,
    two_owners_demoting_each_other_at_once_leave_one_owner,
    an_invitation_is_taken_once_however_many_clicks_race,
    a_reset_link_sets_a_password_once_and_counts_failures,
    a_persons_alerts_reach_them_only_when_the_event_is_theirs,
    posts_awaiting_a_public_id_are_found_and_the_snapshot_job_made_due,
    racing_fix_requests_get_one_fix_that_ends_once,
    a_days_digest_is_queued_once_however_many_processes_ask,
    an_account_notice_is_recorded_once_per_key,
    a_learned_post_cap_replaces_the_last_and_ages_out,
    quota_use_times_and_active_creators_tell_when_a_slot_frees,
    api_keys_are_found_by_hash_listed_per_workspace_and_revoked_once,
    an_oauth_state_is_taken_once_within_its_lifetime,
    posts_are_listed_by_state_account_and_time_page_by_page,
    a_post_is_found_by_its_publish_id_and_accounts_by_open_id,
    rescheduling_moves_the_post_and_its_job_only_from_the_state_read,
    posts_due_within_the_horizon_are_brought_forward_once_to_be_prepared,
    a_prepared_post_returns_to_scheduled_when_moved_unless_its_time_is_near,
    a_planned_wait_gives_back_the_attempt_and_a_failure_keeps_it,
    a_lost_claim_is_no_failure_and_a_move_starts_the_counts_over,
    an_inbound_webhook_event_is_handled_once_and_posts_are_counted_by_state,
    an_init_wave_claims_the_prepared_posts_whose_time_has_come,
    an_init_wave_starts_only_prepared_posts_within_their_caps_and_limits,
    init_starts_written_ahead_are_seen_only_once_committed,
    a_wave_of_transitions_applies_each_on_its_own_terms,
    a_post_awaiting_approval_has_no_job_until_approved_at_the_revision_seen,
    an_approval_racing_an_edit_or_a_rejection_never_both_win,
);

async fn a_post_its_first_event_and_its_publish_job_are_created_together(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator-1").await;
    let post = h
        .store
        .create_post(h.new_post(ws, account, 3600), h.now())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(post.state, PostState::Scheduled);
    assert_eq!(h.store.post(post.id).await.unwrap().unwrap(), post);
    // The post returned is the one stored, to the millisecond, from an instant finer than that.
    let fine = h
        .now()
        .checked_add(jiff::SignedDuration::from_nanos(1_234_567))
        .unwrap();
    let mut request = h.new_post(ws, account, 7200);
    request.scheduled_at = ScheduleTime::new(
        fine.checked_add(jiff::SignedDuration::from_secs(7200))
            .unwrap(),
        fine,
    )
    .unwrap();
    let finer = h
        .store
        .create_post(request, fine)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.store.post(finer.id).await.unwrap().unwrap(), finer);

    let events = h.store.post_events(post.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Scheduled);
    assert_eq!(events[0].sequence, 1);

    let worker = WorkerId::new("w1");
    let early = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(
        early.is_empty(),
        "a post must not be picked up before its time"
    );

    h.advance(Duration::from_secs(3600));
    let jobs = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, JobKind::PublishPost);
    assert_eq!(jobs[0].post_id, Some(post.id));
    assert_eq!(jobs[0].account_id, Some(account));
    assert_eq!(jobs[0].attempts, 1);
    assert_eq!(jobs[0].payload["post_id"], post.id.to_string());
}

async fn a_repeated_idempotency_key_returns_the_first_post(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator-1").await;
    let mut request = h.new_post(ws, account, 60);
    request.idempotency_key = Some(IdempotencyKey::new("req-42").unwrap());
    let first = h.store.create_post(request.clone(), h.now()).await.unwrap();
    assert!(first.is_created());
    let second = h.store.create_post(request, h.now()).await.unwrap();
    assert!(matches!(second, Inserted::Existing(_)));
    assert_eq!(second.into_inner().id, first.into_inner().id);
    assert_eq!(h.store.posts(ws, 10).await.unwrap().len(), 1);

    h.advance(Duration::from_secs(60));
    let worker = WorkerId::new("w1");
    let jobs = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        h.store.complete(jobs[0].id, &worker).await.unwrap(),
        LeaseStatus::Held
    );
    assert!(
        h.store
            .claim(&worker, h.now(), Duration::from_secs(60), 10)
            .await
            .unwrap()
            .is_empty(),
        "the repeated request must not have queued a second publish job"
    );
}

async fn concurrent_requests_with_one_idempotency_key_create_one_post(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator-1").await;
    let mut request = h.new_post(ws, account, 60);
    request.idempotency_key = Some(IdempotencyKey::new("retry-storm").unwrap());
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (store, request, now) = (h.store.clone(), request.clone(), h.now());
        tasks.push(tokio::spawn(async move {
            store.create_post(request, now).await.unwrap()
        }));
    }
    let mut created = 0;
    let mut ids = HashSet::new();
    for task in tasks {
        let outcome = task.await.unwrap();
        created += usize::from(outcome.is_created());
        ids.insert(outcome.into_inner().id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(h.store.posts(ws, 10).await.unwrap().len(), 1);
}

async fn concurrent_claimers_never_get_the_same_job(h: Harness) {
    const JOBS: usize = 120;
    for _ in 0..JOBS {
        h.store.enqueue(h.job(None), h.now()).await.unwrap();
    }
    let now = h.now();
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            let worker = WorkerId::new(format!("w{worker}"));
            let mut mine = Vec::new();
            loop {
                let jobs = store
                    .claim(&worker, now, Duration::from_secs(60), 7)
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    return mine;
                }
                mine.extend(jobs.into_iter().map(|job| job.id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a job was claimed twice");
    assert_eq!(all.len(), JOBS);
}

async fn one_account_is_served_by_one_worker_at_a_time(h: Harness) {
    let ws = h.workspace().await;
    let busy = h.account(ws, "busy").await;
    let other = h.account(ws, "other").await;
    for _ in 0..3 {
        h.store.enqueue(h.job(Some(busy)), h.now()).await.unwrap();
    }
    h.store.enqueue(h.job(Some(other)), h.now()).await.unwrap();

    let (w1, w2) = (WorkerId::new("w1"), WorkerId::new("w2"));
    let first = h
        .store
        .claim(&w1, h.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    let accounts: BTreeSet<_> = first.iter().filter_map(|j| j.account_id).collect();
    assert_eq!(first.len(), 2, "one job per account");
    assert_eq!(accounts, BTreeSet::from([busy, other]));

    assert!(
        h.store
            .claim(&w2, h.now(), Duration::from_secs(60), 10)
            .await
            .unwrap()
            .is_empty(),
        "the busy account's other jobs must wait while one is leased"
    );
    let busy_job = first.iter().find(|j| j.account_id == Some(busy)).unwrap();
    h.store.complete(busy_job.id, &w1).await.unwrap();
    let next = h
        .store
        .claim(&w2, h.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].account_id, Some(busy));
}

async fn one_workspaces_burst_does_not_starve_another(h: Harness) {
    let busy = h.workspace().await;
    let quiet = h.workspace().await;
    // Forty posts of one workspace fell due a minute ago; one of another falls due now.
    for n in 0..40 {
        let account = h.account(busy, &format!("busy-{n}")).await;
        let job = NewJob {
            run_at: h.now() - SignedDuration::from_secs(60),
            ..h.job(Some(account))
        };
        h.store.enqueue(job, h.now()).await.unwrap();
    }
    let waiting = h.account(quiet, "quiet").await;
    h.store
        .enqueue(h.job(Some(waiting)), h.now())
        .await
        .unwrap();

    let claimed = h
        .store
        .claim(&WorkerId::new("w1"), h.now(), Duration::from_secs(60), 4)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);
    assert!(
        claimed.iter().any(|job| job.account_id == Some(waiting)),
        "the quiet workspace's due job waits behind the other workspace's backlog"
    );
}

async fn concurrent_new_creators_cannot_both_take_the_last_active_slot(h: Harness) {
    let ws = h.workspace().await;
    let mut accounts = Vec::new();
    for n in 0..6 {
        accounts.push(h.account(ws, &format!("creator-{n}")).await);
    }
    let since = h.now() - SignedDuration::from_hours(24);
    posts::initialized(h.store.as_ref(), ws, accounts[0], PostMode::Direct, h.now()).await;
    h.advance(Duration::from_secs(60));
    // A cap of 3 with one creator already active: of five new creators racing, two get in.
    let mut tasks = Vec::new();
    for account in accounts[1..].iter().copied() {
        let (store, now) = (h.store.clone(), h.now());
        tasks.push(tokio::spawn(async move {
            store
                .admit_active_creator(account, since, 3, now)
                .await
                .unwrap()
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        match task.await.unwrap() {
            ActiveCreatorAdmission::Admitted => admitted += 1,
            ActiveCreatorAdmission::Full { latest_uses } => {
                assert_eq!(latest_uses.len(), 3);
                assert!(latest_uses.is_sorted(), "oldest first: {latest_uses:?}");
            }
        }
    }
    assert_eq!(admitted, 2);
    assert_eq!(h.store.active_creators_since(since).await.unwrap().len(), 3);
    // An active creator stays admitted when every slot is taken, and counts once.
    assert_eq!(
        h.store
            .admit_active_creator(accounts[0], since, 3, h.now())
            .await
            .unwrap(),
        ActiveCreatorAdmission::Admitted
    );
    assert_eq!(h.store.active_creators_since(since).await.unwrap().len(), 3);
    // The admission counts toward no per-creator cap.
    assert!(
        h.store
            .quota_use_times(accounts[0], QuotaKind::DirectPost, since)
            .await
            .unwrap()
            .len()
            == 1
    );
}

async fn concurrent_workers_never_act_for_one_account_at_once(h: Harness) {
    let ws = h.workspace().await;
    let mut accounts = Vec::new();
    for n in 0..4 {
        accounts.push(h.account(ws, &format!("creator-{n}")).await);
    }
    const PER_ACCOUNT: usize = 12;
    for account in &accounts {
        for _ in 0..PER_ACCOUNT {
            h.store
                .enqueue(h.job(Some(*account)), h.now())
                .await
                .unwrap();
        }
    }
    let now = h.now();
    let acting: Arc<Mutex<HashSet<AccountId>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let store = h.store.clone();
        let acting = acting.clone();
        tasks.push(tokio::spawn(async move {
            let worker = WorkerId::new(format!("w{worker}"));
            let mut done = 0;
            let mut idle_rounds = 0;
            while idle_rounds < 200 {
                let jobs = store
                    .claim(&worker, now, Duration::from_secs(60), 3)
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    idle_rounds += 1;
                    tokio::task::yield_now().await;
                    continue;
                }
                idle_rounds = 0;
                for job in &jobs {
                    let account = job.account_id.unwrap();
                    assert!(
                        acting.lock().unwrap().insert(account),
                        "two workers acted for {account} at once"
                    );
                }
                tokio::task::yield_now().await;
                for job in jobs {
                    acting.lock().unwrap().remove(&job.account_id.unwrap());
                    assert_eq!(
                        store.complete(job.id, &worker).await.unwrap(),
                        LeaseStatus::Held
                    );
                    done += 1;
                }
            }
            done
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await.unwrap();
    }
    assert_eq!(done, accounts.len() * PER_ACCOUNT);
    assert_eq!(h.store.next_due_at().await.unwrap(), None);
}

async fn a_dead_workers_lease_is_swept_back_to_the_queue(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    h.store
        .enqueue(h.job(Some(account)), h.now())
        .await
        .unwrap();
    let (dead, alive) = (WorkerId::new("dead"), WorkerId::new("alive"));
    let job = h
        .store
        .claim(&dead, h.now(), Duration::from_secs(30), 1)
        .await
        .unwrap()
        .remove(0);

    h.advance(Duration::from_secs(29));
    assert_eq!(
        h.store.sweep_expired_leases(h.now()).await.unwrap(),
        0,
        "lease still valid"
    );
    assert!(
        h.store
            .claim(&alive, h.now(), Duration::from_secs(30), 1)
            .await
            .unwrap()
            .is_empty()
    );

    h.advance(Duration::from_secs(2));
    assert_eq!(h.store.sweep_expired_leases(h.now()).await.unwrap(), 1);
    let swept = h.store.job(job.id).await.unwrap().unwrap();
    assert_eq!(swept.locked_by, None);
    assert!(swept.last_error.unwrap().contains("lease expired"));

    let again = h
        .store
        .claim(&alive, h.now(), Duration::from_secs(30), 1)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, job.id);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(
        h.store.complete(job.id, &dead).await.unwrap(),
        LeaseStatus::Lost,
        "the dead worker's late completion must not count"
    );
    assert_eq!(
        h.store.heartbeat(job.id, &dead, h.now()).await.unwrap(),
        LeaseStatus::Lost
    );
    assert_eq!(
        h.store.complete(job.id, &alive).await.unwrap(),
        LeaseStatus::Held
    );
}

async fn a_heartbeat_keeps_the_lease_alive(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    h.store
        .enqueue(h.job(Some(account)), h.now())
        .await
        .unwrap();
    let worker = WorkerId::new("w1");
    let job = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(30), 1)
        .await
        .unwrap()
        .remove(0);
    for _ in 0..5 {
        h.advance(Duration::from_secs(20));
        let until = clock::add(h.now(), Duration::from_secs(30));
        assert_eq!(
            h.store.heartbeat(job.id, &worker, until).await.unwrap(),
            LeaseStatus::Held
        );
        assert_eq!(h.store.sweep_expired_leases(h.now()).await.unwrap(), 0);
    }
    assert!(
        h.store
            .claim(&WorkerId::new("w2"), h.now(), Duration::from_secs(30), 1)
            .await
            .unwrap()
            .is_empty()
    );
    let retry_at = clock::add(h.now(), Duration::from_secs(300));
    assert_eq!(
        h.store
            .retry_at(
                job.id,
                &worker,
                retry_at,
                "TikTok 503",
                Requeue::AfterFailure
            )
            .await
            .unwrap(),
        LeaseStatus::Held
    );
    assert_eq!(h.store.next_due_at().await.unwrap(), Some(retry_at));
    let retried = h.store.job(job.id).await.unwrap().unwrap();
    assert_eq!(retried.last_error.as_deref(), Some("TikTok 503"));
}

async fn a_transition_is_a_compare_and_set_and_records_events_in_order(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let post = h
        .store
        .create_post(h.new_post(ws, account, 0), h.now())
        .await
        .unwrap()
        .into_inner();

    let applied = h
        .store
        .transition_post(step(
            post.id,
            PostState::Scheduled,
            PostState::Preflighted,
            h.now(),
        ))
        .await
        .unwrap();
    assert!(
        matches!(applied, TransitionOutcome::Applied(ref p) if p.state == PostState::Preflighted)
    );

    let stale = h
        .store
        .transition_post(step(
            post.id,
            PostState::Scheduled,
            PostState::Cancelled,
            h.now(),
        ))
        .await
        .unwrap();
    assert_eq!(
        stale,
        TransitionOutcome::Stale {
            current: PostState::Preflighted
        }
    );

    let illegal = h
        .store
        .transition_post(step(
            post.id,
            PostState::Preflighted,
            PostState::Published,
            h.now(),
        ))
        .await;
    assert!(matches!(illegal, Err(StoreError::IllegalTransition(_))));

    let deferred = PostState::Deferred {
        until: clock::add(h.now(), Duration::from_secs(3600)),
        why: tokpost_core::DeferReason::DailyPostCap,
    };
    h.advance(Duration::from_secs(1));
    h.store
        .transition_post(step(post.id, PostState::Preflighted, deferred, h.now()))
        .await
        .unwrap();
    h.advance(Duration::from_secs(1));
    h.store
        .append_post_event(
            post.id,
            NewPostEvent::new(h.now(), EventKind::Note, "cap: 15 of 15").with_native_response(
                serde_json::json!({"error": {"code": "spam_risk_too_many_posts"}}),
            ),
        )
        .await
        .unwrap();
    let wrong_detail = PostState::Deferred {
        until: h.now(),
        why: tokpost_core::DeferReason::DailyPostCap,
    };
    let stale = h
        .store
        .transition_post(step(post.id, wrong_detail, PostState::Scheduled, h.now()))
        .await
        .unwrap();
    assert!(
        matches!(stale, TransitionOutcome::Stale { .. }),
        "the CAS compares the whole state, not just its name"
    );

    let events = h.store.post_events(post.id).await.unwrap();
    let sequences: Vec<u32> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, vec![1, 2, 3, 4]);
    let states: Vec<StateKind> = events.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        vec![
            StateKind::Scheduled,
            StateKind::Preflighted,
            StateKind::Deferred,
            StateKind::Deferred
        ]
    );
    assert_eq!(
        events[3].native_response.as_ref().unwrap()["error"]["code"],
        "spam_risk_too_many_posts"
    );
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
}

async fn a_transition_completes_its_job_and_enqueues_the_next_atomically(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let post = h
        .store
        .create_post(h.new_post(ws, account, 0), h.now())
        .await
        .unwrap()
        .into_inner();
    let worker = WorkerId::new("w1");
    let job = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(30), 1)
        .await
        .unwrap()
        .remove(0);

    let check_at = clock::add(h.now(), Duration::from_secs(10));
    let mut transition = step(
        post.id,
        PostState::Scheduled,
        PostState::Preflighted,
        h.now(),
    );
    transition.completes = Some((job.id, worker.clone()));
    transition.next_job = Some(NewJob {
        kind: JobKind::PublishPost,
        payload: serde_json::json!({ "post_id": post.id }),
        account_id: Some(account),
        post_id: Some(post.id),
        run_at: check_at,
        dedupe_key: None,
    });
    assert!(matches!(
        h.store.transition_post(transition).await.unwrap(),
        TransitionOutcome::Applied(_)
    ));
    assert_eq!(
        h.store.job(job.id).await.unwrap(),
        None,
        "the finished job is gone"
    );
    assert_eq!(
        h.store.next_due_at().await.unwrap(),
        Some(check_at),
        "the next step is queued and the account is free"
    );

    // A worker whose lease was lost changes nothing.
    h.advance(Duration::from_secs(10));
    let next = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(30), 1)
        .await
        .unwrap()
        .remove(0);
    h.advance(Duration::from_secs(31));
    h.store.sweep_expired_leases(h.now()).await.unwrap();
    let mut late = step(
        post.id,
        PostState::Preflighted,
        PostState::CreatorChecked,
        h.now(),
    );
    late.completes = Some((next.id, worker.clone()));
    assert_eq!(
        h.store.transition_post(late).await.unwrap(),
        TransitionOutcome::LeaseLost
    );
    assert_eq!(
        h.store.post(post.id).await.unwrap().unwrap().state,
        PostState::Preflighted
    );
    assert_eq!(h.store.post_events(post.id).await.unwrap().len(), 2);
}

async fn publishing_progress_is_stored_with_the_move(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let post = h.prepared_post(ws, account, 0).await;
    let progress = PublishProgress {
        publish_id: Some(PublishId::new("v_pub_file~v2-1.7").unwrap()),
        upload_url: Some("https://open-upload.tiktokapis.com/upload/?upload_id=1".into()),
        upload_url_expires_at: Some(clock::add(h.now(), Duration::from_secs(3600))),
        uploaded_bytes: 0,
        public_post_ids: vec![],
    };
    let mut init = step(
        post,
        PostState::CreatorChecked,
        PostState::Initialized,
        h.now(),
    );
    init.progress = Some(progress.clone());
    init.quota_use = Some(QuotaKind::DirectPost);
    h.store.transition_post(init).await.unwrap();
    let stored = h.store.post(post).await.unwrap().unwrap();
    assert_eq!(
        stored.progress, progress,
        "publish_id and upload URL are stored before any byte is sent"
    );
    assert_eq!(
        h.store
            .quota_used(account, QuotaKind::DirectPost, h.now())
            .await
            .unwrap(),
        1
    );

    let mut uploading = step(post, PostState::Initialized, PostState::Uploading, h.now());
    uploading.progress = Some(PublishProgress {
        uploaded_bytes: 10_000_000,
        ..progress.clone()
    });
    h.store.transition_post(uploading).await.unwrap();
    let mut more = step(post, PostState::Uploading, PostState::Uploading, h.now());
    more.progress = Some(PublishProgress {
        uploaded_bytes: 20_000_000,
        ..progress
    });
    h.store.transition_post(more).await.unwrap();
    assert_eq!(
        h.store
            .post(post)
            .await
            .unwrap()
            .unwrap()
            .progress
            .uploaded_bytes,
        20_000_000
    );
}

async fn the_quota_ledger_counts_a_rolling_24_hour_window(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let other = h.account(ws, "other").await;
    let start = h.now();
    for hour in 0..3 {
        let at = clock::add(start, Duration::from_secs(hour * 3600));
        posts::initialized(h.store.as_ref(), ws, account, PostMode::Direct, at).await;
    }
    let share = posts::initialized(h.store.as_ref(), ws, other, PostMode::Inbox, start).await;

    h.advance(Duration::from_secs(24 * 3600 + 1800));
    let day_ago = h.now() - SignedDuration::from_hours(24);
    assert_eq!(
        h.store
            .quota_used(account, QuotaKind::DirectPost, day_ago)
            .await
            .unwrap(),
        2,
        "the first post left the window"
    );
    assert_eq!(
        h.store
            .quota_used(account, QuotaKind::InboxShare, day_ago)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        h.store.active_creators_since(day_ago).await.unwrap().len(),
        1
    );
    assert_eq!(h.store.active_creators_since(start).await.unwrap().len(), 2);

    assert_eq!(
        h.store
            .quota_used(other, QuotaKind::InboxShare, start)
            .await
            .unwrap(),
        1
    );
    assert!(
        h.store
            .release_quota_use(share, QuotaKind::InboxShare, h.now())
            .await
            .unwrap()
    );
    assert_eq!(
        h.store
            .quota_used(other, QuotaKind::InboxShare, start)
            .await
            .unwrap(),
        0,
        "a released share is no longer pending"
    );
}

async fn rate_limit_slots_are_shared_and_roll_with_each_request(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let slot = RateLimitSlot {
        account_id: account,
        endpoint: "video_init",
        window: Duration::from_secs(60),
        limit: 2,
    };
    assert_eq!(
        h.store.take_rate_limit_slot(slot, h.now()).await.unwrap(),
        RateLimitDecision::Allowed { used: 1 }
    );
    assert_eq!(
        h.store.take_rate_limit_slot(slot, h.now()).await.unwrap(),
        RateLimitDecision::Allowed { used: 2 }
    );
    let window_end = clock::add(h.now(), Duration::from_secs(60));
    assert_eq!(
        h.store.take_rate_limit_slot(slot, h.now()).await.unwrap(),
        RateLimitDecision::Limited {
            retry_at: window_end
        }
    );
    let other_endpoint = RateLimitSlot {
        endpoint: "status_fetch",
        ..slot
    };
    assert_eq!(
        h.store
            .take_rate_limit_slot(other_endpoint, h.now())
            .await
            .unwrap(),
        RateLimitDecision::Allowed { used: 1 }
    );
    h.advance(Duration::from_secs(60));
    assert_eq!(
        h.store.take_rate_limit_slot(slot, h.now()).await.unwrap(),
        RateLimitDecision::Allowed { used: 1 }
    );
    // The window rolls with each request, as TikTok counts: two requests 40 s apart hold the
    // limit until the first is a minute old, whatever the calendar minute says.
    h.advance(Duration::from_secs(40));
    let second = h.now();
    assert_eq!(
        h.store.take_rate_limit_slot(slot, h.now()).await.unwrap(),
        RateLimitDecision::Allowed { used: 2 }
    );
    h.advance(Duration::from_secs(21));
    assert_eq!(
        h.store.take_rate_limit_slot(slot, h.now()).await.unwrap(),
        RateLimitDecision::Allowed { used: 2 },
        "the first request left the window 60 s after it was sent"
    );
    assert_eq!(
        h.store.take_rate_limit_slot(slot, h.now()).await.unwrap(),
        RateLimitDecision::Limited {
            retry_at: clock::add(second, Duration::from_secs(60))
        }
    );
    // Reads skip requests that left their window; the sweep forgets those older than the
    // longest window a slot may have (an hour), and keeps the rest.
    assert_eq!(
        h.rate_window_rows().await,
        5,
        "one row per endpoint and millisecond"
    );
    h.advance(Duration::from_secs(3_600 - 21));
    h.store.sweep_expired_leases(h.now()).await.unwrap();
    assert_eq!(
        h.rate_window_rows().await,
        1,
        "the request of 59 min 39 s ago is kept"
    );
    let longer_than_kept = RateLimitSlot {
        window: Duration::from_secs(3_601),
        ..slot
    };
    assert!(matches!(
        h.store
            .take_rate_limit_slot(longer_than_kept, h.now())
            .await,
        Err(StoreError::Misuse(_))
    ));
}

async fn tokens_are_encrypted_at_rest(h: Harness) {
    const ACCESS: &str = "act.PLAINTEXT-ACCESS-7f3a9c";
    const REFRESH: &str = "rft.PLAINTEXT-REFRESH-51d2e8";
    let logs = capture_logs();
    let ws = h.workspace().await;
    let request = new_account(ws, "creator", ACCESS, REFRESH, h.now());
    let debug = format!("{request:?}");
    assert!(
        !debug.contains(ACCESS) && !debug.contains(REFRESH),
        "Debug leaks a token: {debug}"
    );
    let account = h.store.connect_account(request, h.now()).await.unwrap();

    let tokens = h.store.account_tokens(account.id).await.unwrap().unwrap();
    assert_eq!(tokens.access_token.expose_secret(), ACCESS);
    assert_eq!(tokens.refresh_token.expose_secret(), REFRESH);

    let on_disk = database_files(&h).await;
    assert!(
        contains(&on_disk, b"creator creator"),
        "the scan must see the plaintext columns"
    );
    for secret in [ACCESS, REFRESH, "PLAINTEXT"] {
        assert!(
            !contains(&on_disk, secret.as_bytes()),
            "{secret} found in the database files"
        );
    }
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("accounts"),
        "the log capture must see the store's statements"
    );
    assert!(!logs.contains("PLAINTEXT"), "a token reached the logs");
    // A disconnected account keeps no tokens at all.
    h.store
        .set_account_status(account.id, AccountStatus::Disconnected, h.now())
        .await
        .unwrap();
    assert!(h.store.account_tokens(account.id).await.unwrap().is_none());
}

/// An endpoint's URL can be a credential (a Slack or Discord webhook): stored sealed, shown only
/// as its origin, opened only for the sender's claim.
async fn webhook_endpoint_urls_are_sealed_at_rest_and_shown_only_in_part(h: Harness) {
    const TOKEN: &str = "HOOKTOKEN-9c2f71";
    let url = format!("https://hooks.slack.example/services/T01/B02/{TOKEN}");
    let ws = h.workspace().await;
    let created = h
        .store
        .create_webhook_endpoint(
            tokpost_store::NewWebhookEndpoint {
                workspace_id: ws,
                format: tokpost_store::ChannelFormat::Tokpost,
                chat_id: None,
                url: url.clone(),
                description: "team channel".to_owned(),
                events: [tokpost_store::WebhookEventType::PostMissed].into(),
                secret: SecretString::from("whsec_sealed"),
                at_most: 10,
            },
            h.now(),
        )
        .await
        .unwrap();
    let tokpost_store::EndpointCreated::Created(endpoint) = created else {
        panic!("not created");
    };
    assert_eq!(endpoint.url, "https://hooks.slack.example/…");
    let listed = h.store.webhook_endpoints(ws).await.unwrap();
    assert_eq!(listed[0].url, "https://hooks.slack.example/…");
    assert!(!format!("{listed:?}").contains(TOKEN));
    assert_eq!(
        tokpost_store::webhooks::shown_url("http://10.0.0.5:8080/"),
        "http://10.0.0.5:8080/"
    );
    h.store
        .enqueue_webhook_event(
            ws,
            tokpost_store::WebhookEvent {
                event_type: tokpost_store::WebhookEventType::PostMissed,
                at: h.now(),
                data: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    let claimed = h
        .store
        .claim_webhook_deliveries(
            &WorkerId::new("sender"),
            h.now(),
            Duration::from_secs(60),
            10,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].url, url, "the sender gets the whole URL");
    let on_disk = database_files(&h).await;
    assert!(
        contains(&on_disk, b"team channel"),
        "the scan must see the plaintext columns"
    );
    assert!(
        !contains(&on_disk, TOKEN.as_bytes()),
        "the endpoint's token is in the database files"
    );
}

/// Endpoint URLs an older version stored in plaintext are sealed when the store first opens,
/// and only their origin is left in the clear.
async fn webhook_urls_stored_in_plaintext_before_are_sealed_when_the_store_opens(h: Harness) {
    let dir = tempfile::tempdir().unwrap();
    let url = match &h.server {
        Some(server) => server.fresh_database().await.unwrap(),
        None => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("legacy.db").display()
        ),
    };
    let now = h.now();
    let key = cipher();
    let workspace = WorkspaceId::generate(now);
    let endpoints: Vec<(uuid::Uuid, String)> = (0..3)
        .map(|n| {
            (
                tokpost_store::WebhookEndpointId::generate(now).as_uuid(),
                format!("https://discord.example/api/webhooks/{n}/LEGACYTOKEN{n}"),
            )
        })
        .collect();
    macro_rules! legacy_database {
        ($connection:ty, $migrations:literal) => {{
            use sqlx::Connection as _;
            let mut conn = <$connection>::connect(&url).await.unwrap();
            sqlx::migrate!($migrations).run_to(18, &mut conn).await.unwrap();
            sqlx::query("INSERT INTO workspaces (id, name, created_at_ms) VALUES ($1, 'studio', $2)")
                .bind(workspace.as_uuid())
                .bind(now.as_millisecond())
                .execute(&mut conn)
                .await
                .unwrap();
            for (id, endpoint_url) in &endpoints {
                let secret = key
                    .seal(&SecretString::from("whsec_legacy"), id.as_bytes(), "webhook_secret")
                    .unwrap();
                sqlx::query(
                    "INSERT INTO webhook_endpoints (id, workspace_id, url, description, secret, created_at_ms)
                     VALUES ($1, $2, $3, 'legacy', $4, $5)",
                )
                .bind(id)
                .bind(workspace.as_uuid())
                .bind(endpoint_url)
                .bind(secret)
                .bind(now.as_millisecond())
                .execute(&mut conn)
                .await
                .unwrap();
                sqlx::query("INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1, 'post.missed')")
                    .bind(id)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            conn.close().await.unwrap();
        }};
    }
    macro_rules! stored_urls {
        ($connection:ty) => {{
            use sqlx::Connection as _;
            let mut conn = <$connection>::connect(&url).await.unwrap();
            let rows: Vec<(String, Option<Vec<u8>>)> =
                sqlx::query_as("SELECT url, url_sealed FROM webhook_endpoints ORDER BY id")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            conn.close().await.unwrap();
            rows
        }};
    }
    if h.server.is_some() {
        legacy_database!(sqlx::PgConnection, "migrations/postgres");
    } else {
        legacy_database!(sqlx::SqliteConnection, "migrations/sqlite");
    }
    let store = tokpost_store::open(&url, key.clone()).await.unwrap();
    let rows = if h.server.is_some() {
        stored_urls!(sqlx::PgConnection)
    } else {
        stored_urls!(sqlx::SqliteConnection)
    };
    assert_eq!(rows.len(), endpoints.len());
    for (shown, sealed) in &rows {
        assert_eq!(shown, "https://discord.example/…");
        assert!(sealed.is_some(), "sealed");
    }
    let listed = store.webhook_endpoints(workspace).await.unwrap();
    assert!(listed.iter().all(|e| e.url == "https://discord.example/…"));
    store
        .enqueue_webhook_event(
            workspace,
            tokpost_store::WebhookEvent {
                event_type: tokpost_store::WebhookEventType::PostMissed,
                at: now,
                data: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    let mut opened: Vec<String> = store
        .claim_webhook_deliveries(&WorkerId::new("sender"), now, Duration::from_secs(60), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|delivery| delivery.url)
        .collect();
    opened.sort();
    let mut expected: Vec<String> = endpoints.iter().map(|(_, url)| url.clone()).collect();
    expected.sort();
    assert_eq!(opened, expected, "the sender still gets each whole URL");
}

/// An upload URL is a bearer capability for an hour (whoever holds it can upload into the
/// creator's publish): stored sealed like a token, opened on every read, never in `Debug` or
/// the logs.
async fn upload_urls_are_sealed_at_rest_and_opened_only_for_their_post(h: Harness) {
    const CAPABILITY: &str = "CAPABILITY-4e9b1d";
    const PUBLISH_ID: &str = "v_pub_file~v2-sealed.1";
    let upload_url = format!(
        "https://open-upload.tiktokapis.com/video/?upload_id=67890&upload_token={CAPABILITY}"
    );
    let logs = capture_logs();
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let post = h.prepared_post(ws, account, 0).await;
    let other = h.prepared_post(ws, account, 0).await;
    let progress = PublishProgress {
        publish_id: Some(PublishId::new(PUBLISH_ID).unwrap()),
        upload_url: Some(upload_url.clone()),
        upload_url_expires_at: Some(clock::add(h.now(), Duration::from_secs(3600))),
        uploaded_bytes: 0,
        public_post_ids: vec![],
    };
    let mut init = step(
        post,
        PostState::CreatorChecked,
        PostState::Initialized,
        h.now(),
    );
    init.progress = Some(progress.clone());
    let debug = format!("{init:?}");
    assert!(
        !debug.contains(CAPABILITY),
        "Debug leaks the upload URL: {debug}"
    );
    // The init wave's way (many moves in one statement) and a single move both seal.
    let TransitionOutcome::Applied(initialized) = h
        .store
        .transition_posts(vec![init])
        .await
        .unwrap()
        .remove(0)
    else {
        panic!("the init was not stored");
    };
    assert_eq!(
        initialized.progress, progress,
        "the moved post comes back opened"
    );
    let mut other_init = step(
        other,
        PostState::CreatorChecked,
        PostState::Initialized,
        h.now(),
    );
    other_init.progress = Some(PublishProgress {
        publish_id: Some(PublishId::new("v_pub_file~v2-other.2").unwrap()),
        upload_url: Some("https://open-upload.tiktokapis.com/video/?upload_id=2".into()),
        ..progress.clone()
    });
    h.store.transition_post(other_init).await.unwrap();
    let mut uploading = step(post, PostState::Initialized, PostState::Uploading, h.now());
    uploading.progress = Some(PublishProgress {
        uploaded_bytes: 65_536,
        ..progress.clone()
    });
    h.store.transition_post(uploading).await.unwrap();

    // Every way of reading a post opens it.
    let stored = h.store.post(post).await.unwrap().unwrap();
    assert_eq!(
        stored.progress.upload_url.as_deref(),
        Some(upload_url.as_str())
    );
    assert_eq!(stored.progress.uploaded_bytes, 65_536);
    let debug = format!("{stored:?}");
    assert!(
        !debug.contains(CAPABILITY),
        "Debug leaks the upload URL: {debug}"
    );
    let by_publish_id = h
        .store
        .post_by_publish_id(&PublishId::new(PUBLISH_ID).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_publish_id, stored);
    let listed = h
        .store
        .list_posts(&PostFilter {
            workspace_id: ws,
            state: Some(StateKind::Uploading),
            account_id: None,
            scheduled_from: None,
            scheduled_before: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed, vec![stored.clone()]);
    assert!(h.store.posts(ws, 10).await.unwrap().contains(&stored));

    // Only the ciphertext reaches the disk.
    let on_disk = database_files(&h).await;
    assert!(
        contains(&on_disk, PUBLISH_ID.as_bytes()),
        "the scan must see the plaintext columns"
    );
    for secret in [CAPABILITY, "upload_token=", "open-upload.tiktokapis.com"] {
        assert!(
            !contains(&on_disk, secret.as_bytes()),
            "{secret} found in the database files"
        );
    }
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("posts"),
        "the log capture must see the store's statements"
    );
    assert!(!logs.contains(CAPABILITY), "an upload URL reached the logs");

    // The post id is sealed in: a ciphertext moved to another post does not open there, and a
    // key that did not seal it opens nothing. Either is an error, never a panic or a guess.
    h.copy_sealed_upload_url(post, other).await;
    assert!(matches!(
        h.store.post(other).await,
        Err(StoreError::Crypto(CryptoError::Corrupt))
    ));
    let another_key = tokpost_store::open(&h.url(), cipher()).await.unwrap();
    assert!(matches!(
        another_key.post(post).await,
        Err(StoreError::Crypto(CryptoError::WrongKey { .. }))
    ));
}

/// Upload URLs a version before migration 0013 stored in plaintext are sealed (not dropped:
/// a file upload without its URL could not resume) when the store first opens the database,
/// in batches, and the plaintext column is cleared.
async fn upload_urls_stored_in_plaintext_before_are_sealed_when_the_store_opens(h: Harness) {
    const WITH_URL: usize = 501;
    let dir = tempfile::tempdir().unwrap();
    let url = match &h.server {
        Some(server) => server.fresh_database().await.unwrap(),
        None => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("legacy.db").display()
        ),
    };
    let now = h.now();
    let expires = clock::add(now, Duration::from_secs(3600));
    let workspace = WorkspaceId::generate(now);
    let account = AccountId::generate(now);
    let posts: Vec<(tokpost_core::PostId, Option<String>)> = (0..=WITH_URL)
        .map(|n| {
            let url = (n < WITH_URL).then(|| {
                format!("https://open-upload.tiktokapis.com/video/?upload_id={n}&upload_token=t{n}")
            });
            (tokpost_core::PostId::generate(now), url)
        })
        .collect();
    let spec = serde_json::to_string(&video_spec(now)).unwrap();
    let state = serde_json::to_string(&PostState::Initialized).unwrap();
    let status = serde_json::to_string(&AccountStatus::Connected).unwrap();
    // The schema and rows as the version before this one left them.
    macro_rules! legacy_database {
        ($connection:ty, $migrations:literal) => {{
            use sqlx::Connection as _;
            let mut conn = <$connection>::connect(&url).await.unwrap();
            sqlx::migrate!($migrations).run_to(12, &mut conn).await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            sqlx::query("INSERT INTO workspaces (id, name, created_at_ms) VALUES ($1, 'studio', $2)")
                .bind(workspace.as_uuid())
                .bind(now.as_millisecond())
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO accounts (id, workspace_id, open_id, display_name, scopes, status, access_token_expires_at_ms, refresh_token_expires_at_ms, created_at_ms, updated_at_ms)
                 VALUES ($1, $2, 'creator', 'creator', 'video.publish', $3, $4, $4, $4, $4)",
            )
            .bind(account.as_uuid())
            .bind(workspace.as_uuid())
            .bind(&status)
            .bind(now.as_millisecond())
            .execute(&mut *tx)
            .await
            .unwrap();
            for (n, (post, upload_url)) in posts.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO posts (id, workspace_id, account_id, spec, scheduled_at_ms, state, state_detail, publish_id, upload_url, upload_url_expires_at_ms, event_count, created_at_ms, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, 'initialized', $6, $7, $8, $9, 1, $5, $5)",
                )
                .bind(post.as_uuid())
                .bind(workspace.as_uuid())
                .bind(account.as_uuid())
                .bind(&spec)
                .bind(now.as_millisecond())
                .bind(&state)
                .bind(format!("v_pub_file~v2-{n}"))
                .bind(upload_url.as_deref())
                .bind(upload_url.as_ref().map(|_| expires.as_millisecond()))
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
            conn.close().await.unwrap();
        }};
    }
    // What the store keeps of the upload URLs: (plaintext left, sealed ciphertexts by post).
    macro_rules! stored_upload_urls {
        ($connection:ty) => {{
            use sqlx::Connection as _;
            let mut conn = <$connection>::connect(&url).await.unwrap();
            let plaintext: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM posts WHERE upload_url IS NOT NULL")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            let sealed: Vec<(uuid::Uuid, Option<Vec<u8>>)> =
                sqlx::query_as("SELECT id, upload_url_sealed FROM posts ORDER BY id")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            conn.close().await.unwrap();
            (plaintext, sealed)
        }};
    }
    if h.server.is_some() {
        legacy_database!(sqlx::PgConnection, "migrations/postgres");
    } else {
        legacy_database!(sqlx::SqliteConnection, "migrations/sqlite");
    }

    let key = cipher();
    let store = tokpost_store::open(&url, key.clone()).await.unwrap();
    let read = store.posts(workspace, 1_000).await.unwrap();
    assert_eq!(read.len(), posts.len());
    for (post, upload_url) in &posts {
        let stored = read.iter().find(|p| p.id == *post).unwrap();
        assert_eq!(&stored.progress.upload_url, upload_url, "post {post}");
        assert_eq!(
            stored.progress.upload_url_expires_at,
            upload_url.as_ref().map(|_| expires)
        );
    }
    let stored = || async {
        if h.server.is_some() {
            stored_upload_urls!(sqlx::PgConnection)
        } else {
            stored_upload_urls!(sqlx::SqliteConnection)
        }
    };
    let (plaintext, sealed) = stored().await;
    assert_eq!(plaintext, 0, "no upload URL is left in plaintext");
    assert_eq!(
        sealed.iter().filter(|(_, sealed)| sealed.is_some()).count(),
        WITH_URL,
        "every upload URL is sealed, and a post without one gets none"
    );
    drop(store);

    // Opening again converts nothing twice.
    let again = tokpost_store::open(&url, key).await.unwrap();
    assert_eq!(stored().await, (0, sealed));
    let (post, upload_url) = &posts[0];
    assert_eq!(
        &again
            .post(*post)
            .await
            .unwrap()
            .unwrap()
            .progress
            .upload_url,
        upload_url
    );
}

async fn reconnecting_a_creator_keeps_its_account_and_replaces_its_tokens(h: Harness) {
    let ws = h.workspace().await;
    let first = h
        .store
        .connect_account(
            new_account(ws, "creator", "act.1", "rft.1", h.now()),
            h.now(),
        )
        .await
        .unwrap();
    h.store
        .set_account_status(
            first.id,
            AccountStatus::NeedsReconnect {
                why: ReconnectReason::RefreshTokenRejected,
            },
            h.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        h.store.account(first.id).await.unwrap().unwrap().status,
        AccountStatus::NeedsReconnect {
            why: ReconnectReason::RefreshTokenRejected
        }
    );
    assert!(
        h.store
            .accounts_expiring_before(clock::add(h.now(), Duration::from_secs(48 * 3600)))
            .await
            .unwrap()
            .is_empty(),
        "accounts needing reconnect are not refreshed"
    );

    h.advance(Duration::from_secs(60));
    let again = h
        .store
        .connect_account(
            new_account(ws, "creator", "act.2", "rft.2", h.now()),
            h.now(),
        )
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.status, AccountStatus::Connected);
    assert!(again.has_scope(Scope::VIDEO_PUBLISH));
    let tokens = h.store.account_tokens(first.id).await.unwrap().unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "act.2");
    assert_eq!(h.store.accounts(ws).await.unwrap().len(), 1);

    let refreshed = AccountTokens {
        access_token: SecretString::from("act.3"),
        refresh_token: SecretString::from("rft.3"),
        access_token_expires_at: clock::add(h.now(), Duration::from_secs(7200)),
        refresh_token_expires_at: clock::add(h.now(), Duration::from_secs(86400 * 365)),
        granted_at: h.now(),
    };
    assert_eq!(
        h.store
            .store_refreshed_tokens(first.id, &SecretString::from("rft.2"), &refreshed, h.now())
            .await
            .unwrap(),
        TokenWrite::Stored
    );
    let tokens = h.store.account_tokens(first.id).await.unwrap().unwrap();
    assert_eq!(
        tokens.refresh_token.expose_secret(),
        "rft.3",
        "the rotated refresh token is stored"
    );
    assert_eq!(
        h.store
            .accounts_expiring_before(clock::add(h.now(), Duration::from_secs(7201)))
            .await
            .unwrap(),
        vec![first.id]
    );
    assert!(
        h.store
            .accounts_expiring_before(clock::add(h.now(), Duration::from_secs(3600)))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_token_refresh_is_written_only_over_the_token_it_replaced(h: Harness) {
    let ws = h.workspace().await;
    let account = h
        .store
        .connect_account(
            new_account(ws, "creator", "act.1", "rft.1", h.now()),
            h.now(),
        )
        .await
        .unwrap();
    let grant = |access: &str, refresh: &str| AccountTokens {
        access_token: SecretString::from(access.to_owned()),
        refresh_token: SecretString::from(refresh.to_owned()),
        access_token_expires_at: clock::add(h.now(), Duration::from_secs(7200)),
        refresh_token_expires_at: clock::add(h.now(), Duration::from_secs(86400 * 180)),
        granted_at: h.now(),
    };
    let held = |refresh: &str| SecretString::from(refresh.to_owned());

    // A refresh that presented rft.1 lands; a second one that also presented rft.1 (it raced
    // the first) must not overwrite the rotated token.
    assert_eq!(
        h.store
            .store_refreshed_tokens(
                account.id,
                &held("rft.1"),
                &grant("act.2", "rft.2"),
                h.now()
            )
            .await
            .unwrap(),
        TokenWrite::Stored
    );
    assert_eq!(
        h.store
            .store_refreshed_tokens(
                account.id,
                &held("rft.1"),
                &grant("act.x", "rft.x"),
                h.now()
            )
            .await
            .unwrap(),
        TokenWrite::Superseded
    );
    let tokens = h.store.account_tokens(account.id).await.unwrap().unwrap();
    assert_eq!(tokens.refresh_token.expose_secret(), "rft.2");
    assert_eq!(tokens.granted_at, h.now(), "the grant's instant is kept");

    // A refusal of a token the account no longer holds changes nothing; a refusal of the one
    // it holds turns it needs-reconnect, with its webhook.
    assert!(
        !h.store
            .refresh_refused(
                account.id,
                &held("rft.1"),
                ReconnectReason::RefreshTokenRejected,
                h.now()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        h.store.account(account.id).await.unwrap().unwrap().status,
        AccountStatus::Connected
    );
    assert!(
        h.store
            .refresh_refused(
                account.id,
                &held("rft.2"),
                ReconnectReason::RefreshTokenRejected,
                h.now()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        h.store.account(account.id).await.unwrap().unwrap().status,
        AccountStatus::NeedsReconnect {
            why: ReconnectReason::RefreshTokenRejected
        }
    );
    // A needs-reconnect account takes no refreshed tokens, and a reconnect brings it back.
    assert_eq!(
        h.store
            .store_refreshed_tokens(
                account.id,
                &held("rft.2"),
                &grant("act.3", "rft.3"),
                h.now()
            )
            .await
            .unwrap(),
        TokenWrite::NotConnected
    );
    h.store
        .connect_account(
            new_account(ws, "creator", "act.4", "rft.4", h.now()),
            h.now(),
        )
        .await
        .unwrap();
    // A disconnected account keeps no tokens, and a refresh that was in flight cannot write
    // them back.
    h.store
        .set_account_status(account.id, AccountStatus::Disconnected, h.now())
        .await
        .unwrap();
    assert_eq!(
        h.store
            .store_refreshed_tokens(
                account.id,
                &held("rft.4"),
                &grant("act.5", "rft.5"),
                h.now()
            )
            .await
            .unwrap(),
        TokenWrite::NotConnected
    );
    assert!(h.store.account_tokens(account.id).await.unwrap().is_none());
    assert_eq!(
        h.store
            .claim_token_refresh(
                account.id,
                "p1",
                clock::add(h.now(), Duration::from_secs(60)),
                h.now()
            )
            .await
            .unwrap(),
        RefreshClaim::NotConnected
    );
}

async fn concurrent_refresh_claims_have_one_winner_and_a_failure_backs_everyone_off(h: Harness) {
    let ws = h.workspace().await;
    let account = h
        .store
        .connect_account(
            new_account(ws, "creator", "act.1", "rft.1", h.now()),
            h.now(),
        )
        .await
        .unwrap();
    let until = clock::add(h.now(), Duration::from_secs(120));
    // Twelve holders (as twelve processes would) claim at once, on their own connections.
    let mut tasks = Vec::new();
    for n in 0..12 {
        let store = Arc::clone(&h.store);
        let now = h.now();
        tasks.push(tokio::spawn(async move {
            let holder = format!("process-{n}");
            let claim = store
                .claim_token_refresh(account.id, &holder, until, now)
                .await
                .unwrap();
            (holder, claim)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (holder, claim) = task.await.unwrap();
        if matches!(claim, RefreshClaim::Claimed { failures: 0 }) {
            winners.push(holder);
        }
    }
    assert_eq!(winners.len(), 1, "one claim wins: {winners:?}");
    let winner = &winners[0];
    assert_eq!(
        h.store
            .claim_token_refresh(account.id, "late", until, h.now())
            .await
            .unwrap(),
        RefreshClaim::HeldElsewhere { until }
    );
    // The winner failed: everyone waits until the instant it names, then the next claim
    // learns how many failed in a row.
    let retry_at = clock::add(h.now(), Duration::from_secs(10));
    h.store
        .release_token_refresh(account.id, winner, Some(retry_at))
        .await
        .unwrap();
    assert_eq!(
        h.store
            .claim_token_refresh(account.id, "late", until, h.now())
            .await
            .unwrap(),
        RefreshClaim::BackingOff { until: retry_at }
    );
    h.advance(Duration::from_secs(10));
    let until = clock::add(h.now(), Duration::from_secs(120));
    assert_eq!(
        h.store
            .claim_token_refresh(account.id, "late", until, h.now())
            .await
            .unwrap(),
        RefreshClaim::Claimed { failures: 1 }
    );
    // A holder that died loses its claim when it runs out.
    h.advance(Duration::from_secs(120));
    assert_eq!(
        h.store
            .claim_token_refresh(
                account.id,
                "next",
                clock::add(h.now(), Duration::from_secs(120)),
                h.now()
            )
            .await
            .unwrap(),
        RefreshClaim::Claimed { failures: 1 }
    );
    // Stored tokens end the claim and the failure streak.
    let fresh = AccountTokens {
        access_token: SecretString::from("act.2"),
        refresh_token: SecretString::from("rft.2"),
        access_token_expires_at: clock::add(h.now(), Duration::from_secs(7200)),
        refresh_token_expires_at: clock::add(h.now(), Duration::from_secs(86400 * 180)),
        granted_at: h.now(),
    };
    assert_eq!(
        h.store
            .store_refreshed_tokens(account.id, &SecretString::from("rft.1"), &fresh, h.now())
            .await
            .unwrap(),
        TokenWrite::Stored
    );
    assert_eq!(
        h.store
            .claim_token_refresh(
                account.id,
                "after",
                clock::add(h.now(), Duration::from_secs(60)),
                h.now()
            )
            .await
            .unwrap(),
        RefreshClaim::Claimed { failures: 0 }
    );
}

fn cancel_of(post: tokpost_core::PostId, from: PostState, now: Timestamp) -> Transition {
    Transition {
        event: NewPostEvent::new(now, EventKind::UserAction, "cancelled"),
        ..step(post, from, PostState::Cancelled, now)
    }
}

fn init_sent(now: Timestamp) -> NewPostEvent {
    NewPostEvent::new(now, EventKind::InitRequested, "init sent")
}

async fn a_recorded_init_keeps_a_post_from_being_cancelled_or_rescheduled_until_answered(
    h: Harness,
) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let post = h.prepared_post(ws, account, 3_600).await;
    let checked = PostState::CreatorChecked;
    assert_eq!(
        h.store
            .record_init_request(post, &checked, init_sent(h.now()), None)
            .await
            .unwrap(),
        InitRecord::Recorded
    );
    // TikTok may hold it now: neither a cancel nor a reschedule moves it.
    assert!(matches!(
        h.store.transition_post(cancel_of(post, checked, h.now())).await.unwrap(),
        TransitionOutcome::Stale { current } if current == checked
    ));
    let later = clock::add(h.now(), Duration::from_secs(7_200));
    assert!(
        h.store
            .revise_post(reschedule(&h, post, checked, later).await, h.now())
            .await
            .unwrap()
            .is_none()
    );
    // TikTok's definite refusal is noted: the init did not reach it, so a cancel may follow.
    h.store
        .append_post_event(
            post,
            NewPostEvent::new(
                h.now(),
                EventKind::TiktokResponse,
                "init refused: rate limited",
            ),
        )
        .await
        .unwrap();
    assert!(matches!(
        h.store
            .transition_post(cancel_of(post, checked, h.now()))
            .await
            .unwrap(),
        TransitionOutcome::Applied(_)
    ));
    // A cancelled post records no init.
    assert_eq!(
        h.store
            .record_init_request(post, &checked, init_sent(h.now()), None)
            .await
            .unwrap(),
        InitRecord::Moved {
            current: PostState::Cancelled
        }
    );

    // An answer moves the post on, and the guard goes with it.
    let answered = h.prepared_post(ws, account, 3_600).await;
    h.store
        .record_init_request(answered, &checked, init_sent(h.now()), None)
        .await
        .unwrap();
    assert!(matches!(
        h.store
            .transition_post(step(answered, checked, PostState::Uncertain, h.now()))
            .await
            .unwrap(),
        TransitionOutcome::Applied(_)
    ));
}

async fn a_cancel_and_an_init_record_racing_never_both_win(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let checked = PostState::CreatorChecked;
    let mut posts = Vec::new();
    for _ in 0..16 {
        posts.push(h.prepared_post(ws, account, 3_600).await);
    }
    let mut tasks = Vec::new();
    for post in &posts {
        let (store, post, now) = (h.store.clone(), *post, h.now());
        let recording = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .record_init_request(post, &checked, init_sent(now), None)
                    .await
                    .unwrap()
            }
        });
        let cancelling = tokio::spawn(async move {
            store
                .transition_post(cancel_of(post, checked, now))
                .await
                .unwrap()
        });
        tasks.push((post, recording, cancelling));
    }
    let (mut recorded, mut cancelled) = (0, 0);
    for (post, recording, cancelling) in tasks {
        let record = recording.await.unwrap();
        let cancel = cancelling.await.unwrap();
        let state = h.store.post(post).await.unwrap().unwrap().state;
        match (record, cancel) {
            (InitRecord::Recorded, TransitionOutcome::Stale { .. }) => {
                assert_eq!(state, checked);
                recorded += 1;
            }
            (InitRecord::Moved { .. }, TransitionOutcome::Applied(_)) => {
                assert_eq!(state, PostState::Cancelled);
                cancelled += 1;
            }
            other => panic!("both or neither won for {post}: {other:?}"),
        }
    }
    assert_eq!(recorded + cancelled, 16);
}

async fn a_write_under_a_lease_another_worker_took_is_refused(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let post = h.prepared_post(ws, account, 0).await;
    let lease = Duration::from_secs(60);
    let first = WorkerId::new("first");
    let job = h
        .store
        .claim(&first, h.now(), lease, 1)
        .await
        .unwrap()
        .pop()
        .expect("the publish job");
    // The first worker pauses past its lease; the second sweeps and takes the job.
    h.advance(lease + Duration::from_secs(1));
    h.store.sweep_expired_leases(h.now()).await.unwrap();
    let second = WorkerId::new("second");
    let taken = h.store.claim(&second, h.now(), lease, 1).await.unwrap();
    assert_eq!(taken.len(), 1);
    let checked = PostState::CreatorChecked;
    assert_eq!(
        h.store
            .record_init_request(
                post,
                &checked,
                init_sent(h.now()),
                Some((job.id, first.clone()))
            )
            .await
            .unwrap(),
        InitRecord::LeaseLost
    );
    let moved = Transition {
        lease: Some((job.id, first)),
        ..step(
            post,
            checked,
            PostState::Deferred {
                until: clock::add(h.now(), Duration::from_secs(60)),
                why: tokpost_core::DeferReason::RateLimited,
            },
            h.now(),
        )
    };
    assert_eq!(
        h.store.transition_post(moved).await.unwrap(),
        TransitionOutcome::LeaseLost
    );
    assert_eq!(h.store.post(post).await.unwrap().unwrap().state, checked);
    // The worker that holds it writes.
    assert_eq!(
        h.store
            .record_init_request(
                post,
                &checked,
                init_sent(h.now()),
                Some((taken[0].id, second))
            )
            .await
            .unwrap(),
        InitRecord::Recorded
    );
}

async fn the_same_media_content_is_recorded_once(h: Harness) {
    let ws = h.workspace().await;
    let asset = NewMediaAsset {
        workspace_id: ws,
        kind: MediaKind::Video,
        content_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        size_bytes: 52_428_800,
        location: "media/9f86.mp4".into(),
        probe: serde_json::json!({"codec": "h264", "width": 1080, "height": 1920, "duration_ms": 15000}),
    };
    let first = h.store.add_media(asset.clone(), h.now()).await.unwrap();
    assert!(first.is_created());
    let second = h.store.add_media(asset, h.now()).await.unwrap();
    assert!(!second.is_created());
    let stored = h.store.media(first.into_inner().id).await.unwrap().unwrap();
    assert_eq!(stored, second.into_inner());
    assert_eq!(stored.probe["codec"], "h264");
}

async fn the_media_library_pages_a_workspaces_uploads_newest_first(h: Harness) {
    let ws = h.workspace().await;
    let other = h.workspace().await;
    let mut ids = Vec::new();
    for (n, kind) in [
        MediaKind::Video,
        MediaKind::Photo,
        MediaKind::Video,
        MediaKind::Video,
    ]
    .into_iter()
    .enumerate()
    {
        let asset = NewMediaAsset {
            workspace_id: ws,
            kind,
            content_hash: format!("{n:064x}"),
            size_bytes: 1_000,
            location: format!("media/{n}"),
            probe: serde_json::json!({}),
        };
        // The last two are recorded in the same millisecond: the id breaks the tie.
        let at = clock::add(h.now(), Duration::from_secs(n.min(2) as u64));
        ids.push(h.store.add_media(asset, at).await.unwrap().into_inner().id);
    }
    h.store
        .add_media(
            NewMediaAsset {
                workspace_id: other,
                kind: MediaKind::Video,
                content_hash: "f".repeat(64),
                size_bytes: 1,
                location: "media/theirs".into(),
                probe: serde_json::json!({}),
            },
            h.now(),
        )
        .await
        .unwrap();
    let videos = |before, limit| {
        h.store
            .list_media(ws, Some(MediaKind::Video), before, limit)
    };
    let mut newest_first = vec![ids[2], ids[3]];
    newest_first.sort_by(|a, b| b.cmp(a));
    newest_first.push(ids[0]);
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = videos(before, 1).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some((last.created_at, last.id));
        seen.extend(page.iter().map(|m| m.id));
    }
    assert_eq!(
        seen, newest_first,
        "every video once, newest first, across pages"
    );
    let all = h.store.list_media(ws, None, None, 10).await.unwrap();
    assert_eq!(all.len(), 4, "the other workspace's upload is not listed");
    assert_eq!(
        h.store
            .list_media(ws, Some(MediaKind::Photo), None, 10)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![ids[1]]
    );
}

async fn the_next_due_time_lets_a_worker_sleep_until_the_schedule(h: Harness) {
    assert_eq!(h.store.next_due_at().await.unwrap(), None);
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let later = h
        .store
        .create_post(h.new_post(ws, account, 7200), h.now())
        .await
        .unwrap()
        .into_inner();
    let sooner = h
        .store
        .create_post(h.new_post(ws, account, 3600), h.now())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.store.next_due_at().await.unwrap(),
        Some(sooner.scheduled_at.at())
    );
    h.advance(Duration::from_secs(3600));
    let worker = WorkerId::new("w1");
    let job = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(60), 5)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.post_id, Some(sooner.id));
    assert_eq!(
        h.store.next_due_at().await.unwrap(),
        Some(clock::add(h.now(), Duration::from_secs(60))),
        "the lease's end: if its worker died, the job is claimable again then"
    );
    h.store.complete(job.id, &worker).await.unwrap();
    assert_eq!(
        h.store.next_due_at().await.unwrap(),
        Some(later.scheduled_at.at())
    );
}

async fn a_sleeping_worker_is_woken_when_a_job_becomes_claimable(h: Harness) {
    // On PostgreSQL the sleeper is another store on the same database, as another worker process
    // would be; on SQLite one process owns the file.
    let other_process = match &h.postgres_url {
        Some(url) => tokpost_store::open(url, cipher()).await.unwrap(),
        None => h.store.clone(),
    };
    let mut changes = other_process.job_changes();
    let waiter = tokio::spawn(async move { changes.changed().await.is_ok() });
    tokio::task::yield_now().await;
    h.store.enqueue(h.job(None), h.now()).await.unwrap();
    // A generous bound that only guards against a hang; the wake-up itself is immediate.
    let woke = tokio::time::timeout(Duration::from_secs(60), waiter).await;
    assert!(woke.expect("the sleeping worker was never woken").unwrap());

    let mut changes = other_process.job_changes();
    let worker = WorkerId::new("w1");
    let job = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(60), 1)
        .await
        .unwrap()
        .remove(0);
    h.store.complete(job.id, &worker).await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), changes.changed())
        .await
        .expect("completing a job (which frees its account) must wake sleepers")
        .unwrap();

    // A sleeper whose next job is due in an hour is not woken by a post due tomorrow, and is
    // by one due in a minute (told across processes on PostgreSQL, with the time).
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let mut changes = other_process.job_changes();
    let next_job = h.now().checked_add(SignedDuration::from_hours(1)).unwrap();
    h.store
        .create_post(h.new_post(ws, account, 86_400), h.now())
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), changes.due_before(next_job))
            .await
            .is_err(),
        "a post due after the sleeper's next job woke it"
    );
    h.store
        .create_post(h.new_post(ws, account, 60), h.now())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), changes.due_before(next_job))
        .await
        .expect("a post due before the sleeper's next job must wake it")
        .unwrap();
}

async fn posts_waiting_for_a_reconnect_are_found_by_account_and_state(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let other = h.account(ws, "other").await;
    let waiting = PostState::WaitingForReconnect {
        publish_started: false,
    };
    let mut parked = Vec::new();
    for (owner, in_secs) in [(account, 300), (account, 100), (other, 50)] {
        let post = h
            .store
            .create_post(h.new_post(ws, owner, in_secs), h.now())
            .await
            .unwrap()
            .into_inner();
        h.store
            .transition_post(step(post.id, PostState::Scheduled, waiting, h.now()))
            .await
            .unwrap();
        parked.push(post.id);
    }
    h.store
        .create_post(h.new_post(ws, account, 10), h.now())
        .await
        .unwrap();

    let found = h
        .store
        .account_posts_in_state(account, StateKind::WaitingForReconnect, 10)
        .await
        .unwrap();
    let ids: Vec<_> = found.iter().map(|p| p.id).collect();
    assert_eq!(
        ids,
        vec![parked[1], parked[0]],
        "only this account's waiting posts, soonest first"
    );
    assert!(found.iter().all(|p| p.state == waiting));
    assert_eq!(
        h.store
            .account_posts_in_state(account, StateKind::Scheduled, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn dedupe_keys_keep_one_queued_job(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let mut refresh = h.job(Some(account));
    refresh.kind = JobKind::RefreshToken;
    refresh.dedupe_key = Some(format!("refresh:{account}"));
    assert!(matches!(
        h.store.enqueue(refresh.clone(), h.now()).await.unwrap(),
        Enqueued::Added(_)
    ));
    assert_eq!(
        h.store.enqueue(refresh.clone(), h.now()).await.unwrap(),
        Enqueued::AlreadyQueued
    );
    let worker = WorkerId::new("w1");
    let job = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(60), 5)
        .await
        .unwrap()
        .remove(0);
    h.store.complete(job.id, &worker).await.unwrap();
    assert!(
        matches!(
            h.store.enqueue(refresh, h.now()).await.unwrap(),
            Enqueued::Added(_)
        ),
        "a finished job frees its key"
    );
}

async fn a_queued_job_can_be_hastened_but_never_delayed_or_taken_from_its_worker(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let mut status = h.job(Some(account));
    status.dedupe_key = Some("status:later".to_owned());
    status.run_at = clock::add(h.now(), Duration::from_secs(3_600));
    h.store.enqueue(status, h.now()).await.unwrap();
    assert_eq!(
        h.store.next_due_at().await.unwrap(),
        Some(clock::add(h.now(), Duration::from_secs(3_600)))
    );
    let later = clock::add(h.now(), Duration::from_secs(7_200));
    assert!(
        !h.store.hasten_job("status:later", later).await.unwrap(),
        "never later"
    );
    assert!(!h.store.hasten_job("status:unknown", h.now()).await.unwrap());
    assert!(h.store.hasten_job("status:later", h.now()).await.unwrap());
    assert_eq!(h.store.next_due_at().await.unwrap(), Some(h.now()));
    let worker = WorkerId::new("w1");
    let claimed = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(60), 5)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    h.store
        .retry_at(
            claimed[0].id,
            &worker,
            clock::add(h.now(), Duration::from_secs(600)),
            "back-off",
            Requeue::AfterFailure,
        )
        .await
        .unwrap();
    let again = h
        .store
        .claim(
            &worker,
            clock::add(h.now(), Duration::from_secs(600)),
            Duration::from_secs(60),
            5,
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(
        !h.store.hasten_job("status:later", h.now()).await.unwrap(),
        "a running job is its worker's"
    );
}

async fn creator_info_snapshots_are_kept_and_the_latest_is_returned(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    assert_eq!(h.store.latest_creator_info(account).await.unwrap(), None);
    h.store
        .save_creator_info(
            account,
            &serde_json::json!({"privacy_level_options": ["SELF_ONLY"]}),
            h.now(),
        )
        .await
        .unwrap();
    h.advance(Duration::from_secs(60));
    h.store
        .save_creator_info(
            account,
            &serde_json::json!({"privacy_level_options": ["PUBLIC_TO_EVERYONE", "SELF_ONLY"]}),
            h.now(),
        )
        .await
        .unwrap();
    let latest = h.store.latest_creator_info(account).await.unwrap().unwrap();
    assert_eq!(latest.fetched_at, h.now());
    assert_eq!(
        latest.info["privacy_level_options"][0],
        "PUBLIC_TO_EVERYONE"
    );
}

async fn an_account_notice_is_recorded_once_per_key(h: Harness) {
    let ws = h.workspace().await;
    let first = h.account(ws, "creator-1").await;
    let second = h.account(ws, "creator-2").await;
    let key = "refresh_token_expires_in:30d:1798761600000";
    assert!(
        h.store
            .record_account_notices(first, &[String::from(key)], h.now(), None)
            .await
            .unwrap()[0]
    );
    h.advance(Duration::from_secs(60));
    assert!(
        !h.store
            .record_account_notices(first, &[String::from(key)], h.now(), None)
            .await
            .unwrap()[0],
        "a notice is recorded once"
    );
    assert!(
        h.store
            .record_account_notices(
                first,
                &[String::from("refresh_token_expires_in:7d:1798761600000")],
                h.now(),
                None
            )
            .await
            .unwrap()[0],
        "another key is another notice"
    );
    assert!(
        h.store
            .record_account_notices(second, &[String::from(key)], h.now(), None)
            .await
            .unwrap()[0],
        "notices are per account"
    );
}

async fn a_learned_post_cap_replaces_the_last_and_ages_out(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator-1").await;
    let other = h.account(ws, "creator-2").await;
    let learned_at = h.now();
    assert_eq!(
        h.store.learned_post_cap(account, learned_at).await.unwrap(),
        None
    );
    h.store
        .learn_post_cap(account, 9, learned_at)
        .await
        .unwrap();
    h.advance(Duration::from_secs(3_600));
    h.store.learn_post_cap(account, 7, h.now()).await.unwrap();
    assert_eq!(
        h.store.learned_post_cap(account, learned_at).await.unwrap(),
        Some(7),
        "the latest lesson replaces the earlier one"
    );
    assert_eq!(
        h.store.learned_post_cap(other, learned_at).await.unwrap(),
        None
    );
    h.advance(Duration::from_secs(86_401));
    let a_day_ago = h.now().checked_sub(SignedDuration::from_hours(24)).unwrap();
    assert_eq!(
        h.store.learned_post_cap(account, a_day_ago).await.unwrap(),
        None,
        "a lesson older than the window no longer applies"
    );
}

async fn quota_use_times_and_active_creators_tell_when_a_slot_frees(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let other = h.account(ws, "other").await;
    let start = h.now();
    let uses = [(account, 0), (account, 2), (other, 1), (account, 5)];
    for (who, hour) in uses {
        let at = clock::add(start, Duration::from_secs(hour * 3600));
        posts::initialized(h.store.as_ref(), ws, who, PostMode::Direct, at).await;
    }
    let hours = |times: Vec<Timestamp>| -> Vec<i64> {
        times
            .into_iter()
            .map(|at| at.duration_since(start).as_secs() / 3600)
            .collect()
    };
    let times = h
        .store
        .quota_use_times(account, QuotaKind::DirectPost, start)
        .await
        .unwrap();
    assert_eq!(
        hours(times),
        vec![0, 2, 5],
        "oldest first, this account only"
    );
    let since_hour_one = clock::add(start, Duration::from_secs(3600));
    let times = h
        .store
        .quota_use_times(account, QuotaKind::DirectPost, since_hour_one)
        .await
        .unwrap();
    assert_eq!(hours(times), vec![2, 5]);
    assert!(
        h.store
            .quota_use_times(account, QuotaKind::InboxShare, start)
            .await
            .unwrap()
            .is_empty()
    );

    let mut active = h.store.active_creators_since(start).await.unwrap();
    active.sort_by_key(|(id, _)| *id == other);
    let latest: Vec<(AccountId, i64)> = active
        .into_iter()
        .map(|(id, at)| (id, at.duration_since(start).as_secs() / 3600))
        .collect();
    assert_eq!(
        latest,
        vec![(account, 5), (other, 1)],
        "each creator with its latest use"
    );
    let after_other_left = clock::add(start, Duration::from_secs(2 * 3600));
    let active = h
        .store
        .active_creators_since(after_other_left)
        .await
        .unwrap();
    assert_eq!(active.len(), 1);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this process at TRACE level (sqlx logs each statement at DEBUG).
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOG: std::sync::OnceLock<SharedLog> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = SharedLog::default();
        let writer = log.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        log
    })
    .0
    .clone()
}

/// Every byte the story's database keeps on disk: SQLite's file and its WAL, or PostgreSQL's
/// heap files and WAL after a checkpoint.
async fn database_files(h: &Harness) -> Vec<u8> {
    if let Some(file) = &h.sqlite_file {
        let mut bytes = std::fs::read(file).unwrap();
        bytes.extend(std::fs::read(file.with_extension("db-wal")).unwrap_or_default());
        bytes
    } else {
        postgres_files_of_this_database(h).await
    }
}

/// The heap files and WAL of the story's PostgreSQL database, after a checkpoint wrote them.
async fn postgres_files_of_this_database(h: &Harness) -> Vec<u8> {
    use sqlx::Connection as _;
    let url = h.postgres_url.as_ref().unwrap();
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("CHECKPOINT").execute(&mut conn).await.unwrap();
    let oid: sqlx::postgres::types::Oid =
        sqlx::query_scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let Some(data) = h.server.as_ref().and_then(PostgresServer::data_dir) else {
        // An external server (TOKPOST_TEST_DATABASE_URL): read the raw column bytes instead.
        let raw: Vec<(Vec<u8>, Vec<u8>, String)> =
            sqlx::query_as("SELECT access_token, refresh_token, display_name FROM accounts")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        /// A post's plaintext upload URL (left from before 0013), sealed one and publish id.
        type PostColumns = (Option<String>, Option<Vec<u8>>, Option<String>);
        let posts: Vec<PostColumns> =
            sqlx::query_as("SELECT upload_url, upload_url_sealed, publish_id FROM posts")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        return raw
            .into_iter()
            .flat_map(|(a, r, name)| [a, r, name.into_bytes()].concat())
            .chain(posts.into_iter().flat_map(|(plain, sealed, publish_id)| {
                [
                    plain.unwrap_or_default().into_bytes(),
                    sealed.unwrap_or_default(),
                    publish_id.unwrap_or_default().into_bytes(),
                ]
                .concat()
            }))
            .collect();
    };
    let mut bytes = Vec::new();
    for dir in [
        data.join("base").join(oid.0.to_string()),
        data.join("pg_wal"),
    ] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                bytes.extend(std::fs::read(path).unwrap());
            }
        }
    }
    bytes
}

// --- API access ---

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    hex_lower(&sha2::Sha256::digest(text.as_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn api_keys_are_found_by_hash_listed_per_workspace_and_revoked_once(h: Harness) {
    let ours = h.workspace().await;
    let theirs = h.workspace().await;
    let key = h
        .store
        .create_api_key(
            tokpost_store::NewApiKey {
                workspace_id: ours,
                name: "ci".into(),
                prefix: "tp_abcd".into(),
                secret_hash: sha256_hex("tp_abcd_secret"),
                role: tokpost_core::Role::Owner,
            },
            h.now(),
        )
        .await
        .unwrap();
    h.store
        .create_api_key(
            tokpost_store::NewApiKey {
                workspace_id: theirs,
                name: "other".into(),
                prefix: "tp_efgh".into(),
                secret_hash: sha256_hex("tp_efgh_secret"),
                role: tokpost_core::Role::Editor,
            },
            h.now(),
        )
        .await
        .unwrap();

    let found = h
        .store
        .api_key_by_hash(&sha256_hex("tp_abcd_secret"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, key);
    assert!(found.is_active());
    assert!(
        h.store
            .api_key_by_hash(&sha256_hex("tp_abcd_wrong"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        h.store.api_keys(Some(ours)).await.unwrap(),
        vec![key.clone()]
    );
    assert_eq!(h.store.api_keys(None).await.unwrap().len(), 2);

    let later = h.advance(Duration::from_secs(60));
    assert!(h.store.revoke_api_key(key.id, later).await.unwrap());
    assert!(
        !h.store.revoke_api_key(key.id, later).await.unwrap(),
        "revoked once"
    );
    let revoked = h
        .store
        .api_key_by_hash(&sha256_hex("tp_abcd_secret"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(later));
    assert!(!revoked.is_active());
    assert_eq!(h.store.workspaces().await.unwrap().len(), 2);
    h.store.ping().await.unwrap();
}

async fn an_oauth_state_is_taken_once_within_its_lifetime(h: Harness) {
    let ws = h.workspace().await;
    let verifier = "v".repeat(64);
    for (state, pkce) in [("state-a", Some(verifier.as_str())), ("state-b", None)] {
        h.store
            .save_oauth_state(
                tokpost_store::NewOAuthState {
                    state_hash: sha256_hex(state),
                    workspace_id: ws,
                    pkce_verifier: pkce.map(SecretString::from),
                    expires_at: clock::add(h.now(), Duration::from_secs(600)),
                    started_by: tokpost_core::Principal::ApiKey(tokpost_core::ApiKeyId::from_uuid(
                        uuid::Uuid::from_u128(7),
                    )),
                },
                h.now(),
            )
            .await
            .unwrap();
    }
    match h
        .store
        .take_oauth_state(&sha256_hex("state-a"), h.now())
        .await
        .unwrap()
    {
        tokpost_store::OAuthStateTake::Taken {
            workspace_id,
            pkce_verifier,
            started_by,
        } => {
            assert_eq!(workspace_id, ws);
            assert_eq!(
                started_by,
                tokpost_core::Principal::ApiKey(tokpost_core::ApiKeyId::from_uuid(
                    uuid::Uuid::from_u128(7)
                )),
                "the connect is attributed to whoever asked for the URL"
            );
            assert_eq!(pkce_verifier.unwrap().expose_secret(), verifier);
        }
        other => panic!("first take: {other:?}"),
    }
    assert!(matches!(
        h.store
            .take_oauth_state(&sha256_hex("state-a"), h.now())
            .await
            .unwrap(),
        tokpost_store::OAuthStateTake::AlreadyUsed
    ));
    assert!(matches!(
        h.store
            .take_oauth_state(&sha256_hex("never-issued"), h.now())
            .await
            .unwrap(),
        tokpost_store::OAuthStateTake::Unknown
    ));
    h.advance(Duration::from_secs(601));
    assert!(matches!(
        h.store
            .take_oauth_state(&sha256_hex("state-b"), h.now())
            .await
            .unwrap(),
        tokpost_store::OAuthStateTake::Expired
    ));
    assert!(matches!(
        h.store
            .take_oauth_state(&sha256_hex("state-b"), h.now())
            .await
            .unwrap(),
        tokpost_store::OAuthStateTake::AlreadyUsed
    ));
}

async fn posts_are_listed_by_state_account_and_time_page_by_page(h: Harness) {
    let ws = h.workspace().await;
    let other_ws = h.workspace().await;
    let ada = h.account(ws, "ada").await;
    let bo = h.account(ws, "bo").await;
    let stranger = h.account(other_ws, "ada").await;
    let mut ids = Vec::new();
    for (account, in_secs) in [(ada, 100), (bo, 200), (ada, 300), (ada, 300), (bo, 400)] {
        let post = h
            .store
            .create_post(h.new_post(ws, account, in_secs), h.now())
            .await
            .unwrap()
            .into_inner();
        ids.push(post.id);
    }
    h.store
        .create_post(h.new_post(other_ws, stranger, 100), h.now())
        .await
        .unwrap();
    h.store
        .transition_post(step(
            ids[4],
            PostState::Scheduled,
            PostState::Cancelled,
            h.now(),
        ))
        .await
        .unwrap();
    let base = tokpost_store::PostFilter {
        workspace_id: ws,
        state: None,
        account_id: None,
        scheduled_from: None,
        scheduled_before: None,
        after: None,
        limit: 100,
    };
    let list = |filter: tokpost_store::PostFilter| {
        let store = Arc::clone(&h.store);
        async move {
            store
                .list_posts(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(base.clone()).await.len(),
        5,
        "only this workspace's posts"
    );
    assert_eq!(
        list(tokpost_store::PostFilter {
            account_id: Some(ada),
            ..base.clone()
        })
        .await
        .len(),
        3
    );
    assert_eq!(
        list(tokpost_store::PostFilter {
            state: Some(StateKind::Cancelled),
            ..base.clone()
        })
        .await,
        vec![ids[4]]
    );
    assert_eq!(
        list(tokpost_store::PostFilter {
            scheduled_from: Some(clock::add(h.now(), Duration::from_secs(200))),
            scheduled_before: Some(clock::add(h.now(), Duration::from_secs(400))),
            ..base.clone()
        })
        .await
        .len(),
        3
    );
    // Pages of two, continuing after the last post of each page, visit every post once even
    // where two posts share a schedule time.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = h
            .store
            .list_posts(&tokpost_store::PostFilter {
                after,
                limit: 2,
                ..base.clone()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.scheduled_at.at(), last.id));
        seen.extend(page.iter().map(|p| p.id));
    }
    let mut expected = ids.clone();
    expected.sort_by_key(|id| {
        let index = ids.iter().position(|i| i == id).unwrap();
        ([100, 200, 300, 300, 400][index], *id)
    });
    assert_eq!(seen, expected);
}

async fn a_post_is_found_by_its_publish_id_and_accounts_by_open_id(h: Harness) {
    let ws = h.workspace().await;
    let other_ws = h.workspace().await;
    let account = h.account(ws, "shared-creator").await;
    let elsewhere = h.account(other_ws, "shared-creator").await;
    let post = h
        .store
        .create_post(h.new_post(ws, account, 0), h.now())
        .await
        .unwrap()
        .into_inner();
    let publish_id = PublishId::new("v_pub_file~v2-1.42").unwrap();
    assert!(
        h.store
            .post_by_publish_id(&publish_id)
            .await
            .unwrap()
            .is_none()
    );
    h.prepare(post.id).await;
    let mut init = step(
        post.id,
        PostState::CreatorChecked,
        PostState::Initialized,
        h.now(),
    );
    init.progress = Some(PublishProgress {
        publish_id: Some(publish_id.clone()),
        ..PublishProgress::default()
    });
    h.store.transition_post(init).await.unwrap();
    assert_eq!(
        h.store
            .post_by_publish_id(&publish_id)
            .await
            .unwrap()
            .unwrap()
            .id,
        post.id
    );
    let accounts: HashSet<AccountId> = h
        .store
        .accounts_by_open_id(&OpenId::new("shared-creator").unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(accounts, HashSet::from([account, elsewhere]));
}

async fn rescheduling_moves_the_post_and_its_job_only_from_the_state_read(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let post = h
        .store
        .create_post(h.new_post(ws, account, 600), h.now())
        .await
        .unwrap()
        .into_inner();
    let later = clock::add(h.now(), Duration::from_secs(7200));
    let moved = h
        .store
        .revise_post(
            tokpost_store::Revise {
                post: post.id,
                expected: PostState::Scheduled,
                revision: post.revision,
                spec: None,
                scheduled_at: ScheduleTime::new(later, h.now()).unwrap(),
                event: NewPostEvent::new(h.now(), EventKind::UserAction, "rescheduled"),
                prepared_frozen_from: clock::add(h.now(), FROZEN_FOR),
            },
            h.now(),
        )
        .await
        .unwrap();
    assert!(moved.is_some());
    let stored = h.store.post(post.id).await.unwrap().unwrap();
    assert_eq!(stored.scheduled_at.at(), later);
    assert_eq!(
        h.store.next_due_at().await.unwrap(),
        Some(later),
        "the job moved too"
    );
    let events = h.store.post_events(post.id).await.unwrap();
    assert_eq!(events.last().unwrap().kind, EventKind::UserAction);

    h.store
        .transition_post(step(
            post.id,
            PostState::Scheduled,
            PostState::Cancelled,
            h.now(),
        ))
        .await
        .unwrap();
    let refused = h
        .store
        .revise_post(
            tokpost_store::Revise {
                post: post.id,
                expected: PostState::Scheduled,
                revision: post.revision.next(),
                spec: None,
                scheduled_at: ScheduleTime::new(h.now(), h.now()).unwrap(),
                event: NewPostEvent::new(h.now(), EventKind::UserAction, "rescheduled"),
                prepared_frozen_from: clock::add(h.now(), FROZEN_FOR),
            },
            h.now(),
        )
        .await
        .unwrap();
    assert!(refused.is_none(), "a cancelled post keeps its time");
    assert_eq!(
        h.store
            .post(post.id)
            .await
            .unwrap()
            .unwrap()
            .scheduled_at
            .at(),
        later
    );
}

/// A move in time of `post`, at the revision it has now.
async fn reschedule(
    h: &Harness,
    post: tokpost_core::PostId,
    expected: PostState,
    to: Timestamp,
) -> tokpost_store::Revise {
    let now = h.now();
    tokpost_store::Revise {
        post,
        expected,
        revision: h.store.post(post).await.unwrap().unwrap().revision,
        spec: None,
        scheduled_at: ScheduleTime::new(to, now).unwrap(),
        event: NewPostEvent::new(now, EventKind::UserAction, "rescheduled"),
        prepared_frozen_from: clock::add(now, FROZEN_FOR),
    }
}

/// How long before its time a prepared post is frozen, as the pipeline's policy says (10 s).
const FROZEN_FOR: Duration = Duration::from_secs(10);

async fn posts_due_within_the_horizon_are_brought_forward_once_to_be_prepared(h: Harness) {
    let ws = h.workspace().await;
    let soon = h.account(ws, "soon").await;
    let later = h.account(ws, "later").await;
    let waiting = h.account(ws, "waiting").await;
    let soon_post = h
        .store
        .create_post(h.new_post(ws, soon, 120), h.now())
        .await
        .unwrap()
        .into_inner();
    let later_post = h
        .store
        .create_post(h.new_post(ws, later, 3_600), h.now())
        .await
        .unwrap()
        .into_inner();
    let waiting_post = h
        .store
        .create_post(h.new_post(ws, waiting, 60), h.now())
        .await
        .unwrap()
        .into_inner();
    // This one ran and waits out a back-off, still `scheduled`: its wait is kept.
    let worker = WorkerId::new("w1");
    h.advance(Duration::from_secs(60));
    let claimed = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].post_id, Some(waiting_post.id));
    let backoff = clock::add(h.now(), Duration::from_secs(240));
    h.store
        .retry_at(
            claimed[0].id,
            &worker,
            backoff,
            "store busy",
            Requeue::AfterFailure,
        )
        .await
        .unwrap();

    let horizon = clock::add(h.now(), Duration::from_secs(300));
    assert_eq!(h.store.prepare_due_by(horizon, h.now()).await.unwrap(), 1);
    let due_now = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(
        due_now.iter().map(|job| job.post_id).collect::<Vec<_>>(),
        vec![Some(soon_post.id)],
        "only the untouched job of the post due within the horizon is claimable now"
    );
    assert_eq!(
        h.store.prepare_due_by(horizon, h.now()).await.unwrap(),
        0,
        "a leased job is left alone"
    );
    h.store
        .transition_post(step(
            soon_post.id,
            PostState::Scheduled,
            PostState::Preflighted,
            h.now(),
        ))
        .await
        .unwrap();
    h.store
        .retry_at(
            due_now[0].id,
            &worker,
            soon_post.scheduled_at.at(),
            "prepared",
            Requeue::Wait,
        )
        .await
        .unwrap();
    assert_eq!(
        h.store.prepare_due_by(horizon, h.now()).await.unwrap(),
        0,
        "a post prepared already is not brought forward again"
    );
    assert_eq!(
        h.store
            .prepare_due_by(clock::add(h.now(), Duration::from_secs(7_200)), h.now())
            .await
            .unwrap(),
        1,
        "a wider horizon reaches the later post"
    );
    let later_job = h
        .store
        .claim(&worker, h.now(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(later_job.len(), 1);
    assert_eq!(later_job[0].post_id, Some(later_post.id));
}

async fn a_prepared_post_returns_to_scheduled_when_moved_unless_its_time_is_near(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let post = h.prepared_post(ws, account, 60).await;
    let later = clock::add(h.now(), Duration::from_secs(7_200));
    assert!(
        h.store
            .revise_post(
                reschedule(&h, post, PostState::CreatorChecked, later).await,
                h.now()
            )
            .await
            .unwrap()
            .is_some()
    );
    let moved = h.store.post(post).await.unwrap().unwrap();
    assert_eq!(
        moved.state,
        PostState::Scheduled,
        "prepared again for the new time"
    );
    assert_eq!(moved.scheduled_at.at(), later);
    assert_eq!(
        h.store
            .post_events(post)
            .await
            .unwrap()
            .last()
            .unwrap()
            .state,
        StateKind::Scheduled
    );

    h.prepare(post).await;
    // Five seconds before its time a worker may be sending the init.
    h.advance(Duration::from_secs(7_195));
    let refused = h
        .store
        .revise_post(
            reschedule(
                &h,
                post,
                PostState::CreatorChecked,
                clock::add(h.now(), Duration::from_secs(3_600)),
            )
            .await,
            h.now(),
        )
        .await
        .unwrap();
    assert!(refused.is_none());
    let kept = h.store.post(post).await.unwrap().unwrap();
    assert_eq!(kept.state, PostState::CreatorChecked);
    assert_eq!(kept.scheduled_at.at(), later);
}

async fn a_planned_wait_gives_back_the_attempt_and_a_failure_keeps_it(h: Harness) {
    let worker = WorkerId::new("w1");
    let Enqueued::Added(id) = h.store.enqueue(h.job(None), h.now()).await.unwrap() else {
        panic!("nothing else is queued");
    };
    for (why, attempts, failures) in [
        (Requeue::Wait, 0, 0),
        (Requeue::AfterFailure, 1, 1),
        (Requeue::Wait, 1, 1),
        (Requeue::AfterFailure, 2, 2),
    ] {
        let claimed = h
            .store
            .claim(&worker, h.now(), Duration::from_secs(30), 1)
            .await
            .unwrap();
        assert_eq!(claimed[0].id, id);
        h.store
            .retry_at(id, &worker, h.now(), "again", why)
            .await
            .unwrap();
        let job = h.store.job(id).await.unwrap().unwrap();
        assert_eq!(
            (job.attempts, job.failures),
            (attempts, failures),
            "after {why:?}"
        );
    }
}

async fn a_lost_claim_is_no_failure_and_a_move_starts_the_counts_over(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let post = h
        .store
        .create_post(h.new_post(ws, account, 0), h.now())
        .await
        .unwrap()
        .into_inner()
        .id;
    let lease = Duration::from_secs(30);
    let (first, second) = (WorkerId::new("w1"), WorkerId::new("w2"));
    let counts = |job: &tokpost_store::Job| (job.attempts, job.failures);
    // The first step fails twice.
    for _ in 0..2 {
        let job = h.store.claim(&first, h.now(), lease, 1).await.unwrap()[0].clone();
        h.store
            .retry_at(
                job.id,
                &first,
                h.now(),
                "creator_info: internal_error",
                Requeue::AfterFailure,
            )
            .await
            .unwrap();
    }
    // Then its worker stops while it holds the job: a claim is lost, nothing failed.
    let lost = h.store.claim(&first, h.now(), lease, 1).await.unwrap()[0].clone();
    assert_eq!(counts(&lost), (3, 2));
    h.advance(lease + Duration::from_secs(1));
    h.store.sweep_expired_leases(h.now()).await.unwrap();
    let job = h.store.claim(&second, h.now(), lease, 1).await.unwrap()[0].clone();
    assert_eq!((job.id, counts(&job)), (lost.id, (4, 2)));
    // The stopped worker's move is refused and starts nothing over.
    let stale = Transition {
        lease: Some((job.id, first)),
        ..step(post, PostState::Scheduled, PostState::Preflighted, h.now())
    };
    assert_eq!(
        h.store.transition_post(stale).await.unwrap(),
        TransitionOutcome::LeaseLost
    );
    assert_eq!(counts(&h.store.job(job.id).await.unwrap().unwrap()), (4, 2));
    // The move on is the first attempt of the next step, which has failed none yet.
    let moved = Transition {
        lease: Some((job.id, second.clone())),
        ..step(post, PostState::Scheduled, PostState::Preflighted, h.now())
    };
    assert!(matches!(
        h.store.transition_post(moved).await.unwrap(),
        TransitionOutcome::Applied(_)
    ));
    assert_eq!(counts(&h.store.job(job.id).await.unwrap().unwrap()), (1, 0));
    h.store
        .retry_at(
            job.id,
            &second,
            h.now(),
            "creator_info: internal_error",
            Requeue::AfterFailure,
        )
        .await
        .unwrap();
    let again = h.store.claim(&second, h.now(), lease, 1).await.unwrap();
    assert_eq!((again[0].id, counts(&again[0])), (job.id, (2, 1)));
}

async fn an_inbound_webhook_event_is_handled_once_and_posts_are_counted_by_state(h: Harness) {
    assert!(
        h.store
            .record_inbound_webhook("evt-1", h.now())
            .await
            .unwrap()
    );
    assert!(
        !h.store
            .record_inbound_webhook("evt-1", h.now())
            .await
            .unwrap()
    );
    assert!(
        h.store
            .record_inbound_webhook("evt-2", h.now())
            .await
            .unwrap()
    );

    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    for _ in 0..2 {
        h.store
            .create_post(h.new_post(ws, account, 60), h.now())
            .await
            .unwrap();
    }
    let (counts, queued) = h.store.post_state_counts().await.unwrap();
    assert_eq!(counts, vec![(StateKind::Scheduled, 2)]);
    assert_eq!(queued, 2, "one publish job per post");
}

/// The init endpoint's slot for `account`, as the publisher takes it.
fn init_slot(account: AccountId, limit: u32) -> RateLimitSlot<'static> {
    RateLimitSlot {
        account_id: account,
        endpoint: "init",
        window: Duration::from_secs(61),
        limit,
    }
}

fn init_start(
    job: tokpost_core::JobId,
    post: tokpost_core::PostId,
    account: AccountId,
    expected: PostState,
    limit: u32,
    active_cap: Option<u64>,
    now: Timestamp,
) -> InitStart<'static> {
    InitStart {
        job,
        post,
        expected,
        event: NewPostEvent::new(now, EventKind::InitRequested, "init sent"),
        rate_limit: init_slot(account, limit),
        active_creators: active_cap.map(|cap| ActiveCreatorRule {
            since: now - SignedDuration::from_hours(24),
            cap,
        }),
    }
}

async fn an_init_wave_claims_the_prepared_posts_whose_time_has_come(h: Harness) {
    let ws = h.workspace().await;
    let mut posts = Vec::new();
    for (name, in_secs, prepared) in [
        ("due", 60, true),
        ("due-too", 60, true),
        ("unprepared", 60, false),
        ("later", 120, true),
    ] {
        let account = h.account(ws, name).await;
        let post = h
            .store
            .create_post(h.new_post(ws, account, in_secs), h.now())
            .await
            .unwrap()
            .into_inner();
        if prepared {
            h.prepare(post.id).await;
        }
        posts.push(post);
    }
    let [due, due_too, unprepared, later] = [0, 1, 2, 3].map(|at| posts[at].id);
    let wave = WorkerId::new("wave");
    assert_eq!(
        h.store
            .claim_due_inits(
                &WorkerId::new("armed"),
                clock::add(h.now(), Duration::from_secs(59)),
                h.now(),
                Duration::from_secs(1),
                100
            )
            .await
            .unwrap()
            .len(),
        0,
        "nothing comes due within 59 s"
    );
    assert!(
        h.store
            .claim_due_inits(&wave, h.now(), h.now(), Duration::from_secs(60), 100)
            .await
            .unwrap()
            .is_empty(),
        "no post's time has come"
    );
    assert_eq!(
        h.store.next_init_due_at().await.unwrap(),
        Some(posts[0].scheduled_at.at()),
        "the wave sleeps until the first prepared post's time"
    );

    h.advance(Duration::from_secs(60));
    let claimed = h
        .store
        .claim_due_inits(&wave, h.now(), h.now(), Duration::from_secs(60), 100)
        .await
        .unwrap();
    let claimed_posts: BTreeSet<_> = claimed.iter().filter_map(|job| job.post_id).collect();
    assert_eq!(
        claimed_posts,
        BTreeSet::from([due, due_too]),
        "only prepared posts whose time has come; not {unprepared} (still scheduled) nor {later}"
    );
    assert!(
        claimed
            .iter()
            .all(|job| job.attempts == 1 && job.locked_by.as_ref() == Some(&wave))
    );
    assert!(
        h.store
            .claim(
                &WorkerId::new("other"),
                h.now(),
                Duration::from_secs(60),
                100
            )
            .await
            .unwrap()
            .iter()
            .all(|job| job.post_id == Some(unprepared)),
        "the wave's jobs and accounts are leased: a worker gets only the unprepared post"
    );
    assert_eq!(
        h.store.next_init_due_at().await.unwrap(),
        Some(posts[3].scheduled_at.at()),
        "leased posts no longer wake the wave"
    );
    let kept_until = clock::add(h.now(), Duration::from_secs(600));
    let first_only = clock::add(h.now(), Duration::from_secs(300));
    assert_eq!(
        h.store
            .extend_leases(&wave, &[claimed[0].id], first_only)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        h.store
            .job(claimed[1].id)
            .await
            .unwrap()
            .unwrap()
            .locked_until,
        claimed[1].locked_until,
        "a job the wave does not name keeps its lease as it was"
    );
    assert_eq!(
        h.store
            .extend_leases(&WorkerId::new("other"), &[claimed[0].id], kept_until)
            .await
            .unwrap(),
        0,
        "only the holder extends a lease"
    );
    let ids: Vec<_> = claimed.iter().map(|job| job.id).collect();
    assert_eq!(
        h.store
            .extend_leases(&wave, &ids, kept_until)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        h.store
            .sweep_expired_leases(clock::add(h.now(), Duration::from_secs(120)))
            .await
            .unwrap(),
        1,
        "the wave's extended leases hold; only the other worker's job is swept"
    );
    for job in &claimed {
        assert_eq!(
            h.store.job(job.id).await.unwrap().unwrap().locked_until,
            Some(kept_until)
        );
    }

    let statuses = h
        .store
        .retry_jobs_at(
            &wave,
            &claimed
                .iter()
                .map(|job| JobRetry {
                    job: job.id,
                    at: clock::add(h.now(), Duration::from_secs(10)),
                    note: "rate limited".to_owned(),
                })
                .collect::<Vec<_>>(),
            Requeue::Wait,
        )
        .await
        .unwrap();
    assert_eq!(statuses, vec![LeaseStatus::Held; 2]);
    for job in &claimed {
        let job = h.store.job(job.id).await.unwrap().unwrap();
        assert_eq!(job.attempts, 0, "a planned wait gives the attempt back");
        assert_eq!(job.locked_by, None);
        assert_eq!(job.last_error.as_deref(), Some("rate limited"));
    }
    assert_eq!(
        h.store
            .retry_jobs_at(
                &WorkerId::new("other"),
                &[JobRetry {
                    job: claimed[0].id,
                    at: h.now(),
                    note: "not mine".to_owned(),
                }],
                Requeue::AfterFailure,
            )
            .await
            .unwrap(),
        vec![LeaseStatus::Lost]
    );
    assert!(
        h.store
            .claim_due_inits(&wave, h.now(), h.now(), Duration::from_secs(60), 100)
            .await
            .unwrap()
            .is_empty(),
        "the jobs wait 10 s"
    );
    h.advance(Duration::from_secs(10));
    assert_eq!(
        h.store
            .claim_due_inits(&wave, h.now(), h.now(), Duration::from_secs(60), 1)
            .await
            .unwrap()
            .len(),
        1,
        "the limit holds"
    );
}

async fn an_init_wave_starts_only_prepared_posts_within_their_caps_and_limits(h: Harness) {
    let ws = h.workspace().await;
    let mut ids = Vec::new();
    for name in ["first", "second", "lost"] {
        let account = h.account(ws, name).await;
        let post = h.prepared_post(ws, account, 60).await;
        ids.push((post, account));
    }
    let [
        (first, first_account),
        (second, second_account),
        (lost, lost_account),
    ] = [ids[0], ids[1], ids[2]];
    // An earlier init of this post whose answer never came: the one-post path decides.
    h.store
        .append_post_event(
            lost,
            NewPostEvent::new(h.now(), EventKind::InitRequested, "init sent"),
        )
        .await
        .unwrap();
    h.advance(Duration::from_secs(60));
    let now = h.now();
    let wave = WorkerId::new("wave");
    let claimed = h
        .store
        .claim_due_inits(&wave, now, now, Duration::from_secs(60), 10)
        .await
        .unwrap();
    let job_of = |post| {
        claimed
            .iter()
            .find(|job| job.post_id == Some(post))
            .unwrap()
            .id
    };
    let [first_job, second_job, lost_job] = [job_of(first), job_of(second), job_of(lost)];
    assert_eq!(
        start_inits(
            h.store.as_ref(),
            &WorkerId::new("other"),
            vec![init_start(
                first_job,
                first,
                first_account,
                PostState::CreatorChecked,
                6,
                Some(2),
                now
            )],
            now,
        )
        .await
        .unwrap(),
        vec![InitStartOutcome::LeaseLost],
        "only the worker holding the job starts its init"
    );

    let outcomes = start_inits(
        h.store.as_ref(),
        &wave,
        vec![
            init_start(
                first_job,
                first,
                first_account,
                PostState::CreatorChecked,
                6,
                Some(2),
                now,
            ),
            init_start(
                lost_job,
                lost,
                lost_account,
                PostState::CreatorChecked,
                6,
                Some(2),
                now,
            ),
            init_start(
                second_job,
                second,
                second_account,
                PostState::Preflighted,
                6,
                Some(2),
                now,
            ),
        ],
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes,
        vec![
            InitStartOutcome::Started,
            InitStartOutcome::NotPrepared,
            InitStartOutcome::NotPrepared,
        ]
    );
    let events = h.store.post_events(first).await.unwrap();
    assert_eq!(events.last().unwrap().kind, EventKind::InitRequested);
    assert_eq!(events.last().unwrap().at, now);
    assert_eq!(
        h.store.post_events(second).await.unwrap().len(),
        3,
        "nothing written for a post not in the state read"
    );
    assert_eq!(
        h.store
            .active_creators_since(now - SignedDuration::from_hours(24))
            .await
            .unwrap(),
        vec![(first_account, now)],
        "only the started post's creator is counted"
    );

    assert_eq!(
        start_inits(
            h.store.as_ref(),
            &wave,
            vec![init_start(
                second_job,
                second,
                second_account,
                PostState::CreatorChecked,
                6,
                Some(1),
                now
            )],
            now,
        )
        .await
        .unwrap(),
        vec![InitStartOutcome::ActiveCreatorsFull {
            latest_uses: vec![now]
        }],
        "a new creator does not fit a full cap"
    );
    assert_eq!(
        h.store
            .take_rate_limit_slot(init_slot(second_account, 1), now)
            .await
            .unwrap(),
        RateLimitDecision::Allowed { used: 1 }
    );
    assert_eq!(
        start_inits(
            h.store.as_ref(),
            &wave,
            vec![init_start(
                second_job,
                second,
                second_account,
                PostState::CreatorChecked,
                1,
                Some(2),
                now
            )],
            now,
        )
        .await
        .unwrap(),
        vec![InitStartOutcome::RateLimited {
            retry_at: clock::add(now, Duration::from_secs(61))
        }],
        "the init's rate limit is the one the one-post path shares"
    );
    assert_eq!(
        h.store
            .active_creators_since(now - SignedDuration::from_hours(24))
            .await
            .unwrap(),
        vec![(first_account, now)],
        "an init the rate limit holds back takes no active-creator slot"
    );
    assert_eq!(
        h.store.post_events(second).await.unwrap().len(),
        3,
        "a refused start writes no event"
    );
    assert_eq!(
        start_inits(
            h.store.as_ref(),
            &wave,
            vec![init_start(
                second_job,
                second,
                second_account,
                PostState::CreatorChecked,
                6,
                None,
                now
            )],
            now,
        )
        .await
        .unwrap(),
        vec![InitStartOutcome::Started]
    );
    assert_eq!(
        start_inits(
            h.store.as_ref(),
            &wave,
            vec![init_start(
                second_job,
                second,
                second_account,
                PostState::CreatorChecked,
                6,
                None,
                now
            )],
            now,
        )
        .await
        .unwrap(),
        vec![InitStartOutcome::NotPrepared],
        "a started init is not started again before its answer is recorded"
    );
    assert_eq!(
        h.store
            .take_rate_limit_slot(init_slot(second_account, 6), now)
            .await
            .unwrap(),
        RateLimitDecision::Allowed { used: 3 },
        "the wave's start took a slot"
    );
}

async fn a_wave_of_transitions_applies_each_on_its_own_terms(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator").await;
    let other = h.account(ws, "other").await;
    let moving = h
        .store
        .create_post(h.new_post(ws, account, 60), h.now())
        .await
        .unwrap()
        .into_inner();
    let moved_already = h
        .store
        .create_post(h.new_post(ws, other, 60), h.now())
        .await
        .unwrap()
        .into_inner();
    h.prepare(moving.id).await;
    h.prepare(moved_already.id).await;
    let publish_id = PublishId::new("v_pub_file~v2.123").unwrap();
    let mut initialized = step(
        moving.id,
        PostState::CreatorChecked,
        PostState::Initialized,
        h.now(),
    );
    initialized.progress = Some(PublishProgress {
        publish_id: Some(publish_id.clone()),
        ..PublishProgress::default()
    });
    initialized.quota_use = Some(QuotaKind::DirectPost);
    let outcomes = h
        .store
        .transition_posts(vec![
            initialized,
            step(
                moved_already.id,
                PostState::Preflighted,
                PostState::CreatorChecked,
                h.now(),
            ),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], TransitionOutcome::Applied(post) if post.state == PostState::Initialized
            && post.progress.publish_id.as_ref() == Some(&publish_id))
    );
    assert_eq!(
        outcomes[1],
        TransitionOutcome::Stale {
            current: PostState::CreatorChecked
        }
    );
    assert_eq!(
        h.store
            .quota_used(
                account,
                QuotaKind::DirectPost,
                h.now() - SignedDuration::from_hours(1)
            )
            .await
            .unwrap(),
        1,
        "the quota use is recorded with the move"
    );
    assert_eq!(
        h.store.post_events(moved_already.id).await.unwrap().len(),
        3,
        "the stale move wrote nothing"
    );
    let mut completing = step(
        moved_already.id,
        PostState::CreatorChecked,
        PostState::Initialized,
        h.now(),
    );
    completing.completes = Some((tokpost_core::JobId::generate(h.now()), WorkerId::new("w")));
    assert!(matches!(
        h.store.transition_posts(vec![completing]).await,
        Err(StoreError::Misuse(_))
    ));
    assert!(matches!(
        h.store
            .transition_posts(vec![step(
                moved_already.id,
                PostState::CreatorChecked,
                PostState::Published,
                h.now(),
            )])
            .await,
        Err(StoreError::IllegalTransition(_))
    ));
}

/// Every pooled PostgreSQL session runs without JIT (compiling a claim's plan cost 100 ms of the
/// server's CPU, far more than running it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_run_without_jit() {
    let server = PostgresServer::start()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for this test: {e}"));
    let url = server.fresh_database().await.unwrap();
    let store = tokpost_store::SqlStore::open(&url, cipher()).await.unwrap();
    // Several sessions at once, so that more than the pool's first connection is asked.
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(store.postgres_pool().unwrap().acquire().await.unwrap());
    }
    for session in &mut sessions {
        let jit: String = sqlx::query_scalar("SHOW jit")
            .fetch_one(&mut **session)
            .await
            .unwrap();
        assert_eq!(jit, "off");
    }
}

async fn init_starts_written_ahead_are_seen_only_once_committed(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "ahead").await;
    let post = h.prepared_post(ws, account, 60).await;
    h.advance(Duration::from_secs(59));
    let wave = WorkerId::new("wave");
    let second = clock::add(h.now(), Duration::from_secs(1));
    let claimed = h
        .store
        .claim_due_inits(&wave, second, h.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let start = || {
        init_start(
            claimed[0].id,
            post,
            account,
            PostState::CreatorChecked,
            6,
            Some(2),
            second,
        )
    };
    let events_before = h.store.post_events(post).await.unwrap();
    let active_since = second - SignedDuration::from_hours(24);
    let nothing_seen = async |why: &str| {
        assert_eq!(
            h.store.post_events(post).await.unwrap(),
            events_before,
            "{why}"
        );
        assert!(
            h.store
                .active_creators_since(active_since)
                .await
                .unwrap()
                .is_empty(),
            "{why}"
        );
    };

    let dropped = h
        .store
        .prepare_inits(&wave, vec![start()], second)
        .await
        .unwrap();
    drop(dropped);
    nothing_seen("starts dropped uncommitted never happened").await;

    let prepared = h
        .store
        .prepare_inits(&wave, vec![start()], second)
        .await
        .unwrap();
    nothing_seen("nobody sees the starts before their commit").await;
    h.advance(Duration::from_secs(1));
    assert_eq!(
        prepared.commit().await.unwrap(),
        vec![InitStartOutcome::Started]
    );
    let events = h.store.post_events(post).await.unwrap();
    assert_eq!(events.len(), events_before.len() + 1);
    let recorded = events.last().unwrap();
    assert_eq!(
        (recorded.kind, recorded.at),
        (EventKind::InitRequested, second),
        "the start is stamped with the second it was committed at"
    );
    assert_eq!(
        h.store.active_creators_since(active_since).await.unwrap(),
        vec![(account, second)]
    );
    assert_eq!(
        h.store
            .take_rate_limit_slot(init_slot(account, 6), second)
            .await
            .unwrap(),
        RateLimitDecision::Allowed { used: 2 },
        "the committed start took its rate-limit slot"
    );
    assert_eq!(
        start_inits(h.store.as_ref(), &wave, vec![start()], second)
            .await
            .unwrap(),
        vec![InitStartOutcome::NotPrepared],
        "a committed start is not started again"
    );
}

async fn concurrent_requests_never_overfill_a_rate_limit_window(h: Harness) {
    let ws = h.workspace().await;
    let busy = h.account(ws, "busy").await;
    let quiet = h.account(ws, "quiet").await;
    // Twelve racing requests for a limit of five: five go, whichever they are; the other
    // account's window is its own.
    let mut tasks = Vec::new();
    for n in 0..12 {
        let (store, now) = (h.store.clone(), h.now());
        let account = if n % 4 == 3 { quiet } else { busy };
        tasks.push(tokio::spawn(async move {
            let decision = store
                .take_rate_limit_slot(init_slot(account, 5), now)
                .await
                .unwrap();
            (account, decision)
        }));
    }
    let mut allowed = std::collections::HashMap::new();
    for task in tasks {
        let (account, decision) = task.await.unwrap();
        if matches!(decision, RateLimitDecision::Allowed { .. }) {
            *allowed.entry(account).or_insert(0) += 1;
        }
    }
    assert_eq!(allowed.get(&busy), Some(&5), "nine raced for five slots");
    assert_eq!(allowed.get(&quiet), Some(&3), "three raced for five slots");
}

async fn an_app_wide_window_is_shared_by_every_account_however_they_race(h: Harness) {
    let ws = h.workspace().await;
    let accounts = [h.account(ws, "one").await, h.account(ws, "two").await];
    // Twelve racing requests against the app's limit of five: five go in all.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (store, now) = (h.store.clone(), h.now());
        tasks.push(tokio::spawn(async move {
            store
                .take_rate_limit_slot(
                    RateLimitSlot::app_wide("video_query", Duration::from_secs(60), 5),
                    now,
                )
                .await
                .unwrap()
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), RateLimitDecision::Allowed { .. }) {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5, "twelve raced for the app's five slots");
    // An account's own window of the same endpoint is apart from the app's.
    assert!(matches!(
        h.store
            .take_rate_limit_slot(
                RateLimitSlot {
                    account_id: accounts[0],
                    endpoint: "video_query",
                    window: Duration::from_secs(60),
                    limit: 5,
                },
                h.now(),
            )
            .await
            .unwrap(),
        RateLimitDecision::Allowed { used: 1 }
    ));
    // The app's window frees a minute after its first request.
    h.advance(Duration::from_secs(61));
    assert!(matches!(
        h.store
            .take_rate_limit_slot(
                RateLimitSlot::app_wide("video_query", Duration::from_secs(60), 5),
                h.now(),
            )
            .await
            .unwrap(),
        RateLimitDecision::Allowed { .. }
    ));
}
