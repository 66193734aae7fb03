//! `POST /v1/posts/batch` through the real server on port 0, with the TikTok sandbox on the same
//! manual clock: CSV and JSON imports, a bad row of each kind named by its column, dry runs that
//! store nothing, a second import that creates nothing new, and the refusals of whole files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::sync::Arc;

use clock::{Clock as _, ManualClock};
use jiff::SignedDuration;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tiktok::{TikTokClient, TikTokConfig};
use tiktok_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use tokio::net::TcpListener;
use tokpost_api::{ApiSettings, AppState};
use tokpost_pipeline::{Pipeline, PipelineConfig, PublishPolicy};
use tokpost_store::{Store, TokenCipher};

const VERIFIED: &str = "https://media.example.com/tokpost/";

struct App {
    base: String,
    http: reqwest::Client,
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    key: String,
    _sandbox: SandboxHandle,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl App {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at_fixed_start();
        let sandbox = Sandbox::start_with_manual_clock(
            SandboxConfig::default(),
            Arc::clone(&clock),
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            None,
        )
        .await
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("tokpost.db").display()
        );
        let cipher = TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap();
        let store = tokpost_store::open(&url, cipher).await.unwrap();
        let config = TikTokConfig::production(
            "sbxdemo0000000001",
            SecretString::from("sandbox-demo-client-secret"),
            format!("{base}/v1/oauth/tiktok/callback"),
        )
        .unwrap()
        .with_base_urls(sandbox.api_base_url(), sandbox.authorize_base_url());
        let client = TikTokClient::new(config, clock.shared()).unwrap();
        let pipeline = Pipeline::with_media(
            Arc::clone(&store),
            clock.shared(),
            client.clone(),
            PipelineConfig {
                publishing: PublishPolicy {
                    verified_url_prefixes: vec![VERIFIED.to_owned()],
                    ..PublishPolicy::audited()
                },
                ..PipelineConfig::default()
            },
            Some(tokpost_pipeline::MediaAccess::local(
                dir.path().join("media"),
            )),
        );
        let mut settings = ApiSettings::new(
            url::Url::parse(&format!("{base}/")).unwrap(),
            dir.path().join("media"),
        );
        settings.verified_url_prefixes = vec![VERIFIED.to_owned()];
        let state = AppState::new(
            Arc::clone(&store),
            clock.shared(),
            client,
            pipeline,
            settings,
        );
        let (_, admin) = tokpost_api::bootstrap(store.as_ref(), clock.now())
            .await
            .unwrap()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tokpost_api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            clock,
            store,
            key: admin.secret.expose_secret().to_owned(),
            _sandbox: sandbox,
            _dir: dir,
            _stop: stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn connect(&self, creator: &str) -> Value {
        let connect: Value = self
            .http
            .post(self.url("/v1/accounts/connect"))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let callback = tokpost_testkit::oauth::consent(
            &self.http,
            connect["authorize_url"].as_str().unwrap(),
            creator,
        )
        .await;
        let response = self.http.get(callback).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn upload(&self, name: &str) -> String {
        let bytes = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tiktok-sandbox/tests/fixtures")
                .join(name),
        )
        .unwrap();
        let media: Value = self
            .http
            .post(self.url("/v1/media"))
            .bearer_auth(&self.key)
            .body(bytes)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        media["id"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/posts/batch{query}` with `body` as `content_type`.
    async fn import(
        &self,
        query: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(self.url(&format!("/v1/posts/batch{query}")))
            .bearer_auth(&self.key)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn csv(&self, query: &str, text: &str) -> (StatusCode, Value) {
        self.import(query, Some("text/csv"), text.to_owned()).await
    }

    async fn post_count(&self) -> usize {
        let workspace = self.store.workspaces().await.unwrap()[0].id;
        self.store.posts(workspace, 1_000).await.unwrap().len()
    }

    /// An RFC 3339 time `hours` ahead of the shared clock, at +01:00.
    fn ahead(&self, hours: i64) -> String {
        let at = self.clock.now() + SignedDuration::from_hours(hours);
        at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(1)))
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }
}

fn rows(report: &Value) -> &Vec<Value> {
    report["rows"].as_array().unwrap()
}

/// The first error of row `number` (1-based).
fn error_of(report: &Value, number: usize) -> &Value {
    let row = &rows(report)[number - 1];
    assert_eq!(row["row"], number);
    assert_eq!(row["status"], "invalid", "row {number}: {row}");
    &row["errors"][0]
}

#[tokio::test]
async fn a_csv_import_names_each_bad_rows_column_and_a_dry_run_stores_nothing() {
    let app = App::start().await;
    let ada = app.connect("ada.public").await;
    app.connect("bo.private").await;
    let video = app.upload("ok_720x1280_30fps_4s.mp4").await;
    let too_long = "🚀".repeat(1_101);
    let at = app.ahead(2);
    let local = (app.clock.now() + SignedDuration::from_hours(30))
        .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .strftime("%Y-%m-%d %H:%M")
        .to_string();
    let csv = format!(
        "account,media_id,caption,privacy_level,scheduled_at,time_zone,allow_comment,brand_content,brand_organic,commercial_disclosure\n\
         @ada.public,{video},\"Launch, finally\",PUBLIC_TO_EVERYONE,{at},,yes,,,\n\
         Ada (public),{video},no privacy,,{at},,,,,\n\
         {id},{video},{too_long},PUBLIC_TO_EVERYONE,{at},,,,,\n\
         @nobody,{video},who?,PUBLIC_TO_EVERYONE,{at},,,,,\n\
         @ada.public,{video},paid,SELF_ONLY,{at},,,yes,,\n\
         @ada.public,{video},disclosed,PUBLIC_TO_EVERYONE,{at},,,,,yes\n\
         @ada.public,{video},when?,PUBLIC_TO_EVERYONE,next tuesday,,,,,\n\
         @ada.public,{video},local time,PUBLIC_TO_EVERYONE,{local},Europe/Berlin,,,,\n",
        id = ada["id"].as_str().unwrap(),
    );

    let (status, dry) = app.csv("?dry_run=true", &csv).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["format"], "csv");
    assert_eq!(
        (
            &dry["total"],
            &dry["valid"],
            &dry["invalid"],
            &dry["created"]
        ),
        (&json!(8), &json!(2), &json!(6), &json!(0)),
        "{dry:#}"
    );
    assert_eq!(app.post_count().await, 0, "a dry run stores no post");
    let first = &rows(&dry)[0];
    assert_eq!(first["status"], "valid");
    assert_eq!(first["line"], 2);
    assert_eq!(first["account_id"], ada["id"], "@username resolves");
    assert_eq!(first["fields"]["caption"], "Launch, finally");
    assert!(
        first["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("import:")
    );
    assert!(first["post_id"].is_null());

    let missing = error_of(&dry, 2);
    assert_eq!(missing["field"], "privacy_level");
    assert_eq!(missing["code"], "required");
    let long = error_of(&dry, 3);
    assert_eq!(long["field"], "caption");
    assert_eq!(long["code"], "too_long");
    assert_eq!(long["measured"]["value"], 2_202, "UTF-16 units: {long}");
    assert_eq!(long["limit"]["value"], 2_200);
    assert!(
        long["message"].as_str().unwrap().starts_with("caption"),
        "{long}"
    );
    let nobody = error_of(&dry, 4);
    assert_eq!(nobody["field"], "account");
    assert_eq!(nobody["code"], "not_found");
    let branded = error_of(&dry, 5);
    assert_eq!(branded["field"], "privacy_level");
    assert_eq!(branded["code"], "branded_content_private");
    assert!(
        branded["message"]
            .as_str()
            .unwrap()
            .contains(tokpost_core::BRANDED_CONTENT_NOT_PRIVATE)
    );
    let disclosure = error_of(&dry, 6);
    assert_eq!(disclosure["field"], "commercial_disclosure");
    assert_eq!(disclosure["code"], "disclosure_without_choice");
    let time = error_of(&dry, 7);
    assert_eq!(time["field"], "scheduled_at");
    assert_eq!(time["measured"], "next tuesday");
    let local_row = &rows(&dry)[7];
    assert_eq!(local_row["status"], "valid", "{local_row}");

    let (status, real) = app.csv("", &csv).await;
    assert_eq!(status, StatusCode::OK, "{real}");
    assert_eq!(
        (&real["created"], &real["existing"], &real["invalid"]),
        (&json!(2), &json!(0), &json!(6))
    );
    assert_eq!(app.post_count().await, 2, "only the valid rows are created");
    let post_id = rows(&real)[0]["post_id"].as_str().unwrap();
    let post = app
        .store
        .post(post_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        post.scheduled_at.at().to_string(),
        rows(&real)[0]["scheduled_at"]
    );
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let expected = local
        .replace(' ', "T")
        .parse::<jiff::civil::DateTime>()
        .unwrap()
        .to_zoned(berlin)
        .unwrap()
        .timestamp();
    assert_eq!(
        rows(&real)[7]["scheduled_at"],
        json!(expected),
        "the local time was read in Europe/Berlin"
    );

    let (status, again) = app.csv("", &csv).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&again["created"], &again["existing"]),
        (&json!(0), &json!(2)),
        "the same file again creates nothing new"
    );
    assert_eq!(rows(&again)[0]["post_id"], rows(&real)[0]["post_id"]);
    assert_eq!(app.post_count().await, 2);
}

#[tokio::test]
async fn a_json_import_takes_rows_with_photo_urls_and_its_own_keys() {
    let app = App::start().await;
    app.connect("ada.public").await;
    let video = app.upload("ok_720x1280_30fps_4s.mp4").await;
    let at = app.ahead(5);
    let body = json!({"dry_run": true, "rows": [
        {"account": "ada.public", "media_url": [format!("{VERIFIED}a.jpg"), format!("{VERIFIED}b.jpg")],
         "title": "Two", "description": "photos", "privacy_level": "MUTUAL_FOLLOW_FRIENDS",
         "scheduled_at": at, "allow_comment": true},
        {"account": "ada.public", "media_id": video, "caption": "mine", "privacy_level": "SELF_ONLY",
         "scheduled_at": at, "idempotency_key": "campaign-7"},
        {"account": "ada.public", "media_url": "https://elsewhere.example.net/v.mp4", "privacy_level": "SELF_ONLY"},
        {"account": "ada.public", "media_id": video, "caption": "x", "title": "not for videos", "kind": "video", "privacy_level": "SELF_ONLY"},
        {"account": "ada.public", "media_id": video, "privacy_level": "SELF_ONLY", "colour": "red", "allow_duet": "perhaps"},
    ]});
    let (status, dry) = app
        .import("", Some("application/json"), body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["dry_run"], true, "the body's dry_run");
    assert_eq!(dry["format"], "json");
    let photo = &rows(&dry)[0];
    assert_eq!(photo["status"], "valid", "{photo}");
    assert_eq!(photo["kind"], "photo");
    assert_eq!(photo["line"], Value::Null);
    assert_eq!(rows(&dry)[1]["idempotency_key"], "campaign-7");
    let unverified = error_of(&dry, 3);
    assert_eq!(unverified["field"], "media_url");
    assert_eq!(unverified["code"], "url_not_verified");
    assert_eq!(error_of(&dry, 4)["field"], "title");
    let errors: Vec<&Value> = rows(&dry)[4]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["field"])
        .collect();
    assert_eq!(
        errors,
        [&json!("colour"), &json!("allow_duet")],
        "every cell"
    );
    assert_eq!(app.post_count().await, 0);

    // A bare array, sniffed without a content type; the row's own key is kept.
    let rows_only = body["rows"].clone();
    let (status, real) = app.import("", None, rows_only.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{real}");
    assert_eq!(real["created"], 2);
    let by_key = rows(&real)[1]["post_id"].as_str().unwrap();
    let shown = app
        .store
        .post(by_key.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.idempotency_key.unwrap().as_str(), "campaign-7");
    let (_, again) = app
        .import("?dry_run=false", None, rows_only.to_string())
        .await;
    assert_eq!(again["existing"], 2);
    assert_eq!(app.post_count().await, 2);
}

#[tokio::test]
async fn quoted_csv_cells_with_commas_newlines_and_a_bom_become_the_caption() {
    let app = App::start().await;
    app.connect("ada.public").await;
    let video = app.upload("ok_720x1280_30fps_4s.mp4").await;
    let csv = format!(
        "\u{feff}Account,Media ID,Caption,Privacy Level\r\nAda (public),{video},\"Line one, with a comma\r\n\"\"Line two\"\" #tokpost\",SELF_ONLY\r\n"
    );
    let (status, report) = app.csv("", &csv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 1, "{report:#}");
    let id = rows(&report)[0]["post_id"].as_str().unwrap();
    let post = app.store.post(id.parse().unwrap()).await.unwrap().unwrap();
    match post.spec.content {
        tokpost_core::PostContent::Video { caption, .. } => {
            assert_eq!(
                caption.as_str(),
                "Line one, with a comma\r\n\"Line two\" #tokpost"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A whole-file refusal: query, content type, body, status, code, field.
type Refusal = (
    &'static str,
    Option<&'static str>,
    String,
    StatusCode,
    &'static str,
    Option<&'static str>,
);

#[tokio::test]
async fn whole_files_that_cannot_be_imported_are_refused_naming_the_limit() {
    let app = App::start().await;
    let mut many = String::from("account,media_id\n");
    for _ in 0..501 {
        many.push_str("a,b\n");
    }
    let huge = format!("account,caption\na,\"{}\"\n", "x".repeat(2 * 1024 * 1024));
    let cases: Vec<Refusal> = vec![
        (
            "",
            Some("text/csv"),
            many,
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_rows",
            Some("rows"),
        ),
        (
            "",
            Some("text/csv"),
            huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            Some("body"),
        ),
        (
            "",
            Some("image/png"),
            "x".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Some("Content-Type"),
        ),
        (
            "",
            Some("application/json"),
            "[{".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            "",
            Some("application/json"),
            "{\"rows\": 1}".into(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            Some("rows"),
        ),
        (
            "",
            Some("text/csv"),
            "account,colour\na,red\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_column",
            Some("colour"),
        ),
        (
            "",
            Some("text/csv"),
            "account,media_id\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_rows",
            Some("rows"),
        ),
        (
            "",
            None,
            String::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_rows",
            Some("rows"),
        ),
        (
            "?dry_run=perhaps",
            Some("text/csv"),
            "account\na\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed",
            Some("dry_run"),
        ),
        (
            "?time_zone=Mars/Olympus",
            Some("text/csv"),
            "account\na\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed",
            Some("time_zone"),
        ),
    ];
    for (query, content_type, body, status, code, field) in cases {
        let (got, answer) = app.import(query, content_type, body).await;
        assert_eq!(got, status, "{code}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{answer}");
        match code {
            "too_many_rows" => {
                assert_eq!(answer["error"]["limit"], 500);
                assert_eq!(answer["error"]["measured"], 501);
            }
            "batch_too_large" => {
                assert_eq!(answer["error"]["limit"], 2 * 1024 * 1024);
                assert!(answer["error"]["measured"].as_u64().unwrap() > 2 * 1024 * 1024);
            }
            _ => {}
        }
    }
    let unauthenticated = app
        .http
        .post(app.url("/v1/posts/batch"))
        .header("content-type", "text/csv")
        .body("account\na\n")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_count().await, 0);
}
