//! WebM / Matroska: the EBML header, Info and Tracks through `matroska-demuxer` (which stops at
//! the first cluster), plus bounded EBML walks of our own: the Segment's declared size against
//! the file's (truncation), finding and checking the header elements, and block timestamps of the
//! first clusters when a track has no DefaultDuration (frame rate from cluster timing).
//!
//! The demuxer never reads the file itself: it opens a small Matroska file of the probe's own,
//! a copy of the EBML header, Info and Tracks whose every size the probe has checked (why, in
//! [`header`]). Here are the probe's entry and its glue to the demuxer: what it keeps of the
//! header, the reader it is given, the video facts, frame rate from cluster timing and codec
//! names. [`header`] finds, checks and copies the header elements; [`ebml`] reads element
//! headers, the layer both build on.

mod ebml;
mod header;

use std::io::{Cursor, Read, Seek, SeekFrom};

use matroska_demuxer::{DemuxError, MatroskaFile, TrackEntry, TrackType};

use self::ebml::{
    BLOCK_GROUP_ID, BLOCK_ID, CLUSTER_ID, CLUSTER_TIMESTAMP_ID, SIMPLE_BLOCK_ID,
    read_element_header, read_vint,
};
use self::header::{Segment, find_info_and_tracks, header_copy, segment_bounds};
use super::{Container, MediaFacts, ProbeError, VideoCodec, VideoFacts};

/// Reads and seeks `matroska-demuxer` may make while opening the copy. A real header takes a
/// few thousand; the budget turns any loop inside the crate into an error.
const DEMUXER_OPERATION_BUDGET: u32 = 1_000_000;
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
