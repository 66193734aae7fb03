//! WebM / Matroska: the EBML header, Info and Tracks through `matroska-demuxer` (which stops at
//! the first cluster), plus two small bounded EBML walks of our own: the Segment's declared size
//! against the file's (truncation), and block timestamps of the first clusters when a track has
//! no DefaultDuration (frame rate from cluster timing).

use std::io::{Read, Seek, SeekFrom};

use matroska_demuxer::{DemuxError, MatroskaFile, TrackEntry, TrackType};

use super::{Container, MediaFacts, ProbeError, VideoCodec, VideoFacts};

const EBML_HEADER_ID: u32 = 0x1A45_DFA3;
const CRC32_ID: u8 = 0xBF;
const VOID_ID: u8 = 0xEC;
/// Reads and seeks `matroska-demuxer` may make while opening a file. A real file's header walk
/// takes a few thousand; the budget turns any loop inside the crate into an error.
const DEMUXER_OPERATION_BUDGET: u32 = 1_000_000;
const SEGMENT_ID: u32 = 0x1853_8067;
const CLUSTER_ID: u32 = 0x1F43_B675;
const CLUSTER_TIMESTAMP_ID: u32 = 0xE7;
const SIMPLE_BLOCK_ID: u32 = 0xA3;
const BLOCK_GROUP_ID: u32 = 0xA0;
const BLOCK_ID: u32 = 0xA1;
/// Frame rate from cluster timing looks at this many frames of the video track at most.
const TIMING_FRAMES: usize = 240;
/// …and walks at most this many elements, so a file of tiny elements cannot make it slow.
const TIMING_ELEMENTS: usize = 20_000;

pub(super) fn probe<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<MediaFacts, ProbeError> {
    let segment = segment_bounds(reader, file_size)?;
    reader.seek(SeekFrom::Start(0))?;
    let crc_at_segment_start = {
        reader.seek(SeekFrom::Start(segment.data_start))?;
        let mut first = [0u8; 1];
        reader.read(&mut first)? == 1 && first == [CRC32_ID]
    };
    let mut guarded = GuardedReader {
        inner: &mut *reader,
        pos: 0,
        operations_left: DEMUXER_OPERATION_BUDGET,
        void_at: crc_at_segment_start.then_some(segment.data_start),
    };
    guarded.seek(SeekFrom::Start(0))?;
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
            demux_error(err, file_size)
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

/// The reader `matroska-demuxer` sees: counts its reads and seeks against a budget, and shows a
/// CRC-32 element at the very start of the Segment as a Void element of the same size.
///
/// Why: matroska-demuxer 0.8.1's `search_seek_head` answers a leading CRC-32 with `continue`
/// after seeking back to the Segment start, so it loops forever on a valid file (found by the
/// `matroska` fuzz target; regression test in tests/fixtures.rs). A Void element is skipped the
/// same way but ends the search, and the CRC-32 is of no use to the probe anyway.
struct GuardedReader<'r, R> {
    inner: &'r mut R,
    pos: u64,
    operations_left: u32,
    void_at: Option<u64>,
}

impl<R> GuardedReader<'_, R> {
    fn spend(&mut self) -> std::io::Result<()> {
        self.operations_left = self.operations_left.checked_sub(1).ok_or_else(|| {
            std::io::Error::other("Matroska header walk exceeded its operation budget")
        })?;
        Ok(())
    }
}

impl<R: Read> Read for GuardedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.spend()?;
        let n = self.inner.read(buf)?;
        if let Some(at) = self.void_at
            && let Some(index) = at
                .checked_sub(self.pos)
                .and_then(|offset| usize::try_from(offset).ok())
            && index < n
            && let Some(byte) = buf.get_mut(index)
        {
            *byte = VOID_ID;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for GuardedReader<'_, R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.spend()?;
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
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

fn demux_error(err: DemuxError, file_size: u64) -> ProbeError {
    match err {
        DemuxError::ElementSizeExceedsStream { declared, .. } => ProbeError::Truncated {
            what: "an EBML element".to_owned(),
            claimed_end: declared,
            file_size,
        },
        DemuxError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ProbeError::Truncated {
                what: "the Matroska header".to_owned(),
                claimed_end: file_size.saturating_add(1),
                file_size,
            }
        }
        DemuxError::IoError(io) => ProbeError::Io(io),
        other => ProbeError::malformed(format!("Matroska: {other}")),
    }
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    data_start: u64,
    end: u64,
}

/// Reads the EBML header and the Segment header; a Segment whose declared size runs past the end
/// of the file means the file was cut. (A live recording's unknown size runs to the end.)
fn segment_bounds<R: Read + Seek>(reader: &mut R, file_size: u64) -> Result<Segment, ProbeError> {
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
    Ok(Segment {
        data_start: segment.data_start,
        end,
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

fn read_element_header<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<ElementHeader, ProbeError> {
    let start = reader.stream_position()?;
    let truncated = || ProbeError::Truncated {
        what: format!("an EBML element header at byte {start}"),
        claimed_end: start.saturating_add(1),
        file_size,
    };
    let (id, id_len) = read_vint(reader, true)?.ok_or_else(truncated)?;
    let (size, size_len) = read_vint(reader, false)?.ok_or_else(truncated)?;
    let all_ones = (1u64 << (7 * size_len)) - 1;
    Ok(ElementHeader {
        id: u32::try_from(id)
            .map_err(|_| ProbeError::malformed("EBML element id longer than 4 bytes"))?,
        data_start: start + u64::from(id_len + size_len),
        size: (size != all_ones).then_some(size),
    })
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
