//! MP4 / MOV (ISO base media file format): a walk over the top-level boxes by their headers.
//!
//! `mdat` is never read: the walk seeks over it. Only `ftyp`, `moov`, `moof` and `sidx` are read
//! into memory, each under a fixed cap checked before allocating, and decoded with `mp4-atom`'s
//! typed boxes. Sizes are checked against the file's length as they are met, so a box that claims
//! to extend past the end is reported as truncation, and the sample tables are checked so that
//! sample data declared outside the file is reported too.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};

use mp4_atom::{
    Codec, Decode, FourCC, Matrix, Moof, Moov, Sidx, Stbl, StszSamples, Trak, TrunSamples,
};

use super::{Container, MediaFacts, ProbeError, VideoCodec, VideoFacts, read_capped};

/// Real `moov` boxes are a few MiB even for hours of video; 64 MiB is far beyond any of them.
const MOOV_CAP: u64 = 64 * 1024 * 1024;
/// One fragment's `moof` describes seconds of media: a few KiB.
const MOOF_CAP: u64 = 16 * 1024 * 1024;
/// `ftyp` and `sidx` are small; a large one is hostile.
const SMALL_BOX_CAP: u64 = 4 * 1024 * 1024;
/// Top-level boxes walked at most: a fragmented 10-minute 60 fps file with one fragment per
/// frame has 72 000; a file of millions of empty boxes is hostile, not media.
const MAX_TOP_LEVEL_BOXES: usize = 1_000_000;
/// Frame durations that differ by more than this ratio make a variable frame rate.
const VFR_TOLERANCE: f64 = 1.05;

struct BoxHeader {
    kind: [u8; 4],
    start: u64,
    end: u64,
}

impl BoxHeader {
    fn size(&self) -> u64 {
        self.end - self.start
    }

    fn kind_name(&self) -> String {
        String::from_utf8_lossy(&self.kind).into_owned()
    }
}

/// Sample count and summed duration (in the track's media timescale) of the fragments of one
/// track.
#[derive(Default, Clone, Copy)]
struct FragmentTotals {
    samples: u64,
    ticks: u64,
}

#[derive(Default)]
struct Walk {
    major_brand: Option<[u8; 4]>,
    moov: Option<Moov>,
    /// Per track id, summed over every `moof`.
    fragments: BTreeMap<u32, FragmentTotals>,
    /// The longest duration any `sidx` announces, in seconds.
    sidx_duration_s: Option<f64>,
}

pub(super) fn probe<R: Read + Seek>(
    reader: &mut R,
    file_size: u64,
) -> Result<MediaFacts, ProbeError> {
    let mut walk = Walk::default();
    let mut pos = 0u64;
    let mut boxes = 0usize;
    // A file's trailing padding shorter than a box header is not damage.
    while file_size.saturating_sub(pos) >= 8 {
        boxes += 1;
        if boxes > MAX_TOP_LEVEL_BOXES {
            return Err(ProbeError::malformed(format!(
                "more than {MAX_TOP_LEVEL_BOXES} top-level boxes"
            )));
        }
        let header = read_header(reader, pos, file_size)?;
        match &header.kind {
            b"ftyp" => {
                let body = read_box(reader, &header, SMALL_BOX_CAP)?;
                walk.major_brand = body.get(8..12).and_then(|brand| brand.try_into().ok());
                if let Some(container @ (Container::Heif | Container::Avif)) =
                    walk.container_from_brand()
                {
                    return Ok(MediaFacts::recognised_only(container, file_size));
                }
            }
            b"moov" => {
                if walk.moov.is_some() {
                    return Err(ProbeError::malformed("the file has two 'moov' boxes"));
                }
                let bytes = read_box(reader, &header, MOOV_CAP)?;
                let moov = Moov::decode(&mut bytes.as_slice())
                    .map_err(|err| ProbeError::malformed(format!("'moov' box: {err}")))?;
                walk.moov = Some(moov);
            }
            b"moof" => {
                let bytes = read_box(reader, &header, MOOF_CAP)?;
                let moof = Moof::decode(&mut bytes.as_slice()).map_err(|err| {
                    ProbeError::malformed(format!("'moof' box at byte {}: {err}", header.start))
                })?;
                walk.add_fragment(&moof, header.start, file_size)?;
            }
            b"sidx" => {
                let bytes = read_box(reader, &header, SMALL_BOX_CAP)?;
                let sidx = Sidx::decode(&mut bytes.as_slice())
                    .map_err(|err| ProbeError::malformed(format!("'sidx' box: {err}")))?;
                let ticks: u64 = sidx
                    .references
                    .iter()
                    .map(|reference| u64::from(reference.subsegment_duration))
                    .sum();
                if let Some(seconds) = seconds(ticks, sidx.timescale) {
                    walk.sidx_duration_s = Some(
                        walk.sidx_duration_s
                            .map_or(seconds, |prior| prior.max(seconds)),
                    );
                }
            }
            _ => {}
        }
        pos = header.end;
    }
    walk.into_facts(file_size)
}

fn read_header<R: Read + Seek>(
    reader: &mut R,
    pos: u64,
    file_size: u64,
) -> Result<BoxHeader, ProbeError> {
    reader.seek(SeekFrom::Start(pos))?;
    let mut short = [0u8; 8];
    reader.read_exact(&mut short)?;
    let (size_field, kind) = short.split_at(4);
    let size32 = u32::from_be_bytes(
        size_field
            .try_into()
            .map_err(|_| ProbeError::malformed("box header"))?,
    );
    let kind: [u8; 4] = kind
        .try_into()
        .map_err(|_| ProbeError::malformed("box header"))?;
    let end = match size32 {
        0 => file_size,
        1 => {
            if file_size - pos < 16 {
                return Err(ProbeError::Truncated {
                    what: format!("64-bit size of the box at byte {pos}"),
                    claimed_end: pos + 16,
                    file_size,
                });
            }
            let mut large = [0u8; 8];
            reader.read_exact(&mut large)?;
            let size = u64::from_be_bytes(large);
            if size < 16 {
                return Err(ProbeError::malformed(format!(
                    "box at byte {pos} has a 64-bit size of {size}"
                )));
            }
            pos.saturating_add(size)
        }
        2..=7 => {
            return Err(ProbeError::malformed(format!(
                "box at byte {pos} has a size of {size32}"
            )));
        }
        size => pos + u64::from(size),
    };
    let header = BoxHeader {
        kind,
        start: pos,
        end,
    };
    if end > file_size {
        return Err(ProbeError::Truncated {
            what: format!("'{}' box at byte {pos}", header.kind_name()),
            claimed_end: end,
            file_size,
        });
    }
    Ok(header)
}

/// Reads a whole box (header included, so `mp4-atom` can decode it) under `cap`.
fn read_box<R: Read + Seek>(
    reader: &mut R,
    header: &BoxHeader,
    cap: u64,
) -> Result<Vec<u8>, ProbeError> {
    reader.seek(SeekFrom::Start(header.start))?;
    read_capped(
        reader,
        header.size(),
        cap,
        &format!("'{}' box", header.kind_name()),
    )
}

fn seconds(ticks: u64, timescale: u32) -> Option<f64> {
    (ticks > 0 && timescale > 0).then(|| ticks as f64 / f64::from(timescale))
}

impl Walk {
    fn container_from_brand(&self) -> Option<Container> {
        let brand = self.major_brand?;
        Some(match &brand {
            b"qt  " => Container::Mov,
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
                Container::Heif
            }
            b"avif" | b"avis" => Container::Avif,
            [b'3', b'g', b'p' | b'2', _] => Container::ThreeGp,
            _ => Container::Mp4,
        })
    }

    fn add_fragment(
        &mut self,
        moof: &Moof,
        moof_start: u64,
        file_size: u64,
    ) -> Result<(), ProbeError> {
        for traf in &moof.traf {
            let trex = self.trex(traf.tfhd.track_id);
            let default_duration = traf
                .tfhd
                .default_sample_duration
                .or(trex.map(|trex| trex.default_sample_duration))
                .unwrap_or(0);
            let default_size = traf
                .tfhd
                .default_sample_size
                .or(trex.map(|trex| trex.default_sample_size))
                .unwrap_or(0);
            let base = traf.tfhd.base_data_offset.unwrap_or(moof_start);
            let mut run_start = base;
            let totals = self.fragments.entry(traf.tfhd.track_id).or_default();
            for trun in &traf.trun {
                if let Some(offset) = trun.data_offset {
                    run_start = base.saturating_add_signed(i64::from(offset));
                }
                let (samples, ticks, bytes) = match &trun.samples {
                    TrunSamples::Inherited { count, .. } => {
                        let count = u64::from(*count);
                        (
                            count,
                            count.saturating_mul(u64::from(default_duration)),
                            count.saturating_mul(u64::from(default_size)),
                        )
                    }
                    TrunSamples::Explicit(entries) => {
                        entries
                            .iter()
                            .fold((0u64, 0u64, 0u64), |(n, ticks, bytes), entry| {
                                (
                                    n + 1,
                                    ticks.saturating_add(u64::from(
                                        entry.duration.unwrap_or(default_duration),
                                    )),
                                    bytes.saturating_add(u64::from(
                                        entry.size.unwrap_or(default_size),
                                    )),
                                )
                            })
                    }
                };
                let run_end = run_start.saturating_add(bytes);
                if run_end > file_size {
                    return Err(ProbeError::SampleDataOutsideFile {
                        what: format!("track {} fragment at byte {moof_start}", traf.tfhd.track_id),
                        claimed_end: run_end,
                        file_size,
                    });
                }
                totals.samples = totals.samples.saturating_add(samples);
                totals.ticks = totals.ticks.saturating_add(ticks);
                run_start = run_end;
            }
        }
        Ok(())
    }

    fn trex(&self, track_id: u32) -> Option<&mp4_atom::Trex> {
        self.moov
            .as_ref()?
            .mvex
            .as_ref()?
            .trex
            .iter()
            .find(|trex| trex.track_id == track_id)
    }

    fn into_facts(self, file_size: u64) -> Result<MediaFacts, ProbeError> {
        // Files without `ftyp` are QuickTime files from before the brand existed.
        let container = self.container_from_brand().unwrap_or(Container::Mov);
        let Some(moov) = &self.moov else {
            return Err(ProbeError::malformed(
                "no 'moov' box: the file has no index of its media (an interrupted recording or copy?)",
            ));
        };
        for trak in &moov.trak {
            check_sample_data(trak, file_size)?;
        }
        let video_trak = moov
            .trak
            .iter()
            .find(|trak| trak.mdia.hdlr.handler == FourCC::new(b"vide"));
        let audio_trak = moov
            .trak
            .iter()
            .find(|trak| trak.mdia.hdlr.handler == FourCC::new(b"soun"));
        let video = video_trak.map(|trak| self.video_facts(trak)).transpose()?;
        Ok(MediaFacts {
            container,
            size_bytes: file_size,
            duration_s: self.duration_s(moov),
            video,
            audio_codec: audio_trak
                .and_then(|trak| trak.mdia.minf.stbl.stsd.codecs.first())
                .map(audio_codec_name),
            image: None,
        })
    }

    /// The movie header's duration; when it is 0 (fragmented files), the tracks' edit lists or
    /// media durations, then the fragments, then the segment index.
    fn duration_s(&self, moov: &Moov) -> Option<f64> {
        if let Some(movie) = seconds(moov.mvhd.duration, moov.mvhd.timescale) {
            return Some(movie);
        }
        let longest = |values: &mut dyn Iterator<Item = f64>| {
            values.fold(None, |max: Option<f64>, value| {
                Some(max.map_or(value, |max| max.max(value)))
            })
        };
        let from_tracks = longest(
            &mut moov
                .trak
                .iter()
                .filter_map(|trak| track_duration_s(trak, moov.mvhd.timescale)),
        );
        if from_tracks.is_some() {
            return from_tracks;
        }
        let from_mehd = moov
            .mvex
            .as_ref()
            .and_then(|mvex| mvex.mehd.as_ref())
            .and_then(|mehd| seconds(mehd.fragment_duration, moov.mvhd.timescale));
        if from_mehd.is_some() {
            return from_mehd;
        }
        let from_fragments = longest(&mut moov.trak.iter().filter_map(|trak| {
            let totals = self.fragments.get(&trak.tkhd.track_id)?;
            seconds(totals.ticks, trak.mdia.mdhd.timescale)
        }));
        from_fragments.or(self.sidx_duration_s)
    }

    fn video_facts(&self, trak: &Trak) -> Result<VideoFacts, ProbeError> {
        let stbl = &trak.mdia.minf.stbl;
        let entry =
            stbl.stsd.codecs.first().ok_or_else(|| {
                ProbeError::malformed("the video track has no sample description")
            })?;
        let codec = video_codec(entry);
        let (coded_width, coded_height) = coded_size(entry).unwrap_or((
            u32::from(trak.tkhd.width.integer()),
            u32::from(trak.tkhd.height.integer()),
        ));
        let table = sample_timing(stbl);
        let (samples, ticks, variable_frame_rate) = if table.samples > 0 {
            (table.samples, table.ticks, table.variable)
        } else {
            let totals = self
                .fragments
                .get(&trak.tkhd.track_id)
                .copied()
                .unwrap_or_default();
            (totals.samples, totals.ticks, false)
        };
        let timescale = trak.mdia.mdhd.timescale;
        let fps = (samples > 0 && ticks > 0 && timescale > 0)
            .then(|| samples as f64 * f64::from(timescale) / ticks as f64);
        Ok(VideoFacts {
            codec,
            coded_width,
            coded_height,
            rotation_degrees: rotation_degrees(&trak.tkhd.matrix),
            fps,
            variable_frame_rate,
            frame_count: (samples > 0).then_some(samples),
        })
    }
}

/// A track's presentation duration: the sum of its edit list (movie timescale) when there is one,
/// or its media duration.
fn track_duration_s(trak: &Trak, movie_timescale: u32) -> Option<f64> {
    let edited: u64 = trak
        .edts
        .as_ref()
        .and_then(|edts| edts.elst.as_ref())
        .map(|elst| {
            elst.entries
                .iter()
                .map(|entry| entry.segment_duration)
                .fold(0u64, u64::saturating_add)
        })
        .unwrap_or(0);
    seconds(edited, movie_timescale)
        .or_else(|| seconds(trak.mdia.mdhd.duration, trak.mdia.mdhd.timescale))
}

struct SampleTiming {
    samples: u64,
    ticks: u64,
    variable: bool,
}

fn sample_timing(stbl: &Stbl) -> SampleTiming {
    let entries = &stbl.stts.entries;
    let mut samples = 0u64;
    let mut ticks = 0u64;
    for entry in entries {
        samples = samples.saturating_add(u64::from(entry.sample_count));
        ticks = ticks.saturating_add(
            u64::from(entry.sample_count).saturating_mul(u64::from(entry.sample_delta)),
        );
    }
    // Muxers often give the last sample a duration of its own (a lone final entry): that says
    // nothing about the frame rate.
    let considered = match entries.split_last() {
        Some((last, rest)) if last.sample_count == 1 && !rest.is_empty() => rest,
        _ => entries.as_slice(),
    };
    let deltas = considered
        .iter()
        .filter(|entry| entry.sample_count > 0 && entry.sample_delta > 0)
        .map(|entry| entry.sample_delta);
    let (min, max) = deltas.fold((u32::MAX, 0u32), |(min, max), delta| {
        (min.min(delta), max.max(delta))
    });
    let variable = max > 0 && f64::from(max) > f64::from(min) * VFR_TOLERANCE;
    SampleTiming {
        samples,
        ticks,
        variable,
    }
}

/// Walks the chunk table (`stsc` + `stco`/`co64` + `stsz`) and fails when a chunk's samples end
/// past the end of the file. Cost: one step per chunk plus one per listed sample size.
fn check_sample_data(trak: &Trak, file_size: u64) -> Result<(), ProbeError> {
    let stbl = &trak.mdia.minf.stbl;
    let offsets: Box<dyn Iterator<Item = u64>> = match (&stbl.co64, &stbl.stco) {
        (Some(co64), _) => Box::new(co64.entries.iter().copied()),
        (None, Some(stco)) => Box::new(stco.entries.iter().map(|offset| u64::from(*offset))),
        (None, None) => return Ok(()),
    };
    let runs = &stbl.stsc.entries;
    let mut run_index = 0usize;
    let mut next_sample = 0usize;
    for (chunk_index, offset) in offsets.enumerate() {
        let chunk_number = u32::try_from(chunk_index + 1).unwrap_or(u32::MAX);
        while runs
            .get(run_index + 1)
            .is_some_and(|next| next.first_chunk <= chunk_number)
        {
            run_index += 1;
        }
        let samples_in_chunk = runs.get(run_index).map_or(0, |run| run.samples_per_chunk);
        let bytes = match &stbl.stsz.samples {
            StszSamples::Identical { size, .. } => {
                u64::from(samples_in_chunk).saturating_mul(u64::from(*size))
            }
            StszSamples::Different { sizes } => {
                let first = next_sample.min(sizes.len());
                let last = next_sample
                    .saturating_add(samples_in_chunk as usize)
                    .min(sizes.len());
                next_sample = last;
                sizes
                    .get(first..last)
                    .unwrap_or_default()
                    .iter()
                    .map(|size| u64::from(*size))
                    .sum()
            }
        };
        let end = offset.saturating_add(bytes);
        if end > file_size {
            return Err(ProbeError::SampleDataOutsideFile {
                what: format!("track {} chunk {chunk_number}", trak.tkhd.track_id),
                claimed_end: end,
                file_size,
            });
        }
    }
    Ok(())
}

fn video_codec(entry: &Codec) -> VideoCodec {
    match entry {
        Codec::Avc1(_) | Codec::Avc3(_) => VideoCodec::H264,
        Codec::Hev1(_) | Codec::Hvc1(_) => VideoCodec::Hevc,
        Codec::Vp08(_) => VideoCodec::Vp8,
        Codec::Vp09(_) => VideoCodec::Vp9,
        Codec::Av01(_) => VideoCodec::Av1,
        Codec::Jpeg(_) => VideoCodec::Mjpeg,
        Codec::Unknown(fourcc, _) if *fourcc == FourCC::new(b"mp4v") => VideoCodec::Mpeg4,
        Codec::Unknown(fourcc, _) => VideoCodec::Other(fourcc.to_string().trim().to_owned()),
        other => VideoCodec::Other(
            format!("{other:?}")
                .chars()
                .take_while(|c| c.is_alphanumeric())
                .collect(),
        ),
    }
}

/// Coded size from the visual sample entry; for entries `mp4-atom` does not type (`mp4v`…), from
/// the entry's body, where every visual sample entry keeps width and height at bytes 24..28.
fn coded_size(entry: &Codec) -> Option<(u32, u32)> {
    if let Some(visual) = entry.visual() {
        return Some((u32::from(visual.width), u32::from(visual.height)));
    }
    let Codec::Unknown(_, body) = entry else {
        return None;
    };
    let width = body.get(24..26)?;
    let height = body.get(26..28)?;
    Some((
        u32::from(u16::from_be_bytes(width.try_into().ok()?)),
        u32::from(u16::from_be_bytes(height.try_into().ok()?)),
    ))
}

/// Clockwise display rotation read from the track's display matrix: 90° is `[0 1; -1 0]`,
/// 180° is `[-1 0; 0 -1]`, 270° is `[0 -1; 1 0]` (signs are what matters, not the 16.16 scale).
fn rotation_degrees(matrix: &Matrix) -> u16 {
    match (
        matrix.a.signum(),
        matrix.b.signum(),
        matrix.c.signum(),
        matrix.d.signum(),
    ) {
        (0, 1, -1, 0) => 90,
        (-1, 0, 0, -1) => 180,
        (0, -1, 1, 0) => 270,
        _ => 0,
    }
}

fn audio_codec_name(entry: &Codec) -> String {
    match entry {
        Codec::Mp4a(_) => "aac".to_owned(),
        Codec::Mp3(_) => "mp3".to_owned(),
        Codec::Opus(_) => "opus".to_owned(),
        Codec::Flac(_) => "flac".to_owned(),
        Codec::Ac3(_) => "ac3".to_owned(),
        Codec::Eac3(_) => "eac3".to_owned(),
        Codec::Ipcm(_)
        | Codec::Fpcm(_)
        | Codec::Sowt(_)
        | Codec::Twos(_)
        | Codec::Lpcm(_)
        | Codec::In24(_)
        | Codec::In32(_)
        | Codec::Fl32(_)
        | Codec::Fl64(_)
        | Codec::S16l(_) => "pcm".to_owned(),
        Codec::Unknown(fourcc, _) => fourcc.to_string().trim().to_owned(),
        other => format!("{other:?}")
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase(),
    }
}
