//! `tokpost serve --sandbox` tells the truth about its app: the in-process sandbox's app is
//! audited, so the pipeline's policy is the audited one (whatever `tiktok.audited` says), and the
//! dashboard's audit page and accounts page say the audited app is the built-in sandbox's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use reqwest::header::{COOKIE, SET_COOKIE};

fn cookie_value(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

const OWNER_EMAIL: &str = "owner@example.com";
const OWNER_PASSWORD: &str = "the owner's long passphrase";

/// `tokpost users create` for the first owner, the password on standard input, beside a
/// running `serve` on the same data directory.
fn create_owner(data: &str) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args([
            "users",
            "create",
            "--data-dir",
            data,
            "--email",
            OWNER_EMAIL,
            "--name",
            "Owner",
        ])
        .env("TOKPOST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{OWNER_PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn csrf_in(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

/// Connects the sandbox's first creator through the API with `key`, signs in to the dashboard as
/// the owner `tokpost users create` made and returns the pages at `paths`, quotes unescaped.
async fn pages(base: &str, key: &str, paths: &[&str]) -> Vec<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let connect: serde_json::Value = http
        .post(format!("{base}v1/accounts/connect"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let consent = http
        .get(connect["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let connected = http.get(callback).send().await.unwrap();
    assert!(connected.status().is_success(), "{}", connected.status());
    let form = http.get(format!("{base}sign-in")).send().await.unwrap();
    let pre = cookie_value(&form, "tokpost_sign_in");
    let csrf = csrf_in(&form.text().await.unwrap());
    let signed_in = http
        .post(format!("{base}sign-in"))
        .header(COOKIE, format!("tokpost_sign_in={pre}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", OWNER_EMAIL),
            ("password", OWNER_PASSWORD),
            ("time_zone", "UTC"),
        ])
        .send()
        .await
        .unwrap();
    let session = format!(
        "tokpost_session={}",
        cookie_value(&signed_in, "tokpost_session")
    );
    let mut found = Vec::new();
    for path in paths {
        let response = http
            .get(format!("{base}{path}"))
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        found.push(
            response
                .text()
                .await
                .unwrap()
                .replace("&#x27;", "'")
                .replace("&#39;", "'"),
        );
    }
    found
}

#[test]
fn serve_with_the_sandbox_posts_as_the_sandboxs_audited_app_and_says_so() {
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
        // The configured app is not audited; the app in use is the sandbox's.
        .env("TOKPOST_TIKTOK__AUDITED", "false")
        .env("TOKPOST_LOG", "warn")
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
        let base = banner
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
        assert!(
            banner.contains("Nobody can sign in to the dashboard yet")
                && banner.contains("tokpost users create --email"),
            "{banner}"
        );
        create_owner(&data);
        let found = tokio::runtime::Runtime::new().unwrap().block_on(pages(
            &base,
            &key,
            &["audit", "accounts"],
        ));
        let audit = &found[0];
        assert!(
            audit.contains(
                "<li class=\"green\" data-check=\"audit\"><span class=\"dot\" aria-hidden=\"true\"></span><strong>App audit</strong> <span class=\"level-word\">OK</span> the built-in sandbox's app is audited"
            ),
            "{audit}"
        );
        assert!(
            audit.contains("<li class=\"amber\" data-check=\"tiktok_app\">"),
            "{audit}"
        );
        // The sandbox pulls uploads from this process over loopback: fine here, not for TikTok.
        assert!(
            audit.contains("<li class=\"amber\" data-check=\"verified_url_prefixes\">")
                && audit.contains("which only this machine reaches"),
            "{audit}"
        );
        assert!(!audit.contains("not audited"), "{audit}");
        let accounts = &found[1];
        assert!(
            accounts.contains("<strong>Audit</strong> <span class=\"sr\">OK:</span> the built-in sandbox's app is audited"),
            "{accounts}"
        );
        assert!(!accounts.contains("not audited"), "{accounts}");
    }));
    child.kill().unwrap();
    let _ = child.wait();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
