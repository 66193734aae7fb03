//! The accounting every backend does on an incoming stream: hash, count, enforce the limit and
//! the declared length, in one place so both backends fail the same way.

use bytes::Bytes;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};

use crate::error::{MediaStoreError, ObjectSize};
use crate::key::{ByteSize, Sha256Hex};
use crate::{ByteStream, PutOptions};

/// The hash and byte count of an upload, and the limits it is held to.
#[derive(Debug)]
pub(crate) struct Intake {
    hasher: Sha256,
    received: u64,
    options: PutOptions,
}

impl Intake {
    /// Starts an intake, turning the upload away at once when its declared length is already
    /// over the limit (the message then carries the exact size).
    pub(crate) fn start(options: PutOptions) -> Result<Self, MediaStoreError> {
        if let Some(declared) = options.declared_len
            && declared > options.max_bytes
        {
            return Err(MediaStoreError::TooLarge {
                size: ObjectSize::Exactly(declared),
                limit: ByteSize(options.max_bytes),
            });
        }
        Ok(Self {
            hasher: Sha256::new(),
            received: 0,
            options,
        })
    }

    /// The next chunk of the upload, hashed and counted; `Ok(None)` at the end.
    ///
    /// When the chunk takes the upload over its limit, the rest of the stream is counted (up to
    /// twice the limit, without keeping it) so that the error says how big the file was.
    pub(crate) async fn next_chunk(
        &mut self,
        content: &mut ByteStream,
    ) -> Result<Option<Bytes>, MediaStoreError> {
        let Some(chunk) = content.next().await else {
            return Ok(None);
        };
        let chunk = chunk.map_err(MediaStoreError::Source)?;
        let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        self.received = self.received.saturating_add(len);
        if let Some(declared) = self.options.declared_len
            && self.received > declared
        {
            return Err(MediaStoreError::LengthMismatch {
                declared,
                received: self.received,
            });
        }
        if self.received > self.options.max_bytes {
            return Err(self.count_the_rest(content).await);
        }
        self.hasher.update(&chunk);
        Ok(Some(chunk))
    }

    async fn count_the_rest(&mut self, content: &mut ByteStream) -> MediaStoreError {
        let give_up_at = self.options.max_bytes.saturating_mul(2);
        let limit = ByteSize(self.options.max_bytes);
        while self.received <= give_up_at {
            match content.next().await {
                None => {
                    return MediaStoreError::TooLarge {
                        size: ObjectSize::Exactly(self.received),
                        limit,
                    };
                }
                Some(Ok(chunk)) => {
                    let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
                    self.received = self.received.saturating_add(len);
                }
                Some(Err(_)) => break,
            }
        }
        MediaStoreError::TooLarge {
            size: ObjectSize::MoreThan(self.options.max_bytes),
            limit,
        }
    }

    /// The digest and size of a complete upload, once its length matches what it declared.
    pub(crate) fn finish(self) -> Result<(Sha256Hex, u64), MediaStoreError> {
        if let Some(declared) = self.options.declared_len
            && declared != self.received
        {
            return Err(MediaStoreError::LengthMismatch {
                declared,
                received: self.received,
            });
        }
        Ok((
            Sha256Hex::from_digest(&self.hasher.finalize()),
            self.received,
        ))
    }
}
