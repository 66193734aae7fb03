//! `tokpost serve --sandbox` wires the media store: an upload lands in `<data_dir>/media`, and
//! the pull route answers URLs signed with the generated `media-signing.key` under the loopback
//! prefix the built-in sandbox pulls from, and refuses unsigned ones and other keys' signatures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use secrecy::SecretString;
use sha2::Digest as _;
use tokpost_media_store::{MediaKey, PullBaseUrl, UrlSigner};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tiktok-sandbox/tests/fixtures")
        .join(name)
}

#[test]
fn serve_answers_signed_pull_urls_for_uploads_from_its_media_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args([
            "serve",
            "--sandbox",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
        ])
        .env("TOKPOST_LOG", "warn")
        .env_remove("TOKPOST_MEDIA__SIGNING_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("workers running") {
            break;
        }
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let api = banner
            .lines()
            .find_map(|line| line.strip_prefix("tokpost API on "))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("API URL")
            .to_owned();
        let key = banner
            .split_whitespace()
            .find(|word| word.starts_with("tp_"))
            .expect("admin key")
            .to_owned();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(check(dir.path(), &api, &key));
    }));
    child.kill().unwrap();
    let _ = child.wait();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn check(data_dir: &Path, api: &str, key: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let photo = std::fs::read(fixture("photo_1080.jpg")).unwrap();
    let sha = hex::encode(sha2::Sha256::digest(&photo));
    let uploaded: serde_json::Value = http
        .post(format!("{api}v1/media"))
        .bearer_auth(key)
        .body(photo.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(uploaded["kind"], "photo", "{uploaded}");
    assert_eq!(uploaded["content_hash"], sha.as_str());
    let object = data_dir.join("media/objects/sha256").join(&sha);
    assert_eq!(
        std::fs::read(&object).unwrap(),
        photo,
        "stored in the data directory"
    );

    // What a worker of this installation would hand TikTok.
    let secret = std::fs::read_to_string(data_dir.join("media-signing.key")).unwrap();
    let base = PullBaseUrl::parse_loopback(&format!("{api}media/pull/")).unwrap();
    let signer = UrlSigner::new(
        base,
        &SecretString::from(secret.trim().to_owned()),
        clock::SystemClock::shared(),
    )
    .unwrap();
    let media_key = MediaKey::parse(&format!("sha256/{sha}")).unwrap();
    let url = signer.sign_valid_for(&media_key, Duration::from_secs(600));
    let pulled = http.get(url.clone()).send().await.unwrap();
    assert_eq!(pulled.status(), 200);
    assert_eq!(pulled.content_length(), Some(photo.len() as u64));
    assert_eq!(pulled.bytes().await.unwrap().as_ref(), photo.as_slice());

    let other_key = UrlSigner::new(
        PullBaseUrl::parse_loopback(&format!("{api}media/pull/")).unwrap(),
        &SecretString::from("another-installation-key-of-32-chars-or-more"),
        clock::SystemClock::shared(),
    )
    .unwrap();
    let foreign = other_key.sign_valid_for(&media_key, Duration::from_secs(600));
    assert_eq!(http.get(foreign).send().await.unwrap().status(), 403);
    let unsigned = format!("{api}media/pull/sha256/{sha}");
    assert_eq!(http.get(unsigned).send().await.unwrap().status(), 403);
}
