//! Recognises a format from its first bytes, so even formats TikTok refuses can be named.

use super::Container;

/// Which parser handles a file, decided from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// ISO base media file (MP4, MOV, 3GP, HEIF…): the brand in `ftyp` decides which.
    IsoBmff,
    /// EBML (WebM or Matroska): the DocType decides which.
    Ebml,
    Jpeg,
    Webp,
    Png,
    /// Recognised, but not probed further: the verdict names it and rejects it.
    Other(Container),
}

/// QuickTime files written before `ftyp` existed start directly with one of these boxes.
const LEGACY_QUICKTIME_BOXES: [&[u8; 4]; 6] =
    [b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"];

pub(super) fn sniff(head: &[u8]) -> Option<Signature> {
    let at = |range: std::ops::Range<usize>| head.get(range);
    if let Some(kind) = at(4..8)
        && (kind == b"ftyp"
            || LEGACY_QUICKTIME_BOXES
                .iter()
                .any(|legacy| kind == legacy.as_slice()))
    {
        return Some(Signature::IsoBmff);
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(Signature::Ebml);
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Signature::Jpeg);
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Signature::Png);
    }
    if head.starts_with(b"RIFF") {
        return match at(8..12) {
            Some(b"WEBP") => Some(Signature::Webp),
            Some(b"AVI ") => Some(Signature::Other(Container::Avi)),
            Some(b"WAVE") => Some(Signature::Other(Container::Wav)),
            _ => None,
        };
    }
    let other = if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Container::Gif
    } else if head.starts_with(b"BM") && head.len() >= 14 {
        Container::Bmp
    } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        Container::Tiff
    } else if head.starts_with(b"FLV\x01") {
        Container::Flv
    } else if head.starts_with(&[0x00, 0x00, 0x01, 0xBA]) {
        Container::MpegPs
    } else if head.starts_with(&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        Container::Asf
    } else if head.starts_with(b"OggS") {
        Container::Ogg
    } else if head.starts_with(b"ID3") {
        Container::Mp3
    } else if head.first() == Some(&0x47) && head.get(188) == Some(&0x47) {
        Container::MpegTs
    } else {
        return None;
    };
    Some(Signature::Other(other))
}

/// The first bytes in hex, for error messages about unrecognised files.
pub(super) fn hint(head: &[u8]) -> String {
    head.iter()
        .take(12)
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
