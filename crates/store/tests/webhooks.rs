//! Outbound webhook stories, each run unchanged against SQLite and a real PostgreSQL 15 (the
//! story suite's harness, trimmed to what these stories need): deliveries are written with the
//! change that causes them and only for subscribed endpoints of the same workspace; claims are
//! leased; an attempt's record moves the endpoint's failure streak and pauses it; a resume
//! sends what waited. Also the worker heartbeats that readiness reads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use clock::{Clock as _, ManualClock};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use tokpost_core::{
    AccountId, AccountStatus, Actor, DeferReason, EventKind, InteractionSettings, MediaId,
    NewPostEvent, OpenId, PostContent, PostId, PostMode, PostSpec, PostState, PrivacyLevel,
    ReconnectReason, RequiredAction, ScheduleTime, Scope, UploadSource, VideoCaption, WorkspaceId,
};
use tokpost_store::{
    AccountTokens, DeliveryResult, DeliveryStatus, EndpointCreated, NewAccount, NewPost,
    NewWebhookEndpoint, PausePolicy, SettleDelivery, SettleOutcome, Store, Transition,
    TransitionOutcome, WebhookAttempt, WebhookEndpointId, WebhookEventType, WorkerId,
};
use tokpost_testkit::stores::{Backend, TestStore};

struct Harness {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    _db: TestStore,
}

const LEASE: Duration = Duration::from_secs(60);
const PAUSE: PausePolicy = PausePolicy {
    after_consecutive_failures: 3,
    after_failing_for: Duration::from_secs(24 * 3_600),
};

impl Harness {
    async fn sqlite() -> Self {
        Self::on(Backend::Sqlite).await
    }

    async fn postgres() -> Self {
        Self::on(Backend::Postgres).await
    }

    async fn on(backend: Backend) -> Self {
        let db = TestStore::open(backend).await;
        Self {
            store: Arc::clone(&db.store),
            clock: ManualClock::at_fixed_start(),
            _db: db,
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn workspace(&self, name: &str) -> WorkspaceId {
        self.store
            .create_workspace(name, self.now())
            .await
            .unwrap()
            .id
    }

    async fn account(&self, workspace: WorkspaceId, open_id: &str) -> AccountId {
        let now = self.now();
        self.store
            .connect_account(
                NewAccount {
                    workspace_id: workspace,
                    open_id: OpenId::new(open_id).unwrap(),
                    display_name: format!("creator {open_id}"),
                    avatar_url: None,
                    scopes: Scope::parse_list("user.info.basic,video.publish").unwrap(),
                    tokens: AccountTokens {
                        access_token: SecretString::from("act.1"),
                        refresh_token: SecretString::from("rft.1"),
                        access_token_expires_at: now + SignedDuration::from_hours(24),
                        refresh_token_expires_at: now + SignedDuration::from_hours(24 * 365),
                        granted_at: now,
                    },
                },
                now,
            )
            .await
            .unwrap()
            .id
    }

    async fn endpoint(
        &self,
        workspace: WorkspaceId,
        events: &[WebhookEventType],
        secret: &str,
    ) -> WebhookEndpointId {
        let created = self
            .store
            .create_webhook_endpoint(
                NewWebhookEndpoint {
                    workspace_id: workspace,
                    format: tokpost_store::ChannelFormat::Tokpost,
                    chat_id: None,
                    url: "http://127.0.0.1:9/hook".to_owned(),
                    description: "test receiver".to_owned(),
                    events: events.iter().copied().collect::<BTreeSet<_>>(),
                    secret: SecretString::from(secret),
                    at_most: 20,
                },
                self.now(),
            )
            .await
            .unwrap();
        let EndpointCreated::Created(endpoint) = created else {
            panic!("the workspace is at its endpoint limit");
        };
        endpoint.id
    }

    async fn post(&self, workspace: WorkspaceId, account: AccountId) -> PostId {
        let now = self.now();
        self.store
            .create_post(
                NewPost {
                    workspace_id: workspace,
                    account_id: account,
                    spec: PostSpec {
                        content: PostContent::Video {
                            media: MediaId::generate(now),
                            caption: VideoCaption::new("launch").unwrap(),
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
                    },
                    scheduled_at: ScheduleTime::new(now, now).unwrap(),
                    idempotency_key: None,
                    created_by: tokpost_core::Principal::Service,
                },
                now,
            )
            .await
            .unwrap()
            .into_inner()
            .id
    }

    async fn step(&self, post: PostId, from: PostState, to: PostState) -> TransitionOutcome {
        self.step_with(
            post,
            from,
            to,
            NewPostEvent::new(self.now(), EventKind::StateChanged, "moved"),
        )
        .await
    }

    async fn step_with(
        &self,
        post: PostId,
        from: PostState,
        to: PostState,
        event: NewPostEvent,
    ) -> TransitionOutcome {
        self.store
            .transition_post(Transition {
                post,
                expected: from,
                to,
                event,
                progress: None,
                quota_use: None,
                next_job: None,
                completes: None,
                lease: None,
            })
            .await
            .unwrap()
    }

    async fn types(&self, endpoint: WebhookEndpointId) -> Vec<&'static str> {
        let mut types: Vec<_> = self
            .store
            .webhook_deliveries(endpoint, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.event_type.as_str())
            .collect();
        types.sort_unstable();
        types
    }

    fn attempt(&self, status: Option<u16>) -> WebhookAttempt {
        WebhookAttempt {
            attempt: 0,
            at: self.now(),
            status_code: status,
            latency_ms: 12,
            error: (status != Some(200)).then(|| "HTTP 500".to_owned()),
        }
    }
}

async fn the_bookkeeping_past_its_retention_is_pruned_in_batches_and_nothing_else(h: Harness) {
    let ws = h.workspace("tidy").await;
    let account = h.account(ws, "creator-1").await;
    let endpoint = h
        .endpoint(ws, &[WebhookEventType::PostMissed], "whsec_x")
        .await;
    let start = h.now();
    // Three of each, an hour apart: OAuth states expiring, inbound ids arriving, deliveries
    // finishing.
    for n in 0..3_u8 {
        h.store
            .save_oauth_state(
                tokpost_store::NewOAuthState {
                    state_hash: format!("{n:064}"),
                    workspace_id: ws,
                    pkce_verifier: None,
                    expires_at: h.now(),
                    started_by: tokpost_core::Principal::Service,
                },
                h.now(),
            )
            .await
            .unwrap();
        assert!(
            h.store
                .record_inbound_webhook(&format!("evt-{n}"), h.now())
                .await
                .unwrap()
        );
        let post = h.post(ws, account).await;
        h.step(post, PostState::Scheduled, PostState::Missed).await;
        let worker = WorkerId::new("sender");
        let claimed = h
            .store
            .claim_webhook_deliveries(&worker, h.now(), LEASE, 8)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        h.store
            .settle_webhook_delivery(SettleDelivery {
                id: claimed[0].delivery.id,
                worker,
                attempt: h.attempt(Some(200)),
                result: DeliveryResult::Delivered,
                pause: PAUSE,
            })
            .await
            .unwrap();
        h.clock.advance(Duration::from_secs(3_600));
    }
    // One delivery still waiting: never pruned, however old.
    let waiting = h.post(ws, account).await;
    h.step(waiting, PostState::Scheduled, PostState::Missed)
        .await;

    // A creator's counts at start, +60 and +120 minutes.
    for minutes in [0, 60, 120] {
        h.store
            .record_account_counts(
                account,
                tokpost_store::AccountCounts {
                    followers: Some(minutes),
                    ..tokpost_store::AccountCounts::default()
                },
                start + SignedDuration::from_mins(i64::try_from(minutes).unwrap()),
            )
            .await
            .unwrap();
    }

    // Everything before start + 90 min: the first two of each kind, one at a time.
    let cut = start + SignedDuration::from_mins(90);
    let before = tokpost_store::PruneBefore {
        oauth_states_expired: cut,
        inbound_webhooks_received: cut,
        deliveries_finished: cut,
        sessions_expired: cut,
        links_expired: cut,
        sign_in_failures: cut,
        stats_taken: cut,
    };
    let first = h.store.prune(before, 1).await.unwrap();
    assert_eq!(
        first,
        tokpost_store::Pruned {
            oauth_states: 1,
            inbound_webhooks: 1,
            deliveries: 1,
            people: 0,
            stats: 1,
        }
    );
    assert!(first.filled(1));
    let second = h.store.prune(before, 1).await.unwrap();
    assert_eq!(second, first);
    let third = h.store.prune(before, 1).await.unwrap();
    assert_eq!(third, tokpost_store::Pruned::default());
    assert!(!third.filled(1));
    let kept = h.store.account_counts(account).await.unwrap();
    assert_eq!(kept.len(), 1, "the snapshot after the cut stays");
    assert_eq!(kept[0].1.followers, Some(120));

    let left = h.store.webhook_deliveries(endpoint, 10).await.unwrap();
    assert_eq!(
        left.len(),
        2,
        "the newest finished delivery and the waiting one"
    );
    assert!(
        left.iter().any(
            |delivery| delivery.status == DeliveryStatus::Delivered && !delivery.log.is_empty()
        ),
        "the kept delivery keeps its attempts"
    );
    // An inbound id that was pruned is new again; one that was kept is still a duplicate.
    assert!(
        h.store
            .record_inbound_webhook("evt-0", h.now())
            .await
            .unwrap()
    );
    assert!(
        !h.store
            .record_inbound_webhook("evt-2", h.now())
            .await
            .unwrap()
    );
    // Everything finished, whatever its age: the waiting delivery stays.
    let all = tokpost_store::PruneBefore {
        oauth_states_expired: h.now(),
        inbound_webhooks_received: start,
        deliveries_finished: h.now(),
        sessions_expired: h.now(),
        links_expired: h.now(),
        sign_in_failures: h.now(),
        stats_taken: start,
    };
    h.store.prune(all, 100).await.unwrap();
    let left = h.store.webhook_deliveries(endpoint, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, DeliveryStatus::Pending);
}

async fn simultaneous_registrations_never_exceed_a_workspaces_endpoint_limit(h: Harness) {
    let workspace = h.workspace("busy").await;
    let limit = 4;
    let mut tasks = Vec::new();
    for n in 0..12 {
        let (store, now) = (Arc::clone(&h.store), h.now());
        tasks.push(tokio::spawn(async move {
            store
                .create_webhook_endpoint(
                    NewWebhookEndpoint {
                        workspace_id: workspace,
                        format: tokpost_store::ChannelFormat::Tokpost,
                        chat_id: None,
                        url: format!("https://hooks.example.com/{n}"),
                        description: String::new(),
                        events: [WebhookEventType::PostPublished].into_iter().collect(),
                        secret: SecretString::from(format!("whsec_{n}")),
                        at_most: limit,
                    },
                    now,
                )
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            EndpointCreated::Created(_) => created += 1,
            EndpointCreated::AtLimit { existing } => assert_eq!(existing, limit),
        }
    }
    assert_eq!(created, limit);
    assert_eq!(
        h.store.webhook_endpoints(workspace).await.unwrap().len(),
        usize::try_from(limit).unwrap()
    );
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
    the_bookkeeping_past_its_retention_is_pruned_in_batches_and_nothing_else,
    simultaneous_registrations_never_exceed_a_workspaces_endpoint_limit,
    post_outcomes_queue_deliveries_for_subscribed_endpoints_of_their_workspace_only,
    a_failed_post_carries_its_action_and_catalog_code,
    account_events_are_queued_once_per_change,
    deliveries_are_leased_retried_logged_and_a_failing_endpoint_is_paused_until_resumed,
    deleting_an_endpoint_deletes_its_deliveries,
    approval_moves_announce_who_must_act_with_the_post,
);

async fn post_outcomes_queue_deliveries_for_subscribed_endpoints_of_their_workspace_only(
    h: Harness,
) {
    let ws = h.workspace("studio").await;
    let other = h.workspace("other").await;
    let account = h.account(ws, "creator-1").await;
    let published_only = h
        .endpoint(ws, &[WebhookEventType::PostPublished], "whsec_a")
        .await;
    let deferred_only = h
        .endpoint(ws, &[WebhookEventType::PostDeferred], "whsec_b")
        .await;
    let elsewhere = h.endpoint(other, &WebhookEventType::ALL, "whsec_c").await;

    let post = h.post(ws, account).await;
    let until = h.now() + SignedDuration::from_hours(3);
    let deferred = PostState::Deferred {
        until,
        why: DeferReason::DailyPostCap,
    };
    assert!(matches!(
        h.step(post, PostState::Scheduled, deferred).await,
        TransitionOutcome::Applied(_)
    ));
    // A stale move writes nothing, its webhook included.
    assert!(matches!(
        h.step(post, PostState::Scheduled, PostState::Preflighted)
            .await,
        TransitionOutcome::Stale { .. }
    ));
    let path = [
        (deferred, PostState::Scheduled),
        (PostState::Scheduled, PostState::Preflighted),
        (PostState::Preflighted, PostState::CreatorChecked),
        (PostState::CreatorChecked, PostState::Initialized),
        (PostState::Initialized, PostState::Processing),
        (PostState::Processing, PostState::Published),
        // A late public id on a published post is not a second publish.
        (PostState::Published, PostState::Published),
    ];
    for (from, to) in path {
        assert!(matches!(
            h.step(post, from, to).await,
            TransitionOutcome::Applied(_)
        ));
    }

    assert_eq!(h.types(published_only).await, vec!["post.published"]);
    assert_eq!(h.types(deferred_only).await, vec!["post.deferred"]);
    assert!(
        h.types(elsewhere).await.is_empty(),
        "another workspace hears nothing"
    );

    let published = &h
        .store
        .webhook_deliveries(published_only, 10)
        .await
        .unwrap()[0];
    assert_eq!(published.status, DeliveryStatus::Pending);
    assert_eq!(published.attempts, 0);
    assert_eq!(published.payload["type"], "post.published");
    assert_eq!(published.payload["workspace_id"], json!(ws));
    assert_eq!(published.payload["id"], json!(published.event_id));
    assert_eq!(published.payload["data"]["post"]["id"], json!(post));
    assert_eq!(published.payload["data"]["post"]["state"], "published");
    let deferral = &h.store.webhook_deliveries(deferred_only, 10).await.unwrap()[0];
    assert_eq!(
        deferral.payload["data"]["deferred"]["why"],
        "daily_post_cap"
    );
    assert_eq!(deferral.payload["data"]["deferred"]["until"], json!(until));
}

async fn a_failed_post_carries_its_action_and_catalog_code(h: Harness) {
    let ws = h.workspace("studio").await;
    let account = h.account(ws, "creator-1").await;
    let endpoint = h
        .endpoint(
            ws,
            &[WebhookEventType::PostFailed, WebhookEventType::PostMissed],
            "whsec_a",
        )
        .await;
    let failing = h.post(ws, account).await;
    let failed = PostState::Failed {
        action: RequiredAction::FixInput,
        who: Actor::User,
    };
    let event = NewPostEvent::new(
        h.now(),
        EventKind::TiktokResponse,
        "TikTok flagged the caption",
    )
    .with_native_response(json!({"classification": "spam_risk_text", "status": 200}));
    h.step_with(failing, PostState::Scheduled, failed, event)
        .await;
    let missing = h.post(ws, account).await;
    h.step(missing, PostState::Scheduled, PostState::Missed)
        .await;

    assert_eq!(h.types(endpoint).await, vec!["post.failed", "post.missed"]);
    let deliveries = h.store.webhook_deliveries(endpoint, 10).await.unwrap();
    let failure = deliveries
        .iter()
        .find(|d| d.event_type == WebhookEventType::PostFailed)
        .unwrap();
    let detail = &failure.payload["data"]["failure"];
    assert_eq!(detail["action"], "fix_input");
    assert_eq!(detail["who"], "user");
    assert_eq!(detail["code"], "spam_risk_text");
    assert_eq!(detail["reason"], "TikTok flagged the caption");
}

async fn approval_moves_announce_who_must_act_with_the_post(h: Harness) {
    let ws = h.workspace("studio").await;
    let account = h.account(ws, "creator-1").await;
    let endpoint = h
        .endpoint(
            ws,
            &[
                WebhookEventType::PostAwaitingApproval,
                WebhookEventType::PostApproved,
                WebhookEventType::PostRejected,
            ],
            "whsec_a",
        )
        .await;
    h.store.set_workspace_approval(ws, true).await.unwrap();
    let post = h.post(ws, account).await;
    let created = h.store.post(post).await.unwrap().unwrap();
    let reviewer = tokpost_core::Principal::User(tokpost_core::UserId::generate(h.now()));
    let rejected = h
        .store
        .decide_post(
            tokpost_store::Decision {
                post,
                revision: created.revision,
                verdict: tokpost_store::Verdict::Reject,
                event: NewPostEvent::new(
                    h.now(),
                    EventKind::Rejected,
                    "rejected revision 1: shorter",
                )
                .by(reviewer),
            },
            h.now(),
        )
        .await
        .unwrap()
        .unwrap();
    let edited = h
        .store
        .revise_post(
            tokpost_store::Revise {
                post,
                expected: rejected.state,
                revision: rejected.revision,
                spec: None,
                scheduled_at: rejected.scheduled_at,
                event: NewPostEvent::new(h.now(), EventKind::Edited, "edited: time"),
                prepared_frozen_from: h.now(),
            },
            h.now(),
        )
        .await
        .unwrap()
        .unwrap();
    h.store
        .decide_post(
            tokpost_store::Decision {
                post,
                revision: edited.revision,
                verdict: tokpost_store::Verdict::Approve {
                    scheduled_at: None,
                    run_at: edited.scheduled_at.at(),
                },
                event: NewPostEvent::new(h.now(), EventKind::Approved, "approved revision 2")
                    .by(reviewer),
            },
            h.now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        h.types(endpoint).await,
        vec![
            "post.approved",
            "post.awaiting_approval",
            "post.awaiting_approval",
            "post.rejected"
        ]
    );
    let deliveries = h.store.webhook_deliveries(endpoint, 10).await.unwrap();
    let rejection = deliveries
        .iter()
        .find(|d| d.event_type == WebhookEventType::PostRejected)
        .unwrap();
    assert_eq!(
        rejection.payload["data"]["message"],
        "rejected revision 1: shorter"
    );
    assert_eq!(rejection.payload["data"]["by"]["kind"], "user");
    assert_eq!(rejection.payload["data"]["post"]["revision"], 1);
    let revisions: Vec<&serde_json::Value> = deliveries
        .iter()
        .filter(|d| d.event_type == WebhookEventType::PostAwaitingApproval)
        .map(|d| &d.payload["data"]["post"]["revision"])
        .collect();
    assert!(revisions.contains(&&json!(1)) && revisions.contains(&&json!(2)));
}

async fn account_events_are_queued_once_per_change(h: Harness) {
    let ws = h.workspace("studio").await;
    let account = h.account(ws, "creator-1").await;
    let endpoint = h
        .endpoint(
            ws,
            &[
                WebhookEventType::AccountNeedsReconnect,
                WebhookEventType::AccountRefreshTokenExpiring,
            ],
            "whsec_a",
        )
        .await;
    let needs = AccountStatus::NeedsReconnect {
        why: ReconnectReason::RefreshTokenRejected,
    };
    for _ in 0..2 {
        assert!(
            h.store
                .set_account_status(account, needs, h.now())
                .await
                .unwrap()
        );
    }
    // A pass of the token keeper crossing two thresholds at once records two notices and
    // announces them once; the same pass again records and announces nothing.
    let now = h.now();
    let keys: Vec<String> = ["2592000s", "604800s"]
        .iter()
        .map(|threshold| format!("refresh_token_expiry_warning:{threshold}:123"))
        .collect();
    let announce = || tokpost_store::WebhookEvent {
        event_type: tokpost_store::WebhookEventType::AccountRefreshTokenExpiring,
        at: now,
        data: json!({ "notice": keys[1] }),
    };
    for expected in [vec![true, true], vec![false, false]] {
        assert_eq!(
            h.store
                .record_account_notices(account, &keys, now, Some(announce()))
                .await
                .unwrap(),
            expected
        );
    }
    // A notice recorded without an announcement is no webhook.
    assert_eq!(
        h.store
            .record_account_notices(account, &["something_else".to_owned()], now, None)
            .await
            .unwrap(),
        vec![true]
    );

    assert_eq!(
        h.types(endpoint).await,
        vec!["account.needs_reconnect", "account.refresh_token_expiring"]
    );
    let deliveries = h.store.webhook_deliveries(endpoint, 10).await.unwrap();
    for delivery in &deliveries {
        assert_eq!(delivery.payload["data"]["account"]["id"], json!(account));
        assert_eq!(delivery.payload["data"]["account"]["open_id"], "creator-1");
    }
    // Connected again, then refused again: a new event.
    h.store
        .set_account_status(account, AccountStatus::Connected, h.now())
        .await
        .unwrap();
    h.store
        .set_account_status(account, needs, h.now())
        .await
        .unwrap();
    assert_eq!(
        h.types(endpoint).await,
        vec![
            "account.needs_reconnect",
            "account.needs_reconnect",
            "account.refresh_token_expiring"
        ]
    );
}

async fn deliveries_are_leased_retried_logged_and_a_failing_endpoint_is_paused_until_resumed(
    h: Harness,
) {
    let ws = h.workspace("studio").await;
    let account = h.account(ws, "creator-1").await;
    let endpoint = h
        .endpoint(ws, &[WebhookEventType::PostMissed], "whsec_secret_value")
        .await;
    let one = WorkerId::new("sender-1");
    let two = WorkerId::new("sender-2");
    assert_eq!(h.store.next_webhook_delivery_at().await.unwrap(), None);
    let post = h.post(ws, account).await;
    h.step(post, PostState::Scheduled, PostState::Missed).await;
    assert_eq!(
        h.store.next_webhook_delivery_at().await.unwrap(),
        Some(h.now())
    );

    // Claimed by one sender; the other gets nothing while the lease holds.
    let claimed = h
        .store
        .claim_webhook_deliveries(&one, h.now(), LEASE, 8)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].secret.expose_secret(), "whsec_secret_value");
    assert_eq!(claimed[0].url, "http://127.0.0.1:9/hook");
    assert_eq!(claimed[0].delivery.attempts, 1);
    let id = claimed[0].delivery.id;
    assert!(
        h.store
            .claim_webhook_deliveries(&two, h.now(), LEASE, 8)
            .await
            .unwrap()
            .is_empty()
    );

    // A dead sender's lease ends; another sender takes the delivery, and the first one's late
    // record is refused.
    h.clock.advance(LEASE + Duration::from_secs(1));
    let retaken = h
        .store
        .claim_webhook_deliveries(&two, h.now(), LEASE, 8)
        .await
        .unwrap();
    assert_eq!(retaken.len(), 1);
    assert_eq!(retaken[0].delivery.attempts, 2);
    let late = SettleDelivery {
        id,
        worker: one.clone(),
        attempt: h.attempt(Some(500)),
        result: DeliveryResult::GiveUp,
        pause: PAUSE,
    };
    assert_eq!(
        h.store.settle_webhook_delivery(late).await.unwrap(),
        SettleOutcome::LeaseLost
    );

    // A failure with a retry time: not claimable before it, logged, the streak counts.
    let retry_at = h.now() + SignedDuration::from_secs(30);
    let outcome = h
        .store
        .settle_webhook_delivery(SettleDelivery {
            id,
            worker: two.clone(),
            attempt: h.attempt(Some(500)),
            result: DeliveryResult::RetryAt(retry_at),
            pause: PAUSE,
        })
        .await
        .unwrap();
    assert_eq!(outcome, SettleOutcome::Settled { paused: false });
    assert_eq!(
        h.store.next_webhook_delivery_at().await.unwrap(),
        Some(retry_at)
    );
    assert!(
        h.store
            .claim_webhook_deliveries(&one, h.now(), LEASE, 8)
            .await
            .unwrap()
            .is_empty()
    );
    let endpoint_now = h.store.webhook_endpoint(endpoint).await.unwrap().unwrap();
    assert_eq!(endpoint_now.consecutive_failures, 1);
    assert_eq!(endpoint_now.failing_since, Some(h.now()));

    // Two more failures reach the policy's three: the endpoint pauses and its delivery waits.
    let mut paused = false;
    for _ in 0..2 {
        h.clock.set(retry_at);
        let claimed = h
            .store
            .claim_webhook_deliveries(&one, h.now(), LEASE, 8)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let outcome = h
            .store
            .settle_webhook_delivery(SettleDelivery {
                id,
                worker: one.clone(),
                attempt: h.attempt(None),
                result: DeliveryResult::RetryAt(retry_at),
                pause: PAUSE,
            })
            .await
            .unwrap();
        paused = outcome == (SettleOutcome::Settled { paused: true });
    }
    assert!(paused, "the third failure in a row pauses the endpoint");
    let endpoint_now = h.store.webhook_endpoint(endpoint).await.unwrap().unwrap();
    assert_eq!(endpoint_now.consecutive_failures, 3);
    assert!(endpoint_now.paused_at.is_some());
    assert!(
        endpoint_now
            .paused_reason
            .unwrap()
            .contains("3 consecutive")
    );
    h.clock.advance(Duration::from_secs(3_600));
    assert!(
        h.store
            .claim_webhook_deliveries(&one, h.now(), LEASE, 8)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(h.store.next_webhook_delivery_at().await.unwrap(), None);

    // Resumed: the waiting delivery is due at once and a success clears the streak.
    assert!(
        h.store
            .resume_webhook_endpoint(endpoint, h.now())
            .await
            .unwrap()
    );
    let claimed = h
        .store
        .claim_webhook_deliveries(&one, h.now(), LEASE, 8)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    h.store
        .settle_webhook_delivery(SettleDelivery {
            id,
            worker: one.clone(),
            attempt: h.attempt(Some(200)),
            result: DeliveryResult::Delivered,
            pause: PAUSE,
        })
        .await
        .unwrap();
    let endpoint_now = h.store.webhook_endpoint(endpoint).await.unwrap().unwrap();
    assert_eq!(endpoint_now.consecutive_failures, 0);
    assert_eq!(endpoint_now.paused_at, None);
    let delivery = &h.store.webhook_deliveries(endpoint, 10).await.unwrap()[0];
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert_eq!(delivery.completed_at, Some(h.now()));
    let log: Vec<(u32, Option<u16>)> = delivery
        .log
        .iter()
        .map(|a| (a.attempt, a.status_code))
        .collect();
    assert_eq!(
        log,
        vec![(2, Some(500)), (3, None), (4, None), (5, Some(200))],
        "every recorded attempt, numbered by claim (the first claim's sender died)"
    );
    assert_eq!(h.store.next_webhook_delivery_at().await.unwrap(), None);
}

async fn deleting_an_endpoint_deletes_its_deliveries(h: Harness) {
    let ws = h.workspace("studio").await;
    let account = h.account(ws, "creator-1").await;
    let endpoint = h
        .endpoint(ws, &[WebhookEventType::PostMissed], "whsec_a")
        .await;
    let post = h.post(ws, account).await;
    h.step(post, PostState::Scheduled, PostState::Missed).await;
    assert_eq!(h.types(endpoint).await.len(), 1);
    assert!(h.store.delete_webhook_endpoint(endpoint).await.unwrap());
    assert!(!h.store.delete_webhook_endpoint(endpoint).await.unwrap());
    assert!(h.store.webhook_endpoint(endpoint).await.unwrap().is_none());
    assert!(
        h.store
            .webhook_deliveries(endpoint, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(h.store.webhook_endpoints(ws).await.unwrap().is_empty());
    assert_eq!(h.store.next_webhook_delivery_at().await.unwrap(), None);
}

mod worker_heartbeats {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_worker_heartbeat_is_kept_per_process_and_replaced(super::Harness::sqlite().await)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_worker_heartbeat_is_kept_per_process_and_replaced(
            super::Harness::postgres().await,
        )
        .await;
    }
}

async fn a_worker_heartbeat_is_kept_per_process_and_replaced(h: Harness) {
    assert_eq!(h.store.worker_heartbeat("serve:1").await.unwrap(), None);
    let first = h.now();
    h.store
        .record_worker_heartbeat("serve:1", first)
        .await
        .unwrap();
    h.clock.advance(Duration::from_secs(15));
    h.store
        .record_worker_heartbeat("serve:2", h.now())
        .await
        .unwrap();
    assert_eq!(
        h.store.worker_heartbeat("serve:1").await.unwrap(),
        Some(first)
    );
    h.store
        .record_worker_heartbeat("serve:1", h.now())
        .await
        .unwrap();
    assert_eq!(
        h.store.worker_heartbeat("serve:1").await.unwrap(),
        Some(h.now())
    );
    assert_eq!(h.store.worker_heartbeat("serve:3").await.unwrap(), None);
}
