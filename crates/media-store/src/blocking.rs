//! A synchronous `Read + Seek` view of one stored object, for code that can only read
//! synchronously: the media probe walks a container's headers with seeks and short reads, and
//! never reads the sample data, so it needs a few blocks of a multi-gigabyte object, not the
//! object (nor a local copy of it).
//!
//! Each block is one range read on the store; the current block is kept, so the probe's many
//! small reads inside one header cost one request.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use tokio::runtime::Handle;

use crate::MediaStore;
use crate::error::MediaStoreError;
use crate::key::MediaKey;

/// Bytes fetched per range read: large enough that a probe makes a handful of requests, small
/// enough that holding one costs nothing.
const BLOCK: u64 = 512 * 1024;

/// A blocking reader over one object. Use it on a blocking thread (`spawn_blocking`): every
/// block it fetches waits on the runtime it was opened in.
#[derive(Debug)]
pub struct BlockingObjectReader {
    store: Arc<dyn MediaStore>,
    key: MediaKey,
    len: u64,
    pos: u64,
    block_start: u64,
    block: Bytes,
    runtime: Handle,
    requests: u64,
}

impl BlockingObjectReader {
    /// Opens `key` (its length is asked now, on the caller's runtime).
    ///
    /// # Errors
    /// [`MediaStoreError::NotFound`] and the store's own failures.
    pub async fn open(store: Arc<dyn MediaStore>, key: MediaKey) -> Result<Self, MediaStoreError> {
        let len = store.len(&key).await?;
        Ok(Self {
            store,
            key,
            len,
            pos: 0,
            block_start: 0,
            block: Bytes::new(),
            runtime: Handle::current(),
            requests: 0,
        })
    }

    /// The object's size.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the object is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Range reads made so far.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests
    }

    fn fetch(&mut self, start: u64) -> io::Result<()> {
        let end = start.saturating_add(BLOCK).min(self.len);
        let store = Arc::clone(&self.store);
        let key = self.key.clone();
        let block = self.runtime.block_on(async move {
            let mut stream = store
                .read_range(&key, start..end)
                .await
                .map_err(io::Error::other)?;
            let mut block = BytesMut::with_capacity(usize::try_from(end - start).unwrap_or(0));
            while let Some(piece) = stream.next().await {
                block.extend_from_slice(&piece?);
            }
            Ok::<_, io::Error>(block.freeze())
        })?;
        self.requests += 1;
        self.block_start = start;
        self.block = block;
        Ok(())
    }
}

impl Read for BlockingObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        let block_end = self.block_start + self.block.len() as u64;
        if self.pos < self.block_start || self.pos >= block_end {
            self.fetch(self.pos)?;
        }
        let offset = usize::try_from(self.pos - self.block_start).map_err(io::Error::other)?;
        let available = self.block.get(offset..).unwrap_or_default();
        if available.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} ended early at byte {}", self.key, self.pos),
            ));
        }
        let n = available.len().min(buf.len());
        if let (Some(target), Some(source)) = (buf.get_mut(..n), available.get(..n)) {
            target.copy_from_slice(source);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlockingObjectReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the object",
            )
        })?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocalMediaStore, PutOptions};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seeks_and_reads_see_the_stored_bytes_with_one_request_per_block() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn MediaStore> = Arc::new(LocalMediaStore::new(dir.path()));
        let bytes: Vec<u8> = (0..(3 * BLOCK + 17)).map(|i| (i % 251) as u8).collect();
        let content = Bytes::from(bytes.clone());
        let stored = store
            .put(
                Box::pin(futures_util::stream::iter([Ok(content)])),
                PutOptions::limited_to(u64::MAX),
            )
            .await
            .unwrap();
        let mut reader = BlockingObjectReader::open(Arc::clone(&store), stored.key)
            .await
            .unwrap();
        let (reader, tail, head, middle) = tokio::task::spawn_blocking(move || {
            let mut tail = Vec::new();
            reader.seek(SeekFrom::End(-20)).unwrap();
            reader.read_to_end(&mut tail).unwrap();
            let mut head = [0_u8; 8];
            reader.seek(SeekFrom::Start(0)).unwrap();
            reader.read_exact(&mut head).unwrap();
            // Spans a block boundary: two blocks, read in one `read_exact`.
            let mut middle = vec![0_u8; 64];
            reader.seek(SeekFrom::Start(BLOCK - 32)).unwrap();
            reader.read_exact(&mut middle).unwrap();
            (reader, tail, head, middle)
        })
        .await
        .unwrap();
        let len = bytes.len();
        assert_eq!(tail, bytes[len - 20..]);
        assert_eq!(head, bytes[..8]);
        let start = usize::try_from(BLOCK).unwrap() - 32;
        assert_eq!(middle, bytes[start..start + 64]);
        // The tail, the head, then the middle's second half: its first half is in the block
        // the head fetched.
        assert_eq!(reader.requests(), 3);
        assert_eq!(reader.len(), len as u64);
    }
}
