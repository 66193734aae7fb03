//! The composer as TikTok's audit team watches it, in real headless Chromium against a real
//! server with the sandbox as TikTok: Points 1 to 5 of TikTok's "Required UX Implementation",
//! in the guideline's order, both orders of "Branded content" and "Only me" blocking each other,
//! a photo post with its photos reordered by dragging, and creators who cannot post now. Each
//! step is photographed into `target/dashboard-screenshots/composer-*.png`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr,
    clippy::too_many_lines
)]

use crate::support;

use std::time::Duration;

use clock::Clock;
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::json;
use support::browser::{
    assert_same_origin, browser, click, connect, js, post_id_of, sign_in, snap, text_of, type_into,
    wait_until,
};
use tiktok_sandbox::faults::{FaultEffect, FaultEndpoint, FaultRule, FaultTimes};
use tokpost_core::{PostContent, PrivacyLevel, StateKind};

const BRANDED_NOT_PRIVATE: &str = "Branded content visibility cannot be set to private.";
const NEEDS_A_CHOICE: &str =
    "You need to indicate if your content promotes yourself, a third party, or both.";

async fn shot(client: &Client, name: &str) {
    snap(client, &format!("composer-{name}")).await;
}

/// A screenshot with `css` in the middle of the window, where the step's evidence is.
async fn shot_at(client: &Client, name: &str, css: &str) {
    js(
        client,
        "const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'center'});",
        vec![json!(css)],
    )
    .await;
    shot(client, name).await;
}

async fn visible(client: &Client, css: &str) -> bool {
    js(
        client,
        "const e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null && !e.closest('[hidden]');",
        vec![json!(css)],
    )
    .await
        == json!(true)
}

async fn attr(client: &Client, css: &str, name: &str) -> serde_json::Value {
    js(
        client,
        "const e = document.querySelector(arguments[0]); return e ? e[arguments[1]] : null;",
        vec![json!(css), json!(name)],
    )
    .await
}

async fn choose_privacy(client: &Client, value: &str) {
    if attr(client, "#privacy-options", "hidden").await == json!(true) {
        click(client, "#privacy-button").await;
    }
    click(client, &format!("#privacy-option-{value}")).await;
}

async fn upload(client: &Client, files: &[&str]) {
    let paths: Vec<String> = files
        .iter()
        .map(|name| {
            support::fixture(name)
                .canonicalize()
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    client
        .find(Locator::Id("media-file"))
        .await
        .unwrap()
        .send_keys(&paths.join("\n"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composer_walks_tiktoks_points_one_to_five_in_order() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let server = support::start().await;
    sign_in(client, &server).await;
    connect(client, &server, "Ada (public)").await;
    let ada = server.store.accounts(server.workspace).await.unwrap()[0].id;

    // Point 1: fresh creator info on every render; nickname and @username; the longest video.
    client
        .goto(&server.url(&format!("/compose?account={ada}")))
        .await
        .unwrap();
    assert_same_origin(client, &server.base).await;
    let first = server
        .store
        .latest_creator_info(ada)
        .await
        .unwrap()
        .unwrap();
    server.clock.advance(Duration::from_secs(90));
    client.refresh().await.unwrap();
    let again = server
        .store
        .latest_creator_info(ada)
        .await
        .unwrap()
        .unwrap();
    assert!(
        again.fetched_at > first.fetched_at,
        "creator info is fetched again on every render"
    );
    assert_eq!(text_of(client, "#creator-nickname").await, "Ada (public)");
    assert_eq!(text_of(client, "#creator-username").await, "@ada.public");
    assert!(
        text_of(client, "#creator-max-duration")
            .await
            .contains("600 seconds")
    );
    shot_at(client, "1-creator", "#creator").await;

    // Point 2: privacy from exactly the creator's options, none chosen; interactions unticked;
    // the Music Usage line before the publish button; nothing can be published yet.
    let options = js(
        client,
        "return [...document.querySelectorAll('input[name=privacy_level]')].map(r => r.value);",
        vec![],
    )
    .await;
    assert_eq!(options, again.info["privacy_level_options"]);
    assert_eq!(
        js(
            client,
            "return document.querySelector('input[name=privacy_level]:checked');",
            vec![]
        )
        .await,
        json!(null),
        "no default privacy"
    );
    assert_eq!(
        text_of(client, "#privacy-button").await,
        "Select who can view this post"
    );
    for name in ["allow_comment", "allow_duet", "allow_stitch"] {
        assert_eq!(
            attr(client, &format!("#{name}"), "checked").await,
            json!(false),
            "{name}"
        );
        assert_eq!(
            attr(client, &format!("#{name}"), "disabled").await,
            json!(false),
            "{name}"
        );
    }
    assert_eq!(
        text_of(client, "#consent").await,
        "By posting, you agree to TikTok's Music Usage Confirmation."
    );
    assert_eq!(
        js(
            client,
            "return document.querySelector('#consent > a').href;",
            vec![]
        )
        .await,
        json!("https://www.tiktok.com/legal/page/global/music-usage-confirmation/en")
    );
    assert_eq!(
        js(
            client,
            "return !!(document.getElementById('consent').compareDocumentPosition(document.getElementById('publish')) & Node.DOCUMENT_POSITION_FOLLOWING);",
            vec![]
        )
        .await,
        json!(true),
        "the consent line comes before the publish button"
    );
    assert_eq!(attr(client, "#publish", "disabled").await, json!(true));
    let blockers = text_of(client, "#blockers").await;
    assert!(
        blockers.contains("Choose a video to post.")
            && blockers.contains("Choose who can view this post."),
        "{blockers}"
    );
    upload(client, &["ok_720x1280_30fps_4s.mp4"]).await;
    wait_until(
        client,
        "return document.getElementById('upload-status').textContent.startsWith('Uploaded');",
        "the upload",
    )
    .await;
    wait_until(
        client,
        "const v = document.getElementById('preview-video'); return !v.hidden && v.readyState >= 1 && !document.getElementById('cover-picker').hidden;",
        "the preview to load the video",
    )
    .await;
    type_into(client, "caption", "Launch day 🚀 #tokpost").await;
    assert_eq!(
        text_of(client, "#caption-count [data-count]").await,
        "22",
        "the emoji counts as two UTF-16 units"
    );
    // By keyboard: Enter opens the menu, the arrow keys move the choice, Enter closes it.
    let button = client.find(Locator::Id("privacy-button")).await.unwrap();
    button.send_keys(&Key::Enter.to_string()).await.unwrap();
    assert_eq!(
        attr(client, "#privacy-options", "hidden").await,
        json!(false)
    );
    let focused = || async { js(client, "return document.activeElement.value;", vec![]).await };
    assert_eq!(
        focused().await,
        json!("PUBLIC_TO_EVERYONE"),
        "focus lands on the first option"
    );
    client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Down.to_string())
        .await
        .unwrap();
    assert_eq!(focused().await, json!("MUTUAL_FOLLOW_FRIENDS"));
    assert_eq!(
        attr(client, "#privacy-options", "hidden").await,
        json!(false),
        "an arrow key does not close the menu"
    );
    shot(client, "2-privacy-dropdown").await;
    client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    assert_eq!(
        attr(client, "#privacy-options", "hidden").await,
        json!(true)
    );
    assert_eq!(
        text_of(client, "#privacy-button").await,
        "Friends (followers you follow back)"
    );
    // By pointer: a click chooses and closes.
    click(client, "#privacy-button").await;
    click(client, "#privacy-option-PUBLIC_TO_EVERYONE").await;
    assert_eq!(
        attr(client, "#privacy-options", "hidden").await,
        json!(true)
    );
    assert_eq!(text_of(client, "#privacy-button").await, "Everyone");
    click(client, "#allow_comment").await;
    assert_eq!(attr(client, "#publish", "disabled").await, json!(false));
    shot_at(client, "2-settings", "#interactions").await;

    // Point 3a: the switch is off; turning it on shows the two boxes and nothing else until a tick.
    assert!(!visible(client, "#brand_organic").await);
    assert!(!visible(client, "#label-line").await);
    let page = text_of(client, "main").await;
    assert!(
        !page.contains("Promotional content") && !page.contains("Paid partnership"),
        "no label before a tick: {page}"
    );
    click(client, "#disclose").await;
    assert!(visible(client, "#brand_organic").await && visible(client, "#brand_content").await);
    assert_eq!(
        attr(client, "#brand_organic", "checked").await,
        json!(false)
    );
    assert_eq!(
        attr(client, "#brand_content", "checked").await,
        json!(false)
    );
    assert!(!visible(client, "#label-line").await);
    assert_eq!(attr(client, "#publish", "disabled").await, json!(true));
    assert_eq!(
        attr(client, "#publish-wrap", "title").await,
        json!(NEEDS_A_CHOICE)
    );
    assert_eq!(text_of(client, "#disclosure-needed").await, NEEDS_A_CHOICE);
    shot_at(client, "3a-disclosed-nothing-ticked", "#disclosure-needed").await;
    click(client, "#brand_organic").await;
    assert_eq!(
        text_of(client, "#label-line").await,
        "Your photo/video will be labeled as 'Promotional content'"
    );
    assert!(!visible(client, "#disclosure-needed").await);
    assert_eq!(attr(client, "#publish", "disabled").await, json!(false));
    shot_at(client, "3a-your-brand", "#label-line").await;
    click(client, "#brand_content").await;
    assert_eq!(
        text_of(client, "#label-line").await,
        "Your photo/video will be labeled as 'Paid partnership'",
        "both ticked reads Paid partnership"
    );

    // Point 4: the Branded Content Policy line, linked, while branded content is ticked.
    assert_eq!(
        text_of(client, "#consent").await,
        "By posting, you agree to TikTok's Branded Content Policy and Music Usage Confirmation."
    );
    assert_eq!(
        js(
            client,
            "return [...document.querySelectorAll('#consent a')].map(a => a.href);",
            vec![]
        )
        .await,
        json!([
            "https://www.tiktok.com/legal/page/global/bc-policy/en",
            "https://www.tiktok.com/legal/page/global/music-usage-confirmation/en"
        ])
    );
    shot_at(client, "4-branded-content-policy", "#consent").await;

    // Point 3b, branded content first: "Only me" is disabled and says why, on hover and on screen.
    click(client, "#privacy-button").await;
    assert_eq!(
        attr(client, "#privacy-SELF_ONLY", "disabled").await,
        json!(true)
    );
    assert_eq!(
        attr(client, "#privacy-option-SELF_ONLY", "title").await,
        json!(BRANDED_NOT_PRIVATE)
    );
    assert!(
        text_of(client, "#privacy-hint")
            .await
            .contains(BRANDED_NOT_PRIVATE)
    );
    assert!(
        visible(client, "#only-me-why").await,
        "the reason sits in the open menu, where the person looks"
    );
    let only_me = client
        .find(Locator::Css("#privacy-option-SELF_ONLY"))
        .await
        .unwrap();
    client
        .perform_actions(
            MouseActions::new("mouse".to_owned()).then(PointerAction::MoveToElement {
                element: only_me.clone(),
                duration: None,
                x: 0.0,
                y: 0.0,
            }),
        )
        .await
        .unwrap();
    shot(client, "3b-branded-first-only-me-blocked").await;
    only_me.click().await.unwrap();
    assert_eq!(
        text_of(client, "#privacy-button").await,
        "Everyone",
        "Only me cannot be chosen"
    );
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Point 3b, "Only me" first: branded content is disabled and says why.
    click(client, "#brand_content").await;
    choose_privacy(client, "SELF_ONLY").await;
    assert_eq!(text_of(client, "#privacy-button").await, "Only me");
    assert_eq!(
        attr(client, "#brand_content", "disabled").await,
        json!(true)
    );
    assert_eq!(
        attr(client, "#brand_content-label", "title").await,
        json!(BRANDED_NOT_PRIVATE)
    );
    assert!(
        text_of(client, "#branded-hint")
            .await
            .contains(BRANDED_NOT_PRIVATE)
    );
    shot_at(client, "3b-only-me-first-branded-blocked", "#branded-hint").await;
    choose_privacy(client, "PUBLIC_TO_EVERYONE").await;
    assert_eq!(
        attr(client, "#brand_content", "disabled").await,
        json!(false)
    );
    click(client, "#brand_content").await;
    // Turning the switch off clears both boxes; on again, nothing is ticked.
    click(client, "#disclose").await;
    click(client, "#disclose").await;
    assert_eq!(
        attr(client, "#brand_organic", "checked").await,
        json!(false)
    );
    assert_eq!(
        attr(client, "#brand_content", "checked").await,
        json!(false)
    );
    click(client, "#brand_content").await;

    // Point 5: the preview shows what goes out, with a cover frame picked on the video.
    assert_eq!(
        text_of(client, "#preview-caption").await,
        "Launch day 🚀 #tokpost"
    );
    assert_eq!(text_of(client, "#preview-label").await, "Paid partnership");
    assert_eq!(text_of(client, "#preview-privacy").await, "Everyone");
    assert_eq!(text_of(client, "#preview-interactions").await, "Comment");
    js(
        client,
        "const r = document.getElementById('cover-range'); r.value = 1500; r.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![],
    )
    .await;
    assert_eq!(
        attr(client, "#cover_timestamp_ms", "value").await,
        json!("1500")
    );
    assert_eq!(text_of(client, "#cover-time").await, "1.5 s");
    shot(client, "5-preview-cover").await;

    // Nothing goes out without an explicit action: a check first, then Schedule.
    let zone = js(
        client,
        "return document.querySelector('#compose-form input[name=time_zone]').value;",
        vec![],
    )
    .await;
    let zone = jiff::tz::TimeZone::get(zone.as_str().unwrap()).unwrap();
    let at = clock::add(server.clock.now(), Duration::from_secs(600))
        .to_zoned(zone)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    click(client, "#when-later").await;
    assert_eq!(text_of(client, "#publish").await, "Schedule");
    js(
        client,
        "const t = document.getElementById('scheduled_at'); t.value = arguments[0]; t.dispatchEvent(new Event('input', {bubbles: true}));",
        vec![json!(at)],
    )
    .await;
    click(client, "#check").await;
    let verdict = client
        .wait()
        .for_element(Locator::Id("verdict"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(verdict.contains("Preflight passed"), "{verdict}");
    assert!(
        server
            .store
            .posts(server.workspace, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing posted by a check"
    );
    assert_eq!(
        text_of(client, "#label-line").await,
        "Your photo/video will be labeled as 'Paid partnership'",
        "the check keeps every choice"
    );
    shot_at(client, "5-checked", "#verdict").await;
    click(client, "#publish").await;
    client
        .wait()
        .for_element(Locator::Id("processing-notice"))
        .await
        .unwrap();
    let notice = text_of(client, "#processing-notice").await;
    assert!(
        notice.contains("may take a few minutes for the content to process"),
        "{notice}"
    );
    let post_id = post_id_of(&client.current_url().await.unwrap());
    let post = server.store.post(post_id).await.unwrap().unwrap();
    assert_eq!(post.spec.privacy, PrivacyLevel::PublicToEveryone);
    assert!(post.spec.brand_content && !post.spec.brand_organic);
    assert!(!post.spec.interactions.disable_comment);
    assert!(post.spec.interactions.disable_duet && post.spec.interactions.disable_stitch);
    match &post.spec.content {
        PostContent::Video {
            caption,
            cover_timestamp_ms,
            ..
        } => {
            assert_eq!(caption.as_str(), "Launch day 🚀 #tokpost");
            assert_eq!(*cover_timestamp_ms, Some(1500));
        }
        other => panic!("a video post, not {other:?}"),
    }
    shot(client, "5-processing-notice").await;
    // The page follows the post's status by itself.
    let reached = server
        .drive_until(
            post_id,
            &[
                StateKind::Published,
                StateKind::Failed,
                StateKind::Uncertain,
            ],
        )
        .await;
    assert_eq!(reached, StateKind::Published);
    wait_until(
        client,
        "return document.getElementById('post-state').textContent === 'published';",
        "the page to show the post published without a reload by the person",
    )
    .await;
    shot(client, "5-published").await;

    // A phone-wide screen: usable, no sideways scroll.
    client.set_window_size(375, 812).await.unwrap();
    client
        .goto(&server.url(&format!("/compose?account={ada}")))
        .await
        .unwrap();
    let overflow = js(
        client,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        vec![],
    )
    .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the composer scrolls sideways by {overflow}px"
    );
    shot(client, "phone").await;
    client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_post_is_composed_reordered_by_dragging_and_published() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let server = support::start().await;
    sign_in(client, &server).await;
    connect(client, &server, "Ada (public)").await;
    let ada = server.store.accounts(server.workspace).await.unwrap()[0].id;
    client
        .goto(&server.url(&format!("/compose?account={ada}&kind=photo")))
        .await
        .unwrap();
    // Photo posts show only "Allow Comment".
    assert!(client.find(Locator::Id("allow_comment")).await.is_ok());
    assert!(client.find(Locator::Id("allow_duet")).await.is_err());
    assert!(client.find(Locator::Id("allow_stitch")).await.is_err());
    upload(client, &["photo_1080.jpg", "photo_1080_second.jpg"]).await;
    wait_until(
        client,
        "return document.querySelectorAll('#photo-order li').length === 2;",
        "both photos in the order",
    )
    .await;
    let order = || async {
        js(
            client,
            "return document.getElementById('photo_ids').value.split(',');",
            vec![],
        )
        .await
    };
    let before = order().await;
    assert_eq!(before.as_array().unwrap().len(), 2, "{before}");
    // Drag the second photo above the first.
    let second = client
        .find(Locator::Css("#photo-order li:nth-child(2) .handle"))
        .await
        .unwrap();
    let first = client
        .find(Locator::Css("#photo-order li:nth-child(1) .handle"))
        .await
        .unwrap();
    client
        .perform_actions(
            MouseActions::new("mouse".to_owned())
                .then(PointerAction::MoveToElement {
                    element: second,
                    duration: None,
                    x: 0.0,
                    y: 0.0,
                })
                .then(PointerAction::Down {
                    button: fantoccini::actions::MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::MoveToElement {
                    element: first,
                    duration: Some(Duration::from_millis(200)),
                    x: 0.0,
                    y: -10.0,
                })
                .then(PointerAction::Up {
                    button: fantoccini::actions::MOUSE_BUTTON_LEFT,
                }),
        )
        .await
        .unwrap();
    let after = order().await;
    assert_eq!(
        after[0], before[1],
        "the dragged photo is first: {before} → {after}"
    );
    assert_eq!(after[1], before[0]);
    // The keyboard's way does the same: move the (new) first photo down again, then back.
    click(client, "#photo-order li:nth-child(1) [data-action=down]").await;
    assert_eq!(order().await, before);
    click(client, "#photo-order li:nth-child(2) [data-action=up]").await;
    assert_eq!(order().await, after);
    // The second photo is the cover; the carousel opens on it.
    click(
        client,
        "#photo-order li:nth-child(2) input[name=cover_index]",
    )
    .await;
    assert_eq!(text_of(client, "#carousel-position").await, "2 / 2");
    assert!(visible(client, "#carousel-cover").await);
    click(client, "#carousel-next").await;
    assert_eq!(text_of(client, "#carousel-position").await, "1 / 2");
    assert!(!visible(client, "#carousel-cover").await);
    client
        .find(Locator::Id("title"))
        .await
        .unwrap()
        .send_keys("Two photos")
        .await
        .unwrap();
    client
        .find(Locator::Id("description"))
        .await
        .unwrap()
        .send_keys("A carousel #tokpost")
        .await
        .unwrap();
    assert_eq!(text_of(client, "#title-count [data-count]").await, "10");
    assert_eq!(text_of(client, "#preview-title").await, "Two photos");
    choose_privacy(client, "PUBLIC_TO_EVERYONE").await;
    shot_at(client, "photo-post", "#photo-order").await;
    click(client, "#publish").await;
    client
        .wait()
        .for_element(Locator::Id("processing-notice"))
        .await
        .unwrap();
    let post_id = post_id_of(&client.current_url().await.unwrap());
    let post = server.store.post(post_id).await.unwrap().unwrap();
    match &post.spec.content {
        PostContent::Photos {
            media,
            cover_index,
            title,
            description,
        } => {
            let ids: Vec<String> = media.iter().map(ToString::to_string).collect();
            assert_eq!(json!(ids), after);
            assert_eq!(*cover_index, 1);
            assert_eq!(title.as_str(), "Two photos");
            assert_eq!(description.as_str(), "A carousel #tokpost");
        }
        other => panic!("a photo post, not {other:?}"),
    }
    let reached = server
        .drive_until(
            post_id,
            &[
                StateKind::Published,
                StateKind::Failed,
                StateKind::Uncertain,
            ],
        )
        .await;
    assert_eq!(reached, StateKind::Published, "TikTok pulled both photos");
    shot(client, "photo-post-sent").await;
    client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_who_cannot_post_now_is_stopped_and_told_when_to_try_again() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let server = support::start().await;
    sign_in(client, &server).await;
    for creator in [
        "Ada (public)",
        "Cy (banned)",
        "Di (2 posts a day, no comments)",
    ] {
        connect(client, &server, creator).await;
    }
    let accounts = server.store.accounts(server.workspace).await.unwrap();
    // A banned creator's nickname never came (TikTok refused creator info at the connection):
    // that account is known by TikTok's open id.
    let id_of = |name: &str| {
        accounts
            .iter()
            .find(|a| {
                a.display_name.starts_with(name)
                    || a.open_id.as_str().starts_with(&format!("-000{name}_"))
            })
            .unwrap()
            .id
    };

    // Banned: no form, the reason, try again later.
    client
        .goto(&server.url(&format!("/compose?account={}", id_of("Cy"))))
        .await
        .unwrap();
    let stopped = text_of(client, "#cannot-post").await;
    assert!(stopped.contains("try again later"), "{stopped}");
    assert!(
        client.find(Locator::Id("compose-form")).await.is_err(),
        "publishing is stopped"
    );
    shot(client, "1b-banned").await;

    // Interactions the creator turned off are disabled, greyed and say why.
    client
        .goto(&server.url(&format!("/compose?account={}", id_of("Di"))))
        .await
        .unwrap();
    for name in ["allow_comment", "allow_duet", "allow_stitch"] {
        assert_eq!(
            attr(client, &format!("#{name}"), "disabled").await,
            json!(true),
            "{name}"
        );
        assert_eq!(
            attr(client, &format!("#{name}"), "checked").await,
            json!(false),
            "{name}"
        );
    }
    let greyed = js(
        client,
        "return getComputedStyle(document.getElementById('allow_comment').parentElement).color !== getComputedStyle(document.querySelector('label[for=caption]')).color;",
        vec![],
    )
    .await;
    assert_eq!(greyed, json!(true), "a disabled interaction is greyed");
    assert!(
        text_of(client, "#interactions")
            .await
            .contains("turned off in")
    );
    shot_at(client, "2c-interactions-off", "#interactions").await;

    // Point 1c: a video longer than the creator may post is stopped before anything is sent,
    // in the page and again by the server's check.
    upload(client, &["long_200s.mp4"]).await;
    wait_until(
        client,
        "return document.getElementById('upload-status').textContent.startsWith('Uploaded');",
        "the long video's upload",
    )
    .await;
    choose_privacy(client, "PUBLIC_TO_EVERYONE").await;
    assert_eq!(attr(client, "#publish", "disabled").await, json!(true));
    let blockers = text_of(client, "#blockers").await;
    assert!(
        blockers.contains("200.0 seconds long")
            && blockers.contains("can post videos up to 180 seconds"),
        "{blockers}"
    );
    shot_at(client, "1c-video-too-long", "#blockers").await;
    click(client, "#check").await;
    // The check is a form submission: wait for the page it brings.
    client
        .wait()
        .for_element(Locator::Id("verdict"))
        .await
        .unwrap();
    let verdict = text_of(client, "#verdict").await;
    assert!(
        verdict.contains("Preflight found problems") && verdict.contains("180"),
        "{verdict}"
    );
    assert!(
        server
            .store
            .posts(server.workspace, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing was sent"
    );

    // The daily cap, as TikTok counts it: the next free slot from the posts counted.
    let ada = id_of("Ada");
    let http = reqwest::Client::new();
    let media: serde_json::Value = http
        .post(server.url("/v1/media"))
        .bearer_auth(&server.api_key)
        .body(std::fs::read(support::fixture("ok_720x1280_30fps_4s.mp4")).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created: serde_json::Value = http
        .post(server.url("/v1/posts"))
        .bearer_auth(&server.api_key)
        .json(&json!({
            "account_id": ada.to_string(),
            "video": {"media_id": media["id"], "caption": "first of the day"},
            "privacy_level": "PUBLIC_TO_EVERYONE",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = created["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        server
            .drive_until(first, &[StateKind::Published, StateKind::Failed])
            .await,
        StateKind::Published
    );
    server.sandbox.add_fault(FaultRule {
        endpoint: FaultEndpoint::CreatorInfo,
        creator: Some("ada.public".to_owned()),
        effect: FaultEffect::Error {
            code: "spam_risk_too_many_posts".to_owned(),
            http_status: 200,
            message: None,
        },
        times: FaultTimes::Once,
    });
    client
        .goto(&server.url(&format!("/compose?account={ada}")))
        .await
        .unwrap();
    let stopped = text_of(client, "#cannot-post").await;
    assert!(
        stopped.contains("limit of posts for today") && stopped.contains("try again later"),
        "{stopped}"
    );
    let used = server
        .store
        .quota_use_times(
            ada,
            tokpost_store::QuotaKind::DirectPost,
            tokpost_pipeline::caps::window_start(server.clock.now()),
        )
        .await
        .unwrap();
    let zone = js(
        client,
        "return Intl.DateTimeFormat().resolvedOptions().timeZone;",
        vec![],
    )
    .await;
    let zone = jiff::tz::TimeZone::get(zone.as_str().unwrap()).unwrap();
    let expected = clock::add(used[0], Duration::from_secs(86_400))
        .to_zoned(zone)
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string();
    assert_eq!(text_of(client, "#next-free-slot").await, expected);
    shot(client, "1b-daily-cap").await;
    // The fault was once: the next render asks TikTok again and the form is back.
    client.refresh().await.unwrap();
    assert!(client.find(Locator::Id("compose-form")).await.is_ok());
    client.clone().close().await.unwrap();
}
