//! Approval over plain HTTP: the Team page's approval form, a review link emailed through a real
//! SMTP server (aiosmtpd), the link's page serving only its own post's media, a decision taken
//! through it, and a revoked link that opens nothing; the post page's forms follow the role.

use crate::support;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, RANGE};
use serde_json::{Value, json};
use support::http::{Session, http, session, session_of, submit_signed_out};
use tokpost_core::Role;
use tokpost_testkit::smtp::SmtpServer;

async fn post_form(
    server: &support::Server,
    session: &Session,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut fields = vec![("csrf", session.csrf.as_str())];
    fields.extend_from_slice(form);
    let response = http()
        .post(server.url(path))
        .header(COOKIE, &session.cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn get(
    server: &support::Server,
    session: Option<&Session>,
    path: &str,
) -> (StatusCode, String) {
    let mut request = http().get(server.url(path));
    if let Some(session) = session {
        request = request.header(COOKIE, &session.cookie);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn upload(server: &support::Server, fixture: &str) -> String {
    let media: Value = http()
        .post(server.url("/v1/media"))
        .bearer_auth(&server.api_key)
        .body(std::fs::read(support::fixture(fixture)).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    media["id"].as_str().unwrap().to_owned()
}

async fn create_post(server: &support::Server, account: &str, media: &str) -> Value {
    let at =
        jiff::Timestamp::from_second(clock::Clock::now(server.clock.as_ref()).as_second() + 7_200)
            .unwrap();
    http()
        .post(server.url("/v1/posts"))
        .bearer_auth(&server.api_key)
        .json(&json!({
            "account_id": account,
            "video": {"media_id": media, "caption": "For Acme's launch"},
            "privacy_level": "SELF_ONLY",
            "scheduled_at": at.to_string(),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn link_in(body: &str) -> String {
    body.split_whitespace()
        .find(|word| word.starts_with("http") && word.contains("/review/tpl_"))
        .unwrap_or_else(|| panic!("no review link in {body}"))
        .to_owned()
}

#[tokio::test]
async fn a_review_link_is_emailed_shows_only_its_post_and_decides_once() {
    let smtp = SmtpServer::start().await;
    let mail = tokpost_pipeline::mail::Mailer::new(&tokpost_pipeline::mail::MailSettings {
        smtp_url: secrecy::SecretString::from(smtp.url()),
        from: "tokpost <tokpost@example.com>".to_owned(),
    })
    .unwrap();
    let server = support::start_with(move |settings| settings.mailer = Some(mail)).await;
    let owner = session(&server).await;
    let account = support::http::connect(&server, &owner, "ada.public").await;
    let (status, team) = post_form(&server, &owner, "/team/approval", &[("required", "on")]).await;
    assert_eq!(status, StatusCode::OK, "{team}");
    assert!(team.contains("Approval settings saved"), "{team}");
    assert!(team.contains("id=\"approval-required\" checked"), "{team}");

    let media = upload(&server, "ok_720x1280_30fps_4s.mp4").await;
    let other_media = upload(&server, "small_240x240.mp4").await;
    let post = create_post(&server, &account, &media).await;
    assert_eq!(post["state"], "awaiting_approval");
    let id = post["id"].as_str().unwrap();

    let (status, page) = post_form(
        &server,
        &owner,
        &format!("/posts/{id}/review-links"),
        &[
            ("reviewer_name", "Dana at Acme"),
            ("reviewer_email", "dana@acme.example"),
            ("expires_in_hours", "48"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("was made and emailed to them"), "{page}");
    let message = &smtp.wait_for(1).await[0];
    assert!(message.to.contains("dana@acme.example"), "{message:?}");
    assert_eq!(message.subject, "default asks you to review a TikTok post");
    assert!(
        message.body.contains("Hello Dana at Acme"),
        "{}",
        message.body
    );
    let link = link_in(&message.body);
    let path = link
        .strip_prefix(server.base.trim_end_matches('/'))
        .unwrap()
        .to_owned();
    assert!(page.contains(&link), "the page shows the same link once");

    // Signed out, the link shows the post and serves its media, and nothing else.
    let (status, review) = get(&server, None, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        review.contains("id=\"preview-caption\">For Acme&#39;s launch</p>"),
        "{review}"
    );
    let bytes = http()
        .get(server.url(&format!("{path}/media/{media}")))
        .header(RANGE, "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(bytes.bytes().await.unwrap().len(), 100);
    let (status, _) = get(&server, None, &format!("{path}/media/{other_media}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another upload of the workspace"
    );
    let (status, _) = get(&server, None, &format!("/review/tpl_guess/media/{media}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The reviewer asks for changes.
    let decided = submit_signed_out(
        &server,
        &path,
        &[
            ("decision", "reject"),
            ("revision", "1"),
            ("comment", "Use the new logo"),
        ],
    )
    .await;
    assert_eq!(decided.status(), StatusCode::OK);
    let decided = decided.text().await.unwrap();
    assert!(decided.contains("the team has your comment"), "{decided}");
    assert!(decided.contains("changes asked for"), "{decided}");
    let (_, post_page) = get(&server, Some(&owner), &format!("/posts/{id}")).await;
    assert!(
        post_page.contains("Dana at Acme &#60;dana@acme.example&#62;, by review link: rejected revision 1: Use the new logo"),
        "{post_page}"
    );

    // Revoked, it opens nothing, its media included.
    let link_id = post_page
        .split("data-link=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, revoked) = post_form(
        &server,
        &owner,
        &format!("/posts/{id}/review-links/{link_id}/revoke"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked.contains("revoked"), "{revoked}");
    let (status, closed) = get(&server, None, &path).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(
        closed.contains("This review link cannot be used"),
        "{closed}"
    );
    let (status, _) = get(&server, None, &format!("{path}/media/{media}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_post_pages_approval_forms_follow_the_role() {
    let server = support::start().await;
    let owner = session(&server).await;
    let account = support::http::connect(&server, &owner, "ada.public").await;
    post_form(&server, &owner, "/team/approval", &[("required", "on")]).await;
    let now = clock::Clock::now(server.clock.as_ref());
    let editor = support::add_person(
        server.store.as_ref(),
        server.workspace,
        "eddie@example.com",
        "Eddie Editor",
        Role::Editor,
        now,
    )
    .await;
    let reviewer = support::add_person(
        server.store.as_ref(),
        server.workspace,
        "rita@example.com",
        "Rita Reviewer",
        Role::Reviewer,
        now,
    )
    .await;
    let media = upload(&server, "ok_720x1280_30fps_4s.mp4").await;
    let post = create_post(&server, &account, &media).await;
    let id = post["id"].as_str().unwrap();
    let editor = session_of(&server, &editor).await;
    let reviewer = session_of(&server, &reviewer).await;

    let (_, overview) = get(&server, Some(&reviewer), "/").await;
    assert!(
        overview.contains("1 post awaits your approval"),
        "{overview}"
    );
    let (_, overview) = get(&server, Some(&editor), "/").await;
    assert!(
        !overview.contains("id=\"to-approve\""),
        "an editor never approves"
    );
    let (_, seen_by_reviewer) = get(&server, Some(&reviewer), &format!("/posts/{id}")).await;
    assert!(seen_by_reviewer.contains("id=\"approve-form\""));
    assert!(!seen_by_reviewer.contains("id=\"edit\""));
    assert!(!seen_by_reviewer.contains("id=\"review-link-form\""));
    let (_, seen_by_editor) = get(&server, Some(&editor), &format!("/posts/{id}")).await;
    assert!(!seen_by_editor.contains("id=\"approve-form\""));
    assert!(
        !seen_by_editor.contains("id=\"edit\""),
        "the owner's key wrote it: not the editor's to edit"
    );
    let (status, _) = get(&server, Some(&editor), &format!("/posts/{id}/edit")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(&server, Some(&owner), &format!("/posts/{id}/edit")).await;
    assert_eq!(status, StatusCode::OK);

    // A reviewer may not change who must approve; the page says so in the API's words.
    let (_, refused) = post_form(&server, &reviewer, "/team/approval", &[]).await;
    assert!(
        refused.contains("your role (reviewer) may not"),
        "{refused}"
    );
    assert!(
        !refused.contains("id=\"approval-form\""),
        "no form for a reviewer"
    );

    // An approval of a revision edited since is refused on the page, naming the revision.
    let (_, stale) = post_form(
        &server,
        &reviewer,
        &format!("/posts/{id}/approve"),
        &[("revision", "7"), ("comment", "")],
    )
    .await;
    assert!(stale.contains("since revision 7 was read"), "{stale}");
    // Five hours on, its time passed by more than the late grace: a new time is needed.
    server
        .clock
        .advance(std::time::Duration::from_secs(5 * 3_600));
    let (_, late) = post_form(
        &server,
        &reviewer,
        &format!("/posts/{id}/approve"),
        &[("revision", "1"), ("comment", "Fine")],
    )
    .await;
    assert!(late.contains("more than the late grace of 1h"), "{late}");
    assert!(
        late.contains("id=\"approve-at\""),
        "the form offers a new time"
    );
    // The reviewer signed in from Berlin: the time is read in Berlin's zone.
    let tomorrow = clock::Clock::now(server.clock.as_ref())
        .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .checked_add(jiff::Span::new().days(1))
        .unwrap();
    let (_, approved) = post_form(
        &server,
        &reviewer,
        &format!("/posts/{id}/approve"),
        &[
            ("revision", "1"),
            ("comment", "Fine"),
            (
                "scheduled_at",
                &tomorrow.strftime("%Y-%m-%dT%H:%M").to_string(),
            ),
        ],
    )
    .await;
    assert!(approved.contains("Approved. It goes out at"), "{approved}");
    assert!(approved.contains("approved revision 1 for"), "{approved}");
    let stored = server
        .store
        .post(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.scheduled_at.at().as_second().div_euclid(60),
        tomorrow.timestamp().as_second().div_euclid(60),
        "approved for the new time, in the reviewer's zone"
    );
}
