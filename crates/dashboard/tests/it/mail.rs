//! Links that leave tokpost by email, against a real SMTP server (aiosmtpd) started here: an
//! invitation reaches the invited address and its link joins the workspace; "forgot your
//! password" emails a reset link to someone who has an account, and to nobody else, with the
//! same words either way; without an SMTP server the pages say how else the link comes.

use crate::support;

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use support::http::{Session, cookie_value, http, session, sign_in_with, submit_signed_out};
use tokpost_testkit::smtp::SmtpServer;

fn mailer(smtp: &SmtpServer) -> tokpost_pipeline::mail::Mailer {
    tokpost_pipeline::mail::Mailer::new(&tokpost_pipeline::mail::MailSettings {
        smtp_url: secrecy::SecretString::from(smtp.url()),
        from: "tokpost <tokpost@example.com>".to_owned(),
    })
    .unwrap()
}

/// The first `http…` link in `body` that contains `marker`.
fn link_in(body: &str, marker: &str) -> String {
    body.split_whitespace()
        .find(|word| word.starts_with("http") && word.contains(marker))
        .unwrap_or_else(|| panic!("no {marker} link in {body}"))
        .to_owned()
}

fn path_of<'a>(server: &support::Server, link: &'a str) -> &'a str {
    link.strip_prefix(server.base.trim_end_matches('/'))
        .unwrap()
}

async fn invite(server: &support::Server, owner: &Session, email: &str) -> String {
    http()
        .post(server.url("/team/invite"))
        .header(COOKIE, &owner.cookie)
        .form(&[
            ("csrf", owner.csrf.as_str()),
            ("email", email),
            ("role", "editor"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_invitation_is_emailed_and_its_link_joins_the_workspace() {
    let smtp = SmtpServer::start().await;
    let mail = mailer(&smtp);
    let server = support::start_with(move |settings| settings.mailer = Some(mail)).await;
    let owner = session(&server).await;
    let page = invite(&server, &owner, "eddie@example.com").await;
    assert!(page.contains("and emailed them the link"), "{page}");
    let messages = smtp.wait_for(1).await;
    let message = &messages[0];
    assert!(message.to.contains("eddie@example.com"), "{message:?}");
    assert!(message.from.contains("tokpost@example.com"), "{message:?}");
    assert_eq!(message.subject, "You are invited to default on tokpost");
    assert!(message.body.contains("as editor"), "{}", message.body);
    let link = link_in(&message.body, "/invite/tpi_");
    let joined = submit_signed_out(
        &server,
        path_of(&server, &link),
        &[
            ("name", "Eddie Editor"),
            ("password", "eddie's long passphrase"),
        ],
    )
    .await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    assert!(cookie_value(&joined, "tokpost_session").is_some());
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_an_emailed_link_and_strangers_learn_nothing() {
    let smtp = SmtpServer::start().await;
    let mail = mailer(&smtp);
    let server = support::start_with(move |settings| settings.mailer = Some(mail)).await;

    let stranger = submit_signed_out(&server, "/forgot", &[("email", "nobody@example.com")]).await;
    assert_eq!(stranger.status(), StatusCode::OK);
    let stranger = stranger.text().await.unwrap();
    let known = submit_signed_out(&server, "/forgot", &[("email", " Owner@Example.com ")]).await;
    let known = known.text().await.unwrap();
    let words = |page: &str, email: &str| {
        page.contains(&format!(
            "If {email} belongs to someone here, a reset link is on its way"
        ))
    };
    assert!(words(&stranger, "nobody@example.com"), "{stranger}");
    assert!(words(&known, "Owner@Example.com"), "{known}");

    let messages = smtp.wait_for(1).await;
    assert_eq!(
        messages.len(),
        1,
        "only the person with an account gets mail"
    );
    assert!(messages[0].to.contains("owner@example.com"));
    assert_eq!(messages[0].subject, "Your tokpost password-reset link");
    let link = link_in(&messages[0].body, "/reset/tpr_");
    let set = submit_signed_out(
        &server,
        path_of(&server, &link),
        &[("password", "a brand new passphrase")],
    )
    .await;
    assert_eq!(set.status(), StatusCode::OK);
    assert!(set.text().await.unwrap().contains("Your password is set"));
    let signed_in = sign_in_with(&server, "owner@example.com", "a brand new passphrase").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);

    // Three links an hour at most: the fourth request sends nothing, and says the same.
    for _ in 0..3 {
        let page = submit_signed_out(&server, "/forgot", &[("email", "owner@example.com")]).await;
        assert!(words(&page.text().await.unwrap(), "owner@example.com"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        smtp.wait_for(3).await.len(),
        3,
        "one sent before, two more this hour"
    );
}

#[tokio::test]
async fn without_an_smtp_server_the_pages_say_how_else_the_link_comes() {
    let server = support::start().await;
    let owner = session(&server).await;
    let page = invite(&server, &owner, "eddie@example.com").await;
    assert!(
        page.contains("Not emailed: email is not configured on this server"),
        "{page}"
    );
    let forgot = submit_signed_out(&server, "/forgot", &[("email", "owner@example.com")]).await;
    assert_eq!(forgot.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        forgot
            .text()
            .await
            .unwrap()
            .contains("ask an owner of your workspace for a reset link")
    );
}
