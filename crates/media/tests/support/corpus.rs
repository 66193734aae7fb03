//! Finds or generates the ffmpeg test corpus (tests/corpus/generate.sh), once per script
//! version, safely when several test processes ask at the same time (nextest runs each test in
//! its own process): an exclusive file lock makes the others wait for the first, which generates
//! into a private directory and renames it into place, so no one ever sees a half-written corpus.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

pub(crate) fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/generate.sh")
}

/// The corpus directory, generated on first use. Panics with an install hint when ffmpeg is
/// missing: the comparison with ffprobe must never be skipped silently.
pub(crate) fn corpus_dir(target_tmp: &Path) -> PathBuf {
    for tool in ["ffmpeg", "ffprobe"] {
        let found = Command::new(tool)
            .arg("-version")
            .output()
            .map(|out| out.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "{tool} is not installed: the media corpus tests need ffmpeg and ffprobe (apt-get install ffmpeg)"
        );
    }
    let script = script();
    let script_hash = hex::encode(Sha256::digest(
        std::fs::read(&script).expect("read generate.sh"),
    ));
    let dir = target_tmp.join(format!("media-corpus-{}", script_hash.get(..12).unwrap()));
    if dir.is_dir() {
        return dir;
    }
    std::fs::create_dir_all(target_tmp).unwrap();
    let lock = std::fs::File::create(target_tmp.join("media-corpus.lock")).unwrap();
    lock.lock().unwrap();
    if dir.is_dir() {
        return dir;
    }
    let staging = target_tmp.join(format!("media-corpus-staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let output = Command::new("bash")
        .arg(&script)
        .arg(&staging)
        .output()
        .expect("run generate.sh");
    assert!(
        output.status.success(),
        "generate.sh failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&staging, &dir).unwrap();
    // Corpora of earlier script versions are never read again.
    for entry in std::fs::read_dir(target_tmp).unwrap().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("media-corpus-")
            && entry.path() != dir
            && entry.path().is_dir()
            && !name.contains("staging")
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    assert!(
        dir.is_dir(),
        "corpus directory {} missing after generation",
        dir.display()
    );
    dir
}
