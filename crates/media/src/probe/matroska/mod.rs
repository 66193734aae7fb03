//! WebM / Matroska: the EBML header, Info and Tracks through `matroska-demuxer` (which stops at
//! the first cluster), plus bounded EBML walks of our own: the Segment's declared size against
//! the file's (truncation), finding and checking the header elements, and block timestamps of the
//! first clusters when a track has no DefaultDuration (frame rate from cluster timing).
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

use std::borrow::Cow;
use std::io::{Cursor, Read, Seek, SeekFrom};

use matroska_demuxer::{DemuxError, MatroskaFile, TrackEntry, TrackType};

use super::{Container, MediaFacts, ProbeError, VideoCodec, VideoFacts, capped_len, read_capped};

const EBML_HEADER_ID: u32 = 0x1A45_DFA3;
const DOC_TYPE_ID: u32 = 0x4282;
const SEGMENT_ID: u32 = 0x1853_8067;
const SEEK_HEAD_ID: u32 = 0x114D_9B74;
const SEEK_ID: u32 = 0x4DBB;
const SEEK_ID_ID: u32 = 0x53AB;
const SEEK_POSITION_ID: u32 = 0x53AC;
const INFO_ID: u32 = 0x1549_A966;
const TITLE_ID: u32 = 0x7BA9;
const MUXING_APP_ID: u32 = 0x4D80;
const WRITING_APP_ID: u32 = 0x5741;
const TRACKS_ID: u32 = 0x1654_AE6B;
const TRACK_ENTRY_ID: u32 = 0xAE;
const NAME_ID: u32 = 0x536E;
const LANGUAGE_ID: u32 = 0x22_B59C;
const CODEC_ID_ID: u32 = 0x86;
const CODEC_PRIVATE_ID: u32 = 0x63A2;
const CODEC_NAME_ID: u32 = 0x25_8688;
const VIDEO_ID: u32 = 0xE0;
const COLOUR_ID: u32 = 0x55B0;
const MASTERING_METADATA_ID: u32 = 0x55D0;
const AUDIO_ID: u32 = 0xE1;
const CONTENT_ENCODINGS_ID: u32 = 0x6D80;
const CONTENT_ENCODING_ID: u32 = 0x6240;
const CONTENT_COMPRESSION_ID: u32 = 0x5034;
const CONTENT_COMP_SETTINGS_ID: u32 = 0x4255;
const CONTENT_ENCRYPTION_ID: u32 = 0x5035;
const CONTENT_ENC_AES_SETTINGS_ID: u32 = 0x47E7;
const CUES_ID: u32 = 0x1C53_BB6B;
const CHAPTERS_ID: u32 = 0x1043_A770;
const TAGS_ID: u32 = 0x1254_C367;
const ATTACHMENTS_ID: u32 = 0x1941_A469;
const VOID_ID: u32 = 0xEC;
const CRC32_ID: u32 = 0xBF;
const CLUSTER_ID: u32 = 0x1F43_B675;
const CLUSTER_TIMESTAMP_ID: u32 = 0xE7;
const SIMPLE_BLOCK_ID: u32 = 0xA3;
const BLOCK_GROUP_ID: u32 = 0xA0;
const BLOCK_ID: u32 = 0xA1;

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
/// Reads and seeks `matroska-demuxer` may make while opening the copy. A real header takes a
/// few thousand; the budget turns any loop inside the crate into an error.
const DEMUXER_OPERATION_BUDGET: u32 = 1_000_000;
/// An empty Cluster, which ends the copy: the demuxer refuses a file without one.
const EMPTY_CLUSTER: [u8; 5] = [0x1F, 0x43, 0xB6, 0x75, 0x80];
/// Frame rate from cluster timing looks at this many frames of the video track at most.
const TIMING_FRAMES: usize = 240;
/// …and walks at most this many elements, so a file of tiny elements cannot make it slow.
const TIMING_ELEMENTS: usize = 20_000;

pub(super) fn probe<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<MediaFacts, ProbeError> {
    let (ebml_header, segment) = segment_bounds(reader, file_size)?;
    let (info, tracks) = find_info_and_tracks(reader, segment, file_size)?;
    let copy = header_copy(reader, [ebml_header, info, tracks], file_size)?;
    let mut guarded = GuardedReader {
        inner: Cursor::new(copy.as_slice()),
        operations_left: DEMUXER_OPERATION_BUDGET,
    };
    let header = MatroskaFile::open(&mut guarded).map(|mkv| Header::of(&mkv));
    let Header {
        container,
        scale_ns,
        duration_s,
        video_track,
        audio_codec,
    } = header.map_err(|err| {
        if guarded.operations_left == 0 {
            ProbeError::malformed(
                "Matroska: the header walk did not end (looping element structure)",
            )
        } else {
            demux_error(err)
        }
    })?;

    let video = match video_track {
        Some(track) => Some(video_facts(reader, &track, segment, scale_ns)?),
        None => None,
    };
    Ok(MediaFacts {
        container,
        size_bytes: file_size,
        duration_s,
        video,
        audio_codec,
        image: None,
    })
}

/// What the probe keeps from `matroska-demuxer`'s view of the header.
struct Header {
    container: Container,
    scale_ns: u64,
    duration_s: Option<f64>,
    video_track: Option<TrackEntry>,
    audio_codec: Option<String>,
}

impl Header {
    fn of<R: Read + Seek>(mkv: &MatroskaFile<R>) -> Self {
        let scale_ns = mkv.info().timestamp_scale().get();
        Self {
            container: match mkv.ebml_header().doc_type() {
                "webm" => Container::Webm,
                _ => Container::Matroska,
            },
            scale_ns,
            duration_s: mkv
                .info()
                .duration()
                .filter(|duration| duration.is_finite() && *duration > 0.0)
                .map(|duration| duration * scale_ns as f64 / 1e9),
            video_track: mkv
                .tracks()
                .iter()
                .find(|track| track.track_type() == TrackType::Video)
                .cloned(),
            audio_codec: mkv
                .tracks()
                .iter()
                .find(|track| track.track_type() == TrackType::Audio)
                .map(|track| audio_codec_name(track.codec_id())),
        }
    }
}

/// The reader `matroska-demuxer` sees: counts its reads and seeks against a budget.
///
/// Why: matroska-demuxer 0.8.1's `search_seek_head` loops forever on a CRC-32 element first in
/// the Segment (found by the `matroska` fuzz target; regression tests in tests/fixtures.rs). The
/// copy it reads now starts its Segment with Info, so that loop cannot happen; the budget stays
/// for any other.
struct GuardedReader<R> {
    inner: R,
    operations_left: u32,
}

impl<R> GuardedReader<R> {
    fn spend(&mut self) -> std::io::Result<()> {
        self.operations_left = self.operations_left.checked_sub(1).ok_or_else(|| {
            std::io::Error::other("Matroska header walk exceeded its operation budget")
        })?;
        Ok(())
    }
}

impl<R: Read> Read for GuardedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.spend()?;
        self.inner.read(buf)
    }
}

impl<R: Seek> Seek for GuardedReader<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.spend()?;
        self.inner.seek(to)
    }
}

fn video_facts<R: Read + Seek>(
    reader: &mut R,
    track: &TrackEntry,
    segment: Segment,
    scale_ns: u64,
) -> Result<VideoFacts, ProbeError> {
    let video = track
        .video()
        .ok_or_else(|| ProbeError::malformed("the video track has no Video element"))?;
    let to_u32 = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
    let (fps, variable_frame_rate) = match track.default_duration() {
        Some(frame_ns) => (Some(1e9 / frame_ns.get() as f64), false),
        None => cluster_frame_rate(reader, segment, track.track_number().get(), scale_ns)?,
    };
    Ok(VideoFacts {
        codec: video_codec(track.codec_id()),
        coded_width: to_u32(video.pixel_width().get()),
        coded_height: to_u32(video.pixel_height().get()),
        rotation_degrees: 0,
        fps,
        variable_frame_rate,
        frame_count: None,
    })
}

/// The demuxer reads only the copy, whose every size the probe has checked: what it still
/// refuses (a missing required element, an unsupported DocType…) is a malformed header.
fn demux_error(err: DemuxError) -> ProbeError {
    ProbeError::malformed(format!("Matroska: {err}"))
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    data_start: u64,
    end: u64,
}

/// An element of the file: its id, and where it starts, where its data starts and where it ends.
#[derive(Debug, Clone, Copy)]
struct Span {
    id: u32,
    start: u64,
    data_start: u64,
    end: u64,
}

impl Span {
    fn len(self) -> u64 {
        self.end - self.start
    }
}

/// Reads the EBML header and the Segment header; a Segment whose declared size runs past the end
/// of the file means the file was cut. (A live recording's unknown size runs to the end.)
fn segment_bounds<R: Read + Seek>(
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
fn find_info_and_tracks<R: Read + Seek>(
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

/// The span of the element whose header was read at `start`, refused when its size is unknown
/// (only a Segment or a Cluster may leave it open) or runs past its parent: a truncated file when
/// the parent runs to the end of the file, a malformed one otherwise.
fn child_span(
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

/// Copies the EBML header, Info and Tracks into a Matroska file of their own: the EBML header,
/// a Segment of known size holding Info, Tracks and an empty Cluster. Each part must be within
/// [`HEADER_ELEMENT_CAP`], and every element inside it that the demuxer reads must fit in its
/// parent.
fn header_copy<R: Read + Seek>(
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

/// Says where a header that could not be read lies (the EBML readers do not know).
fn placed(err: ProbeError, at: u64, parent: &str) -> ProbeError {
    match err {
        ProbeError::Malformed { what } => {
            ProbeError::malformed(format!("Matroska: {what}, at byte {at} in {parent}"))
        }
        other => other,
    }
}

/// The element's name in messages: the specification's name for those the probe meets, else
/// its id.
fn element_name(id: u32) -> Cow<'static, str> {
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

struct ElementHeader {
    id: u32,
    data_start: u64,
    /// `None` for the reserved "unknown size" value.
    size: Option<u64>,
}

impl ElementHeader {
    fn end(&self, file_size: u64) -> Option<u64> {
        self.size.map(|size| {
            self.data_start
                .checked_add(size)
                .unwrap_or(file_size.saturating_add(1))
        })
    }
}

/// Reads an element header at the reader's position; a stream that ends inside it is truncation.
fn read_element_header<R: Read + Seek>(
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
fn read_header<R: Read + Seek>(reader: &mut R) -> Result<Option<ElementHeader>, ProbeError> {
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
fn read_vint<R: Read>(reader: &mut R, keep_marker: bool) -> Result<Option<(u64, u32)>, ProbeError> {
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

/// Average frame rate from the block timestamps of the first clusters, reading only element
/// headers and the 3-4 bytes of each block header (never the frame payloads).
fn cluster_frame_rate<R: Read + Seek>(
    reader: &mut R,
    segment: Segment,
    track_number: u64,
    scale_ns: u64,
) -> Result<(Option<f64>, bool), ProbeError> {
    let mut timestamps: Vec<i64> = Vec::with_capacity(TIMING_FRAMES);
    let mut pos = segment.data_start;
    let mut elements = 0usize;
    let mut cluster_timestamp = 0i64;
    // Descend into Clusters and BlockGroups; step over everything else.
    while pos < segment.end && timestamps.len() < TIMING_FRAMES && elements < TIMING_ELEMENTS {
        elements += 1;
        reader.seek(SeekFrom::Start(pos))?;
        let Ok(header) = read_element_header(reader, segment.end) else {
            break;
        };
        let Some(end) = header
            .end(segment.end)
            .or(Some(segment.end))
            .filter(|end| *end <= segment.end)
        else {
            break;
        };
        match header.id {
            CLUSTER_ID | BLOCK_GROUP_ID => pos = header.data_start,
            CLUSTER_TIMESTAMP_ID => {
                let mut value = 0i64;
                for _ in 0..header.size.unwrap_or(0).min(8) {
                    let mut byte = [0u8; 1];
                    reader.read_exact(&mut byte)?;
                    let [byte] = byte;
                    value = (value << 8) | i64::from(byte);
                }
                cluster_timestamp = value;
                pos = end;
            }
            SIMPLE_BLOCK_ID | BLOCK_ID => {
                if let Some((track, _)) = read_vint(reader, false)? {
                    let mut relative = [0u8; 2];
                    if track == track_number && reader.read_exact(&mut relative).is_ok() {
                        timestamps.push(
                            cluster_timestamp
                                .saturating_add(i64::from(i16::from_be_bytes(relative))),
                        );
                    }
                }
                pos = end;
            }
            _ => pos = end,
        }
        if header.size.is_none() && !matches!(header.id, CLUSTER_ID | BLOCK_GROUP_ID) {
            break;
        }
    }
    timestamps.sort_unstable();
    let (Some(first), Some(last)) = (timestamps.first(), timestamps.last()) else {
        return Ok((None, false));
    };
    let span_ticks = last.saturating_sub(*first);
    if span_ticks <= 0 || timestamps.len() < 2 {
        return Ok((None, false));
    }
    let span_s = span_ticks as f64 * scale_ns as f64 / 1e9;
    let fps = (timestamps.len() - 1) as f64 / span_s;
    let deltas = timestamps.windows(2).filter_map(|pair| match pair {
        [a, b] => Some(b - a),
        _ => None,
    });
    let (min, max) = deltas.fold((i64::MAX, 0i64), |(min, max), delta| {
        (min.min(delta), max.max(delta))
    });
    // Timestamps are rounded to the timestamp scale (usually 1 ms): allow one tick of jitter.
    let variable = max > 0 && max - min > 1 && max as f64 > min.max(1) as f64 * 1.05;
    Ok((Some(fps), variable))
}

fn video_codec(codec_id: &str) -> VideoCodec {
    match codec_id {
        "V_MPEG4/ISO/AVC" => VideoCodec::H264,
        "V_MPEGH/ISO/HEVC" => VideoCodec::Hevc,
        "V_VP8" => VideoCodec::Vp8,
        "V_VP9" => VideoCodec::Vp9,
        "V_AV1" => VideoCodec::Av1,
        "V_MJPEG" => VideoCodec::Mjpeg,
        id if id.starts_with("V_MPEG4/ISO/") => VideoCodec::Mpeg4,
        other => VideoCodec::Other(other.to_owned()),
    }
}

fn audio_codec_name(codec_id: &str) -> String {
    match codec_id {
        "A_OPUS" => "opus".to_owned(),
        "A_VORBIS" => "vorbis".to_owned(),
        "A_MPEG/L3" => "mp3".to_owned(),
        "A_FLAC" => "flac".to_owned(),
        "A_AC3" => "ac3".to_owned(),
        "A_EAC3" => "eac3".to_owned(),
        id if id.starts_with("A_AAC") => "aac".to_owned(),
        id if id.starts_with("A_PCM") => "pcm".to_owned(),
        other => other.to_owned(),
    }
}
