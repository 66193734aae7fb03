//! The header elements the demuxer is given: the EBML header and the Segment's bounds (a Segment
//! declared past the end of the file means the file was cut), Info and Tracks found and checked,
//! and the copy of the three that the demuxer opens.
//!
//! The demuxer never reads the file itself. It trusts the sizes it reads: a string or binary
//! element (a CodecPrivate, a Title…) goes into a buffer of its declared size, checked only
//! against the end of the stream, so a hostile file could make it allocate as much as the file's
//! own size (issue 18, item 7); and a SeekHead naming two SeekHeads makes it panic. So the probe
//! finds the EBML header, Info and Tracks itself (the Segment's top level up to the first Cluster,
//! then the SeekHead), refuses any element in them whose size runs past its parent, and copies
//! them, at most [`HEADER_ELEMENT_CAP`] bytes each, into a small Matroska file of its own with an
//! empty Cluster. The demuxer opens that copy: nothing it allocates can outgrow it, whatever sizes
//! the file declares, and the parts of the file the probe does not need (Cues, Tags, Chapters,
//! SeekHeads) never reach it.

use std::io::{Cursor, Read, Seek, SeekFrom};

use super::ebml::{
    AUDIO_ID, CLUSTER_ID, COLOUR_ID, CONTENT_COMPRESSION_ID, CONTENT_ENC_AES_SETTINGS_ID,
    CONTENT_ENCODING_ID, CONTENT_ENCODINGS_ID, CONTENT_ENCRYPTION_ID, EBML_HEADER_ID,
    ElementHeader, INFO_ID, MASTERING_METADATA_ID, SEEK_HEAD_ID, SEEK_ID, SEEK_ID_ID,
    SEEK_POSITION_ID, SEGMENT_ID, Span, TRACK_ENTRY_ID, TRACKS_ID, VIDEO_ID, child_span,
    element_name, placed, read_element_header, read_header,
};
use crate::probe::{ProbeError, capped_len, read_capped};

/// The most the probe copies of each of the EBML header, Info and Tracks, and so the most any
/// string or binary inside them can take in the demuxer. Real ones take a few hundred bytes to a
/// few KiB: a codec's private data is the largest part, and a subtitle track's style header can
/// reach tens of KiB.
const HEADER_ELEMENT_CAP: u64 = 1 << 20;
/// Children of one element in the copy. The demuxer lists the children of each element it reads
/// (some 40 bytes each): this bounds that list as the cap bounds the bytes.
const CHILDREN_PER_ELEMENT: usize = 4096;
/// Top-level elements looked at before the first Cluster to find Info and Tracks (real files
/// have 3 to 6 there).
const TOP_LEVEL_ELEMENTS: usize = 1024;
/// SeekHeads read when Info or Tracks is not before the first Cluster (one may name another).
const SEEK_HEADS: usize = 4;
/// An empty Cluster, which ends the copy: the demuxer refuses a file without one.
const EMPTY_CLUSTER: [u8; 5] = [0x1F, 0x43, 0xB6, 0x75, 0x80];

#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub(super) data_start: u64,
    pub(super) end: u64,
}

/// Reads the EBML header and the Segment header; a Segment whose declared size runs past the end
/// of the file means the file was cut. (A live recording's unknown size runs to the end.)
pub(super) fn segment_bounds<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<(Span, Segment), ProbeError> {
    reader.seek(SeekFrom::Start(0))?;
    let header = read_element_header(reader, file_size)?;
    if header.id != EBML_HEADER_ID {
        return Err(ProbeError::malformed("EBML header expected at byte 0"));
    }
    let header_end = header
        .end(file_size)
        .ok_or_else(|| ProbeError::malformed("EBML header of unknown size"))?;
    if header_end > file_size {
        return Err(ProbeError::Truncated {
            what: "the EBML header".to_owned(),
            claimed_end: header_end,
            file_size,
        });
    }
    let ebml_header = Span {
        id: header.id,
        start: 0,
        data_start: header.data_start,
        end: header_end,
    };
    reader.seek(SeekFrom::Start(header_end))?;
    let segment = read_element_header(reader, file_size)?;
    if segment.id != SEGMENT_ID {
        return Err(ProbeError::malformed(format!(
            "Segment expected at byte {header_end}, found element {:#x}",
            segment.id
        )));
    }
    let end = segment.end(file_size).unwrap_or(file_size);
    if end > file_size {
        return Err(ProbeError::Truncated {
            what: "the Matroska Segment".to_owned(),
            claimed_end: end,
            file_size,
        });
    }
    Ok((
        ebml_header,
        Segment {
            data_start: segment.data_start,
            end,
        },
    ))
}

/// Finds Info and Tracks: first among the Segment's top-level elements before the first Cluster
/// (where muxers put them), then through the SeekHeads seen there. Every element stepped over
/// must fit in the Segment; when one does not, what the SeekHeads say is still tried, and the
/// damage is the answer only if they do not lead to both.
pub(super) fn find_info_and_tracks<R: Read + Seek>(
    reader: &mut R,
    segment: Segment,
    file_size: u64,
) -> Result<(Span, Span), ProbeError> {
    let mut info = None;
    let mut tracks = None;
    let mut seek_heads = Vec::new();
    let mut damage = None;
    let mut at = segment.data_start;
    for _ in 0..TOP_LEVEL_ELEMENTS {
        if at >= segment.end || (info.is_some() && tracks.is_some()) {
            break;
        }
        let element = match top_level_element(reader, at, segment, file_size) {
            Ok(Some(element)) => element,
            Ok(None) => break,
            Err(err) => {
                damage = Some(err);
                break;
            }
        };
        match element.id {
            INFO_ID if info.is_none() => info = Some(element),
            TRACKS_ID if tracks.is_none() => tracks = Some(element),
            SEEK_HEAD_ID if seek_heads.len() < SEEK_HEADS => seek_heads.push(element),
            _ => {}
        }
        at = element.end;
    }
    if (info.is_none() || tracks.is_none())
        && let Err(err) = follow_seek_heads(
            reader,
            segment,
            file_size,
            seek_heads,
            &mut info,
            &mut tracks,
        )
    {
        return Err(damage.unwrap_or(err));
    }
    match (info, tracks, damage) {
        (Some(info), Some(tracks), _) => Ok((info, tracks)),
        (_, _, Some(damage)) => Err(damage),
        (info, _, None) => Err(ProbeError::malformed(format!(
            "Matroska: no {} element before the first Cluster, nor in a SeekHead",
            if info.is_none() { "Info" } else { "Tracks" }
        ))),
    }
}

/// The top-level element at `at`, which must fit in the Segment; `None` at a Cluster.
fn top_level_element<R: Read + Seek>(
    reader: &mut R,
    at: u64,
    segment: Segment,
    file_size: u64,
) -> Result<Option<Span>, ProbeError> {
    reader.seek(SeekFrom::Start(at))?;
    let header =
        read_element_header(reader, file_size).map_err(|err| placed(err, at, "Segment"))?;
    if header.id == CLUSTER_ID {
        return Ok(None);
    }
    child_span(&header, at, "Segment", segment.end, file_size).map(Some)
}

/// Looks up whichever of Info and Tracks is still missing in the SeekHeads, following a SeekHead
/// that names another, [`SEEK_HEADS`] in all at most.
fn follow_seek_heads<R: Read + Seek>(
    reader: &mut R,
    segment: Segment,
    file_size: u64,
    mut seek_heads: Vec<Span>,
    info: &mut Option<Span>,
    tracks: &mut Option<Span>,
) -> Result<(), ProbeError> {
    let mut next = 0;
    while let Some(seek_head) = seek_heads.get(next).copied() {
        next += 1;
        for (id, position) in seek_entries(reader, seek_head, file_size)? {
            let at = segment.data_start.saturating_add(position);
            match id {
                INFO_ID if info.is_none() => {
                    *info = Some(element_at(reader, at, id, segment, file_size)?);
                }
                TRACKS_ID if tracks.is_none() => {
                    *tracks = Some(element_at(reader, at, id, segment, file_size)?);
                }
                SEEK_HEAD_ID
                    if seek_heads.len() < SEEK_HEADS
                        && seek_heads.iter().all(|known| known.start != at) =>
                {
                    seek_heads.push(element_at(reader, at, id, segment, file_size)?);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The (element id, position in the Segment) entries of a SeekHead.
fn seek_entries<R: Read + Seek>(
    reader: &mut R,
    seek_head: Span,
    file_size: u64,
) -> Result<Vec<(u32, u64)>, ProbeError> {
    reader.seek(SeekFrom::Start(seek_head.start))?;
    let what = format!("the Matroska SeekHead at byte {}", seek_head.start);
    let bytes = read_capped(reader, seek_head.len(), HEADER_ELEMENT_CAP, &what)?;
    let copy = Copied {
        bytes: &bytes,
        start: seek_head.start,
    };
    let mut entries = Vec::new();
    for_each_child(&copy, seek_head, file_size, &mut |seek| {
        if seek.id != SEEK_ID {
            return Ok(());
        }
        let (mut id, mut position) = (None, None);
        for_each_child(&copy, seek, file_size, &mut |field| {
            match field.id {
                SEEK_ID_ID => id = copy.uint(field).and_then(|id| u32::try_from(id).ok()),
                SEEK_POSITION_ID => position = copy.uint(field),
                _ => {}
            }
            Ok(())
        })?;
        if let (Some(id), Some(position)) = (id, position) {
            entries.push((id, position));
        }
        Ok(())
    })?;
    Ok(entries)
}

/// The element a SeekHead places at `at`, which must be the one it names and fit in the Segment.
fn element_at<R: Read + Seek>(
    reader: &mut R,
    at: u64,
    id: u32,
    segment: Segment,
    file_size: u64,
) -> Result<Span, ProbeError> {
    let name = element_name(id);
    if at >= segment.end {
        return Err(ProbeError::malformed(format!(
            "Matroska: a SeekHead places {name} at byte {at}, past the end of the Segment"
        )));
    }
    reader.seek(SeekFrom::Start(at))?;
    let header = read_element_header(reader, file_size)?;
    if header.id != id {
        return Err(ProbeError::malformed(format!(
            "Matroska: a SeekHead places {name} at byte {at}, but {} is there",
            element_name(header.id)
        )));
    }
    child_span(&header, at, "Segment", segment.end, file_size)
}

/// Copies the EBML header, Info and Tracks into a Matroska file of their own: the EBML header,
/// a Segment of known size holding Info, Tracks and an empty Cluster. Each part must be within
/// [`HEADER_ELEMENT_CAP`], and every element inside it that the demuxer reads must fit in its
/// parent.
pub(super) fn header_copy<R: Read + Seek>(
    reader: &mut R,
    parts: [Span; 3],
    file_size: u64,
) -> Result<Vec<u8>, ProbeError> {
    let mut lens = [0usize; 3];
    for (len, part) in lens.iter_mut().zip(parts) {
        let what = format!(
            "the Matroska {} at byte {}",
            element_name(part.id),
            part.start
        );
        *len = capped_len(part.len(), HEADER_ELEMENT_CAP, &what)?;
    }
    let [ebml_len, info_len, tracks_len] = lens;
    let segment_size = info_len + tracks_len + EMPTY_CLUSTER.len();
    let mut copy = Vec::with_capacity(ebml_len + 12 + segment_size);
    let [ebml_header, info, tracks] = parts;
    append(reader, ebml_header, &mut copy, file_size)?;
    copy.extend_from_slice(&SEGMENT_ID.to_be_bytes());
    // The size on 8 bytes: the length marker is the lowest bit of the first byte.
    copy.extend_from_slice(&(segment_size as u64 | 1 << 56).to_be_bytes());
    let info_at = copy.len();
    append(reader, info, &mut copy, file_size)?;
    let tracks_at = copy.len();
    append(reader, tracks, &mut copy, file_size)?;
    copy.extend_from_slice(&EMPTY_CLUSTER);

    for (part, at, len) in [
        (ebml_header, 0, ebml_len),
        (info, info_at, info_len),
        (tracks, tracks_at, tracks_len),
    ] {
        let bytes = copy.get(at..at + len).unwrap_or_default();
        check_children(
            &Copied {
                bytes,
                start: part.start,
            },
            part,
            file_size,
        )?;
    }
    Ok(copy)
}

/// Appends the bytes of `span` to `copy`.
fn append<R: Read + Seek>(
    reader: &mut R,
    span: Span,
    copy: &mut Vec<u8>,
    file_size: u64,
) -> Result<(), ProbeError> {
    reader.seek(SeekFrom::Start(span.start))?;
    let read = reader.by_ref().take(span.len()).read_to_end(copy)?;
    if (read as u64) < span.len() {
        return Err(ProbeError::Truncated {
            what: format!(
                "the Matroska {} at byte {}",
                element_name(span.id),
                span.start
            ),
            claimed_end: span.end,
            file_size,
        });
    }
    Ok(())
}

/// An element copied into memory, with the position of its first byte in the file: the walks
/// over it speak of positions in the file.
struct Copied<'a> {
    bytes: &'a [u8],
    start: u64,
}

impl Copied<'_> {
    /// The bytes of the file from `from` to `to`, when the copy holds them.
    fn get(&self, from: u64, to: u64) -> Option<&[u8]> {
        let from = usize::try_from(from.checked_sub(self.start)?).ok()?;
        let to = usize::try_from(to.checked_sub(self.start)?).ok()?;
        self.bytes.get(from..to)
    }

    /// The data of `element` as an unsigned integer (EBML's big-endian, 0 to 8 bytes).
    fn uint(&self, element: Span) -> Option<u64> {
        let data = self.get(element.data_start, element.end)?;
        (data.len() <= 8).then(|| {
            data.iter()
                .fold(0u64, |value, byte| (value << 8) | u64::from(*byte))
        })
    }
}

/// Checks every child of `parent` against what its parent has left, and the children of those
/// the demuxer descends into, the same way.
fn check_children(copy: &Copied<'_>, parent: Span, file_size: u64) -> Result<(), ProbeError> {
    for_each_child(copy, parent, file_size, &mut |child| {
        if demuxer_descends(parent.id, child.id) {
            check_children(copy, child, file_size)?;
        }
        Ok(())
    })
}

/// The elements whose children matroska-demuxer 0.8.1 reads, below the EBML header, Info and
/// Tracks (whose children it reads too). Any other element it meets there it steps over without
/// reading, so what lies inside is of no concern.
fn demuxer_descends(parent: u32, child: u32) -> bool {
    matches!(
        (parent, child),
        (TRACKS_ID, TRACK_ENTRY_ID)
            | (TRACK_ENTRY_ID, VIDEO_ID | AUDIO_ID | CONTENT_ENCODINGS_ID)
            | (VIDEO_ID, COLOUR_ID)
            | (COLOUR_ID, MASTERING_METADATA_ID)
            | (CONTENT_ENCODINGS_ID, CONTENT_ENCODING_ID)
            | (
                CONTENT_ENCODING_ID,
                CONTENT_COMPRESSION_ID | CONTENT_ENCRYPTION_ID
            )
            | (CONTENT_ENCRYPTION_ID, CONTENT_ENC_AES_SETTINGS_ID)
    )
}

/// Calls `visit` with each child of `parent` (an element inside `copy`), in order, after checking
/// that its header is valid, that its size is known and that it fits in what `parent` has left.
fn for_each_child(
    copy: &Copied<'_>,
    parent: Span,
    file_size: u64,
    visit: &mut dyn FnMut(Span) -> Result<(), ProbeError>,
) -> Result<(), ProbeError> {
    let parent_name = element_name(parent.id);
    let mut cursor = Cursor::new(copy.get(copy.start, parent.end).unwrap_or_default());
    let mut at = parent.data_start;
    let mut children = 0usize;
    while at < parent.end {
        children += 1;
        if children > CHILDREN_PER_ELEMENT {
            return Err(ProbeError::malformed(format!(
                "Matroska: {parent_name} at byte {} has more than {CHILDREN_PER_ELEMENT} children",
                parent.start
            )));
        }
        cursor.set_position(at - copy.start);
        let header = match read_header(&mut cursor) {
            Ok(Some(header)) => header,
            Ok(None) => {
                return Err(ProbeError::malformed(format!(
                    "Matroska: the element header at byte {at} runs past the end of its parent \
                     {parent_name}"
                )));
            }
            Err(err) => return Err(placed(err, at, &parent_name)),
        };
        let header = ElementHeader {
            data_start: copy.start + header.data_start,
            ..header
        };
        let child = child_span(&header, at, &parent_name, parent.end, file_size)?;
        visit(child)?;
        at = child.end;
    }
    Ok(())
}
