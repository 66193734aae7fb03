//! Approval before publishing in real headless Chromium: the owner turns approval on from the
//! Team page; an editor's post waits; the reviewer finds it under "To approve", sees it as it
//! will go out and rejects it with a comment; the editor reads the comment, edits the post in
//! the composer (which asks for approval again) and sends a review link to the client; the
//! client, signed out, opens the link, sees the edited post and approves it; the post goes out.
//! The pages are photographed at desktop width and at 375 px.

use clock::Clock as _;
use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokpost_core::{Role, StateKind};

use crate::support::browser::{
    assert_same_origin, browser, click, connect, sign_in, sign_in_as, sign_out, snap, text_of,
    type_into, wait_until,
};
use crate::support::{self, Person, Server};

/// Both widths of the current page.
async fn snap_both(client: &Client, name: &str) {
    snap(client, name).await;
    client.set_window_size(375, 812).await.unwrap();
    snap(client, &format!("{name}-375")).await;
    client.set_window_size(1280, 900).await.unwrap();
}

async fn wait_for(client: &Client, css: &str) {
    client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"));
}

/// The editor's post, written through the API with the editor's own session (so the post is
/// theirs to edit).
pub(crate) async fn editors_post(server: &Server, editor: &Person, account: &str) -> String {
    let http = reqwest::Client::new();
    let session: Value = http
        .post(server.url("/v1/sessions"))
        .json(&json!({"email": editor.email, "password": editor.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let media: Value = http
        .post(server.url("/v1/media"))
        .bearer_auth(&token)
        .body(std::fs::read(support::fixture("ok_720x1280_30fps_4s.mp4")).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = server.clock.now() + jiff::SignedDuration::from_hours(3);
    let response = http
        .post(server.url("/v1/posts"))
        .bearer_auth(&token)
        .json(&json!({
            "account_id": account,
            "video": {"media_id": media["id"], "caption": "Launch teaser, first cut"},
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "disable_comment": false,
            "disable_duet": true,
            "disable_stitch": true,
            "scheduled_at": at.to_string(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let post: Value = response.json().await.unwrap();
    assert_eq!(post["state"], "awaiting_approval");
    post["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_rejected_edited_and_approved_by_the_client_through_a_review_link() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let server = support::start().await;
    let now = server.clock.now();
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

    // The owner connects the creator and turns approval on for the workspace.
    sign_in(client, &server).await;
    connect(client, &server, "Ada (public)").await;
    let account = server.store.accounts(server.workspace).await.unwrap()[0].id;
    client.goto(&server.url("/team")).await.unwrap();
    click(client, "#approval-required").await;
    click(client, "#save-approval").await;
    wait_for(client, "#team-outcome").await;
    assert!(
        text_of(client, "#team-outcome")
            .await
            .contains("Approval settings saved")
    );
    snap(client, "team-approval").await;
    sign_out(client).await;

    let post = editors_post(&server, &editor, &account.to_string()).await;

    // The reviewer finds it under "To approve" and rejects it with a comment.
    sign_in_as(client, &server, &reviewer, "Rita Reviewer (reviewer)").await;
    click(client, "#nav-approvals").await;
    client
        .wait()
        .for_element(Locator::Css(&format!("a[href='/posts/{post}']")))
        .await
        .unwrap();
    click(client, &format!("a[href='/posts/{post}']")).await;
    wait_for(client, "#decision").await;
    assert_same_origin(client, &server.base).await;
    assert_eq!(text_of(client, "#post-state").await, "awaiting_approval");
    assert_eq!(
        text_of(client, "#preview-caption").await,
        "Launch teaser, first cut"
    );
    assert_eq!(text_of(client, "#preview-privacy").await, "Everyone");
    assert_eq!(text_of(client, "#preview-interactions").await, "comment");
    assert!(
        client.find(Locator::Id("edit")).await.is_err(),
        "a reviewer never edits"
    );
    wait_until(
        client,
        "const v = document.getElementById('preview-video'); return v && v.readyState >= 1;",
        "the preview's video",
    )
    .await;
    snap_both(client, "post-awaiting-approval").await;
    type_into(
        client,
        "reject-comment",
        "The hook comes too late: open on the product 🚀",
    )
    .await;
    click(client, "#reject").await;
    wait_for(client, "#post-outcome").await;
    assert_eq!(text_of(client, "#post-state").await, "rejected");
    sign_out(client).await;

    // The editor reads why, edits it in the composer, and it waits for approval again.
    sign_in_as(client, &server, &editor, "Eddie Editor (editor)").await;
    assert!(
        text_of(client, "#sent-back")
            .await
            .contains("1 of your posts was sent back with a comment"),
        "the overview says what waits for the editor"
    );
    client
        .goto(&server.url(&format!("/posts/{post}")))
        .await
        .unwrap();
    let why = text_of(client, "#rejection").await;
    assert!(
        why.contains("Rita Reviewer <rita@example.com>: rejected revision 1: The hook comes too late: open on the product 🚀"),
        "{why}"
    );
    snap(client, "post-rejected").await;
    click(client, "#edit").await;
    wait_for(client, "#edit-note").await;
    assert_eq!(text_of(client, "h1").await, "Edit post");
    assert_eq!(
        client
            .find(Locator::Id("privacy-PUBLIC_TO_EVERYONE"))
            .await
            .unwrap()
            .prop("checked")
            .await
            .unwrap()
            .as_deref(),
        Some("true"),
        "the post's choices are kept"
    );
    client
        .find(Locator::Id("caption"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    type_into(client, "caption", "Product first: the launch teaser").await;
    assert_eq!(text_of(client, "#publish").await, "Save changes");
    snap(client, "post-edit").await;
    click(client, "#publish").await;
    wait_for(client, "#post-revision").await;
    assert_eq!(text_of(client, "#post-revision").await, "2");
    assert_eq!(text_of(client, "#post-state").await, "awaiting_approval");
    assert_eq!(
        text_of(client, "#preview-caption").await,
        "Product first: the launch teaser"
    );

    // A review link for the client.
    type_into(client, "reviewer-name", "Dana at Acme").await;
    click(client, "#make-review-link").await;
    wait_for(client, "#review-link-url").await;
    let link = client
        .find(Locator::Id("review-link-url"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(link.contains("/review/tpl_"), "{link}");
    assert!(
        text_of(client, "#review-links")
            .await
            .contains("Dana at Acme")
    );
    snap(client, "post-review-link").await;
    sign_out(client).await;

    // The client opens it without an account and approves what they see.
    client.goto(&link).await.unwrap();
    assert_same_origin(client, &server.base).await;
    wait_for(client, "#decision").await;
    assert_eq!(
        text_of(client, "#preview-caption").await,
        "Product first: the launch teaser"
    );
    wait_until(
        client,
        "const v = document.getElementById('preview-video'); return v && v.readyState >= 1;",
        "the review page's video",
    )
    .await;
    assert!(
        text_of(client, "#review-time").await.contains('('),
        "the time is shown in the reader's zone"
    );
    snap_both(client, "review-link").await;
    type_into(client, "approve-comment", "Perfect, ship it").await;
    click(client, "#review-approve").await;
    wait_for(client, "#review-outcome").await;
    assert!(
        text_of(client, "#review-outcome")
            .await
            .contains("you approved it")
    );
    assert_eq!(
        text_of(client, "#review-state").await,
        "approved, waiting for its time"
    );
    assert!(
        text_of(client, "#review-history")
            .await
            .contains("Perfect, ship it")
    );
    snap(client, "review-link-approved").await;

    // It goes out at its time, and its history says who decided.
    let id: tokpost_core::PostId = post.parse().unwrap();
    assert_eq!(
        server
            .drive_until(id, &[StateKind::Published, StateKind::Failed])
            .await,
        StateKind::Published
    );
    let events = server.store.post_events(id).await.unwrap();
    let approved = events
        .iter()
        .find(|event| event.kind == tokpost_core::EventKind::Approved)
        .unwrap();
    assert!(matches!(
        approved.by,
        tokpost_core::Principal::ReviewLink(_)
    ));
    assert_eq!(approved.message, "approved revision 2: Perfect, ship it");
}
