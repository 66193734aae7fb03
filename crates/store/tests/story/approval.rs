//! Approval before publishing on both databases: a post that needs approval has no job a worker
//! could pick until it is approved, at the revision the reviewer saw; an edit after approval
//! asks for approval again; a rejection sends it back; an approval racing an edit or a
//! rejection never both win.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokpost_core::{
    AccountApproval, AccountId, EventKind, NewPostEvent, Post, PostId, PostState, Revision,
    ScheduleTime, StateKind, VideoCaption, WorkspaceId,
};
use tokpost_store::{Decision, Revise, Store, Verdict, WorkerId};

use super::Harness;

const FROZEN_FOR: Duration = Duration::from_secs(10);

fn approve(post: &Post, revision: Revision, now: Timestamp) -> Decision {
    Decision {
        post: post.id,
        revision,
        verdict: Verdict::Approve {
            scheduled_at: None,
            run_at: post.scheduled_at.at().max(now),
        },
        event: NewPostEvent::new(now, EventKind::Approved, "approved"),
    }
}

fn reject(post: PostId, revision: Revision, now: Timestamp) -> Decision {
    Decision {
        post,
        revision,
        verdict: Verdict::Reject,
        event: NewPostEvent::new(now, EventKind::Rejected, "the hook is too slow"),
    }
}

fn edit(post: &Post, caption: &str, now: Timestamp) -> Revise {
    let mut spec = post.spec.clone();
    if let tokpost_core::PostContent::Video {
        caption: ref mut text,
        ..
    } = spec.content
    {
        *text = VideoCaption::new(caption.to_owned()).unwrap();
    }
    Revise {
        post: post.id,
        expected: post.state,
        revision: post.revision,
        spec: Some(spec),
        scheduled_at: post.scheduled_at,
        event: NewPostEvent::new(now, EventKind::Edited, format!("caption: {caption}")),
        prepared_frozen_from: clock::add(now, FROZEN_FOR),
    }
}

/// The post's publish jobs a worker could claim (one account's jobs are claimed one at a time,
/// so a check is about the only post of its account with a job).
async fn publish_jobs(h: &Harness, post: PostId) -> usize {
    let worker = WorkerId::new("peek");
    let far = clock::add(h.now(), Duration::from_secs(30 * 86_400));
    let claimed = h
        .store
        .claim(&worker, far, Duration::from_secs(60), 100)
        .await
        .unwrap();
    let mine = claimed
        .iter()
        .filter(|job| job.post_id == Some(post))
        .count();
    for job in claimed {
        h.store
            .retry_at(
                job.id,
                &worker,
                job.run_at,
                "peeked",
                tokpost_store::Requeue::Wait,
            )
            .await
            .unwrap();
    }
    mine
}

async fn current(h: &Harness, post: PostId) -> Post {
    h.store.post(post).await.unwrap().unwrap()
}

async fn approval_workspace(h: &Harness) -> (WorkspaceId, AccountId, AccountId) {
    let ws = h.workspace().await;
    let client = h.account(ws, "client").await;
    let own = h.account(ws, "own-brand").await;
    h.store.set_workspace_approval(ws, true).await.unwrap();
    assert!(
        h.store
            .set_account_approval(ws, own, AccountApproval::NotRequired)
            .await
            .unwrap()
    );
    let other = h.workspace().await;
    assert!(
        !h.store
            .set_account_approval(other, own, AccountApproval::Required)
            .await
            .unwrap(),
        "an account of another workspace is not changed"
    );
    (ws, client, own)
}

pub(super) async fn a_post_awaiting_approval_has_no_job_until_approved_at_the_revision_seen(
    h: Harness,
) {
    let (ws, client, own) = approval_workspace(&h).await;
    let settings = h.store.approval_settings(ws).await.unwrap();
    assert!(settings.workspace_requires);
    assert!(settings.requires(client));
    assert!(!settings.requires(own));

    let direct = h
        .store
        .create_post(h.new_post(ws, own, 600), h.now())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(direct.state, PostState::Scheduled, "the override wins");
    assert_eq!(publish_jobs(&h, direct.id).await, 1);

    let post = h
        .store
        .create_post(h.new_post(ws, client, 600), h.now())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(post.state, PostState::AwaitingApproval);
    assert_eq!(post.revision, Revision::FIRST);
    assert_eq!(publish_jobs(&h, post.id).await, 0, "no worker can pick it");
    let first = &h.store.post_events(post.id).await.unwrap()[0];
    assert_eq!(first.kind, EventKind::ApprovalRequested);
    assert_eq!(first.state, StateKind::AwaitingApproval);

    // Edited while it waits: a new revision, still waiting, still no job.
    let edited = h
        .store
        .revise_post(edit(&post, "second draft", h.now()), h.now())
        .await
        .unwrap()
        .expect("edited");
    assert_eq!(edited.state, PostState::AwaitingApproval);
    assert_eq!(edited.revision, Revision(2));
    assert_eq!(publish_jobs(&h, post.id).await, 0);
    assert!(
        h.store
            .revise_post(edit(&post, "from a stale page", h.now()), h.now())
            .await
            .unwrap()
            .is_none(),
        "an edit of a revision someone replaced changes nothing"
    );

    // An approval of the revision the reviewer saw before the edit changes nothing.
    assert!(
        h.store
            .decide_post(approve(&post, Revision::FIRST, h.now()), h.now())
            .await
            .unwrap()
            .is_none()
    );
    let approved = h
        .store
        .decide_post(approve(&edited, edited.revision, h.now()), h.now())
        .await
        .unwrap()
        .expect("approved");
    assert_eq!(approved.state, PostState::Scheduled);
    assert_eq!(approved.scheduled_at, post.scheduled_at);
    assert_eq!(
        publish_jobs(&h, post.id).await,
        1,
        "approved: its job is queued"
    );
    assert!(
        h.store
            .decide_post(reject(post.id, edited.revision, h.now()), h.now())
            .await
            .unwrap()
            .is_none(),
        "decided once"
    );

    // Edited after approval: approval again, and the queued job is gone.
    let changed = h
        .store
        .revise_post(edit(&approved, "third draft", h.now()), h.now())
        .await
        .unwrap()
        .expect("edited after approval");
    assert_eq!(changed.state, PostState::AwaitingApproval);
    assert_eq!(changed.revision, Revision(3));
    assert_eq!(publish_jobs(&h, post.id).await, 0);

    let rejected = h
        .store
        .decide_post(reject(post.id, changed.revision, h.now()), h.now())
        .await
        .unwrap()
        .expect("rejected");
    assert_eq!(rejected.state, PostState::Rejected);
    let events = h.store.post_events(post.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.kind, last.state, last.message.as_str()),
        (
            EventKind::Rejected,
            StateKind::Rejected,
            "the hook is too slow"
        )
    );
    assert_eq!(publish_jobs(&h, post.id).await, 0);

    // The author edits the rejected post: it asks for approval again.
    let resubmitted = h
        .store
        .revise_post(edit(&rejected, "fourth draft", h.now()), h.now())
        .await
        .unwrap()
        .expect("resubmitted");
    assert_eq!(resubmitted.state, PostState::AwaitingApproval);

    // The account stops requiring approval: the next edit schedules it, with a job.
    h.store
        .set_account_approval(ws, client, AccountApproval::NotRequired)
        .await
        .unwrap();
    let scheduled = h
        .store
        .revise_post(edit(&resubmitted, "final", h.now()), h.now())
        .await
        .unwrap()
        .expect("edited");
    assert_eq!(scheduled.state, PostState::Scheduled);
    assert_eq!(publish_jobs(&h, post.id).await, 1);

    // An approval may give a new time (a late one must).
    h.store
        .set_account_approval(ws, client, AccountApproval::Inherit)
        .await
        .unwrap();
    let late = h
        .store
        .create_post(h.new_post(ws, client, 60), h.now())
        .await
        .unwrap()
        .into_inner();
    h.advance(Duration::from_secs(7_200));
    let tomorrow = clock::add(h.now(), Duration::from_secs(86_400));
    let mut decision = approve(&late, late.revision, h.now());
    decision.verdict = Verdict::Approve {
        scheduled_at: Some(ScheduleTime::new(tomorrow, h.now()).unwrap()),
        run_at: tomorrow,
    };
    let moved = h
        .store
        .decide_post(decision, h.now())
        .await
        .unwrap()
        .expect("approved");
    assert_eq!(moved.scheduled_at.at(), tomorrow);
    assert_eq!(current(&h, late.id).await.scheduled_at.at(), tomorrow);
}

pub(super) async fn an_approval_racing_an_edit_or_a_rejection_never_both_win(h: Harness) {
    let (ws, _, _) = approval_workspace(&h).await;
    for round in 0..8 {
        // An account per round: a claim takes one job of an account at a time.
        let client = h.account(ws, &format!("client-{round}")).await;
        let post = h
            .store
            .create_post(h.new_post(ws, client, 3_600), h.now())
            .await
            .unwrap()
            .into_inner();
        let (store, other): (Arc<dyn Store>, Arc<dyn Store>) =
            (Arc::clone(&h.store), Arc::clone(&h.store));
        let now = h.now();
        let approval = approve(&post, post.revision, now);
        let racing_edit = round % 2 == 0;
        let change = edit(&post, "changed while the reviewer looked", now);
        let (approved, other_won) = tokio::join!(
            tokio::spawn(async move { store.decide_post(approval, now).await.unwrap() }),
            tokio::spawn(async move {
                if racing_edit {
                    other.revise_post(change, now).await.unwrap()
                } else {
                    other
                        .decide_post(reject(post.id, post.revision, now), now)
                        .await
                        .unwrap()
                }
            }),
        );
        let (approved, other_won) = (approved.unwrap(), other_won.unwrap());
        assert!(
            approved.is_some() != other_won.is_some(),
            "round {round}: exactly one wins"
        );
        let stored = current(&h, post.id).await;
        let jobs = publish_jobs(&h, post.id).await;
        match (approved.is_some(), racing_edit) {
            (true, _) => {
                assert_eq!(stored.state, PostState::Scheduled);
                assert_eq!(stored.revision, Revision::FIRST, "what the reviewer saw");
                assert_eq!(jobs, 1);
            }
            (false, true) => {
                assert_eq!(stored.state, PostState::AwaitingApproval);
                assert_eq!(stored.revision, Revision(2));
                assert_eq!(jobs, 0);
            }
            (false, false) => {
                assert_eq!(stored.state, PostState::Rejected);
                assert_eq!(jobs, 0);
            }
        }
    }
}
