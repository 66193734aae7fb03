//! Fix jobs on both databases, with a real ffmpeg and a real media store (a directory): a 15 fps
//! upload becomes a new item TikTok accepts and replaces the original in the post that asked; a
//! post edited meanwhile keeps its file; a 2-second clip is refused with the reason; a process
//! without ffmpeg ends the fix `failed` saying so. Inputs are generated with ffmpeg's test
//! sources (small, a few seconds).

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clock::Clock as _;
use rstest::rstest;
use support::{ADA, Backend, Env, Setup, start, video};
use tokpost_core::{EventKind, JobKind, MediaId, PostContent, PostId, Principal, PrivacyLevel};
use tokpost_media_store::{ByteStream, LocalMediaStore, PutOptions};
use tokpost_pipeline::media_access::MediaAccess;
use tokpost_pipeline::media_fix::{FixChoices, FixSettings, MediaFixes};
use tokpost_store::{FixState, MediaKind, NewMediaAsset, NewMediaFix, Revise, WorkerId};

/// A 360x640 H.264 + AAC MP4 of `seconds` at `fps` from ffmpeg's test sources.
fn generate(dir: &Path, name: &str, fps: u32, seconds: u32) -> PathBuf {
    tokpost_testkit::ffmpeg::clip(dir, name, "360x640", fps, f64::from(seconds))
}

struct Fixing {
    env: Env,
    media: MediaAccess,
    _objects: tempfile::TempDir,
}

impl Fixing {
    async fn start(backend: Backend) -> Self {
        let env = start(Setup::new(backend)).await;
        let objects = tempfile::tempdir().unwrap();
        let media = MediaAccess::new(Arc::new(LocalMediaStore::new(objects.path())));
        Self {
            env,
            media,
            _objects: objects,
        }
    }

    fn fixes(&self, settings: FixSettings) -> MediaFixes {
        MediaFixes::new(
            self.env.store.clone(),
            self.env.clock.shared(),
            Some(self.media.clone()),
            FixSettings {
                work_dir: Some(self.env.media_dir.join("fix-work")),
                ..settings
            },
        )
    }

    /// Puts `file` into the media store and records it, as the API does for an upload.
    async fn upload(&self, file: &Path) -> MediaId {
        let content: ByteStream = Box::pin(tokio_util::io::ReaderStream::new(
            tokio::fs::File::open(file).await.unwrap(),
        ));
        let stored = self
            .media
            .store()
            .put(content, PutOptions::limited_to(1 << 30))
            .await
            .unwrap();
        let verdict = media::preflight_file(file, &media::Limits::default());
        self.env
            .store
            .add_media(
                NewMediaAsset {
                    workspace_id: self.env.workspace,
                    kind: MediaKind::Video,
                    content_hash: stored.sha256_hex.to_string(),
                    size_bytes: stored.size_bytes,
                    location: stored.key.to_string(),
                    probe: serde_json::to_value(&verdict).unwrap(),
                },
                self.env.clock.now(),
            )
            .await
            .unwrap()
            .into_inner()
            .id
    }

    async fn request(&self, media: MediaId, post: Option<PostId>) -> tokpost_core::MediaFixId {
        let post = match post {
            Some(id) => Some((id, self.env.post(id).await.revision)),
            None => None,
        };
        self.env
            .store
            .request_fix(
                NewMediaFix {
                    workspace_id: self.env.workspace,
                    media_id: media,
                    options: serde_json::to_value(FixChoices::default()).unwrap(),
                    post,
                    requested_by: Principal::Service,
                },
                self.env.clock.now(),
            )
            .await
            .unwrap()
            .into_inner()
            .id
    }

    /// Runs every due fix job with `fixes`.
    async fn run(&self, fixes: &MediaFixes) {
        let jobs = self
            .env
            .store
            .claim(
                &WorkerId::new("fixer"),
                self.env.clock.now(),
                Duration::from_secs(600),
                50,
            )
            .await
            .unwrap();
        for job in jobs.iter().filter(|job| job.kind == JobKind::FixMedia) {
            fixes.run(job).await;
        }
    }
}

fn uses(spec: &tokpost_core::PostSpec) -> MediaId {
    match &spec.content {
        PostContent::Video { media, .. } => *media,
        PostContent::Photos { media, .. } => media[0],
    }
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_15_fps_upload_is_fixed_into_a_new_item_that_replaces_it_in_the_post(
    #[case] backend: Backend,
) {
    let fixing = Fixing::start(backend).await;
    let env = &fixing.env;
    let inputs = tempfile::tempdir().unwrap();
    let original = fixing
        .upload(&generate(inputs.path(), "slow.mp4", 15, 4))
        .await;
    let before = env.store.media(original).await.unwrap().unwrap();
    assert_eq!(before.probe["verdict"], "rejected");
    let account = env.connect(ADA).await;
    let post = env
        .schedule(
            account,
            video(original, "slow", PrivacyLevel::PublicToEveryone),
            3_600,
        )
        .await;
    let fix = fixing.request(original, Some(post)).await;
    fixing.run(&fixing.fixes(FixSettings::default())).await;

    let done = env.store.media_fix(fix).await.unwrap().unwrap();
    assert_eq!(done.state, FixState::Fixed, "{:?}", done.message);
    assert_eq!(done.progress_permille, 1000);
    let fixed = done.result_media_id.unwrap();
    assert_ne!(fixed, original, "a new item; the original stays");
    let changes = done.changes.as_array().unwrap();
    assert!(
        changes.iter().any(|change| change["aspect"] == "frame_rate"
            && change["answers"] == "frame_rate_out_of_range"),
        "{changes:?}"
    );
    let item = env.store.media(fixed).await.unwrap().unwrap();
    assert_ne!(item.probe["verdict"], "rejected", "{}", item.probe);
    assert!(
        item.probe.get("file").is_none(),
        "no storage path in the probe"
    );
    assert_eq!(env.store.media(original).await.unwrap().unwrap(), before);

    let after = env.post(post).await;
    assert_eq!(uses(&after.spec), fixed, "swapped into the post");
    assert_eq!(after.revision.0, 2);
    assert!(
        done.message
            .as_deref()
            .unwrap()
            .contains("swapped into the post"),
        "{:?}",
        done.message
    );
    let history = env.store.post_events(post).await.unwrap();
    let edit = history.last().unwrap();
    assert_eq!(edit.kind, EventKind::Edited);
    assert!(edit.message.contains("fixed file"), "{}", edit.message);
    // No ffmpeg files are left behind.
    let leftovers = std::fs::read_dir(env.media_dir.join("fix-work"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0);

    // A post edited after the request keeps its own file.
    let second = fixing
        .upload(&generate(inputs.path(), "slow-2.mp4", 15, 5))
        .await;
    let edited = env
        .schedule(
            account,
            video(second, "slow 2", PrivacyLevel::SelfOnly),
            3_600,
        )
        .await;
    let fix = fixing.request(second, Some(edited)).await;
    let current = env.post(edited).await;
    env.store
        .revise_post(
            Revise {
                post: edited,
                expected: current.state,
                revision: current.revision,
                spec: Some(current.spec.clone()),
                scheduled_at: current.scheduled_at,
                event: tokpost_core::NewPostEvent::new(
                    env.clock.now(),
                    EventKind::Edited,
                    "edited: caption",
                ),
                prepared_frozen_from: env.clock.now(),
            },
            env.clock.now(),
        )
        .await
        .unwrap()
        .unwrap();
    fixing.run(&fixing.fixes(FixSettings::default())).await;
    let done = env.store.media_fix(fix).await.unwrap().unwrap();
    assert_eq!(done.state, FixState::Fixed);
    assert!(
        done.message.as_deref().unwrap().contains("edited since"),
        "{:?}",
        done.message
    );
    assert_eq!(uses(&env.post(edited).await.spec), second);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_second_clip_is_unfixable_and_a_process_without_ffmpeg_says_so(
    #[case] backend: Backend,
) {
    let fixing = Fixing::start(backend).await;
    let env = &fixing.env;
    let inputs = tempfile::tempdir().unwrap();
    let short = fixing
        .upload(&generate(inputs.path(), "short.mp4", 30, 2))
        .await;
    let fix = fixing.request(short, None).await;
    fixing.run(&fixing.fixes(FixSettings::default())).await;
    let done = env.store.media_fix(fix).await.unwrap().unwrap();
    assert_eq!(done.state, FixState::Unfixable);
    assert_eq!(done.result_media_id, None);
    let message = done.message.unwrap();
    assert!(message.contains("3"), "names the minimum: {message}");

    let slow = fixing
        .upload(&generate(inputs.path(), "slow.mp4", 15, 4))
        .await;
    let without = fixing.fixes(FixSettings {
        ffmpeg: Some(PathBuf::from("/nonexistent/ffmpeg")),
        ..FixSettings::default()
    });
    assert!(
        without
            .unavailable()
            .unwrap()
            .contains("ffmpeg was not found")
    );
    let fix = fixing.request(slow, None).await;
    fixing.run(&without).await;
    let done = env.store.media_fix(fix).await.unwrap().unwrap();
    assert_eq!(done.state, FixState::Failed);
    assert!(
        done.message
            .as_deref()
            .unwrap()
            .contains("/nonexistent/ffmpeg"),
        "{:?}",
        done.message
    );
}
