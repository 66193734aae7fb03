//! Media and caption preflight: know what TikTok will reject before it does.
//!
//! A pure-Rust probe ([`probe`]) reads the metadata of MP4/MOV, WebM/Matroska, JPEG, WebP and PNG
//! files (never their payload, never more than fixed caps, never outside the file); pure rule
//! functions ([`rules`], [`caption`], [`duplicates`]) turn the facts into findings with the
//! measured value, the limit, the fix and the TikTok error they would produce.
//!
//! [`preflight_file`] is the one call per file that the CLI (`tokpost check`), the API's dry-run
//! endpoint and the publishing pipeline share.
//!
//! This crate must not: run ffmpeg or any other process, touch the network or a database, read
//! the clock (callers pass times in), or panic on any input.

pub mod caption;
pub mod duplicates;
pub mod hash;
pub mod probe;
pub mod rules;
pub mod verdict;

use std::io::{Read, Seek};
use std::path::Path;

pub use caption::{CaptionField, check_caption, utf16_len};
pub use duplicates::{CaptionFingerprint, DuplicateWindows, PostFingerprint, find_duplicates};
pub use hash::{ContentHash, hash_file, hash_reader};
pub use probe::{Container, MediaFacts, ProbeError, VideoCodec, probe_path, probe_reader};
pub use rules::Limits;
pub use verdict::{FileVerdict, Problem, ProblemCode, Severity, Verdict};

/// Probes the file at `path` and judges it against TikTok's rules: video rules for videos,
/// photo rules for photos. Damage becomes a `rejected` verdict with `file_damaged`, never an
/// error or a panic.
pub fn preflight_file(path: &Path, limits: &Limits) -> FileVerdict {
    let size_bytes = std::fs::metadata(path).ok().map(|metadata| metadata.len());
    verdict_for(
        path.display().to_string(),
        probe_path(path),
        size_bytes,
        limits,
    )
}

/// [`preflight_file`] for bytes that are not in a named file (an upload being received).
pub fn preflight_reader<R: Read + Seek>(name: &str, reader: R, limits: &Limits) -> FileVerdict {
    verdict_for(name.to_owned(), probe_reader(reader), None, limits)
}

fn verdict_for(
    file: String,
    probed: Result<MediaFacts, ProbeError>,
    size_bytes: Option<u64>,
    limits: &Limits,
) -> FileVerdict {
    match &probed {
        Ok(facts) => FileVerdict::new(
            file,
            Ok(facts),
            size_bytes,
            rules::check_facts(facts, limits),
        ),
        Err(error) => FileVerdict::new(file, Err(error), size_bytes, vec![rules::damaged(error)]),
    }
}
