//! JPEG, WebP and PNG headers: dimensions through `imagesize`, plus what it does not give:
//! the JPEG coding (baseline or progressive) and EXIF orientation, from a bounded walk over the
//! JPEG markers before the first scan, and the WebP coding from its first chunk.

use std::io::{BufReader, Read, Seek, SeekFrom};

use super::{Container, ImageFacts, JpegKind, MediaFacts, ProbeError, WebpKind, read_capped};

/// EXIF blocks are at most 64 KiB (one APP1 segment); anything read is within that.
const APP1_CAP: u64 = 64 * 1024;
/// Markers before the first frame header: a camera writes a dozen; a hostile file could write
/// thousands of tiny ones.
const MAX_MARKERS: usize = 1024;

pub(super) fn probe_jpeg<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<MediaFacts, ProbeError> {
    let markers = walk_jpeg_markers(reader, file_size)?;
    let (pixel_width, pixel_height) = dimensions(reader, file_size)?;
    Ok(image_facts(
        Container::Jpeg,
        file_size,
        ImageFacts {
            pixel_width,
            pixel_height,
            exif_orientation: markers.orientation,
            jpeg_kind: Some(markers.kind),
            webp_kind: None,
        },
    ))
}

pub(super) fn probe_webp<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<MediaFacts, ProbeError> {
    reader.seek(SeekFrom::Start(0))?;
    let mut riff = [0u8; 16];
    reader
        .read_exact(&mut riff)
        .map_err(|_| truncated("the WebP header", 16, file_size))?;
    let declared_end = riff
        .get(4..8)
        .and_then(|size| size.try_into().ok())
        .map(u32::from_le_bytes)
        .map_or(0, |size| u64::from(size) + 8);
    if declared_end > file_size {
        return Err(truncated("the WebP RIFF chunk", declared_end, file_size));
    }
    let webp_kind = match riff.get(12..16) {
        Some(b"VP8 ") => WebpKind::Lossy,
        Some(b"VP8L") => WebpKind::Lossless,
        Some(b"VP8X") => WebpKind::Extended,
        _ => {
            return Err(ProbeError::malformed(
                "WebP without a VP8, VP8L or VP8X chunk",
            ));
        }
    };
    let (pixel_width, pixel_height) = dimensions(reader, file_size)?;
    Ok(image_facts(
        Container::Webp,
        file_size,
        ImageFacts {
            pixel_width,
            pixel_height,
            exif_orientation: None,
            jpeg_kind: None,
            webp_kind: Some(webp_kind),
        },
    ))
}

pub(super) fn probe_png<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<MediaFacts, ProbeError> {
    let (pixel_width, pixel_height) = dimensions(reader, file_size)?;
    Ok(image_facts(
        Container::Png,
        file_size,
        ImageFacts {
            pixel_width,
            pixel_height,
            exif_orientation: None,
            jpeg_kind: None,
            webp_kind: None,
        },
    ))
}

fn image_facts(container: Container, size_bytes: u64, image: ImageFacts) -> MediaFacts {
    MediaFacts {
        container,
        size_bytes,
        duration_s: None,
        video: None,
        audio_codec: None,
        image: Some(image),
    }
}

fn truncated(what: &str, claimed_end: u64, file_size: u64) -> ProbeError {
    ProbeError::Truncated {
        what: what.to_owned(),
        claimed_end,
        file_size,
    }
}

fn dimensions<R: Read + Seek>(reader: &mut R, file_size: u64) -> Result<(u32, u32), ProbeError> {
    reader.seek(SeekFrom::Start(0))?;
    let size = imagesize::reader_size(BufReader::new(&mut *reader)).map_err(|err| match err {
        imagesize::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            truncated("the image header", file_size.saturating_add(1), file_size)
        }
        imagesize::ImageError::IoError(io) => ProbeError::Io(io),
        other => ProbeError::malformed(format!("image header: {other}")),
    })?;
    let to_u32 = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
    if size.width == 0 || size.height == 0 {
        return Err(ProbeError::malformed(
            "the image declares a zero width or height",
        ));
    }
    Ok((to_u32(size.width), to_u32(size.height)))
}

struct JpegMarkers {
    kind: JpegKind,
    orientation: Option<u8>,
}

/// Walks the marker segments from SOI to the first frame header (SOFn), reading only APP1 bodies
/// (for EXIF) and skipping the others by their length.
fn walk_jpeg_markers<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<JpegMarkers, ProbeError> {
    let mut pos = 2u64; // after SOI
    let mut orientation = None;
    for _ in 0..MAX_MARKERS {
        reader.seek(SeekFrom::Start(pos))?;
        let mut marker = [0u8; 4];
        reader
            .read_exact(&mut marker)
            .map_err(|_| truncated("a JPEG marker", pos + 4, file_size))?;
        let [prefix, code, len_hi, len_lo] = marker;
        if prefix != 0xFF {
            return Err(ProbeError::malformed(format!(
                "JPEG marker expected at byte {pos}"
            )));
        }
        if code == 0xFF {
            pos += 1; // fill byte
            continue;
        }
        let segment_len = u64::from(u16::from_be_bytes([len_hi, len_lo]));
        if segment_len < 2 {
            return Err(ProbeError::malformed(format!(
                "JPEG segment at byte {pos} has length {segment_len}"
            )));
        }
        let segment_end = pos + 2 + segment_len;
        if segment_end > file_size {
            return Err(truncated(
                &format!("JPEG segment {code:#04x} at byte {pos}"),
                segment_end,
                file_size,
            ));
        }
        match code {
            0xC0 | 0xC1 => {
                return Ok(JpegMarkers {
                    kind: JpegKind::Baseline,
                    orientation,
                });
            }
            0xC2 => {
                return Ok(JpegMarkers {
                    kind: JpegKind::Progressive,
                    orientation,
                });
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Ok(JpegMarkers {
                    kind: JpegKind::Other,
                    orientation,
                });
            }
            0xDA => return Err(ProbeError::malformed("JPEG scan before any frame header")),
            0xE1 if orientation.is_none() => {
                let body = read_capped(reader, segment_len - 2, APP1_CAP, "JPEG APP1 segment")?;
                orientation = exif_orientation(&body);
            }
            _ => {}
        }
        pos = segment_end;
    }
    Err(ProbeError::malformed(format!(
        "no JPEG frame header within the first {MAX_MARKERS} markers"
    )))
}

/// The Orientation tag (0x0112) of IFD0 in an APP1 `Exif\0\0` body; `None` when absent or
/// out of range (1–8).
pub(crate) fn exif_orientation(app1: &[u8]) -> Option<u8> {
    let tiff = app1.strip_prefix(b"Exif\0\0")?;
    let big_endian = match tiff.get(0..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let bytes: [u8; 2] = tiff.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(bytes)
        } else {
            u16::from_le_bytes(bytes)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let bytes: [u8; 4] = tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    };
    let ifd0 = usize::try_from(u32_at(4)?).ok()?;
    let entries = u16_at(ifd0)?;
    (0..usize::from(entries)).find_map(|index| {
        let entry = ifd0.checked_add(2)?.checked_add(index.checked_mul(12)?)?;
        if u16_at(entry)? != 0x0112 {
            return None;
        }
        // SHORT value, left-justified in the 4-byte value field.
        let value = u16_at(entry.checked_add(8)?)?;
        u8::try_from(value)
            .ok()
            .filter(|value| (1..=8).contains(value))
    })
}
