//! The media probe: sniffs a file by its signature and reads only the metadata TikTok's rules
//! need (container, codec, displayed size, frame rate, duration), never the media payload.
//!
//! Its cost grows with the size of the metadata, not of the file: boxes and elements are walked by
//! their headers and skipped with seeks. Every size read from the file is checked against the
//! file's length before it is trusted, and every buffer has a fixed cap, so a hostile file can
//! neither make it allocate nor make it read outside the file. Damage is a [`ProbeError`], never
//! a panic.

mod image;
mod isobmff;
mod matroska;
mod sniff;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

pub use sniff::Signature;

/// The container or image format, as named in verdicts (`"mp4"`, `"webm"`, `"jpeg"`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    Mp4,
    Mov,
    #[serde(rename = "3gp")]
    ThreeGp,
    Heif,
    Avif,
    Webm,
    Matroska,
    Jpeg,
    Webp,
    Png,
    Gif,
    Bmp,
    Tiff,
    Avi,
    Wav,
    Flv,
    MpegTs,
    MpegPs,
    Asf,
    Ogg,
    Mp3,
}

impl Container {
    /// The name used in verdicts and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Mov => "mov",
            Self::ThreeGp => "3gp",
            Self::Heif => "heif",
            Self::Avif => "avif",
            Self::Webm => "webm",
            Self::Matroska => "matroska",
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::Bmp => "bmp",
            Self::Tiff => "tiff",
            Self::Avi => "avi",
            Self::Wav => "wav",
            Self::Flv => "flv",
            Self::MpegTs => "mpeg_ts",
            Self::MpegPs => "mpeg_ps",
            Self::Asf => "asf",
            Self::Ogg => "ogg",
            Self::Mp3 => "mp3",
        }
    }

    /// Still-image formats: what a photo post may carry (if TikTok accepts the format).
    pub fn is_still_image(self) -> bool {
        matches!(
            self,
            Self::Jpeg | Self::Webp | Self::Png | Self::Bmp | Self::Tiff | Self::Heif | Self::Avif
        )
    }
}

/// The video codec of the first video track, named the way ffprobe names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoCodec {
    H264,
    Hevc,
    Vp8,
    Vp9,
    Av1,
    /// MPEG-4 Part 2 (`mp4v`), ffprobe's `mpeg4`.
    Mpeg4,
    Mjpeg,
    /// Any other codec, by its FourCC or Matroska codec id.
    Other(String),
}

impl VideoCodec {
    /// The name used in verdicts and messages (ffprobe's `codec_name` for the known ones).
    pub fn name(&self) -> &str {
        match self {
            Self::H264 => "h264",
            Self::Hevc => "hevc",
            Self::Vp8 => "vp8",
            Self::Vp9 => "vp9",
            Self::Av1 => "av1",
            Self::Mpeg4 => "mpeg4",
            Self::Mjpeg => "mjpeg",
            Self::Other(name) => name,
        }
    }
}

/// Facts about the first video track.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoFacts {
    pub codec: VideoCodec,
    /// Size of the coded picture, before the display rotation.
    pub coded_width: u32,
    pub coded_height: u32,
    /// Clockwise display rotation from the track's display matrix: 0, 90, 180 or 270.
    pub rotation_degrees: u16,
    /// Average frame rate over the whole track, when the file says enough to compute it.
    pub fps: Option<f64>,
    /// Set when frame durations vary by more than 5 % (the average hides a range).
    pub variable_frame_rate: bool,
    pub frame_count: Option<u64>,
}

impl VideoFacts {
    /// Width as displayed: a 90° or 270° rotation swaps the coded sides.
    pub fn display_width(&self) -> u32 {
        if self.rotation_swaps_sides() {
            self.coded_height
        } else {
            self.coded_width
        }
    }

    /// Height as displayed: a 90° or 270° rotation swaps the coded sides.
    pub fn display_height(&self) -> u32 {
        if self.rotation_swaps_sides() {
            self.coded_width
        } else {
            self.coded_height
        }
    }

    fn rotation_swaps_sides(&self) -> bool {
        self.rotation_degrees == 90 || self.rotation_degrees == 270
    }
}

/// How a WebP image is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebpKind {
    Lossy,
    Lossless,
    Extended,
}

/// How a JPEG image is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JpegKind {
    Baseline,
    Progressive,
    /// Lossless, hierarchical or arithmetic-coded JPEG: rare, and not what phones write.
    Other,
}

/// Facts about a still image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageFacts {
    pub pixel_width: u32,
    pub pixel_height: u32,
    /// EXIF orientation tag (1–8) of a JPEG, when present; 5–8 mean the sides are swapped on
    /// display.
    pub exif_orientation: Option<u8>,
    pub jpeg_kind: Option<JpegKind>,
    pub webp_kind: Option<WebpKind>,
}

impl ImageFacts {
    fn orientation_swaps_sides(&self) -> bool {
        matches!(self.exif_orientation, Some(5..=8))
    }

    /// Width as displayed, EXIF orientation applied.
    pub fn display_width(&self) -> u32 {
        if self.orientation_swaps_sides() {
            self.pixel_height
        } else {
            self.pixel_width
        }
    }

    /// Height as displayed, EXIF orientation applied.
    pub fn display_height(&self) -> u32 {
        if self.orientation_swaps_sides() {
            self.pixel_width
        } else {
            self.pixel_height
        }
    }
}

/// Everything the probe learned about one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaFacts {
    pub container: Container,
    pub size_bytes: u64,
    /// Presentation duration in seconds (edit lists and fragments taken into account).
    pub duration_s: Option<f64>,
    pub video: Option<VideoFacts>,
    /// Audio codec of the first audio track (`aac`, `opus`, `mp3`… or the raw FourCC/codec id).
    pub audio_codec: Option<String>,
    pub image: Option<ImageFacts>,
}

impl MediaFacts {
    /// Facts for a format recognised by its signature but not parsed further (GIF, AVI…).
    fn recognised_only(container: Container, size_bytes: u64) -> Self {
        Self {
            container,
            size_bytes,
            duration_s: None,
            video: None,
            audio_codec: None,
            image: None,
        }
    }
}

/// Why a file could not be probed: every kind of damage has its own variant.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the file is empty")]
    Empty,
    #[error("not a recognised media format (first bytes: {signature_hint})")]
    UnrecognisedFormat { signature_hint: String },
    #[error(
        "the file is truncated: {what} claims to end at byte {claimed_end} but the file has {file_size} bytes"
    )]
    Truncated {
        what: String,
        claimed_end: u64,
        file_size: u64,
    },
    #[error(
        "the file's sample data lies outside the file: {what} ends at byte {claimed_end} but the file has {file_size} bytes"
    )]
    SampleDataOutsideFile {
        what: String,
        claimed_end: u64,
        file_size: u64,
    },
    #[error("the file is malformed: {what}")]
    Malformed { what: String },
    #[error("could not read the file: {0}")]
    Io(#[from] io::Error),
}

impl ProbeError {
    fn malformed(what: impl Into<String>) -> Self {
        Self::Malformed { what: what.into() }
    }
}

/// Probes the file at `path`.
pub fn probe_path(path: &Path) -> Result<MediaFacts, ProbeError> {
    let file = File::open(path)?;
    probe_reader(BufReader::with_capacity(16 * 1024, file))
}

/// Probes any seekable reader; reads only headers and metadata, seeking over payloads.
pub fn probe_reader<R: Read + Seek>(mut reader: R) -> Result<MediaFacts, ProbeError> {
    let size_bytes = reader.seek(SeekFrom::End(0))?;
    if size_bytes == 0 {
        return Err(ProbeError::Empty);
    }
    reader.seek(SeekFrom::Start(0))?;
    // 189 bytes: enough to see a transport stream's second sync byte.
    let mut head = [0u8; 189];
    let head_len = read_up_to(&mut reader, &mut head)?;
    let head = head.get(..head_len).unwrap_or_default();
    reader.seek(SeekFrom::Start(0))?;

    match sniff::sniff(head) {
        Some(Signature::IsoBmff) => isobmff::probe(&mut reader, size_bytes),
        Some(Signature::Ebml) => matroska::probe(&mut reader, size_bytes),
        Some(Signature::Jpeg) => image::probe_jpeg(&mut reader, size_bytes),
        Some(Signature::Webp) => image::probe_webp(&mut reader, size_bytes),
        Some(Signature::Png) => image::probe_png(&mut reader, size_bytes),
        Some(Signature::Other(container)) => Ok(MediaFacts::recognised_only(container, size_bytes)),
        None => Err(ProbeError::UnrecognisedFormat {
            signature_hint: sniff::hint(head),
        }),
    }
}

/// Reads until `buf` is full or the reader ends; returns how many bytes were read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Reads exactly `len` bytes at the current position into a new buffer, refusing lengths above
/// `cap` before allocating (the length comes from the file and is not trusted).
fn read_capped<R: Read>(
    reader: &mut R,
    len: u64,
    cap: u64,
    what: &str,
) -> Result<Vec<u8>, ProbeError> {
    let mut buf = vec![0u8; capped_len(len, cap, what)?];
    reader.read_exact(&mut buf)?;
    Ok(buf)
}

/// `len` as a buffer length, refused when above `cap` (the length comes from the file).
fn capped_len(len: u64, cap: u64, what: &str) -> Result<usize, ProbeError> {
    if len > cap {
        return Err(ProbeError::malformed(format!(
            "{what} of {len} bytes exceeds the {cap}-byte metadata cap"
        )));
    }
    usize::try_from(len)
        .map_err(|_| ProbeError::malformed(format!("{what} size does not fit in memory")))
}
