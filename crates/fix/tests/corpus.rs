#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Every fixable case on a generated file comes out accepted by tokpost's probe and by ffprobe,
//! with the container, codecs, frame rate, sides and duration the plan promised; every
//! unfixable case is refused with its reason and nothing written.

mod support;

use std::path::Path;

use media::{Limits, ProblemCode};
use support::*;
use tokpost_fix::{Aspect, FixOptions, Outcome, PhotoFormat};

fn options() -> FixOptions {
    FixOptions::default()
}

fn the_change(report: &tokpost_fix::Report, aspect: Aspect) -> String {
    report
        .changes
        .iter()
        .find(|change| change.aspect == aspect)
        .map(ToString::to_string)
        .unwrap_or_else(|| panic!("no {aspect} change in {:#?}", report.changes))
}

fn assert_mp4_h264(probe: &serde_json::Value) {
    assert!(
        probe["format"]["format_name"]
            .as_str()
            .unwrap()
            .contains("mp4"),
        "{probe}"
    );
    assert_eq!(stream(probe, "video").unwrap()["codec_name"], "h264");
}

#[tokio::test]
async fn a_matroska_h264_file_is_remuxed_without_touching_its_streams() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mkv",
        &picture("360x640", 30, 3.2),
        true,
        &[&X264_FAST[..], &["-c:a", "aac"]].concat(),
    );
    let output = dir.path().join("out.mp4");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);

    let (before, after) = (ffprobe(&input), ffprobe(&output));
    assert_mp4_h264(&after);
    for kind in ["video", "audio"] {
        let (was, is) = (
            stream(&before, kind).unwrap(),
            stream(&after, kind).unwrap(),
        );
        assert_eq!(was["codec_name"], is["codec_name"], "{kind} codec");
        assert_eq!(
            was["nb_read_packets"], is["nb_read_packets"],
            "{kind} packets copied one for one"
        );
    }
    assert!(
        the_change(&report, Aspect::Container)
            .starts_with("container matroska → mp4 (remux, streams copied)")
    );
    assert!(the_change(&report, Aspect::Video).starts_with("video h264 kept (stream copied)"));
    let boxes = top_level_boxes(&output);
    let position = |name: &str| boxes.iter().position(|b| b == name).unwrap();
    assert!(position("moov") < position("mdat"), "faststart: {boxes:?}");
    assert!(
        report.elapsed_ms < 10_000,
        "a remux of 3 s takes well under a second, not {} ms",
        report.elapsed_ms
    );
}

#[tokio::test]
async fn an_avi_with_mpeg4_part2_is_inspected_and_re_encoded_to_h264_keeping_its_mp3() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.avi",
        &picture("480x360", 30, 3.2),
        true,
        &["-c:v", "mpeg4", "-c:a", "libmp3lame"],
    );
    let output = dir.path().join("out.mp4");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let after = ffprobe(&output);
    assert_mp4_h264(&after);
    assert_eq!(stream(&after, "audio").unwrap()["codec_name"], "mp3");
    assert!(the_change(&report, Aspect::Container).starts_with("container avi → mp4"));
    assert!(the_change(&report, Aspect::Video).starts_with("video mpeg4 → h264"));
    assert_eq!(
        files_in(dir.path()),
        ["in.avi", "out.mp4"],
        "the inspection's copy is gone"
    );
}

#[tokio::test]
async fn an_animated_gif_is_inspected_and_becomes_an_h264_video_at_a_valid_frame_rate() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(
        dir.path(),
        "in.gif",
        &["-f", "lavfi", "-i", &picture("640x360", 10, 3.2)],
    );
    let output = dir.path().join("out.mp4");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let after = ffprobe(&output);
    assert_mp4_h264(&after);
    assert_eq!(
        rate(&stream(&after, "video").unwrap()["avg_frame_rate"]),
        30.0
    );
    assert!(the_change(&report, Aspect::Container).starts_with("container gif → mp4"));
    assert_eq!(files_in(dir.path()), ["in.gif", "out.mp4"]);
}

#[tokio::test]
async fn a_bmp_photo_is_inspected_and_becomes_a_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(
        dir.path(),
        "in.bmp",
        &[
            "-f",
            "lavfi",
            "-i",
            &picture("1200x800", 1, 1.0),
            "-frames:v",
            "1",
        ],
    );
    let output = dir.path().join("out.jpg");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let photo = stream(&ffprobe(&output), "video").unwrap().clone();
    assert_eq!(photo["codec_name"], "mjpeg");
    assert_eq!(
        (photo["width"].as_i64(), photo["height"].as_i64()),
        (Some(1200), Some(800))
    );
    assert!(the_change(&report, Aspect::Format).starts_with("format bmp → jpeg"));
    assert_eq!(files_in(dir.path()), ["in.bmp", "out.jpg"]);
}

#[tokio::test]
async fn an_av1_webm_becomes_h264_and_its_opus_aac() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.webm",
        &picture("360x640", 24, 3.2),
        true,
        &[
            "-c:v",
            "libaom-av1",
            "-cpu-used",
            "8",
            "-b:v",
            "200k",
            "-row-mt",
            "1",
            "-c:a",
            "libopus",
        ],
    );
    let output = dir.path().join("out.mp4");
    let (outcome, _) = fix(&input, &output, &options()).await;
    fixed(outcome);
    let after = ffprobe(&output);
    assert_mp4_h264(&after);
    assert_eq!(stream(&after, "audio").unwrap()["codec_name"], "aac");
    let video = stream(&after, "video").unwrap();
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(360), Some(640))
    );
}

#[tokio::test]
async fn a_15_fps_video_comes_out_at_30_fps_with_its_duration_and_audio_kept() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mp4",
        &picture("360x640", 15, 3.2),
        true,
        &[&X264_FAST[..], &["-c:a", "aac"]].concat(),
    );
    let output = dir.path().join("out.mp4");
    let (outcome, progress) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let after = ffprobe(&output);
    let video = stream(&after, "video").unwrap();
    assert_eq!(rate(&video["avg_frame_rate"]), 30.0);
    assert_eq!(report.output.fps, Some(30.0));
    assert!(
        (duration(&after) - 3.2).abs() < 0.15,
        "{}",
        duration(&after)
    );
    let (was, is) = (
        stream(&ffprobe(&input), "audio").unwrap().clone(),
        stream(&after, "audio").unwrap().clone(),
    );
    assert_eq!(
        was["nb_read_packets"], is["nb_read_packets"],
        "audio copied"
    );
    assert!(the_change(&report, Aspect::FrameRate).starts_with("frame rate 15.00 fps → 30 fps"));
    let last = progress.last().expect("progress was reported");
    assert!(last.done && last.fraction == 1.0, "{last:?}");
    assert!(
        progress
            .windows(2)
            .all(|pair| pair[0].fraction <= pair[1].fraction),
        "{progress:?}"
    );
}

#[tokio::test]
async fn a_120_fps_video_comes_out_at_60_fps() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mp4",
        &picture("360x640", 120, 3.2),
        false,
        &X264_FAST,
    );
    let output = dir.path().join("out.mp4");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let video = stream(&ffprobe(&output), "video").unwrap().clone();
    assert_eq!(rate(&video["avg_frame_rate"]), 60.0);
    assert_eq!(report.output.fps, Some(60.0));
}

#[tokio::test]
async fn a_video_wider_than_4096_px_is_scaled_down_keeping_its_aspect() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mp4",
        &picture("4200x480", 24, 3.1),
        false,
        &X264_FAST,
    );
    let output = dir.path().join("out.mp4");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let video = stream(&ffprobe(&output), "video").unwrap().clone();
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(4096), Some(468))
    );
    assert!(
        the_change(&report, Aspect::Size)
            .starts_with("size 4200x480 → 4096x468 (scaled down, aspect kept)")
    );
}

#[tokio::test]
async fn a_rotated_phone_video_stays_rotated_when_re_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let landscape = video(
        dir.path(),
        "landscape.mp4",
        &picture("640x360", 15, 3.2),
        false,
        &X264_FAST,
    );
    // ffmpeg 5 takes the legacy `rotate` tag on a stream copy (as the media corpus does).
    let input = generate(
        dir.path(),
        "in.mp4",
        &[
            "-i",
            landscape.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    );
    let before = stream(&ffprobe(&input), "video").unwrap().clone();
    assert_ne!(rotation(&before), 0, "the input is rotated: {before}");

    let output = dir.path().join("out.mp4");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let after = stream(&ffprobe(&output), "video").unwrap().clone();
    assert_eq!(
        rotation(&after),
        rotation(&before),
        "rotation kept: {after}"
    );
    assert_eq!(
        (after["width"].as_i64(), after["height"].as_i64()),
        (Some(640), Some(360)),
        "coded as before"
    );
    assert_eq!(
        (report.output.width, report.output.height),
        (Some(360), Some(640)),
        "displayed upright"
    );
    assert_eq!(rate(&after["avg_frame_rate"]), 30.0);
    // ffmpeg 5's `rotate=90` tag is a display matrix the probe reads as 90° or 270° clockwise,
    // depending on the version; either way it must be kept.
    let change = the_change(&report, Aspect::Rotation);
    assert!(
        change.contains("° kept (encoded as coded, display matrix copied)"),
        "{change}"
    );
}

#[tokio::test]
async fn an_over_long_video_is_cut_at_the_creators_maximum_only_when_trimming_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mp4",
        &picture("360x640", 30, 6.0),
        true,
        &[&X264_FAST[..], &["-c:a", "aac"]].concat(),
    );
    let output = dir.path().join("out.mp4");
    let limits = max_duration(4);

    let (outcome, _) = fix(
        &input,
        &output,
        &FixOptions {
            limits,
            ..options()
        },
    )
    .await;
    let Outcome::Unfixable { reasons, .. } = outcome else {
        panic!("expected unfixable without trimming: {outcome:#?}");
    };
    assert_eq!(reasons[0].code, ProblemCode::DurationOverCreatorMax);
    assert!(
        reasons[0].remedy == Some(tokpost_fix::Remedy::AllowTrim),
        "{}",
        reasons[0].message
    );
    assert!(!output.exists());

    let (outcome, _) = fix(
        &input,
        &output,
        &FixOptions {
            limits,
            trim: true,
            ..options()
        },
    )
    .await;
    let report = fixed(outcome);
    let after = ffprobe(&output);
    let seconds = duration(&after);
    assert!(
        (3.8..=4.0).contains(&seconds),
        "cut at 3.9 s, ffprobe says {seconds}"
    );
    assert!(report.output.duration_s.unwrap() <= 4.0);
    let verdict = media::preflight_file(&output, &limits);
    assert_ne!(verdict.verdict, media::Verdict::Rejected, "{verdict}");
    assert!(the_change(&report, Aspect::Duration).starts_with("duration 6.00 s → 3.9 s"));
}

#[tokio::test]
async fn a_too_small_video_is_refused_and_scaled_up_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mp4",
        &picture("320x240", 30, 3.2),
        false,
        &X264_FAST,
    );
    let output = dir.path().join("out.mp4");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let Outcome::Unfixable { reasons, .. } = outcome else {
        panic!("expected unfixable: {outcome:#?}");
    };
    assert_eq!(reasons[0].code, ProblemCode::ResolutionTooSmall);
    assert!(
        reasons[0].remedy == Some(tokpost_fix::Remedy::AllowUpscale),
        "{}",
        reasons[0].message
    );
    assert_eq!(reasons[0].measured.as_deref(), Some("320x240 px"));
    assert!(!output.exists());

    let (outcome, _) = fix(
        &input,
        &output,
        &FixOptions {
            upscale: true,
            ..options()
        },
    )
    .await;
    fixed(outcome);
    let video = stream(&ffprobe(&output), "video").unwrap().clone();
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(480), Some(360))
    );
}

#[tokio::test]
async fn a_png_photo_becomes_a_jpeg_of_the_same_size() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(
        dir.path(),
        "in.png",
        &[
            "-f",
            "lavfi",
            "-i",
            &picture("1080x1080", 1, 1.0),
            "-frames:v",
            "1",
        ],
    );
    let output = dir.path().join("out.jpg");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let photo = stream(&ffprobe(&output), "video").unwrap().clone();
    assert_eq!(photo["codec_name"], "mjpeg");
    assert_eq!(
        (photo["width"].as_i64(), photo["height"].as_i64()),
        (Some(1080), Some(1080))
    );
    assert_eq!(report.output.container.as_deref(), Some("jpeg"));
    assert!(the_change(&report, Aspect::Format).starts_with("format png → jpeg"));
}

#[tokio::test]
async fn a_4000x6000_jpeg_is_scaled_within_1080p() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(
        dir.path(),
        "in.jpg",
        &[
            "-f",
            "lavfi",
            "-i",
            &picture("4000x6000", 1, 1.0),
            "-frames:v",
            "1",
            "-q:v",
            "5",
        ],
    );
    let output = dir.path().join("out.jpg");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let photo = stream(&ffprobe(&output), "video").unwrap().clone();
    assert_eq!(
        (photo["width"].as_i64(), photo["height"].as_i64()),
        (Some(1080), Some(1620))
    );
    assert!(report.output_bytes < 20_000_000);
}

#[tokio::test]
async fn a_photo_becomes_a_webp_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(
        dir.path(),
        "in.png",
        &[
            "-f",
            "lavfi",
            "-i",
            &picture("1080x1350", 1, 1.0),
            "-frames:v",
            "1",
        ],
    );
    let output = dir.path().join("out.webp");
    let options = FixOptions {
        photo_format: Some(PhotoFormat::Webp),
        ..options()
    };
    let (outcome, _) = fix(&input, &output, &options).await;
    let report = fixed(outcome);
    assert_eq!(
        stream(&ffprobe(&output), "video").unwrap()["codec_name"],
        "webp"
    );
    assert_eq!(report.output.container.as_deref(), Some("webp"));
}

/// A JPEG whose pixels are 3840x2160 with EXIF orientation 6 (displayed 2160x3840), the way the
/// media corpus writes one: an APP1 segment right after the SOI marker.
fn exif_rotated_jpeg(dir: &Path) -> std::path::PathBuf {
    let plain = generate(
        dir,
        "plain.jpg",
        &[
            "-f",
            "lavfi",
            "-i",
            &picture("3840x2160", 1, 1.0),
            "-frames:v",
            "1",
            "-q:v",
            "3",
        ],
    );
    let bytes = std::fs::read(&plain).unwrap();
    let mut rotated = vec![0xff, 0xd8];
    rotated.extend_from_slice(b"\xff\xe1\x00\x22Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01");
    rotated.extend_from_slice(b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00");
    rotated.extend_from_slice(&bytes[2..]);
    let path = dir.join("in.jpg");
    std::fs::write(&path, rotated).unwrap();
    path
}

/// The picture at `path` as 16x16 grey levels, as ffmpeg decodes it (orientation applied).
fn thumbnail(path: &Path) -> Vec<u8> {
    let output = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-vf",
            "scale=16:16",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    output.stdout
}

#[tokio::test]
async fn an_exif_rotated_photo_is_turned_in_its_pixels_as_a_viewer_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = exif_rotated_jpeg(dir.path());
    let output = dir.path().join("out.jpg");
    let (outcome, _) = fix(&input, &output, &options()).await;
    let report = fixed(outcome);
    let photo = stream(&ffprobe(&output), "video").unwrap().clone();
    assert_eq!(
        (photo["width"].as_i64(), photo["height"].as_i64()),
        (Some(1080), Some(1920))
    );
    // ffmpeg itself applies the EXIF orientation when it decodes the input: the two pictures
    // must look alike (a turn the wrong way would not).
    let (want, got) = (thumbnail(&input), thumbnail(&output));
    let differing = want
        .iter()
        .zip(&got)
        .filter(|(a, b)| a.abs_diff(**b) > 24)
        .count();
    assert!(
        differing < want.len() / 20,
        "{differing} of {} pixels differ",
        want.len()
    );
    assert!(
        the_change(&report, Aspect::Orientation)
            .starts_with("orientation EXIF 6 → applied to the pixels")
    );
}

#[tokio::test]
async fn an_acceptable_file_is_left_alone_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mp4",
        &picture("360x640", 30, 3.2),
        false,
        &[&X264_FAST[..], &["-movflags", "+faststart"]].concat(),
    );
    let output = dir.path().join("out.mp4");
    let (outcome, _) = fix(&input, &output, &options()).await;
    assert!(
        matches!(outcome, Outcome::Acceptable { .. }),
        "{outcome:#?}"
    );
    assert!(!output.exists());
}

fn refused(outcome: Outcome, code: ProblemCode) -> String {
    let Outcome::Unfixable { reasons, .. } = outcome else {
        panic!("expected unfixable ({code}): {outcome:#?}");
    };
    assert_eq!(reasons[0].code, code, "{reasons:#?}");
    reasons[0].to_string()
}

#[tokio::test]
async fn a_two_second_clip_is_refused_with_its_length_and_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mp4",
        &picture("360x640", 30, 2.0),
        false,
        &X264_FAST,
    );
    let output = dir.path().join("out.mp4");
    let reason = refused(
        fix(&input, &output, &options()).await.0,
        ProblemCode::DurationTooShort,
    );
    assert!(
        reason.contains("2.00 s") && reason.contains("minimum of 3 s"),
        "{reason}"
    );
    assert!(reason.contains("no honest fix"), "{reason}");
    assert_eq!(files_in(dir.path()), ["in.mp4"]);
}

#[tokio::test]
async fn audio_only_files_are_refused_for_having_no_picture() {
    let dir = tempfile::tempdir().unwrap();
    let m4a = generate(
        dir.path(),
        "in.m4a",
        &["-f", "lavfi", "-i", &tone(3.2), "-c:a", "aac"],
    );
    let wav = generate(dir.path(), "in.wav", &["-f", "lavfi", "-i", &tone(3.2)]);
    for input in [m4a, wav] {
        let output = dir.path().join("out.mp4");
        let reason = refused(
            fix(&input, &output, &options()).await.0,
            ProblemCode::NoVideoTrack,
        );
        assert!(reason.contains("will not invent one"), "{reason}");
        assert!(!output.exists());
    }
}

#[tokio::test]
async fn a_damaged_file_is_refused_with_its_damage_named() {
    let dir = tempfile::tempdir().unwrap();
    let whole = video(
        dir.path(),
        "whole.mp4",
        &picture("360x640", 30, 3.2),
        false,
        &X264_FAST,
    );
    let bytes = std::fs::read(&whole).unwrap();
    let input = dir.path().join("in.mp4");
    std::fs::write(&input, &bytes[..bytes.len() / 2]).unwrap();
    let output = dir.path().join("out.mp4");
    let reason = refused(
        fix(&input, &output, &options()).await.0,
        ProblemCode::FileDamaged,
    );
    assert!(reason.contains("truncated"), "{reason}");
    assert!(!output.exists());
}

#[tokio::test]
async fn an_existing_output_is_not_replaced_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let input = video(
        dir.path(),
        "in.mkv",
        &picture("360x640", 30, 3.2),
        false,
        &X264_FAST,
    );
    let output = dir.path().join("out.mp4");
    std::fs::write(&output, b"mine").unwrap();
    let error = fixer()
        .fix_file(
            &input,
            &output,
            &options(),
            tokpost_fix::WriteMode::CreateNew,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, tokpost_fix::FixError::OutputExists { .. }),
        "{error}"
    );
    assert_eq!(std::fs::read(&output).unwrap(), b"mine");
    let outcome = fixer()
        .fix_file(
            &input,
            &output,
            &options(),
            tokpost_fix::WriteMode::Overwrite,
            &mut |_| {},
        )
        .await
        .unwrap();
    fixed(outcome);
    let _ = Limits::default();
}
