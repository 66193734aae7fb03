//! Approval before publishing over HTTP: a post waits for a reviewer, an edit asks again, a
//! rejection goes back with its comment, a late approval goes out only within the late grace,
//! and a review link lets someone outside the team see the post and decide once.

use std::time::Duration;

use clock::Clock as _;
use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokpost_core::Role;

use crate::support::{App, code, fixture};

/// A key of `role` in the admin key's workspace.
async fn key_of(app: &App, role: Role) -> String {
    let workspace = app.default_workspace().await;
    tokpost_api::issue_key(
        app.store.as_ref(),
        workspace,
        &format!("the {role}"),
        role,
        app.clock.now(),
    )
    .await
    .unwrap()
    .secret
    .expose_secret()
    .to_owned()
}

struct Studio {
    app: App,
    account: String,
    media: String,
    editor: String,
    reviewer: String,
}

impl Studio {
    /// A workspace that requires approval, with an editor and a reviewer.
    async fn start() -> Self {
        let app = App::start().await;
        let account = app.connect(&app.key, "ada.public").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
        let media = media["id"].as_str().unwrap().to_owned();
        let (status, settings) = app
            .call(
                Method::PUT,
                "/v1/approval-settings",
                Some(&app.key),
                Some(json!({"required": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{settings}");
        assert_eq!(settings["required"], true);
        assert_eq!(settings["accounts"][0]["approval"], "inherit");
        assert_eq!(settings["accounts"][0]["requires_approval"], true);
        let editor = key_of(&app, Role::Editor).await;
        let reviewer = key_of(&app, Role::Reviewer).await;
        Self {
            app,
            account,
            media,
            editor,
            reviewer,
        }
    }

    fn body(&self, caption: &str, in_hours: i64) -> Value {
        let at = self.app.clock.now() + SignedDuration::from_hours(in_hours);
        json!({
            "account_id": self.account,
            "video": {"media_id": self.media, "caption": caption},
            "privacy_level": "SELF_ONLY",
            "scheduled_at": at.to_string(),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        who: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.app.call(method, path, Some(who), body).await
    }

    async fn create(&self, caption: &str, in_hours: i64) -> Value {
        let (status, post) = self
            .call(
                Method::POST,
                "/v1/posts",
                &self.editor,
                Some(self.body(caption, in_hours)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        post
    }
}

fn id(post: &Value) -> String {
    post["id"].as_str().unwrap().to_owned()
}

fn last_event(post: &Value) -> &Value {
    post["events"].as_array().unwrap().last().unwrap()
}

#[tokio::test]
async fn a_post_waits_for_a_reviewer_and_an_edit_after_approval_asks_again() {
    let s = Studio::start().await;
    let post = s.create("first cut", 3).await;
    assert_eq!(post["state"], "awaiting_approval");
    assert_eq!(post["revision"], 1);
    let path = format!("/v1/posts/{}", id(&post));

    // The author may not approve; an editor never reviews.
    let (status, body) = s
        .call(Method::POST, &format!("{path}/approve"), &s.editor, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // A comment from the reviewer changes nothing but the history.
    let (status, commented) = s
        .call(
            Method::POST,
            &format!("{path}/comments"),
            &s.reviewer,
            Some(json!({"text": "  Can the hook come sooner?  "})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{commented}");
    assert_eq!(commented["state"], "awaiting_approval");
    assert_eq!(last_event(&commented)["kind"], "comment");
    assert_eq!(
        last_event(&commented)["message"],
        "Can the hook come sooner?"
    );
    assert_eq!(
        last_event(&commented)["by"]["name"].as_str().unwrap(),
        format!("API key \"the reviewer\" ({}…)", &s.reviewer[..11])
    );

    // The author edits it while it waits: revision 2, still waiting.
    let (status, edited) = s
        .call(
            Method::PUT,
            &path,
            &s.editor,
            Some(json!({
                "video": {"media_id": s.media, "caption": "second cut, hook first"},
                "privacy_level": "SELF_ONLY",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["state"], "awaiting_approval");
    assert_eq!(edited["revision"], 2);
    assert_eq!(
        edited["scheduled_at"], post["scheduled_at"],
        "no time given: it keeps its time"
    );
    assert_eq!(last_event(&edited)["message"], "edited: caption or cover");

    // An approval of what the reviewer saw before the edit is refused, naming the revision.
    let (status, stale) = s
        .call(
            Method::POST,
            &format!("{path}/approve"),
            &s.reviewer,
            Some(json!({"revision": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    assert_eq!(code(&stale), "revision_changed");
    assert_eq!(stale["error"]["measured"], 2);

    let (status, approved) = s
        .call(
            Method::POST,
            &format!("{path}/approve"),
            &s.reviewer,
            Some(json!({"revision": 2, "comment": "Great"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "scheduled");
    let decision = last_event(&approved);
    assert_eq!(decision["kind"], "approved");
    assert_eq!(decision["message"], "approved revision 2: Great");
    assert_eq!(decision["by"]["kind"], "api_key");

    // Moved after approval: approval again.
    let later = s.app.clock.now() + SignedDuration::from_hours(6);
    let (status, moved) = s
        .call(
            Method::POST,
            &format!("{path}/reschedule"),
            &s.editor,
            Some(json!({"scheduled_at": later.to_string()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["state"], "awaiting_approval");
    assert_eq!(moved["revision"], 3);

    // A rejection needs a comment, and goes back to the author with it.
    let (status, missing) = s
        .call(
            Method::POST,
            &format!("{path}/reject"),
            &s.reviewer,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{missing}");
    assert_eq!(missing["error"]["field"], "comment");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("say in `comment` what should change"),
        "{missing}"
    );
    let (status, rejected) = s
        .call(
            Method::POST,
            &format!("{path}/reject"),
            &s.reviewer,
            Some(json!({"revision": 3, "comment": "Friday is the launch; keep Thursday"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(
        last_event(&rejected)["message"],
        "rejected revision 3: Friday is the launch; keep Thursday"
    );
    let (status, twice) = s
        .call(Method::POST, &format!("{path}/approve"), &s.reviewer, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{twice}");
    assert_eq!(code(&twice), "not_awaiting_approval");

    // The author's edit sends it for approval again; another account may not be chosen.
    let (status, wrong_account) = s
        .call(
            Method::PUT,
            &path,
            &s.editor,
            Some(json!({
                "account_id": s.app.connect(&s.app.key, "ed.quiet").await["id"],
                "video": {"media_id": s.media, "caption": "x"},
                "privacy_level": "SELF_ONLY",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong_account}");
    assert_eq!(code(&wrong_account), "account_fixed");
    let (status, resubmitted) = s
        .call(
            Method::PUT,
            &path,
            &s.editor,
            Some(json!({
                "video": {"media_id": s.media, "caption": "second cut, hook first"},
                "privacy_level": "FOLLOWER_OF_CREATOR",
                "revision": 3,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resubmitted}");
    assert_eq!(resubmitted["state"], "awaiting_approval");
    assert_eq!(last_event(&resubmitted)["message"], "edited: who can view");
    let (status, cancelled) = s
        .call(Method::POST, &format!("{path}/cancel"), &s.editor, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");

    // An account that does not require approval goes straight to the schedule.
    let (status, settings) = s
        .call(
            Method::PUT,
            "/v1/approval-settings",
            &s.app.key,
            Some(json!({"accounts": {s.account.clone(): "not_required"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    let own = settings["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|account| account["account_id"] == s.account.as_str())
        .unwrap();
    assert_eq!(own["approval"], "not_required");
    assert_eq!(own["requires_approval"], false);
    assert_eq!(s.create("own brand", 2).await["state"], "scheduled");
}

#[tokio::test]
async fn approval_settings_refuse_what_they_cannot_apply() {
    let s = Studio::start().await;
    let (status, body) = s
        .call(
            Method::PUT,
            "/v1/approval-settings",
            &s.reviewer,
            Some(json!({"required": false})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = s
        .call(
            Method::PUT,
            "/v1/approval-settings",
            &s.app.key,
            Some(json!({"accounts": {s.account.clone(): "sometimes"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], format!("accounts.{}", s.account));
    let elsewhere = s.app.connect(&s.app.other_key, "bo.private").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = s
        .call(
            Method::PUT,
            "/v1/approval-settings",
            &s.app.key,
            Some(json!({"required": false, "accounts": {elsewhere: "required"}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, settings) = s
        .call(Method::GET, "/v1/approval-settings", &s.reviewer, None)
        .await;
    assert_eq!(
        settings["required"], true,
        "nothing applied from a refused change"
    );
}

#[tokio::test]
async fn a_late_approval_goes_out_within_the_grace_and_needs_a_new_time_beyond_it() {
    let s = Studio::start().await;
    let within = s.create("on time-ish", 1).await;
    let beyond = s.create("far too late", 1).await;
    // 30 minutes after their time (the late grace is an hour).
    s.app.clock.advance(Duration::from_secs(90 * 60));
    let (status, approved) = s
        .call(
            Method::POST,
            &format!("/v1/posts/{}/approve", id(&within)),
            &s.reviewer,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "scheduled");
    let message = last_event(&approved)["message"].as_str().unwrap();
    assert!(
        message.contains("30m after its time: it goes out now (within the late grace of 1h)"),
        "{message}"
    );

    // Three hours after: the approval must give a new time.
    s.app.clock.advance(Duration::from_secs(150 * 60));
    let path = format!("/v1/posts/{}/approve", id(&beyond));
    let (status, late) = s.call(Method::POST, &path, &s.reviewer, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{late}");
    assert_eq!(code(&late), "approval_too_late");
    assert_eq!(late["error"]["field"], "scheduled_at");
    assert_eq!(late["error"]["limit"], 3_600);
    assert_eq!(late["error"]["measured"], 3 * 3_600);
    let (_, still) = s
        .call(
            Method::GET,
            &format!("/v1/posts/{}", id(&beyond)),
            &s.reviewer,
            None,
        )
        .await;
    assert_eq!(still["state"], "awaiting_approval", "nothing went out");

    let tomorrow = s.app.clock.now() + SignedDuration::from_hours(20);
    let (status, rescheduled) = s
        .call(
            Method::POST,
            &path,
            &s.reviewer,
            Some(json!({"scheduled_at": tomorrow.to_string()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rescheduled}");
    assert_eq!(rescheduled["state"], "scheduled");
    assert_eq!(
        rescheduled["scheduled_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap(),
        tomorrow
    );
}

fn token_of(url: &str) -> String {
    url.rsplit_once("/review/").unwrap().1.to_owned()
}

#[tokio::test]
async fn a_review_link_shows_the_post_and_records_the_outside_reviewers_decision() {
    let s = Studio::start().await;
    let post = s.create("for the client", 5).await;
    let path = format!("/v1/posts/{}/review-links", id(&post));

    let (status, bad) = s
        .call(
            Method::POST,
            &path,
            &s.editor,
            Some(json!({"reviewer_name": "Dana", "expires_in_hours": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["error"]["limit"], 720);
    let (status, nameless) = s
        .call(Method::POST, &path, &s.editor, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{nameless}");
    assert_eq!(nameless["error"]["field"], "reviewer_name");

    let (status, created) = s
        .call(
            Method::POST,
            &path,
            &s.editor,
            Some(json!({"reviewer_name": "Dana at Acme", "reviewer_email": "Dana@Acme.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["emailed"], false);
    assert!(
        created["email_problem"]
            .as_str()
            .unwrap()
            .contains("email.smtp_url")
    );
    assert_eq!(created["link"]["reviewer_email"], "dana@acme.example");
    let token = token_of(created["url"].as_str().unwrap());
    assert!(token.starts_with("tpl_"), "{token}");

    let (_, listed) = s.call(Method::GET, &path, &s.reviewer, None).await;
    assert_eq!(listed["links"].as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&token),
        "the secret is shown once"
    );

    // The reviewer opens it without signing in.
    let (status, view) = s
        .app
        .call(
            Method::POST,
            "/v1/review-links/open",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "awaiting_approval");
    assert_eq!(view["decidable"], true);
    assert_eq!(view["reviewer_name"], "Dana at Acme");
    assert_eq!(view["spec"]["content"]["caption"], "for the client");
    assert_eq!(view["spec"]["privacy"], "SELF_ONLY");
    assert_eq!(view["workspace_name"], "default");
    assert!(!view["account_name"].as_str().unwrap().is_empty());
    let revision = view["revision"].clone();

    let (status, wrong) = s
        .app
        .call(
            Method::POST,
            "/v1/review-links/open",
            None,
            Some(json!({"token": "tpl_guess"})),
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "{wrong}");
    assert_eq!(code(&wrong), "link_closed");
    let decide = |decision: &str, comment: Option<&str>| json!({"token": token, "decision": decision, "revision": revision, "comment": comment});
    let (status, no_comment) = s
        .app
        .call(
            Method::POST,
            "/v1/review-links/decide",
            None,
            Some(decide("reject", None)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{no_comment}");
    let (status, decided) = s
        .app
        .call(
            Method::POST,
            "/v1/review-links/decide",
            None,
            Some(decide("approve", Some("Lovely"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["state"], "scheduled");
    assert_eq!(decided["decidable"], false);
    assert_eq!(decided["history"][0]["kind"], "approved");
    let (status, again) = s
        .app
        .call(
            Method::POST,
            "/v1/review-links/decide",
            None,
            Some(decide("reject", Some("changed my mind"))),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(code(&again), "not_awaiting_approval");

    // The history names the reviewer as the link does.
    let (_, full) = s
        .call(
            Method::GET,
            &format!("/v1/posts/{}", id(&post)),
            &s.editor,
            None,
        )
        .await;
    let by = &last_event(&full)["by"];
    assert_eq!(by["kind"], "review_link");
    assert_eq!(
        by["name"],
        "Dana at Acme <dana@acme.example>, by review link"
    );

    // Revoked, it opens nothing; a reviewer in the team may not revoke an editor's link.
    let link = created["link"]["id"].as_str().unwrap();
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/v1/review-links/{link}"),
            &s.reviewer,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/v1/review-links/{link}"),
            &s.editor,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .app
        .call(
            Method::POST,
            "/v1/review-links/open",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, StatusCode::GONE);

    // An expired link opens nothing either.
    let second = s.create("second", 5).await;
    let (_, short) = s
        .call(
            Method::POST,
            &format!("/v1/posts/{}/review-links", id(&second)),
            &s.editor,
            Some(json!({"reviewer_name": "Eli", "expires_in_hours": 1})),
        )
        .await;
    s.app.clock.advance(Duration::from_secs(3_601));
    let (status, _) = s
        .app
        .call(
            Method::POST,
            "/v1/review-links/open",
            None,
            Some(json!({"token": token_of(short["url"].as_str().unwrap())})),
        )
        .await;
    assert_eq!(status, StatusCode::GONE);
}
