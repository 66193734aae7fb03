//! The harness every behaviour test shares: one store per backend (a temp directory, or a
//! bucket on a real moto server), content made on the fly, and a view of everything a backend
//! holds (to prove a failed put left nothing behind).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::{StreamExt as _, stream};
use tokpost_media_store::{ByteStream, LocalMediaStore, MediaStore, S3MediaStore, S3Tuning};
use tokpost_testkit::moto::MotoServer;

pub const MIB: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Local,
    S3,
}

pub struct Backend {
    pub store: Arc<dyn MediaStore>,
    pub tuning: S3Tuning,
    place: Place,
}

enum Place {
    Local(tempfile::TempDir),
    S3 { moto: MotoServer, bucket: String },
}

/// Parts of 5 MiB (S3's minimum), so a 12 MiB file takes three.
pub fn small_parts(parts_in_flight: usize) -> S3Tuning {
    S3Tuning {
        part_size_bytes: 5 * MIB,
        parts_in_flight,
    }
}

impl Backend {
    /// The backend, or `None` when it is S3 and moto is unavailable outside CI (in CI that
    /// fails the test).
    pub async fn start(kind: BackendKind, tuning: S3Tuning) -> Option<Self> {
        match kind {
            BackendKind::Local => {
                let dir = tempfile::tempdir().unwrap();
                // A directory that does not exist yet: the store creates it on first use.
                let store = LocalMediaStore::new(dir.path().join("media"));
                Some(Self {
                    store: Arc::new(store),
                    tuning,
                    place: Place::Local(dir),
                })
            }
            BackendKind::S3 => {
                let moto = MotoServer::start_or_skip()
                    .await
                    .expect("moto must start when CI is set")?;
                let bucket = "tokpost-media".to_owned();
                let config = moto.create_bucket(&bucket, tuning).await.unwrap();
                let store = S3MediaStore::new(&config).unwrap();
                Some(Self {
                    store: Arc::new(store),
                    tuning,
                    place: Place::S3 { moto, bucket },
                })
            }
        }
    }

    /// Everything the backend holds, temporary files and unfinished uploads included.
    pub async fn everything_stored(&self) -> Vec<String> {
        match &self.place {
            Place::Local(dir) => {
                let mut found = Vec::new();
                walk(dir.path(), dir.path(), &mut found);
                found.sort();
                found
            }
            Place::S3 { moto, bucket } => {
                let mut found = moto.object_names(bucket).await.unwrap();
                found.sort();
                let pending = moto.pending_multipart_uploads(bucket).await.unwrap();
                if pending > 0 {
                    found.push(format!("<{pending} unfinished multipart uploads>"));
                }
                found
            }
        }
    }
}

fn walk(root: &std::path::Path, dir: &std::path::Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, found);
        } else {
            found.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// Deterministic bytes: the same `seed` and offset always give the same byte.
pub fn content_byte(seed: u64, offset: u64) -> u8 {
    let mut x = offset
        .wrapping_add(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 29)) as u8
}

pub fn content(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| content_byte(seed, i)).collect()
}

/// Counts the bytes of handed-out chunks that are still alive somewhere (in the store's
/// buffers, in a part on the wire), and the most that ever were.
#[derive(Debug, Default)]
pub struct LiveBytes {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl LiveBytes {
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

struct TrackedChunk {
    bytes: Vec<u8>,
    tracker: Arc<LiveBytes>,
}

impl AsRef<[u8]> for TrackedChunk {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for TrackedChunk {
    fn drop(&mut self) {
        self.tracker
            .live
            .fetch_sub(self.bytes.len(), Ordering::SeqCst);
    }
}

/// `len` bytes of `seed` content, made chunk by chunk as the store pulls them (never all at
/// once), each chunk tracked until every copy of it is dropped.
pub fn generated_stream(
    seed: u64,
    len: usize,
    chunk: usize,
    tracker: Arc<LiveBytes>,
) -> ByteStream {
    let offsets = (0..len).step_by(chunk);
    Box::pin(stream::iter(offsets).map(move |start| {
        let end = (start + chunk).min(len);
        let bytes: Vec<u8> = (start as u64..end as u64)
            .map(|i| content_byte(seed, i))
            .collect();
        let live = tracker.live.fetch_add(bytes.len(), Ordering::SeqCst) + bytes.len();
        tracker.peak.fetch_max(live, Ordering::SeqCst);
        Ok(Bytes::from_owner(TrackedChunk {
            bytes,
            tracker: Arc::clone(&tracker),
        }))
    }))
}

/// An in-memory body split into chunks of `chunk` bytes.
pub fn stream_of(data: Vec<u8>, chunk: usize) -> ByteStream {
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(stream::iter(chunks))
}

/// Collects a read stream.
pub async fn collect(mut stream: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}
