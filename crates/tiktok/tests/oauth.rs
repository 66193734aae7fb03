//! Login Kit against a mock TikTok: the consent URL, code exchange, refresh with rotation,
//! revoke, and every documented OAuth error with HTTP 200 and with 4xx.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // helpers of a test crate may fail loudly

mod support;

use std::time::Duration;

use rstest::rstest;
use serde_json::json;
use support::{ACCESS_TOKEN, CLIENT_SECRET, LOG_ID, client_for};
use tiktok::catalog::Occurrence;
use tiktok::oauth::AuthorizeRequest;
use tiktok::{AccessToken, PkceVerifier, RefreshToken, Scope};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn documented_token_answer(
    refresh_token: &str,
    access_expires: u64,
    refresh_expires: u64,
) -> serde_json::Value {
    json!({
        "access_token": ACCESS_TOKEN,
        "expires_in": access_expires,
        "open_id": "afd97af1-b87b-48b9-ac98-410aghda5344",
        "refresh_expires_in": refresh_expires,
        "refresh_token": refresh_token,
        "scope": "user.info.basic,video.list",
        "token_type": "Bearer"
    })
}

#[tokio::test]
async fn the_authorize_url_carries_every_parameter_with_comma_separated_scopes_and_hex_pkce() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    let challenge = verifier.challenge();
    let url = client
        .authorize_url(&AuthorizeRequest {
            scopes: &[
                Scope::UserInfoBasic,
                Scope::VideoPublish,
                Scope::VideoUpload,
            ],
            state: "csrf-123",
            disable_auto_auth: Some(true),
            pkce: Some(&challenge),
        })
        .unwrap();
    assert_eq!(url.path(), "/v2/auth/authorize/");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let expected: Vec<(String, String)> = [
        ("client_key", "client-key-1"),
        ("scope", "user.info.basic,video.publish,video.upload"),
        ("redirect_uri", "https://tokpost.example/callback/"),
        ("state", "csrf-123"),
        ("response_type", "code"),
        ("disable_auto_auth", "1"),
        (
            "code_challenge",
            "13d31e961a1ad8ec2f16b10c4c982e0876a878ad6df144566ee1894acb70f9c3",
        ),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(pairs, expected);
    assert!(!url.as_str().contains(CLIENT_SECRET));
}

#[tokio::test]
async fn a_web_authorize_url_leaves_out_pkce_and_auto_auth() {
    let server = MockServer::start().await;
    let url = client_for(&server)
        .authorize_url(&AuthorizeRequest {
            scopes: &[Scope::VideoUpload],
            state: "s",
            disable_auto_auth: None,
            pkce: None,
        })
        .unwrap();
    let keys: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(
        keys,
        [
            "client_key",
            "scope",
            "redirect_uri",
            "state",
            "response_type"
        ]
    );
}

#[tokio::test]
async fn code_exchange_posts_the_form_and_keeps_lifetimes_scopes_and_open_id() {
    let server = MockServer::start().await;
    let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("client_key=client-key-1"))
        .and(body_string_contains(
            format!("client_secret={CLIENT_SECRET}").as_str(),
        ))
        .and(body_string_contains("code=abc+def%2Fghi"))
        .and(body_string_contains(
            "redirect_uri=https%3A%2F%2Ftokpost.example%2Fcallback%2F",
        ))
        .and(body_string_contains(
            format!("code_verifier={}", verifier.expose_secret()).as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(documented_token_answer(
                "rft.example1",
                86_400,
                31_536_000,
            )),
        )
        .expect(1)
        .mount(&server)
        .await;
    let grant = client_for(&server)
        .exchange_code("abc def/ghi", Some(&verifier))
        .await
        .unwrap();
    assert_eq!(grant.access_token.expose_secret(), ACCESS_TOKEN);
    assert_eq!(grant.refresh_token.expose_secret(), "rft.example1");
    assert_eq!(grant.expires_in, Duration::from_secs(86_400));
    assert_eq!(grant.refresh_expires_in, Duration::from_secs(31_536_000));
    assert_eq!(
        grant.open_id.as_str(),
        "afd97af1-b87b-48b9-ac98-410aghda5344"
    );
    assert_eq!(grant.scopes, vec![Scope::UserInfoBasic, Scope::VideoList]);
    assert!(!grant.has_scope(&Scope::VideoPublish));
}

#[tokio::test]
async fn refresh_returns_the_rotated_refresh_token_and_the_newer_docs_lifetimes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rft.old"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(documented_token_answer(
                "rft.rotated",
                7_200,
                15_552_000,
            )),
        )
        .expect(1)
        .mount(&server)
        .await;
    let grant = client_for(&server)
        .refresh(&RefreshToken::new("rft.old"))
        .await
        .unwrap();
    assert_eq!(grant.refresh_token.expose_secret(), "rft.rotated");
    assert_eq!(grant.expires_in, Duration::from_secs(7_200));
    assert_eq!(grant.refresh_expires_in, Duration::from_secs(15_552_000));
}

#[rstest]
#[case::empty_body("")]
#[case::empty_object("{}")]
#[tokio::test]
async fn revoke_accepts_both_documented_success_bodies(#[case] body: &str) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/revoke/"))
        .and(body_string_contains(
            format!("token={ACCESS_TOKEN}").as_str(),
        ))
        .and(body_string_contains(
            format!("client_secret={CLIENT_SECRET}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .expect(1)
        .mount(&server)
        .await;
    client_for(&server)
        .revoke(&AccessToken::new(ACCESS_TOKEN))
        .await
        .unwrap();
}

#[rstest]
#[case::access_denied("access_denied")]
#[case::invalid_client("invalid_client")]
#[case::invalid_grant("invalid_grant")]
#[case::invalid_request("invalid_request")]
#[case::invalid_scope("invalid_scope")]
#[case::unauthorized_client("unauthorized_client")]
#[case::unsupported_grant_type("unsupported_grant_type")]
#[case::unsupported_response_type("unsupported_response_type")]
#[case::server_error("server_error")]
#[case::temporarily_unavailable("temporarily_unavailable")]
#[tokio::test]
async fn every_oauth_error_is_detected_by_the_body_with_http_200_and_with_400(
    #[case] error: &str,
    #[values(200, 400)] status: u16,
) {
    let server = MockServer::start().await;
    let body = json!({"error": error, "error_description": "The request parameters are malformed.", "log_id": LOG_ID}).to_string();
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body.clone(), "application/json"))
        .mount(&server)
        .await;
    let failure = client_for(&server)
        .refresh(&RefreshToken::new("rft.x"))
        .await
        .unwrap_err();
    let entry = failure
        .classification
        .entry()
        .expect("documented OAuth errors are in the catalog");
    assert!(entry.answers_to(error));
    assert_eq!(failure.occurrence, Occurrence::OauthError);
    assert_eq!(failure.code.as_deref(), Some(error));
    assert_eq!(
        failure.message.as_deref(),
        Some("The request parameters are malformed.")
    );
    assert_eq!(failure.log_id.as_deref(), Some(LOG_ID));
    assert_eq!(failure.http_status, Some(status));
    assert_eq!(failure.raw_body, body);
}

#[tokio::test]
async fn invalid_grant_on_refresh_means_reconnect_and_is_never_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"error": "invalid_grant", "error_description": "Refresh token is invalid.", "log_id": LOG_ID})))
        .mount(&server)
        .await;
    let failure = client_for(&server)
        .refresh(&RefreshToken::new("rft.x"))
        .await
        .unwrap_err();
    assert_eq!(failure.retry_policy(), tiktok::RetryPolicy::Never);
    assert_eq!(
        failure.classification.entry().unwrap().action,
        Some(tiktok::catalog::Action::Reconnect)
    );
}

#[rstest]
#[case::html_502(502, "<html>bad gateway</html>", "http_5xx")]
#[case::missing_expiry(
    200,
    r#"{"access_token":"act.LEAK","refresh_token":"rft.LEAK","open_id":"o","scope":""}"#,
    "malformed_response"
)]
#[case::not_json(200, "act.LEAK", "malformed_response")]
#[case::negative_lifetime(200, r#"{"access_token":"act.LEAK","expires_in":-5,"open_id":"o","refresh_expires_in":1,"refresh_token":"rft.LEAK","scope":""}"#, "malformed_response")]
#[tokio::test]
async fn malformed_token_answers_fail_without_ever_exposing_a_token(
    #[case] status: u16,
    #[case] body: &str,
    #[case] expected: &str,
) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(ResponseTemplate::new(status).set_body_string(body))
        .mount(&server)
        .await;
    let failure = client_for(&server)
        .exchange_code("c", None)
        .await
        .unwrap_err();
    assert_eq!(failure.classification.id(), expected);
    for shown in [
        format!("{failure}"),
        format!("{failure:?}"),
        failure.raw_body.clone(),
    ] {
        assert!(!shown.contains("LEAK"), "{shown}");
    }
}
