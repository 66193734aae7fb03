//! A real headless Chromium (Debian's `chromium` and `chromium-driver`) driven over WebDriver,
//! and the helpers every browser test shares: screenshots, the same-origin rule, the sandbox's
//! consent page.
//!
//! Without Chromium a test says so and passes locally; with `CI` set it fails instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokpost_core::PostId;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    pub client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// A failing test never reaches `close`, and chromedriver's death does not end Chromium:
    /// end the processes of this test's own profile (found by their command line), by id.
    fn drop(&mut self) {
        let profile = self._profile.path().display().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if String::from_utf8_lossy(&cmdline).contains(&profile) {
                let _ = std::process::Command::new("kill").arg(&name).status();
            }
        }
    }
}

/// Chromium could not start: a failure on CI, a notice elsewhere.
fn unavailable(reason: String) -> Option<Browser> {
    if std::env::var_os("CI").is_some() {
        panic!("headless Chromium is required on CI: {reason}");
    }
    eprintln!("SKIPPED: headless Chromium is not available here: {reason}");
    None
}

pub async fn browser() -> Option<Browser> {
    for binary in [CHROMIUM, CHROMEDRIVER] {
        if !std::path::Path::new(binary).exists() {
            return unavailable(format!(
                "{binary} is not installed (apt-get install chromium chromium-driver)"
            ));
        }
    }
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let driver = match tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(driver) => driver,
        Err(error) => return unavailable(format!("chromedriver did not start: {error}")),
    };
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000", "--disable-crash-reporter", "--disable-breakpad",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let mut last_error = String::new();
    // chromedriver needs a moment to listen; this waits for it, it asserts nothing about speed.
    for _ in 0..100 {
        let connected = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match connected {
            Ok(client) => {
                return Some(Browser {
                    client,
                    _driver: driver,
                    _profile: profile,
                });
            }
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unavailable(format!("no WebDriver session: {last_error}"))
}

pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn snap(client: &Client, name: &str) {
    // Two animation frames: what a resize or a scroll just changed is laid out and painted
    // before the picture is taken (without them a phone-width shot can miss its text).
    client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             requestAnimationFrame(() => requestAnimationFrame(() => done()));",
            vec![],
        )
        .await
        .unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Every resource the current page loaded came from `base`'s origin.
pub async fn assert_same_origin(client: &Client, base: &str) {
    let loaded = client
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);",
            vec![],
        )
        .await
        .unwrap();
    for url in loaded.as_array().unwrap() {
        let url = url.as_str().unwrap();
        assert!(
            url.starts_with(base),
            "the page loaded {url}, which is not {base}"
        );
    }
}

pub async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Runs the sandbox's consent page as `creator` (a nickname) after a connect or reconnect click.
pub async fn consent_as(client: &Client, creator: &str) {
    let choice = format!("//a[starts-with(normalize-space(.), 'Continue as {creator}')]");
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::XPath(&choice))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::XPath("//h1[.='Overview']"))
        .await
        .is_err()
    {
        let url = client.current_url().await.unwrap();
        let source = client.source().await.unwrap();
        panic!("the consent did not lead back to the dashboard: at {url}: {source}");
    }
}

pub fn post_id_of(url: &url::Url) -> PostId {
    url.path().trim_start_matches("/posts/").parse().unwrap()
}

/// Runs `script` in the page and returns its value.
pub async fn js(client: &Client, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
    client.execute(script, args).await.unwrap()
}

/// Types `text` into the field with id `id` as a person would. ChromeDriver types only the
/// Basic Multilingual Plane, so a character beyond it (an emoji) is inserted at the caret by
/// script, with the `input` event a keyboard would fire; the rest is typed.
pub async fn type_into(client: &Client, id: &str, text: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    let mut typed = String::new();
    for c in text.chars() {
        if u32::from(c) <= 0xFFFF {
            typed.push(c);
            continue;
        }
        if !typed.is_empty() {
            field.send_keys(&typed).await.unwrap();
            typed.clear();
        }
        js(
            client,
            "const f = document.getElementById(arguments[0]); \
             f.setRangeText(arguments[1], f.selectionStart, f.selectionEnd, 'end'); \
             f.dispatchEvent(new Event('input', { bubbles: true }));",
            vec![json!(id), json!(c.to_string())],
        )
        .await;
    }
    if !typed.is_empty() {
        field.send_keys(&typed).await.unwrap();
    }
}

/// Waits (at most 30 s of real time, for the page's own scripts and requests) until `script`
/// returns `true`; panics with `what` otherwise.
pub async fn wait_until(client: &Client, script: &str, what: &str) {
    for _ in 0..300 {
        if js(client, script, vec![]).await == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let source = client.source().await.unwrap_or_default();
    panic!("waited in vain for {what} ({script}); the page: {source}");
}

/// Signs in with the server's API key and lands on the overview (times in the browser's zone).
pub async fn sign_in(client: &Client, server: &crate::support::Server) {
    sign_in_from(client, server, None).await;
}

/// Signs in as a person in `zone` (an IANA name) when one is given, else in the browser's zone,
/// photographing the form as `sign-in`, and lands on the overview.
pub async fn sign_in_from(client: &Client, server: &crate::support::Server, zone: Option<&str>) {
    client.goto(&server.url("/sign-in")).await.unwrap();
    if let Some(zone) = zone {
        client
            .execute(
                "document.querySelector('input[name=time_zone]').value = arguments[0];",
                vec![json!(zone)],
            )
            .await
            .unwrap();
    }
    snap(client, "sign-in").await;
    assert_same_origin(client, &server.base).await;
    client
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(&server.owner.email)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(&server.owner.password)
        .await
        .unwrap();
    client
        .find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//h1[.='Overview']"))
        .await
        .unwrap();
}

/// Signs in as `person`, who is shown in the header as `shown` ("Ana (editor)").
pub async fn sign_in_as(
    client: &Client,
    server: &crate::support::Server,
    person: &crate::support::Person,
    shown: &str,
) {
    client.goto(&server.url("/sign-in")).await.unwrap();
    client
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(&person.email)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(&person.password)
        .await
        .unwrap();
    click(client, "#sign-in").await;
    client
        .wait()
        .for_element(Locator::XPath("//h1[.='Overview']"))
        .await
        .unwrap();
    assert!(text_of(client, "#who-am-i").await.contains(shown));
}

/// Signs out from the header and lands on the sign-in page.
pub async fn sign_out(client: &Client) {
    click(client, "form[action='/sign-out'] button").await;
    client
        .wait()
        .for_element(Locator::XPath("//h1[.='Sign in']"))
        .await
        .unwrap();
}

/// Connects the sandbox creator `nickname` through the accounts page and TikTok's consent.
pub async fn connect(client: &Client, server: &crate::support::Server, nickname: &str) {
    client.goto(&server.url("/accounts")).await.unwrap();
    client
        .find(Locator::Id("connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    consent_as(client, nickname).await;
}

/// Clicks the element `css`.
pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{css} cannot be clicked: {e}"));
}
