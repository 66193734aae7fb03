#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The probe against ffprobe on every file of the generated corpus, and the verdict each corpus
//! file must get.

#[path = "support/corpus.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use media::{Limits, ProbeError, Verdict, preflight_file, probe_path};
use rstest::rstest;
use serde_json::Value;

fn corpus() -> PathBuf {
    support::corpus_dir(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// Files the probe must refuse as damaged (ffprobe may still read some of them: a truncated
/// file's index can be intact while its payload is gone).
const DAMAGED: [&str; 5] = [
    "empty.mp4",
    "random_bytes.mp4",
    "truncated_moov_end.mp4",
    "truncated_faststart.mp4",
    "truncated_header.webm",
];
/// Recognised by signature only, so there is nothing to compare.
const SIGNATURE_ONLY: [&str; 2] = ["gif_480x270.gif", "avi_480x270.avi"];

fn ffprobe(path: &Path) -> Value {
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
    assert!(
        output.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn ratio(text: &str) -> Option<f64> {
    let (num, den) = text.split_once('/')?;
    let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
    (den != 0.0 && num != 0.0).then(|| num / den)
}

/// ffprobe's rotation of the first video stream: the display matrix side data (ffmpeg ≥ 5) or
/// the legacy `rotate` tag.
fn ffprobe_rotation(stream: &Value) -> i64 {
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

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn probe_agrees_with_ffprobe_on_every_corpus_file() {
    let files = corpus_files();
    assert!(
        files.len() >= 30,
        "the corpus is incomplete: {} files",
        files.len()
    );
    let mut compared = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let probed = probe_path(path);
        if DAMAGED.contains(&name) {
            assert!(
                probed.is_err(),
                "{name}: the probe must report damage, got {probed:?}"
            );
            continue;
        }
        let facts = probed.unwrap_or_else(|err| panic!("{name}: probe failed: {err}"));
        if SIGNATURE_ONLY.contains(&name) {
            continue;
        }
        let reference = ffprobe(path);
        let streams = reference["streams"].as_array().unwrap();
        let video_stream = streams
            .iter()
            .find(|stream| stream["codec_type"] == "video")
            .unwrap();
        assert_eq!(
            facts.size_bytes,
            std::fs::metadata(path).unwrap().len(),
            "{name}: size"
        );
        if let Some(image) = &facts.image {
            assert_eq!(
                image.pixel_width as i64,
                video_stream["width"].as_i64().unwrap(),
                "{name}: width"
            );
            assert_eq!(
                image.pixel_height as i64,
                video_stream["height"].as_i64().unwrap(),
                "{name}: height"
            );
            compared += 1;
            continue;
        }
        let video = facts
            .video
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no video facts"));
        assert_eq!(
            video.codec.name(),
            video_stream["codec_name"].as_str().unwrap(),
            "{name}: codec"
        );
        let (coded_width, coded_height) = (
            video_stream["width"].as_i64().unwrap(),
            video_stream["height"].as_i64().unwrap(),
        );
        let rotation = ffprobe_rotation(video_stream).rem_euclid(180);
        let (display_width, display_height) = if rotation == 90 {
            (coded_height, coded_width)
        } else {
            (coded_width, coded_height)
        };
        // ffprobe's rotation is counter-clockwise; ours is clockwise.
        assert_eq!(
            i64::from(video.rotation_degrees),
            (-ffprobe_rotation(video_stream)).rem_euclid(360),
            "{name}: rotation"
        );
        assert_eq!(
            i64::from(video.display_width()),
            display_width,
            "{name}: displayed width"
        );
        assert_eq!(
            i64::from(video.display_height()),
            display_height,
            "{name}: displayed height"
        );
        let reference_fps = ratio(video_stream["avg_frame_rate"].as_str().unwrap())
            .or_else(|| ratio(video_stream["r_frame_rate"].as_str().unwrap()))
            .unwrap();
        let fps = video.fps.unwrap_or_else(|| panic!("{name}: no fps"));
        assert!(
            (fps - reference_fps).abs() <= 0.01,
            "{name}: fps {fps} vs ffprobe {reference_fps}"
        );
        let reference_duration: f64 = reference["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let duration = facts
            .duration_s
            .unwrap_or_else(|| panic!("{name}: no duration"));
        assert!(
            (duration - reference_duration).abs() <= 0.05,
            "{name}: duration {duration} vs ffprobe {reference_duration}"
        );
        compared += 1;
    }
    assert!(
        compared >= 25,
        "only {compared} files were compared with ffprobe"
    );
}

#[rstest]
#[case::h264_moov_at_end("h264_720x1280_30fps_moov_end.mp4", Verdict::Ok, &[])]
#[case::h264_faststart("h264_720x1280_30fps_faststart.mp4", Verdict::Ok, &[])]
#[case::rotated_90_is_portrait("h264_1280x720_rotate_tag90.mp4", Verdict::Ok, &[])]
#[case::rotated_270_is_portrait("h264_1280x720_rotate_tag270.mp4", Verdict::Ok, &[])]
#[case::rotated_180_stays_landscape("h264_1280x720_rotate_tag180.mp4", Verdict::Ok, &[])]
#[case::quicktime_24fps("h264_720x1280_24fps.mov", Verdict::Ok, &[])]
#[case::fragmented("h264_720x1280_fragmented.mp4", Verdict::Ok, &[])]
#[case::fragmented_with_sidx("h264_720x1280_fragmented_sidx.mp4", Verdict::Ok, &[])]
#[case::sixty_fps("h264_720x1280_60fps.mp4", Verdict::Ok, &[])]
#[case::hevc_hvc1("hevc_hvc1_720x1280.mp4", Verdict::Ok, &[])]
#[case::hevc_hev1("hevc_hev1_720x1280.mp4", Verdict::Ok, &[])]
#[case::vp9_webm("vp9_720x1280.webm", Verdict::Ok, &[])]
#[case::vp8_webm("vp8_720x1280.webm", Verdict::Ok, &[])]
#[case::vp9_mp4("vp9_720x1280.mp4", Verdict::Ok, &[])]
#[case::variable_frame_rate_under_23_on_average("h264_720x1280_vfr.mp4", Verdict::Rejected, &["frame_rate_out_of_range"])]
#[case::below_720p_warns("h264_480x854_below_720p.mp4", Verdict::Warning, &["resolution_below_720p"])]
#[case::under_360_px("h264_320x240_too_small.mp4", Verdict::Rejected, &["resolution_too_small"])]
#[case::fifteen_fps("h264_720x1280_15fps.mp4", Verdict::Rejected, &["frame_rate_out_of_range"])]
#[case::hundred_twenty_fps("h264_480x854_120fps.mp4", Verdict::Rejected, &["frame_rate_out_of_range", "resolution_below_720p"])]
#[case::one_second("h264_720x1280_1s_too_short.mp4", Verdict::Rejected, &["duration_too_short"])]
#[case::mpeg4_part2("mpeg4_part2_720x1280.mp4", Verdict::Rejected, &["video_codec_unsupported"])]
#[case::av1("av1_480x854.mp4", Verdict::Rejected, &["video_codec_unsupported", "resolution_below_720p"])]
#[case::matroska_container("h264_720x1280.mkv", Verdict::Rejected, &["container_unsupported"])]
#[case::gif("gif_480x270.gif", Verdict::Rejected, &["container_unsupported"])]
#[case::avi("avi_480x270.avi", Verdict::Rejected, &["container_unsupported"])]
#[case::empty("empty.mp4", Verdict::Rejected, &["file_damaged"])]
#[case::random_bytes("random_bytes.mp4", Verdict::Rejected, &["file_damaged"])]
#[case::truncated_moov_at_end("truncated_moov_end.mp4", Verdict::Rejected, &["file_damaged"])]
#[case::truncated_faststart("truncated_faststart.mp4", Verdict::Rejected, &["file_damaged"])]
#[case::truncated_webm_header("truncated_header.webm", Verdict::Rejected, &["file_damaged"])]
#[case::jpeg_1080x1920("photo_1080x1920_baseline.jpg", Verdict::Ok, &[])]
#[case::webp_lossy("photo_1080x1350_lossy.webp", Verdict::Ok, &[])]
#[case::webp_lossless("photo_1080x1080_lossless.webp", Verdict::Ok, &[])]
#[case::png_photo("photo_1080x1080.png", Verdict::Rejected, &["photo_format_unsupported"])]
#[case::photo_over_1080p("photo_3000x2000_over_1080p.jpg", Verdict::Rejected, &["photo_resolution_over_1080p"])]
#[case::exif_rotated_photo_fits_portrait("photo_1920x1080_exif_orientation6.jpg", Verdict::Ok, &[])]
fn corpus_file_gets_its_verdict(
    #[case] name: &str,
    #[case] verdict: Verdict,
    #[case] codes: &[&str],
) {
    let result = preflight_file(&corpus().join(name), &Limits::default());
    let found: Vec<&str> = result
        .problems
        .iter()
        .map(|problem| problem.code.as_str())
        .collect();
    assert_eq!(found, codes, "{name}: {}", result.render_human());
    assert_eq!(result.verdict, verdict, "{name}: {}", result.render_human());
}

#[test]
fn rotation_swaps_the_displayed_sides() {
    for (name, displayed) in [
        ("h264_1280x720_rotate_tag90.mp4", (720, 1280)),
        ("h264_1280x720_rotate_tag180.mp4", (1280, 720)),
        ("h264_1280x720_rotate_tag270.mp4", (720, 1280)),
    ] {
        let video = probe_path(&corpus().join(name)).unwrap().video.unwrap();
        assert_eq!(
            (video.coded_width, video.coded_height),
            (1280, 720),
            "{name}"
        );
        assert_eq!(
            (video.display_width(), video.display_height()),
            displayed,
            "{name}"
        );
    }
}

#[test]
fn variable_frame_rate_is_flagged_and_constant_is_not() {
    let vfr = probe_path(&corpus().join("h264_720x1280_vfr.mp4"))
        .unwrap()
        .video
        .unwrap();
    assert!(vfr.variable_frame_rate);
    let cfr = probe_path(&corpus().join("h264_720x1280_30fps_faststart.mp4"))
        .unwrap()
        .video
        .unwrap();
    assert!(!cfr.variable_frame_rate);
}

#[test]
fn fragmented_file_counts_frames_from_its_fragments() {
    let facts = probe_path(&corpus().join("h264_720x1280_fragmented.mp4")).unwrap();
    let video = facts.video.unwrap();
    assert_eq!(video.frame_count, Some(96));
    assert!((facts.duration_s.unwrap() - 3.2).abs() < 0.01);
}

#[test]
fn truncated_files_name_the_damage() {
    let moov_end = probe_path(&corpus().join("truncated_moov_end.mp4")).unwrap_err();
    assert!(
        matches!(moov_end, ProbeError::Truncated { .. }),
        "{moov_end}"
    );
    let empty = probe_path(&corpus().join("empty.mp4")).unwrap_err();
    assert!(matches!(empty, ProbeError::Empty), "{empty}");
    let random = probe_path(&corpus().join("random_bytes.mp4")).unwrap_err();
    assert!(
        matches!(random, ProbeError::UnrecognisedFormat { .. }),
        "{random}"
    );
}

#[test]
fn exif_orientation_swaps_the_photo_sides() {
    let facts = probe_path(&corpus().join("photo_1920x1080_exif_orientation6.jpg")).unwrap();
    let image = facts.image.unwrap();
    assert_eq!((image.pixel_width, image.pixel_height), (1920, 1080));
    assert_eq!(image.exif_orientation, Some(6));
    assert_eq!(
        (image.display_width(), image.display_height()),
        (1080, 1920)
    );
}
