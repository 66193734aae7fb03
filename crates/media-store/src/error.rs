//! What can go wrong, as values the caller can match on.

use std::fmt;
use std::path::PathBuf;

use crate::key::{ByteSize, MediaKey};

/// How big an upload that was turned away is, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectSize {
    /// Known exactly: declared up front or counted to the end.
    Exactly(u64),
    /// The sender kept sending past this many bytes and the rest was not counted.
    MoreThan(u64),
}

impl fmt::Display for ObjectSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exactly(bytes) => write!(f, "{}", ByteSize(*bytes)),
            Self::MoreThan(bytes) => write!(f, "more than {}", ByteSize(*bytes)),
        }
    }
}

/// Why a media store operation failed.
///
/// Messages never contain credentials: the S3 secret is only handed to the request signer, and
/// object storage errors are reported by their kind and the object they concern.
#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    /// The upload is larger than the limit it was put with; nothing was kept.
    #[error("file is {size}, limit {limit}")]
    TooLarge { size: ObjectSize, limit: ByteSize },

    /// The upload ended with a different length than it declared; nothing was kept.
    #[error("the upload declared {declared} bytes but carried {received}")]
    LengthMismatch { declared: u64, received: u64 },

    /// No object under this key.
    #[error("no media object under key {key}")]
    NotFound { key: MediaKey },

    /// The asked range does not lie inside the object.
    #[error("range {start}..{end} is outside {key}, which has {len} bytes")]
    RangeOutOfBounds {
        key: MediaKey,
        start: u64,
        end: u64,
        len: u64,
    },

    /// The incoming byte stream failed (the client went away, the request body broke).
    #[error("reading the upload failed: {0}")]
    Source(#[source] std::io::Error),

    /// The local media directory could not be used.
    #[error("media directory operation failed on {}: {source}", path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The object storage answered with an error or could not be reached.
    #[error("object storage failed: {0}")]
    ObjectStorage(#[source] object_store::Error),

    /// The configuration cannot work (reported at start-up by [`crate::open`]).
    #[error("media store configuration: {0}")]
    Config(String),
}

impl MediaStoreError {
    pub(crate) fn local(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Local {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn from_object_store(key: &MediaKey, error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Self::NotFound { key: key.clone() },
            other => Self::ObjectStorage(other),
        }
    }
}
