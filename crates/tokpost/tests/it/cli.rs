//! The binary as a user runs it: arguments in, output and exit status out.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may fail loudly

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn tokpost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args(args)
        .env("TOKPOST_LOG", "warn")
        .output()
        .expect("tokpost runs")
}

fn media_fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../media/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

#[test]
fn check_json_prints_one_verdict_per_file_with_the_documented_fields() {
    let output = tokpost(&[
        "check",
        "--json",
        &media_fixture("tiny_faststart.mp4"),
        &media_fixture("tiny.jpg"),
    ]);
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per file");
    for line in &lines {
        for field in [
            "file",
            "verdict",
            "container",
            "video_codec",
            "width",
            "height",
            "fps",
            "duration_s",
            "size_bytes",
            "problems",
        ] {
            assert!(line.get(field).is_some(), "{field} missing from {line}");
        }
    }
    assert_eq!(lines[0]["container"], "mp4");
    assert_eq!(lines[0]["video_codec"], "h264");
    assert_eq!(lines[1]["container"], "jpeg");
}

#[test]
fn check_exits_1_when_any_file_would_be_rejected_and_names_the_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = dir.path().join("not-a-video.mp4");
    std::fs::write(&garbage, [0x5a_u8; 4096]).expect("write");
    let output = tokpost(&["check", "--json", garbage.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let verdict: serde_json::Value =
        serde_json::from_str(stdout(&output).trim()).expect("one JSON line");
    assert_eq!(verdict["verdict"], "rejected");
    assert!(
        !verdict["problems"].as_array().expect("problems").is_empty(),
        "a rejection names its problem: {verdict}"
    );
}

#[test]
fn check_reports_a_missing_file_as_rejected_rather_than_crashing() {
    let output = tokpost(&["check", "/nonexistent/clip.mp4"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stdout(&output).contains("/nonexistent/clip.mp4"));
}

#[test]
fn check_usage_errors_exit_2() {
    assert_eq!(tokpost(&["check"]).status.code(), Some(2), "no files");
    assert_eq!(
        tokpost(&["check", "--max-duration", "0", "x.mp4"])
            .status
            .code(),
        Some(2),
        "a zero maximum duration is a usage error"
    );
}

#[test]
fn errors_list_json_holds_all_25_published_patterns() {
    let output = tokpost(&["errors", "list", "--json"]);
    assert!(output.status.success(), "{output:?}");
    let entries: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).expect("a JSON array");
    let mut patterns: Vec<u64> = entries
        .iter()
        .filter_map(|entry| entry["published_pattern"].as_u64())
        .collect();
    patterns.sort_unstable();
    assert_eq!(patterns, (1..=25).collect::<Vec<u64>>());
}

#[test]
fn errors_explain_accepts_any_spelling_tiktok_sends() {
    let singular = tokpost(&["errors", "explain", "invalid_param"]);
    let plural = tokpost(&["errors", "explain", "invalid_params"]);
    assert!(singular.status.success() && plural.status.success());
    assert_eq!(stdout(&singular), stdout(&plural));
    assert!(stdout(&plural).contains("Fix input"));
}

#[test]
fn errors_explain_of_an_unknown_code_exits_1_with_a_hint() {
    let output = tokpost(&["errors", "explain", "no_such_code"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tokpost errors list"), "{stderr}");
}

/// Starts `tokpost sandbox` with `extra` arguments; returns the process and its banner.
fn sandbox(extra: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("TOKPOST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sandbox starts");
    let mut banner = String::new();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for line in lines.by_ref() {
        let line = line.expect("readable stdout");
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    (child, banner)
}

fn banner_url(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .map(str::trim)
        .expect("the banner names every base URL")
        .to_owned()
}

#[test]
fn the_sandbox_command_prints_its_base_urls_and_creators_then_serves() {
    let (mut child, banner) = sandbox(&[]);
    let api = banner_url(&banner, "API:");
    // The sandbox answers a real TikTok request: creator info without a token is refused the
    // way TikTok refuses it.
    let answer = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            reqwest::Client::new()
                .post(format!("{api}v2/post/publish/creator_info/query/"))
                .send()
                .await?
                .text()
                .await
        });
    child.kill().expect("stop the sandbox");
    let _ = child.wait();
    assert!(banner.contains("creator @"), "{banner}");
    assert!(banner.contains("upload:"), "{banner}");
    let body = answer.expect("the sandbox answers on its API URL");
    assert!(body.contains("access_token_invalid"), "{body}");
}

#[rstest::rstest]
#[case::manual_clock_moves_on_request(&["--manual-clock"], 200)]
#[case::real_clock_refuses_to_move(&[], 409)]
fn the_sandbox_clock_moves_only_when_started_with_a_manual_clock(
    #[case] extra: &[&str],
    #[case] expected_status: u16,
) {
    let (mut child, banner) = sandbox(extra);
    let admin = banner_url(&banner, "admin:");
    let answers = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let http = reqwest::Client::new();
            let before: serde_json::Value = http
                .get(format!("{admin}clock"))
                .send()
                .await?
                .json()
                .await?;
            let advance = http
                .post(format!("{admin}clock/advance"))
                .json(&serde_json::json!({ "seconds": 86_400 }))
                .send()
                .await?
                .status()
                .as_u16();
            let after: serde_json::Value = http
                .get(format!("{admin}clock"))
                .send()
                .await?
                .json()
                .await?;
            Ok::<_, reqwest::Error>((before, advance, after))
        });
    child.kill().expect("stop the sandbox");
    let _ = child.wait();
    let (before, advance, after) = answers.expect("the admin API answers");
    assert_eq!(advance, expected_status, "{banner}");
    assert_eq!(
        banner.contains("clock:     manual"),
        expected_status == 200,
        "{banner}"
    );
    if expected_status == 200 {
        assert_ne!(before, after, "the clock moved a day");
    }
}

#[test]
fn migrate_creates_the_sqlite_database_and_a_private_token_key_and_is_idempotent() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let data_dir_arg = data_dir.to_str().expect("utf-8 path");
    for run in 1..=2 {
        let output = tokpost(&["migrate", "--data-dir", data_dir_arg]);
        assert!(output.status.success(), "run {run}: {output:?}");
        assert!(
            stdout(&output).contains("database is up to date"),
            "{output:?}"
        );
    }
    assert!(data_dir.join("tokpost.db").is_file());
    let key_mode = std::fs::metadata(data_dir.join("token.key"))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(
        key_mode & 0o777,
        0o600,
        "the token key is private to its owner"
    );
}

#[test]
fn migrate_applies_the_schema_to_a_real_postgres_server() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(tokpost_testkit::postgres::PostgresServer::start())
        .expect("PostgreSQL starts (the server binaries must be installed)");
    let database_url = runtime
        .block_on(server.fresh_database())
        .expect("fresh database");
    let dir = tempfile::tempdir().expect("temp dir");
    let output = tokpost(&[
        "migrate",
        "--data-dir",
        dir.path().to_str().expect("utf-8 path"),
        "--database-url",
        &database_url,
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("database is up to date"));
}

#[test]
fn migrate_with_an_unsupported_database_url_says_which_schemes_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = tokpost(&[
        "migrate",
        "--data-dir",
        dir.path().to_str().expect("utf-8 path"),
        "--database-url",
        "mysql://localhost/tokpost",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sqlite:") && stderr.contains("postgres://"),
        "{stderr}"
    );
}

#[test]
fn keys_are_created_once_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().display().to_string();
    let created = tokpost(&[
        "keys",
        "create",
        "--data-dir",
        &data,
        "--name",
        "ci",
        "--role",
        "reviewer",
        "--json",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: serde_json::Value = serde_json::from_str(&stdout(&created)).expect("JSON");
    let secret = created["key"].as_str().expect("the key is printed once");
    assert!(secret.starts_with("tp_"), "{created}");
    assert_eq!(created["role"], "reviewer");

    let listed = tokpost(&["keys", "list", "--data-dir", &data, "--json"]);
    let listing = stdout(&listed);
    assert!(
        !listing.contains(secret),
        "a listing never shows a secret: {listing}"
    );
    let keys: serde_json::Value = serde_json::from_str(&listing).expect("JSON");
    assert!(
        keys.as_array()
            .expect("array")
            .iter()
            .any(|k| k["id"] == created["id"])
    );

    let id = created["id"].as_str().expect("id");
    assert!(
        tokpost(&["keys", "revoke", "--data-dir", &data, id])
            .status
            .success()
    );
    let again = tokpost(&["keys", "revoke", "--data-dir", &data, id]);
    assert_eq!(again.status.code(), Some(1), "revoking twice says so");
}

/// `tokpost ARGS` with `input` on standard input.
fn tokpost_reading(args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args(args)
        .env("TOKPOST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tokpost runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("the input is written");
    child.wait_with_output().expect("tokpost ends")
}

#[test]
fn the_first_owner_is_made_listed_disabled_enabled_and_given_a_reset_link_without_email() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().display().to_string();
    let create = |email: &str, role: &str, password: &str| {
        tokpost_reading(
            &[
                "users",
                "create",
                "--data-dir",
                &data,
                "--email",
                email,
                "--name",
                "Olga Owner",
                "--role",
                role,
            ],
            &format!("{password}\n"),
        )
    };
    let short = create("olga@example.com", "owner", "short");
    assert_eq!(short.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(
        stderr.contains("the password has 5 characters; it needs at least 12")
            && stderr.contains("`password`"),
        "{stderr}"
    );
    let role = create("olga@example.com", "admin", "a long enough passphrase");
    assert!(String::from_utf8_lossy(&role.stderr).contains("`admin` is not a role"));

    let made = create(" Olga@Example.com ", "owner", "a long enough passphrase");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let out = stdout(&made);
    assert!(
        out.contains("created Olga Owner <olga@example.com>")
            && out.contains("owner of workspace default"),
        "{out}"
    );
    let again = create("olga@example.com", "owner", "a long enough passphrase");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    let listed = tokpost(&["users", "list", "--data-dir", &data, "--json"]);
    let listing = stdout(&listed);
    assert!(
        !listing.contains("argon2"),
        "a listing never shows a hash: {listing}"
    );
    let users: serde_json::Value = serde_json::from_str(&listing).expect("JSON");
    assert_eq!(users[0]["email"], "olga@example.com");
    assert_eq!(users[0]["workspaces"][0]["role"], "owner");
    assert_eq!(users[0]["has_password"], true);

    // The only owner cannot be disabled; a reset link is printed.
    let disable = tokpost(&["users", "disable", "--data-dir", &data, "olga@example.com"]);
    assert_eq!(disable.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&disable.stderr).contains("last enabled owner"));
    let reset = tokpost(&[
        "users",
        "reset-password",
        "--data-dir",
        &data,
        "OLGA@example.com",
    ]);
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert!(stdout(&reset).contains("/reset/tpr_"), "{}", stdout(&reset));
    let unknown = tokpost(&[
        "users",
        "disable",
        "--data-dir",
        &data,
        "nobody@example.com",
    ]);
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("no user with the email nobody@example.com")
    );

    // With a second owner, the first can be disabled and enabled again.
    let second = tokpost_reading(
        &[
            "users",
            "create",
            "--data-dir",
            &data,
            "--email",
            "pat@example.com",
            "--name",
            "Pat",
        ],
        "another long passphrase\n",
    );
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let disable = tokpost(&["users", "disable", "--data-dir", &data, "olga@example.com"]);
    assert!(
        stdout(&disable).contains("disabled olga@example.com; every session of theirs has ended")
    );
    let table = stdout(&tokpost(&["users", "list", "--data-dir", &data]));
    assert!(
        table.contains("disabled") && table.contains("pat@example.com"),
        "{table}"
    );
    let enable = tokpost(&["users", "enable", "--data-dir", &data, "olga@example.com"]);
    assert!(enable.status.success());
}

#[test]
fn serve_with_the_sandbox_prints_its_admin_key_once_and_answers_on_its_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().display().to_string();
    let start = || {
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
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let mut banner = String::new();
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        for line in lines {
            let line = line.expect("readable stdout");
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("workers running") {
                break;
            }
        }
        (child, banner)
    };
    let (mut child, banner) = start();
    let api = banner
        .lines()
        .find_map(|line| line.strip_prefix("tokpost API on "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the banner names the API URL")
        .to_owned();
    let health = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async { reqwest::get(format!("{api}healthz")).await?.text().await });
    child.kill().expect("stop serve");
    let _ = child.wait();
    assert!(banner.contains("admin API key"), "{banner}");
    assert!(banner.contains("creator @ada.public"), "{banner}");
    assert_eq!(health.expect("healthz answers"), r#"{"status":"ok"}"#);

    let (mut child, banner) = start();
    child.kill().expect("stop serve");
    let _ = child.wait();
    assert!(
        !banner.contains("tp_"),
        "the admin key is shown on the first start only: {banner}"
    );
}

#[test]
fn the_client_commands_connect_post_list_and_cancel_through_a_running_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
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
    let client = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tokpost"))
            .args(args)
            .args(["--api", &api, "--key", &key])
            .env("TOKPOST_LOG", "warn")
            .output()
            .expect("tokpost runs")
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(
            stdout(&client(&["accounts", "list", "--json"])).trim(),
            "[]"
        );
        let link = stdout(&client(&["accounts", "connect"]));
        assert!(link.contains("/v2/auth/authorize/?client_key="), "{link}");
        let missing = client(&["posts", "show", "01a20275-0000-7000-8000-000000000000"]);
        assert_eq!(missing.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&missing.stderr).contains("404 not_found"));

        // Connect the sandbox's first creator the way a browser would.
        let account: serde_json::Value =
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(async {
                    let http = reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .expect("client");
                    let connect: serde_json::Value = http
                        .post(format!("{api}v1/accounts/connect"))
                        .bearer_auth(&key)
                        .send()
                        .await
                        .expect("connect")
                        .json()
                        .await
                        .expect("JSON");
                    let consent = http
                        .get(connect["authorize_url"].as_str().expect("url"))
                        .send()
                        .await
                        .expect("consent");
                    let callback = consent.headers()["location"]
                        .to_str()
                        .expect("location")
                        .to_owned();
                    http.get(callback)
                        .send()
                        .await
                        .expect("callback")
                        .json()
                        .await
                        .expect("JSON")
                });
        let account_id = account["id"].as_str().expect("account id");
        let video = media_fixture("tiny_faststart.mp4");
        // Six hours after the server connected the account: in the future on the server's clock.
        let at = (account["created_at"]
            .as_str()
            .expect("created_at")
            .parse::<jiff::Timestamp>()
            .expect("time")
            + jiff::SignedDuration::from_hours(6))
        .to_string();
        let created = client(&[
            "post",
            "create",
            "--account",
            account_id,
            "--video",
            &video,
            "--caption",
            "from the CLI",
            "--privacy",
            "SELF_ONLY",
            "--at",
            &at,
            "--json",
        ]);
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        // --json: stdout is one JSON document and the upload's progress bar stays off stderr.
        let post: serde_json::Value = serde_json::from_str(&stdout(&created)).expect("JSON");
        assert!(
            created.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        assert_eq!(post["state"], "scheduled");
        let post_id = post["id"].as_str().expect("post id");
        let listed = stdout(&client(&["posts", "list"]));
        assert!(listed.contains(post_id), "{listed}");
        let cancelled: serde_json::Value =
            serde_json::from_str(&stdout(&client(&["posts", "cancel", post_id, "--json"])))
                .expect("JSON");
        assert_eq!(cancelled["state"], "cancelled");
        let doctor = stdout(&client(&["accounts", "doctor"]));
        assert!(
            doctor.contains("Ada (public)") && doctor.contains("next:"),
            "{doctor}"
        );
        // Insights: a post that was never public is not followed, and says why.
        let post_stats = stdout(&client(&["stats", "post", post_id]));
        assert!(
            post_stats.starts_with("not_followed: TikTok shows counts only for public posts"),
            "{post_stats}"
        );
        let creator: serde_json::Value = serde_json::from_str(&stdout(&client(&[
            "stats", "account", account_id, "--json",
        ])))
        .expect("JSON");
        assert_eq!(creator["insights_ready"], true, "{creator}");
        assert!(stdout(&client(&["stats", "account", account_id])).contains("FOLLOWERS"));

        // With approval required, posts wait; the CLI approves and rejects them.
        let status = tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async {
                reqwest::Client::new()
                    .put(format!("{api}v1/approval-settings"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({"required": true}))
                    .send()
                    .await
                    .expect("settings")
                    .status()
            });
        assert!(status.is_success(), "{status}");
        let waiting = |caption: &str| -> String {
            let created = client(&[
                "post",
                "create",
                "--account",
                account_id,
                "--video",
                &video,
                "--caption",
                caption,
                "--privacy",
                "SELF_ONLY",
                "--at",
                &at,
                "--json",
            ]);
            let post: serde_json::Value = serde_json::from_str(&stdout(&created)).expect("JSON");
            assert_eq!(post["state"], "awaiting_approval");
            post["id"].as_str().expect("post id").to_owned()
        };
        let rejected_id = waiting("needs work");
        let rejected = stdout(&client(&[
            "posts",
            "reject",
            &rejected_id,
            "--comment",
            "Shorter, please",
        ]));
        assert!(rejected.contains(": rejected"), "{rejected}");
        assert!(
            rejected.contains("rejected revision 1: Shorter, please (by API key \"admin\""),
            "{rejected}"
        );
        let again = client(&["posts", "approve", &rejected_id]);
        assert_eq!(again.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&again.stderr).contains("not_awaiting_approval"),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        let approved_id = waiting("ready");
        let stale = client(&["posts", "approve", &approved_id, "--revision", "2"]);
        assert_eq!(stale.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&stale.stderr).contains("revision_changed"));
        let approved: serde_json::Value = serde_json::from_str(&stdout(&client(&[
            "posts",
            "approve",
            &approved_id,
            "--revision",
            "1",
            "--comment",
            "Go",
            "--json",
        ])))
        .expect("JSON");
        assert_eq!(approved["state"], "scheduled");
    }));
    child.kill().expect("stop serve");
    let _ = child.wait();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
