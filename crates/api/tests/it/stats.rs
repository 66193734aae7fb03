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

#[tokio::test]
async fn a_summary_over_a_range_counts_what_each_post_gained_and_exports_csv() {
    let app = App::start().await;
    let (_, post) = app.publish_in_sandbox().await;
    let start = clock::Clock::now(app.clock.as_ref());
    let day = |n: i64| start + jiff::SignedDuration::from_hours(24 * n);
    let hour = |n: i64| start + jiff::SignedDuration::from_hours(n);
    // Snapshots as the snapshot job leaves them (their schedule is the pipeline's business).
    for (at, views, likes) in [
        (hour(0), 100, 10),
        (hour(1), 150, 15),
        (day(2), 300, 30),
        (day(5), 1_000, 90),
    ] {
        app.store
            .record_snapshots(
                &[tokpost_store::PostSnapshot {
                    post_id: post,
                    counts: Some(tokpost_store::Counts {
                        views: Some(views),
                        likes: Some(likes),
                        comments: Some(0),
                        shares: Some(0),
                    }),
                    next_at: None,
                }],
                at,
            )
            .await
            .unwrap();
    }
    let range = format!("from={}&to={}", day(1), day(4));
    let (status, summary) = app.get(&format!("/v1/insights/summary?{range}")).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    // From the hour-1 snapshot (the last before the range) to the day-2 one (the last in it).
    assert_eq!(summary["gained"]["views"], 150, "{summary}");
    assert_eq!(summary["top_posts"][0]["post_id"], json!(post.to_string()));
    assert_eq!(summary["top_posts"][0]["gained"]["likes"], 15);
    assert_eq!(summary["top_posts"][0]["views"], 300);
    assert_eq!(summary["top_posts"][0]["engagement_rate"], 0.1);
    let account = &summary["accounts"][0];
    assert_eq!(account["posts"], 1);
    assert_eq!(account["gained"]["views"], 150);
    // The creator's followers come with the summary: the series within the range, and the
    // readiness the creator's own stats report (the dashboard makes no second request).
    let account_id: tokpost_core::AccountId =
        account["account_id"].as_str().unwrap().parse().unwrap();
    for (at, followers) in [(day(0), 10), (day(2), 20), (day(3), 30), (day(6), 60)] {
        app.store
            .record_account_counts(
                account_id,
                AccountCounts {
                    followers: Some(followers),
                    following: None,
                    likes: None,
                    videos: None,
                },
                at,
            )
            .await
            .unwrap();
    }
    let (_, summary) = app.get(&format!("/v1/insights/summary?{range}")).await;
    let account = &summary["accounts"][0];
    let series: Vec<(String, u64)> = account["follower_series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| {
            (
                point["at"].as_str().unwrap().to_owned(),
                point["followers"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        series,
        vec![(day(2).to_string(), 20), (day(3).to_string(), 30)],
        "{summary}"
    );
    assert_eq!(
        (&account["followers_at_start"], &account["followers_at_end"]),
        (&json!(10), &json!(30))
    );
    let (_, creator) = app.get(&format!("/v1/accounts/{account_id}/stats")).await;
    assert_eq!(account["insights_ready"], creator["insights_ready"]);
    assert!(account["insights_ready"].is_boolean());
    // Outside the post's first day: no hour gained anything.
    let hours = summary["first_day_views_by_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours.iter().map(|v| v.as_u64().unwrap()).sum::<u64>(), 0);
    // Its first day: the 50 views the 01:00 snapshot saw land on hour 1 (UTC), hour 2 in Paris.
    let first_day = format!("from={}&to={}", hour(-1), day(1));
    let (_, early) = app.get(&format!("/v1/insights/summary?{first_day}")).await;
    assert_eq!(early["first_day_views_by_hour"][1], 50, "{early}");
    let (_, paris) = app
        .get(&format!(
            "/v1/insights/summary?{first_day}&time_zone=Europe/Paris"
        ))
        .await;
    assert_eq!(paris["first_day_views_by_hour"][2], 50, "{paris}");
    assert_eq!(paris["time_zone"], "Europe/Paris");

    let csv = app
        .http
        .get(app.url(&format!("/v1/insights/summary?{range}&format=csv")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "post_id,account_id,views_gained,likes_gained,comments_gained,shares_gained,views,engagement_rate"
        )
    );
    assert!(
        lines.next().unwrap().contains(",150,15,0,0,300,0.1000"),
        "{text}"
    );

    let backwards = format!("from={}&to={}", day(4), day(1));
    let (status, refused) = app.get(&format!("/v1/insights/summary?{backwards}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_range");
    let (status, refused) = app.get("/v1/insights/summary?from=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "from");
}
