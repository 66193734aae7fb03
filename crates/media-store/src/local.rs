//! The directory backend: `<dir>/objects/<key>`, written through `<dir>/incoming/` and renamed.

use std::io::{ErrorKind, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rand::RngExt as _;
use tokio::fs;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _, BufWriter};
use tokio_util::io::ReaderStream;

use crate::error::MediaStoreError;
use crate::intake::Intake;
use crate::key::MediaKey;
use crate::{ByteStream, MediaStore, PutOptions, StoredObject};

/// Bytes buffered before a write reaches the file (few, large writes: each is a blocking call).
const WRITE_BUFFER: usize = 1024 * 1024;
/// Bytes per chunk handed out by `read_range`.
const READ_CHUNK: usize = 256 * 1024;

/// Media in a directory, created on first use.
///
/// The temporary files live in the same directory tree as the objects, so the final `rename`
/// stays on one file system and is atomic: a reader sees the whole object or none.
#[derive(Debug, Clone)]
pub struct LocalMediaStore {
    root: PathBuf,
}

impl LocalMediaStore {
    /// A store in `root` (nothing is created until the first `put`).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory this store lives in.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn object_path(&self, key: &MediaKey) -> PathBuf {
        let mut path = self.root.join("objects");
        path.extend(key.segments());
        path
    }

    fn incoming_dir(&self) -> PathBuf {
        self.root.join("incoming")
    }

    async fn receive(
        &self,
        content: &mut ByteStream,
        intake: &mut Intake,
        temp: &TempFile,
    ) -> Result<(), MediaStoreError> {
        let file = fs::File::create_new(&temp.path)
            .await
            .map_err(|e| MediaStoreError::local(&temp.path, e))?;
        let mut writer = BufWriter::with_capacity(WRITE_BUFFER, file);
        while let Some(chunk) = intake.next_chunk(content).await? {
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| MediaStoreError::local(&temp.path, e))?;
        }
        writer
            .flush()
            .await
            .map_err(|e| MediaStoreError::local(&temp.path, e))?;
        // Durable before it becomes visible: a crash must not leave a short file under a key
        // that claims a hash.
        writer
            .get_ref()
            .sync_all()
            .await
            .map_err(|e| MediaStoreError::local(&temp.path, e))
    }
}

#[async_trait]
impl MediaStore for LocalMediaStore {
    async fn put(
        &self,
        mut content: ByteStream,
        options: PutOptions,
    ) -> Result<StoredObject, MediaStoreError> {
        let mut intake = Intake::start(options)?;
        let incoming = self.incoming_dir();
        fs::create_dir_all(&incoming)
            .await
            .map_err(|e| MediaStoreError::local(&incoming, e))?;
        let temp =
            TempFile::new(incoming.join(format!("{:032x}.part", rand::rng().random::<u128>())));
        self.receive(&mut content, &mut intake, &temp).await?;
        let (sha256_hex, size_bytes) = intake.finish()?;
        let key = MediaKey::for_content(&sha256_hex);
        let target = self.object_path(&key);

        let already_stored = match fs::metadata(&target).await {
            Ok(meta) => meta.is_file() && meta.len() == size_bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => return Err(MediaStoreError::local(&target, e)),
        };
        if !already_stored {
            let parent = target.parent().unwrap_or(&self.root);
            fs::create_dir_all(parent)
                .await
                .map_err(|e| MediaStoreError::local(parent, e))?;
            fs::rename(&temp.path, &target)
                .await
                .map_err(|e| MediaStoreError::local(&target, e))?;
            temp.disarm();
            // Make the rename itself durable; a failure here loses nothing already visible.
            if let Ok(dir) = fs::File::open(parent).await {
                let _ = dir.sync_all().await;
            }
        }
        Ok(StoredObject {
            key,
            size_bytes,
            sha256_hex,
            already_stored,
        })
    }

    async fn read_range(
        &self,
        key: &MediaKey,
        range: Range<u64>,
    ) -> Result<ByteStream, MediaStoreError> {
        let path = self.object_path(key);
        let mut file = match fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(MediaStoreError::NotFound { key: key.clone() });
            }
            Err(e) => return Err(MediaStoreError::local(&path, e)),
        };
        let len = file
            .metadata()
            .await
            .map_err(|e| MediaStoreError::local(&path, e))?
            .len();
        if range.start > range.end || range.end > len {
            return Err(MediaStoreError::RangeOutOfBounds {
                key: key.clone(),
                start: range.start,
                end: range.end,
                len,
            });
        }
        file.seek(SeekFrom::Start(range.start))
            .await
            .map_err(|e| MediaStoreError::local(&path, e))?;
        let wanted = range.end - range.start;
        Ok(Box::pin(ReaderStream::with_capacity(
            file.take(wanted),
            READ_CHUNK,
        )))
    }

    async fn len(&self, key: &MediaKey) -> Result<u64, MediaStoreError> {
        let path = self.object_path(key);
        match fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(meta.len()),
            Ok(_) => Err(MediaStoreError::NotFound { key: key.clone() }),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(MediaStoreError::NotFound { key: key.clone() })
            }
            Err(e) => Err(MediaStoreError::local(&path, e)),
        }
    }

    async fn exists(&self, key: &MediaKey) -> Result<bool, MediaStoreError> {
        match self.len(key).await {
            Ok(_) => Ok(true),
            Err(MediaStoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, key: &MediaKey) -> Result<(), MediaStoreError> {
        let path = self.object_path(key);
        match fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(MediaStoreError::local(&path, e)),
        }
    }
}

/// A temporary file removed when dropped, unless it was renamed into place: an error, a limit
/// or a dropped `put` future all leave nothing behind.
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
    armed: std::sync::atomic::AtomicBool,
}

impl TempFile {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            armed: std::sync::atomic::AtomicBool::new(true),
        }
    }

    fn disarm(&self) {
        self.armed
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed.load(std::sync::atomic::Ordering::Relaxed) {
            // Synchronous on purpose: drop cannot await, and unlinking one file is quick.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
