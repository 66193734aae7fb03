//! The media store's part of the configuration tree (deserialized; secrets stay wrapped).

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// Which backend holds the media, and where.
///
/// ```text
/// [media]                      [media]
/// backend = "local"            backend = "s3"
/// dir = "/var/lib/tokpost/media"   endpoint = "https://s3.eu-central-1.amazonaws.com"
///                              bucket = "tokpost-media"
///                              region = "eu-central-1"
///                              access_key_id = "AKIA…"
///                              secret_access_key = "…"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
pub enum MediaStoreConfig {
    /// A directory on this machine (or a mount every machine shares).
    Local { dir: PathBuf },
    /// An S3-compatible bucket.
    S3(S3Config),
}

impl MediaStoreConfig {
    /// The default: a directory (created on first use).
    #[must_use]
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        Self::Local { dir: dir.into() }
    }
}

/// Where an S3-compatible bucket is and how to sign for it.
///
/// `Debug` shows `secret_access_key` as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The endpoint URL, e.g. `https://s3.eu-central-1.amazonaws.com` or a MinIO/R2 address.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// A folder inside the bucket every object lives under (`tokpost/media`), so one bucket can
    /// hold several installations or other data; empty: the bucket's root.
    #[serde(default)]
    pub prefix: String,
    /// Allow a plain `http://` endpoint (loopback tests, a private network); off by default.
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default)]
    pub tuning: S3Tuning,
}

/// How uploads are cut into multipart parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Tuning {
    /// Size of every part but the last (at least 5 MiB, S3's minimum). Objects smaller than
    /// one part are sent in a single request.
    pub part_size_bytes: usize,
    /// Parts uploading at once. Memory held by a put is about `part_size_bytes ×
    /// (parts_in_flight + 1)`.
    pub parts_in_flight: usize,
}

/// S3's smallest allowed part (every part but the last).
pub(crate) const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

impl Default for S3Tuning {
    fn default() -> Self {
        Self {
            part_size_bytes: 8 * 1024 * 1024,
            parts_in_flight: 2,
        }
    }
}
