//! Checks on the bytes that actually arrived, turned into TikTok's `fail_reason` values.
//!
//! This is container sniffing only (magic numbers): it recognises MP4/MOV, WebM/Matroska, JPEG
//! and WebP and rejects everything else (PNG included, which TikTok does not list). Duration,
//! frame rate and resolution need a real probe; `inspect_video` / `inspect_photo` are the one
//! place to plug one in. It never panics on malformed input.

/// A media check failure, named as TikTok names it in `fail_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaFailure {
    FileFormat,
    PictureSize,
}

impl MediaFailure {
    pub(crate) fn fail_reason(self) -> &'static str {
        match self {
            Self::FileFormat => "file_format_check_failed",
            Self::PictureSize => "picture_size_check_failed",
        }
    }
}

/// The container a file starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    IsoBmff,
    Matroska,
    Jpeg,
    Webp,
    Png,
    Unknown,
}

/// Recognises a container by its first bytes.
pub(crate) fn sniff_container(head: &[u8]) -> Container {
    let at = |range: std::ops::Range<usize>| head.get(range);
    if at(4..8).is_some_and(|tag| matches!(tag, b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free")) {
        Container::IsoBmff
    } else if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Container::Matroska
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Container::Jpeg
    } else if head.starts_with(b"RIFF") && at(8..12) == Some(b"WEBP".as_slice()) {
        Container::Webp
    } else if head.starts_with(&[0x89, b'P', b'N', b'G']) {
        Container::Png
    } else {
        Container::Unknown
    }
}

/// Maximum size of one photo (§11).
const MAX_PHOTO_BYTES: u64 = 20 * 1024 * 1024;
/// Maximum size of a video (§11).
const MAX_VIDEO_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Checks a received video from its first bytes and its total length.
pub(crate) fn inspect_video(head: &[u8], total_len: u64) -> Result<(), MediaFailure> {
    match sniff_container(head) {
        Container::IsoBmff | Container::Matroska if total_len <= MAX_VIDEO_BYTES => Ok(()),
        _ => Err(MediaFailure::FileFormat),
    }
}

/// Checks one received photo.
pub(crate) fn inspect_photo(head: &[u8], total_len: u64) -> Result<(), MediaFailure> {
    match sniff_container(head) {
        Container::Jpeg | Container::Webp if total_len <= MAX_PHOTO_BYTES => Ok(()),
        Container::Jpeg | Container::Webp => Err(MediaFailure::PictureSize),
        _ => Err(MediaFailure::FileFormat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case::mp4(b"\0\0\0\x20ftypisom\0\0\0\0".as_slice(), Container::IsoBmff)]
    #[case::mov(b"\0\0\0\x14ftypqt  \0\0\0\0".as_slice(), Container::IsoBmff)]
    #[case::webm(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86], Container::Matroska)]
    #[case::jpeg(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], Container::Jpeg)]
    #[case::webp(b"RIFF\x24\0\0\0WEBPVP8 ".as_slice(), Container::Webp)]
    #[case::png(b"\x89PNG\r\n\x1a\n".as_slice(), Container::Png)]
    #[case::text(b"hello world, not media".as_slice(), Container::Unknown)]
    #[case::empty(b"".as_slice(), Container::Unknown)]
    fn containers_are_recognised_by_their_magic_bytes(
        #[case] head: &[u8],
        #[case] expected: Container,
    ) {
        assert_eq!(sniff_container(head), expected);
    }

    #[test]
    fn a_png_photo_fails_the_format_check_and_a_huge_jpeg_the_size_check() {
        assert_eq!(
            inspect_photo(b"\x89PNG\r\n\x1a\n", 100),
            Err(MediaFailure::FileFormat)
        );
        assert_eq!(
            inspect_photo(&[0xFF, 0xD8, 0xFF, 0xE0], MAX_PHOTO_BYTES + 1),
            Err(MediaFailure::PictureSize)
        );
        assert_eq!(
            inspect_video(&[0xFF, 0xD8, 0xFF, 0xE0], 100),
            Err(MediaFailure::FileFormat)
        );
    }

    proptest! {
        #[test]
        fn sniffing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = sniff_container(&bytes);
            let _ = inspect_video(&bytes, bytes.len() as u64);
            let _ = inspect_photo(&bytes, bytes.len() as u64);
        }
    }
}
