//! Test harness: starts the sandbox on port 0 with a manual clock and talks to it over HTTP
//! like a real client (authorize redirect, token exchange, bearer calls, chunk PUTs), plus tiny
//! loopback servers for PULL_FROM_URL media and webhook delivery.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use clock::ManualClock;
use reqwest::header;
use serde_json::Value;
use tiktok_sandbox::{
    AppConfig, ClientSecret, Delay, PublishedRecord, Sandbox, SandboxConfig, SandboxHandle,
};
use tokio::net::TcpListener;

pub const MIB: usize = 1_048_576;
pub const ADA: &str = "ada.public";
pub const BO: &str = "bo.private";
pub const CY: &str = "cy.banned";
pub const DI: &str = "di.limited";
pub const ED: &str = "ed.quiet";
pub const ALL_SCOPES: &str = "user.info.basic,video.publish,video.upload";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8765/auth/tiktok/callback";

/// Defaults plus what tests need: loopback pulls allowed, deterministic delays.
pub fn test_config() -> SandboxConfig {
    SandboxConfig {
        allow_insecure_loopback_pull: true,
        processing_delay: Delay::Fixed { ms: 10_000 },
        moderation_delay: Delay::Fixed { ms: 60_000 },
        ..SandboxConfig::default()
    }
}

pub struct Env {
    pub clock: Arc<ManualClock>,
    pub sandbox: SandboxHandle,
    pub http: reqwest::Client,
    pub app: AppConfig,
}

pub async fn start(config: SandboxConfig) -> Env {
    start_on(config, false).await
}

/// Like [`start`], but the sandbox may move its clock (admin `clock/advance`).
pub async fn start_with_movable_clock(config: SandboxConfig) -> Env {
    start_on(config, true).await
}

async fn start_on(config: SandboxConfig, movable: bool) -> Env {
    let clock = ManualClock::at_fixed_start();
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upload = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = config.apps[0].clone();
    let sandbox = if movable {
        Sandbox::start_with_manual_clock(config, Arc::clone(&clock), api, Some(upload)).await
    } else {
        Sandbox::start(config, clock.shared(), api, Some(upload)).await
    }
    .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        clock,
        sandbox,
        http,
        app,
    }
}

pub async fn start_default() -> Env {
    start(test_config()).await
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub open_id: String,
    pub body: Value,
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        self.sandbox.api_base_url().join(path).unwrap().to_string()
    }

    pub fn advance_secs(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    /// GET the authorize page (no redirect following) with the documented parameters.
    pub async fn authorize(
        &self,
        app: &AppConfig,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut query: Vec<(&str, &str)> = vec![
            ("client_key", &app.client_key),
            ("scope", scope),
            ("redirect_uri", REDIRECT_URI),
            ("state", "csrf-state-42"),
            ("response_type", "code"),
        ];
        query.extend_from_slice(extra);
        self.http
            .get(
                self.sandbox
                    .authorize_base_url()
                    .join("v2/auth/authorize/")
                    .unwrap(),
            )
            .query(&query)
            .send()
            .await
            .unwrap()
    }

    /// The callback's query parameters (URL-decoded) after an authorize redirect.
    pub async fn callback(
        &self,
        app: &AppConfig,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> HashMap<String, String> {
        let response = self.authorize(app, scope, extra).await;
        assert!(
            response.status().is_redirection(),
            "authorize answered {}",
            response.status()
        );
        let location = response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(location.starts_with(REDIRECT_URI), "{location}");
        url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    pub async fn code(&self, app: &AppConfig, creator: &str, scope: &str) -> String {
        self.callback(app, scope, &[("sandbox_creator", creator)])
            .await["code"]
            .clone()
    }

    pub async fn token_call(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value, HeaderMap) {
        let response = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json::<Value>().await.unwrap();
        (status, body, headers)
    }

    pub async fn exchange(&self, app: &AppConfig, code: &str) -> (StatusCode, Value) {
        let (status, body, _) = self
            .token_call(
                "v2/oauth/token/",
                &[
                    ("client_key", &app.client_key),
                    ("client_secret", app.client_secret.expose()),
                    ("code", code),
                    ("grant_type", "authorization_code"),
                    ("redirect_uri", REDIRECT_URI),
                ],
            )
            .await;
        (status, body)
    }

    pub async fn refresh(&self, app: &AppConfig, refresh_token: &str) -> (StatusCode, Value) {
        let (status, body, _) = self
            .token_call(
                "v2/oauth/token/",
                &[
                    ("client_key", &app.client_key),
                    ("client_secret", app.client_secret.expose()),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
            )
            .await;
        (status, body)
    }

    /// Authorize redirect + code exchange, like a real client.
    pub async fn login_with(&self, app: &AppConfig, creator: &str, scope: &str) -> Tokens {
        let code = self.code(app, creator, scope).await;
        let (status, body) = self.exchange(app, &code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Tokens {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            open_id: body["open_id"].as_str().unwrap().to_owned(),
            body,
        }
    }

    pub async fn login(&self, creator: &str) -> Tokens {
        let app = self.app.clone();
        self.login_with(&app, creator, ALL_SCOPES).await
    }

    /// A bearer POST; returns the status, the parsed body and its raw text.
    pub async fn call_raw(
        &self,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, String) {
        let mut request = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "application/json; charset=UTF-8");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, value, text)
    }

    pub async fn call(&self, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, value, _) = self.call_raw(token, path, body).await;
        (status, value)
    }

    pub async fn status(&self, token: &str, publish_id: &str) -> Value {
        let (status, body) = self
            .call(
                token,
                "v2/post/publish/status/fetch/",
                Some(serde_json::json!({ "publish_id": publish_id })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["error"]["code"], "ok");
        body["data"].clone()
    }

    pub async fn put_chunk(
        &self,
        upload_url: &str,
        bytes: Vec<u8>,
        first: usize,
        total: usize,
    ) -> reqwest::Response {
        let last = first + bytes.len() - 1;
        self.http
            .put(upload_url)
            .header(header::CONTENT_TYPE, "video/mp4")
            .header(
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{total}"),
            )
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// Video init for a FILE_UPLOAD of `size` bytes in one chunk (or `chunk` sized chunks).
    pub async fn init_file(
        &self,
        token: &str,
        privacy: &str,
        size: usize,
        chunk: usize,
    ) -> (StatusCode, Value) {
        self.call(
            token,
            "v2/post/publish/video/init/",
            Some(serde_json::json!({
                "post_info": { "privacy_level": privacy, "title": "hello #sandbox", "brand_content_toggle": false },
                "source_info": { "source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk, "total_chunk_count": size / chunk },
            })),
        )
        .await
    }

    /// Init + upload of a small valid MP4 in one chunk; returns the publish id.
    pub async fn post_small_video(&self, token: &str, privacy: &str) -> String {
        self.post_video_bytes(token, privacy, mp4_bytes(65536))
            .await
    }

    /// Init + upload of these bytes in one chunk (below 5 MiB); returns the publish id.
    pub async fn post_video_bytes(&self, token: &str, privacy: &str, bytes: Vec<u8>) -> String {
        let (status, body) = self
            .init_file(token, privacy, bytes.len(), bytes.len())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let upload_url = body["data"]["upload_url"].as_str().unwrap().to_owned();
        let response = self
            .put_chunk(&upload_url, bytes.clone(), 0, bytes.len())
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        body["data"]["publish_id"].as_str().unwrap().to_owned()
    }

    pub fn record(&self, publish_id: &str) -> PublishedRecord {
        self.sandbox
            .published()
            .into_iter()
            .find(|r| r.publish_id == publish_id)
            .unwrap_or_else(|| panic!("{publish_id} not in published()"))
    }

    /// Waits (real time, generous bound) until background work (a pull) reaches a state.
    pub async fn wait_for(
        &self,
        publish_id: &str,
        what: impl Fn(&PublishedRecord) -> bool,
    ) -> PublishedRecord {
        for _ in 0..1000 {
            let record = self.record(publish_id);
            if what(&record) {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{publish_id} never reached the expected state: {:?}",
            self.record(publish_id)
        );
    }
}

pub fn second_app(audited: bool) -> AppConfig {
    AppConfig {
        client_key: "sbxsecond00000002".to_owned(),
        client_secret: ClientSecret::new("second-app-secret"),
        audited,
        ..AppConfig::default()
    }
}

const OK_MP4: &[u8] = include_bytes!("../fixtures/ok_720x1280_30fps_4s.mp4");
const JPEG: &[u8] = include_bytes!("../fixtures/photo_1080.jpg");
const PNG: &[u8] = include_bytes!("../fixtures/photo.png");

/// A fixture file's bytes (`tests/fixtures/`).
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}
pub const JPEG_LEN: u64 = JPEG.len() as u64;

/// A real, accepted MP4 (720x1280, 30 fps, 4 s, moov first) padded with a trailing `free` box
/// to exactly `len` bytes, so uploads of any size still pass the media probe.
pub fn mp4_bytes(len: usize) -> Vec<u8> {
    let mut bytes = OK_MP4.to_vec();
    let padding = len
        .checked_sub(bytes.len())
        .filter(|p| *p >= 8)
        .expect("len too small for the fixture");
    bytes.extend_from_slice(&u32::try_from(padding).unwrap().to_be_bytes());
    bytes.extend_from_slice(b"free");
    bytes.resize(len, 0);
    bytes
}

/// A real 1080x1080 JPEG.
pub fn jpeg_bytes() -> Vec<u8> {
    JPEG.to_vec()
}

/// A real PNG (TikTok does not take PNG photos).
pub fn png_bytes() -> Vec<u8> {
    PNG.to_vec()
}

async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A loopback media host: `/media/video.mp4`, `/media/photo.jpg`, `/media/photo.png`,
/// `/media/not-video.txt`, `/media/moved` (302), `/media/missing` (404) and `/media/hang`
/// (answers headers, then never finishes the body).
pub async fn media_server() -> String {
    let router = Router::new()
        .route("/media/video.mp4", get(|| async { mp4_bytes(200_000) }))
        .route("/media/photo.jpg", get(|| async { jpeg_bytes() }))
        .route("/media/photo.png", get(|| async { png_bytes() }))
        .route(
            "/media/not-video.txt",
            get(|| async { "plain text".repeat(100) }),
        )
        .route(
            "/media/moved",
            get(|| async { Redirect::temporary("/media/video.mp4") }),
        )
        .route("/media/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/media/hang",
            get(|| async {
                let stream = futures_util::stream::once(async {
                    Ok::<_, std::io::Error>(bytes::Bytes::from_static(&OK_MP4[..1000]))
                })
                .chain(futures_util::stream::pending());
                Body::from_stream(stream).into_response()
            }),
        );
    serve(router).await
}

use futures_util::StreamExt as _;

/// A config whose app has the media host verified as a URL prefix.
pub fn config_with_media(media_base: &str) -> SandboxConfig {
    let mut config = test_config();
    config.apps[0]
        .verified_url_prefixes
        .push(format!("{media_base}/media/"));
    config
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub accepted: bool,
    pub signature: String,
    pub body: String,
}

/// A webhook receiver that answers 500 to the first `failures` deliveries, then 200.
pub async fn webhook_sink(failures: usize) -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let received: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let attempts = Arc::new(Mutex::new(0usize));
    let store = Arc::clone(&received);
    let router = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let store = Arc::clone(&store);
            let attempts = Arc::clone(&attempts);
            async move {
                let mut count = attempts.lock().unwrap();
                *count += 1;
                let accepted = *count > failures;
                let signature = headers
                    .get("tiktok-signature")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                store.lock().unwrap().push(Delivery {
                    accepted,
                    signature,
                    body,
                });
                if accepted {
                    Response::new(Body::empty())
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
            }
        }),
    );
    (format!("{}/hook", serve(router).await), received)
}

/// Accepted deliveries, once at least `count` arrived.
pub async fn wait_for_deliveries(store: &Arc<Mutex<Vec<Delivery>>>, count: usize) -> Vec<Delivery> {
    for _ in 0..1000 {
        let current: Vec<Delivery> = store
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.accepted)
            .cloned()
            .collect();
        if current.len() >= count {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "only {} webhook deliveries arrived",
        store.lock().unwrap().len()
    );
}

/// Every attempt (accepted or refused), once at least `count` were made.
pub async fn wait_for_attempts(store: &Arc<Mutex<Vec<Delivery>>>, count: usize) -> Vec<Delivery> {
    for _ in 0..1000 {
        let current = store.lock().unwrap().clone();
        if current.len() >= count {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "only {} webhook deliveries arrived",
        store.lock().unwrap().len()
    );
}
