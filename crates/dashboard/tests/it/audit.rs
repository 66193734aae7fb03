//! The audit rehearsal page (`/audit`) against a real server whose TikTok is the built-in
//! sandbox: over plain HTTP, each check's colour for the test server's configuration (an http
//! base URL, no pulls, the sandbox's audited app) and the private-test-account line turning from
//! red through amber (a public creator) to green (a private one); the accounts page naming the
//! sandbox's app; and in headless Chromium, the page photographed on a desktop and a phone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr
)]

use crate::support;

use fantoccini::Locator;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use support::browser::{assert_same_origin, browser, consent_as, sign_in, snap, text_of};
use support::http::{connect, http, session};

async fn page(server: &support::Server, cookie: &str, path: &str) -> String {
    let response = http()
        .get(server.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    // Askama escapes quotes; the assertions read the text as a person does.
    response
        .text()
        .await
        .unwrap()
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

/// The colour and text of the checklist line `id`.
fn check(html: &str, id: &str) -> (String, String) {
    let marker = format!("\" data-check=\"{id}\">");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no check {id} in {html}"));
    let level = html[..at].rsplit("<li class=\"").next().unwrap().to_owned();
    let rest = &html[at + marker.len()..];
    let text = rest[..rest.find("</li>").unwrap()].to_owned();
    (level, text)
}

fn assert_check(html: &str, id: &str, level: &str, says: &[&str]) {
    let (seen, text) = check(html, id);
    assert_eq!(seen, level, "{id}: {text}");
    let word = match level {
        "green" => "OK",
        "amber" => "Attention",
        _ => "Blocked",
    };
    assert!(
        text.contains(&format!("<span class=\"level-word\">{word}</span>")),
        "{id} says its state in words, not only in colour: {text}"
    );
    for words in says {
        assert!(text.contains(words), "{id} should say {words:?}: {text}");
    }
}

#[tokio::test]
async fn the_audit_page_checks_what_it_can_and_turns_green_once_a_private_account_is_connected() {
    let server = support::start().await;
    let session = session(&server).await;
    let html = page(&server, &session.cookie, "/audit").await;

    let callback = format!("{}v1/oauth/tiktok/callback", server.base);
    assert_check(&html, "tiktok_app", "amber", &["built-in sandbox"]);
    assert_check(
        &html,
        "public_base_url",
        "amber",
        &[&server.base, "is not https", "not for the audit"],
    );
    assert_check(&html, "redirect_uri", "amber", &[&callback, "not an https"]);
    assert_check(
        &html,
        "verified_url_prefixes",
        "amber",
        // The test server pulls uploads over loopback, as `serve --sandbox` does.
        &[
            "only this machine reaches",
            "fine for a rehearsal",
            "not for the audit",
        ],
    );
    assert_check(
        &html,
        "audit",
        "green",
        &["the built-in sandbox's app is audited"],
    );
    assert_check(
        &html,
        "private_account",
        "red",
        &["no connected account", "Accounts page"],
    );
    assert!(
        html.contains("id=\"sandbox-notice\""),
        "the page says it runs on the built-in sandbox"
    );

    // What it cannot check, said plainly, each with what to do.
    for item in ["policies", "website", "name", "scopes", "purpose", "review"] {
        let marker = format!("data-manual=\"{item}\"");
        let at = html.find(&marker).unwrap_or_else(|| panic!("no {item}"));
        let line = &html[at..at + html[at..].find("</li>").unwrap()];
        assert!(
            line.contains("tokpost cannot check this: "),
            "{item}: {line}"
        );
    }

    // The demo in the guideline's order, every step in the composer.
    let steps = [
        "id=\"step-start\"",
        "id=\"step-1\"",
        "id=\"step-2a\"",
        "id=\"step-2b\"",
        "id=\"step-2c\"",
        "id=\"step-3a\"",
        "id=\"step-3b-only-me-first\"",
        "id=\"step-3b-branded-first\"",
        "id=\"step-4\"",
        "id=\"step-5a\"",
        "id=\"step-5c\"",
        "id=\"step-5e\"",
    ];
    let mut last = 0;
    for (n, step) in steps.iter().enumerate() {
        let at = html.find(step).unwrap_or_else(|| panic!("no {step}"));
        assert!(at > last, "{step} comes after the step before it");
        last = at;
        let end = steps
            .get(n + 1)
            .map_or(html.len(), |next| html.find(next).unwrap());
        let body = &html[at..end];
        assert!(
            body.contains("<strong>Do:</strong>")
                && body.contains("<strong>The reviewer sees:</strong>"),
            "{step} says what to click and what the reviewer sees"
        );
        if *step != "id=\"step-start\"" && *step != "id=\"step-5e\"" {
            assert!(
                body.contains("href=\"/compose\""),
                "{step} opens the composer"
            );
        }
    }
    for words in [
        "Posting to {nickname} (@{username})",
        "Allow Comment",
        "You need to indicate if your content promotes yourself, a third party, or both.",
        "Your photo/video will be labeled as 'Promotional content'",
        "Your photo/video will be labeled as 'Paid partnership'",
        "Branded content visibility cannot be set to private.",
        "By posting, you agree to TikTok's Branded Content Policy and Music Usage Confirmation.",
        "may take a few minutes",
    ] {
        assert!(html.contains(words), "the demo script says {words:?}");
    }

    // A public creator is no test account for an app before its audit...
    let ada = connect(&server, &session, "ada.public").await;
    let html = page(&server, &session.cookie, "/audit").await;
    assert_check(
        &html,
        "private_account",
        "amber",
        &["public: Ada (public) (@ada.public)"],
    );
    assert!(!html.contains(&format!("/compose?account={ada}")));

    // ...a private one is, and the demo steps open the composer for it.
    let bo = connect(&server, &session, "bo.private").await;
    let html = page(&server, &session.cookie, "/audit").await;
    assert_check(
        &html,
        "private_account",
        "green",
        &["Bo (private) (@bo.private)", "lack PUBLIC_TO_EVERYONE"],
    );
    assert!(html.contains(&format!("href=\"/compose?account={bo}\"")));
    assert!(html.contains("id=\"demo-account\">Bo (private) (@bo.private)<"));
}

#[tokio::test]
async fn the_accounts_page_says_the_audited_app_is_the_built_in_sandboxs() {
    let server = support::start().await;
    let session = session(&server).await;
    connect(&server, &session, "bo.private").await;
    let html = page(&server, &session.cookie, "/accounts").await;
    assert!(
        html.contains(
            "<strong>Audit</strong> <span class=\"sr\">OK:</span> the built-in sandbox's app is audited"
        ),
        "{html}"
    );
    assert!(!html.contains("not audited"), "{html}");
}

#[tokio::test]
async fn the_audit_page_sends_strangers_to_sign_in() {
    let server = support::start().await;
    let response = http().get(server.url("/audit")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_in_a_browser_before_and_after_a_private_account_on_desktop_and_phone() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let server = support::start().await;
    let base = server.base.clone();

    sign_in(client, &server).await;

    // From the navigation, keyboard-reachable like every link.
    client
        .find(Locator::XPath("//nav//a[.='Audit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::XPath("//h1[.='TikTok audit rehearsal']"))
        .await
        .unwrap();
    assert_same_origin(client, &base).await;
    let line = text_of(client, "[data-check='private_account']").await;
    assert!(line.contains("Blocked"), "{line}");
    snap(client, "audit").await;

    client.goto(&server.url("/accounts")).await.unwrap();
    client
        .find(Locator::Id("connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    consent_as(client, "Bo (private)").await;
    client.goto(&server.url("/audit")).await.unwrap();
    let line = text_of(client, "[data-check='private_account']").await;
    assert!(
        line.contains("OK") && line.contains("Bo (private)"),
        "{line}"
    );
    snap(client, "audit-private-account").await;
    for (section, name) in [
        ("cannot-check", "audit-cannot-check"),
        ("demo", "audit-demo"),
        ("step-3b-only-me-first", "audit-demo-point-3"),
        ("step-5a", "audit-demo-point-5"),
    ] {
        client
            .execute(
                "document.getElementById(arguments[0]).scrollIntoView();",
                vec![serde_json::json!(section)],
            )
            .await
            .unwrap();
        snap(client, name).await;
    }

    // Readable on a phone: nothing wider than the screen.
    client.set_window_size(375, 812).await.unwrap();
    client.goto(&server.url("/audit")).await.unwrap();
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "/audit scrolls sideways on a phone by {overflow}px"
    );
    snap(client, "audit-phone").await;

    client.clone().close().await.unwrap();
}
