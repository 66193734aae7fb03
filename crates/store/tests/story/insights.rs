//! Posts awaiting a public id TikTok never reported: which posts an account's snapshot pass
//! looks for (published, direct, public, without an id, recent enough), which ids are already
//! taken, and the account's job made due (queued once, brought forward, never pushed back).

use std::time::Duration;

use tokpost_core::{JobKind, PostState, PrivacyLevel, PublishProgress};
use tokpost_store::insights::snapshot_job_key;
use tokpost_store::{AwaitingIds, Transition, WorkerId};

use super::{Harness, event, step};

const HOUR: Duration = Duration::from_secs(3_600);

/// A new post of `account` with `privacy`, moved through processing to published with
/// `ids` as its public ids.
async fn published(
    h: &Harness,
    ws: tokpost_core::WorkspaceId,
    account: tokpost_core::AccountId,
    privacy: PrivacyLevel,
    ids: &[&str],
) -> tokpost_core::PostId {
    let mut new = h.new_post(ws, account, 0);
    new.spec.privacy = privacy;
    let post = h
        .store
        .create_post(new, h.now())
        .await
        .unwrap()
        .into_inner();
    let path = [
        PostState::Scheduled,
        PostState::Preflighted,
        PostState::CreatorChecked,
        PostState::Initialized,
        PostState::Processing,
    ];
    for pair in path.windows(2) {
        h.store
            .transition_post(step(post.id, pair[0], pair[1], h.now()))
            .await
            .unwrap();
    }
    h.store
        .transition_post(Transition {
            progress: Some(PublishProgress {
                public_post_ids: ids.iter().map(|id| (*id).to_owned()).collect(),
                ..post.progress.clone()
            }),
            event: event(h.now(), "published"),
            ..step(
                post.id,
                PostState::Processing,
                PostState::Published,
                h.now(),
            )
        })
        .await
        .unwrap();
    post.id
}

pub(super) async fn posts_awaiting_a_public_id_are_found_and_the_snapshot_job_made_due(h: Harness) {
    let ws = h.workspace().await;
    let account = h.account(ws, "quiet").await;
    let other = h.account(ws, "other").await;
    let public = PrivacyLevel::PublicToEveryone;

    let too_old = published(&h, ws, account, public, &[]).await;
    h.advance(8 * 24 * HOUR);
    let since = h.now();
    h.advance(HOUR);
    let awaited = published(&h, ws, account, public, &[]).await;
    let with_id = published(&h, ws, account, public, &["7300000000000000001"]).await;
    let private = published(&h, ws, account, PrivacyLevel::SelfOnly, &[]).await;
    let elsewhere = published(&h, ws, other, public, &[]).await;
    h.advance(HOUR);
    let newer = published(&h, ws, account, public, &[]).await;
    // A post still processing is not awaited.
    let processing = h
        .store
        .create_post(h.new_post(ws, account, 0), h.now())
        .await
        .unwrap()
        .into_inner()
        .id;

    let AwaitingIds { posts, known } = h
        .store
        .awaiting_public_ids(account, since, 50)
        .await
        .unwrap();
    let ids: Vec<_> = posts.iter().map(|post| post.id).collect();
    assert_eq!(
        ids,
        vec![newer, awaited],
        "newest first, direct and public only"
    );
    assert_eq!(known, vec![7_300_000_000_000_000_001]);
    for absent in [too_old, with_id, private, elsewhere, processing] {
        assert!(!ids.contains(&absent));
    }
    let one = h
        .store
        .awaiting_public_ids(account, since, 1)
        .await
        .unwrap();
    assert_eq!(one.posts.len(), 1);

    // Queued once; brought forward, never pushed back (an account with no other job).
    let fresh = h.account(ws, "fresh").await;
    let snapshot_jobs = |at| {
        let store = h.store.clone();
        async move {
            let worker = WorkerId::new(format!("w{at}"));
            store
                .claim(&worker, at, Duration::from_secs(60), 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|job| job.kind == JobKind::SnapshotStats)
                .map(|job| (job.run_at, job.dedupe_key, job.account_id))
                .collect::<Vec<_>>()
        }
    };
    let later = clock::add(h.now(), 5 * HOUR);
    h.store.snapshot_due(fresh, later).await.unwrap();
    h.store
        .snapshot_due(fresh, clock::add(h.now(), 9 * HOUR))
        .await
        .unwrap();
    let sooner = clock::add(h.now(), 2 * HOUR);
    h.store.snapshot_due(fresh, sooner).await.unwrap();
    assert!(
        snapshot_jobs(clock::sub(sooner, Duration::from_secs(1)))
            .await
            .is_empty()
    );
    assert_eq!(
        snapshot_jobs(sooner).await,
        vec![(sooner, Some(snapshot_job_key(fresh)), Some(fresh))],
        "one job per account, due at the soonest time asked"
    );
}
