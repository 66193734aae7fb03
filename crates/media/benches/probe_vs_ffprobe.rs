//! The probe's time per file beside ffprobe's (one process per file, as tools use it), over the
//! generated corpus, and the probe's time on a sparse multi-GB MP4 against a small one.
//!
//! Run: `cargo bench -p media --bench probe_vs_ffprobe`. Prints a table; asserts nothing (a
//! slow machine must not fail a build), the numbers are for reading. With
//! `TOKPOST_PERF_MARKDOWN=<file>` the figures go to that file as one markdown section.
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

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PROBE_RUNS: usize = 200;
const FFPROBE_RUNS: usize = 3;

/// One file's runs: their median, fastest and slowest.
#[derive(Clone, Copy)]
struct Timing {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Timing {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self {
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }

    /// `median (min–max)` in µs.
    fn show(&self) -> String {
        format!(
            "{:.1} ({:.1}–{:.1})",
            micros(self.median),
            micros(self.min),
            micros(self.max)
        )
    }
}

fn time_probe(path: &Path) -> Timing {
    // One warm-up so both sides start from the page cache.
    let _ = media::probe_path(path);
    Timing::of(
        (0..PROBE_RUNS)
            .map(|_| {
                let start = Instant::now();
                let _ = std::hint::black_box(media::probe_path(path));
                start.elapsed()
            })
            .collect(),
    )
}

fn time_ffprobe(path: &Path) -> Timing {
    Timing::of(
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

/// One file's timings.
struct Row {
    name: String,
    size: u64,
    probe: Timing,
    ffprobe: Timing,
}

impl Row {
    fn measure(name: String, path: &Path) -> Self {
        Self {
            name,
            size: std::fs::metadata(path).unwrap().len(),
            probe: time_probe(path),
            ffprobe: time_ffprobe(path),
        }
    }

    fn ratio(&self) -> f64 {
        self.ffprobe.median.as_secs_f64() / self.probe.median.as_secs_f64()
    }
}

/// The whole corpus's totals and ratios.
struct Summary {
    files: usize,
    probe_per_file: f64,
    ffprobe_per_file: f64,
    overall: f64,
    slowest: f64,
    median: f64,
}

impl Summary {
    fn of(rows: &[Row]) -> Self {
        let probe_total: Duration = rows.iter().map(|row| row.probe.median).sum();
        let ffprobe_total: Duration = rows.iter().map(|row| row.ffprobe.median).sum();
        let mut ratios: Vec<f64> = rows.iter().map(Row::ratio).collect();
        ratios.sort_by(f64::total_cmp);
        Self {
            files: rows.len(),
            probe_per_file: micros(probe_total) / rows.len() as f64,
            ffprobe_per_file: micros(ffprobe_total) / rows.len() as f64,
            overall: ffprobe_total.as_secs_f64() / probe_total.as_secs_f64(),
            slowest: ratios.first().copied().unwrap_or(0.0),
            median: ratios.get(ratios.len() / 2).copied().unwrap_or(0.0),
        }
    }
}

fn print_table(corpus: &[Row], small: &Row, large: &Row) {
    println!(
        "{:<44} {:>10} {:>12} {:>14} {:>9}",
        "file", "size", "probe (µs)", "ffprobe (µs)", "ratio"
    );
    for row in corpus {
        println!(
            "{:<44} {:>10} {:>12.1} {:>14.1} {:>8.0}x",
            row.name,
            row.size,
            micros(row.probe.median),
            micros(row.ffprobe.median),
            row.ratio()
        );
    }
    let summary = Summary::of(corpus);
    println!(
        "corpus: {} files, probe {:.1} µs/file, ffprobe {:.1} µs/file, overall {:.0}x, slowest file {:.0}x, median {:.0}x",
        summary.files,
        summary.probe_per_file,
        summary.ffprobe_per_file,
        summary.overall,
        summary.slowest,
        summary.median,
    );
    println!(
        "size independence: probe of a 4 MB MP4 {:.1} µs, of a 4.5 GB MP4 {:.1} µs (ratio {:.2}); ffprobe on the 4.5 GB file {:.1} µs",
        micros(small.probe.median),
        micros(large.probe.median),
        large.probe.median.as_secs_f64() / small.probe.median.as_secs_f64(),
        micros(large.ffprobe.median),
    );
}

fn markdown(corpus: &[Row], small: &Row, large: &Row) -> String {
    let mut text = String::from("## Probe\n\n");
    text.push_str(
        "Median time to read one file's container facts with `media::probe_path` (200 runs, page \
         cache warm, with the fastest and slowest run in brackets) beside one \
         `ffprobe -show_format -show_streams -of json` process per file (3 runs), over the \
         generated ffmpeg corpus and two sparse MP4s that differ only in size; reproduce with \
         `cargo bench -p media --bench probe_vs_ffprobe`.\n\n",
    );
    text.push_str(
        "| file (container) | size (bytes) | probe, median (fastest–slowest run), µs | ffprobe, median (fastest–slowest run), µs | ffprobe/probe (medians) |\n",
    );
    text.push_str("|---|---:|---:|---:|---:|\n");
    for row in corpus.iter().chain([small, large]) {
        let _ = writeln!(
            text,
            "| `{}` | {} | {} | {} | {:.0}x |",
            row.name,
            row.size,
            row.probe.show(),
            row.ffprobe.show(),
            row.ratio()
        );
    }
    let summary = Summary::of(corpus);
    let _ = writeln!(
        text,
        "\nOver the {} corpus files the probe takes {:.1} µs per file against ffprobe's {:.1} µs \
         ({:.0}x overall, median {:.0}x, {:.0}x on the file least in its favour). The 4.5 GB MP4 \
         takes {:.2}x the time of the 4 MB one ({:.1} against {:.1} µs): the probe reads the \
         boxes that describe the media, not the media, so its cost does not grow with the file.",
        summary.files,
        summary.probe_per_file,
        summary.ffprobe_per_file,
        summary.overall,
        summary.median,
        summary.slowest,
        large.probe.median.as_secs_f64() / small.probe.median.as_secs_f64(),
        micros(large.probe.median),
        micros(small.probe.median),
    );
    text
}

fn main() {
    let corpus = support::corpus_dir(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let rows: Vec<Row> = files
        .iter()
        .filter(|path| std::fs::metadata(path).unwrap().len() > 0)
        .map(|path| {
            Row::measure(
                path.file_name().unwrap().to_string_lossy().into_owned(),
                path,
            )
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let small = Row::measure(
        "sparse 4 MB (mp4)".to_owned(),
        &sparse_mp4(dir.path(), 4_000_000),
    );
    let large = Row::measure(
        "sparse 4.5 GB (mp4)".to_owned(),
        &sparse_mp4(dir.path(), 4_500_000_000),
    );
    match std::env::var_os("TOKPOST_PERF_MARKDOWN") {
        Some(path) => std::fs::write(path, markdown(&rows, &small, &large)).unwrap(),
        None => print_table(&rows, &small, &large),
    }
}
