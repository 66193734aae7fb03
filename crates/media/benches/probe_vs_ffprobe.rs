//! The probe's time per file beside ffprobe's (one process per file, as tools use it), over the
//! generated corpus, and the probe's time on a sparse multi-GB MP4 against a small one.
//!
//! Run: `cargo bench -p media --bench probe_vs_ffprobe`. Prints a table; asserts nothing (a
//! slow machine must not fail a build), the numbers are for reading.
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/support/corpus.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PROBE_RUNS: usize = 200;
const FFPROBE_RUNS: usize = 3;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_probe(path: &Path) -> Duration {
    // One warm-up so both sides start from the page cache.
    let _ = media::probe_path(path);
    median(
        (0..PROBE_RUNS)
            .map(|_| {
                let start = Instant::now();
                let _ = std::hint::black_box(media::probe_path(path));
                start.elapsed()
            })
            .collect(),
    )
}

fn time_ffprobe(path: &Path) -> Duration {
    median(
        (0..FFPROBE_RUNS)
            .map(|_| {
                let start = Instant::now();
                let output = Command::new("ffprobe")
                    .args([
                        "-v",
                        "error",
                        "-show_format",
                        "-show_streams",
                        "-of",
                        "json",
                    ])
                    .arg(path)
                    .output()
                    .expect("run ffprobe");
                let elapsed = start.elapsed();
                std::hint::black_box(output);
                elapsed
            })
            .collect(),
    )
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// A sparse MP4 of `size` bytes: the small fixture's ftyp + moov, then an `mdat` with a 64-bit
/// size covering the rest (never written, so it costs no disk).
fn sparse_mp4(dir: &Path, size: u64) -> PathBuf {
    let fixture = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_faststart.mp4"),
    )
    .unwrap();
    // The fixture is ftyp (0..32), moov (32..873), free (873..881), mdat (881..).
    let (head, rest) = fixture.split_at(873);
    let payload = &rest[16..];
    let path = dir.join(format!("sparse_{size}.mp4"));
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(head).unwrap();
    file.write_all(&1u32.to_be_bytes()).unwrap();
    file.write_all(b"mdat").unwrap();
    file.write_all(&(size - head.len() as u64).to_be_bytes())
        .unwrap();
    file.write_all(payload).unwrap();
    file.set_len(size).unwrap();
    path
}

fn main() {
    let corpus = support::corpus_dir(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();

    println!(
        "{:<44} {:>10} {:>12} {:>14} {:>9}",
        "file", "size", "probe (µs)", "ffprobe (µs)", "ratio"
    );
    let (mut probe_total, mut ffprobe_total) = (Duration::ZERO, Duration::ZERO);
    let mut ratios = Vec::new();
    for path in &files {
        let size = std::fs::metadata(path).unwrap().len();
        if size == 0 {
            continue;
        }
        let probe = time_probe(path);
        let ffprobe = time_ffprobe(path);
        let ratio = ffprobe.as_secs_f64() / probe.as_secs_f64();
        ratios.push(ratio);
        probe_total += probe;
        ffprobe_total += ffprobe;
        println!(
            "{:<44} {:>10} {:>12.1} {:>14.1} {:>8.0}x",
            path.file_name().unwrap().to_string_lossy(),
            size,
            micros(probe),
            micros(ffprobe),
            ratio
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "corpus: {} files, probe {:.1} µs/file, ffprobe {:.1} µs/file, overall {:.0}x, slowest file {:.0}x, median {:.0}x",
        ratios.len(),
        micros(probe_total) / ratios.len() as f64,
        micros(ffprobe_total) / ratios.len() as f64,
        ffprobe_total.as_secs_f64() / probe_total.as_secs_f64(),
        ratios.first().copied().unwrap_or(0.0),
        ratios.get(ratios.len() / 2).copied().unwrap_or(0.0),
    );

    let dir = tempfile::tempdir().unwrap();
    let small = sparse_mp4(dir.path(), 4_000_000);
    let large = sparse_mp4(dir.path(), 4_500_000_000);
    let (small_time, large_time) = (time_probe(&small), time_probe(&large));
    println!(
        "size independence: probe of a 4 MB MP4 {:.1} µs, of a 4.5 GB MP4 {:.1} µs (ratio {:.2}); ffprobe on the 4.5 GB file {:.1} µs",
        micros(small_time),
        micros(large_time),
        large_time.as_secs_f64() / small_time.as_secs_f64(),
        micros(time_ffprobe(&large)),
    );
}
