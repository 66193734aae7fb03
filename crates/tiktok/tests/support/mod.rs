//! Shared helpers for the client's tests: a client pointed at a local mock server and the
//! documented envelope shapes.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // shared by several test crates; helpers may fail loudly

use std::time::Duration;

use clock::ManualClock;
use secrecy::SecretString;
use serde_json::{Value, json};
use tiktok::{AccessToken, TikTokClient, TikTokConfig};
use url::Url;
use wiremock::MockServer;

/// A `log_id` in the documented shape (14 timestamp digits + 20 hex).
pub const LOG_ID: &str = "20240829190020EBE0D84CCEA6DE000CB6";
pub const CLIENT_SECRET: &str = "client-secret-XYZZY";
pub const ACCESS_TOKEN: &str = "act.example12345Example12345Example";

pub fn config_for(server: &MockServer) -> TikTokConfig {
    let base = Url::parse(&server.uri()).unwrap();
    let mut config = TikTokConfig::production(
        "client-key-1",
        SecretString::from(CLIENT_SECRET),
        "https://tokpost.example/callback/",
    )
    .unwrap()
    .with_base_urls(base.clone(), base);
    config.request_timeout = Duration::from_secs(20);
    config.upload_chunk_timeout = Duration::from_secs(20);
    config
}

pub fn client_for(server: &MockServer) -> TikTokClient {
    TikTokClient::new(config_for(server), ManualClock::at_fixed_start().shared()).unwrap()
}

pub fn token() -> AccessToken {
    AccessToken::new(ACCESS_TOKEN)
}

pub fn ok_envelope(data: Value) -> Value {
    json!({"data": data, "error": {"code": "ok", "message": "", "log_id": LOG_ID}})
}

pub fn error_envelope(code: &str, message: &str) -> Value {
    json!({"data": {}, "error": {"code": code, "message": message, "log_id": LOG_ID}})
}
