//! Where a post's media bytes are, seen from a worker that may run on another machine than the
//! API that received them.
//!
//! A media asset's `location` is one of three things: an `https://` URL the user registered
//! (TikTok pulls it), a key in the shared media store (what the API writes for uploads), or an
//! absolute path on the API's disk (uploads from before the media store; read only where that
//! disk is). Uploaded media go to TikTok by FILE_UPLOAD (chunks read from the store by range)
//! or, when a pull base URL is configured, by PULL_FROM_URL through an expiring signed URL
//! that `tokpost serve` answers from the same store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use media::{FileVerdict, Limits};
use tiktok::{ChunkSource, ChunkStream, RangeReader};
use tokpost_media_store::{BlockingObjectReader, MediaKey, MediaStore, MediaStoreError, UrlSigner};
use url::Url;

/// The media store this process reads, and how it signs pull URLs.
#[derive(Debug, Clone)]
pub struct MediaAccess {
    store: Arc<dyn MediaStore>,
    pull: Option<PullSigning>,
}

/// How long a signed pull URL lives, and who signs it.
#[derive(Debug, Clone)]
struct PullSigning {
    signer: Arc<UrlSigner>,
    lifetime: Duration,
}

impl MediaAccess {
    /// Reads uploads from `store`; uploaded media can only go by FILE_UPLOAD.
    #[must_use]
    pub fn new(store: Arc<dyn MediaStore>) -> Self {
        Self { store, pull: None }
    }

    /// Reads uploads from a directory store (one machine, or a mount every machine shares).
    #[must_use]
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        Self::new(Arc::new(tokpost_media_store::LocalMediaStore::new(dir)))
    }

    /// Uploaded media may also go by PULL_FROM_URL, through URLs signed by `signer` that stay
    /// valid for `lifetime` (TikTok may take up to an hour to download).
    #[must_use]
    pub fn with_pull(mut self, signer: Arc<UrlSigner>, lifetime: Duration) -> Self {
        self.pull = Some(PullSigning { signer, lifetime });
        self
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn MediaStore> {
        &self.store
    }

    /// The prefix of every signed pull URL, when pulls of uploaded media are configured.
    #[must_use]
    pub fn pull_base(&self) -> Option<&Url> {
        self.pull.as_ref().map(|pull| pull.signer.base().as_url())
    }

    /// A fresh signed URL for a stored object, when pulls are configured.
    #[must_use]
    pub fn signed_url(&self, key: &MediaKey) -> Option<Url> {
        self.pull
            .as_ref()
            .map(|pull| pull.signer.sign_valid_for(key, pull.lifetime))
    }

    /// Probes a stored object by range reads (headers only) and judges it against `limits`.
    ///
    /// # Errors
    /// The object is missing, or the store cannot be read.
    pub async fn probe(
        &self,
        key: &MediaKey,
        limits: Limits,
    ) -> Result<FileVerdict, MediaStoreError> {
        let reader = BlockingObjectReader::open(Arc::clone(&self.store), key.clone()).await?;
        let name = key.to_string();
        tokio::task::spawn_blocking(move || media::preflight_reader(&name, reader, &limits))
            .await
            .map_err(|error| MediaStoreError::Source(std::io::Error::other(error)))
    }

    /// The chunk source the uploader reads a stored object from.
    #[must_use]
    pub fn chunk_source(&self, key: MediaKey) -> ChunkSource {
        ChunkSource::Ranged(Arc::new(StoredObject {
            store: Arc::clone(&self.store),
            key,
        }))
    }
}

/// A verdict as a media item records it: everything the probe found but the file's name (the
/// storage key or a server path is nobody else's business).
#[must_use]
pub fn probe_record(verdict: &FileVerdict) -> serde_json::Value {
    let mut probe = serde_json::to_value(verdict).unwrap_or(serde_json::Value::Null);
    if let Some(object) = probe.as_object_mut() {
        object.remove("file");
    }
    probe
}

/// Where an asset's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MediaLocation {
    /// A URL the user registered; TikTok pulls it as is.
    Url(String),
    /// An object in the shared media store.
    Stored(MediaKey),
    /// A file on the disk of the machine that received it (uploads before the media store).
    LocalFile(PathBuf),
}

impl MediaLocation {
    pub(crate) fn of(location: &str) -> Self {
        if crate::preflight::is_url(location) {
            Self::Url(location.to_owned())
        } else if location.starts_with('/') {
            Self::LocalFile(PathBuf::from(location))
        } else {
            match MediaKey::parse(location) {
                Ok(key) => Self::Stored(key),
                // Not a key we wrote: treat it as a path, whose absence is then reported.
                Err(_) => Self::LocalFile(PathBuf::from(location)),
            }
        }
    }
}

/// One stored object as the uploader's range reader.
#[derive(Debug)]
struct StoredObject {
    store: Arc<dyn MediaStore>,
    key: MediaKey,
}

type Pending<'a, T> = std::pin::Pin<Box<dyn Future<Output = std::io::Result<T>> + Send + 'a>>;

impl RangeReader for StoredObject {
    fn size(&self) -> Pending<'_, u64> {
        Box::pin(async move { self.store.len(&self.key).await.map_err(as_io) })
    }

    fn read(&self, first_byte: u64, len: u64) -> Pending<'_, ChunkStream> {
        Box::pin(async move {
            let end = first_byte.saturating_add(len);
            self.store
                .read_range(&self.key, first_byte..end)
                .await
                .map_err(as_io)
        })
    }

    fn name(&self) -> String {
        format!("media store object {}", self.key)
    }
}

/// A missing object reads as `NotFound` (the post cannot be published: its media are gone);
/// anything else is the store failing, which a retry may get past.
fn as_io(error: MediaStoreError) -> std::io::Error {
    match error {
        MediaStoreError::NotFound { .. } => {
            std::io::Error::new(std::io::ErrorKind::NotFound, error.to_string())
        }
        other => std::io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_told_apart_by_their_shape() {
        assert_eq!(
            MediaLocation::of("https://media.example.com/a.mp4"),
            MediaLocation::Url("https://media.example.com/a.mp4".to_owned())
        );
        let key = format!("sha256/{}", "ab".repeat(32));
        assert_eq!(
            MediaLocation::of(&key),
            MediaLocation::Stored(MediaKey::parse(&key).unwrap())
        );
        assert_eq!(
            MediaLocation::of("/var/lib/tokpost/media/abc"),
            MediaLocation::LocalFile(PathBuf::from("/var/lib/tokpost/media/abc"))
        );
    }
}
