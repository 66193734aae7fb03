//! The planner's rules, case by case, on facts built by hand.

use media::probe::{Container, ImageFacts, MediaFacts, VideoCodec, VideoFacts};
use media::{Limits, Problem, ProblemCode};

use super::*;
use crate::options::{FixOptions, PhotoFormat};

fn video(codec: VideoCodec, width: u32, height: u32, fps: f64) -> VideoFacts {
    VideoFacts {
        codec,
        coded_width: width,
        coded_height: height,
        rotation_degrees: 0,
        fps: Some(fps),
        variable_frame_rate: false,
        frame_count: None,
    }
}

fn facts(
    container: Container,
    video: Option<VideoFacts>,
    audio: Option<&str>,
    duration_s: f64,
) -> MediaFacts {
    MediaFacts {
        container,
        size_bytes: 1_000_000,
        duration_s: Some(duration_s),
        video,
        audio_codec: audio.map(str::to_owned),
        image: None,
    }
}

fn photo(container: Container, width: u32, height: u32, size_bytes: u64) -> MediaFacts {
    MediaFacts {
        container,
        size_bytes,
        duration_s: None,
        video: None,
        audio_codec: None,
        image: Some(ImageFacts {
            pixel_width: width,
            pixel_height: height,
            exif_orientation: None,
            jpeg_kind: None,
            webp_kind: None,
        }),
    }
}

/// The decision for `facts` as the rules judge them under `options`.
fn decide(facts: &MediaFacts, options: &FixOptions) -> Decision {
    let findings = media::rules::check_facts(facts, &options.limits);
    plan(&Source::probed(Some(facts), &findings), options)
}

fn fix(decision: Decision) -> Plan {
    match decision {
        Decision::Fix(plan) => plan,
        other => panic!("expected a plan, got {other:#?}"),
    }
}

fn unfixable(decision: Decision) -> Vec<Reason> {
    match decision {
        Decision::Unfixable(Unfixable { reasons }) => reasons,
        other => panic!("expected unfixable, got {other:#?}"),
    }
}

fn video_plan(plan: &Plan) -> &VideoPlan {
    match &plan.work {
        Work::Video(video) => video,
        Work::Photo(_) => panic!("expected a video plan"),
    }
}

fn photo_plan(plan: &Plan) -> &PhotoPlan {
    match &plan.work {
        Work::Photo(photo) => photo,
        Work::Video(_) => panic!("expected a photo plan"),
    }
}

fn lines(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|change| {
            let text = change.to_string();
            text.split(" — ").next().unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn an_acceptable_file_needs_nothing_and_keeps_its_warnings() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::H264, 480, 854, 30.0)),
        Some("aac"),
        5.0,
    );
    match decide(&facts, &FixOptions::default()) {
        Decision::Acceptable { warnings } => {
            assert_eq!(warnings.len(), 1);
            assert_eq!(warnings[0].code, ProblemCode::ResolutionBelow720p);
        }
        other => panic!("expected acceptable, got {other:?}"),
    }
}

#[test]
fn a_matroska_h264_file_is_remuxed_with_every_stream_copied() {
    let facts = facts(
        Container::Matroska,
        Some(video(VideoCodec::H264, 1080, 1920, 30.0)),
        Some("aac"),
        5.0,
    );
    let plan = fix(decide(&facts, &FixOptions::default()));
    assert_eq!(
        video_plan(&plan),
        &VideoPlan {
            video: VideoStream::Copy,
            audio: AudioStream::Copy,
            cut_at_s: None
        }
    );
    assert_eq!(
        lines(&plan),
        [
            "container matroska → mp4 (remux, streams copied)",
            "video h264 kept (stream copied)",
            "size 1080x1920 kept (not scaled)",
            "frame rate 30.00 fps kept (every frame kept)",
            "audio aac kept (stream copied)",
        ]
    );
    assert_eq!(
        plan.changes[0].answers,
        Some(ProblemCode::ContainerUnsupported)
    );
    assert_eq!(plan.output_format(), OutputFormat::Mp4);
}

#[test]
fn an_av1_webm_is_re_encoded_to_h264_and_its_opus_to_aac() {
    let facts = facts(
        Container::Webm,
        Some(video(VideoCodec::Av1, 720, 1280, 30.0)),
        Some("opus"),
        5.0,
    );
    let plan = fix(decide(&facts, &FixOptions::default()));
    assert_eq!(
        video_plan(&plan).video,
        VideoStream::H264 {
            scale_to: None,
            frame_rate: None,
            lowers_frame_rate: false
        }
    );
    assert_eq!(video_plan(&plan).audio, AudioStream::Aac);
    let video_change = &plan.changes[1];
    assert_eq!(video_change.aspect, Aspect::Video);
    assert_eq!(video_change.to.as_deref(), Some("h264"));
    assert_eq!(
        video_change.answers,
        Some(ProblemCode::VideoCodecUnsupported)
    );
    // WebM is accepted: the container change follows from H.264, it answers no finding.
    assert_eq!(plan.changes[0].answers, None);
}

#[test]
fn mpeg4_part2_in_mp4_re_encodes_only_the_video_and_copies_valid_audio() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::Mpeg4, 720, 1280, 30.0)),
        Some("aac"),
        5.0,
    );
    let plan = fix(decide(&facts, &FixOptions::default()));
    assert!(matches!(video_plan(&plan).video, VideoStream::H264 { .. }));
    assert_eq!(video_plan(&plan).audio, AudioStream::Copy);
    assert_eq!(plan.changes[0].to, None, "the MP4 container is kept");
}

#[test]
fn valid_hevc_and_vp9_are_copied_out_of_matroska() {
    for codec in [VideoCodec::Hevc, VideoCodec::Vp9] {
        let facts = facts(
            Container::Matroska,
            Some(video(codec, 720, 1280, 30.0)),
            None,
            5.0,
        );
        let plan = fix(decide(&facts, &FixOptions::default()));
        assert_eq!(video_plan(&plan).video, VideoStream::Copy);
        assert_eq!(video_plan(&plan).audio, AudioStream::None);
    }
}

#[test]
fn vp8_is_re_encoded_because_mp4_cannot_carry_it() {
    let options = FixOptions {
        trim: true,
        limits: Limits {
            creator_max_video_duration_s: Some(10),
        },
        ..FixOptions::default()
    };
    let facts = facts(
        Container::Webm,
        Some(video(VideoCodec::Vp8, 720, 1280, 30.0)),
        Some("vorbis"),
        12.0,
    );
    let plan = fix(decide(&facts, &options));
    assert!(matches!(video_plan(&plan).video, VideoStream::H264 { .. }));
    assert_eq!(video_plan(&plan).audio, AudioStream::Aac);
}

#[test]
fn frame_rates_go_to_the_nearest_regular_standard_rate() {
    let cases: [(f64, bool, FrameRate); 12] = [
        (15.0, false, FrameRate { num: 30, den: 1 }),
        (12.0, false, FrameRate { num: 24, den: 1 }),
        (10.0, false, FrameRate { num: 30, den: 1 }),
        (12.5, false, FrameRate { num: 25, den: 1 }),
        (20.0, false, FrameRate { num: 60, den: 1 }),
        (7.0, false, FrameRate { num: 30, den: 1 }),
        (15.0, true, FrameRate { num: 30, den: 1 }),
        (120.0, false, FrameRate { num: 60, den: 1 }),
        (100.0, false, FrameRate { num: 50, den: 1 }),
        (144.0, false, FrameRate { num: 48, den: 1 }),
        (90.0, false, FrameRate { num: 60, den: 1 }),
        (
            119.88,
            false,
            FrameRate {
                num: 60000,
                den: 1001,
            },
        ),
    ];
    for (fps, variable, expected) in cases {
        assert_eq!(
            target_frame_rate(Some(fps), variable),
            expected,
            "{fps} fps (variable: {variable})"
        );
    }
    assert_eq!(
        target_frame_rate(Some(15000.0 / 1001.0), false),
        FrameRate {
            num: 30000,
            den: 1001
        }
    );
    assert_eq!(
        target_frame_rate(None, false),
        FrameRate { num: 30, den: 1 }
    );
}

#[test]
fn a_15_fps_video_is_re_encoded_at_30_with_its_audio_copied() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::H264, 720, 1280, 15.0)),
        Some("aac"),
        5.0,
    );
    let plan = fix(decide(&facts, &FixOptions::default()));
    assert_eq!(
        video_plan(&plan).video,
        VideoStream::H264 {
            scale_to: None,
            frame_rate: Some(FrameRate { num: 30, den: 1 }),
            lowers_frame_rate: false
        }
    );
    assert_eq!(video_plan(&plan).audio, AudioStream::Copy);
    assert!(lines(&plan).contains(
        &"frame rate 15.00 fps → 30 fps (each frame shown 2 times, timing kept)".to_owned()
    ));
}

#[test]
fn a_120_fps_video_drops_every_other_frame_before_scaling() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::H264, 720, 1280, 120.0)),
        None,
        5.0,
    );
    let plan = fix(decide(&facts, &FixOptions::default()));
    assert_eq!(
        video_plan(&plan).video,
        VideoStream::H264 {
            scale_to: None,
            frame_rate: Some(FrameRate { num: 60, den: 1 }),
            lowers_frame_rate: true
        }
    );
    assert!(
        lines(&plan)
            .contains(&"frame rate 120.00 fps → 60 fps (one frame of every 2 kept)".to_owned())
    );
}

#[test]
fn too_long_sides_are_scaled_down_to_4096_keeping_the_aspect_on_even_sides() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::H264, 4200, 480, 30.0)),
        None,
        5.0,
    );
    let plan = fix(decide(&facts, &FixOptions::default()));
    match &video_plan(&plan).video {
        VideoStream::H264 {
            scale_to: Some(size),
            ..
        } => assert_eq!(*size, Size::new(4096, 468)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_too_small_video_is_unfixable_unless_upscaling_is_allowed() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::H264, 320, 240, 30.0)),
        None,
        5.0,
    );
    let reasons = unfixable(decide(&facts, &FixOptions::default()));
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].code, ProblemCode::ResolutionTooSmall);
    assert!(
        reasons[0].remedy == Some(Remedy::AllowUpscale),
        "{}",
        reasons[0].message
    );
    assert!(
        reasons[0].message.contains("480x360"),
        "{}",
        reasons[0].message
    );
    assert_eq!(reasons[0].measured.as_deref(), Some("320x240 px"));

    let plan = fix(decide(
        &facts,
        &FixOptions {
            upscale: true,
            ..FixOptions::default()
        },
    ));
    match &video_plan(&plan).video {
        VideoStream::H264 {
            scale_to: Some(size),
            ..
        } => assert_eq!(*size, Size::new(480, 360)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_strip_no_scale_can_fit_is_unfixable_even_with_upscaling() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::H264, 8000, 400, 30.0)),
        None,
        5.0,
    );
    let reasons = unfixable(decide(
        &facts,
        &FixOptions {
            upscale: true,
            ..FixOptions::default()
        },
    ));
    assert!(
        reasons[0].message.contains("cropping"),
        "{}",
        reasons[0].message
    );
}

#[test]
fn a_two_second_clip_has_no_honest_fix() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::H264, 720, 1280, 30.0)),
        None,
        2.0,
    );
    let reasons = unfixable(decide(&facts, &FixOptions::default()));
    assert_eq!(reasons[0].code, ProblemCode::DurationTooShort);
    assert!(
        reasons[0].message.contains("2.00 s"),
        "{}",
        reasons[0].message
    );
    assert!(
        reasons[0].message.contains("minimum of 3 s"),
        "{}",
        reasons[0].message
    );
}

#[test]
fn every_reason_is_given_not_only_the_first() {
    let facts = facts(
        Container::Matroska,
        Some(video(VideoCodec::Av1, 320, 240, 15.0)),
        None,
        2.0,
    );
    let reasons = unfixable(decide(&facts, &FixOptions::default()));
    let codes: Vec<ProblemCode> = reasons.iter().map(|reason| reason.code).collect();
    assert_eq!(
        codes,
        [
            ProblemCode::DurationTooShort,
            ProblemCode::ResolutionTooSmall
        ]
    );
}

#[test]
fn an_over_long_video_is_cut_only_when_trimming_is_allowed() {
    let limits = Limits {
        creator_max_video_duration_s: Some(180),
    };
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::H264, 720, 1280, 30.0)),
        Some("aac"),
        610.0,
    );
    let reasons = unfixable(decide(
        &facts,
        &FixOptions {
            limits,
            ..FixOptions::default()
        },
    ));
    assert_eq!(reasons[0].code, ProblemCode::DurationOverCreatorMax);
    assert!(
        reasons[0].remedy == Some(Remedy::AllowTrim),
        "{}",
        reasons[0].message
    );

    let plan = fix(decide(
        &facts,
        &FixOptions {
            limits,
            trim: true,
            ..FixOptions::default()
        },
    ));
    assert_eq!(
        video_plan(&plan),
        &VideoPlan {
            video: VideoStream::Copy,
            audio: AudioStream::Copy,
            cut_at_s: Some(179.9)
        }
    );
    assert_eq!(plan.expected_duration_s, Some(179.9));
    assert!(lines(&plan).iter().any(|line| {
        line.starts_with("duration 610.00 s → 179.9 s (cut at the creator's maximum of 180 s")
    }));
}

#[test]
fn a_rotated_video_keeps_its_rotation_and_changes_speak_of_displayed_sides() {
    let mut rotated = video(VideoCodec::H264, 1280, 720, 15.0);
    rotated.rotation_degrees = 90;
    let facts = facts(Container::Mp4, Some(rotated), None, 5.0);
    let plan = fix(decide(&facts, &FixOptions::default()));
    assert!(
        lines(&plan)
            .contains(&"rotation 90° kept (encoded as coded, display matrix copied)".to_owned())
    );
    assert!(lines(&plan).contains(&"size 720x1280 kept (not scaled)".to_owned()));
}

#[test]
fn odd_sides_are_made_even_when_the_video_is_re_encoded() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::Av1, 721, 1281, 30.0)),
        None,
        5.0,
    );
    let plan = fix(decide(&facts, &FixOptions::default()));
    match &video_plan(&plan).video {
        VideoStream::H264 {
            scale_to: Some(size),
            ..
        } => assert_eq!(*size, Size::new(720, 1280)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn audio_only_files_are_unfixable_whatever_their_container() {
    let m4a = facts(Container::Mp4, None, Some("aac"), 5.0);
    let reasons = unfixable(decide(&m4a, &FixOptions::default()));
    assert_eq!(reasons[0].code, ProblemCode::NoVideoTrack);
    assert!(
        reasons[0].message.contains("aac audio and no video"),
        "{}",
        reasons[0].message
    );
    let wav = MediaFacts {
        duration_s: None,
        ..facts(Container::Wav, None, None, 0.0)
    };
    let reasons = unfixable(decide(&wav, &FixOptions::default()));
    assert_eq!(reasons[0].code, ProblemCode::NoVideoTrack);
    assert!(
        reasons[0].message.contains("WAV file is audio only"),
        "{}",
        reasons[0].message
    );
}

#[test]
fn a_damaged_file_is_unfixable_with_its_damage_named() {
    let error = media::ProbeError::Empty;
    let findings = vec![media::rules::damaged(&error)];
    let reasons = unfixable(plan(
        &Source::probed(None, &findings),
        &FixOptions::default(),
    ));
    assert_eq!(reasons[0].code, ProblemCode::FileDamaged);
    assert!(
        reasons[0].message.contains("the file is empty"),
        "{}",
        reasons[0].message
    );
    assert_eq!(reasons[0].measured.as_deref(), Some("0 bytes"));
}

#[test]
fn an_avi_is_inspected_first_and_its_copy_planned_naming_the_avi() {
    let avi = MediaFacts {
        duration_s: None,
        ..facts(Container::Avi, None, None, 0.0)
    };
    assert_eq!(
        decide(&avi, &FixOptions::default()),
        Decision::Inspect(Inspection {
            container: Container::Avi,
            kind: InspectKind::Video
        })
    );
    let copy = facts(
        Container::Matroska,
        Some(video(VideoCodec::Mpeg4, 480, 360, 30.0)),
        Some("mp3"),
        3.2,
    );
    let findings = media::rules::check_facts(&copy, &Limits::default());
    let source = Source {
        facts: Some(&copy),
        findings: &findings,
        unwrapped_from: Some(Container::Avi),
    };
    let plan = fix(plan(&source, &FixOptions::default()));
    assert_eq!(plan.changes[0].from, "avi");
    assert_eq!(
        plan.changes[0].why.as_deref(),
        Some("AVI files are not accepted by TikTok")
    );
    assert_eq!(video_plan(&plan).audio, AudioStream::Copy);
}

#[test]
fn a_png_becomes_a_jpeg_or_a_webp_when_asked() {
    let png = photo(Container::Png, 1080, 1080, 2_000_000);
    let plan = fix(decide(&png, &FixOptions::default()));
    assert_eq!(photo_plan(&plan).format, PhotoFormat::Jpeg);
    assert_eq!(photo_plan(&plan).scale_to, None);
    assert_eq!(lines(&plan)[0], "format png → jpeg (re-encoded at q:v 2)");
    assert_eq!(plan.output_format(), OutputFormat::Jpeg);
    let plan = fix(decide(
        &png,
        &FixOptions {
            photo_format: Some(PhotoFormat::Webp),
            ..FixOptions::default()
        },
    ));
    assert_eq!(photo_plan(&plan).format, PhotoFormat::Webp);
    assert_eq!(plan.output_format(), OutputFormat::Webp);
}

#[test]
fn a_large_jpeg_is_scaled_to_fit_1080p_and_stays_a_jpeg() {
    let jpeg = photo(Container::Jpeg, 4000, 6000, 5_000_000);
    let plan = fix(decide(&jpeg, &FixOptions::default()));
    assert_eq!(photo_plan(&plan).format, PhotoFormat::Jpeg);
    assert_eq!(photo_plan(&plan).scale_to, Some(Size::new(1080, 1620)));
    assert_eq!(
        lines(&plan)[1],
        "size 4000x6000 → 1080x1620 (scaled down to fit 1080x1920, aspect kept)"
    );
}

#[test]
fn an_exif_rotated_photo_is_turned_in_its_pixels_and_fitted_by_its_displayed_sides() {
    let mut jpeg = photo(Container::Jpeg, 3840, 2160, 5_000_000);
    if let Some(image) = jpeg.image.as_mut() {
        image.exif_orientation = Some(6);
    }
    let plan = fix(decide(&jpeg, &FixOptions::default()));
    assert_eq!(photo_plan(&plan).orientation, Orientation::Rotate90);
    assert_eq!(photo_plan(&plan).scale_to, Some(Size::new(1080, 1920)));
}

#[test]
fn a_photo_over_the_size_limit_steps_down_the_quality_ladder_to_its_end() {
    let jpeg = photo(Container::Jpeg, 1080, 1920, 25_000_000);
    let mut plan = fix(decide(&jpeg, &FixOptions::default()));
    let mut values = vec![photo_plan(&plan).quality.value(PhotoFormat::Jpeg)];
    while let Some(lower) = plan.with_lower_quality() {
        plan = lower;
        values.push(photo_plan(&plan).quality.value(PhotoFormat::Jpeg));
    }
    assert_eq!(values, [2, 4, 6, 9, 12]);
    let quality_changes = plan
        .changes
        .iter()
        .filter(|change| change.aspect == Aspect::Quality)
        .count();
    assert_eq!(quality_changes, 1, "one quality line, the last step");
}

#[test]
fn a_video_plan_has_no_lower_quality() {
    let facts = facts(
        Container::Matroska,
        Some(video(VideoCodec::H264, 720, 1280, 30.0)),
        None,
        5.0,
    );
    assert!(
        fix(decide(&facts, &FixOptions::default()))
            .with_lower_quality()
            .is_none()
    );
}

#[test]
fn a_finding_the_planner_does_not_handle_is_a_reason() {
    let facts = facts(
        Container::Mp4,
        Some(video(VideoCodec::H264, 720, 1280, 30.0)),
        None,
        5.0,
    );
    let findings = vec![Problem::error(
        ProblemCode::CaptionTooLong,
        "the caption is too long",
        "Shorten it.",
    )];
    let reasons = unfixable(plan(
        &Source::probed(Some(&facts), &findings),
        &FixOptions::default(),
    ));
    assert_eq!(reasons[0].code, ProblemCode::CaptionTooLong);
    assert!(reasons[0].message.contains("does not change this"));
}

mod properties {
    use media::rules::photo::{MAX_LONG_SIDE_PX, MAX_SHORT_SIDE_PX};
    use media::rules::video::{MAX_FPS, MAX_SIDE_PX, MIN_FPS, MIN_SIDE_PX};
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        #[test]
        fn any_frame_rate_out_of_range_is_brought_into_it(
            fps in prop_oneof![0.01f64..MIN_FPS, (MAX_FPS + 0.02)..2000.0],
            variable: bool,
        ) {
            let target = target_frame_rate(Some(fps), variable).fps();
            prop_assert!((MIN_FPS..=MAX_FPS).contains(&target), "{fps} → {target}");
        }

        #[test]
        fn scaled_video_sides_are_even_in_range_and_keep_the_aspect(
            width in 1u32..20_000,
            height in 1u32..20_000,
            upscale: bool,
        ) {
            match fit_video_sides(Size::new(width, height), upscale) {
                Ok(Some(size)) => {
                    for side in [size.width, size.height] {
                        prop_assert!((MIN_SIDE_PX..=MAX_SIDE_PX).contains(&side), "{width}x{height} → {size}");
                        prop_assert_eq!(side % 2, 0);
                    }
                    let before = f64::from(width) / f64::from(height);
                    let after = f64::from(size.width) / f64::from(size.height);
                    // Rounding to even sides moves the aspect by at most one pixel on the short side.
                    let tolerance = 2.0 / f64::from(size.short());
                    prop_assert!((before / after - 1.0).abs() <= tolerance, "{width}x{height} → {size}");
                    prop_assert!(upscale || size.long() < width.max(height));
                }
                Ok(None) => {
                    prop_assert!(width.min(height) >= MIN_SIDE_PX && width.max(height) <= MAX_SIDE_PX);
                }
                Err(_) => prop_assert!(width.min(height) < MIN_SIDE_PX || width.max(height) > MAX_SIDE_PX),
            }
        }

        #[test]
        fn a_fitted_photo_is_within_1080p_and_never_scaled_up(width in 1u32..30_000, height in 1u32..30_000) {
            let original = Size::new(width, height);
            match fit_photo(original) {
                Some(size) => {
                    prop_assert!(size.short() <= MAX_SHORT_SIDE_PX && size.long() <= MAX_LONG_SIDE_PX, "{original} → {size}");
                    prop_assert!(size.width <= width && size.height <= height);
                    prop_assert!(size.short() == MAX_SHORT_SIDE_PX || size.long() == MAX_LONG_SIDE_PX || size.short() == 1);
                }
                None => prop_assert!(original.short() <= MAX_SHORT_SIDE_PX && original.long() <= MAX_LONG_SIDE_PX),
            }
        }
    }
}
