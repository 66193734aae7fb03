//! People in real headless Chromium: the owner signs in with a password, invites an editor
//! from the Team page, signs out; the editor opens the link, chooses a name and a password and
//! lands signed in with the editor's view; then signs out and in again with the password. Every
//! page is photographed, at desktop width and at 375 px for the Team page and the invitation.

use crate::support;

use fantoccini::{Client, Locator};
use support::browser::{assert_same_origin, browser, click, sign_in, sign_out, snap, text_of};

async fn fill(client: &Client, id: &str, text: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_invites_an_editor_who_joins_with_the_link_and_signs_in_with_a_password() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let server = support::start().await;

    sign_in(client, &server).await;
    assert!(
        text_of(client, "#who-am-i")
            .await
            .contains("Olga Owner (owner)")
    );
    client.goto(&server.url("/team")).await.unwrap();
    assert_same_origin(client, &server.base).await;
    fill(client, "invite-email", "eddie@example.com").await;
    click(client, "#invite").await;
    client
        .wait()
        .for_element(Locator::Id("team-link"))
        .await
        .unwrap();
    let outcome = text_of(client, "#team-outcome").await;
    assert!(
        outcome.contains("Invited eddie@example.com as editor"),
        "{outcome}"
    );
    let link = client
        .find(Locator::Id("team-link"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(link.contains("/invite/tpi_"), "{link}");
    assert!(text_of(client, "#invitations").await.contains("open"));
    snap(client, "team").await;
    client.set_window_size(375, 812).await.unwrap();
    snap(client, "team-375").await;
    client.set_window_size(1280, 900).await.unwrap();
    sign_out(client).await;

    // The invited person opens the link, signed out.
    client.goto(&link).await.unwrap();
    assert_same_origin(client, &server.base).await;
    let heading = text_of(client, "h1").await;
    assert_eq!(heading, "Join default");
    snap(client, "invite").await;
    client.set_window_size(375, 812).await.unwrap();
    snap(client, "invite-375").await;
    client.set_window_size(1280, 900).await.unwrap();
    fill(client, "name", "Eddie Editor").await;
    fill(client, "password", "eddie's long passphrase").await;
    click(client, "#accept-invitation").await;
    client
        .wait()
        .for_element(Locator::XPath("//h1[.='Overview']"))
        .await
        .unwrap();
    assert!(
        text_of(client, "#who-am-i")
            .await
            .contains("Eddie Editor (editor)")
    );
    client.goto(&server.url("/team")).await.unwrap();
    let members = text_of(client, "#members").await;
    assert!(
        members.contains("eddie@example.com") && members.contains("owner@example.com"),
        "{members}"
    );
    assert!(
        client.find(Locator::Id("invite-form")).await.is_err(),
        "an editor does not manage the team"
    );
    snap(client, "team-as-editor").await;
    sign_out(client).await;

    // And signs in with the password they chose.
    fill(client, "email", "eddie@example.com").await;
    fill(client, "password", "eddie's long passphrase").await;
    click(client, "#sign-in").await;
    client
        .wait()
        .for_element(Locator::XPath("//h1[.='Overview']"))
        .await
        .unwrap();
    assert!(
        text_of(client, "#who-am-i")
            .await
            .contains("Eddie Editor (editor)")
    );

    // The used link says so.
    sign_out(client).await;
    client.goto(&link).await.unwrap();
    assert!(
        text_of(client, "#invite-closed")
            .await
            .contains("unknown, used, revoked or expired")
    );
    snap(client, "invite-used").await;
}
