//! Chunked media transfer (tiktok-api.md §6): a pure planner for TikTok's chunk geometry and a
//! streaming uploader.
//!
//! The planner is a pure function of the file size. The uploader reads the file from disk one
//! chunk at a time through a small buffer (memory stays at one read buffer, never a whole
//! chunk or file), sends each chunk with `Content-Type`, `Content-Length` and an inclusive
//! `Content-Range`, and turns every answer into a step: 206 next chunk, 201 done, 416 re-sync
//! from TikTok's progress header, 5xx or a dropped connection retry the same chunk after a
//! back-off on the injected clock, 403 the URL expired, 404 no such task, 400 rejected.
//!
//! It does not decide what happens after an expired URL (a new init is the caller's call) and
//! it never persists anything: progress goes to a callback, and resuming takes an offset.
//!
//! # Re-sync after dropped connections
//!
//! A real upload server may answer a chunk (416 because it already holds that chunk, 403, …)
//! before it has read the body, and close the connection. The client then sees a broken pipe or
//! a reset instead of the answer, and resending the same chunk only repeats that. So after
//! [`DROPS_BEFORE_RESYNC`] dropped connections in a row on one chunk, the uploader asks where
//! TikTok stands before it retries:
//!
//! * [`TikTokClient::upload`] sends a **zero-length probe**: a `PUT` with `Content-Length: 0`
//!   and `Content-Range: bytes */{TOTAL}`. With no body there is nothing the server can refuse to
//!   read, so its answer arrives: a progress header moves the upload to the chunk boundary it
//!   names (or completes it), 403 and 404 end it as [`UploadOutcome::UrlExpired`] and
//!   [`UploadOutcome::TaskNotFound`] (answers the dropped chunks may have hidden), anything else
//!   leaves the retry as it was. How TikTok itself answers such a probe is not documented
//!   (UNCONFIRMED); an answer without a usable progress header simply changes nothing.
//! * [`TikTokClient::upload_with_resync`] asks a caller-supplied async hook instead, which returns
//!   the acknowledged byte count (the publishing pipeline answers with status fetch's documented
//!   `uploaded_bytes`, §8) or `None` when it cannot tell; no probe is sent.
//!
//! The probe is the default because it needs nothing beyond the existing [`UploadJob`] and
//! [`UploadOutcome`] (no new field, no change for existing callers) and because it can also
//! reveal an expired URL; the hook exists because only status fetch is a documented source of
//! progress. A learned offset must be a chunk boundary of the plan or the end of the file,
//! otherwise it is ignored. Moving to another chunk counts against [`UploadRetry::max_resyncs`]
//! like a 416 re-sync; learning that TikTok expects the same chunk leaves the retry budget
//! running, so an endlessly dropping server still ends in [`UploadOutcome::GaveUp`].

use std::fmt;
use std::future::Future;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;

use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::catalog::ids;
use crate::client::TikTokClient;
use crate::failure::TikTokFailure;
use crate::wire::UploadUrl;

/// Smallest chunk TikTok accepts except for files below it: 5 MiB (the docs' "5 MB", read as
/// the stricter binary unit).
pub const MIN_CHUNK_SIZE: u64 = 5 * 1024 * 1024;
/// Largest regular chunk: 64,000,000 bytes (the docs' "64 MB", read as the stricter decimal
/// unit).
pub const MAX_CHUNK_SIZE: u64 = 64_000_000;
/// Largest final chunk, which absorbs the remainder: 128,000,000 bytes.
pub const MAX_LAST_CHUNK_SIZE: u64 = 128_000_000;
/// Most chunks one upload may have.
pub const MAX_CHUNK_COUNT: u64 = 1000;
/// Chunk size the planner aims for unless told otherwise: small enough to resume cheaply,
/// large enough to keep a 4 GB file well under 1000 chunks.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 * 1024 * 1024;
/// Read buffer of the streaming body; the only per-upload allocation that scales with data.
const READ_BUFFER: usize = 256 * 1024;
/// Dropped connections in a row on one chunk after which the uploader re-syncs (probe or hook)
/// before retrying: one drop is ordinary network trouble, a second suggests the server is
/// answering early and closing before it reads the body.
pub const DROPS_BEFORE_RESYNC: u32 = 2;

/// The chunk geometry of one upload, as declared at init (`video_size`, `chunk_size`,
/// `total_chunk_count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkPlan {
    video_size: u64,
    chunk_size: u64,
    total_chunk_count: u64,
}

/// Why a file cannot be uploaded in chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkPlanError {
    /// An empty file.
    #[error("an empty file cannot be uploaded")]
    Empty,
    /// Even 1000 chunks of the largest size cannot hold it.
    #[error(
        "{video_size} bytes cannot be split into at most 1000 chunks of at most 64,000,000 bytes"
    )]
    TooLarge {
        /// The file size.
        video_size: u64,
    },
}

/// One chunk of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Chunk {
    /// 0-based position.
    pub index: u64,
    /// Offset of the first byte.
    pub first_byte: u64,
    /// Number of bytes.
    pub len: u64,
}

impl Chunk {
    /// Offset of the last byte (inclusive).
    #[must_use]
    pub fn last_byte(&self) -> u64 {
        self.first_byte + self.len.saturating_sub(1)
    }

    /// Offset just past this chunk.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.first_byte + self.len
    }
}

impl ChunkPlan {
    /// Plans `video_size` bytes with [`DEFAULT_CHUNK_SIZE`].
    ///
    /// # Errors
    /// See [`ChunkPlan::new`].
    pub fn for_size(video_size: u64) -> Result<Self, ChunkPlanError> {
        Self::new(video_size, DEFAULT_CHUNK_SIZE)
    }

    /// Plans `video_size` bytes in chunks as close to `preferred_chunk_size` as TikTok's rules
    /// allow:
    ///
    /// * below 5 MiB: one piece, `chunk_size = video_size`;
    /// * otherwise chunks of 5 MiB–64,000,000 bytes, `total_chunk_count = floor(size / chunk)`,
    ///   the last chunk absorbing the remainder (so it stays below 2 × chunk ≤ 128,000,000);
    /// * at most 1000 chunks (the chunk grows if needed);
    /// * a file above 64,000,000 bytes is always split (at least two chunks);
    /// * a plan with a single chunk declares `chunk_size = video_size`.
    ///
    /// # Errors
    /// [`ChunkPlanError::Empty`] for 0 bytes, [`ChunkPlanError::TooLarge`] beyond
    /// 1001 × 64,000,000 − 1 bytes.
    pub fn new(video_size: u64, preferred_chunk_size: u64) -> Result<Self, ChunkPlanError> {
        if video_size == 0 {
            return Err(ChunkPlanError::Empty);
        }
        if video_size < MIN_CHUNK_SIZE {
            return Ok(Self::single(video_size));
        }
        // floor(size / 64 MB) must not exceed 1000.
        if video_size / MAX_CHUNK_SIZE > MAX_CHUNK_COUNT {
            return Err(ChunkPlanError::TooLarge { video_size });
        }
        let mut chunk_size = preferred_chunk_size.clamp(MIN_CHUNK_SIZE, MAX_CHUNK_SIZE);
        // Smallest chunk with floor(size / chunk) <= 1000.
        chunk_size = chunk_size.max(video_size / (MAX_CHUNK_COUNT + 1) + 1);
        if video_size > MAX_CHUNK_SIZE {
            chunk_size = chunk_size.min(video_size / 2);
        }
        let total_chunk_count = video_size / chunk_size;
        if total_chunk_count <= 1 {
            return Ok(Self::single(video_size));
        }
        Ok(Self {
            video_size,
            chunk_size,
            total_chunk_count,
        })
    }

    fn single(video_size: u64) -> Self {
        Self {
            video_size,
            chunk_size: video_size,
            total_chunk_count: 1,
        }
    }

    /// Total bytes (`video_size`).
    #[must_use]
    pub fn video_size(&self) -> u64 {
        self.video_size
    }

    /// Declared chunk size (`chunk_size`).
    #[must_use]
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// Declared number of chunks (`total_chunk_count`).
    #[must_use]
    pub fn total_chunk_count(&self) -> u64 {
        self.total_chunk_count
    }

    /// The chunk at `index`, if the plan has one.
    #[must_use]
    pub fn chunk(&self, index: u64) -> Option<Chunk> {
        if index >= self.total_chunk_count {
            return None;
        }
        let first_byte = index * self.chunk_size;
        let len = if index + 1 == self.total_chunk_count {
            self.video_size - first_byte
        } else {
            self.chunk_size
        };
        Some(Chunk {
            index,
            first_byte,
            len,
        })
    }

    /// The chunk that starts exactly at `offset` (resume points must be chunk boundaries).
    #[must_use]
    pub fn chunk_starting_at(&self, offset: u64) -> Option<Chunk> {
        if self.chunk_size == 0 || !offset.is_multiple_of(self.chunk_size) {
            return None;
        }
        self.chunk(offset / self.chunk_size)
            .filter(|chunk| chunk.first_byte == offset)
    }

    /// Every chunk, in order.
    pub fn chunks(&self) -> impl Iterator<Item = Chunk> + '_ {
        (0..self.total_chunk_count).filter_map(|index| self.chunk(index))
    }
}

/// The media types TikTok accepts for uploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoContentType {
    /// `video/mp4`
    Mp4,
    /// `video/quicktime`
    QuickTime,
    /// `video/webm`
    WebM,
}

impl VideoContentType {
    /// The MIME type as sent.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mp4 => "video/mp4",
            Self::QuickTime => "video/quicktime",
            Self::WebM => "video/webm",
        }
    }
}

/// How hard the uploader tries before giving up on a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadRetry {
    /// Attempts per chunk against 5xx, 429 and dropped connections (first try included).
    pub attempts_per_chunk: u32,
    /// Wait before the first retry; doubled for each further retry.
    pub first_backoff: Duration,
    /// Upper bound of one wait.
    pub max_backoff: Duration,
    /// Consecutive 416 re-syncs tolerated without an accepted chunk in between.
    pub max_resyncs: u32,
}

impl Default for UploadRetry {
    fn default() -> Self {
        Self {
            attempts_per_chunk: 5,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_resyncs: 3,
        }
    }
}

impl UploadRetry {
    /// The longest wait before retry number `retry` (1 = first retry): exponential, capped.
    /// The actual wait is [`with_jitter`] of it.
    #[must_use]
    pub fn backoff_before(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// A stream of one chunk's bytes, read from wherever the video is kept.
pub type ChunkStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Storage that can hand out any byte range of one video (object storage, a media store on
/// another machine): the uploader asks it for each chunk's range, so a resumed upload never
/// reads what TikTok already holds and no more than one read buffer is in memory.
pub trait RangeReader: Send + Sync + fmt::Debug {
    /// The video's size in bytes.
    fn size(&self) -> BoxFuture<'_, std::io::Result<u64>>;
    /// `len` bytes from `first_byte` on, streamed.
    fn read(&self, first_byte: u64, len: u64) -> BoxFuture<'_, std::io::Result<ChunkStream>>;
    /// How the video is named in error messages (never a credential).
    fn name(&self) -> String;
}

/// Where the uploader reads the video's bytes.
#[derive(Clone, Debug)]
pub enum ChunkSource {
    /// A file on this machine.
    File(PathBuf),
    /// Any storage with range reads.
    Ranged(Arc<dyn RangeReader>),
}

impl From<PathBuf> for ChunkSource {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

impl ChunkSource {
    fn name(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Ranged(reader) => PathBuf::from(reader.name()),
        }
    }

    async fn size(&self) -> Result<u64, UploadError> {
        match self {
            Self::File(path) => Ok(tokio::fs::metadata(path)
                .await
                .map_err(|source| io_error(path, source))?
                .len()),
            Self::Ranged(reader) => reader
                .size()
                .await
                .map_err(|source| io_error(&self.name(), source)),
        }
    }

    async fn chunk(&self, chunk: Chunk) -> Result<ChunkStream, UploadError> {
        match self {
            Self::File(path) => {
                let mut file = tokio::fs::File::open(path)
                    .await
                    .map_err(|source| io_error(path, source))?;
                file.seek(SeekFrom::Start(chunk.first_byte))
                    .await
                    .map_err(|source| io_error(path, source))?;
                Ok(Box::pin(ReaderStream::with_capacity(
                    file.take(chunk.len),
                    READ_BUFFER,
                )))
            }
            Self::Ranged(reader) => reader
                .read(chunk.first_byte, chunk.len)
                .await
                .map_err(|source| io_error(&self.name(), source)),
        }
    }
}

/// One upload to run.
#[derive(Clone, Debug)]
pub struct UploadJob {
    /// Where to `PUT` (verbatim, query string included).
    pub upload_url: UploadUrl,
    /// Where the video's bytes are; its size must equal the plan's.
    pub source: ChunkSource,
    /// The geometry declared at init.
    pub plan: ChunkPlan,
    /// The `Content-Type` of every chunk.
    pub content_type: VideoContentType,
    /// Bytes TikTok already acknowledged (0 for a fresh upload). Must be a chunk boundary.
    pub resume_from: u64,
    /// Retry budget.
    pub retry: UploadRetry,
}

/// Progress reported after every acknowledged chunk and every re-sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadProgress {
    /// Bytes TikTok holds; resume from here.
    pub acknowledged_bytes: u64,
    /// The file size.
    pub total_bytes: u64,
}

/// How an upload ended. Remote outcomes are values; only local problems are errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadOutcome {
    /// TikTok answered 201 (or its progress header showed every byte received).
    Completed {
        /// The file size.
        total_bytes: u64,
    },
    /// 403: the upload URL expired (one hour after init). A new init is needed.
    UrlExpired {
        /// Bytes acknowledged before it expired.
        acknowledged_bytes: u64,
        /// The native answer.
        failure: TikTokFailure,
    },
    /// 404: no upload task behind the URL. A new init is needed.
    TaskNotFound {
        /// Bytes acknowledged before.
        acknowledged_bytes: u64,
        /// The native answer.
        failure: TikTokFailure,
    },
    /// 400 or another answer that resending the chunk cannot fix.
    Rejected {
        /// Bytes acknowledged before.
        acknowledged_bytes: u64,
        /// The native answer.
        failure: TikTokFailure,
    },
    /// The retry or re-sync budget ran out; resuming later from `acknowledged_bytes` is safe.
    GaveUp {
        /// Bytes acknowledged before.
        acknowledged_bytes: u64,
        /// The last failure seen.
        failure: TikTokFailure,
    },
}

impl UploadOutcome {
    /// Bytes TikTok holds.
    #[must_use]
    pub fn acknowledged_bytes(&self) -> u64 {
        match self {
            Self::Completed { total_bytes } => *total_bytes,
            Self::UrlExpired {
                acknowledged_bytes, ..
            }
            | Self::TaskNotFound {
                acknowledged_bytes, ..
            }
            | Self::Rejected {
                acknowledged_bytes, ..
            }
            | Self::GaveUp {
                acknowledged_bytes, ..
            } => *acknowledged_bytes,
        }
    }

    /// The failure, unless completed.
    #[must_use]
    pub fn failure(&self) -> Option<&TikTokFailure> {
        match self {
            Self::Completed { .. } => None,
            Self::UrlExpired { failure, .. }
            | Self::TaskNotFound { failure, .. }
            | Self::Rejected { failure, .. }
            | Self::GaveUp { failure, .. } => Some(failure),
        }
    }
}

/// Local problems that stop an upload before or between chunks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The file could not be opened, measured or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file's size is not the size declared at init.
    #[error("the file has {actual} bytes but the upload was declared with {declared}")]
    SizeMismatch {
        /// Size in the plan.
        declared: u64,
        /// Size on disk.
        actual: u64,
    },
    /// The resume offset is not where a chunk of the plan starts.
    #[error(
        "cannot resume at byte {offset}: chunks of this plan start at multiples of {chunk_size} below {video_size}"
    )]
    ResumeOffset {
        /// The offset asked for.
        offset: u64,
        /// The plan's chunk size.
        chunk_size: u64,
        /// The plan's total.
        video_size: u64,
    },
}

/// One chunk answer.
struct ChunkAnswer {
    status: u16,
    progress: Option<String>,
    body: String,
}

/// What a re-sync after dropped connections found out.
enum Learned {
    /// TikTok holds this many bytes (a chunk boundary or the end of the file).
    Offset(u64),
    /// The probe was answered 403: the URL expired.
    Expired(TikTokFailure),
    /// The probe was answered 404: no such task.
    NotFound(TikTokFailure),
    /// Nothing usable.
    Unknown,
}

/// No hook: [`TikTokClient::upload`] probes instead.
type NoHook = fn() -> std::future::Ready<Option<u64>>;

/// Whether `offset` is a place an upload can continue from: a chunk boundary or the end.
fn is_resume_point(plan: &ChunkPlan, offset: u64) -> bool {
    offset == plan.video_size() || plan.chunk_starting_at(offset).is_some()
}

/// Where TikTok's progress header (`Content-Range: bytes 0-{N}/{TOTAL}`) says to continue.
///
/// Whether `N` is the last received index (HTTP's inclusive reading) or a byte count is not
/// documented. Both are tried, the index reading first: the answer is whichever lands on a
/// chunk boundary of `plan` (or on the end of the file). Because chunks are never shorter than
/// one byte, the two readings can only both land on boundaries for a one-byte file, where the
/// index reading wins. `bytes */TOTAL` means nothing was received. A header for another total,
/// or one pointing inside a chunk, gives `None`.
#[must_use]
pub fn resync_offset(plan: &ChunkPlan, header: &str) -> Option<u64> {
    let range = header.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = range.split_once('/')?;
    if total.trim().parse::<u64>().ok()? != plan.video_size() {
        return None;
    }
    let candidates: Vec<u64> = if span.trim() == "*" {
        vec![0]
    } else {
        let (first, last) = span.split_once('-')?;
        if first.trim().parse::<u64>().ok()? != 0 {
            return None;
        }
        let last: u64 = last.trim().parse().ok()?;
        vec![last.saturating_add(1), last]
    };
    candidates
        .into_iter()
        .find(|&offset| offset == plan.video_size() || plan.chunk_starting_at(offset).is_some())
}

impl TikTokClient {
    /// Uploads `job.source` chunk by chunk from `job.resume_from`, reporting progress after every
    /// acknowledged chunk. Repeated dropped connections on one chunk are followed by a
    /// zero-length probe (see the module docs).
    ///
    /// # Errors
    /// Only local problems ([`UploadError`]); every answer from TikTok is an [`UploadOutcome`].
    pub async fn upload<F>(
        &self,
        job: &UploadJob,
        on_progress: F,
    ) -> Result<UploadOutcome, UploadError>
    where
        F: FnMut(UploadProgress) + Send,
    {
        self.run_upload(job, None::<&NoHook>, on_progress).await
    }

    /// Like [`TikTokClient::upload`], but repeated dropped connections on one chunk are followed
    /// by a call to `resync` instead of a probe. `resync` returns the bytes TikTok has
    /// acknowledged (status fetch's `uploaded_bytes`), or `None` when it cannot tell; a count
    /// that is not a chunk boundary of the plan is ignored.
    ///
    /// # Errors
    /// Only local problems ([`UploadError`]); every answer from TikTok is an [`UploadOutcome`].
    pub async fn upload_with_resync<R, Fut, F>(
        &self,
        job: &UploadJob,
        resync: R,
        on_progress: F,
    ) -> Result<UploadOutcome, UploadError>
    where
        R: Fn() -> Fut + Sync,
        Fut: Future<Output = Option<u64>> + Send,
        F: FnMut(UploadProgress) + Send,
    {
        self.run_upload(job, Some(&resync), on_progress).await
    }

    async fn run_upload<R, Fut, F>(
        &self,
        job: &UploadJob,
        resync: Option<&R>,
        mut on_progress: F,
    ) -> Result<UploadOutcome, UploadError>
    where
        R: Fn() -> Fut + Sync,
        Fut: Future<Output = Option<u64>> + Send,
        F: FnMut(UploadProgress) + Send,
    {
        let plan = job.plan;
        let total = plan.video_size();
        let actual = job.source.size().await?;
        if actual != total {
            return Err(UploadError::SizeMismatch {
                declared: total,
                actual,
            });
        }
        if plan.chunk_starting_at(job.resume_from).is_none() {
            return Err(UploadError::ResumeOffset {
                offset: job.resume_from,
                chunk_size: plan.chunk_size(),
                video_size: total,
            });
        }

        let mut offset = job.resume_from;
        let mut failed_attempts: u32 = 0;
        let mut resyncs: u32 = 0;
        let mut drops_in_a_row: u32 = 0;
        loop {
            let Some(chunk) = plan.chunk_starting_at(offset) else {
                // Only a re-sync can move the offset, and it lands on boundaries; this is a
                // defensive stop rather than a loop on a position that has no chunk.
                return Ok(UploadOutcome::GaveUp {
                    acknowledged_bytes: offset,
                    failure: TikTokFailure::from_status(
                        ids::UPLOAD_RANGE_MISMATCH,
                        416,
                        String::new(),
                    ),
                });
            };
            let answer = match self.put_chunk(job, chunk).await? {
                Ok(answer) => {
                    drops_in_a_row = 0;
                    answer
                }
                Err(transport) => {
                    failed_attempts += 1;
                    drops_in_a_row += 1;
                    if drops_in_a_row >= DROPS_BEFORE_RESYNC {
                        let learned = match resync {
                            Some(hook) => match hook().await {
                                Some(bytes) if is_resume_point(&plan, bytes) => {
                                    Learned::Offset(bytes)
                                }
                                Some(bytes) => {
                                    tracing::warn!(
                                        bytes,
                                        "re-sync hook named no chunk boundary; ignored"
                                    );
                                    Learned::Unknown
                                }
                                None => Learned::Unknown,
                            },
                            None => self.probe(job).await,
                        };
                        match learned {
                            Learned::Offset(target) if target != offset => {
                                resyncs += 1;
                                if resyncs > job.retry.max_resyncs {
                                    return Ok(UploadOutcome::GaveUp {
                                        acknowledged_bytes: offset,
                                        failure: transport,
                                    });
                                }
                                tracing::debug!(
                                    from = offset,
                                    to = target,
                                    "upload re-synced after dropped connections"
                                );
                                offset = target;
                                failed_attempts = 0;
                                drops_in_a_row = 0;
                                on_progress(UploadProgress {
                                    acknowledged_bytes: offset,
                                    total_bytes: total,
                                });
                                if offset == total {
                                    return Ok(UploadOutcome::Completed { total_bytes: total });
                                }
                                continue;
                            }
                            Learned::Expired(failure) => {
                                return Ok(UploadOutcome::UrlExpired {
                                    acknowledged_bytes: offset,
                                    failure,
                                });
                            }
                            Learned::NotFound(failure) => {
                                return Ok(UploadOutcome::TaskNotFound {
                                    acknowledged_bytes: offset,
                                    failure,
                                });
                            }
                            Learned::Offset(_) | Learned::Unknown => {}
                        }
                    }
                    if failed_attempts >= job.retry.attempts_per_chunk {
                        return Ok(UploadOutcome::GaveUp {
                            acknowledged_bytes: offset,
                            failure: transport,
                        });
                    }
                    self.back_off(&job.retry, failed_attempts).await;
                    continue;
                }
            };
            match answer.status {
                201 => {
                    on_progress(UploadProgress {
                        acknowledged_bytes: total,
                        total_bytes: total,
                    });
                    return Ok(UploadOutcome::Completed { total_bytes: total });
                }
                206 if chunk.end() < total => {
                    offset = chunk.end();
                    failed_attempts = 0;
                    resyncs = 0;
                    on_progress(UploadProgress {
                        acknowledged_bytes: offset,
                        total_bytes: total,
                    });
                }
                // 416, or a 206 for the last chunk (TikTok wants more than the plan has):
                // believe TikTok's own account of what it holds.
                206 | 416 => {
                    resyncs += 1;
                    let target = answer
                        .progress
                        .as_deref()
                        .and_then(|header| resync_offset(&plan, header));
                    match target {
                        Some(target) if resyncs <= job.retry.max_resyncs => {
                            tracing::debug!(from = offset, to = target, "upload re-synced");
                            offset = target;
                            on_progress(UploadProgress {
                                acknowledged_bytes: offset,
                                total_bytes: total,
                            });
                            if offset == total {
                                return Ok(UploadOutcome::Completed { total_bytes: total });
                            }
                        }
                        _ => {
                            return Ok(UploadOutcome::GaveUp {
                                acknowledged_bytes: offset,
                                failure: TikTokFailure::from_status(
                                    ids::UPLOAD_RANGE_MISMATCH,
                                    answer.status,
                                    answer.body,
                                ),
                            });
                        }
                    }
                }
                403 => {
                    return Ok(UploadOutcome::UrlExpired {
                        acknowledged_bytes: offset,
                        failure: TikTokFailure::from_status(
                            ids::UPLOAD_URL_EXPIRED,
                            403,
                            answer.body,
                        ),
                    });
                }
                404 => {
                    return Ok(UploadOutcome::TaskNotFound {
                        acknowledged_bytes: offset,
                        failure: TikTokFailure::from_status(
                            ids::UPLOAD_NOT_FOUND,
                            404,
                            answer.body,
                        ),
                    });
                }
                429 | 500..=599 => {
                    failed_attempts += 1;
                    let id = if answer.status == 429 {
                        ids::HTTP_429
                    } else {
                        ids::HTTP_5XX
                    };
                    if failed_attempts >= job.retry.attempts_per_chunk {
                        return Ok(UploadOutcome::GaveUp {
                            acknowledged_bytes: offset,
                            failure: TikTokFailure::from_status(id, answer.status, answer.body),
                        });
                    }
                    self.back_off(&job.retry, failed_attempts).await;
                }
                400 => {
                    return Ok(UploadOutcome::Rejected {
                        acknowledged_bytes: offset,
                        failure: TikTokFailure::from_status(ids::UPLOAD_REJECTED, 400, answer.body),
                    });
                }
                other => {
                    return Ok(UploadOutcome::Rejected {
                        acknowledged_bytes: offset,
                        failure: TikTokFailure {
                            classification: crate::catalog::Classification::Unknown,
                            ..TikTokFailure::from_status(ids::UPLOAD_REJECTED, other, answer.body)
                        },
                    });
                }
            }
        }
    }

    /// Asks the upload server where it stands with a `PUT` that carries no body
    /// (`Content-Range: bytes */{TOTAL}`).
    async fn probe(&self, job: &UploadJob) -> Learned {
        let request = self
            .http
            .put(job.upload_url.as_url().clone())
            .header(CONTENT_TYPE, job.content_type.as_str())
            .header(CONTENT_LENGTH, 0)
            .header(CONTENT_RANGE, format!("bytes */{}", job.plan.video_size()))
            .body(Vec::new())
            .timeout(self.config.upload_chunk_timeout);
        let started = self.clock.now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, "upload probe failed");
                crate::client::record_call(
                    "upload_probe",
                    "transport",
                    "none",
                    started,
                    self.clock.now(),
                );
                return Learned::Unknown;
            }
        };
        let status = response.status().as_u16();
        crate::client::record_call(
            "upload_probe",
            &status.to_string(),
            "none",
            started,
            self.clock.now(),
        );
        let progress = response
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|value| value.to_str().ok())
            .and_then(|header| resync_offset(&job.plan, header));
        let body = response.text().await.unwrap_or_default();
        tracing::debug!(status, ?progress, "upload probe answered");
        match (status, progress) {
            (403, _) => Learned::Expired(TikTokFailure::from_status(
                ids::UPLOAD_URL_EXPIRED,
                403,
                body,
            )),
            (404, _) => {
                Learned::NotFound(TikTokFailure::from_status(ids::UPLOAD_NOT_FOUND, 404, body))
            }
            (_, Some(offset)) => Learned::Offset(offset),
            (_, None) => Learned::Unknown,
        }
    }

    async fn back_off(&self, retry: &UploadRetry, failed_attempts: u32) {
        let wait = with_jitter(retry.backoff_before(failed_attempts));
        clock::sleep(self.clock.as_ref(), wait).await;
    }

    /// Sends one chunk. The outer `Result` is a local read problem; the inner one separates an
    /// HTTP answer from a transport failure.
    async fn put_chunk(
        &self,
        job: &UploadJob,
        chunk: Chunk,
    ) -> Result<Result<ChunkAnswer, TikTokFailure>, UploadError> {
        let body = reqwest::Body::wrap_stream(job.source.chunk(chunk).await?);
        let request = self
            .http
            .put(job.upload_url.as_url().clone())
            .header(CONTENT_TYPE, job.content_type.as_str())
            .header(CONTENT_LENGTH, chunk.len)
            .header(
                CONTENT_RANGE,
                format!(
                    "bytes {}-{}/{}",
                    chunk.first_byte,
                    chunk.last_byte(),
                    job.plan.video_size()
                ),
            )
            .body(body)
            .timeout(self.config.upload_chunk_timeout);
        let started = self.clock.now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let failure = TikTokFailure::from_transport(error);
                crate::client::record_call(
                    "upload_chunk",
                    "transport",
                    failure.classification().id(),
                    started,
                    self.clock.now(),
                );
                return Ok(Err(failure));
            }
        };
        let status = response.status().as_u16();
        crate::client::record_call(
            "upload_chunk",
            &status.to_string(),
            "none",
            started,
            self.clock.now(),
        );
        let progress = response
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        // The PUT's body is undocumented; a failure to read it must not hide the status.
        let body = response.text().await.unwrap_or_default();
        tracing::debug!(chunk = chunk.index, status, "chunk answered");
        Ok(Ok(ChunkAnswer {
            status,
            progress,
            body,
        }))
    }
}

/// "Equal jitter": a uniformly random wait between half of `ceiling` and all of it, so that
/// many uploads hit by the same outage do not retry in lock-step, yet each still waits.
#[must_use]
pub fn with_jitter(ceiling: Duration) -> Duration {
    let half = ceiling / 2;
    let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(rand::random_range(0..=spread))
}

fn io_error(path: &Path, source: std::io::Error) -> UploadError {
    UploadError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    #[test]
    fn the_documented_worked_example_plans_five_chunks_with_a_large_last_one() {
        let plan = ChunkPlan::new(50_000_123, 10_000_000).unwrap();
        assert_eq!(plan.chunk_size(), 10_000_000);
        assert_eq!(plan.total_chunk_count(), 5);
        let last = plan.chunk(4).unwrap();
        assert_eq!(
            (last.first_byte, last.last_byte(), last.len),
            (40_000_000, 50_000_122, 10_000_123)
        );
    }

    #[rstest]
    #[case::one_byte(1, 1, 1)]
    #[case::just_below_five_mib(MIN_CHUNK_SIZE - 1, MIN_CHUNK_SIZE - 1, 1)]
    #[case::four_mib_single_shot(4_194_304, 4_194_304, 1)]
    #[case::exactly_five_mib(MIN_CHUNK_SIZE, MIN_CHUNK_SIZE, 1)]
    #[case::below_the_preferred_chunk(10_000_000, 10_000_000, 1)]
    fn small_files_go_in_one_piece(#[case] size: u64, #[case] chunk: u64, #[case] count: u64) {
        let plan = ChunkPlan::for_size(size).unwrap();
        assert_eq!(
            (plan.chunk_size(), plan.total_chunk_count()),
            (chunk, count)
        );
    }

    #[test]
    fn files_above_64_mb_are_always_split_even_with_a_huge_preferred_chunk() {
        let plan = ChunkPlan::new(100_000_000, u64::MAX).unwrap();
        assert!(plan.total_chunk_count() >= 2);
        assert!(plan.chunk_size() <= MAX_CHUNK_SIZE);
    }

    #[test]
    fn a_four_gib_file_stays_within_a_thousand_chunks_with_tiny_preferred_chunks() {
        let plan = ChunkPlan::new(4 * 1024 * 1024 * 1024, 1).unwrap();
        assert!(plan.total_chunk_count() <= MAX_CHUNK_COUNT);
        assert!(plan.chunk_size() >= MIN_CHUNK_SIZE);
    }

    #[test]
    fn empty_and_oversized_files_cannot_be_planned() {
        assert_eq!(ChunkPlan::for_size(0), Err(ChunkPlanError::Empty));
        let too_big = 1001 * MAX_CHUNK_SIZE;
        assert_eq!(
            ChunkPlan::for_size(too_big),
            Err(ChunkPlanError::TooLarge {
                video_size: too_big
            })
        );
        assert!(ChunkPlan::for_size(too_big - 1).is_ok());
    }

    fn assert_obeys_tiktok_rules(plan: &ChunkPlan, size: u64) -> Result<(), TestCaseError> {
        prop_assert_eq!(plan.video_size(), size);
        let count = plan.total_chunk_count();
        prop_assert!((1..=MAX_CHUNK_COUNT).contains(&count));
        if size < MIN_CHUNK_SIZE {
            prop_assert_eq!(count, 1);
            prop_assert_eq!(plan.chunk_size(), size);
        } else {
            prop_assert!((MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&plan.chunk_size()));
            prop_assert_eq!(count, size / plan.chunk_size());
        }
        if size > MAX_CHUNK_SIZE {
            prop_assert!(count >= 2);
        }
        let chunks: Vec<Chunk> = plan.chunks().collect();
        prop_assert_eq!(chunks.len() as u64, count);
        let mut next = 0;
        for chunk in &chunks {
            prop_assert_eq!(chunk.first_byte, next);
            prop_assert!(chunk.len >= 1);
            if chunk.index + 1 < count {
                prop_assert_eq!(chunk.len, plan.chunk_size());
            } else {
                prop_assert!(chunk.len >= plan.chunk_size().min(size));
                prop_assert!(chunk.len <= MAX_LAST_CHUNK_SIZE);
            }
            prop_assert_eq!(plan.chunk_starting_at(chunk.first_byte), Some(*chunk));
            next = chunk.end();
        }
        prop_assert_eq!(next, size);
        Ok(())
    }

    proptest! {
        #[test]
        fn jitter_stays_between_half_and_all_of_the_ceiling(millis in 0u64..10_000_000) {
            let ceiling = Duration::from_millis(millis);
            let wait = with_jitter(ceiling);
            prop_assert!(wait >= ceiling / 2 && wait <= ceiling, "{wait:?} for {ceiling:?}");
        }

        #[test]
        fn every_plan_obeys_tiktok_rules_and_covers_the_file_exactly(
            size in prop_oneof![
                1u64..=MIN_CHUNK_SIZE * 2,
                MIN_CHUNK_SIZE..=300_000_000,
                300_000_000u64..=4 * 1024 * 1024 * 1024,
                60_000_000_000u64..1001 * MAX_CHUNK_SIZE,
            ],
            preferred in prop_oneof![Just(DEFAULT_CHUNK_SIZE), 0u64..=u64::MAX],
        ) {
            let plan = ChunkPlan::new(size, preferred).unwrap();
            assert_obeys_tiktok_rules(&plan, size)?;
        }

        #[test]
        fn offsets_inside_a_chunk_are_not_resume_points(size in MIN_CHUNK_SIZE * 3..=200_000_000u64, delta in 1u64..MIN_CHUNK_SIZE) {
            let plan = ChunkPlan::new(size, MIN_CHUNK_SIZE).unwrap();
            prop_assert!(plan.chunk_starting_at(delta).is_none());
            prop_assert!(plan.chunk_starting_at(size).is_none());
        }
    }

    #[rstest]
    #[case::last_index_reading("bytes 0-9999999/50000123", Some(10_000_000))]
    #[case::count_reading("bytes 0-20000000/50000123", Some(20_000_000))]
    #[case::nothing_yet_as_zero_zero("bytes 0-0/50000123", Some(0))]
    #[case::nothing_yet_as_star("bytes */50000123", Some(0))]
    #[case::everything_received("bytes 0-50000122/50000123", Some(50_000_123))]
    #[case::inside_a_chunk("bytes 0-12345/50000123", None)]
    #[case::another_total("bytes 0-9999999/7", None)]
    #[case::garbage("whatever", None)]
    fn the_progress_header_resyncs_to_a_chunk_boundary(
        #[case] header: &str,
        #[case] expected: Option<u64>,
    ) {
        let plan = ChunkPlan::new(50_000_123, 10_000_000).unwrap();
        assert_eq!(resync_offset(&plan, header), expected);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let retry = UploadRetry {
            attempts_per_chunk: 10,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            max_resyncs: 3,
        };
        let waits: Vec<u64> = (1..=5).map(|n| retry.backoff_before(n).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 5, 5]);
    }
}
