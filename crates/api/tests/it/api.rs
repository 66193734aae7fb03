//! Auth, tenant isolation, the OAuth connect flow and its state checks, media upload, posts,
//! validation errors, inbound webhooks and the OpenAPI document.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clock::Clock as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokpost_pipeline::webhooks::address::AddressPolicy;

use crate::support::*;

#[tokio::test]
async fn requests_without_an_active_key_are_refused_with_401() {
    let app = App::start().await;
    for key in [None, Some("tp_0000"), Some("not-even-our-format")] {
        let (status, body) = app
            .call(reqwest::Method::GET, "/v1/accounts", key, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(code(&body), "unauthorized");
    }
    let key = app
        .store
        .api_key_by_hash(&tokpost_api::hash_key(&app.key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.get("/v1/accounts").await.0, StatusCode::OK);
    app.store
        .revoke_api_key(key.id, app.clock.now())
        .await
        .unwrap();
    assert_eq!(
        app.get("/v1/accounts").await.0,
        StatusCode::UNAUTHORIZED,
        "a revoked key stops working"
    );
}

#[tokio::test]
async fn connecting_stores_the_account_with_its_scopes_and_creator_info() {
    let app = App::start().await;
    let account = app.connect(&app.key, "ada.public").await;
    assert_eq!(account["display_name"], "Ada (public)");
    assert_eq!(account["status"], "connected");
    let id = account["id"].as_str().unwrap();
    let (status, shown) = app.get(&format!("/v1/accounts/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let health = &shown["health"];
    assert_eq!(health["connected"], true);
    assert_eq!(health["scopes_missing"], json!([]));
    assert_eq!(health["insights_ready"], true, "{health}");
    assert_eq!(health["posts_last_24h"], 0);
    assert_eq!(health["creator_info"]["creator_username"], "ada.public");
    let (status, list) = app.get("/v1/accounts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["accounts"].as_array().unwrap().len(), 1);
    assert!(list["next_cursor"].is_null());
    let (status, info) = app.get(&format!("/v1/accounts/{id}/creator-info")).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["max_video_post_duration_sec"], 600);
}

#[tokio::test]
async fn accounts_are_listed_a_page_at_a_time_oldest_first() {
    let app = App::start().await;
    let workspace = app
        .store
        .api_key_by_hash(&tokpost_api::hash_key(&app.key))
        .await
        .unwrap()
        .unwrap()
        .workspace_id;
    let mut connected = Vec::new();
    for n in 0_u64..7 {
        let account = app
            .store
            .connect_account(
                tokpost_store::NewAccount {
                    workspace_id: workspace,
                    open_id: tokpost_core::OpenId::new(format!("creator-{n}")).unwrap(),
                    display_name: format!("creator {n}"),
                    avatar_url: None,
                    scopes: tokpost_core::Scope::parse_list("user.info.basic,video.publish")
                        .unwrap(),
                    tokens: tokpost_store::AccountTokens {
                        access_token: SecretString::from("act.x"),
                        refresh_token: SecretString::from("rft.x"),
                        access_token_expires_at: clock::add(
                            app.clock.now(),
                            Duration::from_secs(3_600),
                        ),
                        refresh_token_expires_at: clock::add(
                            app.clock.now(),
                            Duration::from_secs(86_400),
                        ),
                        granted_at: app.clock.now(),
                    },
                },
                app.clock.now(),
            )
            .await
            .unwrap();
        connected.push((account.created_at, account.id.to_string()));
        // Pairs connected within one millisecond: their ids order them.
        app.clock.advance(Duration::from_millis(n % 2));
    }
    connected.sort();
    let connected: Vec<String> = connected.into_iter().map(|(_, id)| id).collect();
    let mut seen = Vec::new();
    let mut path = "/v1/accounts?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        let listed = page["accounts"].as_array().unwrap();
        assert!(listed.len() <= 3);
        seen.extend(listed.iter().map(|a| a["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/accounts?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, connected, "every account once, oldest first");

    // With `include=health`, every listed account carries the checklist its own page shows,
    // each its own: one creator posted twice today, another has creator info on record.
    let first: tokpost_core::AccountId = connected[0].parse().unwrap();
    let workspace = app
        .store
        .account(first)
        .await
        .unwrap()
        .unwrap()
        .workspace_id;
    for _ in 0..2 {
        tokpost_testkit::posts::initialized(
            app.store.as_ref(),
            workspace,
            first,
            tokpost_core::PostMode::Direct,
            app.clock.now(),
        )
        .await;
    }
    app.store
        .save_creator_info(
            connected[4].parse().unwrap(),
            &json!({"creator_username": "fifth"}),
            app.clock.now(),
        )
        .await
        .unwrap();
    let mut path = "/v1/accounts?limit=3&include=health".to_owned();
    let mut with_health = 0;
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for listed in page["accounts"].as_array().unwrap() {
            let id = listed["id"].as_str().unwrap();
            let (_, alone) = app.get(&format!("/v1/accounts/{id}")).await;
            assert_eq!(listed["health"], alone["health"], "{id}");
            with_health += 1;
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/accounts?limit=3&include=health&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(with_health, 7);
    let (_, page) = app.get("/v1/accounts?include=health").await;
    assert_eq!(page["accounts"][0]["health"]["posts_last_24h"], 2);
    assert_eq!(page["accounts"][1]["health"]["posts_last_24h"], 0);
    assert_eq!(
        page["accounts"][4]["health"]["creator_info"]["creator_username"],
        "fifth"
    );
    let (_, plain) = app.get("/v1/accounts").await;
    assert!(
        plain["accounts"][0].get("health").is_none(),
        "no checklist unless asked for"
    );
    // Another workspace sees none of them.
    let (_, other) = app
        .call(
            reqwest::Method::GET,
            "/v1/accounts",
            Some(&app.other_key),
            None,
        )
        .await;
    assert_eq!(other["accounts"], json!([]));
    for (query, field) in [
        ("limit=201", "limit"),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
        ("include=posts", "include"),
        ("include=health,everything", "include"),
    ] {
        let (status, body) = app.get(&format!("/v1/accounts?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_connects_nothing_twice() {
    let app = App::start().await;
    let callback = app.authorize(&app.key, "&sandbox_creator=ada.public").await;
    assert_eq!(app.follow(&callback).await.0, StatusCode::OK);
    let (status, body) = app.follow(&callback).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "oauth_state_replayed");
    assert_eq!(body["error"]["field"], "state");
}

#[tokio::test]
async fn a_callback_with_a_state_tokpost_never_issued_or_an_expired_one_is_refused() {
    let app = App::start().await;
    let callback = app.authorize(&app.key, "&sandbox_creator=ada.public").await;
    let forged = callback.replace("state=", "state=f0");
    let (status, body) = app.follow(&forged).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "oauth_state_unknown");
    let (status, body) = app
        .follow(&app.url("/v1/oauth/tiktok/callback?code=abc"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&body), "oauth_state_missing");

    app.clock.advance(Duration::from_secs(11 * 60));
    let (status, body) = app.follow(&callback).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "oauth_state_expired");
    assert_eq!(
        app.get("/v1/accounts").await.1,
        json!({"accounts": [], "next_cursor": null})
    );
}

#[tokio::test]
async fn a_creator_who_withholds_the_posting_scopes_is_not_connected() {
    let app = App::start().await;
    let callback = app
        .authorize(
            &app.key,
            "&sandbox_creator=ada.public&sandbox_withhold=video.publish,video.upload",
        )
        .await;
    let (status, body) = app.follow(&callback).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "scopes_missing");
    // What was granted: the profile and the insight scopes, neither posting scope.
    assert_eq!(
        body["error"]["measured"],
        json!([
            "user.info.basic",
            "user.info.profile",
            "user.info.stats",
            "video.list"
        ])
    );
}

#[tokio::test]
async fn a_creator_who_withholds_the_insight_scopes_posts_and_is_told_insights_need_a_reconnect() {
    let app = App::start().await;
    let (_, connect) = app
        .call(
            reqwest::Method::POST,
            "/v1/accounts/connect",
            Some(&app.key),
            None,
        )
        .await;
    let asked = connect["authorize_url"].as_str().unwrap();
    assert!(
        asked.contains("user.info.stats") && asked.contains("video.list"),
        "{asked}"
    );
    let callback = app
        .authorize(
            &app.key,
            "&sandbox_creator=ada.public&sandbox_withhold=video.list,user.info.stats",
        )
        .await;
    let (status, account) = app.follow(&callback).await;
    assert_eq!(status, StatusCode::OK, "connected for posting: {account}");
    let (_, shown) = app
        .get(&format!("/v1/accounts/{}", account["id"].as_str().unwrap()))
        .await;
    let health = &shown["health"];
    assert_eq!(health["connected"], true);
    assert_eq!(health["scopes_missing"], json!([]));
    assert_eq!(health["insights_ready"], false);
    assert_eq!(
        health["insight_scopes_missing"],
        json!(["user.info.stats", "video.list"])
    );
    let advice = health["advice"].to_string();
    assert!(
        advice.contains("insights need a reconnect") && advice.contains("posting is not affected"),
        "{advice}"
    );
}

#[tokio::test]
async fn another_workspaces_account_media_and_post_answer_404() {
    let app = App::start().await;
    let account = app.connect(&app.key, "ada.public").await;
    let account_id = account["id"].as_str().unwrap();
    let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    let media_id = media["id"].as_str().unwrap();
    let (status, post) = app
        .post(
            "/v1/posts",
            json!({"account_id": account_id, "video": {"media_id": media_id, "caption": "hi"}, "privacy_level": "SELF_ONLY"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let post_id = post["id"].as_str().unwrap();
    for path in [
        format!("/v1/accounts/{account_id}"),
        format!("/v1/media/{media_id}"),
        format!("/v1/posts/{post_id}"),
        "/v1/posts/not-a-uuid".to_owned(),
    ] {
        let (status, body) = app
            .call(reqwest::Method::GET, &path, Some(&app.other_key), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(code(&body), "not_found");
    }
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("/v1/posts/{post_id}/cancel"),
            Some(&app.other_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "cancel is scoped too");
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/v1/posts",
            Some(&app.other_key),
            Some(json!({"account_id": account_id, "video": {"media_id": media_id}, "privacy_level": "SELF_ONLY"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["field"], "account_id");
    let (_, theirs) = app
        .call(
            reqwest::Method::GET,
            "/v1/posts",
            Some(&app.other_key),
            None,
        )
        .await;
    assert_eq!(theirs["posts"], json!([]));
}

#[tokio::test]
async fn an_uploaded_video_is_probed_hashed_and_stored_once() {
    let app = App::start().await;
    let bytes = fixture("tiny_faststart.mp4");
    let (status, media) = app.upload(&app.key, bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{media}");
    assert_eq!(media["kind"], "video");
    assert_eq!(media["source"], "file");
    assert_eq!(media["size_bytes"], bytes.len());
    assert_eq!(media["probe"]["container"], "mp4");
    assert!(media["probe"]["verdict"].is_string(), "{media}");
    assert!(
        media["probe"].get("file").is_none(),
        "the server's path is not shown"
    );
    let (status, again) = app.upload(&app.key, bytes).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], media["id"]);
    let (status, photo) = app.upload(&app.key, fixture("tiny.jpg")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(photo["kind"], "photo");
    let (status, shown) = app
        .get(&format!("/v1/media/{}", media["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["content_hash"], media["content_hash"]);
}

#[tokio::test]
async fn an_uploaded_video_is_pulled_only_when_a_pull_base_is_configured() {
    let app = App::start().await;
    let account = app.connect(&app.key, "ada.public").await;
    let account_id = account["id"].as_str().unwrap();
    let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    let media_id = media["id"].as_str().unwrap();
    for (source, status, code_or_source) in [
        (
            "pull_from_url",
            StatusCode::UNPROCESSABLE_ENTITY,
            "pull_not_configured",
        ),
        ("by_pigeon", StatusCode::UNPROCESSABLE_ENTITY, "malformed"),
        ("file_upload", StatusCode::CREATED, "file_upload"),
    ] {
        let (got, body) = app
            .post(
                "/v1/posts",
                json!({"account_id": account_id, "video": {"media_id": media_id, "source": source}, "privacy_level": "SELF_ONLY"}),
            )
            .await;
        assert_eq!(got, status, "{source}: {body}");
        if status == StatusCode::CREATED {
            assert_eq!(body["spec"]["source"], code_or_source, "{body}");
        } else {
            assert_eq!(body["error"]["field"], "video.source", "{body}");
            assert_eq!(code(&body), code_or_source, "{body}");
        }
    }
}

#[tokio::test]
async fn uploads_over_the_limit_or_of_unknown_bytes_are_refused_precisely() {
    let app = App::start().await;
    let too_big = vec![0_u8; usize::try_from(UPLOAD_LIMIT).unwrap() + 1];
    let (status, body) = app.upload(&app.key, too_big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body), "upload_too_large");
    assert_eq!(body["error"]["limit"], UPLOAD_LIMIT);
    assert_eq!(body["error"]["measured"], UPLOAD_LIMIT + 1);
    let (status, body) = app
        .upload(&app.key, b"definitely not a video".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "media_unrecognised");
}

#[tokio::test]
async fn the_media_library_lists_a_workspaces_uploads_newest_first_by_kind_a_page_at_a_time() {
    let app = App::start().await;
    let (_, video) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    app.clock.advance(std::time::Duration::from_secs(1));
    let (_, webm) = app.upload(&app.key, fixture("tiny.webm")).await;
    app.clock.advance(std::time::Duration::from_secs(1));
    let (_, photo) = app.upload(&app.key, fixture("tiny.jpg")).await;
    let (_, theirs) = app.upload(&app.other_key, fixture("tiny.jpg")).await;
    let ids = |page: &Value| -> Vec<Value> {
        page["media"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].clone())
            .collect()
    };
    let (status, all) = app.get("/v1/media").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(
        ids(&all),
        [photo["id"].clone(), webm["id"].clone(), video["id"].clone()]
    );
    assert!(
        !ids(&all).contains(&theirs["id"]),
        "another workspace's upload"
    );
    let (_, videos) = app.get("/v1/media?kind=video&limit=1").await;
    assert_eq!(ids(&videos), [webm["id"].clone()]);
    let cursor = videos["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(&format!("/v1/media?kind=video&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(ids(&rest), [video["id"].clone()]);
    for (query, field) in [
        ("kind=gif", "kind"),
        ("limit=0", "limit"),
        ("cursor=x", "cursor"),
    ] {
        let (status, answer) = app.get(&format!("/v1/media?{query}")).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {answer}"
        );
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
}

#[tokio::test]
async fn a_creator_who_cannot_post_today_can_still_connect() {
    let app = App::start().await;
    let account = app.connect(&app.key, "cy.banned").await;
    assert_eq!(account["status"], "connected", "{account}");
    let (status, answer) = app
        .get(&format!(
            "/v1/accounts/{}/creator-info",
            account["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        answer["error"]["tiktok"]["code"], "spam_risk_user_banned_from_posting",
        "the composer reads why from here"
    );
}

#[tokio::test]
async fn a_pull_url_must_start_with_a_verified_prefix() {
    let app = App::start().await;
    let (status, body) = app
        .post(
            "/v1/media/url",
            json!({"url": "https://elsewhere.example.net/v.mp4", "kind": "video"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&body), "url_not_verified");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("https://media.example.com/tokpost/")
    );
    let (status, media) = app
        .post(
            "/v1/media/url",
            json!({"url": "https://media.example.com/tokpost/v.mp4", "kind": "video"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{media}");
    assert_eq!(media["source"], "url");
}

#[tokio::test]
async fn a_post_is_created_shown_with_its_history_and_cancelled_once() {
    let app = App::start().await;
    let account = app.connect(&app.key, "ada.public").await;
    let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    let at = app.clock.now() + jiff::SignedDuration::from_hours(2);
    let body = json!({
        "account_id": account["id"],
        "video": {"media_id": media["id"], "caption": "launch 🚀 #tokpost"},
        "privacy_level": "SELF_ONLY",
        "is_aigc": true,
        "scheduled_at": at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(2))).to_string().split('[').next().unwrap(),
    });
    let (status, post) = app.post("/v1/posts", body).await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    assert_eq!(post["state"], "scheduled");
    assert_eq!(post["scheduled_at"], json!(at));
    assert_eq!(post["spec"]["source"], "file_upload");
    let id = post["id"].as_str().unwrap();
    let (status, shown) = app.get(&format!("/v1/posts/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["events"].as_array().unwrap().len(), 1);
    let (status, list) = app.get("/v1/posts?state=scheduled").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["posts"].as_array().unwrap().len(), 1);

    let later = (at + jiff::SignedDuration::from_hours(1)).to_string();
    let (status, moved) = app
        .post(
            &format!("/v1/posts/{id}/reschedule"),
            json!({"scheduled_at": later}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["scheduled_at"], json!(later));

    let (status, cancelled) = app.post(&format!("/v1/posts/{id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(
        cancelled["events"].as_array().unwrap().last().unwrap()["kind"],
        "user_action"
    );
    let (status, again) = app.post(&format!("/v1/posts/{id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&again), "not_cancellable");
    let (status, retry) = app.post(&format!("/v1/posts/{id}/retry"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{retry}");
    assert_eq!(code(&retry), "not_retryable");
}

#[tokio::test]
async fn a_post_is_not_moved_into_a_rolling_day_the_daily_cap_already_fills() {
    let app = App::start_with(|settings| settings.daily_post_cap = 2).await;
    let account = app.connect(&app.key, "ada.public").await;
    let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    let now = app.clock.now();
    let hours = |h: i64| (now + jiff::SignedDuration::from_hours(h)).to_string();
    let mut ids = Vec::new();
    for at in [2, 5, 40] {
        let (status, post) = app
            .post(
                "/v1/posts",
                json!({"account_id": account["id"], "video": {"media_id": media["id"]},
                       "privacy_level": "SELF_ONLY", "scheduled_at": hours(at)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        ids.push(post["id"].as_str().unwrap().to_owned());
    }
    let reschedule = |id: &str, at: i64| {
        let path = format!("/v1/posts/{id}/reschedule");
        let body = json!({"scheduled_at": hours(at)});
        let app = &app;
        async move { app.post(&path, body).await }
    };
    // Hours 2 and 5 fill every rolling day that contains hour 10.
    let (status, refused) = reschedule(&ids[2], 10).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(code(&refused), "daily_post_cap_planned");
    assert_eq!(refused["error"]["field"], "scheduled_at");
    assert_eq!(refused["error"]["limit"], 2);
    assert_eq!(refused["error"]["measured"], 3);
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("the daily cap is 2"), "{message}");
    let (_, unmoved) = app.get(&format!("/v1/posts/{}", ids[2])).await;
    assert_eq!(unmoved["scheduled_at"], json!(hours(40)));
    // A day later there is room again, and a post moving inside its own day is not counted twice.
    let (status, moved) = reschedule(&ids[2], 29).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let (status, moved) = reschedule(&ids[1], 6).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_post() {
    let app = App::start().await;
    let account = app.connect(&app.key, "ada.public").await;
    let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    let body = json!({"account_id": account["id"], "video": {"media_id": media["id"]}, "privacy_level": "SELF_ONLY"});
    let send = || {
        app.http
            .post(app.url("/v1/posts"))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "order-42")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let second = send().await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(
        app.get("/v1/posts").await.1["posts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn validation_errors_name_the_field_the_rule_the_limit_and_the_measure() {
    let app = App::start().await;
    let account = app.connect(&app.key, "ada.public").await;
    let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    let base = json!({"account_id": account["id"], "video": {"media_id": media["id"]}, "privacy_level": "SELF_ONLY"});
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = base.clone();
        change(&mut body);
        body
    };
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("privacy_level");
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
            "privacy_level",
        ),
        (
            with(&|b| b["privacy_level"] = json!("public")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed",
            "privacy_level",
        ),
        (
            with(&|b| b["video"]["caption"] = json!("a".repeat(2201))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_long",
            "video.caption",
        ),
        (
            with(&|b| b["scheduled_at"] = json!("2026-12-01T18:00:00")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed",
            "scheduled_at",
        ),
        (
            with(&|b| b["scheduled_at"] = json!("2001-01-01T00:00:00Z")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed",
            "scheduled_at",
        ),
        (
            with(&|b| b["mode"] = json!("sideways")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed",
            "mode",
        ),
        (
            with(&|b| b["video"]["cover_timestamp_ms"] = json!("soon")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "video.cover_timestamp_ms",
        ),
        (
            with(&|b| b["surprise"] = json!(1)),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "surprise",
        ),
        // TikTok's Point 3b: branded content is never "Only me".
        (
            with(&|b| b["brand_content"] = json!(true)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "branded_content_private",
            "privacy_level",
        ),
        // Point 3a: the disclosure switch on needs "Your brand", "Branded content" or both.
        (
            with(&|b| b["commercial_disclosure"] = json!(true)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "disclosure_without_choice",
            "commercial_disclosure",
        ),
    ];
    for (body, status, expected_code, field) in cases {
        for route in ["/v1/posts", "/v1/posts/validate"] {
            let (got, answer) = app.post(route, body.clone()).await;
            assert_eq!(got, status, "{route}: {answer}");
            assert_eq!(code(&answer), expected_code, "{route}: {answer}");
            assert_eq!(answer["error"]["field"], field, "{route}: {answer}");
        }
    }
    // TikTok's own sentences, as the composer shows them.
    let (_, answer) = app
        .post("/v1/posts", with(&|b| b["brand_content"] = json!(true)))
        .await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("Branded content visibility cannot be set to private."),
        "{answer}"
    );
    let (_, answer) = app
        .post(
            "/v1/posts",
            with(&|b| b["commercial_disclosure"] = json!(true)),
        )
        .await;
    assert!(
        answer["error"]["message"].as_str().unwrap().ends_with(
            "You need to indicate if your content promotes yourself, a third party, or both."
        ),
        "{answer}"
    );
    let (status, answer) = app
        .post(
            "/v1/posts/validate",
            with(&|b| {
                b["commercial_disclosure"] = json!(true);
                b["brand_organic"] = json!(true);
            }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "your brand alone discloses: {answer}"
    );
    let (status, answer) = app
        .post(
            "/v1/posts",
            with(&|b| b["video"]["caption"] = json!("😀".repeat(1101))),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["error"]["limit"]["value"], 2200);
    assert_eq!(
        answer["error"]["measured"]["value"], 2202,
        "emoji count as two UTF-16 units"
    );

    let response = app
        .http
        .post(app.url("/v1/posts"))
        .bearer_auth(&app.key)
        .body("{\"account_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(code(&answer), "malformed_json");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{answer}"
    );
}

fn signed(body: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SANDBOX_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},s={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn inbound_webhooks_are_verified_deduplicated_and_applied() {
    let app = App::start().await;
    let account = app.connect(&app.key, "ada.public").await;
    let body = json!({
        "client_key": "sbxdemo0000000001",
        "event": "authorization.removed",
        "create_time": app.clock.now().as_second(),
        "user_openid": account["open_id"],
        "content": "{\"reason\":1}",
    })
    .to_string();
    let now = app.clock.now().as_second();
    let send = |body: String, signature: String| {
        app.http
            .post(app.url("/v1/webhooks/tiktok"))
            .header("TikTok-Signature", signature)
            .body(body)
            .send()
    };
    let tampered = body.replace("\"reason\\\":1", "\"reason\\\":2");
    assert_ne!(tampered, body);
    let refused = send(tampered, signed(&body, now)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let stale = send(body.clone(), signed(&body, now - 301)).await.unwrap();
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let stale: Value = stale.json().await.unwrap();
    assert_eq!(code(&stale), "webhook_signature_stale");
    // No TikTok event is 64 KiB: a larger body is refused before it is read whole or hashed.
    let huge = "x".repeat(65 * 1024);
    let refused = send(huge.clone(), signed(&huge, now)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(code(&refused), "webhook_body_refused", "{refused}");
    assert_eq!(refused["error"]["limit"], 64 * 1024);
    let (_, still) = app
        .get(&format!("/v1/accounts/{}", account["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        still["status"], "connected",
        "refused webhooks change nothing"
    );

    let accepted = send(body.clone(), signed(&body, now)).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(
        accepted.json::<Value>().await.unwrap()["status"],
        "accepted"
    );
    let (_, removed) = app
        .get(&format!("/v1/accounts/{}", account["id"].as_str().unwrap()))
        .await;
    assert_eq!(removed["status"], "needs_reconnect");
    assert_eq!(removed["reconnect_reason"], "authorization_removed");

    let replayed = send(body.clone(), signed(&body, now)).await.unwrap();
    assert_eq!(replayed.status(), StatusCode::OK);
    assert_eq!(
        replayed.json::<Value>().await.unwrap()["status"],
        "duplicate"
    );
}

#[tokio::test]
async fn health_metrics_and_the_catalog_answer() {
    let app = App::start().await;
    assert_eq!(app.get("/healthz").await.1, json!({"status": "ok"}));
    assert_eq!(app.get("/readyz").await.1, json!({"status": "ready"}));
    let (status, metrics) = app.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.as_str().unwrap().contains("tokpost_queue_jobs 0"),
        "{metrics}"
    );
    let (status, entry) = app.get("/v1/errors/spam_risk_too_many_posts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entry["id"], "spam_risk_too_many_posts");
    assert_eq!(
        app.get("/v1/errors/no_such_code").await.0,
        StatusCode::NOT_FOUND
    );
    assert!(app.get("/v1/errors").await.1.as_array().unwrap().len() > 25);
    let (status, body) = app.get("/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");
}

#[tokio::test]
async fn the_openapi_document_is_3_1_describes_every_response_and_does_not_change_unnoticed() {
    let app = App::start().await;
    let (status, document) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let description = response["description"].as_str().unwrap_or_default();
                assert!(
                    !description.is_empty(),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }
    insta::assert_json_snapshot!("openapi", document);
}

#[tokio::test]
async fn a_publish_webhook_makes_a_status_check_of_its_post_due_now() {
    use tokpost_core::{EventKind, NewPostEvent, PostState, PublishId, PublishProgress};
    let app = App::start().await;
    let account = app.connect(&app.key, "ada.public").await;
    let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    let (_, post) = app
        .post(
            "/v1/posts",
            json!({"account_id": account["id"], "video": {"media_id": media["id"]}, "privacy_level": "SELF_ONLY"}),
        )
        .await;
    let post_id: tokpost_core::PostId = post["id"].as_str().unwrap().parse().unwrap();
    let publish_id = "v_pub_file~v2-1.7602997070760331285";
    let now = app.clock.now();
    for (from, to) in [
        (PostState::Scheduled, PostState::Preflighted),
        (PostState::Preflighted, PostState::CreatorChecked),
        (PostState::CreatorChecked, PostState::Initialized),
    ] {
        app.store
            .transition_post(tokpost_store::Transition {
                post: post_id,
                expected: from,
                to,
                event: NewPostEvent::new(now, EventKind::StateChanged, "moved"),
                progress: (to == PostState::Initialized).then(|| PublishProgress {
                    publish_id: Some(PublishId::new(publish_id).unwrap()),
                    ..PublishProgress::default()
                }),
                quota_use: None,
                next_job: None,
                completes: None,
                lease: None,
            })
            .await
            .unwrap();
    }
    // A status check already queued, waiting out an hour's back-off.
    let waiting = app
        .store
        .enqueue(
            tokpost_store::NewJob {
                kind: tokpost_core::JobKind::CheckPublishStatus,
                payload: json!({}),
                account_id: None,
                post_id: Some(post_id),
                run_at: clock::add(now, Duration::from_secs(3_600)),
                dedupe_key: Some(format!("status:{post_id}")),
            },
            now,
        )
        .await
        .unwrap();
    let tokpost_store::Enqueued::Added(waiting) = waiting else {
        panic!("the first status check is queued");
    };
    let body = json!({
        "client_key": "sbxdemo0000000001",
        "event": "post.publish.complete",
        "create_time": now.as_second(),
        "user_openid": account["open_id"],
        "content": json!({"publish_id": publish_id, "publish_type": "DIRECT_PUBLISH"}).to_string(),
    })
    .to_string();
    let answer = app
        .http
        .post(app.url("/v1/webhooks/tiktok"))
        .header("TikTok-Signature", signed(&body, now.as_second()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.json::<Value>().await.unwrap()["status"], "accepted");
    assert_eq!(
        app.store.job(waiting).await.unwrap().unwrap().run_at,
        now,
        "the webhook moves the waiting check up to now"
    );
    // The pipeline's one-status-check-per-post key is taken: the check is queued.
    let again = app
        .store
        .enqueue(
            tokpost_store::NewJob {
                kind: tokpost_core::JobKind::CheckPublishStatus,
                payload: json!({}),
                account_id: None,
                post_id: Some(post_id),
                run_at: now,
                dedupe_key: Some(format!("status:{post_id}")),
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(again, tokpost_store::Enqueued::AlreadyQueued);
}

#[tokio::test]
async fn account_health_names_the_last_failure_and_retry_copies_the_failed_post() {
    use tokpost_core::{Actor, EventKind, NewPostEvent, PostState, RequiredAction};
    let app = App::start().await;
    let account = app.connect(&app.key, "ada.public").await;
    let account_id = account["id"].as_str().unwrap();
    let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    let (_, post) = app
        .post(
            "/v1/posts",
            json!({"account_id": account_id, "video": {"media_id": media["id"]}, "privacy_level": "SELF_ONLY"}),
        )
        .await;
    let (_, health) = app.get(&format!("/v1/accounts/{account_id}")).await;
    assert_eq!(health["health"]["last_failure"], Value::Null);
    let post_id: tokpost_core::PostId = post["id"].as_str().unwrap().parse().unwrap();
    app.store
        .transition_post(tokpost_store::Transition {
            post: post_id,
            expected: PostState::Scheduled,
            to: PostState::Failed {
                action: RequiredAction::FixInput,
                who: Actor::User,
            },
            event: NewPostEvent::new(
                app.clock.now(),
                EventKind::StateChanged,
                "failed: the video is too long",
            ),
            progress: None,
            quota_use: None,
            next_job: None,
            completes: None,
            lease: None,
        })
        .await
        .unwrap();
    let (_, health) = app.get(&format!("/v1/accounts/{account_id}")).await;
    assert_eq!(health["health"]["last_failure"]["post_id"], post["id"]);
    let (_, failed) = app.get(&format!("/v1/posts/{post_id}")).await;
    assert_eq!(failed["failure"]["action"], "fix_input");
    assert_eq!(failed["failure"]["who"], "user");

    let (status, copy) = app
        .post(&format!("/v1/posts/{post_id}/retry"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    assert_ne!(copy["id"], post["id"]);
    assert_eq!(copy["spec"], failed["spec"]);
    assert_eq!(copy["state"], "scheduled");
    let (_, old) = app.get(&format!("/v1/posts/{post_id}")).await;
    let last = old["events"].as_array().unwrap().last().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last.contains(copy["id"].as_str().unwrap()), "{last}");
}

// --- outbound webhooks ---

pub(crate) use tokpost_testkit::receiver::Receiver;

/// Links for messages to people, and no SMTP server.
pub(crate) fn no_messages() -> tokpost_pipeline::webhooks::MessageSettings {
    tokpost_pipeline::webhooks::MessageSettings {
        public_base_url: url::Url::parse("http://tokpost.test/").unwrap(),
        mailer: None,
        digest: tokpost_pipeline::webhooks::digest::DigestSettings::default(),
    }
}

impl App {
    fn deliverer(
        &self,
        settings: tokpost_pipeline::webhooks::DeliverySettings,
    ) -> tokpost_pipeline::webhooks::Deliverer {
        tokpost_pipeline::webhooks::Deliverer::new(
            tokpost_store::WorkerId::new("test-sender"),
            Arc::clone(&self.store),
            self.clock.shared(),
            settings,
            self.webhook_addresses.clone(),
            no_messages(),
        )
        .unwrap()
    }

    /// Creates a post for a private sandbox creator with a video TikTok accepts (this
    /// unaudited app may publish it) and runs the pipeline, moving the clock to each next due
    /// job, until the post is final.
    pub(crate) async fn publish_in_sandbox(&self) -> (Value, tokpost_core::PostId) {
        use tokpost_pipeline::{Worker, WorkerSettings};
        let app = self;
        let account = app.connect(&app.key, "bo.private").await;
        let video = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tiktok-sandbox/tests/fixtures/ok_720x1280_30fps_4s.mp4"),
        )
        .unwrap();
        let (_, media) = app.upload(&app.key, video).await;
        let (status, post) = app
        .post(
            "/v1/posts",
            json!({"account_id": account["id"], "video": {"media_id": media["id"], "caption": "webhook day"}, "privacy_level": "SELF_ONLY"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        let post_id: tokpost_core::PostId = post["id"].as_str().unwrap().parse().unwrap();

        // The pipeline publishes it through the sandbox, time moved to each next due job.
        let worker = Worker::new(
            tokpost_store::WorkerId::new("test-worker"),
            Arc::clone(&app.store),
            app.clock.shared(),
            app.pipeline.publisher(),
            WorkerSettings::default(),
        );
        for _ in 0..200 {
            while worker.run_once().await.unwrap() > 0 {}
            let state = app.store.post(post_id).await.unwrap().unwrap().state.kind();
            if state.is_final() {
                break;
            }
            let next = app
                .store
                .next_due_at()
                .await
                .unwrap()
                .expect("a job is queued");
            if next > app.clock.now() {
                app.clock.set(next);
            }
        }
        (post, post_id)
    }

    /// Registers an endpoint for `events`; returns its id and secret.
    async fn endpoint(&self, key: &str, url: &str, events: &[&str]) -> (String, String) {
        let (status, created) = self
            .call(
                reqwest::Method::POST,
                "/v1/webhook-endpoints",
                Some(key),
                Some(json!({"url": url, "events": events, "description": "test receiver"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        (
            created["endpoint"]["id"].as_str().unwrap().to_owned(),
            created["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// An event for the workspace of `endpoint`, queued as the store queues it with a post's
    /// move.
    async fn missed_post_event(&self, endpoint: &str) {
        let workspace = self
            .store
            .webhook_endpoint(endpoint.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .workspace_id;
        self.store
            .enqueue_webhook_event(
                workspace,
                tokpost_store::WebhookEvent {
                    event_type: tokpost_store::WebhookEventType::PostMissed,
                    at: self.clock.now(),
                    data: json!({"post": {"id": "test"}}),
                },
            )
            .await
            .unwrap();
    }
}

/// Checks a `Tokpost-Signature` the way a receiver would, independently of tokpost's code.
fn signature_is_valid(header: &str, body: &[u8], secret: &str) -> bool {
    let (t, v1) = header.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let v1 = v1.strip_prefix("v1=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&hex::decode(v1).unwrap()).is_ok()
}

#[tokio::test]
async fn webhook_endpoints_are_registered_with_a_secret_shown_once_and_scoped_to_their_workspace() {
    let app = App::start().await;
    let (id, secret) = app
        .endpoint(
            &app.key,
            "https://hooks.example.com/tokpost",
            &["post.published", "post.failed"],
        )
        .await;
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );

    let (status, listed) = app.get("/v1/webhook-endpoints").await;
    assert_eq!(status, StatusCode::OK);
    let endpoints = listed["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["status"], "active");
    assert_eq!(
        endpoints[0]["events"],
        json!(["post.published", "post.failed"])
    );
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );
    assert_eq!(
        endpoints[0]["url"], "https://hooks.example.com/…",
        "the URL's path may be a credential: only its origin is shown"
    );
    let (status, one) = app.get(&format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!one.to_string().contains(&secret));

    // Another workspace sees nothing of it and can touch nothing.
    let other = Some(app.other_key.as_str());
    let (_, theirs) = app
        .call(reqwest::Method::GET, "/v1/webhook-endpoints", other, None)
        .await;
    assert_eq!(theirs["endpoints"], json!([]));
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/webhook-endpoints/{id}")),
        (
            reqwest::Method::GET,
            format!("/v1/webhook-endpoints/{id}/deliveries"),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/webhook-endpoints/{id}/resume"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/webhook-endpoints/{id}"),
        ),
    ] {
        let (status, body) = app.call(method.clone(), &path, other, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }

    // Refusals name the field, the limit and what was sent.
    let (status, bad) = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "https://x.example/h", "events": ["post.published", "post.exploded"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&bad), "unknown_event_type");
    assert_eq!(bad["error"]["field"], "events[1]");
    assert_eq!(bad["error"]["measured"], "post.exploded");
    assert!(
        bad["error"]["limit"]
            .as_array()
            .unwrap()
            .contains(&json!("account.needs_reconnect"))
    );
    let (status, bad) = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "ftp://x.example/h", "events": ["post.failed"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (code(&bad), bad["error"]["field"].as_str()),
        ("invalid_url", Some("url"))
    );
    let (status, bad) = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "https://x.example/h", "events": []}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["error"]["field"], "events");
    let long = format!("https://x.example/{}", "a".repeat(2_100));
    let (_, bad) = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": long, "events": ["post.failed"]}),
        )
        .await;
    assert_eq!(
        (code(&bad), bad["error"]["limit"].clone()),
        ("too_long", json!(2048))
    );
    let (status, _) = app
        .get(&format!("/v1/webhook-endpoints/{id}/deliveries?limit=0"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(&app.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/v1/webhook-endpoints/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_published_post_is_delivered_to_the_receiver_signed_with_the_endpoint_secret() {
    let app = App::start().await;
    let receiver = Receiver::start(&[]).await;
    let (endpoint, secret) = app
        .endpoint(&app.key, &receiver.url, &["post.published"])
        .await;
    // The other workspace's endpoint for the same event hears nothing of this workspace's post.
    let elsewhere = Receiver::start(&[]).await;
    app.endpoint(&app.other_key, &elsewhere.url, &["post.published"])
        .await;

    let serial = SANDBOX_PUBLISHES.lock().await;
    let (post, post_id) = app.publish_in_sandbox().await;
    drop(serial);
    let (_, published) = app.get(&format!("/v1/posts/{post_id}")).await;
    assert_eq!(published["state"], "published", "{published}");

    let sender = app.deliverer(tokpost_pipeline::webhooks::DeliverySettings::default());
    assert_eq!(sender.run_once().await.unwrap(), 1);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let (_, headers, body) = &requests[0];
    let signature = headers["tokpost-signature"].to_str().unwrap();
    assert!(signature_is_valid(signature, body, &secret), "{signature}");
    assert!(
        !signature_is_valid(signature, b"{}", &secret),
        "a changed body fails"
    );
    assert!(
        signature.starts_with(&format!("t={},", app.clock.now().as_second())),
        "the timestamp is the injected clock's: {signature}"
    );
    assert_eq!(headers["tokpost-event"], "post.published");
    assert_eq!(headers["content-type"], "application/json");
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["type"], "post.published");
    assert_eq!(event["data"]["post"]["id"], post["id"]);
    assert_eq!(event["data"]["post"]["state"], "published");
    assert_eq!(event["data"]["post"]["publish_id"], published["publish_id"]);
    assert_eq!(
        headers["tokpost-event-id"].to_str().unwrap(),
        event["id"].as_str().unwrap()
    );
    assert!(elsewhere.requests().is_empty());

    let (status, log) = app
        .get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let delivery = &log["deliveries"][0];
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["log"][0]["status_code"], 200);
    assert_eq!(
        delivery["id"],
        headers["tokpost-delivery"].to_str().unwrap()
    );
    // Nothing more to send.
    assert_eq!(sender.run_once().await.unwrap(), 0);
}

#[tokio::test]
async fn webhook_endpoints_inside_the_network_are_refused_at_registration() {
    let app = App::start_with(|settings| {
        settings.webhook_addresses = AddressPolicy::public_only();
    })
    .await;
    for (url, kind) in [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.7/hook", "private"),
        ("http://192.168.1.20/hook", "private"),
        ("http://100.64.1.1/hook", "shared (CGNAT)"),
        ("http://[::1]/hook", "loopback"),
        ("http://[fd00::1]/hook", "unique-local"),
        ("http://[::ffff:192.168.0.1]/hook", "private"),
        ("http://localhost:8080/hook", "loopback"),
        ("http://224.0.0.1/hook", "multicast"),
    ] {
        let (status, body) = app
            .call(
                reqwest::Method::POST,
                "/v1/webhook-endpoints",
                Some(&app.key),
                Some(json!({"url": url, "events": ["post.published"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["error"]["code"], "internal_address", "{url}: {body}");
        assert_eq!(body["error"]["field"], "url");
        assert_eq!(body["error"]["measured"]["kind"], kind, "{url}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("webhooks.allow_internal"),
            "the message says how an operator allows its own receivers: {body}"
        );
    }
    let (_, listed) = app.get("/v1/webhook-endpoints").await;
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_sender_refuses_an_internal_address_at_send_time_and_the_receiver_hears_nothing() {
    // Registered while the operator allowed loopback (as a name that resolved to a public
    // address at registration would be, before its DNS was pointed inside): the sender judges
    // the address again as it resolves it, and sends nothing.
    let app = App::start().await;
    let receiver = Receiver::start(&[]).await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let (named, _) = app.endpoint(&app.key, &by_name, &["post.missed"]).await;
    let (literal, _) = app
        .endpoint(&app.key, &receiver.url, &["post.missed"])
        .await;
    app.missed_post_event(&named).await;
    let sender = tokpost_pipeline::webhooks::Deliverer::new(
        tokpost_store::WorkerId::new("public-only"),
        Arc::clone(&app.store),
        app.clock.shared(),
        tokpost_pipeline::webhooks::DeliverySettings::default(),
        AddressPolicy::public_only(),
        no_messages(),
    )
    .unwrap();
    assert_eq!(sender.run_once().await.unwrap(), 2);
    assert!(
        receiver.requests().is_empty(),
        "nothing reached the receiver"
    );
    for endpoint in [named, literal] {
        let (_, log) = app
            .get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"))
            .await;
        let attempt = &log["deliveries"][0]["log"][0];
        let error = attempt["error"].as_str().unwrap();
        assert!(error.contains("loopback"), "{endpoint}: {error}");
        assert!(attempt["status_code"].is_null());
    }
}

#[tokio::test]
async fn at_most_a_few_hundred_bytes_of_an_answer_are_read_and_kept() {
    let app = App::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "x".repeat(8 * 1024 * 1024),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (endpoint, _) = app.endpoint(&app.key, &url, &["post.missed"]).await;
    app.missed_post_event(&endpoint).await;
    let sender = app.deliverer(tokpost_pipeline::webhooks::DeliverySettings::default());
    assert_eq!(sender.run_once().await.unwrap(), 1);
    let (_, log) = app
        .get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"))
        .await;
    let error = log["deliveries"][0]["log"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("HTTP 500"), "{error}");
    assert!(error.len() < 300, "{} bytes kept", error.len());
}

#[tokio::test]
async fn a_receiver_answering_500_is_retried_with_growing_back_off_on_the_injected_clock() {
    let app = App::start().await;
    let receiver = Receiver::start(&[500, 503]).await;
    let (endpoint, secret) = app
        .endpoint(&app.key, &receiver.url, &["post.missed"])
        .await;
    app.missed_post_event(&endpoint).await;
    let settings = tokpost_pipeline::webhooks::DeliverySettings::default();
    let sender = app.deliverer(settings);

    let mut waits = Vec::new();
    for attempt in 1..=3 {
        assert_eq!(sender.run_once().await.unwrap(), 1, "attempt {attempt}");
        assert_eq!(sender.run_once().await.unwrap(), 0, "not due again at once");
        if let Some(next) = app.store.next_webhook_delivery_at().await.unwrap() {
            waits.push(next.duration_since(app.clock.now()).as_secs());
            app.clock.set(next);
        }
    }
    // 30 s then 60 s, each less up to a fifth of jitter.
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!((24..=30).contains(&waits[0]), "{waits:?}");
    assert!((48..=60).contains(&waits[1]), "{waits:?}");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    let ids: std::collections::HashSet<_> = requests
        .iter()
        .map(|(_, headers, _)| headers["tokpost-event-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "every retry carries the same event id");
    for (_, headers, body) in &requests {
        assert!(signature_is_valid(
            headers["tokpost-signature"].to_str().unwrap(),
            body,
            &secret
        ));
    }
    assert_eq!(
        requests[0].2, requests[2].2,
        "every retry sends the same body"
    );

    let (_, log) = app
        .get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"))
        .await;
    let delivery = &log["deliveries"][0];
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["attempts"], 3);
    let codes: Vec<_> = delivery["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, vec![json!(500), json!(503), json!(200)]);
    assert!(
        delivery["log"][0]["error"]
            .as_str()
            .unwrap()
            .contains("500")
    );
    assert_eq!(delivery["log"][2]["error"], Value::Null);
    let (_, endpoint) = app.get(&format!("/v1/webhook-endpoints/{endpoint}")).await;
    assert_eq!(endpoint["consecutive_failures"], 0);
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_is_paused_flagged_and_resumed_through_the_api() {
    let app = App::start().await;
    let receiver = Receiver::start(&[500; 4]).await;
    let (endpoint, _) = app
        .endpoint(&app.key, &receiver.url, &["post.missed"])
        .await;
    let settings = tokpost_pipeline::webhooks::DeliverySettings {
        pause: tokpost_store::PausePolicy {
            after_consecutive_failures: 4,
            after_failing_for: Duration::from_secs(24 * 3_600),
        },
        ..tokpost_pipeline::webhooks::DeliverySettings::default()
    };
    let sender = app.deliverer(settings);
    app.missed_post_event(&endpoint).await;
    app.missed_post_event(&endpoint).await;

    // Two events, each failing twice: the fourth failure in a row pauses the endpoint.
    for _ in 0..2 {
        assert_eq!(sender.run_once().await.unwrap(), 2);
        app.clock.advance(Duration::from_secs(3_600));
    }
    let (_, paused) = app.get(&format!("/v1/webhook-endpoints/{endpoint}")).await;
    assert_eq!(paused["status"], "paused", "{paused}");
    assert_eq!(paused["consecutive_failures"], 4);
    assert!(
        paused["paused_reason"]
            .as_str()
            .unwrap()
            .contains("4 consecutive"),
        "{paused}"
    );
    // Paused: nothing is sent however long we wait.
    app.clock.advance(Duration::from_secs(24 * 3_600));
    assert_eq!(sender.run_once().await.unwrap(), 0);
    assert_eq!(receiver.requests().len(), 4);

    receiver.answer(&[200, 200]);
    let (status, resumed) = app
        .post(
            &format!("/v1/webhook-endpoints/{endpoint}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["status"], "active");
    assert_eq!(resumed["consecutive_failures"], 0);
    assert_eq!(
        sender.run_once().await.unwrap(),
        2,
        "what waited goes out at once"
    );
    let (_, log) = app
        .get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"))
        .await;
    for delivery in log["deliveries"].as_array().unwrap() {
        assert_eq!(delivery["status"], "delivered", "{delivery}");
        assert_eq!(delivery["log"].as_array().unwrap().len(), 3);
    }
}

/// The series of video inits TikTok took.
const INITS_OK: &str = "tokpost_tiktok_calls_total{endpoint=\"v2/post/publish/video/init/\",status=\"200\",code=\"ok\"}";

const REFRESHED: &str = "tokpost_token_refreshes_total{outcome=\"refreshed\"}";
const LATENCY_COUNT: &str = "tokpost_publish_latency_seconds_count";
const LATENCY_SUM: &str = "tokpost_publish_latency_seconds_sum";

/// A series' value, or 0 before anything was recorded in it.
fn metric_or_zero(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().unwrap())
}

fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_behind_a_token_answer_only_that_bearer() {
    let app = App::start_with(|settings| {
        settings.metrics_token = Some(SecretString::from("scrape-7c1e"));
    })
    .await;
    let scrape = |token: Option<&'static str>| {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for token in [None, Some("scrape-7c1f"), Some("scrape-7c1"), Some("")] {
        let response = scrape(token).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "unauthorized");
    }
    let response = scrape(Some("scrape-7c1e")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("tokpost_"));
}

#[tokio::test]
async fn metrics_show_tiktok_calls_token_refreshes_and_publish_latency_after_a_sandbox_publish() {
    let _serial = SANDBOX_PUBLISHES.lock().await;
    let app = App::start().await;
    // The recorder is global to the test process: count this test's inits from here.
    let before = app.http.get(app.url("/metrics")).send().await.unwrap();
    let before = before.text().await.unwrap();
    let counted_before = |series: &str| metric_or_zero(&before, series);
    let inits_before = counted_before(INITS_OK);
    let refreshes_before = counted_before(REFRESHED);
    let latencies_before = counted_before(LATENCY_COUNT);
    let latency_sum_before = counted_before(LATENCY_SUM);
    let (post, _) = app.publish_in_sandbox().await;
    let (status, refreshed) = app
        .post(
            &format!(
                "/v1/accounts/{}/refresh",
                post["account_id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    let text = response.text().await.unwrap();

    for (endpoint, status, code) in [
        ("v2/oauth/token/", "200", "none"),
        ("v2/post/publish/creator_info/query/", "200", "ok"),
        ("v2/post/publish/video/init/", "200", "ok"),
        ("v2/post/publish/status/fetch/", "200", "ok"),
        ("upload_chunk", "201", "none"),
    ] {
        let calls = metric_value(
            &text,
            &format!(
                "tokpost_tiktok_calls_total{{endpoint=\"{endpoint}\",status=\"{status}\",code=\"{code}\"}}"
            ),
        );
        assert!(calls >= 1.0, "{endpoint}: {calls}");
        let timed = metric_value(
            &text,
            &format!("tokpost_tiktok_call_duration_seconds_count{{endpoint=\"{endpoint}\"}}"),
        );
        assert!(timed >= calls, "{endpoint}: every call is timed");
    }
    assert_eq!(
        metric_value(&text, INITS_OK) - inits_before,
        1.0,
        "one publish, one init"
    );
    assert!(text.contains(
        "tokpost_tiktok_call_duration_seconds_bucket{endpoint=\"upload_chunk\",le=\"0.01\"}"
    ));
    assert_eq!(metric_value(&text, REFRESHED) - refreshes_before, 1.0);
    // Published some simulated seconds after it was due: the sandbox's processing time.
    assert_eq!(metric_value(&text, LATENCY_COUNT) - latencies_before, 1.0);
    let latency = metric_value(&text, LATENCY_SUM) - latency_sum_before;
    let (_, shown) = app
        .get(&format!("/v1/posts/{}", post["id"].as_str().unwrap()))
        .await;
    let published_at: jiff::Timestamp = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["state"] == "published")
        .unwrap()["at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let scheduled_at: jiff::Timestamp = shown["scheduled_at"].as_str().unwrap().parse().unwrap();
    let expected = published_at.duration_since(scheduled_at).as_secs_f64();
    assert!(expected > 0.0);
    assert!(
        (latency - expected).abs() < 0.001,
        "{latency} vs {expected}"
    );
    assert_eq!(
        metric_value(&text, "tokpost_posts{state=\"published\"}"),
        1.0
    );
}

#[tokio::test]
async fn readiness_fails_when_this_processs_workers_have_not_beaten_recently() {
    let app = App::start_with(|settings| {
        settings.workers_process = Some("serve:test".to_owned());
    })
    .await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "workers_not_alive");
    assert_eq!(body["error"]["measured"], Value::Null, "never started");

    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let handles = app.pipeline.spawn("serve:test", shutdown);
    let mut ready = false;
    for _ in 0..100 {
        if app.get("/readyz").await.0 == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready, "the workers' first beat makes the process ready");
    // Beats follow the injected clock: an hour later the process is still ready.
    for _ in 0..4 {
        app.clock.advance(tokpost_pipeline::WORKER_HEARTBEAT_EVERY);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.get("/readyz").await.0, StatusCode::OK);

    let _ = stop.send(true);
    for handle in handles {
        handle.await.unwrap();
    }
    app.clock.advance(Duration::from_secs(61));
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "workers_not_alive");
    assert_eq!(body["error"]["limit"], 60);
    assert!(
        body["error"]["measured"].as_f64().unwrap() >= 61.0,
        "{body}"
    );
}
