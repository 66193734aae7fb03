//! Posts as the publisher leaves them, made through the store's own moves: for tests that need
//! a creator who has already posted (the daily caps, the active creators, an account's health).

use jiff::Timestamp;
use tokpost_core::{
    AccountId, EventKind, InteractionSettings, MediaId, NewPostEvent, PostContent, PostId,
    PostMode, PostSpec, PostState, PrivacyLevel, ScheduleTime, UploadSource, VideoCaption,
    WorkspaceId,
};
use tokpost_store::{NewPost, QuotaKind, Store, Transition, TransitionOutcome};

/// A post of `account` whose init TikTok answered at `at`: created, checked and moved to
/// `initialized` with the quota use the publisher records with that move (a direct post, or an
/// inbox share for [`PostMode::Inbox`]). From then on it counts against the creator's daily
/// cap and makes the creator one of the app's active creators, exactly as a real one does.
pub async fn initialized(
    store: &dyn Store,
    workspace: WorkspaceId,
    account: AccountId,
    mode: PostMode,
    at: Timestamp,
) -> PostId {
    let post = store
        .create_post(
            NewPost {
                workspace_id: workspace,
                account_id: account,
                spec: video(mode, at),
                scheduled_at: ScheduleTime::new(at, at).expect("now is a valid schedule time"),
                idempotency_key: None,
                created_by: tokpost_core::Principal::Service,
            },
            at,
        )
        .await
        .unwrap_or_else(|e| panic!("creating a post: {e}"))
        .into_inner();
    let quota = match mode {
        PostMode::Direct => QuotaKind::DirectPost,
        PostMode::Inbox => QuotaKind::InboxShare,
    };
    let steps = [
        (PostState::Scheduled, PostState::Preflighted, None),
        (PostState::Preflighted, PostState::CreatorChecked, None),
        (
            PostState::CreatorChecked,
            PostState::Initialized,
            Some(quota),
        ),
    ];
    for (from, to, quota_use) in steps {
        let outcome = store
            .transition_post(Transition {
                post: post.id,
                expected: from,
                to,
                event: NewPostEvent::new(at, EventKind::StateChanged, "moved by the test kit"),
                progress: None,
                quota_use,
                next_job: None,
                completes: None,
                lease: None,
            })
            .await
            .unwrap_or_else(|e| panic!("moving the post: {e}"));
        assert!(
            matches!(outcome, TransitionOutcome::Applied(_)),
            "the post did not move: {outcome:?}"
        );
    }
    post.id
}

fn video(mode: PostMode, at: Timestamp) -> PostSpec {
    video_spec(MediaId::generate(at), "posted before the test began", mode)
}

/// A private video post of `media` with `caption`, every option left at its default.
///
/// # Panics
/// When `caption` is not a valid caption (a test's own mistake).
#[must_use]
pub fn video_spec(media: MediaId, caption: &str, mode: PostMode) -> PostSpec {
    PostSpec {
        content: PostContent::Video {
            media,
            caption: VideoCaption::new(caption.to_owned()).expect("a valid caption"),
            cover_timestamp_ms: None,
        },
        privacy: PrivacyLevel::SelfOnly,
        interactions: InteractionSettings::default(),
        brand_content: false,
        brand_organic: false,
        is_aigc: false,
        auto_add_music: false,
        mode,
        source: UploadSource::FileUpload,
    }
}
