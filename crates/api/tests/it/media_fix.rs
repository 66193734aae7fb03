//! `POST /v1/media/{id}/fix` over HTTP with a real ffmpeg: a 15 fps upload is fixed into a new
//! item shown in `GET /v1/media/{id}` (a second request while it waits gets the same fix), and
//! swapped into a post at the revision sent; every refusal names its field: URL media, another
//! workspace's, a post that does not use it, a stale revision, a malformed option, a reviewer,
//! and a process without ffmpeg.

use std::path::PathBuf;
use std::time::Duration;

use clock::Clock as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokpost_core::JobKind;
use tokpost_store::WorkerId;

use crate::support::App;

/// A 360x640 H.264 + AAC MP4 at `fps`, 4.`seed` seconds long (so each seed is other content).
fn clip(fps: u32, seed: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let seconds: f64 = format!("4.{seed}").parse().unwrap();
    let path = tokpost_testkit::ffmpeg::clip(dir.path(), "clip.mp4", "360x640", fps, seconds);
    std::fs::read(path).unwrap()
}

async fn start() -> App {
    App::start_with(|settings| settings.max_upload_bytes = 16 * 1024 * 1024).await
}

/// Runs the due fix jobs with the app's own pipeline.
async fn run_fixes(app: &App) {
    let jobs = app
        .store
        .claim(
            &WorkerId::new("fixer"),
            app.clock.now(),
            Duration::from_secs(600),
            50,
        )
        .await
        .unwrap();
    let fixes = app.pipeline.fixes();
    for job in jobs.iter().filter(|job| job.kind == JobKind::FixMedia) {
        fixes.run(job).await;
    }
}

fn error(body: &Value) -> (&str, &str) {
    (
        body["error"]["code"].as_str().unwrap_or_default(),
        body["error"]["field"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_rejected_upload_is_fixed_into_a_new_item_and_swapped_into_its_post() {
    let app = start().await;
    let (status, original) = app.upload(&app.key, clip(15, 1)).await;
    assert_eq!(status, StatusCode::CREATED, "{original}");
    assert_eq!(original["probe"]["verdict"], "rejected");
    let id = original["id"].as_str().unwrap();

    let (status, queued) = app.post(&format!("/v1/media/{id}/fix"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["id"], original["id"]);
    assert_eq!(queued["fix"]["state"], "queued");
    assert_eq!(queued["fix"]["progress"], 0.0);
    let (status, same) = app.post(&format!("/v1/media/{id}/fix"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "a fix already waits: {same}");
    assert_eq!(same["fix"]["id"], queued["fix"]["id"]);

    run_fixes(&app).await;
    let (status, shown) = app.get(&format!("/v1/media/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let fix = &shown["fix"];
    assert_eq!(fix["state"], "fixed", "{fix}");
    assert_eq!(fix["progress"], 1.0);
    assert!(
        fix["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|change| change["answers"] == "frame_rate_out_of_range"
                && change["summary"].as_str().unwrap().contains("15")),
        "{fix}"
    );
    assert_eq!(
        shown["probe"], original["probe"],
        "the original is unchanged"
    );
    let fixed = fix["fixed_media_id"].as_str().unwrap();
    let (_, item) = app.get(&format!("/v1/media/{fixed}")).await;
    assert_ne!(item["probe"]["verdict"], "rejected", "{item}");
    assert_eq!(item["kind"], "video");
    let (_, list) = app.get("/v1/media").await;
    assert!(list["media"][0].get("fix").is_none(), "lists carry no fix");

    // Into a post, at the revision sent.
    let account = app.connect(&app.key, "ada.public").await;
    let (_, other) = app.upload(&app.key, clip(15, 2)).await;
    let other_id = other["id"].as_str().unwrap();
    let (status, post) = app
        .post(
            "/v1/posts",
            json!({"account_id": account["id"], "video": {"media_id": other_id, "caption": "slow"},
                   "privacy_level": "SELF_ONLY",
                   "scheduled_at": (app.clock.now() + jiff::SignedDuration::from_hours(2)).to_string()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let post_id = post["id"].as_str().unwrap();
    let (status, stale) = app
        .post(
            &format!("/v1/media/{other_id}/fix"),
            json!({"post_id": post_id, "revision": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error(&stale), ("revision_changed", "revision"));
    let (status, unused) = app
        .post(&format!("/v1/media/{id}/fix"), json!({"post_id": post_id}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error(&unused), ("media_not_in_post", "post_id"));
    let (status, queued) = app
        .post(
            &format!("/v1/media/{other_id}/fix"),
            json!({"post_id": post_id, "revision": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["fix"]["post_id"], post["id"]);
    assert_eq!(
        queued["fix"]["options"]["max_duration_secs"],
        json!(600),
        "ada's maximum from her creator info, read when she connected"
    );
    run_fixes(&app).await;
    let (_, shown) = app.get(&format!("/v1/media/{other_id}")).await;
    let fixed = shown["fix"]["fixed_media_id"].as_str().unwrap();
    let (_, post) = app.get(&format!("/v1/posts/{post_id}")).await;
    assert_eq!(post["spec"]["content"]["media"], fixed, "{post}");
    assert_eq!(post["revision"], 2);
    let edit = post["events"].as_array().unwrap().last().unwrap();
    assert_eq!(edit["kind"], "edited");
    assert_eq!(
        edit["by"]["kind"], "api_key",
        "the swap is the requester's edit"
    );
}

#[tokio::test]
async fn every_refusal_names_its_field_and_a_process_without_ffmpeg_says_so() {
    let app = start().await;
    let (_, media) = app.upload(&app.key, clip(15, 3)).await;
    let id = media["id"].as_str().unwrap();
    let path = format!("/v1/media/{id}/fix");

    let (status, body) = app
        .call(Method::POST, &path, Some(&app.other_key), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another workspace's: {body}");
    let (status, _) = app
        .post(
            "/v1/media/00000000-0000-7000-8000-000000000000/fix",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.post(&path, json!({"photo_format": "gif"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error(&body), ("malformed", "photo_format"));
    assert_eq!(body["error"]["measured"], "gif");
    let (status, _) = app.post(&path, json!({"crop": true})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown option");

    let (_, url_media) = app
        .post(
            "/v1/media/url",
            json!({"url": "https://media.example.com/tokpost/a.mp4", "kind": "video"}),
        )
        .await;
    let (status, body) = app
        .post(
            &format!("/v1/media/{}/fix", url_media["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error(&body).0, "not_fixable");

    let reviewer = app
        .person(tokpost_core::Role::Reviewer, "rita@example.com")
        .await;
    let (status, body) = app
        .call(Method::POST, &path, Some(&reviewer), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let without = App::start_configured(
        |settings| settings.max_upload_bytes = 16 * 1024 * 1024,
        |pipeline| pipeline.fix.ffmpeg = Some(PathBuf::from("/nonexistent/ffmpeg")),
    )
    .await;
    let (_, media) = without.upload(&without.key, clip(15, 4)).await;
    let (status, body) = without
        .post(
            &format!("/v1/media/{}/fix", media["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error(&body).0, "fix_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/ffmpeg"),
        "{body}"
    );
}
