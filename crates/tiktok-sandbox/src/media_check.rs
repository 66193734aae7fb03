//! Checks on the bytes that actually arrived, turned into TikTok's `fail_reason` values.
//!
//! Received media is written to files in the sandbox's private temporary directory (deleted as
//! soon as the outcome is decided, and the whole directory at shutdown) and judged by the
//! project's pure-Rust probe (`media::preflight_file`) with the creator's maximum duration: the
//! first rejecting finding gives the `fail_reason` (`file_format_check_failed`,
//! `duration_check_failed`, `frame_rate_check_failed`, `picture_size_check_failed`). A photo post
//! that receives a video (or the reverse) fails the format check. It never panics on malformed
//! input: the probe turns damage into a rejection.

use std::path::{Path, PathBuf};

use media::{Limits, Severity};

use crate::state::MediaKind;

/// Fail reasons the media checks may produce; any other code the probe names (a caption or
/// size finding) is not a media-check failure of TikTok's processing.
const MEDIA_FAIL_REASONS: &[&str] = &[
    "file_format_check_failed",
    "duration_check_failed",
    "frame_rate_check_failed",
    "picture_size_check_failed",
];

/// Judges one file; `None` when TikTok's processing would accept it.
pub(crate) fn inspect(
    path: &Path,
    kind: MediaKind,
    creator_max_duration_s: u32,
) -> Option<&'static str> {
    let limits = Limits {
        creator_max_video_duration_s: Some(creator_max_duration_s),
    };
    let verdict = media::preflight_file(path, &limits);
    let is_video = matches!(verdict.container.as_deref(), Some("mp4" | "mov" | "webm"));
    let is_photo = matches!(verdict.container.as_deref(), Some("jpeg" | "webp"));
    let wrong_kind = match kind {
        MediaKind::Video => verdict.container.is_some() && !is_video,
        MediaKind::Photo => verdict.container.is_some() && !is_photo,
    };
    if wrong_kind {
        return Some("file_format_check_failed");
    }
    verdict
        .problems
        .iter()
        .filter(|problem| problem.severity == Severity::Error)
        .find_map(|problem| {
            let code = problem.code.tiktok_error()?;
            MEDIA_FAIL_REASONS
                .iter()
                .copied()
                .find(|known| *known == code)
        })
}

/// Judges every file of a publish off the async runtime, hashes it, deletes them, and returns
/// the first failure with the SHA-256 of each file.
pub(crate) async fn inspect_and_delete(
    paths: Vec<PathBuf>,
    kind: MediaKind,
    creator_max_duration_s: u32,
) -> (Option<&'static str>, Vec<String>) {
    let judged = tokio::task::spawn_blocking(move || {
        let verdict = paths
            .iter()
            .find_map(|path| inspect(path, kind, creator_max_duration_s));
        let hashes = paths.iter().map(|path| sha256_hex(path)).collect();
        for path in &paths {
            // Already gone is fine: the point is that nothing stays behind.
            let _ = std::fs::remove_file(path);
        }
        (verdict, hashes)
    })
    .await;
    // A probe that died cannot have judged the file: TikTok's answer would be `internal`.
    judged.unwrap_or((Some("internal"), Vec::new()))
}

/// The file's SHA-256 as hex, read in small pieces; empty when it cannot be read.
fn sha256_hex(path: &Path) -> String {
    use sha2::Digest as _;
    use std::io::Read as _;
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0_u8; 256 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return hex::encode(hasher.finalize()),
            Ok(n) => hasher.update(buffer.get(..n).unwrap_or_default()),
            Err(_) => return String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    #[rstest]
    #[case::good_video("ok_720x1280_30fps_4s.mp4", MediaKind::Video, 600, None)]
    #[case::too_long_for_the_creator(
        "long_200s.mp4",
        MediaKind::Video,
        180,
        Some("duration_check_failed")
    )]
    #[case::long_but_allowed("long_200s.mp4", MediaKind::Video, 300, None)]
    #[case::slow_frame_rate(
        "slow_15fps.mp4",
        MediaKind::Video,
        600,
        Some("frame_rate_check_failed")
    )]
    #[case::too_small(
        "small_240x240.mp4",
        MediaKind::Video,
        600,
        Some("picture_size_check_failed")
    )]
    #[case::good_photo("photo_1080.jpg", MediaKind::Photo, 600, None)]
    #[case::png_photo("photo.png", MediaKind::Photo, 600, Some("file_format_check_failed"))]
    #[case::photo_as_video(
        "photo_1080.jpg",
        MediaKind::Video,
        600,
        Some("file_format_check_failed")
    )]
    #[case::video_as_photo(
        "ok_720x1280_30fps_4s.mp4",
        MediaKind::Photo,
        600,
        Some("file_format_check_failed")
    )]
    fn received_media_is_judged_by_the_media_probe(
        #[case] name: &str,
        #[case] kind: MediaKind,
        #[case] max_duration: u32,
        #[case] expected: Option<&str>,
    ) {
        assert_eq!(inspect(&fixture(name), kind, max_duration), expected);
    }

    #[test]
    fn bytes_that_are_not_media_fail_the_format_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage");
        std::fs::write(&path, b"definitely not a video").unwrap();
        assert_eq!(
            inspect(&path, MediaKind::Video, 600),
            Some("file_format_check_failed")
        );
    }
}
