//! The dashboard over real HTTP (no browser): sign-in, sessions, CSRF, and the rule that no page
//! references another origin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::support;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use rstest::rstest;
use support::http::{connect, cookie_value, http, session, sign_in, sign_in_with};

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_whose_secret_the_database_holds_only_hashed() {
    let server = support::start().await;
    let response = sign_in(&server, &server.owner).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("tokpost_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(
        !session.contains(&server.owner.password) && !session.contains(&server.api_key),
        "neither the password nor a key is ever in a cookie"
    );
    let secret = cookie_value(&response, "tokpost_session").unwrap();
    let now = clock::Clock::now(server.clock.as_ref());
    assert!(
        server.store.session(&secret, now).await.unwrap().is_none(),
        "the secret itself is no key to the session"
    );
    let hash = tokpost_api::people::SessionSecret::parse(&secret)
        .unwrap()
        .hash();
    let opened = server.store.session(&hash, now).await.unwrap().unwrap();
    assert_eq!(opened.user.email, server.owner.email);
    assert_eq!(opened.time_zone, "Europe/Berlin");
}

#[rstest]
#[case::wrong_password("owner@example.com", "not the right passphrase")]
#[case::unknown_email("nobody@example.com", "a long enough test passphrase")]
#[tokio::test]
async fn a_wrong_password_or_an_unknown_email_is_refused_alike_and_no_session_opens(
    #[case] email: &str,
    #[case] password: &str,
) {
    let server = support::start().await;
    let response = sign_in_with(&server, email, password).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_value(&response, "tokpost_session").is_none());
    let page = response.text().await.unwrap();
    assert!(
        page.contains("the email or the password is wrong"),
        "{page}"
    );
    assert!(page.contains(email), "the email stays in the form");
}

#[tokio::test]
async fn five_failures_lock_an_email_for_fifteen_minutes_even_with_the_right_password() {
    let server = support::start().await;
    for _ in 0..5 {
        let response = sign_in_with(&server, &server.owner.email, "not the right passphrase").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = sign_in(&server, &server.owner).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let page = locked.text().await.unwrap();
    assert!(page.contains("5 failed sign-ins"), "{page}");
    assert!(page.contains("try again in 15 minute"), "{page}");
    server.clock.advance(Duration::from_secs(15 * 60 + 1));
    let open = sign_in(&server, &server.owner).await;
    assert_eq!(open.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_sign_in_without_the_forms_token_is_forbidden() {
    let server = support::start().await;
    let response = http()
        .post(server.url("/sign-in"))
        .form(&[
            ("csrf", "guess"),
            ("email", server.owner.email.as_str()),
            ("password", server.owner.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[rstest]
#[case::accounts("/accounts")]
#[case::compose("/compose")]
#[case::posts("/posts")]
#[case::home("/")]
#[tokio::test]
async fn pages_send_strangers_to_sign_in(#[case] path: &str) {
    let server = support::start().await;
    let response = http().get(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/sign-in");
}

#[rstest]
#[case::missing(None)]
#[case::wrong(Some("0000"))]
#[tokio::test]
async fn a_state_changing_form_without_the_sessions_token_is_forbidden(
    #[case] token: Option<&str>,
) {
    let server = support::start().await;
    let session = session(&server).await;
    for path in ["/accounts/connect", "/sign-out", "/compose"] {
        let mut form = vec![("intent", "schedule")];
        if let Some(token) = token {
            form.push(("csrf", token));
        }
        let response = http()
            .post(server.url(path))
            .header(COOKIE, &session.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let upload = http()
        .post(server.url("/compose/media"))
        .header(COOKIE, &session.cookie)
        .header("x-csrf-token", token.unwrap_or(""))
        .body(vec![0u8; 16])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let server = support::start().await;
    let session = session(&server).await;
    let out = http()
        .post(server.url("/sign-out"))
        .header(COOKIE, &session.cookie)
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = http()
        .get(server.url("/accounts"))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.headers()[LOCATION], "/sign-in");
}

#[tokio::test]
async fn connect_sends_the_browser_to_tiktoks_consent_page() {
    let server = support::start().await;
    let session = session(&server).await;
    let response = http()
        .post(server.url("/accounts/connect"))
        .header(COOKIE, &session.cookie)
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap();
    assert!(
        location.starts_with(server.sandbox.authorize_base_url().as_str()),
        "{location}"
    );
    assert!(location.contains("state="));
}

/// Every `src`, `href` and `action` value of a page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\"", "action=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            found.push(rest.split('"').next().unwrap().to_owned());
        }
    }
    found
}

#[tokio::test]
async fn every_page_references_only_its_own_origin() {
    let server = support::start().await;
    let session = session(&server).await;
    for path in [
        "/sign-in",
        "/",
        "/accounts",
        "/compose",
        "/posts",
        "/errors",
        "/errors?q=token",
    ] {
        let html = http()
            .get(server.url(path))
            .header(COOKIE, &session.cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let refs = references(&html);
        assert!(
            !refs.is_empty(),
            "{path} references its stylesheet at least"
        );
        for reference in refs {
            assert!(
                reference.starts_with('/') && !reference.starts_with("//")
                    || reference.starts_with('#')
                    || reference.starts_with('?'),
                "{path} references {reference}"
            );
        }
    }
}

#[rstest]
#[case("style.css", "text/css")]
#[case("app.js", "text/javascript")]
#[case("icon.svg", "image/svg+xml")]
#[tokio::test]
async fn assets_are_served_from_the_binary(#[case] name: &str, #[case] kind: &str) {
    let server = support::start().await;
    let response = http()
        .get(server.url(&format!("/assets/{name}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind)
    );
    assert!(!response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_error_reference_filters_without_javascript() {
    let server = support::start().await;
    let all = http()
        .get(server.url("/errors"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let some = http()
        .get(server.url("/errors?q=video_too_long"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |html: &str| html.matches("<article class=\"entry").count();
    assert_eq!(count(&all), tiktok::catalog::CATALOG.len());
    assert!(count(&some) >= 1 && count(&some) < count(&all));
    assert!(some.contains("video_too_long"));
}

/// Connects a sandbox creator the way a browser does, without one: the dashboard's connect
/// form, the consent page answered for `creator`, the callback.
async fn upload_fixture(server: &support::Server) -> String {
    let bytes = std::fs::read(support::fixture("ok_720x1280_30fps_4s.mp4")).unwrap();
    let media: serde_json::Value = http()
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

#[tokio::test]
async fn compose_offers_exactly_the_creators_privacy_options_and_disables_what_they_turned_off() {
    let server = support::start().await;
    let session = session(&server).await;
    let account = connect(&server, &session, "di.limited").await;
    let info: serde_json::Value = http()
        .get(server.url(&format!("/v1/accounts/{account}/creator-info")))
        .bearer_auth(&server.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["comment_disabled"], true,
        "the fixture creator turned comments off"
    );
    let html = http()
        .get(server.url("/compose"))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let menu = &html[html.find("id=\"privacy-options\"").unwrap()..];
    let menu = &menu[..menu.find("</div>").unwrap()];
    let offered: Vec<&str> = menu
        .split("name=\"privacy_level\" value=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    let expected: Vec<&str> = info["privacy_level_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(offered, expected);
    assert!(!menu.contains(" checked"), "no default privacy: {menu}");
    assert!(
        html.contains("name=\"allow_comment\" id=\"allow_comment\" disabled"),
        "comments cannot be turned on"
    );
    assert!(!html.contains("id=\"allow_comment\" checked"));
}

#[tokio::test]
async fn compose_shows_the_preflight_verdict_before_anything_is_saved() {
    let server = support::start().await;
    let session = session(&server).await;
    let account = connect(&server, &session, "ada.public").await;
    let media = upload_fixture(&server).await;
    let form = |intent: &'static str, privacy: &'static str| {
        vec![
            ("csrf", session.csrf.clone()),
            ("account_id", account.clone()),
            ("media_id", media.clone()),
            ("caption", "hello".to_owned()),
            ("privacy_level", privacy.to_owned()),
            ("mode", "direct".to_owned()),
            ("time_zone", "Europe/Berlin".to_owned()),
            ("draft_key", "one-compose-page".to_owned()),
            ("intent", intent.to_owned()),
        ]
    };
    let checked = http()
        .post(server.url("/compose"))
        .header(COOKIE, &session.cookie)
        .form(&form("check", "PUBLIC_TO_EVERYONE"))
        .send()
        .await
        .unwrap();
    assert_eq!(checked.status(), StatusCode::OK);
    assert!(checked.text().await.unwrap().contains("Preflight passed"));
    let refused = http()
        .post(server.url("/compose"))
        .header(COOKIE, &session.cookie)
        .form(&form("publish", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("id=\"compose-error\"")
    );
    assert!(
        server
            .store
            .posts(server.workspace, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing saved"
    );
    // Publishing twice from the same compose page (a double click) makes one post.
    for _ in 0..2 {
        let scheduled = http()
            .post(server.url("/compose"))
            .header(COOKIE, &session.cookie)
            .form(&form("publish", "PUBLIC_TO_EVERYONE"))
            .send()
            .await
            .unwrap();
        assert_eq!(scheduled.status(), StatusCode::SEE_OTHER);
        let to = scheduled.headers()[LOCATION].to_str().unwrap();
        assert!(to.starts_with("/posts/") && to.ends_with("?sent=1"), "{to}");
    }
    assert_eq!(
        server
            .store
            .posts(server.workspace, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_scheduled_post_is_cancelled_from_its_page() {
    let server = support::start().await;
    let session = session(&server).await;
    let account = connect(&server, &session, "ada.public").await;
    let media = upload_fixture(&server).await;
    let tomorrow = clock::add(
        clock::Clock::now(server.clock.as_ref()),
        std::time::Duration::from_secs(86_400),
    );
    let created: serde_json::Value = http()
        .post(server.url("/v1/posts"))
        .bearer_auth(&server.api_key)
        .json(&serde_json::json!({
            "account_id": account,
            "video": {"media_id": media, "caption": "later"},
            "privacy_level": "SELF_ONLY",
            "scheduled_at": tomorrow.to_string(),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let page = http()
        .get(server.url(&format!("/posts/{id}")))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"cancel\""));
    let cancelled = http()
        .post(server.url(&format!("/posts/{id}/cancel")))
        .header(COOKIE, &session.cookie)
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    let post = server
        .store
        .post(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post.state, tokpost_core::PostState::Cancelled);
}

#[tokio::test]
async fn every_page_forbids_inline_script_and_other_origins_and_no_template_needs_them() {
    let server = support::start().await;
    for path in ["/sign-in", "/errors", "/assets/compose.js"] {
        let response = http().get(server.url(path)).send().await.unwrap();
        let policy = response
            .headers()
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path} has no Content-Security-Policy"))
            .to_str()
            .unwrap()
            .to_owned();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    // What the policy forbids must not be in the templates either: it would silently not work.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let html = std::fs::read_to_string(&path).unwrap().to_lowercase();
        let name = path.display();
        assert!(!html.contains(" style=\""), "{name} has a style attribute");
        assert!(!html.contains("<style"), "{name} has a style element");
        for (at, _) in html.match_indices("<script") {
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            assert!(
                tag.contains(" src=\"/assets/"),
                "{name} has an inline script: {tag}"
            );
        }
        for handler in [
            " onclick=",
            " onchange=",
            " oninput=",
            " onload=",
            " onsubmit=",
        ] {
            assert!(
                !html.contains(handler),
                "{name} has an inline {handler} handler"
            );
        }
    }
}

#[test]
fn the_stylesheet_closes_every_block_it_opens() {
    // An unclosed `@media {` silently moves every later rule into it (a merge once did that).
    let css = include_str!("../../assets/style.css");
    let mut depth = 0_i32;
    for (number, line) in css.lines().enumerate() {
        for c in line.chars() {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
        }
        assert!(
            (0..=2).contains(&depth),
            "style.css line {}: depth {depth}",
            number + 1
        );
        if line.starts_with("/*") {
            assert_eq!(
                depth,
                0,
                "style.css line {}: a section starts inside a block",
                number + 1
            );
        }
    }
    assert_eq!(depth, 0, "style.css leaves a block open");
}

#[rstest]
#[case::disabled("disabled")]
#[case::role_changed("role changed")]
#[case::password_reset("password reset")]
#[case::signed_out("signed out")]
#[tokio::test]
async fn a_session_ends_when_its_user_is_disabled_their_role_changes_or_they_sign_out(
    #[case] what: &str,
) {
    let server = support::start().await;
    let editor = support::add_person(
        server.store.as_ref(),
        server.workspace,
        "eddie@example.com",
        "Eddie Editor",
        tokpost_core::Role::Editor,
        clock::Clock::now(server.clock.as_ref()),
    )
    .await;
    let session = support::http::session_of(&server, &editor).await;
    let user = server
        .store
        .user_by_email(&editor.email)
        .await
        .unwrap()
        .unwrap();
    let now = clock::Clock::now(server.clock.as_ref());
    match what {
        "disabled" => assert_eq!(
            server.store.set_disabled(user.id, true, now).await.unwrap(),
            tokpost_store::MembershipChange::Changed
        ),
        "role changed" => assert_eq!(
            server
                .store
                .set_role(user.id, server.workspace, tokpost_core::Role::Reviewer)
                .await
                .unwrap(),
            tokpost_store::MembershipChange::Changed
        ),
        "password reset" => {
            let hash = tokpost_api::people::passwords::hash(secrecy::SecretString::from(
                "another long passphrase".to_owned(),
            ))
            .await
            .unwrap();
            assert!(server.store.set_password(user.id, hash).await.unwrap());
        }
        _ => {
            let out = http()
                .post(server.url("/sign-out"))
                .header(COOKIE, &session.cookie)
                .form(&[("csrf", session.csrf.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(out.status(), StatusCode::SEE_OTHER);
        }
    }
    let page = http()
        .get(server.url("/accounts"))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "{what}");
    assert_eq!(page.headers()[LOCATION], "/sign-in");
}

#[tokio::test]
async fn the_accounts_page_shows_fifty_cards_a_page_with_their_health() {
    let server = support::start().await;
    let session = session(&server).await;
    let now = clock::Clock::now(server.clock.as_ref());
    let mut first = None;
    for n in 0..55 {
        let account = server
            .store
            .connect_account(
                tokpost_store::NewAccount {
                    workspace_id: server.workspace,
                    open_id: tokpost_core::OpenId::new(format!("creator-{n:02}")).unwrap(),
                    display_name: format!("Creator {n:02}"),
                    avatar_url: None,
                    scopes: tokpost_core::Scope::parse_list(
                        "user.info.basic,video.publish,video.upload",
                    )
                    .unwrap(),
                    tokens: tokpost_store::AccountTokens {
                        access_token: secrecy::SecretString::from("act.x"),
                        refresh_token: secrecy::SecretString::from("rft.x"),
                        access_token_expires_at: clock::add(now, Duration::from_secs(86_400)),
                        refresh_token_expires_at: clock::add(
                            now,
                            Duration::from_secs(300 * 86_400),
                        ),
                        granted_at: now,
                    },
                },
                clock::add(now, Duration::from_millis(n)),
            )
            .await
            .unwrap();
        first.get_or_insert(account.id);
    }
    tokpost_testkit::posts::initialized(
        server.store.as_ref(),
        server.workspace,
        first.unwrap(),
        tokpost_core::PostMode::Direct,
        now,
    )
    .await;
    let page = |path: String| {
        let cookie = session.cookie.clone();
        let url = server.url(&path);
        async move {
            let answer = http().get(url).header(COOKIE, cookie).send().await.unwrap();
            (answer.status(), answer.text().await.unwrap())
        }
    };

    let (status, html) = page("/accounts".to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("data-account=").count(), 50);
    assert!(html.contains("Creator 00") && html.contains("Creator 49"));
    assert!(!html.contains("Creator 50"));
    assert!(html.contains("Posts in the last 24 h</strong>"), "{html}");
    assert!(
        html.contains("1 of "),
        "the first creator's post today is counted"
    );
    assert!(!html.contains("First accounts"));
    let next = html
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.starts_with("/accounts?cursor="))
        .expect("a link to the next page")
        .replace("&amp;", "&");

    let (status, html) = page(next).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("data-account=").count(), 5);
    assert!(html.contains("Creator 50") && html.contains("Creator 54"));
    assert!(html.contains("First accounts"));
    assert!(
        !html.contains("rel=\"next\""),
        "the last page links no further"
    );

    let (status, html) = page("/accounts?cursor=not-a-cursor".to_owned()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("start again from the first page"), "{html}");
}
