//! Alerts in real headless Chromium: the owner adds the workspace's Slack channel (and a Discord
//! one whose receiver fails) and chooses the email alerts that concern an owner; an editor's
//! post then waits for approval, and the delivery loop sends it: the Slack message and the
//! owner's email (through a real SMTP server) say who must act and link to the post's page,
//! where the owner can decide. The Alerts page shows what was sent and which channel fails.
//! An editor sees only their own choices. Photographed at desktop width and at 375 px.

use std::sync::Arc;

use fantoccini::{Client, Locator};
use serde_json::Value;
use tokpost_core::Role;
use tokpost_pipeline::webhooks::address::AddressPolicy;
use tokpost_testkit::receiver::Receiver;
use tokpost_testkit::smtp::SmtpServer;

use crate::approval_browser::editors_post;
use crate::support::browser::{
    browser, click, connect, sign_in, sign_in_as, sign_out, snap, text_of, wait_until,
};
use crate::support::{self, Server};

async fn snap_both(client: &Client, name: &str) {
    snap(client, name).await;
    client.set_window_size(375, 812).await.unwrap();
    snap(client, &format!("{name}-375")).await;
    client.set_window_size(1280, 900).await.unwrap();
}

async fn fill(client: &Client, id: &str, text: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn tick(client: &Client, id: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Clicks `css` (a form's button) and waits for the page the form answers with: the old page
/// may have the same elements (an earlier outcome), so it waits for a new document.
async fn submit(client: &Client, css: &str) {
    client
        .execute("window.tokpostOldPage = true;", vec![])
        .await
        .unwrap();
    click(client, css).await;
    wait_until(
        client,
        "return window.tokpostOldPage !== true && document.readyState === 'complete';",
        "the form's answer",
    )
    .await;
}

async fn add_channel(client: &Client, kind: &str, url: &str) {
    client
        .find(Locator::Id("channel-format"))
        .await
        .unwrap()
        .select_by_value(kind)
        .await
        .unwrap();
    fill(client, "channel-url", url).await;
    submit(client, "#add-channel-button").await;
}

fn loopback() -> AddressPolicy {
    AddressPolicy::allowing(vec!["127.0.0.0/8".parse().unwrap()])
}

fn sender(server: &Server, smtp: &SmtpServer) -> tokpost_pipeline::webhooks::Deliverer {
    let mailer = tokpost_pipeline::mail::Mailer::new(&tokpost_pipeline::mail::MailSettings {
        smtp_url: secrecy::SecretString::from(smtp.url()),
        from: "tokpost <tokpost@example.com>".to_owned(),
    })
    .unwrap();
    tokpost_pipeline::webhooks::Deliverer::new(
        tokpost_store::WorkerId::new("alerts"),
        Arc::clone(&server.store),
        server.clock.shared(),
        tokpost_pipeline::webhooks::DeliverySettings::default(),
        loopback(),
        tokpost_pipeline::webhooks::MessageSettings {
            public_base_url: url::Url::parse(&server.base).unwrap(),
            mailer: Some(mailer),
            digest: tokpost_pipeline::webhooks::digest::DigestSettings::default(),
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_the_owner_in_slack_and_by_email_with_a_link_to_act() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let smtp = SmtpServer::start().await;
    let slack = Receiver::start(&[]).await;
    let discord = Receiver::start(&[500]).await;
    let mail = tokpost_pipeline::mail::Mailer::new(&tokpost_pipeline::mail::MailSettings {
        smtp_url: secrecy::SecretString::from(smtp.url()),
        from: "tokpost <tokpost@example.com>".to_owned(),
    })
    .unwrap();
    let server = support::start_with(move |settings| {
        settings.mailer = Some(mail);
        settings.webhook_addresses = loopback();
    })
    .await;
    let editor = support::add_person(
        server.store.as_ref(),
        server.workspace,
        "eddie@example.com",
        "Eddie Editor",
        Role::Editor,
        clock::Clock::now(server.clock.as_ref()),
    )
    .await;

    sign_in(client, &server).await;
    connect(client, &server, "Ada (public)").await;
    let account = server.store.accounts(server.workspace).await.unwrap()[0].id;
    client.goto(&server.url("/team")).await.unwrap();
    click(client, "#approval-required").await;
    submit(client, "#save-approval").await;

    // The owner adds the team's Slack channel, and a Discord one.
    client.goto(&server.url("/alerts")).await.unwrap();
    assert!(
        text_of(client, "#no-channels")
            .await
            .contains("No channels yet")
    );
    add_channel(client, "slack", &slack.at("/services/T0/B0/secret-token")).await;
    let outcome = text_of(client, "#alerts-outcome").await;
    assert!(outcome.contains("Slack channel added"), "{outcome}");
    add_channel(client, "discord", &discord.at("/api/webhooks/1/secret")).await;
    let channels = text_of(client, "#channels").await;
    assert!(
        channels.contains("Slack") && channels.contains("Discord"),
        "{channels}"
    );
    assert!(
        !channels.contains("secret"),
        "a chat's webhook URL is its password: {channels}"
    );

    // And chooses the email alerts an owner can get.
    assert!(text_of(client, "#my-alerts-status").await.contains("Off"));
    tick(client, "mine-post.awaiting_approval").await;
    tick(client, "mine-account.needs_reconnect").await;
    submit(client, "#save-my-alerts").await;
    let outcome = text_of(client, "#alerts-outcome").await;
    assert!(
        outcome.contains("2 kinds of event are emailed to owner@example.com"),
        "{outcome}"
    );
    assert!(text_of(client, "#my-alerts-status").await.contains("On"));
    sign_out(client).await;

    // An editor's post waits for approval; the delivery loop runs.
    let post = editors_post(&server, &editor, &account.to_string()).await;
    let sender = sender(&server, &smtp);
    assert_eq!(
        sender.run_once().await.unwrap(),
        3,
        "Slack, Discord, the owner's email"
    );
    let said: Value = serde_json::from_slice(&slack.requests()[0].2).unwrap();
    let text = said["text"].as_str().unwrap();
    let link = format!("{}posts/{post}", server.base);
    assert!(text.contains("Awaiting approval"), "{text}");
    assert!(
        text.contains("A reviewer or an owner: approve or reject it."),
        "{text}"
    );
    assert!(
        text.contains(&format!("<{link}|Review the post>")),
        "{text}"
    );
    let email = &smtp.wait_for(1).await[0];
    assert_eq!(email.to, "owner@example.com");
    assert!(email.body.contains(&link), "{email:?}");

    // The email's link leads to where the owner decides.
    sign_in(client, &server).await;
    client.goto(&link).await.unwrap();
    client
        .wait()
        .for_element(Locator::Id("decision"))
        .await
        .unwrap();
    client.goto(&server.url("/alerts")).await.unwrap();
    let recent = text_of(client, "#my-recent").await;
    assert!(recent.contains("post.awaiting_approval"), "{recent}");
    assert!(recent.contains("delivered"), "{recent}");
    let channels = text_of(client, "#channels").await;
    assert!(
        channels.contains("1 failed in a row; last: HTTP 500"),
        "the failing channel says so: {channels}"
    );
    snap_both(client, "alerts").await;
    client
        .execute(
            "document.getElementById('channels').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    snap_both(client, "alerts-channels").await;
    client.set_window_size(375, 812).await.unwrap();
    let overflow = client
        .execute(
            "let wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).map(e => e.tagName + '#' + e.id + '.' + e.className); return [document.documentElement.scrollWidth - document.documentElement.clientWidth, wide.slice(0, 5)];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow[0].as_i64().unwrap() <= 0,
        "/alerts scrolls sideways on a phone: {overflow}"
    );
    client.set_window_size(1280, 900).await.unwrap();
    sign_out(client).await;

    // An editor chooses among what concerns an editor; channels are an owner's.
    sign_in_as(client, &server, &editor, "Eddie Editor (editor)").await;
    client.goto(&server.url("/alerts")).await.unwrap();
    assert!(client.find(Locator::Id("mine-post.rejected")).await.is_ok());
    assert!(
        client
            .find(Locator::Id("mine-post.awaiting_approval"))
            .await
            .is_err(),
        "an editor approves nothing"
    );
    assert!(
        text_of(client, "#channels-owner-only")
            .await
            .contains("An owner sets up")
    );
    snap(client, "alerts-as-editor").await;
}
