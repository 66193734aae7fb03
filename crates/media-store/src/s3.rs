//! The S3-compatible backend, over `object_store`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, MultipartUpload, ObjectStore, ObjectStoreExt as _, PutPayload,
};
use rand::RngExt as _;
use secrecy::ExposeSecret as _;
use tokio::task::{JoinError, JoinHandle, JoinSet};

use crate::config::{MIN_PART_SIZE, S3Config, S3Tuning};
use crate::error::MediaStoreError;
use crate::intake::Intake;
use crate::key::MediaKey;
use crate::{ByteStream, MediaStore, PutOptions, StoredObject};

/// The largest object a single S3 `CopyObject` can copy, and so the largest this backend stores.
pub(crate) const MAX_S3_OBJECT: u64 = 5 * 1024 * 1024 * 1024;

/// Media in an S3-compatible bucket (AWS S3, MinIO, R2, moto…).
///
/// `Debug` shows the endpoint and bucket only; the credentials live inside the request signer.
#[derive(Clone)]
pub struct S3MediaStore {
    store: Arc<dyn ObjectStore>,
    endpoint: String,
    bucket: String,
    tuning: S3Tuning,
}

impl fmt::Debug for S3MediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3MediaStore")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("tuning", &self.tuning)
            .finish_non_exhaustive()
    }
}

impl S3MediaStore {
    /// A store over the configured bucket (which must exist). Checks the configuration; makes
    /// no request.
    pub fn new(config: &S3Config) -> Result<Self, MediaStoreError> {
        let endpoint = url::Url::parse(&config.endpoint).map_err(|e| {
            MediaStoreError::Config(format!(
                "S3 endpoint {:?} is not a URL: {e}",
                config.endpoint
            ))
        })?;
        match endpoint.scheme() {
            "https" => {}
            "http" if config.allow_http => {}
            "http" => {
                return Err(MediaStoreError::Config(format!(
                    "S3 endpoint {} is plain http; set allow_http = true to allow it",
                    config.endpoint
                )));
            }
            other => {
                return Err(MediaStoreError::Config(format!(
                    "S3 endpoint scheme {other:?} is not http(s)"
                )));
            }
        }
        if config.tuning.part_size_bytes < MIN_PART_SIZE {
            return Err(MediaStoreError::Config(format!(
                "S3 part size {} is below S3's minimum of {MIN_PART_SIZE} bytes",
                config.tuning.part_size_bytes
            )));
        }
        if config.tuning.parts_in_flight == 0 {
            return Err(MediaStoreError::Config(
                "S3 parts_in_flight must be at least 1".to_owned(),
            ));
        }
        let store = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(config.secret_access_key.expose_secret())
            .with_allow_http(config.allow_http)
            .build()
            .map_err(|e| MediaStoreError::Config(format!("S3 client: {e}")))?;
        let prefix = config.prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(store)
        } else {
            if prefix.split('/').any(|segment| {
                segment.is_empty() || segment.starts_with('.') || segment.contains('\\')
            }) {
                return Err(MediaStoreError::Config(format!(
                    "S3 prefix {:?} must be '/'-separated folder names (no empty, '.' or '..' segment)",
                    config.prefix
                )));
            }
            // Staging objects (`incoming/…`) live under the prefix too, so a lifecycle rule on
            // `<prefix>/incoming/` cleans up after crashes without touching other data.
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        };
        Ok(Self {
            store,
            endpoint: config.endpoint.clone(),
            bucket: config.bucket.clone(),
            tuning: config.tuning,
        })
    }

    async fn receive(
        &self,
        content: &mut ByteStream,
        intake: &mut Intake,
        upload: &mut StagedUpload,
    ) -> Result<Vec<Bytes>, MediaStoreError> {
        let part_size = self.tuning.part_size_bytes;
        let mut part: Vec<Bytes> = Vec::new();
        let mut part_len = 0_usize;
        while let Some(mut chunk) = intake.next_chunk(content).await? {
            // Cut parts to exactly `part_size` (zero-copy splits): R2 rejects unequal parts.
            while !chunk.is_empty() {
                let take = (part_size - part_len).min(chunk.len());
                part.push(chunk.split_to(take));
                part_len += take;
                if part_len == part_size {
                    upload.send_part(std::mem::take(&mut part)).await?;
                    part_len = 0;
                }
            }
        }
        Ok(part)
    }

    async fn head_size(&self, path: &Path, key: &MediaKey) -> Result<Option<u64>, MediaStoreError> {
        match self.store.head(path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(MediaStoreError::from_object_store(key, e)),
        }
    }
}

#[async_trait]
impl MediaStore for S3MediaStore {
    async fn put(
        &self,
        mut content: ByteStream,
        options: PutOptions,
    ) -> Result<StoredObject, MediaStoreError> {
        let options = PutOptions {
            max_bytes: options.max_bytes.min(MAX_S3_OBJECT),
            ..options
        };
        let intake = Intake::start(options)?;
        let staging = Path::from(format!("incoming/{:032x}", rand::rng().random::<u128>()));
        let mut upload = StagedUpload::new(
            Arc::clone(&self.store),
            staging,
            self.tuning.parts_in_flight,
        );
        let result = self.put_staged(&mut content, intake, &mut upload).await;
        if result.is_err() {
            upload.clean_up().await;
        }
        result
    }

    async fn read_range(
        &self,
        key: &MediaKey,
        range: Range<u64>,
    ) -> Result<ByteStream, MediaStoreError> {
        let len = self.len(key).await?;
        if range.start > range.end || range.end > len {
            return Err(MediaStoreError::RangeOutOfBounds {
                key: key.clone(),
                start: range.start,
                end: range.end,
                len,
            });
        }
        if range.is_empty() {
            // S3 has no way to ask for zero bytes.
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&Path::from(key.as_str()), options)
            .await
            .map_err(|e| MediaStoreError::from_object_store(key, e))?;
        Ok(Box::pin(
            result
                .into_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other)),
        ))
    }

    async fn len(&self, key: &MediaKey) -> Result<u64, MediaStoreError> {
        self.head_size(&Path::from(key.as_str()), key)
            .await?
            .ok_or_else(|| MediaStoreError::NotFound { key: key.clone() })
    }

    async fn exists(&self, key: &MediaKey) -> Result<bool, MediaStoreError> {
        Ok(self
            .head_size(&Path::from(key.as_str()), key)
            .await?
            .is_some())
    }

    async fn delete(&self, key: &MediaKey) -> Result<(), MediaStoreError> {
        match self.store.delete(&Path::from(key.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(MediaStoreError::ObjectStorage(e)),
        }
    }
}

impl S3MediaStore {
    async fn put_staged(
        &self,
        content: &mut ByteStream,
        mut intake: Intake,
        upload: &mut StagedUpload,
    ) -> Result<StoredObject, MediaStoreError> {
        let last_part = self.receive(content, &mut intake, upload).await?;
        let (sha256_hex, size_bytes) = intake.finish()?;
        let key = MediaKey::for_content(&sha256_hex);
        let target = Path::from(key.as_str());
        let already_stored = self.head_size(&target, &key).await? == Some(size_bytes);

        if already_stored {
            // Nothing to keep: abort the upload rather than complete and copy it.
            upload.clean_up().await;
        } else if upload.started() {
            upload.send_part(last_part).await?;
            upload.complete().await?;
            self.store
                .copy(upload.staging(), &target)
                .await
                .map_err(MediaStoreError::ObjectStorage)?;
            upload.clean_up().await;
        } else {
            // Smaller than one part: the key is known before anything is sent.
            self.store
                .put(&target, last_part.into_iter().collect::<PutPayload>())
                .await
                .map_err(MediaStoreError::ObjectStorage)?;
        }
        Ok(StoredObject {
            key,
            size_bytes,
            sha256_hex,
            already_stored,
        })
    }
}

/// A multipart upload to a staging name, with at most `max_in_flight` parts on the wire, that
/// aborts itself (and removes the staged object) unless cleaned up explicitly.
struct StagedUpload {
    store: Arc<dyn ObjectStore>,
    staging: Path,
    /// The `CreateMultipartUpload` request, on its own task: if the put is dropped while it is
    /// on the wire, the clean-up still learns the upload's id and can abort it.
    creating: Option<JoinHandle<object_store::Result<Box<dyn MultipartUpload>>>>,
    multipart: Option<Box<dyn MultipartUpload>>,
    in_flight: JoinSet<Result<(), object_store::Error>>,
    max_in_flight: usize,
    staged_object_exists: bool,
}

impl StagedUpload {
    fn new(store: Arc<dyn ObjectStore>, staging: Path, max_in_flight: usize) -> Self {
        Self {
            store,
            staging,
            creating: None,
            multipart: None,
            in_flight: JoinSet::new(),
            max_in_flight,
            staged_object_exists: false,
        }
    }

    fn staging(&self) -> &Path {
        &self.staging
    }

    fn started(&self) -> bool {
        self.multipart.is_some() || self.creating.is_some()
    }

    async fn send_part(&mut self, part: Vec<Bytes>) -> Result<(), MediaStoreError> {
        if part.is_empty() {
            return Ok(());
        }
        while self.in_flight.len() >= self.max_in_flight {
            self.join_one().await?;
        }
        if self.multipart.is_none() {
            let creating = self.creating.get_or_insert_with(|| {
                let store = Arc::clone(&self.store);
                let staging = self.staging.clone();
                tokio::spawn(async move { store.put_multipart(&staging).await })
            });
            let created = creating.await;
            self.creating = None;
            self.multipart = Some(
                created
                    .map_err(join_failure)?
                    .map_err(MediaStoreError::ObjectStorage)?,
            );
        }
        let Some(multipart) = &mut self.multipart else {
            return Ok(());
        };
        self.in_flight
            .spawn(multipart.put_part(part.into_iter().collect::<PutPayload>()));
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), MediaStoreError> {
        match self.in_flight.join_next().await {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(MediaStoreError::ObjectStorage(e)),
            Some(Err(join)) => Err(join_failure(join)),
        }
    }

    async fn complete(&mut self) -> Result<(), MediaStoreError> {
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        if let Some(mut multipart) = self.multipart.take() {
            if let Err(e) = multipart.complete().await {
                self.multipart = Some(multipart);
                return Err(MediaStoreError::ObjectStorage(e));
            }
            self.staged_object_exists = true;
        }
        Ok(())
    }

    /// Aborts what is in flight and removes every trace of the staged upload.
    async fn clean_up(&mut self) {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        if let Some(creating) = self.creating.take()
            && let Ok(Ok(multipart)) = creating.await
        {
            self.multipart = Some(multipart);
        }
        if let Some(mut multipart) = self.multipart.take()
            && let Err(e) = multipart.abort().await
        {
            tracing::warn!(staging = %self.staging, error = %e, "could not abort a multipart upload");
        }
        if std::mem::take(&mut self.staged_object_exists)
            && let Err(e) = self.store.delete(&self.staging).await
        {
            tracing::warn!(staging = %self.staging, error = %e, "could not remove a staged upload");
        }
    }
}

impl Drop for StagedUpload {
    fn drop(&mut self) {
        if self.multipart.is_none() && self.creating.is_none() && !self.staged_object_exists {
            return;
        }
        // The put future was dropped mid-way (a client went away): clean up in the background.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut orphan = Self {
            store: Arc::clone(&self.store),
            staging: self.staging.clone(),
            creating: self.creating.take(),
            multipart: self.multipart.take(),
            in_flight: std::mem::take(&mut self.in_flight),
            max_in_flight: self.max_in_flight,
            staged_object_exists: std::mem::take(&mut self.staged_object_exists),
        };
        runtime.spawn(async move { orphan.clean_up().await });
    }
}

fn join_failure(join: JoinError) -> MediaStoreError {
    MediaStoreError::ObjectStorage(object_store::Error::Generic {
        store: "S3",
        source: Box::new(join),
    })
}
