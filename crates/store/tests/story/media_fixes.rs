//! Fixes of media: a request and its job are written together; requests racing for one item
//! get one fix; progress is written while it runs; it ends once; the next request after the end
//! is a new fix.

use std::time::Duration;

use serde_json::json;
use tokpost_core::{JobKind, MediaId, Principal};
use tokpost_store::{FixEnd, FixState, MediaKind, NewMediaAsset, NewMediaFix, Store, WorkerId};

use super::Harness;

async fn media(h: &Harness, ws: tokpost_core::WorkspaceId, hash: &str) -> MediaId {
    h.store
        .add_media(
            NewMediaAsset {
                workspace_id: ws,
                kind: MediaKind::Video,
                content_hash: hash.to_owned(),
                size_bytes: 1_000,
                location: format!("media/{hash}"),
                probe: json!({"verdict": "rejected"}),
            },
            h.now(),
        )
        .await
        .unwrap()
        .into_inner()
        .id
}

fn request(ws: tokpost_core::WorkspaceId, media: MediaId) -> NewMediaFix {
    NewMediaFix {
        workspace_id: ws,
        media_id: media,
        options: json!({"trim": false}),
        post: None,
        requested_by: Principal::Service,
    }
}

pub(super) async fn racing_fix_requests_get_one_fix_that_ends_once(h: Harness) {
    let ws = h.workspace().await;
    let original = media(&h, ws, "aa").await;
    let fixed = media(&h, ws, "bb").await;

    // Eight requests at once: one fix, one job.
    let mut racers = Vec::new();
    for _ in 0..8 {
        let store = std::sync::Arc::clone(&h.store);
        let now = h.now();
        racers.push(tokio::spawn(async move {
            store.request_fix(request(ws, original), now).await.unwrap()
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for racer in racers {
        let inserted = racer.await.unwrap();
        created += usize::from(inserted.is_created());
        ids.insert(inserted.into_inner().id);
    }
    assert_eq!((created, ids.len()), (1, 1));
    let id = *ids.first().unwrap();
    let jobs = fix_jobs(h.store.as_ref(), h.now()).await;
    assert_eq!(jobs, vec![json!({ "fix_id": id.to_string() })]);

    let fix = h.store.media_fix(id).await.unwrap().unwrap();
    assert_eq!(
        (
            fix.state,
            fix.progress_permille,
            fix.options["trim"].clone()
        ),
        (FixState::Queued, 0, json!(false))
    );
    assert!(
        h.store
            .record_fix_progress(id, 420, "video av1 → h264", h.now())
            .await
            .unwrap()
    );
    let running = h.store.latest_fix_of(original).await.unwrap().unwrap();
    assert_eq!(
        (
            running.state,
            running.progress_permille,
            running.stage.as_deref()
        ),
        (FixState::Running, 420, Some("video av1 → h264"))
    );
    // Still one open fix while it runs.
    let again = h
        .store
        .request_fix(request(ws, original), h.now())
        .await
        .unwrap();
    assert!(!again.is_created());

    let end = FixEnd {
        state: FixState::Fixed,
        changes: json!([{"aspect": "video"}]),
        message: None,
        result_media_id: Some(fixed),
    };
    assert!(h.store.finish_fix(id, end.clone(), h.now()).await.unwrap());
    assert!(
        !h.store.finish_fix(id, end, h.now()).await.unwrap(),
        "it ends once"
    );
    assert!(
        !h.store
            .record_fix_progress(id, 10, "late", h.now())
            .await
            .unwrap()
    );
    let done = h.store.media_fix(id).await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.progress_permille, done.result_media_id),
        (FixState::Fixed, 1000, Some(fixed))
    );
    assert!(
        h.store
            .finish_fix(
                id,
                FixEnd {
                    state: FixState::Running,
                    changes: json!([]),
                    message: None,
                    result_media_id: None,
                },
                h.now()
            )
            .await
            .is_err(),
        "a fix ends fixed, unfixable or failed"
    );

    // After the end, a new request is a new fix, and the newest is the one shown.
    h.advance(Duration::from_secs(1));
    let next = h
        .store
        .request_fix(request(ws, original), h.now())
        .await
        .unwrap();
    assert!(next.is_created());
    let next = next.into_inner();
    assert_ne!(next.id, id);
    assert_eq!(
        h.store.latest_fix_of(original).await.unwrap().unwrap().id,
        next.id
    );
    assert!(h.store.latest_fix_of(fixed).await.unwrap().is_none());
}

/// The payloads of the due fix jobs (claimed, so each is seen once).
async fn fix_jobs(store: &dyn Store, now: jiff::Timestamp) -> Vec<serde_json::Value> {
    store
        .claim(&WorkerId::new("w"), now, Duration::from_secs(60), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|job| job.kind == JobKind::FixMedia)
        .map(|job| job.payload)
        .collect()
}
