//! Fuzzes the probe with inputs seeded from small matroska files (see ../seeds.sh): whatever the
//! bytes, probing must return facts or a typed error, never panic, hang or over-allocate.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let verdict = media::preflight_reader(
        "fuzz",
        std::io::Cursor::new(data),
        &media::Limits::default(),
    );
    // Rendering walks every field the probe filled in.
    let _ = verdict.render_human();
});
