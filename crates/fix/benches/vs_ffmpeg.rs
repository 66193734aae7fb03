//! `tokpost fix` against plain ffmpeg running the same command line on the same files; issue
//! 21's target is at most 5% slower.
//!
//! ```text
//! cargo bench -p tokpost-fix --bench vs_ffmpeg
//! FIX_BENCH_ROUNDS=15 FIX_BENCH_MIN_SECONDS=40 FIX_BENCH_SECONDS=10 FIX_BENCH_WIDE_SECONDS=3 \
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
//! Each file gets at least `FIX_BENCH_ROUNDS` rounds (15), and more while they fill
//! `FIX_BENCH_MIN_SECONDS` (40), so a fix of a tenth of a second is judged on hundreds of rounds.
//! Which of the two goes first alternates from round to round, so drift (a warming cache, a
//! neighbour on the cores) falls on both; a first round is a warm-up and is not counted. The
//! ratio is the median of each round's tokpost/ffmpeg, with a distribution-free 95% confidence
//! interval for that median (order statistics): one x264 run varies by several percent from the
//! next on shared cores, so a median without its interval says little about 5%.
//!
//! Wall time alone cannot say where a difference goes, so each run also reads the CPU time
//! `getrusage` counts: the bench process's own (tokpost's wrapper: the tokio runtime, the
//! probes, reading `-progress` and stderr; for plain ffmpeg, `Command::output`'s reading) and
//! its finished children's (ffmpeg). The planning (`Fixer::prepare`) and the final check
//! (`media::preflight_file` on the output) are timed apart too.
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
use tokpost_testkit::ffmpeg::{X264_FAST, clip, generate};

/// The most rounds a file gets however short its fix.
const MAX_ROUNDS: usize = 301;

/// One generated input and what its fix does.
struct Case {
    file: String,
    fix: &'static str,
    path: PathBuf,
}

fn main() {
    let rounds = env_number("FIX_BENCH_ROUNDS", 15);
    let min_seconds = env_number("FIX_BENCH_MIN_SECONDS", 40) as f64;
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
            let row = measure(&runtime, &fixer, case, dir.path(), rounds, min_seconds);
            let (low, high) = median_interval(&row.ratios());
            println!(
                "{} ({} rounds): tokpost {} ({}), ffmpeg {} ({}), ratio {:.3} (95% {low:.3}–{high:.3}, spread {:.3}–{:.3}); \
                 wrapper CPU {}, ffmpeg CPU under tokpost/alone {:.3}; plan {}, verify {}",
                row.file,
                row.rounds,
                duration(median(&row.tokpost.wall)),
                spread(&row.tokpost.wall),
                duration(median(&row.ffmpeg.wall)),
                spread(&row.ffmpeg.wall),
                row.ratio(),
                min(&row.ratios()),
                max(&row.ratios()),
                duration(median(&row.tokpost.own_cpu)),
                row.child_cpu_ratio(),
                duration(median(&row.plan)),
                duration(median(&row.verify)),
            );
            row
        })
        .collect();
    let section = markdown(&rows, rounds, min_seconds, seconds, wide_seconds);
    println!("\n{section}");
    if let Ok(path) = std::env::var("TOKPOST_PERF_MARKDOWN") {
        std::fs::write(path, section).unwrap();
    }
}

/// Writes the corpus into `dir`.
fn corpus(dir: &Path, seconds: usize, wide_seconds: usize) -> Vec<Case> {
    let case = |file: &str, fix: &'static str, path: PathBuf| Case {
        file: file.to_owned(),
        fix,
        path,
    };
    let generated =
        |file: &str, fix: &'static str, args: &[&str]| case(file, fix, generate(dir, file, args));
    let clipped = |file: &str, fix: &'static str, fps: u32| {
        case(file, fix, clip(dir, file, "720x1280", fps, seconds as f64))
    };
    let mpeg4 = format!("testsrc2=size=720x1280:rate=30:duration={seconds}");
    let tone = format!("sine=frequency=440:duration={seconds}");
    let wide = format!("testsrc2=size=4200x1080:rate=24:duration={wide_seconds}");
    vec![
        clipped(
            "h264_15fps_720x1280.mp4",
            "re-encode at 30 fps, AAC copied",
            15,
        ),
        clipped(
            "h264_aac_720x1280.mkv",
            "remux into MP4, streams copied",
            30,
        ),
        generated(
            "mpeg4_mp3_720x1280.avi",
            "inspection (stream copy to Matroska), then re-encode to H.264, MP3 copied",
            &[
                "-f",
                "lavfi",
                "-i",
                &mpeg4,
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
        ),
        generated(
            "h264_4200x1080.mp4",
            "scale to 4096 wide, re-encode",
            &[&["-f", "lavfi", "-i", &wide][..], &X264_FAST].concat(),
        ),
        generated(
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
        ),
    ]
}

/// CPU time `getrusage` has counted so far: this process's own, and its children's that have
/// ended and been waited for (ffmpeg).
#[derive(Clone, Copy)]
struct Cpu {
    own: Duration,
    children: Duration,
}

impl Cpu {
    fn now() -> Self {
        use nix::sys::resource::{UsageWho, getrusage};
        let total = |who| {
            let usage = getrusage(who).unwrap();
            let time = |value: nix::sys::time::TimeVal| {
                Duration::from_secs(u64::try_from(value.tv_sec()).unwrap())
                    + Duration::from_micros(u64::try_from(value.tv_usec()).unwrap())
            };
            time(usage.user_time()) + time(usage.system_time())
        };
        Self {
            own: total(UsageWho::RUSAGE_SELF),
            children: total(UsageWho::RUSAGE_CHILDREN),
        }
    }
}

/// One side's samples (tokpost's or plain ffmpeg's), one per counted round.
#[derive(Default)]
struct Side {
    wall: Vec<Duration>,
    /// The bench process's own CPU time during the run: the wrapper's cost.
    own_cpu: Vec<Duration>,
    /// ffmpeg's CPU time during the run.
    child_cpu: Vec<Duration>,
}

impl Side {
    /// Times `run`, which must wait for every process it starts.
    fn time(&mut self, run: impl FnOnce()) {
        let (cpu, started) = (Cpu::now(), Instant::now());
        run();
        let elapsed = started.elapsed();
        let after = Cpu::now();
        self.wall.push(elapsed);
        self.own_cpu.push(after.own - cpu.own);
        self.child_cpu.push(after.children - cpu.children);
    }
}

/// One file's samples.
struct Row {
    file: String,
    fix: &'static str,
    /// ffmpeg's arguments, with the paths as `IN` and `OUT`.
    command: String,
    tokpost: Side,
    ffmpeg: Side,
    rounds: usize,
    plan: Vec<Duration>,
    verify: Vec<Duration>,
}

impl Row {
    fn ratios(&self) -> Vec<f64> {
        ratios(&self.tokpost.wall, &self.ffmpeg.wall)
    }

    fn ratio(&self) -> f64 {
        median_of(&self.ratios())
    }

    /// The median of the rounds' ffmpeg CPU time under tokpost over ffmpeg's CPU time alone.
    fn child_cpu_ratio(&self) -> f64 {
        median_of(&ratios(&self.tokpost.child_cpu, &self.ffmpeg.child_cpu))
    }
}

fn ratios(numerators: &[Duration], denominators: &[Duration]) -> Vec<f64> {
    numerators
        .iter()
        .zip(denominators)
        .map(|(top, bottom)| top.as_secs_f64() / bottom.as_secs_f64())
        .collect()
}

fn median_of(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A distribution-free confidence interval of at least 95% for the median of `values`: the
/// `k`-th smallest and the `k`-th largest, for the largest `k` with
/// P(Binomial(n, 1/2) < k) ≤ 2.5% (the whole range when there are too few values for that).
fn median_interval(values: &[f64]) -> (f64, f64) {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    // P(X = i) for X ~ Binomial(n, 1/2), summed from 0 while it stays within 2.5%.
    let mut k = 0;
    let mut below = 0.0;
    let mut term = 0.5_f64.powi(i32::try_from(n).unwrap());
    for i in 0..n / 2 {
        if below + term > 0.025 {
            break;
        }
        below += term;
        k = i + 1;
        term *= (n - i) as f64 / (i + 1) as f64;
    }
    let k = k.max(1);
    (values[k - 1], values[n - k])
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    fixer: &Fixer,
    case: &Case,
    dir: &Path,
    rounds: usize,
    min_seconds: f64,
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
        assert!(
            matches!(outcome, Outcome::Fixed(_)),
            "{}: expected a fixed file, got {outcome:#?}",
            case.file
        );
    };
    let run_ffmpeg = || {
        let _ = std::fs::remove_file(&theirs);
        let output = Command::new(fixer.ffmpeg().path())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run ffmpeg");
        assert!(
            output.status.success(),
            "{}: ffmpeg failed: {}",
            case.file,
            String::from_utf8_lossy(&output.stderr)
        );
    };

    // The warm-up round: both read the input once before anything is counted. Its length sets
    // how many rounds a short fix gets: at least `min_seconds` of measuring per file, so that a
    // remux of a tenth of a second is judged on hundreds of rounds, not on fifteen.
    let warm_up = Instant::now();
    run_tokpost();
    run_ffmpeg();
    let round_secs = warm_up.elapsed().as_secs_f64().max(1e-3);
    let rounds = rounds.max(((min_seconds / round_secs).ceil() as usize).min(MAX_ROUNDS));
    let (mut tokpost, mut ffmpeg) = (Side::default(), Side::default());
    for round in 0..rounds {
        if round % 2 == 0 {
            tokpost.time(run_tokpost);
            ffmpeg.time(run_ffmpeg);
        } else {
            ffmpeg.time(run_ffmpeg);
            tokpost.time(run_tokpost);
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
        rounds,
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

fn markdown(
    rows: &[Row],
    rounds: usize,
    min_seconds: f64,
    seconds: usize,
    wide_seconds: usize,
) -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mut text = format!(
        "## Autofix against ffmpeg\n\n\
         `tokpost fix` (`Fixer::fix_file`: probe and plan, ffmpeg in its own process group with \
         its `-progress` read, the result probed and judged, the rename into place) against plain \
         ffmpeg running the same command line on the same generated files, at least {rounds} \
         rounds per file and as many more as fill {min_seconds:.0} s (up to {MAX_ROUNDS}: short \
         fixes get hundreds), after an uncounted warm-up, the two alternating which goes first; {cpu}, {cores} cores, {ffmpeg}. \
         The same settings are the arguments `tokpost_fix::args::plan_args` gives for the plan \
         (codec, preset, CRF, pixel format, filters, stream maps, faststart, the `-fs` bound), \
         listed below, run by `std::process::Command` less `-progress pipe:1`: the progress \
         tokpost reads is part of tokpost's cost. The ratio is the median of the rounds' \
         tokpost/ffmpeg wall times, with a distribution-free 95% confidence interval for that \
         median; issue 21's target is at most 1.05. The CPU columns come from `getrusage`: \
         tokpost's own CPU time per fix (the wrapper: runtime, probes, reading ffmpeg's output, \
         the rename) and ffmpeg's CPU time under tokpost over its CPU time alone (median of the \
         rounds). Planning (`Fixer::prepare`) and the final check (`media::preflight_file` on \
         the output) are timed apart. \
         `FIX_BENCH_ROUNDS={rounds} FIX_BENCH_MIN_SECONDS={min_seconds:.0} FIX_BENCH_SECONDS={seconds} FIX_BENCH_WIDE_SECONDS={wide_seconds} \
         cargo bench -p tokpost-fix --bench vs_ffmpeg`.\n\n\
         | file | fix | rounds | tokpost, median | spread | ffmpeg, median | spread | tokpost/ffmpeg, median | 95% interval | tokpost's own CPU per fix | ffmpeg CPU, under tokpost/alone | planning | final check |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        cpu = cpu_model(),
        ffmpeg = ffmpeg_version(),
    );
    for row in rows {
        let (low, high) = median_interval(&row.ratios());
        let _ = writeln!(
            text,
            "| `{}` | {} | {} | {} | {} | {} | {} | {:.3} | {low:.3}–{high:.3} | {} | {:.3} | {} | {} |",
            row.file,
            row.fix,
            row.rounds,
            duration(median(&row.tokpost.wall)),
            spread(&row.tokpost.wall),
            duration(median(&row.ffmpeg.wall)),
            spread(&row.ffmpeg.wall),
            row.ratio(),
            duration(median(&row.tokpost.own_cpu)),
            row.child_cpu_ratio(),
            duration(median(&row.plan)),
            duration(median(&row.verify)),
        );
    }
    let worst = rows
        .iter()
        .max_by(|a, b| a.ratio().total_cmp(&b.ratio()))
        .unwrap();
    let widest = rows
        .iter()
        .map(|row| (median_interval(&row.ratios()).1, row))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    let _ = writeln!(
        text,
        "\nThe highest median ratio is {:.3} (`{}`): the target is {}. The highest upper end of a \
         95% interval is {:.3} (`{}`).",
        worst.ratio(),
        worst.file,
        if worst.ratio() <= 1.05 {
            "met for every file"
        } else {
            "not met"
        },
        widest.0,
        widest.1.file,
    );
    // The wrapper's share: its own CPU time over ffmpeg's, per file, as percentages.
    let shares: Vec<f64> = rows
        .iter()
        .map(|row| {
            100.0 * median(&row.tokpost.own_cpu).as_secs_f64()
                / median(&row.tokpost.child_cpu).as_secs_f64()
        })
        .collect();
    let child: Vec<f64> = rows.iter().map(Row::child_cpu_ratio).collect();
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
        "\nWhere tokpost's time beyond ffmpeg's goes: tokpost's own CPU time is {} per fix, \
         {:.2}–{:.2}% of the CPU time ffmpeg spends in the same fix; ffmpeg itself uses {:.3}–{:.3} \
         of its CPU time alone when tokpost runs it (the median of the rounds, per file). The \
         planning takes {} per file (a probe of the input's boxes; for the AVI also the \
         inspection, an ffmpeg stream copy into Matroska and a probe of the copy, the one extra \
         pass tokpost makes, because its probe does not read inside AVI), the final check {} (a \
         probe of the output). What is left of a difference in wall time is the variation of \
         ffmpeg's own runs on shared cores: the spread columns show it for both sides.",
        range(|row| &row.tokpost.own_cpu),
        min(&shares),
        max(&shares),
        min(&child),
        max(&child),
        range(|row| &row.plan),
        range(|row| &row.verify),
    );
    text.push_str("\nThe command lines, with the input as `IN` and the output as `OUT`:\n\n");
    for row in rows {
        let _ = writeln!(text, "- `{}`: `{}`", row.file, row.command);
    }
    text
}
