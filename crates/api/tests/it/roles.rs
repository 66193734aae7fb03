//! The role table, proven over HTTP: every role against every action a route performs, with an
//! API key of that role and with a person's session of that role. A refusal is 403 `forbidden`
//! naming the caller's role; an allowed request succeeds. Also: who did what is recorded on a
//! post and its events, and sign-in's refusals.

use std::time::Duration;

use clock::Clock as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokpost_core::{Action, Role};

use crate::support::{App, PASSWORD, code, fixture};

/// What each role is called with: an API key, or a person's session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Key,
    Session,
}

/// A workspace with one credential per role and the resources the requests act on.
struct Team {
    app: App,
    account: String,
    /// An account whose posts need approval.
    reviewed_account: String,
    media: String,
    /// role → the credential of that role.
    credentials: Vec<(Role, String)>,
}

async fn person(app: &App, role: Role) -> String {
    app.person(role, &format!("{role}@example.com")).await
}

impl Team {
    async fn start(credential: Credential) -> Self {
        let app = App::start().await;
        let account = app.connect(&app.key, "ada.public").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
        let media = media["id"].as_str().unwrap().to_owned();
        let workspace = app.default_workspace().await;
        let reviewed_account = app.connect(&app.key, "ed.quiet").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, settings) = app
            .call(
                Method::PUT,
                "/v1/approval-settings",
                Some(&app.key),
                Some(json!({"accounts": {reviewed_account.clone(): "required"}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{settings}");
        let mut credentials = Vec::new();
        for role in Role::ALL {
            let secret = match credential {
                Credential::Key => tokpost_api::issue_key(
                    app.store.as_ref(),
                    workspace,
                    role.as_str(),
                    role,
                    app.clock.now(),
                )
                .await
                .unwrap()
                .secret
                .expose_secret()
                .to_owned(),
                Credential::Session => person(&app, role).await,
            };
            credentials.push((role, secret));
        }
        Self {
            app,
            account,
            reviewed_account,
            media,
            credentials,
        }
    }

    /// A post awaiting approval, written by the admin key.
    async fn post_for_review(&self) -> String {
        let mut body = self.post_body();
        body["account_id"] = json!(self.reviewed_account);
        let (status, post) = self
            .app
            .call(Method::POST, "/v1/posts", Some(&self.app.key), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        assert_eq!(post["state"], "awaiting_approval");
        post["id"].as_str().unwrap().to_owned()
    }

    fn credential(&self, role: Role) -> &str {
        &self.credentials.iter().find(|(r, _)| *r == role).unwrap().1
    }

    fn post_body(&self) -> Value {
        let at = self.app.clock.now() + jiff::SignedDuration::from_hours(2);
        json!({
            "account_id": self.account,
            "video": {"media_id": self.media, "caption": "roles"},
            "privacy_level": "SELF_ONLY",
            "scheduled_at": at.to_string(),
        })
    }

    /// A post written by `role` (or by the admin key for a role that may not compose).
    async fn post_by(&self, role: Role) -> String {
        let writer = if role.may(Action::Compose) {
            self.credential(role).to_owned()
        } else {
            self.app.key.clone()
        };
        let (status, post) = self
            .app
            .call(
                Method::POST,
                "/v1/posts",
                Some(&writer),
                Some(self.post_body()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        post["id"].as_str().unwrap().to_owned()
    }
}

/// One row of the table: the action a request performs, and the request for a caller of `role`.
#[derive(Debug, Clone, Copy)]
enum Request {
    ListAccounts,
    ListPosts,
    ListMedia,
    ListMembers,
    Me,
    ValidatePost,
    CreatePost,
    UploadMedia,
    RescheduleOwnPost,
    CancelOthersPost,
    ConnectAccount,
    ListWebhookEndpoints,
    ListInvitations,
    Invite,
    EditOwnPost,
    ShareOwnPostForReview,
    Approve,
    Reject,
    Comment,
    ReadApprovalSettings,
    ChangeApprovalSettings,
}

impl Request {
    const ALL: [Self; 21] = [
        Self::ListAccounts,
        Self::ListPosts,
        Self::ListMedia,
        Self::ListMembers,
        Self::Me,
        Self::ValidatePost,
        Self::CreatePost,
        Self::UploadMedia,
        Self::RescheduleOwnPost,
        Self::CancelOthersPost,
        Self::ConnectAccount,
        Self::ListWebhookEndpoints,
        Self::ListInvitations,
        Self::Invite,
        Self::EditOwnPost,
        Self::ShareOwnPostForReview,
        Self::Approve,
        Self::Reject,
        Self::Comment,
        Self::ReadApprovalSettings,
        Self::ChangeApprovalSettings,
    ];

    const fn action(self) -> Action {
        match self {
            Self::ListAccounts
            | Self::ListPosts
            | Self::ListMedia
            | Self::ListMembers
            | Self::Me
            | Self::ReadApprovalSettings => Action::Read,
            Self::ValidatePost | Self::CreatePost | Self::UploadMedia => Action::Compose,
            Self::RescheduleOwnPost | Self::EditOwnPost | Self::ShareOwnPostForReview => {
                Action::ChangeOwnPost
            }
            Self::Approve | Self::Reject => Action::Review,
            Self::Comment => Action::Comment,
            Self::ChangeApprovalSettings => Action::ManageSettings,
            Self::CancelOthersPost => Action::ChangeAnyPost,
            Self::ConnectAccount => Action::ManageAccounts,
            Self::ListWebhookEndpoints => Action::ManageWebhooks,
            Self::ListInvitations | Self::Invite => Action::ManageTeam,
        }
    }

    async fn send(self, team: &Team, role: Role) -> (StatusCode, Value) {
        let app = &team.app;
        let who = Some(team.credential(role));
        match self {
            Self::ListAccounts => app.call(Method::GET, "/v1/accounts", who, None).await,
            Self::ListPosts => app.call(Method::GET, "/v1/posts", who, None).await,
            Self::ListMedia => app.call(Method::GET, "/v1/media", who, None).await,
            Self::ListMembers => app.call(Method::GET, "/v1/members", who, None).await,
            Self::Me => app.call(Method::GET, "/v1/me", who, None).await,
            Self::ValidatePost => {
                app.call(
                    Method::POST,
                    "/v1/posts/validate",
                    who,
                    Some(team.post_body()),
                )
                .await
            }
            Self::CreatePost => {
                app.call(Method::POST, "/v1/posts", who, Some(team.post_body()))
                    .await
            }
            Self::UploadMedia => {
                let response = app
                    .http
                    .post(app.url("/v1/media"))
                    .bearer_auth(team.credential(role))
                    .body(fixture("tiny_faststart.mp4"))
                    .send()
                    .await
                    .unwrap();
                (response.status(), response.json().await.unwrap())
            }
            Self::RescheduleOwnPost => {
                let post = team.post_by(role).await;
                let later = app.clock.now() + jiff::SignedDuration::from_hours(5);
                app.call(
                    Method::POST,
                    &format!("/v1/posts/{post}/reschedule"),
                    who,
                    Some(json!({"scheduled_at": later.to_string()})),
                )
                .await
            }
            Self::CancelOthersPost => {
                // Written by another role's credential (an owner's post for everyone but the
                // owner, an editor's for the owner).
                let author = if role == Role::Owner {
                    Role::Editor
                } else {
                    Role::Owner
                };
                let post = team.post_by(author).await;
                app.call(Method::POST, &format!("/v1/posts/{post}/cancel"), who, None)
                    .await
            }
            Self::ConnectAccount => {
                app.call(Method::POST, "/v1/accounts/connect", who, None)
                    .await
            }
            Self::ListWebhookEndpoints => {
                app.call(Method::GET, "/v1/webhook-endpoints", who, None)
                    .await
            }
            Self::ListInvitations => app.call(Method::GET, "/v1/invitations", who, None).await,
            Self::EditOwnPost => {
                let post = team.post_by(role).await;
                let mut body = team.post_body();
                body["video"]["caption"] = json!("edited by its author");
                app.call(Method::PUT, &format!("/v1/posts/{post}"), who, Some(body))
                    .await
            }
            Self::ShareOwnPostForReview => {
                let post = team.post_by(role).await;
                app.call(
                    Method::POST,
                    &format!("/v1/posts/{post}/review-links"),
                    who,
                    Some(json!({"reviewer_name": "Dana at Acme"})),
                )
                .await
            }
            Self::Approve => {
                let post = team.post_for_review().await;
                app.call(
                    Method::POST,
                    &format!("/v1/posts/{post}/approve"),
                    who,
                    None,
                )
                .await
            }
            Self::Reject => {
                let post = team.post_for_review().await;
                app.call(
                    Method::POST,
                    &format!("/v1/posts/{post}/reject"),
                    who,
                    Some(json!({"comment": "not on brand"})),
                )
                .await
            }
            Self::Comment => {
                let post = team.post_for_review().await;
                app.call(
                    Method::POST,
                    &format!("/v1/posts/{post}/comments"),
                    who,
                    Some(json!({"text": "looks good to me"})),
                )
                .await
            }
            Self::ReadApprovalSettings => {
                app.call(Method::GET, "/v1/approval-settings", who, None)
                    .await
            }
            Self::ChangeApprovalSettings => {
                app.call(
                    Method::PUT,
                    "/v1/approval-settings",
                    who,
                    Some(json!({"required": false})),
                )
                .await
            }
            Self::Invite => {
                app.call(
                    Method::POST,
                    "/v1/invitations",
                    who,
                    Some(json!({"email": format!("new-{role}@example.com"), "role": "editor"})),
                )
                .await
            }
        }
    }
}

async fn prove_the_table(credential: Credential) {
    let team = Team::start(credential).await;
    for request in Request::ALL {
        for role in Role::ALL {
            let (status, body) = request.send(&team, role).await;
            if role.may(request.action()) {
                assert!(
                    status.is_success(),
                    "{credential:?}: {role} may {request:?}, answered {status}: {body}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{credential:?}: {role} may not {request:?}: {body}"
                );
                assert_eq!(code(&body), "forbidden");
                assert_eq!(body["error"]["measured"], role.as_str());
                let message = body["error"]["message"].as_str().unwrap();
                assert!(
                    message.starts_with(&format!("your role ({role}) may not")),
                    "{message}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_role_against_every_action_with_api_keys() {
    prove_the_table(Credential::Key).await;
}

#[tokio::test]
async fn every_role_against_every_action_with_peoples_sessions() {
    prove_the_table(Credential::Session).await;
}

#[tokio::test]
async fn an_editor_changes_only_their_own_posts() {
    let team = Team::start(Credential::Session).await;
    let theirs = team.post_by(Role::Owner).await;
    let (status, body) = team
        .app
        .call(
            Method::POST,
            &format!("/v1/posts/{theirs}/cancel"),
            Some(team.credential(Role::Editor)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("an editor changes only the posts they wrote")
    );
    let mine = team.post_by(Role::Editor).await;
    let (status, body) = team
        .app
        .call(
            Method::POST,
            &format!("/v1/posts/{mine}/cancel"),
            Some(team.credential(Role::Editor)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_post_and_its_events_say_who_wrote_and_who_cancelled_it() {
    let team = Team::start(Credential::Session).await;
    let post = team.post_by(Role::Editor).await;
    let (status, cancelled) = team
        .app
        .call(
            Method::POST,
            &format!("/v1/posts/{post}/cancel"),
            Some(team.credential(Role::Owner)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["created_by"]["kind"], "user");
    assert_eq!(
        cancelled["created_by"]["name"],
        "The editor <editor@example.com>"
    );
    let events = cancelled["events"].as_array().unwrap();
    assert_eq!(events[0]["by"]["name"], "The editor <editor@example.com>");
    assert_eq!(
        events.last().unwrap()["by"]["name"],
        "The owner <owner@example.com>"
    );
    // A post written with an API key names the key.
    let (_, keyed) = team
        .app
        .call(
            Method::POST,
            "/v1/posts",
            Some(&team.app.key),
            Some(team.post_body()),
        )
        .await;
    assert_eq!(keyed["created_by"]["kind"], "api_key");
    assert!(
        keyed["created_by"]["name"]
            .as_str()
            .unwrap()
            .starts_with("API key \"admin\" (tp_"),
        "{keyed}"
    );
    // The create's own answer names the caller as the credential does (no read of the caller
    // behind it): a person by name and email.
    let (_, by_session) = team
        .app
        .call(
            Method::POST,
            "/v1/posts",
            Some(team.credential(Role::Editor)),
            Some(team.post_body()),
        )
        .await;
    assert_eq!(by_session["created_by"]["kind"], "user", "{by_session}");
    assert_eq!(
        by_session["created_by"]["name"],
        "The editor <editor@example.com>"
    );
    // Nothing in any answer is "someone": every event names its actor.
    for event in events {
        assert!(!event["by"]["name"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn sign_in_refuses_alike_locks_after_five_failures_and_signing_out_ends_the_token() {
    let team = Team::start(Credential::Session).await;
    let app = &team.app;
    let attempt = |email: &'static str, password: &'static str| async move {
        app.call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    };
    let (status, unknown) = attempt("nobody@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, wrong) = attempt("editor@example.com", "not the right passphrase").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown["error"]["message"], wrong["error"]["message"],
        "an unknown email and a wrong password read the same"
    );
    for _ in 0..4 {
        attempt("editor@example.com", "not the right passphrase").await;
    }
    let (status, locked) = attempt("editor@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{locked}");
    assert_eq!(code(&locked), "too_many_attempts");
    assert_eq!(locked["error"]["limit"], 5);
    app.clock.advance(Duration::from_secs(15 * 60 + 1));
    let (status, _) = attempt("editor@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, bad) = attempt("not an email", PASSWORD).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["error"]["field"], "email");

    let token = team.credential(Role::Reviewer).to_owned();
    let (status, me) = app.call(Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "reviewer");
    assert_eq!(me["user"]["email"], "reviewer@example.com");
    assert!(me["may"].as_array().unwrap().contains(&json!("review")));
    assert!(!me["may"].as_array().unwrap().contains(&json!("compose")));
    let (status, _) = app
        .call(Method::DELETE, "/v1/sessions/current", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call(Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_accounts_history_names_who_connected_refreshed_and_disconnected_it() {
    let team = Team::start(Credential::Session).await;
    let app = &team.app;
    let owner = team.credential(Role::Owner).to_owned();
    let account = app.connect(&owner, "bo.private").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Each change a second after the last, as people make them.
    let tick = || app.clock.advance(Duration::from_secs(1));
    tick();
    // The same creator again: a reconnect, this time by the admin key.
    app.connect(&app.key, "bo.private").await;
    tick();
    let (status, refreshed) = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/refresh"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    tick();
    app.pipeline
        .keeper()
        .mark_needs_reconnect(
            account.parse().unwrap(),
            tokpost_core::ReconnectReason::AuthorizationRemoved,
        )
        .await
        .unwrap();
    tick();
    let (status, disconnected) = app
        .call(
            Method::DELETE,
            &format!("/v1/accounts/{account}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{disconnected}");

    let (status, history) = app
        .call(
            Method::GET,
            &format!("/v1/accounts/{account}/history"),
            Some(team.credential(Role::Reviewer)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let events = history["events"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|event| {
            (
                event["change"].as_str().unwrap(),
                event["by"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 5, "{history}");
    assert_eq!(seen[0], ("disconnected", "The owner <owner@example.com>"));
    assert_eq!(seen[1], ("needs_reconnect", "tokpost"));
    assert_eq!(seen[2], ("refreshed", "The owner <owner@example.com>"));
    assert_eq!(seen[3].0, "reconnected");
    assert!(seen[3].1.starts_with("API key \"admin\""), "{seen:?}");
    assert_eq!(seen[4], ("connected", "The owner <owner@example.com>"));
    assert!(
        events[1]["message"]
            .as_str()
            .unwrap()
            .contains("the creator removed the app on TikTok")
    );
}
