#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! TikTok's rules as tables: facts in, finding codes out.

use jiff::{SignedDuration, Timestamp};
use media::caption::{CaptionField, check_caption, count_display, hashtags, utf16_len};
use media::duplicates::{CaptionFingerprint, DuplicateWindows, PostFingerprint, find_duplicates};
use media::probe::{Container, ImageFacts, MediaFacts, VideoCodec, VideoFacts};
use media::rules::{Limits, check_facts, photo};
use media::{ContentHash, Severity, Verdict, hash_reader};
use proptest::prelude::*;
use rstest::rstest;

fn video(codec: VideoCodec, width: u32, height: u32, fps: f64, duration_s: f64) -> MediaFacts {
    MediaFacts {
        container: Container::Mp4,
        size_bytes: 10_000_000,
        duration_s: Some(duration_s),
        video: Some(VideoFacts {
            codec,
            coded_width: width,
            coded_height: height,
            rotation_degrees: 0,
            fps: Some(fps),
            variable_frame_rate: false,
            frame_count: None,
        }),
        audio_codec: Some("aac".to_owned()),
        image: None,
    }
}

fn codes(problems: &[media::Problem]) -> Vec<&'static str> {
    problems
        .iter()
        .map(|problem| problem.code.as_str())
        .collect()
}

#[rstest]
#[case::portrait_1080p(VideoCodec::H264, 1080, 1920, 30.0, 15.0, &[])]
#[case::ntsc_29_97(VideoCodec::H264, 1080, 1920, 30000.0 / 1001.0, 15.0, &[])]
#[case::film_23_976_is_23(VideoCodec::H264, 1080, 1920, 24000.0 / 1001.0, 15.0, &[])]
#[case::exactly_23(VideoCodec::Hevc, 1080, 1920, 23.0, 15.0, &[])]
#[case::exactly_60(VideoCodec::Vp9, 1080, 1920, 60.0, 15.0, &[])]
#[case::just_under_23(VideoCodec::H264, 1080, 1920, 22.9, 15.0, &["frame_rate_out_of_range"])]
#[case::just_over_60(VideoCodec::H264, 1080, 1920, 60.1, 15.0, &["frame_rate_out_of_range"])]
#[case::vp8(VideoCodec::Vp8, 720, 1280, 30.0, 15.0, &[])]
#[case::av1(VideoCodec::Av1, 1080, 1920, 30.0, 15.0, &["video_codec_unsupported"])]
#[case::prores(VideoCodec::Other("apcn".to_owned()), 1080, 1920, 30.0, 15.0, &["video_codec_unsupported"])]
#[case::side_359(VideoCodec::H264, 359, 640, 30.0, 15.0, &["resolution_too_small"])]
#[case::side_360_warns(VideoCodec::H264, 360, 640, 30.0, 15.0, &["resolution_below_720p"])]
#[case::side_4096(VideoCodec::H264, 2160, 4096, 30.0, 15.0, &[])]
#[case::side_4097(VideoCodec::H264, 2160, 4097, 30.0, 15.0, &["resolution_too_large"])]
#[case::duration_3s(VideoCodec::H264, 1080, 1920, 30.0, 3.0, &[])]
#[case::duration_2_9s(VideoCodec::H264, 1080, 1920, 30.0, 2.9, &["duration_too_short"])]
#[case::duration_600s(VideoCodec::H264, 1080, 1920, 30.0, 600.0, &[])]
#[case::duration_601s(VideoCodec::H264, 1080, 1920, 30.0, 601.0, &["duration_over_creator_max"])]
fn video_rules_match_tiktoks_limits(
    #[case] codec: VideoCodec,
    #[case] width: u32,
    #[case] height: u32,
    #[case] fps: f64,
    #[case] duration_s: f64,
    #[case] expected: &[&str],
) {
    let problems = check_facts(
        &video(codec, width, height, fps, duration_s),
        &Limits::default(),
    );
    assert_eq!(codes(&problems), expected);
}

#[test]
fn creator_maximum_replaces_the_api_default_and_the_fix_names_it() {
    let limits = Limits {
        creator_max_video_duration_s: Some(180),
    };
    let problems = check_facts(&video(VideoCodec::H264, 1080, 1920, 30.0, 200.0), &limits);
    assert_eq!(codes(&problems), ["duration_over_creator_max"]);
    let problem = &problems[0];
    assert_eq!(problem.limit.as_deref(), Some("at most 180 s"));
    assert_eq!(problem.measured.as_deref(), Some("200.00 s"));
    assert!(problem.fix.contains("Trim to 180 s"), "{}", problem.fix);
    assert_eq!(problem.tiktok_error, Some("duration_check_failed"));
}

#[test]
fn frame_rate_fix_names_the_target_rate() {
    let problems = check_facts(
        &video(VideoCodec::H264, 1080, 1920, 15.0, 10.0),
        &Limits::default(),
    );
    assert!(
        problems[0].fix.contains("Re-encode at 30 fps"),
        "{}",
        problems[0].fix
    );
    assert_eq!(problems[0].tiktok_error, Some("frame_rate_check_failed"));
}

#[test]
fn video_over_4_gb_is_rejected() {
    let mut facts = video(VideoCodec::H264, 1080, 1920, 30.0, 60.0);
    facts.size_bytes = 4_000_000_001;
    assert_eq!(
        codes(&check_facts(&facts, &Limits::default())),
        ["file_too_large"]
    );
}

#[test]
fn rotated_landscape_is_judged_as_displayed() {
    let mut facts = video(VideoCodec::H264, 1920, 300, 30.0, 10.0);
    assert_eq!(
        codes(&check_facts(&facts, &Limits::default())),
        ["resolution_too_small"]
    );
    if let Some(video) = facts.video.as_mut() {
        video.rotation_degrees = 90;
    }
    let verdict_facts = facts.video.as_ref().unwrap();
    assert_eq!(
        (
            verdict_facts.display_width(),
            verdict_facts.display_height()
        ),
        (300, 1920)
    );
}

#[test]
fn audio_only_mp4_has_no_video_track() {
    let mut facts = video(VideoCodec::H264, 1080, 1920, 30.0, 10.0);
    facts.video = None;
    assert_eq!(
        codes(&check_facts(&facts, &Limits::default())),
        ["no_video_track"]
    );
}

fn photo_facts(
    container: Container,
    width: u32,
    height: u32,
    orientation: Option<u8>,
    size_bytes: u64,
) -> MediaFacts {
    MediaFacts {
        container,
        size_bytes,
        duration_s: None,
        video: None,
        audio_codec: None,
        image: Some(ImageFacts {
            pixel_width: width,
            pixel_height: height,
            exif_orientation: orientation,
            jpeg_kind: None,
            webp_kind: None,
        }),
    }
}

#[rstest]
#[case::jpeg_portrait(Container::Jpeg, 1080, 1920, None, 2_000_000, &[])]
#[case::webp_landscape(Container::Webp, 1920, 1080, None, 2_000_000, &[])]
#[case::exif_rotated_landscape(Container::Jpeg, 1920, 1080, Some(6), 2_000_000, &[])]
#[case::over_1080_short_side(Container::Jpeg, 1440, 1920, None, 2_000_000, &["photo_resolution_over_1080p"])]
#[case::over_1920_long_side(Container::Jpeg, 1080, 2400, None, 2_000_000, &["photo_resolution_over_1080p"])]
#[case::png(Container::Png, 1080, 1080, None, 2_000_000, &["photo_format_unsupported"])]
#[case::heif(Container::Heif, 1080, 1080, None, 2_000_000, &["photo_format_unsupported"])]
#[case::over_20_mb(Container::Jpeg, 1080, 1920, None, 20_000_001, &["photo_too_large"])]
fn photo_rules_match_tiktoks_limits(
    #[case] container: Container,
    #[case] width: u32,
    #[case] height: u32,
    #[case] orientation: Option<u8>,
    #[case] size_bytes: u64,
    #[case] expected: &[&str],
) {
    let problems = check_facts(
        &photo_facts(container, width, height, orientation, size_bytes),
        &Limits::default(),
    );
    assert_eq!(codes(&problems), expected);
}

#[rstest]
#[case::one_photo(1, 0, &[])]
#[case::thirty_five(35, 34, &[])]
#[case::none(0, 0, &["photo_count_out_of_range"])]
#[case::thirty_six(36, 0, &["photo_count_out_of_range"])]
#[case::cover_past_the_end(3, 3, &["photo_cover_index_invalid"])]
fn photo_posts_take_1_to_35_photos_and_a_cover_among_them(
    #[case] count: usize,
    #[case] cover: usize,
    #[case] expected: &[&str],
) {
    assert_eq!(codes(&photo::check_post(count, cover)), expected);
}

#[rstest]
#[case::ascii("hello", 5)]
#[case::bmp_accent("café", 4)]
#[case::astral_emoji_counts_two("🎉", 2)]
#[case::family_emoji_zwj("👨‍👩‍👧", 8)]
#[case::cjk("東京", 2)]
fn captions_are_counted_in_utf16_units(#[case] text: &str, #[case] units: usize) {
    assert_eq!(utf16_len(text), units);
}

#[rstest]
#[case::video_title_at_limit(CaptionField::VideoTitle, 2200, false)]
#[case::video_title_over(CaptionField::VideoTitle, 2201, true)]
#[case::photo_title_at_limit(CaptionField::PhotoTitle, 90, false)]
#[case::photo_title_over(CaptionField::PhotoTitle, 91, true)]
#[case::photo_description_at_limit(CaptionField::PhotoDescription, 4000, false)]
#[case::photo_description_over(CaptionField::PhotoDescription, 4001, true)]
fn caption_limits_are_per_field(
    #[case] field: CaptionField,
    #[case] units: usize,
    #[case] too_long: bool,
) {
    // Alternating words keep the spam heuristics quiet: only the length is under test.
    let text: String = "ab cd ".chars().cycle().take(units).collect();
    let problems = check_caption(&text, field);
    assert_eq!(
        problems
            .iter()
            .any(|problem| problem.code.as_str() == "caption_too_long"),
        too_long,
        "{problems:?}"
    );
}

#[test]
fn emoji_push_a_caption_over_the_limit_the_way_tiktok_counts() {
    let text = format!("{}{}", "a".repeat(2199), "🎉");
    assert_eq!(text.chars().count(), 2200);
    let problems = check_caption(&text, CaptionField::VideoTitle);
    assert_eq!(problems[0].code.as_str(), "caption_too_long");
    assert_eq!(problems[0].measured.as_deref(), Some("2201 UTF-16 units"));
    assert_eq!(count_display(&text, CaptionField::VideoTitle), "2201/2200");
}

#[rstest]
#[case::plain("Sunset over the harbour, shot on a phone #sunset #harbour", &[])]
#[case::many_hashtags("#a1 #b2 #c3 #d4 #e5 #f6 #g7 #h8 #i9 #j10 #k11", &["spam_many_hashtags"])]
#[case::glued_hashtags("#a1#b2#c3#d4#e5#f6#g7#h8#i9#j10#k11", &["spam_many_hashtags"])]
#[case::repeated_lines("follow me\nfollow me\nFollow  me", &["spam_repeated_lines"])]
#[case::many_links("see https://a.example https://b.example www.c.example", &["spam_many_links"])]
#[case::shouting_promotion("HUGE SALE TODAY ONLY, CLICK THE LINK IN BIO", &["spam_all_caps_promo"])]
#[case::caps_without_promotion("WHAT A GOAL FROM THE HALFWAY LINE", &[])]
#[case::promotion_in_sentence_case("Our winter sale starts today", &[])]
fn spam_heuristics_warn(#[case] text: &str, #[case] expected: &[&str]) {
    let problems = check_caption(text, CaptionField::VideoTitle);
    assert_eq!(codes(&problems), expected);
    assert!(
        problems
            .iter()
            .all(|problem| problem.severity == Severity::Warning)
    );
    assert!(
        problems
            .iter()
            .all(|problem| problem.tiktok_error == Some("spam_risk_text"))
    );
}

#[test]
fn hashtags_are_split_at_whitespace_and_hash_signs() {
    let found: Vec<&str> = hashtags("go #fyp#viral and #cats! # lonely").collect();
    assert_eq!(found, ["fyp", "viral", "cats!"]);
}

fn at(hours: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap() + SignedDuration::from_hours(hours)
}

fn hash_of(text: &str) -> ContentHash {
    hash_reader(text.as_bytes()).unwrap()
}

fn post(account: &str, media: &str, caption: &str, hours: i64) -> PostFingerprint {
    PostFingerprint {
        account_id: account.to_owned(),
        media: vec![hash_of(media)],
        caption: CaptionFingerprint::of(caption),
        at: at(hours),
    }
}

#[rstest]
#[case::nothing_shared(post("a", "m2", "other words", 1), &[])]
#[case::same_media_same_account_recently(post("a", "m1", "other words", -24), &["duplicate_media_same_account"])]
#[case::same_media_same_account_long_ago(post("a", "m1", "other words", -24 * 10), &[])]
#[case::same_media_other_account_within_a_month(post("b", "m1", "other words", -24 * 20), &["duplicate_media_other_account"])]
#[case::same_media_other_account_scheduled_later(post("b", "m1", "other words", 48), &["duplicate_media_other_account"])]
#[case::same_caption_other_account(post("b", "m9", "Hello   WORLD", 5), &["duplicate_caption_other_account"])]
#[case::same_everything_same_account(post("a", "m1", "hello world", 2), &["duplicate_media_same_account", "duplicate_caption_same_account"])]
fn duplicates_are_found_by_media_hash_and_caption(
    #[case] prior: PostFingerprint,
    #[case] expected: &[&str],
) {
    let candidate = post("a", "m1", "hello world", 0);
    let problems = find_duplicates(&candidate, &[prior], &DuplicateWindows::default());
    assert_eq!(codes(&problems), expected);
    assert!(
        problems
            .iter()
            .all(|problem| problem.severity == Severity::Warning)
    );
}

#[test]
fn empty_captions_are_never_duplicates() {
    let candidate = post("a", "m1", "   ", 0);
    let prior = post("b", "m2", "", 0);
    assert!(candidate.caption.is_none());
    assert!(find_duplicates(&candidate, &[prior], &DuplicateWindows::default()).is_empty());
}

#[test]
fn content_hash_is_sha256_and_round_trips_through_hex() {
    let hash = hash_reader(&b"abc"[..]).unwrap();
    assert_eq!(
        hash.to_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(ContentHash::from_hex(&hash.to_hex()), Some(hash));
    assert_eq!(ContentHash::from_hex("xyz"), None);
}

#[test]
fn verdict_is_the_worst_severity() {
    let warning = check_caption(
        "#a1 #b2 #c3 #d4 #e5 #f6 #g7 #h8 #i9 #j10 #k11",
        CaptionField::VideoTitle,
    );
    assert_eq!(Verdict::of(&warning), Verdict::Warning);
    let error = photo::check_post(0, 0);
    assert_eq!(Verdict::of(&error), Verdict::Rejected);
    assert_eq!(Verdict::of(&[]), Verdict::Ok);
}

proptest! {
    #[test]
    fn caption_is_too_long_exactly_when_over_the_utf16_limit(text in "\\PC{0,120}") {
        let problems = check_caption(&text, CaptionField::PhotoTitle);
        let too_long = problems.iter().any(|problem| problem.code.as_str() == "caption_too_long");
        prop_assert_eq!(too_long, text.encode_utf16().count() > 90);
    }

    #[test]
    fn caption_fingerprint_ignores_case_and_spacing(words in prop::collection::vec("[a-zA-Z]{1,8}", 1..8)) {
        let spaced = words.join("   ");
        let plain = words.join(" ").to_uppercase();
        prop_assert_eq!(CaptionFingerprint::of(&spaced), CaptionFingerprint::of(&plain));
    }
}

#[test]
fn matroska_is_rejected_for_its_container_and_judged_as_a_video_too() {
    let mut facts = video(VideoCodec::H264, 720, 1280, 15.0, 10.0);
    facts.container = Container::Matroska;
    assert_eq!(
        codes(&check_facts(&facts, &Limits::default())),
        ["container_unsupported", "frame_rate_out_of_range"]
    );
}
