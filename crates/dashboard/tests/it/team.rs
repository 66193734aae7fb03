//! People over plain HTTP: an owner invites, the invited person joins with the link and is
//! signed in with the invited role; a link works once; a revoked invitation and an expired one
//! are refused; a reset link sets a password once; the pages follow the role.

use crate::support;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use support::http::{Session, cookie_value, csrf_in, http, session, session_of, sign_in_with};

/// The value of the link field the Team page shows once.
fn link_in(html: &str) -> String {
    let start = html.find("id=\"team-link\"").expect("a link on the page");
    let value = html[..start].rfind("value=\"").expect("the link's value") + 7;
    html[value..].split('"').next().unwrap().to_owned()
}

/// The path of a link the dashboard made (its origin is the server's).
fn path_of<'a>(server: &support::Server, link: &'a str) -> &'a str {
    link.strip_prefix(server.base.trim_end_matches('/'))
        .unwrap()
}

async fn post_form(
    server: &support::Server,
    session: &Session,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields = vec![("csrf", session.csrf.as_str())];
    fields.extend_from_slice(form);
    http()
        .post(server.url(path))
        .header(COOKIE, &session.cookie)
        .form(&fields)
        .send()
        .await
        .unwrap()
}

async fn get(server: &support::Server, session: &Session, path: &str) -> reqwest::Response {
    http()
        .get(server.url(path))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .unwrap()
}

/// Opens `link` signed out and submits its form with `fields`; the answer.
async fn follow_link(
    server: &support::Server,
    link: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    support::http::submit_signed_out(server, path_of(server, link), fields).await
}

#[tokio::test]
async fn an_invited_editor_joins_with_the_link_once_and_sees_what_an_editor_sees() {
    let server = support::start().await;
    let owner = session(&server).await;
    let invited = post_form(
        &server,
        &owner,
        "/team/invite",
        &[("email", " Eddie@Example.com "), ("role", "editor")],
    )
    .await;
    assert_eq!(invited.status(), StatusCode::OK);
    let page = invited.text().await.unwrap();
    assert!(
        page.contains("Invited eddie@example.com as editor"),
        "{page}"
    );
    let link = link_in(&page);
    assert!(
        link.starts_with(&format!("{}invite/tpi_", server.base)),
        "{link}"
    );

    let preview = http()
        .get(server.url(path_of(&server, &link)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        preview.contains("You are invited as <strong>editor</strong>"),
        "{preview}"
    );
    assert!(preview.contains("eddie@example.com"));

    let short = follow_link(&server, &link, &[("name", "Eddie"), ("password", "short")]).await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.text().await.unwrap().contains("it needs at least 12"));

    let joined = follow_link(
        &server,
        &link,
        &[
            ("name", "Eddie Editor"),
            ("password", "eddie's long passphrase"),
        ],
    )
    .await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    assert_eq!(joined.headers()[LOCATION], "/");
    let cookie = format!(
        "tokpost_session={}",
        cookie_value(&joined, "tokpost_session").unwrap()
    );
    let home = http()
        .get(server.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let home = home.text().await.unwrap();
    assert!(home.contains("Eddie Editor (editor)"), "{home}");
    assert!(home.contains("href=\"/compose\""), "an editor composes");
    let editor = Session {
        cookie,
        csrf: csrf_in(&home),
    };

    // The link is used up.
    let again = http()
        .get(server.url(path_of(&server, &link)))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("unknown, used, revoked or expired")
    );

    // An editor sees the team but cannot change it.
    let team = get(&server, &editor, "/team").await.text().await.unwrap();
    assert!(team.contains("eddie@example.com") && team.contains("owner@example.com"));
    assert!(!team.contains("id=\"invite-form\""), "only owners invite");
    let refused = post_form(
        &server,
        &editor,
        "/team/invite",
        &[("email", "x@example.com"), ("role", "owner")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = refused.text().await.unwrap();
    assert!(
        refused.contains("your role (editor) may not manage people"),
        "{refused}"
    );

    // The owner makes them a reviewer: their session ends, and signing in again they may not
    // compose.
    let eddie = server
        .store
        .user_by_email("eddie@example.com")
        .await
        .unwrap()
        .unwrap();
    let changed = post_form(
        &server,
        &owner,
        &format!("/team/members/{}/role", eddie.id),
        &[("role", "reviewer")],
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(
        changed
            .text()
            .await
            .unwrap()
            .contains("Role changed to reviewer")
    );
    assert_eq!(
        get(&server, &editor, "/").await.status(),
        StatusCode::SEE_OTHER
    );
    let reviewer = session_of(
        &server,
        &support::Person {
            email: "eddie@example.com".to_owned(),
            password: "eddie's long passphrase".to_owned(),
        },
    )
    .await;
    let home = get(&server, &reviewer, "/").await.text().await.unwrap();
    assert!(home.contains("Eddie Editor (reviewer)"));
    assert!(
        !home.contains("href=\"/compose\""),
        "a reviewer never composes"
    );
    let compose = get(&server, &reviewer, "/compose").await;
    assert_eq!(compose.status(), StatusCode::FORBIDDEN);
    assert!(
        compose
            .text()
            .await
            .unwrap()
            .contains("your role (reviewer) may not compose")
    );
}

#[tokio::test]
async fn a_revoked_or_expired_invitation_is_refused_and_nobody_joins() {
    let server = support::start().await;
    let owner = session(&server).await;
    let first = link_in(
        &post_form(
            &server,
            &owner,
            "/team/invite",
            &[("email", "rita@example.com"), ("role", "reviewer")],
        )
        .await
        .text()
        .await
        .unwrap(),
    );
    let second = link_in(
        &post_form(
            &server,
            &owner,
            "/team/invite",
            &[("email", "sam@example.com"), ("role", "editor")],
        )
        .await
        .text()
        .await
        .unwrap(),
    );
    let invitations = server.store.invitations(server.workspace).await.unwrap();
    let rita = invitations
        .iter()
        .find(|i| i.email == "rita@example.com")
        .unwrap();
    let revoked = post_form(
        &server,
        &owner,
        &format!("/team/invitations/{}/revoke", rita.id),
        &[],
    )
    .await;
    assert!(revoked.text().await.unwrap().contains("Invitation revoked"));
    let path = path_of(&server, &first);
    assert_eq!(
        http().get(server.url(path)).send().await.unwrap().status(),
        StatusCode::GONE
    );

    server
        .clock
        .advance(Duration::from_secs(7 * 24 * 60 * 60 + 1));
    let path = path_of(&server, &second);
    assert_eq!(
        http().get(server.url(path)).send().await.unwrap().status(),
        StatusCode::GONE
    );
    let owner = session(&server).await;
    let team = get(&server, &owner, "/team").await.text().await.unwrap();
    assert!(
        team.contains("revoked") && team.contains("expired"),
        "{team}"
    );
    assert!(
        server
            .store
            .user_by_email("rita@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        server
            .store
            .user_by_email("sam@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_the_old_sessions() {
    let server = support::start().await;
    let owner = session(&server).await;
    let me = server
        .store
        .user_by_email(&server.owner.email)
        .await
        .unwrap()
        .unwrap();
    let made = post_form(
        &server,
        &owner,
        &format!("/team/members/{}/reset", me.id),
        &[],
    )
    .await;
    let link = link_in(&made.text().await.unwrap());
    assert!(link.contains("/reset/tpr_"), "{link}");
    let set = follow_link(&server, &link, &[("password", "a brand new passphrase")]).await;
    assert_eq!(set.status(), StatusCode::OK);
    assert!(set.text().await.unwrap().contains("Your password is set"));
    assert_eq!(
        get(&server, &owner, "/").await.status(),
        StatusCode::SEE_OTHER,
        "old sessions end"
    );
    let old = sign_in_with(&server, &server.owner.email, &server.owner.password).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = sign_in_with(&server, &server.owner.email, "a brand new passphrase").await;
    assert_eq!(new.status(), StatusCode::SEE_OTHER);
    let path = path_of(&server, &link);
    let page = http().get(server.url(path)).send().await.unwrap();
    let pre = cookie_value(&page, "tokpost_sign_in").unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let reused = http()
        .post(server.url(path))
        .header(COOKIE, format!("tokpost_sign_in={pre}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", "a third long passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), StatusCode::GONE);
}

#[tokio::test]
async fn the_last_owner_cannot_demote_or_remove_themselves() {
    let server = support::start().await;
    let owner = session(&server).await;
    let me = server
        .store
        .user_by_email(&server.owner.email)
        .await
        .unwrap()
        .unwrap();
    let demoted = post_form(
        &server,
        &owner,
        &format!("/team/members/{}/role", me.id),
        &[("role", "editor")],
    )
    .await;
    assert_eq!(demoted.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(demoted.text().await.unwrap().contains("last enabled owner"));
    let still = get(&server, &owner, "/team").await;
    assert_eq!(
        still.status(),
        StatusCode::OK,
        "the refused change ended no session"
    );
}

#[tokio::test]
async fn an_accounts_history_page_names_who_connected_it() {
    let server = support::start().await;
    let owner = session(&server).await;
    let account = support::http::connect(&server, &owner, "ada.public").await;
    let accounts = get(&server, &owner, "/accounts")
        .await
        .text()
        .await
        .unwrap();
    assert!(accounts.contains(&format!("href=\"/accounts/{account}/history\"")));
    let page = get(&server, &owner, &format!("/accounts/{account}/history")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page
        .text()
        .await
        .unwrap()
        .replace("&#60;", "<")
        .replace("&#62;", ">");
    assert!(
        page.contains("<strong class=\"change\">connected</strong>"),
        "{page}"
    );
    assert!(page.contains("by Olga Owner <owner@example.com>"), "{page}");
    let missing = get(&server, &owner, "/accounts/not-an-id/history").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_person_changes_their_password_and_their_other_sessions_end() {
    let server = support::start().await;
    let here = session(&server).await;
    let elsewhere = session(&server).await;
    let me = get(&server, &here, "/me").await.text().await.unwrap();
    assert!(me.contains("owner@example.com") && me.contains("id=\"my-role\">owner"));
    let wrong = post_form(
        &server,
        &here,
        "/me/password",
        &[
            ("current_password", "not my passphrase at all"),
            ("new_password", "a fresh long passphrase"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("the current password is wrong")
    );
    let changed = post_form(
        &server,
        &here,
        "/me/password",
        &[
            ("current_password", server.owner.password.as_str()),
            ("new_password", "a fresh long passphrase"),
        ],
    )
    .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let cookie = format!(
        "tokpost_session={}",
        cookie_value(&changed, "tokpost_session").unwrap()
    );
    let after = http()
        .get(server.url("/me?changed=1"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    assert!(
        after
            .text()
            .await
            .unwrap()
            .contains("Your password is changed")
    );
    assert_eq!(
        get(&server, &elsewhere, "/").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get(&server, &here, "/").await.status(),
        StatusCode::SEE_OTHER
    );
    let signed_in = sign_in_with(&server, &server.owner.email, "a fresh long passphrase").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
}
