#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The runner's bounds with real processes: a missing ffmpeg, a timeout that kills ffmpeg's
//! whole process group, a failing ffmpeg's stderr in the error, a size limit, a cancelled fix,
//! and no file left behind by any of them. A fake ffmpeg (a shell script) plays the misbehaving
//! ffmpeg; the real one plays the rest.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use support::*;
use tokpost_fix::{Ffmpeg, FfmpegNotFound, FixError, FixOptions, Fixer, RunError, WriteMode};

/// An executable shell script standing in for ffmpeg.
fn fake_ffmpeg(dir: &Path, body: &str) -> Ffmpeg {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("ffmpeg");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Ffmpeg::locate(Some(&path)).unwrap()
}

fn fixer_with(ffmpeg: Ffmpeg) -> Fixer {
    Fixer::new(ffmpeg, Arc::new(clock::SystemClock))
}

/// Whether the process is gone (or a zombie nobody has reaped yet: it runs no more).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap()
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect()
}

/// A script that starts a child `sleep`, records both pids and waits: a hung ffmpeg with a
/// helper process.
fn hanging_ffmpeg(dir: &Path) -> (Ffmpeg, PathBuf) {
    let pid_file = dir.join("pids");
    let ffmpeg = fake_ffmpeg(
        dir,
        &format!(
            "sleep 30 &\necho \"$$ $!\" > '{}'\nwait",
            pid_file.display()
        ),
    );
    (ffmpeg, pid_file)
}

async fn wait_until_dead(pids: &[u32]) {
    for _ in 0..100 {
        if pids.iter().all(|pid| dead(*pid)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("still running: {pids:?}");
}

#[test]
fn a_configured_ffmpeg_that_does_not_exist_is_a_clear_error() {
    let error = Ffmpeg::locate(Some(Path::new("/nonexistent/bin/ffmpeg"))).unwrap_err();
    assert!(matches!(error, FfmpegNotFound::NotAt { .. }));
    let message = error.to_string();
    assert!(message.contains("/nonexistent/bin/ffmpeg"), "{message}");
    assert!(message.contains("apt install ffmpeg"), "{message}");
}

#[test]
fn a_configured_ffmpeg_that_is_not_executable_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ffmpeg");
    std::fs::write(&path, "not a program").unwrap();
    let message = Ffmpeg::locate(Some(&path)).unwrap_err().to_string();
    assert!(message.contains("not executable"), "{message}");
}

#[test]
fn the_missing_ffmpeg_message_says_how_to_install_or_configure_it() {
    let message = FfmpegNotFound::NotOnPath.to_string();
    assert!(
        message.starts_with("ffmpeg was not found on PATH; install it (apt install ffmpeg) or set"),
        "{message}"
    );
}

#[tokio::test]
async fn a_timeout_kills_ffmpeg_and_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let (ffmpeg, pid_file) = hanging_ffmpeg(dir.path());
    let error = ffmpeg
        .run(&[], None, Duration::from_millis(500), None, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(error, RunError::TimedOut { .. }), "{error}");
    assert!(
        error.to_string().contains("process group killed"),
        "{error}"
    );
    let pids = pids(&pid_file);
    assert_eq!(pids.len(), 2, "the script and its sleep");
    wait_until_dead(&pids).await;
}

#[tokio::test]
async fn a_failing_ffmpeg_is_an_error_with_the_tail_of_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let ffmpeg = fake_ffmpeg(
        dir.path(),
        "i=0; while [ $i -lt 200 ]; do echo \"noise line $i\" >&2; i=$((i+1)); done\necho \"Unknown encoder 'libnothing'\" >&2\nexit 3",
    );
    let error = ffmpeg
        .run(&[], None, Duration::from_secs(10), None, &mut |_| {})
        .await
        .unwrap_err();
    let RunError::Failed {
        status,
        stderr_tail,
    } = &error
    else {
        panic!("expected a failure: {error}");
    };
    assert_eq!(status, "exit status 3");
    assert!(
        stderr_tail.ends_with("Unknown encoder 'libnothing'"),
        "{stderr_tail}"
    );
    assert!(
        !stderr_tail.contains("noise line 0\n"),
        "only the tail: {stderr_tail}"
    );
    assert!(stderr_tail.lines().count() <= 12);
}

/// An MKV the planner remuxes: the fake ffmpeg then gets the arguments of a real plan.
fn remuxable(dir: &Path) -> PathBuf {
    video(
        dir,
        "in.mkv",
        &picture("360x640", 30, 3.2),
        false,
        &X264_FAST,
    )
}

#[tokio::test]
async fn a_failed_fix_leaves_neither_the_output_nor_its_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let input = remuxable(&work);
    // Writes half a file to its last argument (`file:PATH`), then fails.
    let ffmpeg = fake_ffmpeg(
        dir.path(),
        "for last; do :; done\nprintf 'half a file' > \"${last#file:}\"\necho 'Conversion failed!' >&2\nexit 1",
    );
    let output = work.join("out.mp4");
    let error = fixer_with(ffmpeg)
        .fix_file(
            &input,
            &output,
            &FixOptions::default(),
            WriteMode::CreateNew,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, FixError::Run(RunError::Failed { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("Conversion failed!"), "{error}");
    assert_eq!(files_in(&work), ["in.mkv"]);
}

#[tokio::test]
async fn an_output_past_its_size_limit_is_stopped_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mp4",
        &picture("360x640", 15, 3.2),
        false,
        &X264_FAST,
    );
    let output = dir.path().join("out.mp4");
    let error = fixer()
        .with_max_output_bytes(20_000)
        .fix_file(
            &input,
            &output,
            &FixOptions::default(),
            WriteMode::CreateNew,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            FixError::OutputTooLarge { limit: 20_000, .. }
                | FixError::Run(RunError::OutputTooLarge { limit: 20_000, .. })
        ),
        "{error}"
    );
    assert_eq!(files_in(dir.path()), ["in.mp4"]);
}

#[tokio::test]
async fn a_dropped_fix_kills_ffmpeg_and_removes_its_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let input = remuxable(&work);
    let (ffmpeg, pid_file) = hanging_ffmpeg(dir.path());
    let fixer = fixer_with(ffmpeg);
    let output = work.join("out.mp4");
    let options = FixOptions::default();
    let mut ignore = |_| {};
    let job = fixer.fix_file(&input, &output, &options, WriteMode::CreateNew, &mut ignore);
    // A service cancels a job by dropping it (here: a deadline for the whole fix).
    let result = tokio::time::timeout(Duration::from_millis(500), job).await;
    assert!(result.is_err(), "the fix was still running");
    wait_until_dead(&pids(&pid_file)).await;
    assert_eq!(files_in(&work), ["in.mkv"]);
}

#[test]
fn a_fix_can_run_as_a_spawned_job() {
    fn spawnable<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let fixer = fixer_with(fake_ffmpeg(dir.path(), "exit 0"));
    let options = FixOptions::default();
    let mut progress = |_| {};
    let job = fixer.fix_file(
        Path::new("in"),
        Path::new("out"),
        &options,
        WriteMode::CreateNew,
        &mut progress,
    );
    spawnable(&job);
}
