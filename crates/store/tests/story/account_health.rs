//! The facts behind many accounts' health, read together: the same answers as the one-account
//! reads, each account's own, and an entry for an account with nothing recorded.

use std::time::Duration;

use jiff::SignedDuration;
use tokpost_core::{Actor, PostMode, PostState, RequiredAction};
use tokpost_store::{HealthFacts, QuotaKind};
use tokpost_testkit::posts;

use super::{Harness, step};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Moves `post` along `path`, one legal step after another.
async fn walk(h: &Harness, post: tokpost_core::PostId, path: &[PostState]) {
    for pair in path.windows(2) {
        h.store
            .transition_post(step(post, pair[0], pair[1], h.now()))
            .await
            .unwrap();
    }
}

/// A new post of `account` moved along `path`.
async fn post_along(
    h: &Harness,
    ws: tokpost_core::WorkspaceId,
    account: tokpost_core::AccountId,
    path: &[PostState],
) -> tokpost_core::PostId {
    let post = h
        .store
        .create_post(h.new_post(ws, account, 0), h.now())
        .await
        .unwrap()
        .into_inner();
    walk(h, post.id, path).await;
    post.id
}

/// From scheduled through TikTok's processing to `last`.
fn through_processing(last: PostState) -> [PostState; 6] {
    [
        PostState::Scheduled,
        PostState::Preflighted,
        PostState::CreatorChecked,
        PostState::Initialized,
        PostState::Processing,
        last,
    ]
}

fn failed(action: RequiredAction) -> PostState {
    PostState::Failed {
        action,
        who: Actor::User,
    }
}

pub(super) async fn the_health_of_a_page_of_accounts_is_read_together(h: Harness) {
    let ws = h.workspace().await;
    let busy = h.account(ws, "busy").await;
    let quiet = h.account(ws, "quiet").await;
    let inbox = h.account(ws, "inbox").await;
    let other_ws = h.store.create_workspace("other", h.now()).await.unwrap().id;
    let stranger = h.account(other_ws, "stranger").await;

    // Older than the window: neither counted nor mistaken for the latest.
    post_along(&h, ws, busy, &through_processing(PostState::Published)).await;
    posts::initialized(h.store.as_ref(), ws, busy, PostMode::Direct, h.now()).await;
    h.advance(DAY + Duration::from_secs(60));
    let window_from = h.now() - SignedDuration::from_hours(24);
    let outcomes_from = h.now() - SignedDuration::from_hours(24 * 30);

    for minutes in [10, 20] {
        h.advance(Duration::from_secs(60 * minutes));
        posts::initialized(h.store.as_ref(), ws, busy, PostMode::Direct, h.now()).await;
    }
    posts::initialized(h.store.as_ref(), ws, busy, PostMode::Inbox, h.now()).await;
    h.store.learn_post_cap(busy, 2, h.now()).await.unwrap();
    h.store
        .save_creator_info(
            busy,
            &serde_json::json!({"creator_nickname": "first"}),
            h.now(),
        )
        .await
        .unwrap();
    h.advance(Duration::from_secs(5));
    h.store
        .save_creator_info(
            busy,
            &serde_json::json!({"creator_nickname": "latest"}),
            h.now(),
        )
        .await
        .unwrap();
    h.store
        .save_creator_info(
            inbox,
            &serde_json::json!({"creator_nickname": "drafts"}),
            h.now(),
        )
        .await
        .unwrap();

    post_along(&h, ws, busy, &through_processing(PostState::Published)).await;
    let published_at = h.now();
    h.advance(Duration::from_secs(30));
    post_along(
        &h,
        ws,
        busy,
        &[PostState::Scheduled, failed(RequiredAction::FixInput)],
    )
    .await;
    h.advance(Duration::from_secs(30));
    let last_failure = post_along(
        &h,
        ws,
        busy,
        &[PostState::Scheduled, failed(RequiredAction::Reconnect)],
    )
    .await;
    let failed_at = h.now();
    h.advance(Duration::from_secs(30));
    post_along(
        &h,
        ws,
        inbox,
        &through_processing(PostState::InboxDelivered),
    )
    .await;
    let delivered_at = h.now();
    // Another workspace's account is only read when asked for.
    posts::initialized(
        h.store.as_ref(),
        other_ws,
        stranger,
        PostMode::Direct,
        h.now(),
    )
    .await;

    let facts = h
        .store
        .account_health(&[busy, quiet, inbox], window_from, outcomes_from)
        .await
        .unwrap();
    assert_eq!(facts.len(), 3, "one entry per account asked about");

    let of_busy = &facts[&busy];
    assert_eq!(
        of_busy.direct_posts,
        h.store
            .quota_use_times(busy, QuotaKind::DirectPost, window_from)
            .await
            .unwrap(),
        "the same uses as the one-account read"
    );
    assert_eq!(
        of_busy.direct_posts.len(),
        2,
        "the use before the window is not counted"
    );
    assert_eq!(of_busy.inbox_shares, 1);
    assert_eq!(of_busy.learned_cap, Some(2));
    assert_eq!(
        of_busy.creator_info,
        h.store.latest_creator_info(busy).await.unwrap()
    );
    assert_eq!(
        of_busy.creator_info.as_ref().unwrap().info["creator_nickname"],
        "latest"
    );
    assert_eq!(of_busy.last_success_at, Some(published_at));
    let failure = of_busy.last_failure.as_ref().expect("the latest failure");
    assert_eq!(failure.post, last_failure);
    assert_eq!(failure.at, failed_at);
    assert_eq!(failure.state, failed(RequiredAction::Reconnect));

    assert_eq!(
        facts[&quiet],
        HealthFacts::default(),
        "nothing recorded, nothing made up"
    );

    let of_inbox = &facts[&inbox];
    assert_eq!(
        of_inbox.last_success_at,
        Some(delivered_at),
        "an inbox delivery is a success"
    );
    assert_eq!(of_inbox.last_failure, None);
    assert!(of_inbox.direct_posts.is_empty());
    assert_eq!(
        of_inbox.creator_info.as_ref().unwrap().info["creator_nickname"],
        "drafts"
    );

    assert!(
        h.store
            .account_health(&[], window_from, outcomes_from)
            .await
            .unwrap()
            .is_empty()
    );
    let alone = h
        .store
        .account_health(&[stranger], window_from, outcomes_from)
        .await
        .unwrap();
    assert_eq!(alone[&stranger].direct_posts.len(), 1);
}
