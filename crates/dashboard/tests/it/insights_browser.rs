//! The Insights page in real headless Chromium: with a creator's daily follower counts and a
//! post's snapshots in the store (as the snapshot job leaves them), the page shows the views
//! gained, the creator's follower line, the top post with its bar and engagement, and the hour
//! its first-day views arrived, all as inline SVG; nothing scrolls sideways on a phone.

use clock::Clock as _;
use fantoccini::Locator;
use serde_json::{Value, json};
use tokpost_store::{AccountCounts, Counts, PostSnapshot};

use crate::support::browser::{browser, connect, js, sign_in, snap, text_of};
use crate::support::{self};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insights_page_charts_followers_top_posts_and_the_hours_views_arrive() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let server = support::start().await;
    sign_in(client, &server).await;
    client.goto(&server.url("/insights")).await.unwrap();
    assert!(
        text_of(client, "#no-posts")
            .await
            .contains("No counts in this range yet")
    );

    connect(client, &server, "Ada (public)").await;
    let account = server.store.accounts(server.workspace).await.unwrap()[0].id;
    let media: Value = reqwest::Client::new()
        .post(server.url("/v1/media"))
        .bearer_auth(&server.api_key)
        .body(std::fs::read(support::fixture("ok_720x1280_30fps_4s.mp4")).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = server.clock.now();
    let post: Value = reqwest::Client::new()
        .post(server.url("/v1/posts"))
        .bearer_auth(&server.api_key)
        .json(&json!({
            "account_id": account,
            "video": {"media_id": media["id"], "caption": "Launch teaser"},
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "disable_comment": false, "disable_duet": false, "disable_stitch": false,
            "scheduled_at": (now + jiff::SignedDuration::from_hours(2)).to_string(),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post_id: tokpost_core::PostId = post["id"].as_str().unwrap().parse().unwrap();
    // The post's first hours, and three days of the creator's followers, all in the past.
    for (hours_ago, views, likes) in [(3, 0, 0), (2, 400, 40), (1, 900, 81)] {
        server
            .store
            .record_snapshots(
                &[PostSnapshot {
                    post_id,
                    counts: Some(Counts {
                        views: Some(views),
                        likes: Some(likes),
                        comments: Some(9),
                        shares: Some(0),
                    }),
                    next_at: None,
                }],
                now - jiff::SignedDuration::from_hours(hours_ago),
            )
            .await
            .unwrap();
    }
    for (days_ago, followers) in [(3, 1_000), (2, 1_040), (1, 1_120)] {
        server
            .store
            .record_account_counts(
                account,
                AccountCounts {
                    followers: Some(followers),
                    ..AccountCounts::default()
                },
                now - jiff::SignedDuration::from_hours(24 * days_ago),
            )
            .await
            .unwrap();
    }

    client.goto(&server.url("/insights")).await.unwrap();
    assert_eq!(text_of(client, "#total-views").await, "900");
    let accounts = text_of(client, "#insight-accounts").await;
    assert!(
        accounts.contains("Ada (public)") && accounts.contains("→ 1120"),
        "{accounts}"
    );
    assert!(
        client
            .find(Locator::Css("#insight-accounts svg.spark path"))
            .await
            .is_ok()
    );
    let top = text_of(client, "#top-posts").await;
    assert!(
        top.contains("Launch teaser") && top.contains("900") && top.contains("10.0%"),
        "{top}"
    );
    assert!(
        client
            .find(Locator::Css("#top-posts svg.bar"))
            .await
            .is_ok()
    );
    let cells = js(
        client,
        "return document.querySelectorAll('#hours svg.hours rect').length;",
        vec![],
    )
    .await;
    assert_eq!(cells, json!(24));
    assert!(client.find(Locator::Id("best-hour")).await.is_ok());
    snap(client, "insights").await;
    client.set_window_size(375, 812).await.unwrap();
    snap(client, "insights-375").await;
    let overflow = js(
        client,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        vec![],
    )
    .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "/insights scrolls sideways on a phone by {overflow}px"
    );
    client.set_window_size(1280, 900).await.unwrap();
    client.goto(&server.url("/insights?days=7")).await.unwrap();
    assert!(text_of(client, "#ranges").await.contains("7 days"));

    // Once published, the post's own page shows its counts and its curve.
    server
        .drive_until(post_id, &[tokpost_core::StateKind::Published])
        .await;
    client
        .goto(&server.url(&format!("/posts/{post_id}")))
        .await
        .unwrap();
    let section = text_of(client, "#post-insights").await;
    assert!(
        section.contains("On TikTok") && section.contains("Views"),
        "{section}"
    );
    assert!(
        client
            .find(Locator::Css("#post-curve svg.spark path"))
            .await
            .is_ok()
    );
    snap(client, "post-insights").await;
}
