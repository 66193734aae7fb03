//! Insights over HTTP: a post TikTok never shows publicly is said not to be followed, and why; a
//! post not yet public waits; a creator's daily counts come back oldest first with the latest;
//! another workspace's post or account is 404.

use reqwest::StatusCode;
use serde_json::json;
use tokpost_store::AccountCounts;

use crate::support::App;

#[tokio::test]
async fn a_posts_and_a_creators_counts_say_where_following_stands() {
    let app = App::start().await;
    let (_, published) = app.publish_in_sandbox().await;
    let (status, stats) = app.get(&format!("/v1/posts/{published}/stats")).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["tracking"], "not_followed", "{stats}");
    assert!(
        stats["explanation"]
            .as_str()
            .unwrap()
            .contains("only for public posts"),
        "{stats}"
    );
    assert_eq!(stats["series"], json!([]));
    assert!(stats["latest"].is_null());

    let account = app.connect(&app.key, "ada.public").await;
    let id = account["id"].as_str().unwrap();
    let (status, creator) = app.get(&format!("/v1/accounts/{id}/stats")).await;
    assert_eq!(status, StatusCode::OK, "{creator}");
    assert_eq!(creator["insights_ready"], true, "{creator}");
    assert_eq!(creator["series"], json!([]));
    let account_id = id.parse().unwrap();
    for (day, followers) in [(0, 100), (1, 130)] {
        let at = clock::add(
            clock::Clock::now(app.clock.as_ref()),
            std::time::Duration::from_secs(day * 86_400),
        );
        app.store
            .record_account_counts(
                account_id,
                AccountCounts {
                    followers: Some(followers),
                    following: Some(3),
                    likes: None,
                    videos: Some(2),
                },
                at,
            )
            .await
            .unwrap();
    }
    let (_, creator) = app.get(&format!("/v1/accounts/{id}/stats")).await;
    assert_eq!(creator["series"].as_array().unwrap().len(), 2);
    assert_eq!(creator["series"][0]["followers"], 100);
    assert_eq!(creator["latest"]["followers"], 130);
    assert!(
        creator["latest"]["likes"].is_null(),
        "what TikTok did not say stays absent"
    );

    // Another workspace sees neither.
    for path in [
        format!("/v1/posts/{published}/stats"),
        format!("/v1/accounts/{id}/stats"),
    ] {
        let (status, _) = app
            .call(reqwest::Method::GET, &path, Some(&app.other_key), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}
