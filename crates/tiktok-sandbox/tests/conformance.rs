//! Conformance of the sandbox to tiktok-api.md, written from the document with raw HTTP (not
//! from the client crate). Section numbers refer to that document.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // helper functions of a test crate

mod common;

use common::*;
use reqwest::StatusCode;
use rstest::rstest;
use serde_json::{Value, json};
use tiktok_sandbox::{CreatorConfig, OAuthErrorStatus, SandboxConfig, TokenPolicy};

fn assert_log_id(value: &Value) {
    let log_id = value.as_str().unwrap();
    assert_eq!(log_id.len(), 34, "{log_id}");
    assert!(log_id[..14].chars().all(|c| c.is_ascii_digit()));
    assert!(
        log_id[14..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
    );
}

fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["data"].is_object(),
        "error answers carry a data object: {body}"
    );
    assert_log_id(&body["error"]["log_id"]);
}

// ---- §2.1 authorize ------------------------------------------------------------------------

#[tokio::test]
async fn authorize_redirects_back_with_code_granted_scopes_and_state() {
    let env = start_default().await;
    let app = env.app.clone();
    let callback = env
        .callback(
            &app,
            "user.info.basic,video.publish",
            &[("sandbox_creator", ADA)],
        )
        .await;
    assert_eq!(callback["state"], "csrf-state-42");
    assert_eq!(callback["scopes"], "user.info.basic,video.publish");
    assert!(!callback["code"].is_empty());
    assert!(!callback.contains_key("error"));
}

#[tokio::test]
async fn authorize_without_a_creator_choice_logs_in_the_first_creator() {
    let env = start_default().await;
    let app = env.app.clone();
    let callback = env.callback(&app, "video.publish", &[]).await;
    let (status, body) = env.exchange(&app, &callback["code"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["open_id"], env.sandbox.creators()[0].open_id);
}

#[tokio::test]
async fn an_extra_parameter_picks_the_creator_and_withholds_scopes() {
    let env = start_default().await;
    let app = env.app.clone();
    let callback = env
        .callback(
            &app,
            ALL_SCOPES,
            &[
                ("sandbox_creator", BO),
                ("sandbox_withhold", "video.publish"),
            ],
        )
        .await;
    assert_eq!(callback["scopes"], "user.info.basic,video.upload");
    let (_, body) = env.exchange(&app, &callback["code"]).await;
    assert_eq!(
        body["open_id"],
        env.sandbox.config().creator(BO).unwrap().open_id
    );
    assert_eq!(body["scope"], "user.info.basic,video.upload");
}

#[tokio::test]
async fn a_denied_authorization_redirects_with_access_denied_and_the_state() {
    let env = start_default().await;
    let app = env.app.clone();
    let callback = env
        .callback(&app, ALL_SCOPES, &[("sandbox_deny", "1")])
        .await;
    assert_eq!(callback["error"], "access_denied");
    assert_eq!(callback["state"], "csrf-state-42");
    assert!(!callback.contains_key("code"));
}

#[tokio::test]
async fn space_separated_scopes_are_an_invalid_scope() {
    let env = start_default().await;
    let app = env.app.clone();
    let callback = env
        .callback(&app, "user.info.basic video.publish", &[])
        .await;
    assert_eq!(callback["error"], "invalid_scope");
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_never_redirected_to() {
    let env = start_default().await;
    let response = env
        .http
        .get(env.url("v2/auth/authorize/"))
        .query(&[
            ("client_key", env.app.client_key.as_str()),
            ("scope", "video.publish"),
            ("redirect_uri", "https://evil.example.com/cb"),
            ("state", "s"),
            ("response_type", "code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn a_browser_sees_a_consent_page_listing_the_creators() {
    let env = start_default().await;
    let response = env
        .http
        .get(env.url("v2/auth/authorize/"))
        .header("Accept", "text/html,application/xhtml+xml")
        .query(&[
            ("client_key", env.app.client_key.as_str()),
            ("scope", "video.publish"),
            ("redirect_uri", REDIRECT_URI),
            ("state", "s"),
            ("response_type", "code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    for creator in CreatorConfig::demo_set() {
        assert!(page.contains(&creator.username), "{page}");
    }
    assert!(page.contains("sandbox_deny=1"));
}

// ---- §2.2–2.6 token, refresh, revoke -------------------------------------------------------

#[tokio::test]
async fn the_code_exchange_answers_a_flat_token_object_with_the_long_standing_lifetimes() {
    let env = start_default().await;
    let app = env.app.clone();
    let code = env.code(&app, ADA, ALL_SCOPES).await;
    let (status, body, headers) = env
        .token_call(
            "v2/oauth/token/",
            &[
                ("client_key", &app.client_key),
                ("client_secret", app.client_secret.expose()),
                ("code", &code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("data").is_none(), "not the v2 envelope: {body}");
    assert!(body["access_token"].as_str().unwrap().starts_with("act."));
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rft."));
    assert_eq!(body["expires_in"], 86_400);
    assert_eq!(body["refresh_expires_in"], 31_536_000);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], ALL_SCOPES);
    assert_eq!(
        body["open_id"],
        env.sandbox.config().creator(ADA).unwrap().open_id
    );
    assert_log_id(&serde_json::to_value(headers["x-tt-logid"].to_str().unwrap()).unwrap());
}

#[tokio::test]
async fn a_code_works_once() {
    let env = start_default().await;
    let app = env.app.clone();
    let code = env.code(&app, ADA, ALL_SCOPES).await;
    assert_eq!(env.exchange(&app, &code).await.0, StatusCode::OK);
    let (_, body) = env.exchange(&app, &code).await;
    assert_eq!(body["error"], "invalid_grant");
    assert_log_id(&body["log_id"]);
}

#[tokio::test]
async fn a_code_expires() {
    let env = start_default().await;
    let app = env.app.clone();
    let code = env.code(&app, ADA, ALL_SCOPES).await;
    env.advance_secs(env.sandbox.config().auth_code_ttl_secs + 1);
    let (_, body) = env.exchange(&app, &code).await;
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "Authorization code is expired.");
}

#[tokio::test]
async fn a_code_sent_without_url_decoding_does_not_exist() {
    let env = start_default().await;
    let app = env.app.clone();
    let code = env.code(&app, ADA, ALL_SCOPES).await;
    let still_encoded: String = url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
    assert_ne!(
        still_encoded, code,
        "codes carry characters that need encoding"
    );
    let (_, body) = env.exchange(&app, &still_encoded).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn the_redirect_uri_of_the_exchange_must_match_the_authorize_request() {
    let env = start_default().await;
    let app = env.app.clone();
    let code = env.code(&app, ADA, ALL_SCOPES).await;
    let (_, body, _) = env
        .token_call(
            "v2/oauth/token/",
            &[
                ("client_key", &app.client_key),
                ("client_secret", app.client_secret.expose()),
                ("code", &code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", "http://127.0.0.1:8765/other"),
            ],
        )
        .await;
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "Redirect_uri is not matched with the uri when requesting code."
    );
}

#[rstest]
#[case::wrong_secret(Some("not-the-secret"), "invalid_client", StatusCode::UNAUTHORIZED)]
#[case::missing_secret(None, "invalid_request", StatusCode::BAD_REQUEST)]
#[tokio::test]
async fn client_credentials_are_checked_and_errors_are_flat_with_a_configurable_status(
    #[case] secret: Option<&str>,
    #[case] error: &str,
    #[case] status_when_4xx: StatusCode,
    #[values(OAuthErrorStatus::Http200, OAuthErrorStatus::Http4xx)] policy: OAuthErrorStatus,
) {
    let env = start(SandboxConfig {
        oauth_error_status: policy,
        ..test_config()
    })
    .await;
    let app = env.app.clone();
    let code = env.code(&app, ADA, ALL_SCOPES).await;
    let mut form = vec![
        ("client_key", app.client_key.as_str()),
        ("code", code.as_str()),
        ("grant_type", "authorization_code"),
        ("redirect_uri", REDIRECT_URI),
    ];
    if let Some(secret) = secret {
        form.push(("client_secret", secret));
    }
    let (status, body, _) = env.token_call("v2/oauth/token/", &form).await;
    assert_eq!(body["error"], error);
    assert!(body["error_description"].is_string());
    assert!(body.get("access_token").is_none());
    let expected = if policy == OAuthErrorStatus::Http200 {
        StatusCode::OK
    } else {
        status_when_4xx
    };
    assert_eq!(status, expected);
}

#[tokio::test]
async fn an_unknown_grant_type_is_unsupported() {
    let env = start_default().await;
    let app = env.app.clone();
    let (_, body, _) = env
        .token_call(
            "v2/oauth/token/",
            &[
                ("client_key", &app.client_key),
                ("client_secret", app.client_secret.expose()),
                ("grant_type", "password"),
            ],
        )
        .await;
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn with_always_rotating_tokens_a_refresh_kills_the_old_refresh_token() {
    let env = start(SandboxConfig {
        tokens: TokenPolicy::always_rotating(),
        ..test_config()
    })
    .await;
    let tokens = env.login(ADA).await;
    assert_eq!(tokens.body["expires_in"], 7_200);
    assert_eq!(tokens.body["refresh_expires_in"], 15_552_000);
    let app = env.app.clone();
    env.advance_secs(3_600);
    let (status, refreshed) = env.refresh(&app, &tokens.refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(refreshed["refresh_token"], tokens.refresh.as_str());
    assert_ne!(refreshed["access_token"], tokens.access.as_str());
    assert_eq!(
        refreshed["refresh_expires_in"],
        15_552_000 - 3_600,
        "rotation keeps the end date"
    );
    let (_, again) = env.refresh(&app, &tokens.refresh).await;
    assert_eq!(again["error"], "invalid_grant");
    let (status, _) = env
        .refresh(&app, refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_rotation_a_refresh_returns_the_same_refresh_token() {
    let mut config = test_config();
    config.tokens.rotation = tiktok_sandbox::Rotation::Never;
    let env = start(config).await;
    let tokens = env.login(ADA).await;
    let (_, refreshed) = env.refresh(&env.app.clone(), &tokens.refresh).await;
    assert_eq!(refreshed["refresh_token"], tokens.refresh.as_str());
    assert_eq!(refreshed["expires_in"], 86_400);
}

#[tokio::test]
async fn an_access_token_dies_after_expires_in_and_a_refresh_token_after_refresh_expires_in() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    env.advance_secs(86_400);
    let (status, body) = env
        .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "access_token_invalid",
    );
    env.advance_secs(31_536_000 - 86_400);
    let (_, body) = env.refresh(&env.app.clone(), &tokens.refresh).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn revoke_answers_an_empty_object_and_ends_both_tokens() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let app = env.app.clone();
    let (status, body, _) = env
        .token_call(
            "v2/oauth/revoke/",
            &[
                ("client_key", &app.client_key),
                ("client_secret", app.client_secret.expose()),
                ("token", &tokens.access),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({}));
    let (status, body) = env
        .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "access_token_invalid",
    );
    assert_eq!(
        env.refresh(&app, &tokens.refresh).await.1["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn pkce_uses_the_lowercase_hex_sha256_of_the_verifier() {
    use sha2::Digest;
    let env = start_default().await;
    let app = env.app.clone();
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
    let challenge = hex::encode(sha2::Sha256::digest(verifier.as_bytes()));
    let extra = [
        ("sandbox_creator", ADA),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (sent, ok) in [("wrong-verifier", false), (verifier, true)] {
        let code = env.callback(&app, ALL_SCOPES, &extra).await["code"].clone();
        let (_, body, _) = env
            .token_call(
                "v2/oauth/token/",
                &[
                    ("client_key", &app.client_key),
                    ("client_secret", app.client_secret.expose()),
                    ("code", &code),
                    ("grant_type", "authorization_code"),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", sent),
                ],
            )
            .await;
        assert_eq!(body.get("access_token").is_some(), ok, "{body}");
    }
}

// ---- §3 creator info -----------------------------------------------------------------------

#[tokio::test]
async fn creator_info_answers_the_documented_fields_for_a_public_account() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    for body in [None, Some(json!({}))] {
        let (status, answer) = env
            .call(&tokens.access, "v2/post/publish/creator_info/query/", body)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["error"]["code"], "ok");
        assert_eq!(answer["error"]["message"], "");
        assert_log_id(&answer["error"]["log_id"]);
        let data = &answer["data"];
        assert_eq!(data["creator_username"], ADA);
        assert!(data["creator_nickname"].is_string());
        assert!(data["creator_avatar_url"].is_string());
        assert_eq!(
            data["privacy_level_options"],
            json!(["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"])
        );
        assert_eq!(data["comment_disabled"], false);
        assert_eq!(data["duet_disabled"], false);
        assert_eq!(data["stitch_disabled"], false);
        assert_eq!(data["max_video_post_duration_sec"], 600);
    }
}

#[tokio::test]
async fn a_private_account_offers_follower_options_and_forces_duet_and_stitch_off() {
    let env = start_default().await;
    let tokens = env.login(BO).await;
    let (_, answer) = env
        .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
        .await;
    let data = &answer["data"];
    assert_eq!(
        data["privacy_level_options"],
        json!(["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"])
    );
    assert_eq!(data["duet_disabled"], true);
    assert_eq!(data["stitch_disabled"], true);
    assert_eq!(data["max_video_post_duration_sec"], 300);
}

#[tokio::test]
async fn creator_info_reports_a_ban_with_http_200() {
    let env = start_default().await;
    let tokens = env.login(CY).await;
    let (status, body) = env
        .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::OK,
        "spam_risk_user_banned_from_posting",
    );
}

#[tokio::test]
async fn creator_info_reports_the_daily_cap_with_http_200() {
    let env = start_default().await;
    let tokens = env.login(DI).await;
    for _ in 0..2 {
        env.post_small_video(&tokens.access, "SELF_ONLY").await;
    }
    let (status, body) = env
        .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_error(status, &body, StatusCode::OK, "spam_risk_too_many_posts");
}

#[tokio::test]
async fn cap_errors_can_be_configured_to_carry_the_creator_data() {
    let env = start(SandboxConfig {
        cap_errors_include_data: true,
        ..test_config()
    })
    .await;
    let tokens = env.login(CY).await;
    let (status, body) = env
        .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], "spam_risk_user_banned_from_posting");
    assert_eq!(body["data"]["creator_username"], CY);
}

#[tokio::test]
async fn an_audited_app_can_have_an_active_creator_cap_too() {
    let env = start(SandboxConfig {
        audited_active_creator_cap: Some(1),
        ..test_config()
    })
    .await;
    let ada = env.login(ADA).await;
    env.post_small_video(&ada.access, "SELF_ONLY").await;
    env.post_small_video(&ada.access, "SELF_ONLY").await;
    let bo = env.login(BO).await;
    let (status, body) = env.init_file(&bo.access, "SELF_ONLY", 65536, 65536).await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "reached_active_user_cap",
    );
}

#[tokio::test]
async fn creator_info_needs_video_publish() {
    let env = start_default().await;
    let tokens = env
        .login_with(&env.app.clone(), ADA, "user.info.basic,video.upload")
        .await;
    let (status, body) = env
        .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "scope_not_authorized",
    );
}

#[rstest]
#[case::no_header(None)]
#[case::unknown_token(Some("act.notatoken!1234.e1"))]
#[tokio::test]
async fn a_missing_or_unknown_token_is_access_token_invalid_with_empty_data(
    #[case] token: Option<&str>,
) {
    let env = start_default().await;
    let mut request = env
        .http
        .post(env.url("v2/post/publish/creator_info/query/"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "access_token_invalid",
    );
    assert_eq!(body["data"], json!({}));
}

// ---- §13 rate limits -----------------------------------------------------------------------

#[rstest]
#[case::creator_info("v2/post/publish/creator_info/query/", 20)]
#[case::status_fetch("v2/post/publish/status/fetch/", 30)]
#[case::video_init("v2/post/publish/video/init/", 6)]
#[case::inbox_init("v2/post/publish/inbox/video/init/", 6)]
#[case::content_init("v2/post/publish/content/init/", 6)]
#[tokio::test]
async fn each_endpoint_has_its_per_token_minute_limit(#[case] path: &str, #[case] limit: usize) {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let other = env.login(ADA).await;
    // Bodies are invalid on purpose: a rejected request still counts against the limit.
    for _ in 0..limit {
        let (status, _) = env.call(&tokens.access, path, Some(json!({}))).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let (status, body) = env.call(&tokens.access, path, Some(json!({}))).await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
    );
    let (status, _) = env.call(&other.access, path, Some(json!({}))).await;
    assert_ne!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "limits are per token"
    );
    env.advance_secs(60);
    let (status, _) = env.call(&tokens.access, path, Some(json!({}))).await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
}

// ---- §4 video init -------------------------------------------------------------------------

#[tokio::test]
async fn a_file_upload_init_answers_a_publish_id_and_an_upload_url_on_the_upload_host() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (status, body) = env
        .init_file(&tokens.access, "PUBLIC_TO_EVERYONE", 65536, 65536)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_id = body["data"]["publish_id"].as_str().unwrap();
    assert!(publish_id.starts_with("v_pub_file~v2-1."));
    assert_eq!(publish_id.rsplit('.').next().unwrap().len(), 19);
    let upload_url = body["data"]["upload_url"].as_str().unwrap();
    assert!(upload_url.len() <= 256);
    assert!(upload_url.starts_with(env.sandbox.upload_base_url().as_str()));
    assert_ne!(
        env.sandbox.upload_base_url().port(),
        env.sandbox.api_base_url().port()
    );
    assert!(upload_url.contains("upload_id=") && upload_url.contains("upload_token="));
}

#[rstest]
#[case::missing_privacy(json!({"title": "x"}), StatusCode::FORBIDDEN, "privacy_level_option_mismatch")]
#[case::private_only_option(json!({"privacy_level": "FOLLOWER_OF_CREATOR"}), StatusCode::FORBIDDEN, "privacy_level_option_mismatch")]
#[case::string_boolean(json!({"privacy_level": "SELF_ONLY", "disable_comment": "true"}), StatusCode::BAD_REQUEST, "invalid_params")]
#[case::caption_too_long(json!({"privacy_level": "SELF_ONLY", "title": "😀".repeat(1100) + "a"}), StatusCode::BAD_REQUEST, "invalid_params")]
#[case::caption_at_limit(json!({"privacy_level": "SELF_ONLY", "title": "😀".repeat(1100)}), StatusCode::OK, "ok")]
#[tokio::test]
async fn video_init_validates_post_info(
    #[case] post_info: Value,
    #[case] status: StatusCode,
    #[case] code: &str,
) {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (got, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/video/init/",
            Some(json!({
                "post_info": post_info,
                "source_info": {"source": "FILE_UPLOAD", "video_size": 65536, "chunk_size": 65536, "total_chunk_count": 1},
            })),
        )
        .await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code);
}

#[tokio::test]
async fn a_bad_chunk_plan_is_invalid_params_and_is_checked_before_the_privacy_level() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/video/init/",
            Some(json!({
                "post_info": {},
                "source_info": {"source": "FILE_UPLOAD", "video_size": 50_000_123, "chunk_size": 10_000_000, "total_chunk_count": 6},
            })),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_params");
    assert_eq!(body["error"]["message"], "The chunk size is invalid");
}

#[tokio::test]
async fn the_spelling_of_invalid_params_is_configurable() {
    let env = start(SandboxConfig {
        invalid_params_code: "invalid_param".to_owned(),
        ..test_config()
    })
    .await;
    let tokens = env.login(ADA).await;
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/video/init/",
            Some(json!({"post_info": 1})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_param");
}

#[tokio::test]
async fn a_pull_from_an_unverified_url_is_url_ownership_unverified() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    for url in [
        "https://elsewhere.example.net/v.mp4",
        "http://media.example.com/tokpost/v.mp4",
    ] {
        let (status, body) = env
            .call(
                &tokens.access,
                "v2/post/publish/video/init/",
                Some(json!({"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL", "video_url": url}})),
            )
            .await;
        assert_error(
            status,
            &body,
            StatusCode::FORBIDDEN,
            "url_ownership_unverified",
        );
    }
}

#[tokio::test]
async fn video_init_refuses_a_banned_creator() {
    let env = start_default().await;
    let tokens = env.login(CY).await;
    let (status, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "spam_risk_user_banned_from_posting",
    );
}

#[tokio::test]
async fn video_init_needs_video_publish() {
    let env = start_default().await;
    let tokens = env.login_with(&env.app.clone(), ADA, "video.upload").await;
    let (status, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "scope_not_authorized",
    );
}

#[rstest]
#[case::public_account(
    ADA,
    "SELF_ONLY",
    StatusCode::FORBIDDEN,
    "unaudited_client_can_only_post_to_private_accounts"
)]
#[case::private_account_not_self_only(
    BO,
    "FOLLOWER_OF_CREATOR",
    StatusCode::FORBIDDEN,
    "unaudited_client_can_only_post_to_private_accounts"
)]
#[case::private_account_self_only(BO, "SELF_ONLY", StatusCode::OK, "ok")]
#[tokio::test]
async fn an_unaudited_app_posts_only_self_only_to_private_accounts(
    #[case] creator: &str,
    #[case] privacy: &str,
    #[case] status: StatusCode,
    #[case] code: &str,
) {
    let mut config = test_config();
    config.apps[0].audited = false;
    let env = start(config).await;
    let tokens = env.login(creator).await;
    let (got, body) = env.init_file(&tokens.access, privacy, 65536, 65536).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code);
}

#[tokio::test]
async fn an_unaudited_app_reaches_its_active_creator_cap_at_five_creators_a_day() {
    let mut config = test_config();
    config.apps[0].audited = false;
    config.creators = (0..6)
        .map(|i| CreatorConfig {
            open_id: format!("-000private{i}"),
            username: format!("private.{i}"),
            private_account: true,
            ..CreatorConfig::default()
        })
        .collect();
    let env = start(config).await;
    for i in 0..5 {
        let tokens = env.login(&format!("private.{i}")).await;
        env.post_small_video(&tokens.access, "SELF_ONLY").await;
    }
    let sixth = env.login("private.5").await;
    let (status, body) = env
        .init_file(&sixth.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "reached_active_user_cap",
    );
    let (status, body) = env
        .call(&sixth.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_error(status, &body, StatusCode::OK, "reached_active_user_cap");
    env.advance_secs(24 * 3600);
    let (status, _) = env
        .init_file(&sixth.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the 24 h later token has expired"
    );
    let sixth = env.login("private.5").await;
    let (status, body) = env
        .init_file(&sixth.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_daily_post_cap_is_per_creator_across_apps_and_rolls_over_24_hours() {
    let mut config = test_config();
    config.apps.push(second_app(true));
    let env = start(config).await;
    let first = env.login(DI).await;
    let second = env.login_with(&second_app(true), DI, ALL_SCOPES).await;
    env.post_small_video(&first.access, "SELF_ONLY").await;
    env.advance_secs(3_600);
    env.post_small_video(&second.access, "SELF_ONLY").await;
    let (status, body) = env
        .init_file(&first.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "spam_risk_too_many_posts",
    );
    env.advance_secs(23 * 3_600);
    let fresh = env.login(DI).await;
    let (status, body) = env
        .init_file(&fresh.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the first post left the window: {body}"
    );
}

// ---- §5 inbox ------------------------------------------------------------------------------

#[tokio::test]
async fn an_inbox_upload_lands_in_the_inbox_and_completes_when_the_user_posts() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let bytes = mp4_bytes(65536);
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/inbox/video/init/",
            Some(json!({
                "post_info": {"title": "ignored"},
                "source_info": {"source": "FILE_UPLOAD", "video_size": 65536, "chunk_size": 65536, "total_chunk_count": 1},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    assert!(publish_id.starts_with("v_inbox_file~v2."));
    let upload_url = body["data"]["upload_url"].as_str().unwrap();
    assert_eq!(
        env.put_chunk(upload_url, bytes, 0, 65536).await.status(),
        StatusCode::CREATED
    );
    env.advance_secs(10);
    assert_eq!(
        env.status(&tokens.access, &publish_id).await["status"],
        "SEND_TO_USER_INBOX"
    );
    let admin = env
        .sandbox
        .admin_base_url()
        .join(&format!("inbox/{publish_id}/post"))
        .unwrap();
    assert_eq!(
        env.http.post(admin).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "PUBLISH_COMPLETE");
    assert_eq!(data["publicaly_available_post_id"], json!([]));
    env.advance_secs(60);
    assert_eq!(
        env.status(&tokens.access, &publish_id).await["publicaly_available_post_id"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_sixth_pending_inbox_share_in_24_hours_is_refused() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let init = json!({"source_info": {"source": "FILE_UPLOAD", "video_size": 65536, "chunk_size": 65536, "total_chunk_count": 1}});
    for _ in 0..5 {
        let (status, _) = env
            .call(
                &tokens.access,
                "v2/post/publish/inbox/video/init/",
                Some(init.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    env.advance_secs(60);
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/inbox/video/init/",
            Some(init),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "spam_risk_too_many_pending_share",
    );
}

#[tokio::test]
async fn a_share_the_user_acted_on_no_longer_counts_as_pending() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let init = json!({"source_info": {"source": "FILE_UPLOAD", "video_size": 65536, "chunk_size": 65536, "total_chunk_count": 1}});
    let mut first = None;
    for _ in 0..5 {
        let (_, body) = env
            .call(
                &tokens.access,
                "v2/post/publish/inbox/video/init/",
                Some(init.clone()),
            )
            .await;
        let upload_url = body["data"]["upload_url"].as_str().unwrap().to_owned();
        env.put_chunk(&upload_url, mp4_bytes(65536), 0, 65536).await;
        first.get_or_insert(body["data"]["publish_id"].as_str().unwrap().to_owned());
    }
    env.advance_secs(60);
    assert!(env.sandbox.user_posts_from_inbox(first.as_deref().unwrap()));
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/inbox/video/init/",
            Some(init),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn inbox_init_needs_video_upload() {
    let env = start_default().await;
    let tokens = env.login_with(&env.app.clone(), ADA, "video.publish").await;
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/inbox/video/init/",
            Some(json!({"source_info": {"source": "FILE_UPLOAD"}})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "scope_not_authorized",
    );
}

// ---- §6 media transfer ---------------------------------------------------------------------

#[tokio::test]
async fn chunks_answer_206_then_201_with_a_progress_header_and_status_counts_the_bytes() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let size = 11 * MIB;
    let chunk = 5 * MIB;
    let (status, body) = env
        .init_file(&tokens.access, "PUBLIC_TO_EVERYONE", size, chunk)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let upload_url = body["data"]["upload_url"].as_str().unwrap().to_owned();
    let bytes = mp4_bytes(size);
    let first = env
        .put_chunk(&upload_url, bytes[..chunk].to_vec(), 0, size)
        .await;
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        first.headers()["content-range"],
        format!("bytes 0-{}/{size}", chunk - 1).as_str()
    );
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "PROCESSING_UPLOAD");
    assert_eq!(data["uploaded_bytes"], chunk);
    let last = env
        .put_chunk(&upload_url, bytes[chunk..].to_vec(), chunk, size)
        .await;
    assert_eq!(last.status(), StatusCode::CREATED);
    assert_eq!(
        last.headers()["content-range"],
        format!("bytes 0-{}/{size}", size - 1).as_str()
    );
    assert_eq!(
        env.status(&tokens.access, &publish_id).await["uploaded_bytes"],
        size
    );
}

#[tokio::test]
async fn out_of_order_chunks_get_416_and_the_progress_to_resync_from() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (size, chunk) = (11 * MIB, 5 * MIB);
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", size, chunk)
        .await;
    let upload_url = body["data"]["upload_url"].as_str().unwrap().to_owned();
    let bytes = mp4_bytes(size);
    let gap = env
        .put_chunk(&upload_url, bytes[chunk..].to_vec(), chunk, size)
        .await;
    assert_eq!(gap.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        gap.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );
    assert_eq!(
        env.put_chunk(&upload_url, bytes[..chunk].to_vec(), 0, size)
            .await
            .status(),
        StatusCode::PARTIAL_CONTENT
    );
    let overlap = env
        .put_chunk(&upload_url, bytes[..chunk].to_vec(), 0, size)
        .await;
    assert_eq!(overlap.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        overlap.headers()["content-range"],
        format!("bytes 0-{}/{size}", chunk - 1).as_str()
    );
}

#[tokio::test]
async fn a_body_shorter_than_its_content_range_is_400() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    let upload_url = body["data"]["upload_url"].as_str().unwrap();
    let response = env
        .http
        .put(upload_url)
        .header("Content-Type", "video/mp4")
        .header("Content-Range", "bytes 0-65535/65536")
        .body(mp4_bytes(60000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().contains_key("content-range"));
}

#[tokio::test]
async fn a_wrong_content_type_is_400() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    let response = env
        .http
        .put(body["data"]["upload_url"].as_str().unwrap())
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", "bytes 0-65535/65536")
        .body(mp4_bytes(65536))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_upload_url_expires_after_one_hour() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    env.advance_secs(3_600);
    let response = env
        .put_chunk(
            body["data"]["upload_url"].as_str().unwrap(),
            mp4_bytes(65536),
            0,
            65536,
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_unknown_upload_is_404() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    let real = body["data"]["upload_url"].as_str().unwrap();
    let forged = real.replace("upload_token=", "upload_token=x");
    assert_eq!(
        env.put_chunk(&forged, mp4_bytes(65536), 0, 65536)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let base = env
        .sandbox
        .upload_base_url()
        .join("video/?upload_id=1&upload_token=t")
        .unwrap();
    assert_eq!(
        env.put_chunk(base.as_str(), mp4_bytes(65536), 0, 65536)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

// ---- §8 status fetch -----------------------------------------------------------------------

#[tokio::test]
async fn a_public_post_completes_after_processing_and_gets_its_19_digit_id_as_a_bare_number_after_moderation()
 {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let publish_id = env
        .post_small_video(&tokens.access, "PUBLIC_TO_EVERYONE")
        .await;
    assert_eq!(
        env.status(&tokens.access, &publish_id).await["status"],
        "PROCESSING_UPLOAD"
    );
    env.advance_secs(10);
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "PUBLISH_COMPLETE");
    assert_eq!(data["publicaly_available_post_id"], json!([]));
    assert!(data.get("fail_reason").is_none());
    env.advance_secs(60);
    let (_, body, raw) = env
        .call_raw(
            &tokens.access,
            "v2/post/publish/status/fetch/",
            Some(json!({"publish_id": publish_id})),
        )
        .await;
    let id = body["data"]["publicaly_available_post_id"][0]
        .as_u64()
        .unwrap();
    assert_eq!(id.to_string().len(), 19);
    assert!(
        raw.contains(&format!("[{id}]")),
        "a bare number, not a string: {raw}"
    );
}

#[rstest]
#[case::self_only(ADA, "SELF_ONLY")]
#[case::followers_only(ADA, "MUTUAL_FOLLOW_FRIENDS")]
#[case::creator_without_public_ids(ED, "PUBLIC_TO_EVERYONE")]
#[tokio::test]
async fn some_posts_never_get_a_public_id(#[case] creator: &str, #[case] privacy: &str) {
    let env = start_default().await;
    let tokens = env.login(creator).await;
    let publish_id = env.post_small_video(&tokens.access, privacy).await;
    env.advance_secs(48 * 3600);
    let tokens = env.login(creator).await;
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "PUBLISH_COMPLETE");
    assert_eq!(data["publicaly_available_post_id"], json!([]));
}

#[tokio::test]
async fn bytes_that_are_not_a_video_fail_the_format_check() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let upload_url = body["data"]["upload_url"].as_str().unwrap();
    assert_eq!(
        env.put_chunk(upload_url, vec![b'x'; 65536], 0, 65536)
            .await
            .status(),
        StatusCode::CREATED
    );
    env.advance_secs(10);
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "FAILED");
    assert_eq!(data["fail_reason"], "file_format_check_failed");
}

#[rstest]
#[case::longer_than_the_creator_may_post(DI, "long_200s.mp4", "duration_check_failed")]
#[case::frame_rate_below_23(ADA, "slow_15fps.mp4", "frame_rate_check_failed")]
#[case::sides_below_360(ADA, "small_240x240.mp4", "picture_size_check_failed")]
#[tokio::test]
async fn uploaded_media_that_breaks_the_rules_fails_with_the_documented_reason(
    #[case] creator: &str,
    #[case] file: &str,
    #[case] reason: &str,
) {
    let env = start_default().await;
    let tokens = env.login(creator).await;
    let publish_id = env
        .post_video_bytes(&tokens.access, "SELF_ONLY", fixture(file))
        .await;
    env.advance_secs(10);
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "FAILED");
    assert_eq!(data["fail_reason"], reason);
}

#[tokio::test]
async fn a_200_second_video_is_fine_for_a_creator_allowed_600_seconds() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let publish_id = env
        .post_video_bytes(&tokens.access, "SELF_ONLY", fixture("long_200s.mp4"))
        .await;
    env.advance_secs(10);
    assert_eq!(
        env.status(&tokens.access, &publish_id).await["status"],
        "PUBLISH_COMPLETE"
    );
}

#[tokio::test]
async fn status_of_an_unknown_or_foreign_publish_is_refused() {
    let env = start_default().await;
    let ada = env.login(ADA).await;
    let bo = env.login(BO).await;
    let publish_id = env.post_small_video(&ada.access, "SELF_ONLY").await;
    let (status, body) = env
        .call(
            &ada.access,
            "v2/post/publish/status/fetch/",
            Some(json!({"publish_id": "v_pub_file~v2-1.1"})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_publish_id");
    let (status, body) = env
        .call(
            &bo.access,
            "v2/post/publish/status/fetch/",
            Some(json!({"publish_id": publish_id})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "token_not_authorized_for_specified_publish_id",
    );
}

// ---- §7 photos, §12 pulls, §9 cancel -------------------------------------------------------

fn photo_init(mode: &str, images: Vec<String>) -> Value {
    json!({
        "media_type": "PHOTO",
        "post_mode": mode,
        "post_info": {"title": "photos", "description": "a #sandbox carousel", "privacy_level": "PUBLIC_TO_EVERYONE", "disable_comment": false, "auto_add_music": true},
        "source_info": {"source": "PULL_FROM_URL", "photo_images": images, "photo_cover_index": 0},
    })
}

#[tokio::test]
async fn a_direct_photo_post_is_pulled_checked_and_published() {
    let media = media_server().await;
    let env = start(config_with_media(&media)).await;
    let tokens = env.login(ADA).await;
    let images = vec![
        format!("{media}/media/photo.jpg"),
        format!("{media}/media/photo.jpg"),
    ];
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/content/init/",
            Some(photo_init("DIRECT_POST", images)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    assert!(publish_id.starts_with("p_pub_url~v2."));
    assert!(body["data"].get("upload_url").is_none());
    env.wait_for(&publish_id, |r| r.media_settled).await;
    env.advance_secs(10);
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "PUBLISH_COMPLETE");
    assert_eq!(data["downloaded_bytes"], 2 * JPEG_LEN);
}

#[tokio::test]
async fn a_png_photo_fails_the_format_check() {
    let media = media_server().await;
    let env = start(config_with_media(&media)).await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/content/init/",
            Some(photo_init(
                "DIRECT_POST",
                vec![format!("{media}/media/photo.png")],
            )),
        )
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    env.wait_for(&publish_id, |r| r.media_settled).await;
    env.advance_secs(10);
    assert_eq!(
        env.status(&tokens.access, &publish_id).await["fail_reason"],
        "file_format_check_failed"
    );
}

#[rstest]
#[case::too_many_images(photo_init("DIRECT_POST", vec!["https://media.example.com/tokpost/a.jpg".to_owned(); 36]))]
#[case::no_images(photo_init("DIRECT_POST", vec![]))]
#[case::title_over_90(json!({"media_type": "PHOTO", "post_mode": "DIRECT_POST", "post_info": {"title": "t".repeat(91), "privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL", "photo_images": ["https://media.example.com/tokpost/a.jpg"], "photo_cover_index": 0}}))]
#[case::cover_out_of_range(json!({"media_type": "PHOTO", "post_mode": "DIRECT_POST", "post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL", "photo_images": ["https://media.example.com/tokpost/a.jpg"], "photo_cover_index": 1}}))]
#[case::video_media_type(json!({"media_type": "VIDEO", "post_mode": "DIRECT_POST", "post_info": {}, "source_info": {}}))]
#[case::file_upload_source(json!({"media_type": "PHOTO", "post_mode": "DIRECT_POST", "post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "FILE_UPLOAD"}}))]
#[tokio::test]
async fn content_init_validates_its_body(#[case] body: Value) {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (status, answer) = env
        .call(&tokens.access, "v2/post/publish/content/init/", Some(body))
        .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_params");
}

#[tokio::test]
async fn a_photo_draft_for_a_creator_with_an_old_app_is_app_version_check_failed() {
    let env = start_default().await;
    let tokens = env.login(DI).await;
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/content/init/",
            Some(photo_init(
                "MEDIA_UPLOAD",
                vec!["https://media.example.com/tokpost/a.jpg".to_owned()],
            )),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "app_version_check_failed",
    );
}

#[tokio::test]
async fn a_direct_photo_post_needs_video_publish_and_a_draft_needs_video_upload() {
    let env = start_default().await;
    let upload_only = env.login_with(&env.app.clone(), ADA, "video.upload").await;
    let images = vec!["https://media.example.com/tokpost/a.jpg".to_owned()];
    let (status, body) = env
        .call(
            &upload_only.access,
            "v2/post/publish/content/init/",
            Some(photo_init("DIRECT_POST", images.clone())),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "scope_not_authorized",
    );
    let (status, body) = env
        .call(
            &upload_only.access,
            "v2/post/publish/content/init/",
            Some(photo_init("MEDIA_UPLOAD", images)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[rstest]
#[case::not_found("/media/missing", "video_pull_failed")]
#[case::redirect("/media/moved", "video_pull_failed")]
#[tokio::test]
async fn a_pull_that_cannot_download_fails(#[case] path: &str, #[case] reason: &str) {
    let media = media_server().await;
    let env = start(config_with_media(&media)).await;
    let tokens = env.login(ADA).await;
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/video/init/",
            Some(json!({"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL", "video_url": format!("{media}{path}")}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    assert!(publish_id.starts_with("v_pub_url~v2."));
    env.wait_for(&publish_id, |r| r.status == "FAILED").await;
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["fail_reason"], reason);
}

#[tokio::test]
async fn a_video_pull_reports_downloaded_bytes_and_publishes() {
    let media = media_server().await;
    let env = start(config_with_media(&media)).await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/video/init/",
            Some(json!({"post_info": {"privacy_level": "PUBLIC_TO_EVERYONE"}, "source_info": {"source": "PULL_FROM_URL", "video_url": format!("{media}/media/video.mp4")}})),
        )
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    env.wait_for(&publish_id, |r| r.media_settled).await;
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "PROCESSING_DOWNLOAD");
    assert_eq!(data["downloaded_bytes"], 200_000);
    env.advance_secs(10);
    assert_eq!(
        env.status(&tokens.access, &publish_id).await["status"],
        "PUBLISH_COMPLETE"
    );
}

#[tokio::test]
async fn a_pull_still_running_after_an_hour_fails_with_video_pull_failed() {
    let media = media_server().await;
    let env = start(config_with_media(&media)).await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/video/init/",
            Some(json!({"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL", "video_url": format!("{media}/media/hang")}})),
        )
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    env.wait_for(&publish_id, |r| r.transferred_bytes == 1000)
        .await;
    env.advance_secs(3_600);
    let record = env.wait_for(&publish_id, |r| r.status == "FAILED").await;
    assert_eq!(record.fail_reason.as_deref(), Some("video_pull_failed"));
}

#[tokio::test]
async fn a_running_pull_can_be_cancelled_once_and_a_file_upload_not_at_all() {
    let media = media_server().await;
    let env = start(config_with_media(&media)).await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/video/init/",
            Some(json!({"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL", "video_url": format!("{media}/media/hang")}})),
        )
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let cancel = json!({"publish_id": publish_id});
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/cancel/",
            Some(cancel.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], "ok");
    assert!(
        body.get("data").is_none(),
        "cancel answers only the error object: {body}"
    );
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "FAILED");
    assert_eq!(data["fail_reason"], "publish_cancelled");
    let (status, body) = env
        .call(&tokens.access, "v2/post/publish/cancel/", Some(cancel))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "publish_not_cancellable",
    );
    let file_publish = env.post_small_video(&tokens.access, "SELF_ONLY").await;
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/cancel/",
            Some(json!({"publish_id": file_publish})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "publish_not_cancellable",
    );
    let (status, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/cancel/",
            Some(json!({"publish_id": "nope"})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_publish_id");
}
