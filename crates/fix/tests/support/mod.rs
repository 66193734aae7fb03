//! What the fix tests share: ffmpeg's lavfi sources for inputs, ffprobe as the yardstick, and a
//! fixer on the real ffmpeg.
//!
//! Like the media crate's corpus (crates/media/tests/support/corpus.rs), these tests need ffmpeg
//! and ffprobe and fail with an install hint when either is missing: a fix that was never run
//! must never pass as a skipped test, in CI or anywhere else.

#![allow(dead_code, unreachable_pub)] // each test file uses its own part of the support

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use media::{Limits, Verdict};
use serde_json::Value;
use tokpost_fix::{Ffmpeg, FixOptions, Fixer, Outcome, Progress, Report, WriteMode};

/// Panics with an install hint when ffmpeg or ffprobe is missing.
pub fn require_tools() {
    for tool in ["ffmpeg", "ffprobe"] {
        let found = Command::new(tool)
            .arg("-version")
            .output()
            .map(|out| out.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "{tool} is not installed: the fix tests need ffmpeg and ffprobe (apt-get install ffmpeg)"
        );
    }
}

/// `testsrc2` of `size` (`WxH`) at `rate` fps for `seconds`, as an ffmpeg input.
pub fn picture(size: &str, rate: u32, seconds: f64) -> String {
    format!("testsrc2=size={size}:rate={rate}:duration={seconds}")
}

/// A 440 Hz tone for `seconds`, as an ffmpeg input.
pub fn tone(seconds: f64) -> String {
    format!("sine=frequency=440:duration={seconds}")
}

/// Runs ffmpeg with `args` in `dir` to write the file `name`; returns its path.
pub fn generate(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    require_tools();
    tokpost_testkit::ffmpeg::generate(dir, name, args)
}

/// A lavfi video (and tone when `audio`) encoded with the fastest settings.
pub fn video(dir: &Path, name: &str, source: &str, audio: bool, codec: &[&str]) -> PathBuf {
    let mut args = vec!["-f", "lavfi", "-i", source];
    let tone_source;
    if audio {
        let seconds = source
            .rsplit("duration=")
            .next()
            .expect("the source has a duration");
        tone_source = format!("sine=frequency=440:duration={seconds}");
        args.extend(["-f", "lavfi", "-i", &tone_source]);
    }
    args.extend(codec);
    if audio {
        args.push("-shortest");
    }
    generate(dir, name, &args)
}

pub use tokpost_testkit::ffmpeg::X264_FAST;

/// ffprobe's JSON for `path`: streams and format.
pub fn ffprobe(path: &Path) -> Value {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        output.status.success(),
        "ffprobe could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("ffprobe prints JSON")
}

/// The first stream of `kind` (`video`, `audio`) in ffprobe's answer.
pub fn stream<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"]
        .as_array()?
        .iter()
        .find(|stream| stream["codec_type"] == kind)
}

/// A `num/den` rate of ffprobe's as frames per second.
pub fn rate(text: &Value) -> f64 {
    let text = text.as_str().expect("a rate string");
    let (num, den) = text.split_once('/').expect("num/den");
    num.parse::<f64>().unwrap() / den.parse::<f64>().unwrap()
}

/// ffprobe's display rotation of the first video stream (the display matrix side data, or the
/// legacy `rotate` tag), as the media corpus test reads it.
pub fn rotation(stream: &Value) -> i64 {
    let from_side_data = stream["side_data_list"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|side| side["rotation"].as_i64());
    let from_tag = stream["tags"]["rotate"]
        .as_str()
        .and_then(|text| text.parse().ok());
    from_side_data.or(from_tag).unwrap_or(0)
}

pub fn duration(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .expect("a duration")
        .parse()
        .unwrap()
}

/// A fixer on the real ffmpeg (found on PATH), a minute per run.
pub fn fixer() -> Fixer {
    require_tools();
    let ffmpeg = Ffmpeg::locate(None).expect("ffmpeg on PATH");
    Fixer::new(ffmpeg, Arc::new(clock::SystemClock)).with_timeout(Duration::from_secs(120))
}

/// Fixes `input` into `output`, collecting the progress reports.
pub async fn fix(input: &Path, output: &Path, options: &FixOptions) -> (Outcome, Vec<Progress>) {
    let mut reports = Vec::new();
    let outcome = fixer()
        .fix_file(
            input,
            output,
            options,
            WriteMode::CreateNew,
            &mut |progress| {
                reports.push(progress);
            },
        )
        .await
        .expect("the fix runs");
    (outcome, reports)
}

/// The report of a fixed file, after checking that tokpost's probe accepts the output.
pub fn fixed(outcome: Outcome) -> Report {
    let Outcome::Fixed(report) = outcome else {
        panic!("expected a fixed file, got {outcome:#?}");
    };
    let path = Path::new(&report.output.file);
    let verdict = media::preflight_file(path, &Limits::default());
    assert_ne!(
        verdict.verdict,
        Verdict::Rejected,
        "tokpost's probe rejects the fixed file: {verdict}"
    );
    report
}

/// Options with the creator's maximum.
pub fn max_duration(seconds: u32) -> Limits {
    Limits {
        creator_max_video_duration_s: Some(seconds),
    }
}

/// The files in `dir`, hidden ones included, by name.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The order of an MP4's top-level boxes (`ftyp`, `moov`, `mdat`…).
pub fn top_level_boxes(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        boxes.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        let size = if size == 1 {
            u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize
        } else {
            size
        };
        if size < 8 {
            break;
        }
        at += size;
    }
    boxes
}
