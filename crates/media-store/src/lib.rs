//! Where uploaded media live, so that a worker on any machine can read what the API received.
//!
//! One interface, [`MediaStore`], over two backends: [`LocalMediaStore`] (a directory, the
//! default, for one machine or a shared mount) and [`S3MediaStore`] (any S3-compatible object
//! storage, for several machines). Objects are named by a [`MediaKey`] derived from the SHA-256 of
//! their bytes, so the same file is stored once. Bytes flow as streams both ways: `put` hashes
//! and writes while it reads and never holds a whole file (at most a few multipart parts for
//! S3); `read_range` gives the uploader chunk N of a resumed upload without reading what comes
//! before it.
//!
//! For TikTok's `PULL_FROM_URL`, [`UrlSigner`] makes expiring HMAC-signed https URLs under the
//! app's verified prefix and [`pull_router`] serves them (exact `Content-Length`, single `Range`,
//! never a redirect) straight from the store.
//!
//! This crate must not know about posts, accounts or databases: it stores bytes under keys. The
//! caller records the key (in `media_assets.location`) and decides when nothing refers to an
//! object any more before deleting it, since two assets with the same bytes share one object.
//!
//! # What a crash leaves
//!
//! Errors and dropped puts clean up after themselves; a killed process cannot. It may leave
//! `<dir>/incoming/*.part` files (local), or unfinished multipart uploads and `incoming/…`
//! objects (S3). None of them is ever visible under a key. Operators should give the bucket a
//! lifecycle rule that aborts incomplete multipart uploads and expires `incoming/` after a day.
//!
//! # `object_store` (0.14) traps, as met here
//!
//! * The convenience methods (`put`, `get_range`, `head`, `delete`, `copy`) moved to the
//!   `ObjectStoreExt` trait in 0.13; `ObjectStore` itself only has the `*_opts` forms.
//! * Every multipart part but the last must be at least 5 MiB on S3 (and R2 wants equal sizes):
//!   [`S3Tuning::part_size_bytes`] is checked at start-up and parts are cut to exactly that size.
//! * A multipart upload that is neither completed nor aborted stays in the bucket, billed and
//!   invisible to listings; `put` aborts it on every error and, if its future is dropped, from a
//!   spawned task.
//! * S3 cannot rename. A large object's key is only known once its last byte is hashed, so it is
//!   uploaded under `incoming/…` and copied; a single `CopyObject` stops at 5 GiB, so the S3
//!   backend never accepts more than that whatever limit is asked.
//! * With an `http://` endpoint every request fails unless `allow_http` is set; and reqwest 0.13
//!   (under `object_store`) needs the OS CA bundle even then (`ca-certificates`).
//! * `object_store`'s own `Debug` of a configured builder would print the secret key: the store
//!   here keeps only the built client and prints the endpoint and bucket.

mod blocking;
mod config;
mod error;
mod intake;
mod key;
mod local;
mod pull;
mod range;
mod s3;
mod signed_url;

use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

pub use blocking::BlockingObjectReader;
pub use config::{MediaStoreConfig, S3Config, S3Tuning};
pub use error::{MediaStoreError, ObjectSize};
pub use key::{ByteSize, InvalidMediaKey, InvalidSha256Hex, MediaKey, Sha256Hex};
pub use local::LocalMediaStore;
pub use pull::{PULL_ROUTE_PREFIX, pull_router, serve_object};
pub use range::{ByteRangeSpec, parse_range_header};
pub use s3::S3MediaStore;
pub use signed_url::{
    InvalidPullBaseUrl, InvalidSigningKey, PullBaseUrl, SignatureRejected, UrlSigner,
};

/// A stream of bytes going into or coming out of the store.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// The media store shared by the API (which puts) and the workers (which read).
#[async_trait]
pub trait MediaStore: Send + Sync + fmt::Debug + 'static {
    /// Stores `content` under the key derived from its SHA-256, streaming: hashed and written as
    /// it arrives, atomically visible only once complete. Storing bytes that are already there
    /// succeeds with [`StoredObject::already_stored`] set. On any error (too large, a declared
    /// length not met, the source failing) nothing is left behind.
    async fn put(
        &self,
        content: ByteStream,
        options: PutOptions,
    ) -> Result<StoredObject, MediaStoreError>;

    /// The bytes `range` of the object, streamed. The range must lie inside the object
    /// ([`MediaStoreError::RangeOutOfBounds`] otherwise); an empty range gives an empty stream.
    async fn read_range(
        &self,
        key: &MediaKey,
        range: Range<u64>,
    ) -> Result<ByteStream, MediaStoreError>;

    /// The object's size in bytes.
    async fn len(&self, key: &MediaKey) -> Result<u64, MediaStoreError>;

    /// Whether an object is stored under `key`.
    async fn exists(&self, key: &MediaKey) -> Result<bool, MediaStoreError>;

    /// Removes the object; removing a missing one succeeds (S3 cannot tell the two apart).
    async fn delete(&self, key: &MediaKey) -> Result<(), MediaStoreError>;
}

/// The limits a `put` is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOptions {
    /// The largest upload accepted, in bytes.
    pub max_bytes: u64,
    /// The length the sender announced (an HTTP `Content-Length`), when it did: an upload
    /// already over the limit is then refused before a byte is read, and one that ends short or
    /// long is refused.
    pub declared_len: Option<u64>,
}

impl PutOptions {
    /// Accepts uploads of at most `max_bytes`.
    #[must_use]
    pub fn limited_to(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            declared_len: None,
        }
    }

    /// The sender announced `len` bytes.
    #[must_use]
    pub fn with_declared_len(self, len: u64) -> Self {
        Self {
            declared_len: Some(len),
            ..self
        }
    }
}

/// What `put` stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Where the bytes are (derived from `sha256_hex`).
    pub key: MediaKey,
    /// Exact size.
    pub size_bytes: u64,
    /// The SHA-256 of the bytes, as 64 hex digits.
    pub sha256_hex: Sha256Hex,
    /// The same bytes were already stored; this put wrote nothing new.
    pub already_stored: bool,
}

/// Opens the store the configuration names (creating nothing yet: a local directory is created
/// on first use, a bucket must already exist).
pub fn open(config: &MediaStoreConfig) -> Result<Arc<dyn MediaStore>, MediaStoreError> {
    Ok(match config {
        MediaStoreConfig::Local { dir } => Arc::new(LocalMediaStore::new(dir.clone())),
        MediaStoreConfig::S3(s3) => Arc::new(S3MediaStore::new(s3)?),
    })
}
