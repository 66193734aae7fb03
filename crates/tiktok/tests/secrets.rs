//! No secret-bearing type shows its secret in `Debug` (or `Display` where it has one).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // helpers of a test crate may fail loudly

use std::time::Duration;

use secrecy::SecretString;
use tiktok::oauth::AuthorizationCallback;
use tiktok::{
    AccessToken, OpenId, PkceVerifier, RefreshToken, Scope, TikTokClient, TikTokConfig, TokenGrant,
    UploadUrl,
};
use url::Url;

const SECRET: &str = "SuperSecretValue0123456789abcdefSuperSecretValue";

#[test]
fn debug_of_every_secret_bearing_type_hides_the_secret() {
    let config =
        TikTokConfig::production("key", SecretString::from(SECRET), "https://x/cb").unwrap();
    let client = TikTokClient::new(
        config.clone(),
        clock::ManualClock::at_fixed_start().shared(),
    )
    .unwrap();
    let grant = TokenGrant {
        access_token: AccessToken::new(SECRET),
        expires_in: Duration::from_secs(7200),
        refresh_token: RefreshToken::new(SECRET),
        refresh_expires_in: Duration::from_secs(15_552_000),
        open_id: OpenId::new("open-id"),
        scopes: vec![Scope::VideoPublish],
    };
    let callback = AuthorizationCallback::from_query(&format!("code={SECRET}&state=s")).unwrap();
    let upload_url = UploadUrl::new(
        Url::parse(&format!(
            "https://open-upload.tiktokapis.com/video/?upload_id=1&upload_token={SECRET}"
        ))
        .unwrap(),
    );
    let shown = [
        format!("{config:?}"),
        format!("{client:?}"),
        format!("{:?}", AccessToken::new(SECRET)),
        format!("{:?}", RefreshToken::new(SECRET)),
        format!("{grant:?}"),
        format!("{:?}", PkceVerifier::new(SECRET).unwrap()),
        format!("{callback:?}"),
        format!("{upload_url:?}"),
    ];
    for text in shown {
        assert!(!text.contains(SECRET), "secret leaked: {text}");
        assert!(text.contains("REDACTED"), "no redaction marker: {text}");
    }
}
