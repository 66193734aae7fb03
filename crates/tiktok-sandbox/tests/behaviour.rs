//! Sandbox behaviours beyond the wire contract: fault injection, webhooks, revoke effects,
//! bounded memory, the admin API and shutdown.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // helper functions of a test crate

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tiktok_sandbox::{
    FaultEffect, FaultEndpoint, FaultRule, FaultTimes, SandboxConfig, WebhookPolicy, sign_webhook,
};

fn rule(
    endpoint: FaultEndpoint,
    creator: Option<&str>,
    effect: FaultEffect,
    times: FaultTimes,
) -> FaultRule {
    FaultRule {
        endpoint,
        creator: creator.map(str::to_owned),
        effect,
        times,
    }
}

fn injected_error(code: &str, http_status: u16) -> FaultEffect {
    FaultEffect::Error {
        code: code.to_owned(),
        http_status,
        message: None,
    }
}

// ---- fault injection -----------------------------------------------------------------------

#[tokio::test]
async fn an_injected_error_fires_once_then_the_endpoint_answers_normally() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    env.sandbox.add_fault(rule(
        FaultEndpoint::VideoInit,
        None,
        injected_error("internal_error", 500),
        FaultTimes::Once,
    ));
    let (status, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "internal_error");
    assert_eq!(body["data"], json!({}));
    let (status, _) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        env.sandbox.faults().is_empty(),
        "a spent once-rule is removed"
    );
}

#[tokio::test]
async fn a_creator_fault_leaves_other_creators_alone() {
    let env = start_default().await;
    let ada = env.login(ADA).await;
    let bo = env.login(BO).await;
    env.sandbox.add_fault(rule(
        FaultEndpoint::CreatorInfo,
        Some(ADA),
        injected_error("spam_risk_too_many_posts", 200),
        FaultTimes::Times { n: 2 },
    ));
    let (_, body) = env
        .call(&bo.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_eq!(body["error"]["code"], "ok");
    for _ in 0..2 {
        let (status, body) = env
            .call(&ada.access, "v2/post/publish/creator_info/query/", None)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::OK, Some("spam_risk_too_many_posts"))
        );
    }
    let (_, body) = env
        .call(&ada.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_eq!(body["error"]["code"], "ok");
}

#[tokio::test]
async fn a_5xx_without_body_has_no_json_at_all() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    env.sandbox.add_fault(rule(
        FaultEndpoint::Status,
        None,
        FaultEffect::Http5xxWithoutBody { http_status: 503 },
        FaultTimes::Once,
    ));
    let (status, _, raw) = env
        .call_raw(
            &tokens.access,
            "v2/post/publish/status/fetch/",
            Some(json!({"publish_id": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(raw.is_empty());
}

#[tokio::test]
async fn an_injected_oauth_error_is_flat_with_the_injected_status() {
    let env = start_default().await;
    env.sandbox.add_fault(rule(
        FaultEndpoint::Token,
        None,
        injected_error("temporarily_unavailable", 503),
        FaultTimes::Once,
    ));
    let app = env.app.clone();
    let code = env.code(&app, ADA, ALL_SCOPES).await;
    let (status, body) = env.exchange(&app, &code).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["log_id"].is_string());
    let (status, body) = env.exchange(&app, &code).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the code survived the injected failure: {body}"
    );
}

#[tokio::test]
async fn a_dropped_connection_before_processing_leaves_no_publish_behind() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    env.sandbox.add_fault(rule(
        FaultEndpoint::VideoInit,
        None,
        FaultEffect::DropConnection {
            after_processing: false,
        },
        FaultTimes::Once,
    ));
    let outcome = env
        .http
        .post(env.url("v2/post/publish/video/init/"))
        .bearer_auth(&tokens.access)
        .json(&json!({"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "FILE_UPLOAD", "video_size": 65536, "chunk_size": 65536, "total_chunk_count": 1}}))
        .send()
        .await;
    let failed = match outcome {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a broken answer");
    assert!(env.sandbox.published().is_empty());
}

#[tokio::test]
async fn a_dropped_connection_after_processing_loses_only_the_answer() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    env.sandbox.add_fault(rule(
        FaultEndpoint::VideoInit,
        None,
        FaultEffect::DropConnection {
            after_processing: true,
        },
        FaultTimes::Once,
    ));
    let outcome = env
        .http
        .post(env.url("v2/post/publish/video/init/"))
        .bearer_auth(&tokens.access)
        .json(&json!({"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "FILE_UPLOAD", "video_size": 65536, "chunk_size": 65536, "total_chunk_count": 1}}))
        .send()
        .await;
    let body = match outcome {
        Err(_) => None,
        Ok(response) => response.bytes().await.ok(),
    };
    assert!(body.is_none(), "the client must see a broken answer");
    assert_eq!(
        env.sandbox.published().len(),
        1,
        "the publish exists although its id never arrived"
    );
}

#[tokio::test]
async fn a_chunk_stored_before_the_connection_dropped_is_reported_by_the_progress_header_after_416()
{
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (size, chunk) = (11 * MIB, 5 * MIB);
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", size, chunk)
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let upload_url = body["data"]["upload_url"].as_str().unwrap().to_owned();
    env.sandbox.add_fault(rule(
        FaultEndpoint::Upload,
        None,
        FaultEffect::DropConnection {
            after_processing: true,
        },
        FaultTimes::Once,
    ));
    let bytes = mp4_bytes(size);
    let lost = env
        .http
        .put(&upload_url)
        .header("Content-Type", "video/mp4")
        .header("Content-Range", format!("bytes 0-{}/{size}", chunk - 1))
        .body(bytes[..chunk].to_vec())
        .send()
        .await;
    if let Ok(response) = lost {
        assert!(
            response.bytes().await.is_err(),
            "the answer must be cut off"
        );
    }
    let replay = env
        .put_chunk(&upload_url, bytes[..chunk].to_vec(), 0, size)
        .await;
    assert_eq!(replay.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        replay.headers()["content-range"],
        format!("bytes 0-{}/{size}", chunk - 1).as_str()
    );
    let last = env
        .put_chunk(&upload_url, bytes[chunk..].to_vec(), chunk, size)
        .await;
    assert_eq!(last.status(), StatusCode::CREATED);
    assert_eq!(env.record(&publish_id).transferred_bytes, size as u64);
}

#[tokio::test]
async fn a_connection_dropped_mid_upload_stores_nothing() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let upload_url = body["data"]["upload_url"].as_str().unwrap().to_owned();
    env.sandbox.add_fault(rule(
        FaultEndpoint::Upload,
        None,
        FaultEffect::DropConnection {
            after_processing: false,
        },
        FaultTimes::Once,
    ));
    let broken = env
        .http
        .put(&upload_url)
        .header("Content-Type", "video/mp4")
        .header("Content-Range", "bytes 0-65535/65536")
        .body(mp4_bytes(65536))
        .send()
        .await;
    let broken = match broken {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(broken);
    assert_eq!(env.record(&publish_id).transferred_bytes, 0);
    assert_eq!(
        env.put_chunk(&upload_url, mp4_bytes(65536), 0, 65536)
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn an_injected_fail_reason_ends_the_publish_failed_after_processing() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    env.sandbox.add_fault(rule(
        FaultEndpoint::VideoInit,
        Some(ADA),
        FaultEffect::FailReason {
            fail_reason: "spam_risk_text".to_owned(),
        },
        FaultTimes::Once,
    ));
    let publish_id = env
        .post_small_video(&tokens.access, "PUBLIC_TO_EVERYONE")
        .await;
    env.advance_secs(10);
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(data["status"], "FAILED");
    assert_eq!(data["fail_reason"], "spam_risk_text");
}

#[tokio::test]
async fn an_injected_pull_error_fails_the_pull() {
    let media = media_server().await;
    let env = start(config_with_media(&media)).await;
    let tokens = env.login(ADA).await;
    env.sandbox.add_fault(rule(
        FaultEndpoint::Pull,
        None,
        injected_error("boom", 500),
        FaultTimes::Once,
    ));
    let (_, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/video/init/",
            Some(json!({"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "PULL_FROM_URL", "video_url": format!("{media}/media/video.mp4")}})),
        )
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let record = env.wait_for(&publish_id, |r| r.status == "FAILED").await;
    assert_eq!(record.fail_reason.as_deref(), Some("video_pull_failed"));
}

#[tokio::test]
async fn faults_come_from_the_configuration_too() {
    let mut config = test_config();
    config.faults.push(rule(
        FaultEndpoint::CreatorInfo,
        None,
        injected_error("internal_error", 500),
        FaultTimes::Always,
    ));
    let env = start(config).await;
    let tokens = env.login(ADA).await;
    for _ in 0..3 {
        let (status, _) = env
            .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
            .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}

#[tokio::test]
async fn the_admin_api_adds_lists_and_removes_faults() {
    let env = start_default().await;
    let faults = env.sandbox.admin_base_url().join("faults").unwrap();
    let added: Value = env
        .http
        .post(faults.clone())
        .json(&json!({"endpoint": "status", "creator": "ada.public", "effect": {"kind": "latency", "ms": 1}, "times": {"kind": "probability", "p": 0.5}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = added["id"].as_u64().unwrap();
    let listed: Value = env
        .http
        .get(faults.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["endpoint"], "status");
    let one = env
        .sandbox
        .admin_base_url()
        .join(&format!("faults/{id}"))
        .unwrap();
    assert_eq!(
        env.http.delete(one.clone()).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.http.delete(one).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    env.sandbox.add_fault(rule(
        FaultEndpoint::Cancel,
        None,
        FaultEffect::Latency { ms: 1 },
        FaultTimes::Always,
    ));
    assert_eq!(
        env.http.delete(faults).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert!(env.sandbox.faults().is_empty());
}

// ---- webhooks ------------------------------------------------------------------------------

fn webhook_config(url: &str, policy: WebhookPolicy) -> SandboxConfig {
    let mut config = test_config();
    config.apps[0].webhook_url = Some(url.to_owned());
    config.webhooks = policy;
    config
}

fn no_duplicates() -> WebhookPolicy {
    WebhookPolicy {
        duplicate_probability: 0.0,
        ..WebhookPolicy::default()
    }
}

fn verify(delivery: &Delivery, secret: &str) -> Value {
    let (t, s) = delivery.signature.split_once(',').unwrap();
    let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    assert_eq!(
        s.strip_prefix("s=").unwrap(),
        sign_webhook(secret, t, &delivery.body)
    );
    serde_json::from_str(&delivery.body).unwrap()
}

#[tokio::test]
async fn a_public_post_sends_signed_complete_then_publicly_available_events() {
    let (url, store) = webhook_sink(0).await;
    let env = start(webhook_config(&url, no_duplicates())).await;
    let tokens = env.login(ADA).await;
    let publish_id = env
        .post_small_video(&tokens.access, "PUBLIC_TO_EVERYONE")
        .await;
    env.advance_secs(10);
    let deliveries = wait_for_deliveries(&store, 1).await;
    let secret = env.app.client_secret.expose().to_owned();
    let complete = verify(&deliveries[0], &secret);
    assert_eq!(complete["event"], "post.publish.complete");
    assert_eq!(complete["client_key"], env.app.client_key.as_str());
    assert_eq!(complete["user_openid"], tokens.open_id.as_str());
    let content: Value = serde_json::from_str(complete["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["publish_id"], publish_id.as_str());
    assert_eq!(content["publish_type"], "DIRECT_PUBLISH");
    env.advance_secs(60);
    let deliveries = wait_for_deliveries(&store, 2).await;
    let public = verify(&deliveries[1], &secret);
    assert_eq!(public["event"], "post.publish.publicly_available");
    let content: Value = serde_json::from_str(public["content"].as_str().unwrap()).unwrap();
    let post_id = content["post_id"].as_str().unwrap();
    let data = env.status(&tokens.access, &publish_id).await;
    assert_eq!(
        data["publicaly_available_post_id"][0]
            .as_u64()
            .unwrap()
            .to_string(),
        post_id
    );
}

#[tokio::test]
async fn a_failed_delivery_is_retried_after_the_backoff_on_the_shared_clock() {
    let (url, store) = webhook_sink(1).await;
    let policy = WebhookPolicy {
        first_retry_after_ms: 30_000,
        ..no_duplicates()
    };
    let env = start(webhook_config(&url, policy)).await;
    let tokens = env.login(ADA).await;
    env.post_small_video(&tokens.access, "SELF_ONLY").await;
    env.advance_secs(10);
    let attempts = wait_for_attempts(&store, 1).await;
    assert!(!attempts[0].accepted, "the first attempt was refused");
    env.advance_secs(30);
    let deliveries = wait_for_deliveries(&store, 1).await;
    assert_eq!(
        verify(&deliveries[0], env.app.client_secret.expose())["event"],
        "post.publish.complete"
    );
}

#[tokio::test]
async fn with_a_duplicate_probability_of_one_every_event_arrives_twice() {
    let (url, store) = webhook_sink(0).await;
    let policy = WebhookPolicy {
        duplicate_probability: 1.0,
        ..WebhookPolicy::default()
    };
    let env = start(webhook_config(&url, policy)).await;
    let tokens = env.login(ADA).await;
    env.post_small_video(&tokens.access, "SELF_ONLY").await;
    env.advance_secs(10);
    let deliveries = wait_for_deliveries(&store, 2).await;
    assert_eq!(deliveries[0].body, deliveries[1].body);
}

#[tokio::test]
async fn revoking_fails_uploads_in_flight_with_auth_removed_and_sends_authorization_removed() {
    let (url, store) = webhook_sink(0).await;
    let env = start(webhook_config(&url, no_duplicates())).await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let app = env.app.clone();
    let (status, _, _) = env
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
    let record = env.record(&publish_id);
    assert_eq!(
        (record.status.as_str(), record.fail_reason.as_deref()),
        ("FAILED", Some("auth_removed"))
    );
    let deliveries = wait_for_deliveries(&store, 2).await;
    let events: Vec<Value> = deliveries
        .iter()
        .map(|d| verify(d, app.client_secret.expose()))
        .collect();
    let removed = events
        .iter()
        .find(|e| e["event"] == "authorization.removed")
        .unwrap();
    assert_eq!(removed["content"], r#"{"reason":5}"#);
    assert!(events.iter().any(|e| e["event"] == "post.publish.failed"));
}

#[tokio::test]
async fn an_inbox_delivery_sends_inbox_delivered_with_inbox_share() {
    let (url, store) = webhook_sink(0).await;
    let env = start(webhook_config(&url, no_duplicates())).await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .call(
            &tokens.access,
            "v2/post/publish/inbox/video/init/",
            Some(json!({"source_info": {"source": "FILE_UPLOAD", "video_size": 65536, "chunk_size": 65536, "total_chunk_count": 1}})),
        )
        .await;
    let upload_url = body["data"]["upload_url"].as_str().unwrap();
    env.put_chunk(upload_url, mp4_bytes(65536), 0, 65536).await;
    env.advance_secs(10);
    let deliveries = wait_for_deliveries(&store, 1).await;
    let event = verify(&deliveries[0], env.app.client_secret.expose());
    assert_eq!(event["event"], "post.publish.inbox_delivered");
    let content: Value = serde_json::from_str(event["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["publish_type"], "INBOX_SHARE");
}

// ---- state, admin, lifecycle ---------------------------------------------------------------

#[tokio::test]
async fn only_the_newest_publishes_are_remembered_once_finished() {
    let env = start(SandboxConfig {
        max_retained_publishes: 3,
        ..test_config()
    })
    .await;
    let tokens = env.login(ADA).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(env.post_small_video(&tokens.access, "SELF_ONLY").await);
        env.advance_secs(11);
    }
    let remembered: Vec<String> = env
        .sandbox
        .published()
        .into_iter()
        .map(|r| r.publish_id)
        .collect();
    assert_eq!(remembered, ids[2..].to_vec());
}

#[tokio::test]
async fn received_bytes_stay_on_disk_only_until_the_outcome_is_decided() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let (size, chunk) = (11 * MIB, 5 * MIB);
    let bytes = mp4_bytes(size);
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", size, chunk)
        .await;
    let upload_url = body["data"]["upload_url"].as_str().unwrap().to_owned();
    env.put_chunk(&upload_url, bytes[..chunk].to_vec(), 0, size)
        .await;
    assert_eq!(env.sandbox.media_on_disk_bytes(), chunk as u64);
    env.put_chunk(&upload_url, bytes[chunk..].to_vec(), chunk, size)
        .await;
    assert_eq!(env.sandbox.media_on_disk_bytes(), 0, "deleted once judged");

    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", size, chunk)
        .await;
    let abandoned = body["data"]["upload_url"].as_str().unwrap().to_owned();
    env.put_chunk(&abandoned, bytes[..chunk].to_vec(), 0, size)
        .await;
    assert_eq!(env.sandbox.media_on_disk_bytes(), chunk as u64);
    env.advance_secs(3_600);
    env.post_small_video(&env.login(ADA).await.access, "SELF_ONLY")
        .await;
    assert_eq!(
        env.sandbox.media_on_disk_bytes(),
        0,
        "an expired upload's bytes are dropped"
    );
}

#[tokio::test]
async fn an_upload_beyond_the_disk_budget_is_refused_with_internal_error() {
    let env = start(SandboxConfig {
        media_disk_budget_bytes: 100_000,
        ..test_config()
    })
    .await;
    let tokens = env.login(ADA).await;
    // Bytes that arrived leave the budget: a finished upload holds no room.
    env.post_small_video(&tokens.access, "SELF_ONLY").await;
    let (status, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "internal_error");
    // An upload whose URL expired gives its room back.
    env.advance_secs(3_601);
    let (status, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_published_listing_is_the_truth_over_http_too() {
    let env = start_default().await;
    let tokens = env.login(ADA).await;
    let publish_id = env
        .post_small_video(&tokens.access, "PUBLIC_TO_EVERYONE")
        .await;
    env.advance_secs(70);
    let listing: Vec<tiktok_sandbox::PublishedRecord> = env
        .http
        .get(env.sandbox.admin_base_url().join("published").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing, env.sandbox.published());
    let record = &listing[0];
    assert_eq!(record.publish_id, publish_id);
    assert_eq!(record.status, "PUBLISH_COMPLETE");
    assert_eq!(record.title.as_deref(), Some("hello #sandbox"));
    assert_eq!(record.privacy_level.as_deref(), Some("PUBLIC_TO_EVERYONE"));
    assert_eq!(record.public_post_ids.len(), 1);
    let creators: Value = env
        .http
        .get(env.sandbox.admin_base_url().join("creators").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        creators.as_array().unwrap().len(),
        env.sandbox.creators().len()
    );
}

#[tokio::test]
async fn without_an_upload_listener_uploads_go_to_a_separate_path_on_the_api_listener() {
    let clock = clock::ManualClock::at_fixed_start();
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = tiktok_sandbox::Sandbox::start(test_config(), clock.shared(), api, None)
        .await
        .unwrap();
    assert_eq!(
        sandbox.upload_base_url(),
        sandbox.api_base_url().join("upload/").unwrap()
    );
    let banner = sandbox.banner();
    assert!(banner.contains("ada.public") && banner.contains("/upload/"));
    assert!(!banner.contains(sandbox.config().apps[0].client_secret.expose()));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_the_listeners() {
    let env = start_default().await;
    let url = env.url("v2/post/publish/creator_info/query/");
    let http = env.http.clone();
    env.sandbox.shutdown().await;
    assert!(http.post(url).send().await.is_err());
}

// ---- admin clock ---------------------------------------------------------------------------

impl Env {
    async fn admin_clock(&self) -> Value {
        let response = self
            .http
            .get(self.sandbox.admin_base_url().join("clock").unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn admin_advance(&self, body: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.sandbox.admin_base_url().join("clock/advance").unwrap())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }
}

const FIXED_START: i64 = 1_767_225_600;

#[tokio::test]
async fn advancing_the_clock_over_http_past_a_token_lifetime_gets_the_token_refused() {
    let env = start_with_movable_clock(test_config()).await;
    assert!(env.sandbox.clock_is_movable());
    assert!(env.sandbox.banner().contains("clock/advance"));
    let tokens = env.login(ADA).await;
    assert_eq!(
        env.admin_clock().await,
        json!({ "now": "2026-01-01T00:00:00Z", "unix_seconds": FIXED_START, "movable": true })
    );
    let (status, body) = env
        .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::OK, &json!("ok"))
    );

    let lifetime = env.sandbox.config().tokens.access_token_ttl_secs;
    let (status, body) = env
        .admin_advance(&format!(r#"{{"seconds": {lifetime}}}"#))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["advanced_seconds"], lifetime);
    assert_eq!(
        body["unix_seconds"],
        FIXED_START + i64::try_from(lifetime).unwrap()
    );
    assert_eq!(
        env.admin_clock().await["unix_seconds"],
        body["unix_seconds"]
    );

    let (status, body) = env
        .call(&tokens.access, "v2/post/publish/creator_info/query/", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "access_token_invalid");
}

#[tokio::test]
async fn advancing_the_clock_over_http_past_the_upload_window_gets_the_chunk_refused_with_403() {
    let env = start_with_movable_clock(test_config()).await;
    let tokens = env.login(ADA).await;
    let (_, body) = env
        .init_file(&tokens.access, "SELF_ONLY", 65536, 65536)
        .await;
    let upload_url = body["data"]["upload_url"].as_str().unwrap().to_owned();
    let window = env.sandbox.config().upload_window_secs;
    let (status, _) = env
        .admin_advance(&format!(r#"{{"seconds": {window}}}"#))
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = env.put_chunk(&upload_url, mp4_bytes(65536), 0, 65536).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_sandbox_on_a_clock_it_may_not_move_refuses_to_advance_with_409() {
    let env = start_default().await;
    assert!(!env.sandbox.clock_is_movable());
    assert!(!env.sandbox.banner().contains("clock/advance"));
    let (status, body) = env.admin_advance(r#"{"seconds": 60}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "clock_not_movable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("start_with_manual_clock"),
        "{body}"
    );
    assert_eq!(
        env.admin_clock().await,
        json!({ "now": "2026-01-01T00:00:00Z", "unix_seconds": FIXED_START, "movable": false })
    );
}

#[tokio::test]
async fn a_clock_advance_out_of_bounds_is_400_naming_the_field_the_limit_and_the_value() {
    let env = start_with_movable_clock(test_config()).await;
    let cases = [
        (r#"{"seconds": 0}"#, json!(0)),
        (r#"{"seconds": 34560001}"#, json!(34_560_001)),
        (r#"{"seconds": -60}"#, json!(-60)),
        (r#"{"seconds": 1.5}"#, json!(1.5)),
        (r#"{"seconds": "60"}"#, json!("60")),
        (r#"{"minutes": 1}"#, Value::Null),
        ("not json", Value::Null),
    ];
    for (request, value) in cases {
        let (status, body) = env.admin_advance(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        let error = &body["error"];
        assert_eq!(error["code"], "invalid_clock_advance", "{request}");
        assert_eq!(error["field"], "seconds", "{request}");
        assert_eq!(error["limit"], 34_560_000, "{request}");
        assert_eq!(error["value"], value, "{request}");
        assert!(error["message"].is_string(), "{request}");
    }
    assert_eq!(env.admin_clock().await["unix_seconds"], FIXED_START);
    let (status, body) = env.admin_advance(r#"{"seconds": 34560000}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        clock::Clock::now(env.clock.as_ref()).as_second(),
        FIXED_START + 34_560_000
    );
}
