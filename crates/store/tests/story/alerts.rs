//! Alerts on both databases: a person's own alerts reach them only while they are an enabled
//! member whom the event concerns, never about their own act; a day's digest is queued once
//! however many processes ask at the same moment, and counts what happened in its window.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokpost_core::{
    AccountId, Actor, EventKind, NewPostEvent, PostId, PostState, Principal, RequiredAction, Role,
    UserId, WorkspaceId,
};
use tokpost_store::{
    ChannelFormat, Decision, DigestWindow, EndpointCreated, NewUser, NewWebhookEndpoint,
    PersonalAlerts, Store, Transition, TransitionOutcome, Verdict, WebhookEndpointId,
    WebhookEventType,
};

use super::Harness;

async fn member(h: &Harness, workspace: WorkspaceId, email: &str, role: Role) -> UserId {
    let user = h
        .store
        .create_user(
            NewUser {
                email: email.to_owned(),
                name: email.split('@').next().unwrap().to_owned(),
                password_hash: None,
            },
            h.now(),
        )
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(h.store.join(user, workspace, role, h.now()).await.unwrap());
    user
}

/// Sets a person's alerts behind the API's back (the store takes any events: who an event
/// reaches is judged when it is queued, whatever was chosen).
async fn alerts(
    h: &Harness,
    workspace: WorkspaceId,
    user: UserId,
    events: &[WebhookEventType],
) -> WebhookEndpointId {
    let email = h.store.user(user).await.unwrap().unwrap().email;
    h.store
        .set_personal_alerts(
            PersonalAlerts {
                workspace_id: workspace,
                user_id: user,
                email,
                events: events.iter().copied().collect(),
            },
            h.now(),
        )
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn received(h: &Harness, endpoint: WebhookEndpointId) -> Vec<&'static str> {
    let mut types: Vec<_> = h
        .store
        .webhook_deliveries(endpoint, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|delivery| delivery.event_type.as_str())
        .collect();
    types.sort_unstable();
    types
}

async fn post_by(
    h: &Harness,
    workspace: WorkspaceId,
    account: AccountId,
    author: Principal,
) -> PostId {
    let mut new = h.new_post(workspace, account, 3_600);
    new.created_by = author;
    h.store
        .create_post(new, h.now())
        .await
        .unwrap()
        .into_inner()
        .id
}

async fn step(h: &Harness, post: PostId, from: PostState, to: PostState) {
    let outcome = h
        .store
        .transition_post(Transition {
            post,
            expected: from,
            to,
            event: NewPostEvent::new(h.now(), EventKind::StateChanged, "moved"),
            progress: None,
            quota_use: None,
            next_job: None,
            completes: None,
            lease: None,
        })
        .await
        .unwrap();
    assert!(
        matches!(outcome, TransitionOutcome::Applied(_)),
        "{from:?} -> {to:?}: {outcome:?}"
    );
}

const FAILED: PostState = PostState::Failed {
    action: RequiredAction::FixInput,
    who: Actor::User,
};

pub(super) async fn a_persons_alerts_reach_them_only_when_the_event_is_theirs(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "creator-alerts").await;
    let owner = member(&h, ws, "olga@example.com", Role::Owner).await;
    let editor = member(&h, ws, "eddie@example.com", Role::Editor).await;
    let reviewer = member(&h, ws, "rita@example.com", Role::Reviewer).await;
    let leaver = member(&h, ws, "lee@example.com", Role::Editor).await;
    let every = WebhookEventType::ALL;
    let to_owner = alerts(&h, ws, owner, &every).await;
    let to_editor = alerts(&h, ws, editor, &every).await;
    let to_reviewer = alerts(&h, ws, reviewer, &every).await;
    let to_leaver = alerts(&h, ws, leaver, &every).await;

    // A post by the editor waits for approval: the owner and the reviewer may approve it.
    h.store.set_workspace_approval(ws, true).await.unwrap();
    let post = post_by(&h, ws, account, Principal::User(editor)).await;
    assert_eq!(received(&h, to_owner).await, ["post.awaiting_approval"]);
    assert_eq!(received(&h, to_reviewer).await, ["post.awaiting_approval"]);
    assert!(
        received(&h, to_editor).await.is_empty(),
        "an editor approves nothing"
    );

    // The reviewer rejects it: the author hears, nobody else (the reviewer acted).
    let waiting = h.store.post(post).await.unwrap().unwrap();
    h.store
        .decide_post(
            Decision {
                post,
                revision: waiting.revision,
                verdict: Verdict::Reject,
                event: NewPostEvent::new(h.now(), EventKind::Rejected, "too long")
                    .by(Principal::User(reviewer)),
            },
            h.now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(received(&h, to_editor).await, ["post.rejected"]);
    assert_eq!(received(&h, to_owner).await, ["post.awaiting_approval"]);
    assert_eq!(received(&h, to_reviewer).await, ["post.awaiting_approval"]);
    let rejection = &h.store.webhook_deliveries(to_editor, 1).await.unwrap()[0];
    assert_eq!(
        rejection.payload["data"]["account"]["display_name"],
        "creator creator-alerts"
    );
    assert_eq!(
        rejection.payload["data"]["post"]["created_by"]["kind"],
        "user"
    );
    assert_eq!(
        rejection.payload["data"]["post"]["excerpt"],
        "launch day 🚀 #tokpost"
    );

    // A failure concerns the team, but not a member who left or one who is disabled.
    h.store.set_workspace_approval(ws, false).await.unwrap();
    assert!(matches!(
        h.store.leave(leaver, ws).await.unwrap(),
        tokpost_store::MembershipChange::Changed
    ));
    h.store.set_disabled(reviewer, true, h.now()).await.unwrap();
    let failing = post_by(&h, ws, account, Principal::Service).await;
    step(&h, failing, PostState::Scheduled, FAILED).await;
    assert_eq!(
        received(&h, to_owner).await,
        ["post.awaiting_approval", "post.failed"]
    );
    assert_eq!(
        received(&h, to_editor).await,
        ["post.failed", "post.rejected"]
    );
    assert_eq!(received(&h, to_reviewer).await, ["post.awaiting_approval"]);
    assert!(received(&h, to_leaver).await.is_empty());

    // A person's alerts are not the workspace's channels, and are replaced in place.
    assert!(h.store.webhook_endpoints(ws).await.unwrap().is_empty());
    let replaced = alerts(&h, ws, owner, &[WebhookEventType::DigestDaily]).await;
    assert_eq!(replaced, to_owner, "the same endpoint, its history kept");
    let mine = h.store.personal_alerts(ws, owner).await.unwrap().unwrap();
    assert_eq!(mine.events, BTreeSet::from([WebhookEventType::DigestDaily]));
    assert_eq!(mine.format, ChannelFormat::Email);
    assert_eq!(mine.url, "mailto:olga@example.com");
    assert_eq!(received(&h, to_owner).await.len(), 2);
    let off = h
        .store
        .set_personal_alerts(
            PersonalAlerts {
                workspace_id: ws,
                user_id: owner,
                email: "olga@example.com".to_owned(),
                events: BTreeSet::new(),
            },
            h.now(),
        )
        .await
        .unwrap();
    assert!(off.is_none());
    assert!(h.store.personal_alerts(ws, owner).await.unwrap().is_none());
}

async fn channel(
    h: &Harness,
    workspace: WorkspaceId,
    events: &[WebhookEventType],
) -> WebhookEndpointId {
    let created = h
        .store
        .create_webhook_endpoint(
            NewWebhookEndpoint {
                workspace_id: workspace,
                url: "https://hooks.slack.com/services/T0/B0/secret".to_owned(),
                format: ChannelFormat::Slack,
                chat_id: None,
                description: "#ops".to_owned(),
                events: events.iter().copied().collect(),
                secret: secrecy::SecretString::from("whsec_x"),
                at_most: 16,
            },
            h.now(),
        )
        .await
        .unwrap();
    let EndpointCreated::Created(endpoint) = created else {
        panic!("at the endpoint limit");
    };
    assert_eq!(endpoint.format, ChannelFormat::Slack);
    endpoint.id
}

pub(super) async fn a_days_digest_is_queued_once_however_many_processes_ask(h: Harness) {
    let ws = h.workspace().await;
    let quiet = h.workspace().await;
    let account = h.account(ws, "creator-digest").await;
    let digest = channel(&h, ws, &[WebhookEventType::DigestDaily]).await;
    let other = channel(&h, quiet, &[WebhookEventType::PostFailed]).await;

    let before = post_by(&h, ws, account, Principal::Service).await;
    for (from, to) in published_path() {
        step(&h, before, from, to).await;
    }
    let from = h.advance(Duration::from_secs(3_600));
    let published = post_by(&h, ws, account, Principal::Service).await;
    for (from, to) in published_path() {
        step(&h, published, from, to).await;
    }
    let failed = post_by(&h, ws, account, Principal::Service).await;
    step(&h, failed, PostState::Scheduled, FAILED).await;
    let to = h.advance(Duration::from_secs(3_600));
    let window = DigestWindow {
        day: "2026-12-06".to_owned(),
        from,
        to,
    };

    let asks: Vec<_> = (0..4)
        .map(|_| {
            let store: Arc<dyn Store> = Arc::clone(&h.store);
            let window = window.clone();
            let now = h.now();
            tokio::spawn(async move { store.queue_daily_digests(&window, now).await.unwrap() })
        })
        .collect();
    let mut queued = 0;
    for ask in asks {
        queued += ask.await.unwrap();
    }
    assert_eq!(
        queued, 1,
        "one workspace subscribes; one digest for the day"
    );
    assert_eq!(
        h.store.queue_daily_digests(&window, h.now()).await.unwrap(),
        0
    );
    let sent = h.store.webhook_deliveries(digest, 10).await.unwrap();
    assert_eq!(sent.len(), 1);
    let facts = &sent[0].payload["data"];
    assert_eq!(facts["window"]["day"], "2026-12-06");
    assert_eq!(facts["published"], 1, "{facts}");
    assert_eq!(facts["failed"], 1, "{facts}");
    assert_eq!(facts["missed"], 0);
    assert_eq!(facts["posts"][0]["id"], serde_json::json!(published));
    assert_eq!(
        facts["posts"][0]["account"]["display_name"],
        "creator creator-digest"
    );
    assert!(
        h.store
            .webhook_deliveries(other, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let next_day = DigestWindow {
        day: "2026-12-07".to_owned(),
        from: to,
        to: clock::add(to, Duration::from_secs(86_400)),
    };
    h.advance(Duration::from_secs(86_400));
    assert_eq!(
        h.store
            .queue_daily_digests(&next_day, h.now())
            .await
            .unwrap(),
        1
    );
    let sent = h.store.webhook_deliveries(digest, 10).await.unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].payload["data"]["published"], 0);
}

fn published_path() -> [(PostState, PostState); 5] {
    [
        (PostState::Scheduled, PostState::Preflighted),
        (PostState::Preflighted, PostState::CreatorChecked),
        (PostState::CreatorChecked, PostState::Initialized),
        (PostState::Initialized, PostState::Processing),
        (PostState::Processing, PostState::Published),
    ]
}
