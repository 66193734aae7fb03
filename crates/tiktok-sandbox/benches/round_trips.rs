//! What one request costs the sandbox, over real loopback HTTP: a status fetch (lock, lazy
//! status computation, envelope), and a full 11 MiB two-chunk upload (streaming to disk, then
//! the media probe on the finished file).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // benchmark setup

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use tiktok_sandbox::{RateLimits, Sandbox, SandboxConfig, SandboxHandle};

const MIB: usize = 1_048_576;
const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";

fn padded_mp4(len: usize) -> Vec<u8> {
    let mut bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ok_720x1280_30fps_4s.mp4"
    ))
    .unwrap();
    let padding = len - bytes.len();
    bytes.extend_from_slice(&u32::try_from(padding).unwrap().to_be_bytes());
    bytes.extend_from_slice(b"free");
    bytes.resize(len, 0);
    bytes
}

struct Bench {
    sandbox: SandboxHandle,
    http: reqwest::Client,
    token: String,
}

impl Bench {
    async fn start() -> Self {
        let mut config = SandboxConfig {
            rate_limits: RateLimits {
                creator_info: None,
                video_init: None,
                inbox_init: None,
                content_init: None,
                status: None,
                cancel: None,
                user_info: None,
                video_list: None,
                video_query: None,
            },
            ..SandboxConfig::default()
        };
        // The bench posts far more than a day's cap; the cap is not what is measured.
        config.creators[0].daily_post_cap = u32::MAX;
        let app = config.apps[0].clone();
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upload = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let clock = clock::ManualClock::at_fixed_start();
        let sandbox = Sandbox::start(config, clock.shared(), api, Some(upload))
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let authorize = sandbox
            .authorize_base_url()
            .join("v2/auth/authorize/")
            .unwrap();
        let response = http
            .get(authorize)
            .query(&[
                ("client_key", app.client_key.as_str()),
                ("scope", "video.publish,video.upload"),
                ("redirect_uri", REDIRECT_URI),
                ("state", "s"),
                ("response_type", "code"),
                ("sandbox_creator", "ada.public"),
            ])
            .send()
            .await
            .unwrap();
        let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let token: Value = http
            .post(sandbox.api_base_url().join("v2/oauth/token/").unwrap())
            .form(&[
                ("client_key", app.client_key.as_str()),
                ("client_secret", app.client_secret.expose()),
                ("code", code.as_str()),
                ("grant_type", "authorization_code"),
                ("redirect_uri", REDIRECT_URI),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            token: token["access_token"].as_str().unwrap().to_owned(),
            sandbox,
            http,
        }
    }

    async fn call(&self, path: &str, body: Value) -> Value {
        self.http
            .post(self.sandbox.api_base_url().join(path).unwrap())
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn upload(&self, bytes: &[u8], chunk: usize) {
        let size = bytes.len();
        let init = self
            .call(
                "v2/post/publish/video/init/",
                json!({"post_info": {"privacy_level": "SELF_ONLY"},
                       "source_info": {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk, "total_chunk_count": size / chunk}}),
            )
            .await;
        let url = init["data"]["upload_url"].as_str().unwrap();
        let count = size / chunk;
        for index in 0..count {
            let first = index * chunk;
            let end = if index + 1 == count {
                size
            } else {
                first + chunk
            };
            let status = self
                .http
                .put(url)
                .header("Content-Type", "video/mp4")
                .header("Content-Range", format!("bytes {first}-{}/{size}", end - 1))
                .body(bytes[first..end].to_vec())
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_success(), "{status}");
        }
    }
}

fn round_trips(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bench = runtime.block_on(Bench::start());
    let publish_id = runtime.block_on(async {
        let init = bench
            .call(
                "v2/post/publish/video/init/",
                json!({"post_info": {"privacy_level": "SELF_ONLY"},
                       "source_info": {"source": "FILE_UPLOAD", "video_size": 65536, "chunk_size": 65536, "total_chunk_count": 1}}),
            )
            .await;
        init["data"]["publish_id"].as_str().unwrap().to_owned()
    });
    c.bench_function("status fetch round trip", |b| {
        b.iter(|| {
            runtime.block_on(bench.call(
                "v2/post/publish/status/fetch/",
                json!({"publish_id": publish_id}),
            ))
        });
    });
    let video = padded_mp4(11 * MIB);
    let mut group = c.benchmark_group("upload");
    group.throughput(Throughput::Bytes(video.len() as u64));
    group.sample_size(10);
    group.bench_function("11 MiB in two chunks, then probe", |b| {
        b.iter(|| runtime.block_on(bench.upload(&video, 5 * MIB)));
    });
    group.finish();
    runtime.block_on(bench.sandbox.shutdown());
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
