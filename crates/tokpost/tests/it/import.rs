//! `tokpost posts import FILE` against a running `tokpost serve --sandbox`: a dry run prints
//! every row's verdict with the column at fault and creates nothing, the real import creates
//! the valid rows, and importing the same file again creates nothing new; exit status 1 while
//! any row is invalid.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may fail loudly

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// A `tokpost serve --sandbox` on a free port, stopped on drop.
struct Serve {
    child: Child,
    api: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Serve {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args([
            "serve",
            "--sandbox",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("TOKPOST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut banner = String::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("readable stdout");
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("workers running") {
            break;
        }
    }
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
    Serve {
        child,
        api,
        key,
        _dir: dir,
    }
}

impl Serve {
    fn tokpost(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tokpost"))
            .args(args)
            .args(["--api", &self.api, "--key", &self.key])
            .env("TOKPOST_LOG", "warn")
            .output()
            .expect("tokpost runs")
    }

    /// Connects the sandbox's private creator and uploads a video the sandbox accepts; the
    /// account and its creation time (the server's clock), and the media id.
    async fn account_and_video(&self) -> (serde_json::Value, String) {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let connect: serde_json::Value = http
            .post(format!("{}v1/accounts/connect", self.api))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("connect")
            .json()
            .await
            .expect("JSON");
        let consent = http
            .get(format!(
                "{}&sandbox_creator=bo.private",
                connect["authorize_url"].as_str().expect("url")
            ))
            .send()
            .await
            .expect("consent");
        let callback = consent.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let account: serde_json::Value = http
            .get(callback)
            .send()
            .await
            .expect("callback")
            .json()
            .await
            .expect("JSON");
        let video = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tiktok-sandbox/tests/fixtures/ok_720x1280_30fps_4s.mp4"),
        )
        .expect("fixture");
        let media: serde_json::Value = http
            .post(format!("{}v1/media", self.api))
            .bearer_auth(&self.key)
            .body(video)
            .send()
            .await
            .expect("upload")
            .json()
            .await
            .expect("JSON");
        (account, media["id"].as_str().expect("media id").to_owned())
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

#[test]
fn posts_import_prints_each_rows_verdict_creates_the_valid_ones_once_and_exits_1_on_a_bad_row() {
    let server = serve();
    let (account, media) = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(server.account_and_video());
    // Six hours after the server connected the account: in the future on the server's clock.
    let at = (account["created_at"]
        .as_str()
        .expect("created_at")
        .parse::<jiff::Timestamp>()
        .expect("time")
        + jiff::SignedDuration::from_hours(6))
    .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("week.csv");
    std::fs::write(
        &file,
        format!(
            "account,media_id,caption,privacy_level,scheduled_at\n\
             @bo.private,{media},\"Monday, 9 o'clock\",SELF_ONLY,{at}\n\
             @bo.private,{media},no privacy,,{at}\n"
        ),
    )
    .expect("write");
    let path = file.to_str().expect("utf-8 path");

    let dry = server.tokpost(&["posts", "import", path, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(1), "a bad row: exit 1: {dry:?}");
    let table = stdout(&dry);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("ROW") && lines[0].contains("FIELD"),
        "{table}"
    );
    assert!(
        lines[1].contains("valid") && lines[1].contains("ready for"),
        "{table}"
    );
    assert!(
        lines[2].contains("invalid") && lines[2].contains("privacy_level"),
        "the column at fault: {table}"
    );
    assert!(
        table.contains("2 rows: 1 valid, 1 invalid (dry run"),
        "{table}"
    );
    let listed = stdout(&server.tokpost(&["posts", "list", "--json"]));
    assert!(
        listed.contains("\"posts\": []"),
        "a dry run creates nothing: {listed}"
    );

    let real = server.tokpost(&["posts", "import", path, "--json"]);
    assert_eq!(real.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&real)).expect("JSON");
    assert_eq!(report["created"], 1);
    let post_id = report["rows"][0]["post_id"].as_str().expect("post id");
    assert!(stdout(&server.tokpost(&["posts", "list"])).contains(post_id));

    // Fixed, the file imports cleanly; the row created before is not created again.
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .expect("read")
            .replace("no privacy,,", "no privacy,SELF_ONLY,"),
    )
    .expect("write");
    let again = server.tokpost(&["posts", "import", path]);
    assert!(again.status.success(), "{again:?}");
    let table = stdout(&again);
    assert!(table.contains(&format!("post {post_id}")), "{table}");
    assert!(
        table.contains("2 rows: 1 created, 1 already imported, 0 invalid"),
        "{table}"
    );

    let missing = server.tokpost(&["posts", "import", "/nonexistent/posts.csv"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/posts.csv"));
}
