//! Fuzzes caption checks (UTF-16 counting, spam heuristics, normalization) with arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for field in [
        media::CaptionField::VideoTitle,
        media::CaptionField::PhotoTitle,
        media::CaptionField::PhotoDescription,
    ] {
        let _ = media::check_caption(&text, field);
    }
    let _ = media::CaptionFingerprint::of(&text);
});
