//! `tokpost fix` against plain ffmpeg running the same command line on the same files; issue
//! 21's target is at most 5% slower.
//!
//! ```text
//! cargo bench -p tokpost-fix --bench vs_ffmpeg
//! FIX_BENCH_ROUNDS=5 FIX_BENCH_SECONDS=10 FIX_BENCH_WIDE_SECONDS=3 \
//!   cargo bench -p tokpost-fix --bench vs_ffmpeg
//! ```
//!
//! A corpus is generated with ffmpeg's lavfi sources into a temporary directory: a 15 fps
//! 720x1280 H.264 MP4 (re-encoded at 30 fps), an H.264 Matroska file (remuxed), an MPEG-4 Part 2
//! AVI (inspected, then re-encoded), a 4200x1080 panorama (scaled to 4096 wide) and a 4000x6000
//! PNG photo (a 1080p JPEG). `FIX_BENCH_SECONDS` is the length of the 720x1280 clips,
//! `FIX_BENCH_WIDE_SECONDS` that of the 24 fps wide one (at least 3: TikTok's minimum, under
//! which there is nothing to fix). `FIX_BENCH_FILES=mkv,png` measures only the files whose names
//! contain one of the parts.
//!
//! For each file, each round times the whole of `Fixer::fix_file` (probe and plan, the ffmpeg
//! run in its own process group with its `-progress` read, the result probed and judged, the
//! rename into place) and one run of ffmpeg with the arguments `tokpost_fix::args::plan_args`
//! gives for the same plan, started with `std::process::Command`. "The same settings" is those
//! arguments (codec, preset, CRF, pixel format, filters, stream maps, faststart, the `-fs`
//! bound) less `-progress pipe:1`: the progress tokpost reads is part of what tokpost costs.
//! Which of the two goes first alternates from round to round, so drift (a warming cache, a
//! neighbour on the cores) falls on both; a first round is a warm-up and is not counted. The
//! ratio is the median of each round's tokpost/ffmpeg. The planning (`Fixer::prepare`) and the
//! final check (`media::preflight_file` on the output) are timed apart to show where tokpost's
//! difference goes.
//!
//! Prints the section of docs/PERFORMANCE.md; with `TOKPOST_PERF_MARKDOWN=FILE` also writes it
//! to FILE. Asserts only that every fix succeeds: a slow machine must not fail a build.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::disallowed_methods // a benchmark measures real elapsed time
)]

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use media::rules::video::MAX_SIZE_BYTES;
use tokpost_fix::args::plan_args;
use tokpost_fix::{Decision, Ffmpeg, FixOptions, Fixer, Outcome, Plan, Work, WriteMode};
use tokpost_testkit::bench::env_number;
use tokpost_testkit::ffmpeg::generate;

/// One generated input and what its fix does.
struct Case {
    file: String,
    fix: &'static str,
    path: PathBuf,
}

fn main() {
    let rounds = env_number("FIX_BENCH_ROUNDS", 5);
    let seconds = env_number("FIX_BENCH_SECONDS", 10);
    let wide_seconds = env_number("FIX_BENCH_WIDE_SECONDS", 3);
    let ffmpeg = Ffmpeg::locate(None).expect("ffmpeg on PATH (apt-get install ffmpeg)");
    let fixer = Fixer::new(ffmpeg, clock::SystemClock::shared());
    // The runtime `tokpost fix` uses.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let generating = Instant::now();
    let cases = corpus(dir.path(), seconds, wide_seconds);
    println!(
        "corpus of {} files generated in {:.1?}",
        cases.len(),
        generating.elapsed()
    );
    // `FIX_BENCH_FILES=mkv,png`: only the files whose names contain one of these.
    let only = std::env::var("FIX_BENCH_FILES").unwrap_or_default();
    let rows: Vec<Row> = cases
        .iter()
        .filter(|case| {
            only.is_empty()
                || only
                    .split(',')
                    .any(|part| case.file.contains(part.trim()))
        })
        .map(|case| {
            let row = measure(&runtime, &fixer, case, dir.path(), rounds);
            println!(
                "{}: tokpost {} ({}), ffmpeg {} ({}), ratio {:.3} ({:.3}–{:.3}); plan {}, verify {}",
                row.file,
                duration(median(&row.tokpost)),
                spread(&row.tokpost),
                duration(median(&row.ffmpeg)),
                spread(&row.ffmpeg),
                row.ratio(),
                min(&row.ratios()),
                max(&row.ratios()),
                duration(median(&row.plan)),
                duration(median(&row.verify)),
            );
            row
        })
        .collect();
    let section = markdown(&rows, rounds, seconds, wide_seconds);
    println!("\n{section}");
    if let Ok(path) = std::env::var("TOKPOST_PERF_MARKDOWN") {
        std::fs::write(path, section).unwrap();
    }
}

/// Writes the corpus into `dir`.
fn corpus(dir: &Path, seconds: usize, wide_seconds: usize) -> Vec<Case> {
    let clip = |size: &str, rate: u32, seconds: usize| {
        format!("testsrc2=size={size}:rate={rate}:duration={seconds}")
    };
    let tone = format!("sine=frequency=440:duration={seconds}");
    let fast = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ];
    let mut cases = Vec::new();
    let mut add = |file: &str, fix: &'static str, args: &[&str]| {
        cases.push(Case {
            file: file.to_owned(),
            fix,
            path: generate(dir, file, args),
        });
    };
    let slow = clip("720x1280", 15, seconds);
    add(
        "h264_15fps_720x1280.mp4",
        "re-encode at 30 fps, AAC copied",
        &[
            &["-f", "lavfi", "-i", &slow, "-f", "lavfi", "-i", &tone][..],
            &fast,
            &["-c:a", "aac", "-shortest"],
        ]
        .concat(),
    );
    let normal = clip("720x1280", 30, seconds);
    add(
        "h264_aac_720x1280.mkv",
        "remux into MP4, streams copied",
        &[
            &["-f", "lavfi", "-i", &normal, "-f", "lavfi", "-i", &tone][..],
            &fast,
            &["-c:a", "aac", "-shortest"],
        ]
        .concat(),
    );
    add(
        "mpeg4_mp3_720x1280.avi",
        "inspection (stream copy to Matroska), then re-encode to H.264, MP3 copied",
        &[
            "-f",
            "lavfi",
            "-i",
            &normal,
            "-f",
            "lavfi",
            "-i",
            &tone,
            "-c:v",
            "mpeg4",
            "-q:v",
            "3",
            "-c:a",
            "libmp3lame",
            "-shortest",
        ],
    );
    let wide = clip("4200x1080", 24, wide_seconds);
    add(
        "h264_4200x1080.mp4",
        "scale to 4096 wide, re-encode",
        &[&["-f", "lavfi", "-i", &wide][..], &fast].concat(),
    );
    add(
        "photo_4000x6000.png",
        "JPEG within 1080p",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=4000x6000",
            "-frames:v",
            "1",
        ],
    );
    cases
}

/// One file's samples, one per counted round.
struct Row {
    file: String,
    fix: &'static str,
    /// ffmpeg's arguments, with the paths as `IN` and `OUT`.
    command: String,
    tokpost: Vec<Duration>,
    ffmpeg: Vec<Duration>,
    plan: Vec<Duration>,
    verify: Vec<Duration>,
}

impl Row {
    fn ratios(&self) -> Vec<f64> {
        self.tokpost
            .iter()
            .zip(&self.ffmpeg)
            .map(|(tokpost, ffmpeg)| tokpost.as_secs_f64() / ffmpeg.as_secs_f64())
            .collect()
    }

    fn ratio(&self) -> f64 {
        let mut ratios = self.ratios();
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2]
    }
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    fixer: &Fixer,
    case: &Case,
    dir: &Path,
    rounds: usize,
) -> Row {
    let options = FixOptions::default();
    let input = &case.path;
    let plan = match runtime
        .block_on(fixer.prepare(input, &dir.join("planned"), &options))
        .unwrap()
        .decision
    {
        Decision::Fix(plan) => plan,
        other => panic!("{}: expected a fix, got {other:#?}", case.file),
    };
    let extension = plan.output_format().extension();
    let ours = dir.join(format!("tokpost.{extension}"));
    let theirs = dir.join(format!("ffmpeg.{extension}"));
    let args: Vec<OsString> = without_progress(plan_args(&plan, input, &theirs, limit(&plan)));
    let command = std::iter::once("ffmpeg".to_owned())
        .chain(args.iter().map(|arg| {
            let arg = arg.to_string_lossy();
            arg.replace(&*input.to_string_lossy(), "IN")
                .replace(&*theirs.to_string_lossy(), "OUT")
        }))
        .collect::<Vec<_>>()
        .join(" ");

    let run_tokpost = || {
        let _ = std::fs::remove_file(&ours);
        let started = Instant::now();
        let outcome = runtime
            .block_on(fixer.fix_file(
                input,
                &ours,
                &options,
                WriteMode::CreateNew,
                &mut |progress| {
                    std::hint::black_box(progress);
                },
            ))
            .unwrap();
        let elapsed = started.elapsed();
        assert!(
            matches!(outcome, Outcome::Fixed(_)),
            "{}: expected a fixed file, got {outcome:#?}",
            case.file
        );
        elapsed
    };
    let run_ffmpeg = || {
        let _ = std::fs::remove_file(&theirs);
        let started = Instant::now();
        let output = Command::new(fixer.ffmpeg().path())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run ffmpeg");
        let elapsed = started.elapsed();
        assert!(
            output.status.success(),
            "{}: ffmpeg failed: {}",
            case.file,
            String::from_utf8_lossy(&output.stderr)
        );
        elapsed
    };

    // The warm-up round: both read the input once before anything is counted.
    run_tokpost();
    run_ffmpeg();
    let mut tokpost = Vec::with_capacity(rounds);
    let mut ffmpeg = Vec::with_capacity(rounds);
    for round in 0..rounds {
        if round % 2 == 0 {
            tokpost.push(run_tokpost());
            ffmpeg.push(run_ffmpeg());
        } else {
            ffmpeg.push(run_ffmpeg());
            tokpost.push(run_tokpost());
        }
    }

    // The parts of tokpost's difference that can be timed apart: the planning (the probe of the
    // input, and an inspection's stream copy with its probe) and the final check of the output.
    let planned = dir.join("planned");
    let plan_times = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let prepared = runtime
                .block_on(fixer.prepare(input, &planned, &options))
                .unwrap();
            let elapsed = started.elapsed();
            drop(prepared);
            elapsed
        })
        .collect();
    let verify = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(media::preflight_file(&ours, &options.limits));
            started.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(&ours);
    let _ = std::fs::remove_file(&theirs);
    Row {
        file: case.file.clone(),
        fix: case.fix,
        command,
        tokpost,
        ffmpeg,
        plan: plan_times,
        verify,
    }
}

/// The bound `Fixer` gives ffmpeg when it has no limit of its own: TikTok's maximum for a
/// video (a larger one could not be accepted), none for a photo.
fn limit(plan: &Plan) -> Option<u64> {
    match plan.work {
        Work::Video(_) => Some(MAX_SIZE_BYTES + 1),
        Work::Photo(_) => None,
    }
}

/// The arguments less `-progress pipe:1`, which only tokpost reads.
fn without_progress(args: Vec<OsString>) -> Vec<OsString> {
    let mut kept = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-progress" {
            args.next();
        } else {
            kept.push(arg);
        }
    }
    kept
}

fn sorted(samples: &[Duration]) -> Vec<Duration> {
    let mut samples = samples.to_vec();
    samples.sort();
    samples
}

fn median(samples: &[Duration]) -> Duration {
    sorted(samples)[samples.len() / 2]
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn spread(samples: &[Duration]) -> String {
    let samples = sorted(samples);
    format!(
        "{}–{}",
        duration(samples[0]),
        duration(samples[samples.len() - 1])
    )
}

/// Seconds from one second up, milliseconds under it.
fn duration(value: Duration) -> String {
    let seconds = value.as_secs_f64();
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 0.001 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{:.0} µs", seconds * 1e6)
    }
}

/// Whether each file's difference between the medians is within the spread of ffmpeg's own
/// runs of it, as a clause.
fn noise(rows: &[Row]) -> String {
    let outside: Vec<String> = rows
        .iter()
        .filter(|row| {
            let difference = median(&row.tokpost).abs_diff(median(&row.ffmpeg));
            let ffmpeg = sorted(&row.ffmpeg);
            difference > ffmpeg[ffmpeg.len() - 1] - ffmpeg[0]
        })
        .map(|row| format!("`{}`", row.file))
        .collect();
    if outside.is_empty() {
        "for every file within the spread of ffmpeg's own runs of it".to_owned()
    } else {
        format!(
            "past the spread of ffmpeg's own runs for {}",
            outside.join(", ")
        )
    }
}

/// The CPU's model name as /proc/cpuinfo gives it.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn ffmpeg_version() -> String {
    let output = Command::new("ffmpeg").arg("-version").output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn markdown(rows: &[Row], rounds: usize, seconds: usize, wide_seconds: usize) -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mut text = format!(
        "## Autofix against ffmpeg\n\n\
         `tokpost fix` (`Fixer::fix_file`: probe and plan, ffmpeg in its own process group with \
         its `-progress` read, the result probed and judged, the rename into place) against plain \
         ffmpeg running the same command line on the same generated files, {rounds} rounds after \
         an uncounted warm-up, the two alternating which goes first; {cpu}, {cores} cores, {ffmpeg}. \
         The same settings are the arguments `tokpost_fix::args::plan_args` gives for the plan \
         (codec, preset, CRF, pixel format, filters, stream maps, faststart, the `-fs` bound), \
         listed below, run by `std::process::Command` less `-progress pipe:1`: the progress \
         tokpost reads is part of tokpost's cost. The ratio is the median of the rounds' \
         tokpost/ffmpeg; issue 21's target is at most 1.05. Planning (`Fixer::prepare`) and the \
         final check (`media::preflight_file` on the output) are timed apart. \
         `FIX_BENCH_ROUNDS={rounds} FIX_BENCH_SECONDS={seconds} FIX_BENCH_WIDE_SECONDS={wide_seconds} \
         cargo bench -p tokpost-fix --bench vs_ffmpeg`.\n\n\
         | file | fix | tokpost, median | spread | ffmpeg, median | spread | tokpost/ffmpeg, median | spread | planning | final check |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        cpu = cpu_model(),
        ffmpeg = ffmpeg_version(),
    );
    for row in rows {
        let ratios = row.ratios();
        let _ = writeln!(
            text,
            "| `{}` | {} | {} | {} | {} | {} | {:.3} | {:.3}–{:.3} | {} | {} |",
            row.file,
            row.fix,
            duration(median(&row.tokpost)),
            spread(&row.tokpost),
            duration(median(&row.ffmpeg)),
            spread(&row.ffmpeg),
            row.ratio(),
            min(&ratios),
            max(&ratios),
            duration(median(&row.plan)),
            duration(median(&row.verify)),
        );
    }
    let worst = rows
        .iter()
        .max_by(|a, b| a.ratio().total_cmp(&b.ratio()))
        .unwrap();
    let _ = writeln!(
        text,
        "\nThe highest median ratio is {:.3} (`{}`): the target is {}.",
        worst.ratio(),
        worst.file,
        if worst.ratio() <= 1.05 {
            "met for every file"
        } else {
            "not met"
        }
    );
    let range = |part: fn(&Row) -> &[Duration]| {
        let mut medians: Vec<Duration> = rows.iter().map(|row| median(part(row))).collect();
        medians.sort();
        format!(
            "{}–{}",
            duration(medians[0]),
            duration(medians[medians.len() - 1])
        )
    };
    let _ = writeln!(
        text,
        "\nWhere tokpost's time beyond ffmpeg's goes: the planning takes {} per file (a probe of \
         the input's boxes; for the AVI also the inspection, an ffmpeg stream copy into Matroska \
         and a probe of the copy, the one extra pass tokpost makes, because its probe does not \
         read inside AVI), the final check {} (a probe of the output); the rest of the wrapper \
         (a temporary file, ffmpeg started in its own process group, its `-progress` lines read, \
         the rename) is not timed apart: it is what is left of the difference between the \
         medians, {}.",
        range(|row| &row.plan),
        range(|row| &row.verify),
        noise(rows),
    );
    text.push_str("\nThe command lines, with the input as `IN` and the output as `OUT`:\n\n");
    for row in rows {
        let _ = writeln!(text, "- `{}`: `{}`", row.file, row.command);
    }
    text
}
