//! Content Posting endpoints against a mock TikTok: every success, every documented error code
//! with its documented HTTP status (HTTP-200 cap errors included), malformed bodies, timeouts
//! and the documented example payloads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // helpers of a test crate may fail loudly

mod support;

use std::time::Duration;

use rstest::rstest;
use serde_json::{Value, json};
use support::{ACCESS_TOKEN, LOG_ID, client_for, config_for, error_envelope, ok_envelope, token};
use tiktok::catalog::Occurrence;
use tiktok::{
    ChunkPlan, DirectPhotoSettings, DirectVideoInit, InboxVideoInit, PhotoInit, PhotoMode,
    PrivacyLevel, PublicPostId, PublishId, PublishStatus, TikTokClient, TikTokFailure,
    VideoPostInfo, VideoSource,
};
use url::Url;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Copy, Debug)]
enum Endpoint {
    CreatorInfo,
    VideoInit,
    InboxInit,
    ContentInit,
    StatusFetch,
    Cancel,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Self::CreatorInfo => "/v2/post/publish/creator_info/query/",
            Self::VideoInit => "/v2/post/publish/video/init/",
            Self::InboxInit => "/v2/post/publish/inbox/video/init/",
            Self::ContentInit => "/v2/post/publish/content/init/",
            Self::StatusFetch => "/v2/post/publish/status/fetch/",
            Self::Cancel => "/v2/post/publish/cancel/",
        }
    }

    async fn call(self, client: &TikTokClient) -> Result<(), TikTokFailure> {
        let token = token();
        let publish_id = PublishId::new("v_pub_url~v2.123456789");
        match self {
            Self::CreatorInfo => client.creator_info(&token).await.map(drop),
            Self::VideoInit => client
                .init_direct_video(&token, &direct_pull())
                .await
                .map(drop),
            Self::InboxInit => client
                .init_inbox_video(
                    &token,
                    &InboxVideoInit {
                        source_info: pull_source(),
                    },
                )
                .await
                .map(drop),
            Self::ContentInit => client.init_photo(&token, &direct_photo()).await.map(drop),
            Self::StatusFetch => client.fetch_status(&token, &publish_id).await.map(drop),
            Self::Cancel => client.cancel(&token, &publish_id).await,
        }
    }
}

fn pull_source() -> VideoSource {
    VideoSource::PullFromUrl(Url::parse("https://media.example.com/videos/a.mp4").unwrap())
}

fn direct_pull() -> DirectVideoInit {
    DirectVideoInit {
        post_info: VideoPostInfo::new(PrivacyLevel::SelfOnly),
        source_info: pull_source(),
    }
}

fn direct_photo() -> PhotoInit {
    PhotoInit {
        mode: PhotoMode::DirectPost(DirectPhotoSettings {
            privacy_level: PrivacyLevel::PublicToEveryone,
            disable_comment: false,
            auto_add_music: true,
            brand_content_toggle: false,
            brand_organic_toggle: false,
        }),
        title: Some("funny cat".into()),
        description: Some("#cat @friend".into()),
        photo_images: vec![
            Url::parse("https://media.example.com/p/1.jpg").unwrap(),
            Url::parse("https://media.example.com/p/2.jpg").unwrap(),
        ],
        photo_cover_index: 1,
    }
}

async fn answer(server: &MockServer, endpoint: Endpoint, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(endpoint.path()))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(response)
        .expect(1)
        .mount(server)
        .await;
}

#[rstest]
// creator info (§3): caps deliberately come with HTTP 200
#[case::creator_info_cap_200(
    Endpoint::CreatorInfo,
    200,
    "spam_risk_too_many_posts",
    "spam_risk_too_many_posts"
)]
#[case::creator_info_banned_200(
    Endpoint::CreatorInfo,
    200,
    "spam_risk_user_banned_from_posting",
    "spam_risk_user_banned_from_posting"
)]
#[case::creator_info_active_cap_200(
    Endpoint::CreatorInfo,
    200,
    "reached_active_user_cap",
    "reached_active_user_cap"
)]
#[case::creator_info_token(
    Endpoint::CreatorInfo,
    401,
    "access_token_invalid",
    "access_token_invalid"
)]
#[case::creator_info_scope(
    Endpoint::CreatorInfo,
    401,
    "scope_not_authorized",
    "scope_not_authorized"
)]
#[case::creator_info_rate(
    Endpoint::CreatorInfo,
    429,
    "rate_limit_exceeded",
    "rate_limit_exceeded"
)]
// direct video init (§4.3)
#[case::video_invalid_param(Endpoint::VideoInit, 400, "invalid_param", "invalid_params")]
#[case::video_invalid_params(Endpoint::VideoInit, 400, "invalid_params", "invalid_params")]
#[case::video_invalid_file_upload(
    Endpoint::VideoInit,
    400,
    "invalid_file_upload",
    "invalid_file_upload"
)]
#[case::video_scope_permission_missed(
    Endpoint::VideoInit,
    400,
    "scope_permission_missed",
    "scope_permission_missed"
)]
#[case::video_cap(
    Endpoint::VideoInit,
    403,
    "spam_risk_too_many_posts",
    "spam_risk_too_many_posts"
)]
#[case::video_banned(
    Endpoint::VideoInit,
    403,
    "spam_risk_user_banned_from_posting",
    "spam_risk_user_banned_from_posting"
)]
#[case::video_active_cap(
    Endpoint::VideoInit,
    403,
    "reached_active_user_cap",
    "reached_active_user_cap"
)]
#[case::video_unaudited(
    Endpoint::VideoInit,
    403,
    "unaudited_client_can_only_post_to_private_accounts",
    "unaudited_client_can_only_post_to_private_accounts"
)]
#[case::video_url_unverified(
    Endpoint::VideoInit,
    403,
    "url_ownership_unverified",
    "url_ownership_unverified"
)]
#[case::video_privacy(
    Endpoint::VideoInit,
    403,
    "privacy_level_option_mismatch",
    "privacy_level_option_mismatch"
)]
#[case::video_token(
    Endpoint::VideoInit,
    401,
    "access_token_invalid",
    "access_token_invalid"
)]
#[case::video_scope(
    Endpoint::VideoInit,
    401,
    "scope_not_authorized",
    "scope_not_authorized"
)]
#[case::video_rate(Endpoint::VideoInit, 429, "rate_limit_exceeded", "rate_limit_exceeded")]
#[case::video_internal(Endpoint::VideoInit, 500, "internal_error", "internal_error")]
#[case::video_error_with_http_200(
    Endpoint::VideoInit,
    200,
    "spam_risk_too_many_posts",
    "spam_risk_too_many_posts"
)]
// inbox video init (§5)
#[case::inbox_invalid_param(Endpoint::InboxInit, 400, "invalid_param", "invalid_params")]
#[case::inbox_invalid_params(Endpoint::InboxInit, 400, "invalid_params", "invalid_params")]
#[case::inbox_pending(
    Endpoint::InboxInit,
    403,
    "spam_risk_too_many_pending_share",
    "spam_risk_too_many_pending_share"
)]
#[case::inbox_banned(
    Endpoint::InboxInit,
    403,
    "spam_risk_user_banned_from_posting",
    "spam_risk_user_banned_from_posting"
)]
#[case::inbox_url_unverified(
    Endpoint::InboxInit,
    403,
    "url_ownership_unverified",
    "url_ownership_unverified"
)]
#[case::inbox_token(
    Endpoint::InboxInit,
    401,
    "access_token_invalid",
    "access_token_invalid"
)]
#[case::inbox_scope(
    Endpoint::InboxInit,
    401,
    "scope_not_authorized",
    "scope_not_authorized"
)]
#[case::inbox_rate(Endpoint::InboxInit, 429, "rate_limit_exceeded", "rate_limit_exceeded")]
// photo content init (§7)
#[case::photo_invalid_param(Endpoint::ContentInit, 400, "invalid_param", "invalid_params")]
#[case::photo_invalid_params(Endpoint::ContentInit, 400, "invalid_params", "invalid_params")]
#[case::photo_app_version(
    Endpoint::ContentInit,
    400,
    "app_version_check_failed",
    "app_version_check_failed"
)]
#[case::photo_cap(
    Endpoint::ContentInit,
    403,
    "spam_risk_too_many_posts",
    "spam_risk_too_many_posts"
)]
#[case::photo_banned(
    Endpoint::ContentInit,
    403,
    "spam_risk_user_banned_from_posting",
    "spam_risk_user_banned_from_posting"
)]
#[case::photo_pending(
    Endpoint::ContentInit,
    403,
    "spam_risk_too_many_pending_share",
    "spam_risk_too_many_pending_share"
)]
#[case::photo_active_cap(
    Endpoint::ContentInit,
    403,
    "reached_active_user_cap",
    "reached_active_user_cap"
)]
#[case::photo_unaudited(
    Endpoint::ContentInit,
    403,
    "unaudited_client_can_only_post_to_private_accounts",
    "unaudited_client_can_only_post_to_private_accounts"
)]
#[case::photo_url_unverified(
    Endpoint::ContentInit,
    403,
    "url_ownership_unverified",
    "url_ownership_unverified"
)]
#[case::photo_privacy(
    Endpoint::ContentInit,
    403,
    "privacy_level_option_mismatch",
    "privacy_level_option_mismatch"
)]
#[case::photo_token(
    Endpoint::ContentInit,
    401,
    "access_token_invalid",
    "access_token_invalid"
)]
#[case::photo_scope(
    Endpoint::ContentInit,
    401,
    "scope_not_authorized",
    "scope_not_authorized"
)]
#[case::photo_rate(
    Endpoint::ContentInit,
    429,
    "rate_limit_exceeded",
    "rate_limit_exceeded"
)]
#[case::photo_internal(Endpoint::ContentInit, 500, "internal_error", "internal_error")]
// status fetch (§8)
#[case::status_invalid_id(Endpoint::StatusFetch, 400, "invalid_publish_id", "invalid_publish_id")]
#[case::status_not_owner(
    Endpoint::StatusFetch,
    400,
    "token_not_authorized_for_specified_publish_id",
    "token_not_authorized_for_specified_publish_id"
)]
#[case::status_token(
    Endpoint::StatusFetch,
    401,
    "access_token_invalid",
    "access_token_invalid"
)]
#[case::status_scope(
    Endpoint::StatusFetch,
    401,
    "scope_not_authorized",
    "scope_not_authorized"
)]
#[case::status_rate(
    Endpoint::StatusFetch,
    429,
    "rate_limit_exceeded",
    "rate_limit_exceeded"
)]
#[case::status_internal(Endpoint::StatusFetch, 500, "internal_error", "internal_error")]
// cancel (§9)
#[case::cancel_invalid_id(Endpoint::Cancel, 400, "invalid_publish_id", "invalid_publish_id")]
#[case::cancel_not_owner(
    Endpoint::Cancel,
    400,
    "token_not_authorized_for_specified_publish_id",
    "token_not_authorized_for_specified_publish_id"
)]
#[case::cancel_final(
    Endpoint::Cancel,
    400,
    "publish_not_cancellable",
    "publish_not_cancellable"
)]
#[case::cancel_url_unverified(
    Endpoint::Cancel,
    403,
    "url_ownership_unverified",
    "url_ownership_unverified"
)]
#[case::cancel_token(Endpoint::Cancel, 401, "access_token_invalid", "access_token_invalid")]
#[case::cancel_scope(Endpoint::Cancel, 401, "scope_not_authorized", "scope_not_authorized")]
#[case::cancel_rate(Endpoint::Cancel, 429, "rate_limit_exceeded", "rate_limit_exceeded")]
#[case::cancel_internal(Endpoint::Cancel, 500, "internal_error", "internal_error")]
#[tokio::test]
async fn every_documented_error_code_is_classified_and_kept_verbatim(
    #[case] endpoint: Endpoint,
    #[case] status: u16,
    #[case] code: &str,
    #[case] expected_id: &str,
) {
    let server = MockServer::start().await;
    let body = error_envelope(code, "documented failure").to_string();
    answer(
        &server,
        endpoint,
        ResponseTemplate::new(status).set_body_raw(body.clone(), "application/json"),
    )
    .await;
    let failure = endpoint.call(&client_for(&server)).await.unwrap_err();
    assert_eq!(failure.classification.id(), expected_id);
    assert_eq!(failure.occurrence, Occurrence::ApiError);
    assert_eq!(failure.http_status, Some(status));
    assert_eq!(failure.code.as_deref(), Some(code));
    assert_eq!(failure.message.as_deref(), Some("documented failure"));
    assert_eq!(failure.log_id.as_deref(), Some(LOG_ID));
    assert_eq!(failure.raw_body, body);
}

#[rstest]
#[case::gateway_html(Endpoint::CreatorInfo, 502, "<html>502 Bad Gateway</html>", "http_5xx")]
#[case::empty_503(Endpoint::VideoInit, 503, "", "http_5xx")]
#[case::bare_429(Endpoint::InboxInit, 429, "Too Many Requests", "http_429")]
#[case::not_json_200(Endpoint::ContentInit, 200, "<html>oops</html>", "malformed_response")]
#[case::envelope_without_error(
    Endpoint::StatusFetch,
    200,
    r#"{"data":{"status":"FAILED"}}"#,
    "malformed_response"
)]
#[case::ok_with_wrong_data(
    Endpoint::StatusFetch,
    200,
    r#"{"data":{"status":7},"error":{"code":"ok","message":"","log_id":"x"}}"#,
    "malformed_response"
)]
#[case::file_init_without_publish_id(
    Endpoint::VideoInit,
    200,
    r#"{"data":{},"error":{"code":"ok","message":"","log_id":"x"}}"#,
    "malformed_response"
)]
#[case::truncated_json(Endpoint::Cancel, 200, r#"{"error":{"code":"o"#, "malformed_response")]
#[case::unknown_code(
    Endpoint::Cancel,
    400,
    r#"{"data":{},"error":{"code":"new_code_from_2027","message":"?","log_id":"x"}}"#,
    "unknown"
)]
#[tokio::test]
async fn malformed_and_codeless_answers_are_classified_by_status_and_never_panic(
    #[case] endpoint: Endpoint,
    #[case] status: u16,
    #[case] body: &str,
    #[case] expected_id: &str,
) {
    let server = MockServer::start().await;
    answer(
        &server,
        endpoint,
        ResponseTemplate::new(status).set_body_string(body),
    )
    .await;
    let failure = endpoint.call(&client_for(&server)).await.unwrap_err();
    assert_eq!(failure.classification.id(), expected_id);
    assert_eq!(failure.http_status, Some(status));
    assert_eq!(failure.raw_body, body);
}

#[tokio::test]
async fn a_request_that_outlives_its_timeout_is_a_transient_transport_failure() {
    let server = MockServer::start().await;
    answer(
        &server,
        Endpoint::StatusFetch,
        ResponseTemplate::new(200)
            .set_body_json(ok_envelope(json!({"status": "PROCESSING_UPLOAD"})))
            .set_delay(Duration::from_secs(30)),
    )
    .await;
    let mut config = config_for(&server);
    config.request_timeout = Duration::from_millis(200);
    let client = TikTokClient::new(config, clock::ManualClock::at_fixed_start().shared()).unwrap();
    let failure = Endpoint::StatusFetch.call(&client).await.unwrap_err();
    assert_eq!(failure.classification.id(), "transport_timeout");
    assert_eq!(failure.occurrence, Occurrence::Transport);
    assert!(failure.is_transient());
    assert_eq!(failure.http_status, None);
}

#[tokio::test]
async fn a_refused_connection_is_a_transient_connect_failure() {
    // wiremock pools its servers, so a dropped MockServer still listens: use a freed port.
    let server = MockServer::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let config = config_for(&server).with_base_urls(closed.clone(), closed);
    let client = TikTokClient::new(config, clock::ManualClock::at_fixed_start().shared()).unwrap();
    let failure = Endpoint::CreatorInfo.call(&client).await.unwrap_err();
    assert!(
        ["transport_connect", "transport_interrupted"].contains(&failure.classification.id()),
        "{failure}"
    );
    assert!(failure.is_transient());
}

#[tokio::test]
async fn creator_info_decodes_the_documented_example_and_sends_no_body() {
    let server = MockServer::start().await;
    let data = json!({
        "creator_avatar_url": "https://lf16-tt4d.tiktokcdn.com/obj/avatar.jpeg",
        "creator_username": "tiktok",
        "creator_nickname": "TikTok Official",
        "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY", "SOMETHING_NEW"],
        "comment_disabled": false,
        "duet_disabled": false,
        "stitch_disabled": true,
        "max_video_post_duration_sec": 300
    });
    answer(
        &server,
        Endpoint::CreatorInfo,
        ResponseTemplate::new(200).set_body_json(ok_envelope(data)),
    )
    .await;
    let info = client_for(&server).creator_info(&token()).await.unwrap();
    assert_eq!(info.creator_nickname, "TikTok Official");
    assert_eq!(
        info.privacy_level_options,
        vec![
            PrivacyLevel::PublicToEveryone,
            PrivacyLevel::MutualFollowFriends,
            PrivacyLevel::SelfOnly
        ]
    );
    assert_eq!(
        info.unrecognised_privacy_options,
        vec!["SOMETHING_NEW".to_owned()]
    );
    assert!(info.stitch_disabled && !info.duet_disabled);
    assert_eq!(info.max_video_post_duration_sec, Some(300));
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].body.is_empty());
}

#[tokio::test]
async fn direct_file_init_sends_post_info_and_chunk_geometry_and_returns_the_upload_url() {
    let server = MockServer::start().await;
    let plan = ChunkPlan::new(50_000_123, 10_000_000).unwrap();
    let mut post_info = VideoPostInfo::new(PrivacyLevel::MutualFollowFriends);
    post_info.title = Some("this will be a funny #cat video on your @tiktok #fyp".into());
    post_info.disable_comment = true;
    post_info.video_cover_timestamp_ms = Some(1000);
    post_info.is_aigc = true;
    let expected_body = json!({
        "post_info": {
            "privacy_level": "MUTUAL_FOLLOW_FRIENDS",
            "title": "this will be a funny #cat video on your @tiktok #fyp",
            "disable_duet": false,
            "disable_stitch": false,
            "disable_comment": true,
            "video_cover_timestamp_ms": 1000,
            "brand_content_toggle": false,
            "brand_organic_toggle": false,
            "is_aigc": true
        },
        "source_info": {
            "source": "FILE_UPLOAD",
            "video_size": 50_000_123,
            "chunk_size": 10_000_000,
            "total_chunk_count": 5
        }
    });
    Mock::given(method("POST"))
        .and(path(Endpoint::VideoInit.path()))
        .and(header("content-type", "application/json; charset=UTF-8"))
        .and(body_json(expected_body))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_envelope(json!({
            "publish_id": "v_pub_file~v2-1.123456789",
            "upload_url": "https://open-upload.tiktokapis.com/video/?upload_id=67890&upload_token=Xza123"
        }))))
        .expect(1)
        .mount(&server)
        .await;
    let init = DirectVideoInit {
        post_info,
        source_info: VideoSource::FileUpload(plan),
    };
    let answer = client_for(&server)
        .init_direct_video(&token(), &init)
        .await
        .unwrap();
    assert_eq!(answer.publish_id.as_str(), "v_pub_file~v2-1.123456789");
    assert_eq!(
        answer.upload_url.unwrap().as_url().as_str(),
        "https://open-upload.tiktokapis.com/video/?upload_id=67890&upload_token=Xza123"
    );
}

#[tokio::test]
async fn a_file_init_answer_without_upload_url_is_malformed() {
    let server = MockServer::start().await;
    answer(
        &server,
        Endpoint::InboxInit,
        ResponseTemplate::new(200)
            .set_body_json(ok_envelope(json!({"publish_id": "v_inbox_file~v2.1"}))),
    )
    .await;
    let init = InboxVideoInit {
        source_info: VideoSource::FileUpload(ChunkPlan::for_size(1000).unwrap()),
    };
    let failure = client_for(&server)
        .init_inbox_video(&token(), &init)
        .await
        .unwrap_err();
    assert_eq!(failure.classification.id(), "malformed_response");
}

#[tokio::test]
async fn inbox_pull_init_sends_only_the_source() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(Endpoint::InboxInit.path()))
        .and(body_json(json!({
            "source_info": {"source": "PULL_FROM_URL", "video_url": "https://media.example.com/videos/a.mp4"}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_envelope(json!({"publish_id": "v_inbox_url~v2.123456789"}))))
        .expect(1)
        .mount(&server)
        .await;
    let answer = client_for(&server)
        .init_inbox_video(
            &token(),
            &InboxVideoInit {
                source_info: pull_source(),
            },
        )
        .await
        .unwrap();
    assert_eq!(answer.publish_id.as_str(), "v_inbox_url~v2.123456789");
    assert_eq!(answer.upload_url, None);
}

#[rstest]
#[case::direct(direct_photo(), json!({
    "media_type": "PHOTO",
    "post_mode": "DIRECT_POST",
    "post_info": {
        "title": "funny cat",
        "description": "#cat @friend",
        "privacy_level": "PUBLIC_TO_EVERYONE",
        "disable_comment": false,
        "auto_add_music": true,
        "brand_content_toggle": false,
        "brand_organic_toggle": false
    },
    "source_info": {
        "source": "PULL_FROM_URL",
        "photo_images": ["https://media.example.com/p/1.jpg", "https://media.example.com/p/2.jpg"],
        "photo_cover_index": 1
    }
}))]
#[case::media_upload(PhotoInit { mode: PhotoMode::MediaUpload, ..direct_photo() }, json!({
    "media_type": "PHOTO",
    "post_mode": "MEDIA_UPLOAD",
    "post_info": {"title": "funny cat", "description": "#cat @friend"},
    "source_info": {
        "source": "PULL_FROM_URL",
        "photo_images": ["https://media.example.com/p/1.jpg", "https://media.example.com/p/2.jpg"],
        "photo_cover_index": 1
    }
}))]
#[tokio::test]
async fn photo_init_sends_the_documented_body_for_each_post_mode(
    #[case] init: PhotoInit,
    #[case] expected: Value,
) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(Endpoint::ContentInit.path()))
        .and(body_json(expected))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(ok_envelope(json!({"publish_id": "p_pub_url~v2.123456789"}))),
        )
        .expect(1)
        .mount(&server)
        .await;
    let publish_id = client_for(&server)
        .init_photo(&token(), &init)
        .await
        .unwrap();
    assert_eq!(publish_id.as_str(), "p_pub_url~v2.123456789");
}

#[tokio::test]
async fn status_fetch_decodes_the_documented_failed_example_into_a_classified_failure() {
    let server = MockServer::start().await;
    let body = ok_envelope(json!({
        "status": "FAILED",
        "fail_reason": "picture_size_check_failed",
        "publicaly_available_post_id": [],
        "uploaded_bytes": 10000
    }))
    .to_string();
    Mock::given(method("POST"))
        .and(path(Endpoint::StatusFetch.path()))
        .and(body_json(
            json!({"publish_id": "v_pub_file~v2-1.123456789"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"))
        .mount(&server)
        .await;
    let report = client_for(&server)
        .fetch_status(&token(), &PublishId::new("v_pub_file~v2-1.123456789"))
        .await
        .unwrap();
    assert_eq!(report.status, PublishStatus::Failed);
    assert_eq!(report.uploaded_bytes, Some(10000));
    assert!(report.public_post_ids.is_empty());
    let failure = report.failure().unwrap();
    assert_eq!(failure.classification.id(), "picture_size_check_failed");
    assert_eq!(failure.occurrence, Occurrence::FailReason);
    assert_eq!(failure.raw_body, body);
}

#[rstest]
#[case::captured_bare_number(
    r#"{"data":{"status":"PUBLISH_COMPLETE","publicaly_available_post_id":[7678907398077074696]},"error":{"code":"ok","message":"","log_id":"x"}}"#,
    PublishStatus::PublishComplete,
    vec![PublicPostId(7_678_907_398_077_074_696)]
)]
#[case::as_strings(
    r#"{"data":{"status":"PUBLISH_COMPLETE","publicaly_available_post_id":["7602997517160123666","7602997517160123667"]},"error":{"code":"ok","message":"","log_id":"x"}}"#,
    PublishStatus::PublishComplete,
    vec![PublicPostId(7_602_997_517_160_123_666), PublicPostId(7_602_997_517_160_123_667)]
)]
#[case::null_ids_and_inbox(
    r#"{"data":{"status":"SEND_TO_USER_INBOX","publicaly_available_post_id":null},"error":{"code":"ok","message":"","log_id":"x"}}"#,
    PublishStatus::SendToUserInbox,
    vec![]
)]
#[case::undocumented_status(
    r#"{"data":{"status":"PROCESSING_AUDIT"},"error":{"code":"ok","message":"","log_id":"x"}}"#,
    PublishStatus::Unknown("PROCESSING_AUDIT".into()),
    vec![]
)]
#[tokio::test]
async fn status_fetch_keeps_19_digit_post_ids_and_unknown_statuses(
    #[case] body: &str,
    #[case] status: PublishStatus,
    #[case] ids: Vec<PublicPostId>,
) {
    let server = MockServer::start().await;
    answer(
        &server,
        Endpoint::StatusFetch,
        ResponseTemplate::new(200).set_body_string(body),
    )
    .await;
    let report = client_for(&server)
        .fetch_status(&token(), &PublishId::new("v_pub_url~v2.123456789"))
        .await
        .unwrap();
    assert_eq!(report.status, status);
    assert_eq!(report.public_post_ids, ids);
    assert!(!report.status.is_final() || report.status == PublishStatus::PublishComplete);
    assert_eq!(report.failure(), None);
}

#[tokio::test]
async fn cancel_accepts_the_documented_envelope_without_data() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(Endpoint::Cancel.path()))
        .and(body_json(json!({"publish_id": "v_pub_url~v2.123456789"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"error": {"code": "ok", "message": "", "log_id": LOG_ID}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    client_for(&server)
        .cancel(&token(), &PublishId::new("v_pub_url~v2.123456789"))
        .await
        .unwrap();
}
