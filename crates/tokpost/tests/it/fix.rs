//! `tokpost fix` as a user runs it: what it changed and why, the refusal of a file that has no
//! honest fix, `--json`, and the errors a person meets first (no ffmpeg, an existing output).
//! The inputs are generated with ffmpeg's lavfi; like the media corpus, these tests fail with
//! an install hint when ffmpeg is missing rather than skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tokpost_testkit::ffmpeg::{X264_FAST, generate};

/// A `testsrc2` H.264 video of `size` lasting `seconds`, in the container `name` says.
fn video(dir: &Path, name: &str, size: &str, seconds: f64) -> PathBuf {
    let picture = format!("testsrc2=size={size}:rate=30:duration={seconds}");
    generate(
        dir,
        name,
        &[&["-f", "lavfi", "-i", &picture][..], &X264_FAST].concat(),
    )
}

fn tokpost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args(args)
        .env("TOKPOST_LOG", "warn")
        .output()
        .expect("tokpost runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[test]
fn fix_remuxes_a_matroska_file_says_what_it_changed_and_the_result_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(dir.path(), "in.mkv", "360x640", 3.2);
    let output = dir.path().join("out.mp4");
    let run = tokpost(&["fix", path(&input), "-o", path(&output)]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}{}", text(&run.stderr));
    assert!(stdout.contains("plan:"), "{stdout}");
    assert!(
        stdout.contains(
            "container matroska → mp4 (remux, streams copied) — answers container_unsupported"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("video h264 kept (stream copied)"),
        "{stdout}"
    );
    assert!(stdout.contains("fixed: "), "{stdout}");
    assert!(
        stdout.contains(&format!("wrote {}", output.display())),
        "{stdout}"
    );
    let check = tokpost(&["check", path(&output)]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

#[test]
fn fix_refuses_a_two_second_clip_with_the_reason_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(dir.path(), "in.mp4", "360x640", 2.0);
    let output = dir.path().join("out.mp4");
    let run = tokpost(&["fix", path(&input), "-o", path(&output)]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("cannot be fixed; nothing written:"),
        "{stdout}"
    );
    assert!(stdout.contains("duration_too_short: the video lasts 2.00 s, under TikTok's minimum of 3 s; there is no honest fix"), "{stdout}");
    assert!(!output.exists());
}

#[test]
fn fix_json_prints_the_outcome_with_its_changes_and_the_output_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(dir.path(), "in.mkv", "360x640", 3.2);
    let output = dir.path().join("out.mp4");
    let run = tokpost(&["fix", "--json", path(&input), "-o", path(&output)]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let outcome: serde_json::Value =
        serde_json::from_str(text(&run.stdout).trim()).expect("one JSON object");
    assert_eq!(outcome["outcome"], "fixed");
    assert_eq!(
        outcome["output"]["verdict"], "warning",
        "below 720p: {outcome}"
    );
    assert_eq!(outcome["output"]["container"], "mp4");
    assert_eq!(outcome["input"]["container"], "matroska");
    assert_eq!(outcome["changes"][0]["aspect"], "container");
    assert_eq!(outcome["changes"][0]["answers"], "container_unsupported");
    assert!(outcome["output_bytes"].as_u64().unwrap() > 0);

    let short = video(dir.path(), "short.mp4", "360x640", 2.0);
    let run = tokpost(&[
        "fix",
        "--json",
        path(&short),
        "-o",
        path(&dir.path().join("short-out.mp4")),
    ]);
    assert_eq!(run.status.code(), Some(1));
    let outcome: serde_json::Value = serde_json::from_str(text(&run.stdout).trim()).unwrap();
    assert_eq!(outcome["outcome"], "unfixable");
    assert_eq!(outcome["reasons"][0]["code"], "duration_too_short");
}

#[test]
fn fix_leaves_an_acceptable_file_alone_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(dir.path(), "in.mp4", "360x640", 3.2);
    let output = dir.path().join("out.mp4");
    let run = tokpost(&["fix", path(&input), "-o", path(&output)]);
    assert_eq!(run.status.code(), Some(0));
    assert!(
        text(&run.stdout)
            .contains("TikTok accepts this file as it is: nothing to fix, nothing written"),
        "{}",
        text(&run.stdout)
    );
    assert!(!output.exists());
}

#[test]
fn fix_without_ffmpeg_says_how_to_install_or_point_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args(["fix", "in.mkv", "-o"])
        .arg(dir.path().join("out.mp4"))
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("ffmpeg was not found on PATH; install it (apt install ffmpeg) or set its path (tokpost fix --ffmpeg PATH)"),
        "{stderr}"
    );
    let run = tokpost(&[
        "fix",
        "in.mkv",
        "-o",
        "out.mp4",
        "--ffmpeg",
        "/nonexistent/ffmpeg",
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr).contains("ffmpeg was not found at /nonexistent/ffmpeg"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn fix_refuses_to_replace_an_existing_output_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(dir.path(), "in.mkv", "360x640", 3.2);
    let output = dir.path().join("out.mp4");
    std::fs::write(&output, b"keep me").unwrap();
    let run = tokpost(&["fix", path(&input), "-o", path(&output)]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr).contains("already exists; choose another path or pass --force"),
        "{}",
        text(&run.stderr)
    );
    assert_eq!(std::fs::read(&output).unwrap(), b"keep me");
    let run = tokpost(&["fix", "--force", path(&input), "-o", path(&output)]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert_ne!(std::fs::read(&output).unwrap(), b"keep me");
}

#[test]
fn fix_refuses_an_output_named_for_another_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(dir.path(), "in.mkv", "360x640", 3.2);
    let run = tokpost(&[
        "fix",
        path(&input),
        "-o",
        path(&dir.path().join("out.webm")),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr)
            .contains("the fixed file is an MP4 video: name the output .mp4 (not .webm)"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn fix_cuts_an_over_long_video_only_with_trim_and_says_how_to_allow_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(dir.path(), "in.mp4", "360x640", 5.0);
    let output = dir.path().join("out.mp4");
    let run = tokpost(&[
        "fix",
        path(&input),
        "-o",
        path(&output),
        "--max-duration",
        "4",
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("over the maximum of 4 s"), "{stdout}");
    assert!(
        stdout.contains("run again with --trim to cut it"),
        "{stdout}"
    );
    assert!(!output.exists());
    let run = tokpost(&[
        "fix",
        path(&input),
        "-o",
        path(&output),
        "--max-duration",
        "4",
        "--trim",
    ]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("duration 5.00 s → 3.9 s (cut at the creator's maximum of 4 s"),
        "{stdout}"
    );
    let check = tokpost(&["check", "--max-duration", "4", path(&output)]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}
