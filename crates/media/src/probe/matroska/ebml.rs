//! EBML, the layer under Matroska: element ids and their names in messages, element headers and
//! the variable-length integers they are made of, and an element's span checked against its
//! parent. The header walks ([`super::header`]) and frame rate from cluster timing both read the
//! file through these.

use std::borrow::Cow;
use std::io::{Read, Seek};

use crate::probe::ProbeError;

// Ids the walks match on are `pub(super)`; those named only in messages stay here.
pub(super) const EBML_HEADER_ID: u32 = 0x1A45_DFA3;
const DOC_TYPE_ID: u32 = 0x4282;
pub(super) const SEGMENT_ID: u32 = 0x1853_8067;
pub(super) const SEEK_HEAD_ID: u32 = 0x114D_9B74;
pub(super) const SEEK_ID: u32 = 0x4DBB;
pub(super) const SEEK_ID_ID: u32 = 0x53AB;
pub(super) const SEEK_POSITION_ID: u32 = 0x53AC;
pub(super) const INFO_ID: u32 = 0x1549_A966;
const TITLE_ID: u32 = 0x7BA9;
const MUXING_APP_ID: u32 = 0x4D80;
const WRITING_APP_ID: u32 = 0x5741;
pub(super) const TRACKS_ID: u32 = 0x1654_AE6B;
pub(super) const TRACK_ENTRY_ID: u32 = 0xAE;
const NAME_ID: u32 = 0x536E;
const LANGUAGE_ID: u32 = 0x22_B59C;
const CODEC_ID_ID: u32 = 0x86;
const CODEC_PRIVATE_ID: u32 = 0x63A2;
const CODEC_NAME_ID: u32 = 0x25_8688;
pub(super) const VIDEO_ID: u32 = 0xE0;
pub(super) const COLOUR_ID: u32 = 0x55B0;
pub(super) const MASTERING_METADATA_ID: u32 = 0x55D0;
pub(super) const AUDIO_ID: u32 = 0xE1;
pub(super) const CONTENT_ENCODINGS_ID: u32 = 0x6D80;
pub(super) const CONTENT_ENCODING_ID: u32 = 0x6240;
pub(super) const CONTENT_COMPRESSION_ID: u32 = 0x5034;
const CONTENT_COMP_SETTINGS_ID: u32 = 0x4255;
pub(super) const CONTENT_ENCRYPTION_ID: u32 = 0x5035;
pub(super) const CONTENT_ENC_AES_SETTINGS_ID: u32 = 0x47E7;
const CUES_ID: u32 = 0x1C53_BB6B;
const CHAPTERS_ID: u32 = 0x1043_A770;
const TAGS_ID: u32 = 0x1254_C367;
const ATTACHMENTS_ID: u32 = 0x1941_A469;
const VOID_ID: u32 = 0xEC;
const CRC32_ID: u32 = 0xBF;
pub(super) const CLUSTER_ID: u32 = 0x1F43_B675;
pub(super) const CLUSTER_TIMESTAMP_ID: u32 = 0xE7;
pub(super) const SIMPLE_BLOCK_ID: u32 = 0xA3;
pub(super) const BLOCK_GROUP_ID: u32 = 0xA0;
pub(super) const BLOCK_ID: u32 = 0xA1;

/// An element of the file: its id, and where it starts, where its data starts and where it ends.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) id: u32,
    pub(super) start: u64,
    pub(super) data_start: u64,
    pub(super) end: u64,
}

impl Span {
    pub(super) fn len(self) -> u64 {
        self.end - self.start
    }
}

/// The span of the element whose header was read at `start`, refused when its size is unknown
/// (only a Segment or a Cluster may leave it open) or runs past its parent: a truncated file when
/// the parent runs to the end of the file, a malformed one otherwise.
pub(super) fn child_span(
    header: &ElementHeader,
    start: u64,
    parent: &str,
    parent_end: u64,
    file_size: u64,
) -> Result<Span, ProbeError> {
    let name = element_name(header.id);
    let size = header.size.ok_or_else(|| {
        ProbeError::malformed(format!(
            "Matroska: {name} at byte {start} has an unknown size, which only a Segment or a \
             Cluster may have"
        ))
    })?;
    let end = header.data_start.saturating_add(size);
    if end > parent_end {
        if parent_end >= file_size {
            return Err(ProbeError::Truncated {
                what: format!("the Matroska {name} at byte {start}"),
                claimed_end: end,
                file_size,
            });
        }
        let left = parent_end.saturating_sub(header.data_start);
        return Err(ProbeError::malformed(format!(
            "Matroska: {name} at byte {start} declares {size} bytes but its parent {parent} has \
             {left} bytes left"
        )));
    }
    Ok(Span {
        id: header.id,
        start,
        data_start: header.data_start,
        end,
    })
}

/// Says where a header that could not be read lies (the EBML readers do not know).
pub(super) fn placed(err: ProbeError, at: u64, parent: &str) -> ProbeError {
    match err {
        ProbeError::Malformed { what } => {
            ProbeError::malformed(format!("Matroska: {what}, at byte {at} in {parent}"))
        }
        other => other,
    }
}

/// The element's name in messages: the specification's name for those the probe meets, else
/// its id.
pub(super) fn element_name(id: u32) -> Cow<'static, str> {
    Cow::Borrowed(match id {
        EBML_HEADER_ID => "EBML header",
        DOC_TYPE_ID => "DocType",
        SEGMENT_ID => "Segment",
        SEEK_HEAD_ID => "SeekHead",
        SEEK_ID => "Seek",
        SEEK_ID_ID => "SeekID",
        SEEK_POSITION_ID => "SeekPosition",
        INFO_ID => "Info",
        TITLE_ID => "Title",
        MUXING_APP_ID => "MuxingApp",
        WRITING_APP_ID => "WritingApp",
        TRACKS_ID => "Tracks",
        TRACK_ENTRY_ID => "TrackEntry",
        NAME_ID => "Name",
        LANGUAGE_ID => "Language",
        CODEC_ID_ID => "CodecID",
        CODEC_PRIVATE_ID => "CodecPrivate",
        CODEC_NAME_ID => "CodecName",
        VIDEO_ID => "Video",
        COLOUR_ID => "Colour",
        MASTERING_METADATA_ID => "MasteringMetadata",
        AUDIO_ID => "Audio",
        CONTENT_ENCODINGS_ID => "ContentEncodings",
        CONTENT_ENCODING_ID => "ContentEncoding",
        CONTENT_COMPRESSION_ID => "ContentCompression",
        CONTENT_COMP_SETTINGS_ID => "ContentCompSettings",
        CONTENT_ENCRYPTION_ID => "ContentEncryption",
        CONTENT_ENC_AES_SETTINGS_ID => "ContentEncAESSettings",
        CUES_ID => "Cues",
        CHAPTERS_ID => "Chapters",
        TAGS_ID => "Tags",
        ATTACHMENTS_ID => "Attachments",
        VOID_ID => "Void",
        CRC32_ID => "CRC-32",
        CLUSTER_ID => "Cluster",
        other => return Cow::Owned(format!("element {other:#x}")),
    })
}

pub(super) struct ElementHeader {
    pub(super) id: u32,
    pub(super) data_start: u64,
    /// `None` for the reserved "unknown size" value.
    pub(super) size: Option<u64>,
}

impl ElementHeader {
    pub(super) fn end(&self, file_size: u64) -> Option<u64> {
        self.size.map(|size| {
            self.data_start
                .checked_add(size)
                .unwrap_or(file_size.saturating_add(1))
        })
    }
}

/// Reads an element header at the reader's position; a stream that ends inside it is truncation.
pub(super) fn read_element_header<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<ElementHeader, ProbeError> {
    let start = reader.stream_position()?;
    read_header(reader)?.ok_or_else(|| ProbeError::Truncated {
        what: format!("an EBML element header at byte {start}"),
        claimed_end: start.saturating_add(1),
        file_size,
    })
}

/// Reads an element header at the reader's position; `None` when the stream ends inside it.
pub(super) fn read_header<R: Read + Seek>(
    reader: &mut R,
) -> Result<Option<ElementHeader>, ProbeError> {
    let start = reader.stream_position()?;
    let Some((id, id_len)) = read_vint(reader, true)? else {
        return Ok(None);
    };
    let Some((size, size_len)) = read_vint(reader, false)? else {
        return Ok(None);
    };
    let all_ones = (1u64 << (7 * size_len)) - 1;
    Ok(Some(ElementHeader {
        id: u32::try_from(id)
            .map_err(|_| ProbeError::malformed("EBML element id longer than 4 bytes"))?,
        data_start: start + u64::from(id_len + size_len),
        size: (size != all_ones).then_some(size),
    }))
}

/// Reads an EBML variable-length integer; `keep_marker` keeps the length bit (element ids do).
/// `None` at the end of the stream.
pub(super) fn read_vint<R: Read>(
    reader: &mut R,
    keep_marker: bool,
) -> Result<Option<(u64, u32)>, ProbeError> {
    let mut first = [0u8; 1];
    if reader.read(&mut first)? == 0 {
        return Ok(None);
    }
    let [first] = first;
    let len = first.leading_zeros() + 1;
    if len > 8 || (keep_marker && len > 4) {
        return Err(ProbeError::malformed(format!(
            "invalid EBML variable-length integer starting with {first:#04x}"
        )));
    }
    let mut value = if keep_marker {
        u64::from(first)
    } else {
        u64::from(first) & ((1u64 << (8 - len)) - 1)
    };
    for _ in 1..len {
        let mut byte = [0u8; 1];
        if reader.read(&mut byte)? == 0 {
            return Ok(None);
        }
        let [byte] = byte;
        value = (value << 8) | u64::from(byte);
    }
    Ok(Some((value, len)))
}
