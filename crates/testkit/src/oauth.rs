//! The sandbox's OAuth round trip: its consent page answered for a chosen creator (the sandbox
//! reads `sandbox_creator` from the authorize URL), then, for a client that connects on its own,
//! the code exchanged for tokens.

use reqwest::header::LOCATION;
use tiktok::{AuthorizationCallback, AuthorizeRequest, Scope, TikTokClient, TokenGrant};

/// An HTTP client that does not follow redirects, so that each step's answer can be read.
#[must_use]
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// Opens `authorize_url` on the sandbox as `creator` would, granting every scope asked for, and
/// returns where the sandbox sends the browser back (the app's callback with `code` and
/// `state`). Panics when the sandbox does not answer with a redirect.
pub async fn consent(http: &reqwest::Client, authorize_url: &str, creator: &str) -> url::Url {
    let mut url = url::Url::parse(authorize_url)
        .unwrap_or_else(|e| panic!("authorize URL {authorize_url}: {e}"));
    url.query_pairs_mut()
        .append_pair("sandbox_creator", creator);
    let answer = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the sandbox's consent page: {e}"));
    assert!(
        answer.status().is_redirection(),
        "the sandbox's consent page answered {} instead of a redirect",
        answer.status()
    );
    let location = answer
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .expect("a Location header");
    url::Url::parse(location).unwrap_or_else(|e| panic!("callback URL {location}: {e}"))
}

/// Connects `creator` as a client of its own: the authorize URL for `scopes`, the consent, the
/// code exchange. The grant's tokens are the creator's.
pub async fn grant(client: &TikTokClient, creator: &str, scopes: &[Scope]) -> TokenGrant {
    let authorize = client
        .authorize_url(&AuthorizeRequest {
            scopes,
            state: "st-testkit",
            disable_auto_auth: Some(true),
            pkce: None,
        })
        .expect("an authorize URL");
    let callback = consent(&http(), authorize.as_str(), creator).await;
    let callback = AuthorizationCallback::from_query(callback.query().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the sandbox's callback: {e}"));
    client
        .exchange_code(&callback.code, None)
        .await
        .unwrap_or_else(|e| panic!("exchanging the code for {creator}: {e}"))
}

/// The scopes a publishing creator grants: their profile, direct posts and inbox uploads.
pub const PUBLISHING: &[Scope] = &[
    Scope::UserInfoBasic,
    Scope::VideoPublish,
    Scope::VideoUpload,
];
