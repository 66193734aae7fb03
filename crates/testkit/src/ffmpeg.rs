//! Media files made on the spot with ffmpeg's test sources, for the tests and benchmarks that
//! need a real file TikTok would accept or refuse. ffmpeg is a test requirement (`.ci/run`
//! installs it): without it these panic with an install hint, never skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// H.264 the fastest way, in the pixel format every player and TikTok take: the video options
/// of every generated clip.
pub const X264_FAST: [&str; 6] = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
];

/// Runs ffmpeg with `args` (its inputs and options) to write the file `name` in `dir`; its path.
///
/// # Panics
/// When ffmpeg is missing or fails (with its error output).
#[must_use]
pub fn generate(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .arg(&path)
        .output()
        .unwrap_or_else(|error| {
            panic!("ffmpeg could not be run ({error}): the tests need it (apt-get install ffmpeg)")
        });
    assert!(
        output.status.success(),
        "ffmpeg could not generate {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    path
}

/// An H.264 + AAC MP4 of ffmpeg's `testsrc2` picture (`size` as `WxH`) at `fps` and a tone,
/// `seconds` long, encoded fast.
#[must_use]
pub fn clip(dir: &Path, name: &str, size: &str, fps: u32, seconds: f64) -> PathBuf {
    let picture = format!("testsrc2=size={size}:rate={fps}:duration={seconds}");
    let tone = format!("sine=frequency=440:duration={seconds}");
    generate(
        dir,
        name,
        &[
            &["-f", "lavfi", "-i", &picture, "-f", "lavfi", "-i", &tone][..],
            &X264_FAST,
            &["-c:a", "aac", "-shortest"],
        ]
        .concat(),
    )
}
