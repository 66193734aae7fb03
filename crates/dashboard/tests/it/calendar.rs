//! The calendar in a real headless Chromium over WebDriver, against a real server with the
//! sandbox as TikTok: a person in Berlin signs in, connects two creators, sees their posts in
//! the week and month views and each creator's next free slot, drags a post to another half
//! hour (week) and another day (month) with WebDriver pointer actions, drags one into the past
//! and reads the refusal, moves one with the keyboard form, filters by account, clicks through
//! to a post, and finds the page usable at 375 px. Every step is photographed into
//! `target/dashboard-screenshots/calendar-*.png`.
//!
//! Without Chromium the test says so and passes locally; with `CI` set it fails instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

use crate::support;

use std::time::Duration;

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, Locator};
use jiff::Timestamp;
use serde_json::{Value, json};
use support::browser::{assert_same_origin, browser, connect, sign_in_from, snap, text_of};
use support::http::http;
use tokpost_core::PostId;

async fn upload_fixture(server: &support::Server) -> String {
    let bytes = std::fs::read(support::fixture("ok_720x1280_30fps_4s.mp4")).unwrap();
    let media: Value = http()
        .post(server.url("/v1/media"))
        .bearer_auth(&server.api_key)
        .body(bytes)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    media["id"].as_str().unwrap().to_owned()
}

/// Schedules a video post through the API at `at` (RFC 3339).
async fn schedule(
    server: &support::Server,
    account: &str,
    media: &str,
    caption: &str,
    at: &str,
) -> PostId {
    let created: Value = http()
        .post(server.url("/v1/posts"))
        .bearer_auth(&server.api_key)
        .json(&json!({
            "account_id": account,
            "video": {"media_id": media, "caption": caption},
            "privacy_level": "SELF_ONLY",
            "scheduled_at": at,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .parse()
        .unwrap()
}

async fn scheduled_at(server: &support::Server, post: PostId) -> Timestamp {
    server
        .store
        .post(post)
        .await
        .unwrap()
        .unwrap()
        .scheduled_at
        .at()
}

/// Drags the chip of `post` onto `cell` (a CSS selector: a week's hour cell, or the day number
/// at the top of a month's day cell), `dy` pixels below its centre, with a mouse: press, move
/// in steps, release. The chip is scrolled to the middle of the window first, so that the
/// pointer never reaches the edges where the page scrolls by itself.
async fn drag(client: &Client, post: PostId, cell: &str, dy: f64) {
    let chip = format!("li[data-post='{post}'] .cal-link");
    show(client, &chip).await;
    let chip = client.find(Locator::Css(&chip)).await.unwrap();
    let target = client.find(Locator::Css(cell)).await.unwrap();
    let step = |x: f64, y: f64| PointerAction::MoveBy {
        duration: Some(Duration::from_millis(50)),
        x,
        y,
    };
    let mouse = MouseActions::new("mouse".to_owned())
        .then(PointerAction::MoveToElement {
            element: chip,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(step(4.0, 4.0))
        .then(step(8.0, 8.0))
        .then(PointerAction::MoveToElement {
            element: target,
            duration: Some(Duration::from_millis(200)),
            x: 0.0,
            y: dy,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    client.perform_actions(mouse).await.unwrap();
    client.release_actions().await.unwrap();
}

/// Waits until the page's status line reads something other than moving.
async fn settled_status(client: &Client) -> String {
    for _ in 0..100 {
        let status = text_of(client, "#cal-status").await;
        if !status.is_empty() && !status.starts_with("Moving") {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the move never settled");
}

/// Scrolls `css` to the middle of the window, for the photograph.
async fn show(client: &Client, css: &str) {
    client
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
            vec![json!(css)],
        )
        .await
        .unwrap();
}

async fn fits_width(client: &Client) -> (i64, i64) {
    let widths = client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_in_berlin_drags_posts_across_the_week_and_the_month_and_is_told_why_a_move_is_refused()
 {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let server = support::start().await;
    let base = server.base.clone();
    // The clock stands at 2026-01-01T00:00Z: Thursday 01:00 in Berlin (CET, UTC+1).

    // Sign in from Berlin.
    sign_in_from(client, &server, Some("Europe/Berlin")).await;
    for creator in ["Ada (public)", "Bo (private)"] {
        connect(client, &server, creator).await;
    }
    let accounts = server.store.accounts(server.workspace).await.unwrap();
    let id_of = |name: &str| {
        accounts
            .iter()
            .find(|a| a.display_name.contains(name))
            .unwrap()
            .id
            .to_string()
    };
    let (ada, bo) = (id_of("Ada"), id_of("Bo"));

    // Posts at known Berlin times.
    let media = upload_fixture(&server).await;
    let friday = schedule(
        &server,
        &ada,
        &media,
        "Friday launch",
        "2026-01-02T09:00:00Z",
    )
    .await;
    let later = schedule(&server, &bo, &media, "Bo's teaser", "2026-01-02T14:30:00Z").await;
    let saturday = schedule(
        &server,
        &ada,
        &media,
        "Weekend recap",
        "2026-01-03T07:00:00Z",
    )
    .await;
    let dropped = schedule(&server, &bo, &media, "Dropped idea", "2026-01-03T17:00:00Z").await;
    let cancelled = http()
        .post(server.url(&format!("/v1/posts/{dropped}/cancel")))
        .bearer_auth(&server.api_key)
        .send()
        .await
        .unwrap();
    assert!(cancelled.status().is_success());

    // The week: each post in its Berlin hour, the state in words, each creator's next slot.
    client.goto(&server.url("/calendar")).await.unwrap();
    assert_same_origin(client, &base).await;
    assert_eq!(
        text_of(client, "#cal-title").await,
        "Week of 29 December – 4 January 2026"
    );
    // Where the chip is, said in full when it is not where expected (the person's zone decides
    // the cell: Berlin puts 09:00Z at 10:00, UTC would put it at 09:00).
    let found = client
        .execute(
            "const chip = document.querySelector(`li[data-post='${arguments[0]}']`);
             const cell = chip && chip.closest('td');
             return cell ? [cell.dataset.date, cell.dataset.hour, chip.textContent] : null;",
            vec![json!(friday.to_string())],
        )
        .await
        .unwrap();
    assert_eq!(
        (found[0].as_str(), found[1].as_str()),
        (Some("2026-01-02"), Some("10")),
        "the Friday post is in its Berlin hour: {found}; the grid says {:?}",
        client
            .execute(
                "return document.querySelector('#cal-grid caption').textContent;",
                vec![]
            )
            .await
            .unwrap()
    );
    let friday_chip = found[2].as_str().unwrap().to_owned();
    assert!(
        friday_chip.contains("10:00")
            && friday_chip.contains("Scheduled")
            && friday_chip.contains("Friday launch"),
        "{friday_chip}"
    );
    let cancelled_chip = text_of(
        client,
        &format!("td[data-date='2026-01-03'][data-hour='18'] li[data-post='{dropped}']"),
    )
    .await;
    assert!(cancelled_chip.contains("Cancelled"), "{cancelled_chip}");
    assert!(
        client
            .find(Locator::Css(&format!(
                "li[data-post='{dropped}'][data-movable]"
            )))
            .await
            .is_err(),
        "a cancelled post cannot be dragged"
    );
    let ada_slot = text_of(client, &format!("li[data-slot='{ada}']")).await;
    assert!(
        ada_slot.contains("next free slot now") && ada_slot.contains("0 of 15"),
        "{ada_slot}"
    );
    let marked = text_of(client, "td[data-date='2026-01-01'][data-hour='1']").await;
    assert!(
        marked.contains("Ada") && marked.contains("Bo"),
        "the free slots are marked at the current hour: {marked}"
    );
    snap(client, "calendar-1-week").await;

    // Drag Friday 10:00 to Saturday, lower half of the 14:00 cell: Saturday 14:30 in Berlin.
    let target = "td[data-date='2026-01-03'][data-hour='14']";
    drag(client, friday, target, 8.0).await;
    let status = settled_status(client).await;
    assert!(status.starts_with("Moved to 2026-01-03 14:30"), "{status}");
    assert_eq!(
        scheduled_at(&server, friday).await.to_string(),
        "2026-01-03T13:30:00Z"
    );
    client
        .find(Locator::Css(&format!("{target} li[data-post='{friday}']")))
        .await
        .unwrap();
    assert!(text_of(client, &format!("li[data-post='{friday}'] time")).await == "14:30");
    show(client, target).await;
    snap(client, "calendar-2-week-dragged").await;

    // The month: Saturday's post keeps its 08:00 when dragged to Wednesday the 7th.
    client
        .find(Locator::Id("cal-month"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//h2[@id='cal-title' and .='January 2026']"))
        .await
        .unwrap();
    assert!(
        client
            .find(Locator::Css(&format!(
                "td[data-date='2026-01-03'] li[data-post='{saturday}']"
            )))
            .await
            .is_ok()
    );
    snap(client, "calendar-3-month").await;
    drag(client, saturday, "td[data-date='2026-01-07'] .cal-day", 0.0).await;
    let status = settled_status(client).await;
    assert!(status.starts_with("Moved to 2026-01-07 08:00"), "{status}");
    assert_eq!(
        scheduled_at(&server, saturday).await.to_string(),
        "2026-01-07T07:00:00Z"
    );
    snap(client, "calendar-4-month-dragged").await;

    // Into the past: refused in the API's words, next to the post, which stays where it was.
    drag(client, later, "td[data-date='2025-12-30'] .cal-day", 0.0).await;
    let status = settled_status(client).await;
    assert!(status.starts_with("Not moved"), "{status}");
    let error = text_of(client, &format!("li[data-post='{later}'] .cal-error")).await;
    assert!(
        error.contains("scheduled_at") && error.contains("not in the past"),
        "{error}"
    );
    client
        .find(Locator::Css(&format!(
            "td[data-date='2026-01-02'] li[data-post='{later}']"
        )))
        .await
        .unwrap();
    assert_eq!(
        scheduled_at(&server, later).await.to_string(),
        "2026-01-02T14:30:00Z"
    );
    snap(client, "calendar-5-refused").await;

    // Without dragging: the Move link's form, then the calendar at the new day.
    client
        .find(Locator::Css(&format!("li[data-post='{later}'] .cal-move")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let current = text_of(client, "#move-current").await;
    assert_eq!(current, "2026-01-02 15:30 CET");
    client
        .execute(
            "document.getElementById('move-at').value = '2026-01-05T09:15';",
            vec![],
        )
        .await
        .unwrap();
    snap(client, "calendar-6-move-form").await;
    client
        .find(Locator::Id("move-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = client
        .wait()
        .for_element(Locator::Id("cal-notice"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        notice.contains("Bo's teaser") && notice.contains("2026-01-05 09:15 CET"),
        "{notice}"
    );
    assert_eq!(
        scheduled_at(&server, later).await.to_string(),
        "2026-01-05T08:15:00Z"
    );
    snap(client, "calendar-7-moved-by-form").await;

    // One account only, whose daily cap the 8th already fills: 15 posts from 06:00 in Berlin.
    for hour in 0..15 {
        let at = format!("2026-01-08T{:02}:00:00Z", hour + 5);
        schedule(&server, &bo, &media, &format!("Bo #{hour}"), &at).await;
    }
    client
        .goto(&server.url(&format!(
            "/calendar?view=month&date=2026-01-10&account={bo}"
        )))
        .await
        .unwrap();
    let grid = text_of(client, "#cal-grid").await;
    assert!(
        grid.contains("Bo's teaser") && !grid.contains("Weekend recap"),
        "{grid}"
    );
    let bo_slot = text_of(client, &format!("li[data-slot='{bo}']")).await;
    assert!(bo_slot.contains("17 in this month"), "{bo_slot}");
    drag(client, later, "td[data-date='2026-01-08'] .cal-day", 0.0).await;
    let status = settled_status(client).await;
    assert!(status.starts_with("Not moved"), "{status}");
    let error = text_of(client, &format!("li[data-post='{later}'] .cal-error")).await;
    assert!(
        error.contains("15 direct posts") && error.contains("the daily cap is 15"),
        "{error}"
    );
    assert_eq!(
        scheduled_at(&server, later).await.to_string(),
        "2026-01-05T08:15:00Z"
    );
    show(client, &format!("li[data-post='{later}']")).await;
    snap(client, "calendar-8-one-account-cap-refused").await;

    // Click through to a post.
    client
        .goto(&server.url("/calendar?view=week&date=2026-01-03"))
        .await
        .unwrap();
    client
        .find(Locator::Css(&format!("li[data-post='{friday}'] .cal-link")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_url(&url::Url::parse(&server.url(&format!("/posts/{friday}"))).unwrap())
        .await
        .unwrap();
    snap(client, "calendar-9-post").await;

    // A phone: nothing scrolls sideways, in either view.
    client.set_window_size(375, 900).await.unwrap();
    for (view, name) in [
        ("week", "calendar-10-phone-week"),
        ("month", "calendar-11-phone-month"),
    ] {
        client
            .goto(&server.url(&format!("/calendar?view={view}&date=2026-01-03")))
            .await
            .unwrap();
        let (scroll, inner) = fits_width(client).await;
        assert!(
            scroll <= inner,
            "{view}: {scroll} px wide in a {inner} px window"
        );
        client
            .execute(
                "document.getElementById('cal-grid').scrollIntoView({block: 'start'});",
                vec![],
            )
            .await
            .unwrap();
        snap(client, name).await;
    }
    assert_same_origin(client, &base).await;
}

#[tokio::test]
async fn the_calendar_names_the_field_of_bad_input_and_refuses_moves_without_the_token_or_to_a_skipped_hour()
 {
    let server = support::start().await;
    let session = support::http::session(&server).await;
    let (cookie, csrf) = (session.cookie.clone(), session.csrf.clone());
    let page = |path: &'static str| {
        let cookie = cookie.clone();
        let url = server.url(path);
        async move {
            let response = http()
                .get(url)
                .header(reqwest::header::COOKIE, cookie)
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    for (path, message) in [
        (
            "/calendar?view=year",
            "view: expected `week` or `month`, got `year`",
        ),
        (
            "/calendar?date=2026-02-30",
            "date: expected YYYY-MM-DD, got `2026-02-30`",
        ),
        (
            "/calendar?account=nobody",
            "account: `nobody` is not an account of this workspace",
        ),
    ] {
        let (status, body) = page(path).await;
        assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(body.contains(message), "{path}: {body}");
    }

    // Berlin skips 02:00 on 2026-03-29: the cell says so and takes no drop.
    let (status, week) = page("/calendar?view=week&date=2026-03-29").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(week.contains("no 02:00 (clocks go forward)"), "{week}");
    let skipped = week
        .split("<td ")
        .find(|cell| cell.contains("data-date=\"2026-03-29\" data-hour=\"2\""))
        .unwrap();
    assert!(!skipped.contains("data-drop"), "{skipped}");

    support::http::connect(&server, &session, "ada.public").await;
    let account = server.store.accounts(server.workspace).await.unwrap()[0]
        .id
        .to_string();
    let media = upload_fixture(&server).await;
    let post = schedule(&server, &account, &media, "spring", "2026-03-20T09:00:00Z").await;
    let move_to = |token: Option<&str>, body: Value| {
        let mut request = http()
            .post(server.url(&format!("/calendar/move/{post}")))
            .header(reqwest::header::COOKIE, &cookie)
            .json(&body);
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = move_to(None, json!({"date": "2026-03-21", "time": "10:00"})).await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "{body}");
    let (status, body) = move_to(Some(&csrf), json!({"date": "2026-03-21", "time": "25:00"})).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["message"],
        "time: expected HH:MM, got `25:00`"
    );
    let (status, body) = move_to(Some(&csrf), json!({"date": "2026-03-29", "time": "02:30"})).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["message"],
        "02:30 does not exist on 2026-03-29 in Europe/Berlin (the clocks go forward); pick another time"
    );
    assert_eq!(
        scheduled_at(&server, post).await.to_string(),
        "2026-03-20T09:00:00Z",
        "nothing moved yet"
    );
    // The day after the change: 03:30 is summer time, UTC+2.
    let (status, body) = move_to(Some(&csrf), json!({"date": "2026-03-30", "time": "03:30"})).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["scheduled_at"], "2026-03-30T01:30:00Z");
    assert_eq!(body["label"], "2026-03-30 03:30 CEST");

    // The form: a past time comes back with the API's reason and nothing moves.
    let refused = http()
        .post(server.url(&format!("/calendar/move/{post}")))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("at", "2025-12-31T10:00"),
            ("view", "month"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Not moved: scheduled_at"), "{html}");
    assert!(
        html.contains("value=\"2025-12-31T10:00\""),
        "the time typed is kept"
    );
    assert_eq!(
        scheduled_at(&server, post).await.to_string(),
        "2026-03-30T01:30:00Z"
    );
    let unknown = http()
        .post(server.url("/calendar/move/018f0000-0000-7000-8000-000000000000"))
        .header(reqwest::header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"date": "2026-03-30"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), reqwest::StatusCode::NOT_FOUND);
}
