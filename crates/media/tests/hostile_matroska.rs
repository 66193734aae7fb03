#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Hostile Matroska files (issue 18, item 7): element sizes that claim more than their parent or
//! the file holds, or more than any real header needs. The probe must refuse each one with a typed
//! error and allocate little, whatever size the file declares.
//!
//! A test binary of its own: the global allocator below counts the heap of the whole process, so
//! the tests here take turns (`HEAP_LOCK`) and nothing else runs beside them.

use std::alloc::System;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use media::{ProbeError, VideoCodec, probe_reader};
use peakmem_alloc::{INSTRUMENTED_SYSTEM, PeakMemAlloc, PeakMemAllocTrait};
use rstest::rstest;

#[global_allocator]
static HEAP: &PeakMemAlloc<System> = &INSTRUMENTED_SYSTEM;

/// One measurement at a time: the counter is global to the process.
static HEAP_LOCK: Mutex<()> = Mutex::new(());

/// The most the heap may grow while probing any of these files, however large they claim to be.
const HEAP_BOUND: usize = 1 << 20;

/// The hostile files with room inside: 64 MiB, of which only the first few hundred bytes exist.
const SPARSE_LEN: u64 = 64 << 20;

// Element ids, as written in the file.
const EBML: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3];
const DOC_TYPE: &[u8] = &[0x42, 0x82];
const DOC_TYPE_VERSION: &[u8] = &[0x42, 0x87];
const DOC_TYPE_READ_VERSION: &[u8] = &[0x42, 0x85];
const SEGMENT: &[u8] = &[0x18, 0x53, 0x80, 0x67];
const SEEK_HEAD: &[u8] = &[0x11, 0x4D, 0x9B, 0x74];
const SEEK: &[u8] = &[0x4D, 0xBB];
const SEEK_ID: &[u8] = &[0x53, 0xAB];
const SEEK_POSITION: &[u8] = &[0x53, 0xAC];
const INFO: &[u8] = &[0x15, 0x49, 0xA9, 0x66];
const TIMESTAMP_SCALE: &[u8] = &[0x2A, 0xD7, 0xB1];
const DURATION: &[u8] = &[0x44, 0x89];
const TITLE: &[u8] = &[0x7B, 0xA9];
const MUXING_APP: &[u8] = &[0x4D, 0x80];
const WRITING_APP: &[u8] = &[0x57, 0x41];
const TRACKS: &[u8] = &[0x16, 0x54, 0xAE, 0x6B];
const TRACK_ENTRY: &[u8] = &[0xAE];
const TRACK_NUMBER: &[u8] = &[0xD7];
const TRACK_UID: &[u8] = &[0x73, 0xC5];
const TRACK_TYPE: &[u8] = &[0x83];
const CODEC_ID: &[u8] = &[0x86];
const CODEC_PRIVATE: &[u8] = &[0x63, 0xA2];
const DEFAULT_DURATION: &[u8] = &[0x23, 0xE3, 0x83];
const VIDEO: &[u8] = &[0xE0];
const PIXEL_WIDTH: &[u8] = &[0xB0];
const PIXEL_HEIGHT: &[u8] = &[0xBA];
const CLUSTER: &[u8] = &[0x1F, 0x43, 0xB6, 0x75];
const TIMESTAMP: &[u8] = &[0xE7];
const SIMPLE_BLOCK: &[u8] = &[0xA3];

/// An element whose size field says `declared`, followed by `body` (which may be shorter: the
/// lie is the point). The size is always written on 8 bytes.
fn claiming(id: &[u8], declared: u64, body: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.push(0x01);
    out.extend_from_slice(&declared.to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// An honest element.
fn element(id: &[u8], body: &[u8]) -> Vec<u8> {
    claiming(id, body.len() as u64, body)
}

/// An element of unknown size (the one-byte all-ones size), followed by `body`.
fn unknown_size(id: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.push(0xFF);
    out.extend_from_slice(body);
    out
}

fn uint(id: &[u8], value: u64) -> Vec<u8> {
    element(id, &value.to_be_bytes())
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn ebml_header() -> Vec<u8> {
    element(
        EBML,
        &concat(&[
            element(DOC_TYPE, b"webm"),
            uint(DOC_TYPE_VERSION, 4),
            uint(DOC_TYPE_READ_VERSION, 2),
        ]),
    )
}

fn info() -> Vec<u8> {
    element(
        INFO,
        &concat(&[
            uint(TIMESTAMP_SCALE, 1_000_000),
            element(DURATION, &2000f64.to_be_bytes()),
            element(MUXING_APP, b"test"),
            element(WRITING_APP, b"test"),
        ]),
    )
}

/// The children of a 64x48 VP9 track at 25 fps.
fn video_track_children() -> Vec<u8> {
    concat(&[
        uint(TRACK_NUMBER, 1),
        uint(TRACK_UID, 1),
        uint(TRACK_TYPE, 1),
        element(CODEC_ID, b"V_VP9"),
        uint(DEFAULT_DURATION, 40_000_000),
        element(
            VIDEO,
            &concat(&[uint(PIXEL_WIDTH, 64), uint(PIXEL_HEIGHT, 48)]),
        ),
    ])
}

fn tracks() -> Vec<u8> {
    element(TRACKS, &element(TRACK_ENTRY, &video_track_children()))
}

fn cluster() -> Vec<u8> {
    let block = [0x81, 0x00, 0x00, 0x80, 0x00];
    element(
        CLUSTER,
        &concat(&[uint(TIMESTAMP, 0), element(SIMPLE_BLOCK, &block)]),
    )
}

/// A whole file: the EBML header, then a Segment of unknown size holding `body`.
fn file(body: &[Vec<u8>]) -> Vec<u8> {
    concat(&[ebml_header(), unknown_size(SEGMENT, &concat(body))])
}

const VOID: &[u8] = &[0xEC];

/// A [`SparseFile`] of [`SPARSE_LEN`] bytes: the EBML header, then a Segment that fills the file,
/// holding the parts of `body` and a Void element over the rest. Each part is followed by the
/// number of absent bytes (zeros) it claims beyond those it holds, so the top level stays honest
/// and a demuxer walking it ends cleanly at the end of the file.
fn sparse_file(body: &[(Vec<u8>, u64)]) -> SparseFile {
    let header = ebml_header();
    let segment_len = SPARSE_LEN - header.len() as u64 - 12;
    let head = concat(&[header, claiming(SEGMENT, segment_len, b"")]);
    let mut at = head.len() as u64;
    let mut file = SparseFile::new(head, SPARSE_LEN);
    for (bytes, absent) in body {
        file = file.with_run(at, bytes.clone());
        at += bytes.len() as u64 + absent;
    }
    file.with_run(at, claiming(VOID, SPARSE_LEN - at - 9, b""))
}

/// A part of [`sparse_file`]'s body that holds all it claims.
fn whole(bytes: Vec<u8>) -> (Vec<u8>, u64) {
    (bytes, 0)
}

/// A file of `len` bytes made of a few runs of bytes at given offsets and zeros elsewhere,
/// without allocating the zeros: sizes of many MiB can then lie inside the file, which is what
/// makes a demuxer that trusts them allocate.
#[derive(Debug)]
struct SparseFile {
    runs: Vec<(u64, Vec<u8>)>,
    len: u64,
    pos: u64,
}

impl SparseFile {
    fn new(head: Vec<u8>, len: u64) -> Self {
        Self {
            runs: vec![(0, head)],
            len,
            pos: 0,
        }
    }

    /// Adds `bytes` at offset `at`.
    fn with_run(mut self, at: u64, bytes: Vec<u8>) -> Self {
        self.runs.push((at, bytes));
        self
    }
}

impl Read for SparseFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let out = &mut buf[..n];
        out.fill(0);
        let (start, end) = (self.pos, self.pos + n as u64);
        for (at, run) in &self.runs {
            let run_end = at + run.len() as u64;
            let (from, to) = (start.max(*at), end.min(run_end));
            if from < to {
                let dst =
                    usize::try_from(from - start).unwrap()..usize::try_from(to - start).unwrap();
                let src = usize::try_from(from - at).unwrap()..usize::try_from(to - at).unwrap();
                out[dst].copy_from_slice(&run[src]);
            }
        }
        self.pos = end;
        Ok(n)
    }
}

impl Seek for SparseFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        self.pos = target.ok_or_else(|| io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

/// Probes `reader` and returns the result with how much the heap grew meanwhile.
fn probe_measured<R: Read + Seek>(reader: R) -> (Result<media::MediaFacts, ProbeError>, usize) {
    let _turn = HEAP_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    HEAP.reset_peak_memory();
    let result = probe_reader(reader);
    let peak = HEAP.get_peak_memory();
    (result, peak)
}

/// Info, then Tracks holding one TrackEntry with `entry_extra` added, then a Cluster.
fn with_track_entry_extra(entry_extra: Vec<u8>) -> Vec<Vec<u8>> {
    vec![
        info(),
        element(
            TRACKS,
            &element(TRACK_ENTRY, &concat(&[video_track_children(), entry_extra])),
        ),
        cluster(),
    ]
}

/// The hostile files: each names the element the error must name.
fn hostile(case: &str) -> (Box<dyn ReadSeek>, &'static str) {
    match case {
        // CodecPrivate claims 4 GiB in a file of a few hundred bytes.
        "codec_private_of_4_gib_in_a_tiny_file" => {
            let body =
                with_track_entry_extra(claiming(CODEC_PRIVATE, 4 << 30, b"\x01\x02\x03\x04"));
            (Box::new(Cursor::new(file(&body))), "CodecPrivate")
        }
        // CodecPrivate claims 60 MiB, which the 64 MiB file has but its TrackEntry has not.
        "codec_private_bigger_than_its_track_entry" => {
            let body = with_track_entry_extra(claiming(CODEC_PRIVATE, 60 << 20, b""));
            let body: Vec<_> = body.into_iter().map(whole).collect();
            (Box::new(sparse_file(&body)), "CodecPrivate")
        }
        // Every size is consistent: Tracks, TrackEntry and CodecPrivate each fit in their parent
        // and in the file, and all are far beyond what a header needs.
        "codec_private_of_60_mib_nested_consistently" => {
            let private = 60u64 << 20;
            let children = video_track_children();
            let entry_len = children.len() as u64 + 2 + 8 + private;
            let tracks_len = 1 + 8 + entry_len;
            let mut entry_body = children;
            entry_body.extend(claiming(CODEC_PRIVATE, private, b""));
            let tracks = claiming(
                TRACKS,
                tracks_len,
                &claiming(TRACK_ENTRY, entry_len, &entry_body),
            );
            let body = [whole(info()), (tracks, private), whole(cluster())];
            (Box::new(sparse_file(&body)), "Tracks")
        }
        // A Title string (which the demuxer reads into a String) bigger than its Info.
        "title_bigger_than_its_info" => {
            let info = element(
                INFO,
                &concat(&[
                    uint(TIMESTAMP_SCALE, 1_000_000),
                    element(MUXING_APP, b"test"),
                    element(WRITING_APP, b"test"),
                    claiming(TITLE, 60 << 20, b"x"),
                ]),
            );
            let body = [whole(info), whole(tracks()), whole(cluster())];
            (Box::new(sparse_file(&body)), "Title")
        }
        // The DocType string of the EBML header, bigger than the header.
        "doc_type_bigger_than_the_ebml_header" => {
            let header = element(
                EBML,
                &concat(&[
                    uint(DOC_TYPE_VERSION, 4),
                    uint(DOC_TYPE_READ_VERSION, 2),
                    claiming(DOC_TYPE, 60 << 20, b"webm"),
                ]),
            );
            let bytes = concat(&[
                header,
                unknown_size(SEGMENT, &concat(&[info(), tracks(), cluster()])),
            ]);
            (Box::new(SparseFile::new(bytes, SPARSE_LEN)), "DocType")
        }
        // Tracks runs past the end of the Segment that holds it.
        "tracks_bigger_than_its_segment" => {
            let body = concat(&[
                info(),
                claiming(TRACKS, 1 << 20, &element(TRACK_ENTRY, &[])),
            ]);
            let bytes = concat(&[ebml_header(), element(SEGMENT, &body), vec![0; 2 << 20]]);
            (Box::new(Cursor::new(bytes)), "Tracks")
        }
        // Only a Segment and a Cluster may have an unknown size.
        "tracks_of_unknown_size" => {
            let bytes = file(&[
                info(),
                unknown_size(TRACKS, &element(TRACK_ENTRY, &video_track_children())),
                cluster(),
            ]);
            (Box::new(Cursor::new(bytes)), "Tracks")
        }
        other => panic!("no hostile file {other}"),
    }
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

#[rstest]
#[case::codec_private_of_4_gib_in_a_tiny_file("codec_private_of_4_gib_in_a_tiny_file")]
#[case::codec_private_bigger_than_its_track_entry("codec_private_bigger_than_its_track_entry")]
#[case::codec_private_of_60_mib_nested_consistently("codec_private_of_60_mib_nested_consistently")]
#[case::title_bigger_than_its_info("title_bigger_than_its_info")]
#[case::doc_type_bigger_than_the_ebml_header("doc_type_bigger_than_the_ebml_header")]
#[case::tracks_bigger_than_its_segment("tracks_bigger_than_its_segment")]
#[case::tracks_of_unknown_size("tracks_of_unknown_size")]
fn a_hostile_element_size_is_refused_without_allocating_it(#[case] case: &str) {
    let (reader, element) = hostile(case);
    let (result, peak) = probe_measured(reader);
    assert!(
        peak < HEAP_BOUND,
        "{case}: the heap grew by {peak} bytes while probing ({result:?})"
    );
    let err = result.expect_err(case);
    assert!(
        matches!(
            err,
            ProbeError::Malformed { .. } | ProbeError::Truncated { .. }
        ),
        "{case}: {err}"
    );
    let message = err.to_string();
    assert!(message.contains(element), "{case}: {message}");
}

/// One SeekHead naming two SeekHeads: matroska-demuxer 0.8.1 panics on this (`expect_err` in its
/// `parse_seek_head`). Info and Tracks are where they belong, so the file can be read.
#[test]
fn a_seek_head_naming_two_seek_heads_does_not_panic_the_probe() {
    let seek_head_at_0 = element(
        SEEK,
        &concat(&[element(SEEK_ID, SEEK_HEAD), uint(SEEK_POSITION, 0)]),
    );
    let seek_head = element(
        SEEK_HEAD,
        &concat(&[seek_head_at_0.clone(), seek_head_at_0]),
    );
    let bytes = file(&[seek_head, info(), tracks(), cluster()]);
    let (result, peak) = probe_measured(Cursor::new(bytes));
    assert!(peak < HEAP_BOUND, "the heap grew by {peak} bytes");
    let video = result.unwrap().video.unwrap();
    assert_eq!((video.coded_width, video.coded_height), (64, 48));
}

/// What a browser's MediaRecorder writes: no SeekHead, a Segment and Clusters of unknown size.
#[test]
fn a_live_recording_with_unknown_sizes_is_read() {
    let bytes = file(&[info(), tracks(), unknown_size(CLUSTER, &uint(TIMESTAMP, 0))]);
    let (result, peak) = probe_measured(Cursor::new(bytes));
    assert!(peak < HEAP_BOUND, "the heap grew by {peak} bytes");
    let facts = result.unwrap();
    let video = facts.video.unwrap();
    assert_eq!(video.codec, VideoCodec::Vp9);
    assert_eq!((video.coded_width, video.coded_height), (64, 48));
    assert!((facts.duration_s.unwrap() - 2.0).abs() < 1e-9);
}

/// A SeekHead naming where Info and Tracks are (positions in the Segment's data, as 8-byte uints,
/// so the SeekHead's length does not depend on them).
fn seek_head(info_at: u64, tracks_at: u64) -> Vec<u8> {
    let seek = |id: &[u8], position: u64| {
        element(
            SEEK,
            &concat(&[element(SEEK_ID, id), uint(SEEK_POSITION, position)]),
        )
    };
    element(
        SEEK_HEAD,
        &concat(&[seek(INFO, info_at), seek(TRACKS, tracks_at)]),
    )
}

/// Tracks after the first Cluster is rare but valid: the SeekHead says where it is.
#[test]
fn tracks_after_the_clusters_is_found_through_the_seek_head() {
    let info_at = seek_head(0, 0).len() as u64;
    let tracks_at = info_at + (info().len() + cluster().len()) as u64;
    let bytes = file(&[seek_head(info_at, tracks_at), info(), cluster(), tracks()]);
    let (result, peak) = probe_measured(Cursor::new(bytes));
    assert!(peak < HEAP_BOUND, "the heap grew by {peak} bytes");
    let video = result.unwrap().video.unwrap();
    assert_eq!((video.coded_width, video.coded_height), (64, 48));
}

/// Bytes that are no element between the SeekHead and Info stop the walk of the top level, but
/// the SeekHead still says where Info and Tracks are: the file is read, as the demuxer read it.
#[test]
fn junk_before_info_is_passed_when_the_seek_head_finds_info_and_tracks() {
    let junk = vec![0u8; 16];
    let info_at = (seek_head(0, 0).len() + junk.len()) as u64;
    let tracks_at = info_at + info().len() as u64;
    let bytes = file(&[
        seek_head(info_at, tracks_at),
        junk,
        info(),
        tracks(),
        cluster(),
    ]);
    let (result, peak) = probe_measured(Cursor::new(bytes));
    assert!(peak < HEAP_BOUND, "the heap grew by {peak} bytes");
    let video = result.unwrap().video.unwrap();
    assert_eq!((video.coded_width, video.coded_height), (64, 48));
}

/// …and when it does not, the damage the walk met is the answer.
#[test]
fn junk_before_info_without_a_seek_head_is_damage() {
    let bytes = file(&[vec![0u8; 16], info(), tracks(), cluster()]);
    let (result, _) = probe_measured(Cursor::new(bytes));
    let err = result.unwrap_err();
    assert!(
        matches!(&err, ProbeError::Malformed { what } if what.contains("invalid EBML")),
        "{err}"
    );
}

/// Every file in tests/regressions/ (also the fuzz seeds, see fuzz/seeds.sh) gets an answer,
/// without a panic and within the heap bound.
#[test]
fn every_regression_file_is_answered_within_the_heap_bound() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let (result, peak) = probe_measured(Cursor::new(bytes));
        assert!(
            peak < HEAP_BOUND,
            "{}: the heap grew by {peak} bytes ({result:?})",
            path.display()
        );
        seen += 1;
    }
    assert!(seen > 0, "no file in {}", dir.display());
}

/// A string element of 60 MiB at the top of the Segment, before Info: matroska-demuxer, walking
/// the top level to find Info and Tracks, reads it whole. The probe steps over it.
#[test]
fn a_big_string_at_the_top_of_the_segment_is_stepped_over_not_read() {
    let title_len = 60u64 << 20;
    let file = sparse_file(&[
        (claiming(TITLE, title_len, b""), title_len),
        whole(info()),
        whole(tracks()),
        whole(cluster()),
    ]);
    let (result, peak) = probe_measured(file);
    assert!(
        peak < HEAP_BOUND,
        "the heap grew by {peak} bytes ({result:?})"
    );
    let video = result.unwrap().video.unwrap();
    assert_eq!((video.coded_width, video.coded_height), (64, 48));
}
