//! "Fix it" in the composer, in real headless Chromium with a real ffmpeg behind the server's
//! workers: a 15 fps upload is flagged as one TikTok would refuse, the button fixes it on the
//! server with its progress shown, and the fixed copy takes the original's place in the post
//! being written while the original stays in the library.

use std::time::Duration;

use fantoccini::Locator;
use tokpost_store::FixState;

use crate::support::browser::{assert_same_origin, browser, connect, sign_in, snap, text_of};
use crate::support::{self};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_upload_is_fixed_from_the_composer_and_takes_its_place_in_the_post() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let server = support::start().await;
    sign_in(client, &server).await;
    connect(client, &server, "Ada (public)").await;
    let ada = server.store.accounts(server.workspace).await.unwrap()[0].id;

    let dir = tempfile::tempdir().unwrap();
    let slow = tokpost_testkit::ffmpeg::clip(dir.path(), "slow-15fps.mp4", "720x1280", 15, 4.0);

    client
        .goto(&server.url(&format!("/compose?account={ada}")))
        .await
        .unwrap();
    client
        .find(Locator::Id("media-file"))
        .await
        .unwrap()
        .send_keys(slow.to_str().unwrap())
        .await
        .unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::XPath(
            "//p[@id='upload-status' and contains(., 'TikTok would refuse it')]",
        ))
        .await
        .unwrap();
    let original = client
        .execute(
            "return document.querySelector('input[name=media_id]:checked').value;",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text_of(client, "#upload-status").await.contains("fps"),
        "the refusal names the frame rate"
    );

    client
        .find(Locator::Css(&format!("[data-fix='{original}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status = format!("[data-fix-for='{original}'] .fix-status");
    client
        .wait()
        .at_most(Duration::from_secs(120))
        .for_element(Locator::XPath(&format!(
            "//div[@data-fix-for='{original}']/span[starts-with(., 'Fixed')]"
        )))
        .await
        .unwrap();
    let said = text_of(client, &status).await;
    assert!(said.contains("frame rate 15.00 fps → 30 fps"), "{said}");
    assert!(!said.contains("h264 → h264"), "only what changed: {said}");
    snap(client, "compose-fixed").await;
    client.set_window_size(375, 812).await.unwrap();
    client
        .execute(
            "document.querySelector('#library').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    snap(client, "compose-fixed-phone").await;
    client.set_window_size(1280, 900).await.unwrap();

    let fix = server
        .store
        .latest_fix_of(original.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fix.state, FixState::Fixed, "{:?}", fix.message);
    let fixed = fix.result_media_id.unwrap().to_string();
    let chosen = client
        .execute(
            "return document.querySelector('input[name=media_id]:checked').value;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(chosen.as_str().unwrap(), fixed, "the fixed copy is chosen");
    let originals = client
        .execute(
            "return document.querySelectorAll(`input[name=media_id][value='${arguments[0]}']`).length;",
            vec![serde_json::json!(original)],
        )
        .await
        .unwrap();
    assert_eq!(
        originals,
        serde_json::json!(1),
        "the original stays in the library"
    );
    let item = server
        .store
        .media(fixed.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(item.probe["verdict"], "rejected", "{}", item.probe);
    assert_same_origin(client, &server.base).await;
}
