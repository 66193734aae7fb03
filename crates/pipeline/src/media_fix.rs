//! Autofix jobs: a `fix_media` job turns a media item TikTok would reject into a new item it
//! accepts (crate `tokpost-fix`: plan, ffmpeg, the probe's verdict on the result), then swaps
//! the new item into the post that asked for the fix, if that post is still at the revision it
//! was asked at.
//!
//! Invariants:
//! - the original item and its object are never changed; the fixed file becomes a new item
//!   (content-addressed, so the same result is the same item);
//! - at most [`FixSettings::max_running`] fixes run in one process at once; a job finding no
//!   room waits and tries again;
//! - ffmpeg runs within [`FixSettings::timeout`], its output within
//!   [`FixSettings::max_output_bytes`], its files in a temporary directory removed whatever
//!   happens (a lost lease drops the job's future, which kills ffmpeg's process group);
//! - a fix that cannot run here (no ffmpeg, no media store, media registered by URL) ends
//!   `failed` with the reason: never a retry loop, never a panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clock::SharedClock;
use futures_util::StreamExt as _;
use media::{FileVerdict, Limits, Severity};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Semaphore, watch};
use tokpost_core::{EventKind, JobKind, MediaFixId, MediaId, NewPostEvent, PostContent, PostSpec};
use tokpost_fix::{Change, Ffmpeg, FixError, FixOptions, Fixer, Outcome, PhotoFormat, WriteMode};
use tokpost_media_store::{ByteStream, MediaKey, PutOptions};
use tokpost_store::{
    FixEnd, FixState, Inserted, Job, MediaFix, NewMediaAsset, Revise, Store, StoreError,
};

use crate::media_access::{MediaAccess, MediaLocation};
use crate::worker::JobOutcome;

/// How a process runs fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixSettings {
    /// ffmpeg's path; `None`: `ffmpeg` on `PATH`.
    pub ffmpeg: Option<PathBuf>,
    /// The longest one ffmpeg run may take; its process group is killed then.
    pub timeout: Duration,
    /// Fixes running at once in this process (each is an ffmpeg using every core it can).
    pub max_running: usize,
    /// The largest fixed file kept (the upload limit).
    pub max_output_bytes: u64,
    /// Where a running fix keeps its input and output; the system's temporary directory when
    /// `None`.
    pub work_dir: Option<PathBuf>,
}

impl Default for FixSettings {
    fn default() -> Self {
        Self {
            ffmpeg: None,
            timeout: tokpost_fix::DEFAULT_TIMEOUT,
            max_running: 1,
            max_output_bytes: 4 * 1024 * 1024 * 1024,
            work_dir: None,
        }
    }
}

/// What a person allowed when asking for a fix, as stored with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct FixChoices {
    /// The creator's maximum video duration the result must keep to (TikTok's 600 s when
    /// unknown).
    pub max_duration_secs: Option<u32>,
    /// Cut the end of a video longer than the maximum.
    pub trim: bool,
    /// Scale a video under TikTok's minimum side up.
    pub upscale: bool,
    /// `jpeg` or `webp` for photos; `None` keeps JPEG and WebP, and makes the rest JPEG.
    pub photo_format: Option<PhotoChoice>,
}

/// The photo format a person may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoChoice {
    Jpeg,
    Webp,
}

impl FixChoices {
    fn options(self) -> FixOptions {
        FixOptions {
            limits: Limits {
                creator_max_video_duration_s: self.max_duration_secs,
            },
            trim: self.trim,
            upscale: self.upscale,
            photo_format: self.photo_format.map(|choice| match choice {
                PhotoChoice::Jpeg => PhotoFormat::Jpeg,
                PhotoChoice::Webp => PhotoFormat::Webp,
            }),
        }
    }
}

/// Runs `fix_media` jobs.
#[derive(Debug)]
pub struct MediaFixes {
    store: Arc<dyn Store>,
    clock: SharedClock,
    media: Option<MediaAccess>,
    settings: FixSettings,
    ffmpeg: Result<Ffmpeg, String>,
    running: Arc<Semaphore>,
}

/// How soon a fix that found no room tries again.
const NO_ROOM_RETRY: Duration = Duration::from_secs(15);
/// Progress is written when it moved at least this much (of 1000), so a fix writes about 20
/// times whatever its length.
const PROGRESS_STEP: u16 = 50;

impl MediaFixes {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        media: Option<MediaAccess>,
        settings: FixSettings,
    ) -> Self {
        let ffmpeg = Ffmpeg::locate(settings.ffmpeg.as_deref()).map_err(|missing| {
            format!(
                "{missing} (for the service: [fix] ffmpeg in tokpost.toml, or TOKPOST_FIX__FFMPEG)"
            )
        });
        let running = Arc::new(Semaphore::new(settings.max_running.max(1)));
        Self {
            store,
            clock,
            media,
            settings,
            ffmpeg,
            running,
        }
    }

    /// Why fixes cannot run in this process, if they cannot.
    #[must_use]
    pub fn unavailable(&self) -> Option<String> {
        match (&self.ffmpeg, &self.media) {
            (Err(missing), _) => Some(missing.clone()),
            (Ok(_), None) => {
                Some("this process has no media store to read uploads from".to_owned())
            }
            (Ok(_), Some(_)) => None,
        }
    }

    /// Runs one `fix_media` job.
    pub async fn run(&self, job: &Job) -> JobOutcome {
        if job.kind != JobKind::FixMedia {
            return JobOutcome::Done;
        }
        let Some(id) = job
            .payload
            .get("fix_id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse::<MediaFixId>().ok())
        else {
            return JobOutcome::Done;
        };
        let fix = match self.store.media_fix(id).await {
            Ok(Some(fix)) if !fix.state.is_final() => fix,
            Ok(_) => return JobOutcome::Done,
            Err(error) => return transient(&error),
        };
        let (ffmpeg, media) = match (&self.ffmpeg, &self.media) {
            (Ok(ffmpeg), Some(media)) => (ffmpeg.clone(), media.clone()),
            _ => {
                let reason = self.unavailable().unwrap_or_default();
                return self
                    .end(&fix, failed(format!("fixing is unavailable: {reason}")))
                    .await;
            }
        };
        let Ok(_room) = Arc::clone(&self.running).try_acquire_owned() else {
            return JobOutcome::RetryAt {
                at: clock::add(self.clock.now(), NO_ROOM_RETRY),
                reason: format!(
                    "waiting for room: {} fix(es) at once in this process",
                    self.settings.max_running.max(1)
                ),
            };
        };
        let end = match self.fix(&fix, ffmpeg, &media).await {
            Ok(end) => end,
            Err(Stop::Outcome(outcome)) => return outcome,
            Err(Stop::Failed(reason)) => failed(reason),
        };
        self.end(&fix, end).await
    }

    async fn end(&self, fix: &MediaFix, end: FixEnd) -> JobOutcome {
        match self.store.finish_fix(fix.id, end, self.clock.now()).await {
            Ok(_) => JobOutcome::Done,
            Err(error) => transient(&error),
        }
    }

    /// The fix itself: the input copied out of the media store, judged, fixed, stored as a new
    /// item, swapped into the post.
    async fn fix(
        &self,
        fix: &MediaFix,
        ffmpeg: Ffmpeg,
        media: &MediaAccess,
    ) -> Result<FixEnd, Stop> {
        let asset = match self.store.media(fix.media_id).await {
            Ok(Some(asset)) => asset,
            Ok(None) => return Err(Stop::Failed("the media item no longer exists".to_owned())),
            Err(error) => return Err(Stop::Outcome(transient(&error))),
        };
        let choices: FixChoices = serde_json::from_value(fix.options.clone()).unwrap_or_default();
        let work = self.work_dir()?;
        let input = work.path().join("input");
        match MediaLocation::of(&asset.location) {
            MediaLocation::Url(_) => {
                return Err(Stop::Failed(
                    "media registered by URL are downloaded by TikTok; tokpost has no copy to fix (upload the file instead)".to_owned(),
                ));
            }
            MediaLocation::Stored(key) => copy_out(media, &key, &input).await?,
            MediaLocation::LocalFile(path) => {
                tokio::fs::copy(&path, &input).await.map_err(|error| {
                    Stop::Failed(format!(
                        "the uploaded file {} cannot be read: {error}",
                        path.display()
                    ))
                })?;
            }
        }
        let output = work.path().join("fixed");
        let fixer = Fixer::new(ffmpeg, Arc::clone(&self.clock))
            .with_timeout(self.settings.timeout)
            .with_max_output_bytes(self.settings.max_output_bytes);
        self.progress(fix.id, 0, "judging the file").await;
        let prepared = fixer
            .prepare(&input, &output, &choices.options())
            .await
            .map_err(fix_failure)?;
        let stage = match &prepared.decision {
            tokpost_fix::Decision::Fix(plan) => stage(&plan.changes),
            _ => String::new(),
        };
        if !stage.is_empty() {
            self.progress(fix.id, 0, &stage).await;
        }
        let outcome = self.execute(fix.id, &fixer, prepared, &stage).await?;
        match outcome {
            Outcome::Acceptable { .. } => Ok(FixEnd {
                state: FixState::Fixed,
                changes: json!([]),
                message: Some("TikTok accepts the file as it is: nothing was changed".to_owned()),
                result_media_id: Some(fix.media_id),
            }),
            Outcome::Unfixable { reasons, .. } => Ok(FixEnd {
                state: FixState::Unfixable,
                changes: json!([]),
                message: Some(
                    reasons
                        .iter()
                        .map(|reason| reason.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                result_media_id: None,
            }),
            Outcome::StillRejected {
                changes, result, ..
            } => Ok(FixEnd {
                state: FixState::Failed,
                changes: changes_json(&changes),
                message: Some(format!(
                    "the changed file would still be rejected: {}",
                    errors_of(&result)
                )),
                result_media_id: None,
            }),
            Outcome::Fixed(report) => {
                let stored = self
                    .store_result(fix, asset.kind, &output, &report.output, media)
                    .await?;
                let swapped = self.swap(fix, stored).await?;
                Ok(FixEnd {
                    state: FixState::Fixed,
                    changes: changes_json(&report.changes),
                    message: swapped,
                    result_media_id: Some(stored),
                })
            }
        }
    }

    /// Runs ffmpeg for a prepared fix, writing its progress as it goes.
    async fn execute(
        &self,
        id: MediaFixId,
        fixer: &Fixer,
        prepared: tokpost_fix::Prepared,
        stage: &str,
    ) -> Result<Outcome, Stop> {
        let (sender, mut receiver) = watch::channel(0_u16);
        let run = async move {
            let mut on_progress = move |progress: tokpost_fix::Progress| {
                let permille = (progress.fraction.clamp(0.0, 1.0) * 1000.0).round();
                // In 0..=1000 after the clamp.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                sender.send_replace(permille as u16);
            };
            fixer
                .execute(prepared, WriteMode::Overwrite, &mut on_progress)
                .await
        };
        let report = async {
            let mut written = 0_u16;
            while receiver.changed().await.is_ok() {
                let permille = *receiver.borrow_and_update();
                if permille >= written.saturating_add(PROGRESS_STEP) {
                    written = permille;
                    self.progress(id, permille, stage).await;
                }
            }
        };
        let (outcome, ()) = tokio::join!(run, report);
        outcome.map_err(fix_failure)
    }

    async fn progress(&self, id: MediaFixId, permille: u16, stage: &str) {
        if let Err(error) = self
            .store
            .record_fix_progress(id, permille, stage, self.clock.now())
            .await
        {
            // Progress is for people watching; the fix goes on without it.
            tracing::warn!(fix = %id, %error, "could not record a fix's progress");
        }
    }

    fn work_dir(&self) -> Result<tempfile::TempDir, Stop> {
        let parent = self
            .settings
            .work_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&parent)
            .and_then(|()| {
                tempfile::Builder::new()
                    .prefix("tokpost-fix-")
                    .tempdir_in(&parent)
            })
            .map_err(|error| {
                Stop::Failed(format!(
                    "no working directory for the fix in {}: {error}",
                    parent.display()
                ))
            })
    }

    /// Puts the fixed file into the media store and records it as a media item.
    async fn store_result(
        &self,
        fix: &MediaFix,
        kind: tokpost_store::MediaKind,
        output: &Path,
        verdict: &FileVerdict,
        media: &MediaAccess,
    ) -> Result<MediaId, Stop> {
        let file = tokio::fs::File::open(output).await.map_err(|error| {
            Stop::Failed(format!("the fixed file cannot be read back: {error}"))
        })?;
        let content: ByteStream = Box::pin(tokio_util::io::ReaderStream::new(file));
        let stored = media
            .store()
            .put(
                content,
                PutOptions::limited_to(self.settings.max_output_bytes),
            )
            .await
            .map_err(|error| {
                Stop::Outcome(JobOutcome::Transient {
                    error: format!("media store: {error}"),
                })
            })?;
        let probe = crate::media_access::probe_record(verdict);
        let inserted = self
            .store
            .add_media(
                NewMediaAsset {
                    workspace_id: fix.workspace_id,
                    kind,
                    content_hash: stored.sha256_hex.to_string(),
                    size_bytes: stored.size_bytes,
                    location: stored.key.to_string(),
                    probe,
                },
                self.clock.now(),
            )
            .await
            .map_err(|error| Stop::Outcome(transient(&error)))?;
        Ok(match inserted {
            Inserted::Created(asset) | Inserted::Existing(asset) => asset.id,
        })
    }

    /// Puts the fixed item in place of the original in the post that asked, if it is still at
    /// the revision it was asked at and may still change. What became of it, in words.
    async fn swap(&self, fix: &MediaFix, fixed: MediaId) -> Result<Option<String>, Stop> {
        let Some((post_id, revision)) = fix.post else {
            return Ok(None);
        };
        let post = match self.store.post(post_id).await {
            Ok(Some(post)) => post,
            Ok(None) => {
                return Ok(Some(
                    "the post that asked for it no longer exists".to_owned(),
                ));
            }
            Err(error) => return Err(Stop::Outcome(transient(&error))),
        };
        if post.revision != revision {
            return Ok(Some(format!(
                "not swapped into the post: it was edited since the fix was asked for (revision {revision}, now {})",
                post.revision
            )));
        }
        if !post.state.kind().is_editable() {
            return Ok(Some(format!(
                "not swapped into the post: it is `{}` and can no longer change",
                post.state.kind().as_str()
            )));
        }
        let Some(spec) = with_media_replaced(&post.spec, fix.media_id, fixed) else {
            return Ok(Some(
                "not swapped into the post: it no longer uses the original file".to_owned(),
            ));
        };
        let now = self.clock.now();
        let revised = self
            .store
            .revise_post(
                Revise {
                    post: post.id,
                    expected: post.state,
                    revision,
                    spec: Some(spec),
                    scheduled_at: post.scheduled_at,
                    event: NewPostEvent::new(
                        now,
                        EventKind::Edited,
                        "edited: media (the fixed file tokpost made in place of the original)",
                    )
                    .by(fix.requested_by),
                    prepared_frozen_from: clock::add(now, crate::policy::PREPARED_POST_FROZEN_FOR),
                },
                now,
            )
            .await
            .map_err(|error| Stop::Outcome(transient(&error)))?;
        Ok(Some(match revised {
            Some(post) => format!("swapped into the post (now revision {})", post.revision),
            None => "not swapped into the post: it moved or was edited meanwhile".to_owned(),
        }))
    }
}

/// Why a fix stopped before its end: a job outcome to return as is (a store that failed), or a
/// reason to end the fix `failed` with.
enum Stop {
    Outcome(JobOutcome),
    Failed(String),
}

fn fix_failure(error: FixError) -> Stop {
    if error.retryable() {
        Stop::Outcome(JobOutcome::Transient {
            error: error.to_string(),
        })
    } else {
        Stop::Failed(error.to_string())
    }
}

fn failed(reason: String) -> FixEnd {
    FixEnd {
        state: FixState::Failed,
        changes: json!([]),
        message: Some(reason),
        result_media_id: None,
    }
}

fn transient(error: &StoreError) -> JobOutcome {
    JobOutcome::Transient {
        error: format!("store: {error}"),
    }
}

/// Streams a stored object into a local file.
async fn copy_out(media: &MediaAccess, key: &MediaKey, to: &Path) -> Result<(), Stop> {
    let unreadable = |error: &dyn std::fmt::Display| {
        Stop::Outcome(JobOutcome::Transient {
            error: format!("media store: {error}"),
        })
    };
    let len = media.store().len(key).await.map_err(|e| unreadable(&e))?;
    let mut stream = media
        .store()
        .read_range(key, 0..len)
        .await
        .map_err(|e| unreadable(&e))?;
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(|e| Stop::Failed(format!("cannot write the fix's input: {e}")))?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| unreadable(&e))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| Stop::Failed(format!("cannot write the fix's input: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| Stop::Failed(format!("cannot write the fix's input: {e}")))
}

/// What ffmpeg is doing, for people watching: the aspects that change (a re-encode into the
/// same codec is not news).
fn stage(changes: &[Change]) -> String {
    let changing: Vec<String> = changes
        .iter()
        .filter(|change| change.is_change() && change.to.as_deref() != Some(change.from.as_str()))
        .map(|change| {
            format!(
                "{} {} → {}",
                change.aspect,
                change.from,
                change.to.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if changing.is_empty() {
        "rewriting the file".to_owned()
    } else {
        changing.join("; ")
    }
}

fn changes_json(changes: &[Change]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|change| {
                let mut value = serde_json::to_value(change).unwrap_or(Value::Null);
                if let Some(object) = value.as_object_mut() {
                    object.insert("summary".to_owned(), json!(change.to_string()));
                }
                value
            })
            .collect(),
    )
}

fn errors_of(verdict: &FileVerdict) -> String {
    verdict
        .problems
        .iter()
        .filter(|problem| problem.severity == Severity::Error)
        .map(|problem| problem.message.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `spec` with `fixed` in place of `original`, or `None` when it does not use `original`.
fn with_media_replaced(spec: &PostSpec, original: MediaId, fixed: MediaId) -> Option<PostSpec> {
    let mut spec = spec.clone();
    match &mut spec.content {
        PostContent::Video { media, .. } if *media == original => *media = fixed,
        PostContent::Photos { media, .. } if media.contains(&original) => {
            for item in media.iter_mut().filter(|item| **item == original) {
                *item = fixed;
            }
        }
        _ => return None,
    }
    Some(spec)
}
