//! The real `tiktok` client driven against the sandbox: every endpoint, from the authorize
//! redirect to revoke, and documented errors as the client classifies them. The two crates were
//! written independently from tiktok-api.md, so agreement here is evidence for both.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // helper functions of a test crate

mod common;

use std::time::Duration;

use clock::Clock as _;
use common::*;
use secrecy::SecretString;
use tiktok::{
    AccessToken, AuthorizationCallback, AuthorizeRequest, CallbackError, ChunkPlan,
    DirectPhotoSettings, DirectVideoInit, InboxVideoInit, PhotoInit, PhotoMode, PkceVerifier,
    PrivacyLevel, PublishId, PublishStatus, RefreshToken, Scope, TikTokClient, TikTokConfig,
    TokenGrant, UploadJob, UploadOutcome, UploadRetry, VideoContentType, VideoPostInfo,
    VideoSource,
};
use tiktok_sandbox::{
    FaultEffect, FaultEndpoint, FaultRule, FaultTimes, OAuthErrorStatus, SandboxConfig,
};

fn client_for(env: &Env) -> TikTokClient {
    let config = TikTokConfig::production(
        env.app.client_key.clone(),
        SecretString::from(env.app.client_secret.expose().to_owned()),
        REDIRECT_URI,
    )
    .unwrap()
    .with_base_urls(env.sandbox.api_base_url(), env.sandbox.authorize_base_url());
    TikTokClient::new(config, env.clock.shared()).unwrap()
}

const SCOPES: &[Scope] = &[
    Scope::UserInfoBasic,
    Scope::VideoPublish,
    Scope::VideoUpload,
];

/// Follows the client's authorize URL (plus the sandbox's creator choice) to the callback.
async fn callback_for(
    env: &Env,
    client: &TikTokClient,
    creator: &str,
    pkce: Option<&tiktok::PkceChallenge>,
    extra: &[(&str, &str)],
) -> Result<AuthorizationCallback, CallbackError> {
    callback_with(env, client, creator, SCOPES, pkce, extra).await
}

/// [`callback_for`] asking for `scopes`.
async fn callback_with(
    env: &Env,
    client: &TikTokClient,
    creator: &str,
    scopes: &[Scope],
    pkce: Option<&tiktok::PkceChallenge>,
    extra: &[(&str, &str)],
) -> Result<AuthorizationCallback, CallbackError> {
    let mut url = client
        .authorize_url(&AuthorizeRequest {
            scopes,
            state: "st-1",
            disable_auto_auth: Some(true),
            pkce,
        })
        .unwrap();
    url.query_pairs_mut()
        .append_pair("sandbox_creator", creator)
        .extend_pairs(extra);
    let response = env.http.get(url).send().await.unwrap();
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    AuthorizationCallback::from_query(location.query().unwrap_or_default())
}

async fn connect(env: &Env, client: &TikTokClient, creator: &str) -> TokenGrant {
    let callback = callback_for(env, client, creator, None, &[]).await.unwrap();
    assert_eq!(callback.state, "st-1");
    client.exchange_code(&callback.code, None).await.unwrap()
}

fn failure_code(failure: &tiktok::TikTokFailure) -> String {
    failure
        .code
        .clone()
        .unwrap_or_else(|| failure.classification().id().to_owned())
}

fn small_direct_init(privacy: PrivacyLevel, size: u64) -> DirectVideoInit {
    DirectVideoInit {
        post_info: VideoPostInfo {
            title: Some("from the client #interop".to_owned()),
            ..VideoPostInfo::new(privacy)
        },
        source_info: VideoSource::FileUpload(ChunkPlan::for_size(size).unwrap()),
    }
}

fn fast_retry() -> UploadRetry {
    UploadRetry {
        first_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        ..UploadRetry::default()
    }
}

async fn upload_file(
    client: &TikTokClient,
    init: &tiktok::PublishInit,
    plan: ChunkPlan,
    bytes: &[u8],
) -> UploadOutcome {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("video.mp4");
    std::fs::write(&path, bytes).unwrap();
    let job = UploadJob {
        upload_url: init.upload_url.clone().unwrap(),
        source: path.into(),
        plan,
        content_type: VideoContentType::Mp4,
        resume_from: 0,
        retry: fast_retry(),
    };
    client.upload(&job, |_| {}).await.unwrap()
}

#[tokio::test]
async fn the_client_connects_posts_a_chunked_video_and_sees_it_published() {
    let env = start_default().await;
    let client = client_for(&env);
    let grant = connect(&env, &client, ADA).await;
    assert_eq!(grant.expires_in, Duration::from_secs(86_400));
    assert!(grant.has_scope(&Scope::VideoPublish));

    let info = client.creator_info(&grant.access_token).await.unwrap();
    assert_eq!(info.creator_username, ADA);
    assert!(info.offers(PrivacyLevel::PublicToEveryone));
    assert_eq!(info.max_video_post_duration_sec, Some(600));

    let size = 40 * MIB as u64;
    let init_body = small_direct_init(PrivacyLevel::PublicToEveryone, size);
    let VideoSource::FileUpload(plan) = init_body.source_info.clone() else {
        unreachable!()
    };
    assert!(plan.total_chunk_count() > 1, "exercise several chunks");
    let init = client
        .init_direct_video(&grant.access_token, &init_body)
        .await
        .unwrap();
    let outcome = upload_file(&client, &init, plan, &mp4_bytes(size as usize)).await;
    assert_eq!(outcome, UploadOutcome::Completed { total_bytes: size });

    let report = client
        .fetch_status(&grant.access_token, &init.publish_id)
        .await
        .unwrap();
    assert_eq!(report.status, PublishStatus::ProcessingUpload);
    assert_eq!(report.uploaded_bytes, Some(size));
    env.advance_secs(10);
    let report = client
        .fetch_status(&grant.access_token, &init.publish_id)
        .await
        .unwrap();
    assert_eq!(report.status, PublishStatus::PublishComplete);
    assert!(report.public_post_ids.is_empty());
    env.advance_secs(60);
    let report = client
        .fetch_status(&grant.access_token, &init.publish_id)
        .await
        .unwrap();
    let truth = env.record(init.publish_id.as_str());
    assert_eq!(
        report
            .public_post_ids
            .iter()
            .map(|id| id.0)
            .collect::<Vec<_>>(),
        truth.public_post_ids
    );
    assert_eq!(truth.title.as_deref(), Some("from the client #interop"));
}

#[tokio::test]
async fn the_client_refreshes_with_rotation_and_revokes() {
    let env = start(SandboxConfig {
        tokens: tiktok_sandbox::TokenPolicy::always_rotating(),
        ..test_config()
    })
    .await;
    let client = client_for(&env);
    let grant = connect(&env, &client, ADA).await;
    assert_eq!(grant.expires_in, Duration::from_secs(7_200));
    let refreshed = client.refresh(&grant.refresh_token).await.unwrap();
    assert_ne!(
        refreshed.refresh_token.expose_secret(),
        grant.refresh_token.expose_secret()
    );
    let stale = client.refresh(&grant.refresh_token).await.unwrap_err();
    assert_eq!(failure_code(&stale), "invalid_grant");
    client.revoke(&refreshed.access_token).await.unwrap();
    let after = client
        .creator_info(&refreshed.access_token)
        .await
        .unwrap_err();
    assert_eq!(failure_code(&after), "access_token_invalid");
    let dead = client.refresh(&refreshed.refresh_token).await.unwrap_err();
    assert_eq!(failure_code(&dead), "invalid_grant");
}

#[tokio::test]
async fn the_clients_hex_pkce_is_accepted() {
    let env = start_default().await;
    let client = client_for(&env);
    let verifier = PkceVerifier::generate();
    let challenge = verifier.challenge();
    let callback = callback_for(&env, &client, BO, Some(&challenge), &[])
        .await
        .unwrap();
    let grant = client
        .exchange_code(&callback.code, Some(&verifier))
        .await
        .unwrap();
    assert_eq!(
        grant.open_id.as_str(),
        env.sandbox.config().creator(BO).unwrap().open_id
    );
}

#[tokio::test]
async fn a_denied_consent_reaches_the_client_as_access_denied() {
    let env = start_default().await;
    let client = client_for(&env);
    let refused = callback_for(&env, &client, ADA, None, &[("sandbox_deny", "1")])
        .await
        .unwrap_err();
    let CallbackError::Refused(failure) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(failure.code.as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn oauth_errors_are_recognised_whatever_their_http_status() {
    for policy in [OAuthErrorStatus::Http200, OAuthErrorStatus::Http4xx] {
        let env = start(SandboxConfig {
            oauth_error_status: policy,
            ..test_config()
        })
        .await;
        let client = client_for(&env);
        let failure = client
            .refresh(&RefreshToken::new("rft.unknown!1234.e1"))
            .await
            .unwrap_err();
        assert_eq!(failure_code(&failure), "invalid_grant", "{policy:?}");
    }
}

#[tokio::test]
async fn inbox_video_and_photo_inits_and_cancel_work_through_the_client() {
    let media = media_server().await;
    let env = start(config_with_media(&media)).await;
    let client = client_for(&env);
    let grant = connect(&env, &client, ADA).await;

    let size = 65536u64;
    let plan = ChunkPlan::for_size(size).unwrap();
    let init = client
        .init_inbox_video(
            &grant.access_token,
            &InboxVideoInit {
                source_info: VideoSource::FileUpload(plan),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        upload_file(&client, &init, plan, &mp4_bytes(65536)).await,
        UploadOutcome::Completed { total_bytes: size }
    );
    env.advance_secs(10);
    let report = client
        .fetch_status(&grant.access_token, &init.publish_id)
        .await
        .unwrap();
    assert_eq!(report.status, PublishStatus::SendToUserInbox);

    let photo = PhotoInit {
        mode: PhotoMode::DirectPost(DirectPhotoSettings {
            privacy_level: PrivacyLevel::SelfOnly,
            disable_comment: false,
            auto_add_music: false,
            brand_content_toggle: false,
            brand_organic_toggle: false,
        }),
        title: Some("two photos".to_owned()),
        description: Some("#interop".to_owned()),
        photo_images: vec![
            url::Url::parse(&format!("{media}/media/photo.jpg")).unwrap(),
            url::Url::parse(&format!("{media}/media/photo.jpg")).unwrap(),
        ],
        photo_cover_index: 1,
    };
    let photo_id = client
        .init_photo(&grant.access_token, &photo)
        .await
        .unwrap();
    env.wait_for(photo_id.as_str(), |r| r.media_settled).await;
    env.advance_secs(10);
    let report = client
        .fetch_status(&grant.access_token, &photo_id)
        .await
        .unwrap();
    assert_eq!(report.status, PublishStatus::PublishComplete);
    assert_eq!(report.downloaded_bytes, Some(2 * JPEG_LEN));

    let pull = DirectVideoInit {
        post_info: VideoPostInfo::new(PrivacyLevel::SelfOnly),
        source_info: VideoSource::PullFromUrl(
            url::Url::parse(&format!("{media}/media/hang")).unwrap(),
        ),
    };
    let pulling = client
        .init_direct_video(&grant.access_token, &pull)
        .await
        .unwrap();
    assert!(pulling.upload_url.is_none());
    client
        .cancel(&grant.access_token, &pulling.publish_id)
        .await
        .unwrap();
    let report = client
        .fetch_status(&grant.access_token, &pulling.publish_id)
        .await
        .unwrap();
    assert_eq!(
        report.failure().unwrap().code.as_deref(),
        Some("publish_cancelled")
    );
    let again = client
        .cancel(&grant.access_token, &pulling.publish_id)
        .await
        .unwrap_err();
    assert_eq!(failure_code(&again), "publish_not_cancellable");
}

#[tokio::test]
async fn documented_errors_reach_the_client_classified() {
    let env = start_default().await;
    let client = client_for(&env);
    let banned = connect(&env, &client, CY).await;
    let failure = client.creator_info(&banned.access_token).await.unwrap_err();
    assert_eq!(failure.http_status, Some(200));
    assert_eq!(failure_code(&failure), "spam_risk_user_banned_from_posting");

    let ada = connect(&env, &client, ADA).await;
    let mismatch = client
        .init_direct_video(
            &ada.access_token,
            &small_direct_init(PrivacyLevel::FollowerOfCreator, 65536),
        )
        .await
        .unwrap_err();
    assert_eq!(failure_code(&mismatch), "privacy_level_option_mismatch");

    let unverified = DirectVideoInit {
        post_info: VideoPostInfo::new(PrivacyLevel::SelfOnly),
        source_info: VideoSource::PullFromUrl(
            url::Url::parse("https://unverified.example.net/v.mp4").unwrap(),
        ),
    };
    let failure = client
        .init_direct_video(&ada.access_token, &unverified)
        .await
        .unwrap_err();
    assert_eq!(failure_code(&failure), "url_ownership_unverified");

    let failure = client
        .fetch_status(&ada.access_token, &PublishId::new("v_pub_file~v2-1.1"))
        .await
        .unwrap_err();
    assert_eq!(failure_code(&failure), "invalid_publish_id");

    let failure = client
        .creator_info(&AccessToken::new("act.bogus!1.e1"))
        .await
        .unwrap_err();
    assert_eq!(failure_code(&failure), "access_token_invalid");

    for _ in 0..6 {
        let _ = client
            .init_direct_video(
                &ada.access_token,
                &small_direct_init(PrivacyLevel::FollowerOfCreator, 65536),
            )
            .await;
    }
    let limited = client
        .init_direct_video(
            &ada.access_token,
            &small_direct_init(PrivacyLevel::SelfOnly, 65536),
        )
        .await
        .unwrap_err();
    assert_eq!(failure_code(&limited), "rate_limit_exceeded");
    assert!(
        matches!(
            limited.retry_policy(),
            tiktok::RetryPolicy::AfterWindow { .. }
        ),
        "{limited:?}"
    );

    let upload_only = client_for(&env);
    let callback = callback_for(
        &env,
        &upload_only,
        ADA,
        None,
        &[("sandbox_withhold", "video.publish")],
    )
    .await
    .unwrap();
    let narrow = upload_only
        .exchange_code(&callback.code, None)
        .await
        .unwrap();
    let failure = upload_only
        .creator_info(&narrow.access_token)
        .await
        .unwrap_err();
    assert_eq!(failure_code(&failure), "scope_not_authorized");
}

#[tokio::test]
async fn injected_gateway_errors_and_dropped_connections_are_transient_for_the_client() {
    let env = start_default().await;
    let client = client_for(&env);
    let grant = connect(&env, &client, ADA).await;
    env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::CreatorInfo,
        creator: None,
        effect: FaultEffect::Http5xxWithoutBody { http_status: 502 },
        times: FaultTimes::Once,
    });
    let failure = client.creator_info(&grant.access_token).await.unwrap_err();
    assert_eq!(failure.http_status, Some(502));
    assert!(failure.is_transient(), "{failure:?}");
    env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::CreatorInfo,
        creator: None,
        effect: FaultEffect::DropConnection {
            after_processing: false,
        },
        times: FaultTimes::Once,
    });
    let failure = client.creator_info(&grant.access_token).await.unwrap_err();
    assert!(failure.is_transient(), "{failure:?}");
    assert!(client.creator_info(&grant.access_token).await.is_ok());
}

#[tokio::test]
async fn the_clients_uploader_resyncs_after_a_chunk_whose_answer_was_lost() {
    let env = start_default().await;
    let client = client_for(&env);
    let grant = connect(&env, &client, ADA).await;
    let size = 40 * MIB as u64;
    let init_body = small_direct_init(PrivacyLevel::SelfOnly, size);
    let VideoSource::FileUpload(plan) = init_body.source_info.clone() else {
        unreachable!()
    };
    let init = client
        .init_direct_video(&grant.access_token, &init_body)
        .await
        .unwrap();
    env.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::Upload,
        creator: None,
        effect: FaultEffect::DropConnection {
            after_processing: true,
        },
        times: FaultTimes::Once,
    });
    let outcome = upload_file(&client, &init, plan, &mp4_bytes(size as usize)).await;
    assert_eq!(outcome, UploadOutcome::Completed { total_bytes: size });
    assert_eq!(env.record(init.publish_id.as_str()).transferred_bytes, size);
}

#[tokio::test]
async fn an_expired_upload_url_is_reported_as_such_by_the_client() {
    let env = start_default().await;
    let client = client_for(&env);
    let grant = connect(&env, &client, ADA).await;
    let init_body = small_direct_init(PrivacyLevel::SelfOnly, 65536);
    let VideoSource::FileUpload(plan) = init_body.source_info.clone() else {
        unreachable!()
    };
    let init = client
        .init_direct_video(&grant.access_token, &init_body)
        .await
        .unwrap();
    env.advance_secs(3_600);
    let outcome = upload_file(&client, &init, plan, &mp4_bytes(65536)).await;
    assert!(
        matches!(
            outcome,
            UploadOutcome::UrlExpired {
                acknowledged_bytes: 0,
                ..
            }
        ),
        "{outcome:?}"
    );
}

// --- the Display API (insights) ---

const INSIGHT_SCOPES: &[Scope] = &[
    Scope::UserInfoBasic,
    Scope::UserInfoProfile,
    Scope::UserInfoStats,
    Scope::VideoList,
    Scope::VideoPublish,
];

async fn connect_for_insights(env: &Env, client: &TikTokClient, creator: &str) -> TokenGrant {
    let callback = callback_with(env, client, creator, INSIGHT_SCOPES, None, &[])
        .await
        .unwrap();
    client.exchange_code(&callback.code, None).await.unwrap()
}

/// Publishes a small video with `privacy` and waits (on the sandbox clock) until its public id
/// is visible; the id, if it has one.
async fn publish_visible(
    env: &Env,
    client: &TikTokClient,
    token: &AccessToken,
    privacy: PrivacyLevel,
) -> Option<u64> {
    let size = MIB as u64;
    let init_body = small_direct_init(privacy, size);
    let VideoSource::FileUpload(plan) = init_body.source_info.clone() else {
        unreachable!()
    };
    let init = client.init_direct_video(token, &init_body).await.unwrap();
    upload_file(client, &init, plan, &mp4_bytes(size as usize)).await;
    env.advance_secs(120);
    let report = client.fetch_status(token, &init.publish_id).await.unwrap();
    assert_eq!(report.status, PublishStatus::PublishComplete);
    report.public_post_ids.first().map(|id| id.0)
}

#[tokio::test]
async fn the_display_api_shows_public_posts_with_counts_that_grow_and_leaves_private_ones_out() {
    let env = start_default().await;
    let client = client_for(&env);
    let grant = connect_for_insights(&env, &client, ADA).await;
    let token = &grant.access_token;
    let before = client.user_info(token, &grant.scopes).await.unwrap();
    assert_eq!(before.username.as_deref(), Some(ADA));
    assert_eq!(before.video_count, Some(0));
    let followers_before = before.follower_count.unwrap();

    let first = publish_visible(&env, &client, token, PrivacyLevel::PublicToEveryone)
        .await
        .expect("a public post gets a public id");
    let second = publish_visible(&env, &client, token, PrivacyLevel::PublicToEveryone)
        .await
        .unwrap();
    // A private post may have a public id, but the Display API never shows it.
    let private = publish_visible(&env, &client, token, PrivacyLevel::SelfOnly).await;

    let page = client.video_list(token, None, 20).await.unwrap();
    let ids: Vec<u64> = page.videos.iter().map(|video| video.id.0).collect();
    assert_eq!(ids, vec![second, first], "newest first, public only");
    assert!(!page.has_more);
    // One at a time, with the cursor.
    let one = client.video_list(token, None, 1).await.unwrap();
    assert_eq!(one.videos.len(), 1);
    assert!(one.has_more);
    let next = client.video_list(token, one.cursor, 1).await.unwrap();
    assert_eq!(next.videos[0].id.0, first);
    assert!(!next.has_more);

    let wanted: Vec<tiktok::PublicPostId> = [first, second]
        .into_iter()
        .chain(private)
        .chain([12_345])
        .map(tiktok::PublicPostId)
        .collect();
    let early = client.video_query(token, &wanted).await.unwrap();
    assert_eq!(early.len(), 2, "a private or unknown id is absent");
    let early_views = early
        .iter()
        .find(|v| v.id.0 == first)
        .unwrap()
        .view_count
        .unwrap();
    env.advance_secs(6 * 3_600);
    let later = client.video_query(token, &wanted).await.unwrap();
    let video = later.iter().find(|v| v.id.0 == first).unwrap();
    assert!(
        video.view_count.unwrap() > early_views,
        "counts grow with time"
    );
    assert!(video.like_count.unwrap() <= video.view_count.unwrap());
    assert!(
        video
            .share_url
            .as_deref()
            .unwrap()
            .ends_with(&first.to_string())
    );

    let after = client.user_info(token, &grant.scopes).await.unwrap();
    assert_eq!(after.video_count, Some(2));
    assert!(after.follower_count.unwrap() >= followers_before);
    assert!(after.likes_count.unwrap() > 0);

    let too_many: Vec<tiktok::PublicPostId> = (0..21).map(tiktok::PublicPostId).collect();
    let refused = client.video_query(token, &too_many).await.unwrap_err();
    assert_eq!(refused.classification().id(), "invalid_params");
}

#[tokio::test]
async fn a_post_whose_public_id_is_never_reported_is_still_listed_by_the_display_api() {
    let env = start_default().await;
    let client = client_for(&env);
    let grant = connect_for_insights(&env, &client, ED).await;
    let token = &grant.access_token;
    let published_at = env.clock.now().as_second();
    assert_eq!(
        publish_visible(&env, &client, token, PrivacyLevel::PublicToEveryone).await,
        None,
        "status fetch never names the public post of this creator"
    );
    env.advance_secs(3 * 3_600);
    let page = client.video_list(token, None, 20).await.unwrap();
    let [video] = page.videos.as_slice() else {
        panic!("one public video listed: {page:?}");
    };
    assert_eq!(video.title.as_deref(), Some("from the client #interop"));
    let created = video.create_time.unwrap();
    assert!(
        (published_at..=published_at + 3_600).contains(&created),
        "created {created}, published {published_at}"
    );
    let statuses = client.video_query(token, &[video.id]).await.unwrap();
    assert_eq!(
        statuses.len(),
        1,
        "its counts can be read once its id is known"
    );
}

#[tokio::test]
async fn without_the_display_scopes_the_answers_say_to_reconnect() {
    let env = start_default().await;
    let client = client_for(&env);
    // Connected for publishing only, as before insights existed.
    let grant = connect(&env, &client, ADA).await;
    let token = &grant.access_token;
    let basic = client.user_info(token, &grant.scopes).await.unwrap();
    assert_eq!(
        basic.display_name.as_deref().map(str::is_empty),
        Some(false)
    );
    assert_eq!(basic.follower_count, None, "stats need user.info.stats");
    // Asking for stats fields without the scope fails the whole call.
    let asked_anyway = client.user_info(token, INSIGHT_SCOPES).await.unwrap_err();
    assert_eq!(failure_code(&asked_anyway), "scope_permission_missed");
    let list = client.video_list(token, None, 20).await.unwrap_err();
    assert_eq!(failure_code(&list), "scope_not_authorized");
    assert_eq!(
        list.classification().id(),
        "scope_not_authorized",
        "classified for a reconnect"
    );
}

#[tokio::test]
async fn the_display_endpoints_keep_tiktoks_600_a_minute_per_token_and_count_what_they_admit() {
    let env = start(SandboxConfig {
        rate_limits: tiktok_sandbox::RateLimits {
            video_list: Some(3),
            ..tiktok_sandbox::RateLimits::default()
        },
        ..test_config()
    })
    .await;
    let client = client_for(&env);
    let grant = connect_for_insights(&env, &client, ADA).await;
    for _ in 0..3 {
        client
            .video_list(&grant.access_token, None, 20)
            .await
            .unwrap();
    }
    let limited = client
        .video_list(&grant.access_token, None, 20)
        .await
        .unwrap_err();
    assert_eq!(failure_code(&limited), "rate_limit_exceeded");
    env.advance_secs(60);
    client
        .video_list(&grant.access_token, None, 20)
        .await
        .unwrap();
    // What TikTok received counts the admitted requests only.
    assert_eq!(
        env.sandbox
            .admitted(tiktok_sandbox::FaultEndpoint::VideoList),
        4
    );
    assert_eq!(
        env.sandbox
            .admitted(tiktok_sandbox::FaultEndpoint::VideoQuery),
        0
    );
    assert_eq!(env.sandbox.refusals().get("rate_limit_exceeded"), Some(&1));
}
