//! The review link's page (`/review/tpl_…`): someone outside the team sees one post exactly as it
//! will go out and approves it or says what should change, without an account. The link's
//! secret is the credential; the API judges it (`/v1/review-links/open` and `/decide`), and the
//! post's media are served only to a link that opens that post.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::sign_in::{check_signed_out_form, signed_out_page};
use super::{Chrome, link_token as clean};
use crate::Dashboard;
use crate::error::PageError;
use crate::preview::Preview;
use crate::views::text_at;

/// What the reviewer sees of an open link.
struct Review {
    reviewer_name: String,
    workspace_name: String,
    state: String,
    /// The state in the reviewer's words.
    state_words: String,
    revision: String,
    scheduled_at: String,
    expires_at: String,
    decidable: bool,
    /// What this link decided or said before ("approved on …").
    history: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    chrome: Chrome,
    token: String,
    review: Option<Review>,
    preview: Preview,
    closed: Option<String>,
    outcome: Option<super::Outcome>,
}

/// A state as someone outside the team reads it.
fn state_words(state: &str) -> String {
    match state {
        "awaiting_approval" => "waiting for approval".to_owned(),
        "rejected" => "changes asked for".to_owned(),
        "scheduled" | "preflighted" | "creator_checked" | "deferred" => {
            "approved, waiting for its time".to_owned()
        }
        "initialized" | "uploading" | "processing" => "being published".to_owned(),
        "published" | "inbox_delivered" => "published".to_owned(),
        other => other.replace('_', " "),
    }
}

async fn page(
    state: &Dashboard,
    token: String,
    outcome: Option<super::Outcome>,
) -> Result<Response, PageError> {
    let answer = state
        .api
        .post_json_signed_out("/v1/review-links/open", &json!({ "token": token }))
        .await?;
    let (review, preview, closed, status) = if answer.status == StatusCode::OK {
        let body = &answer.body;
        let spec = body.get("spec").cloned().unwrap_or(Value::Null);
        let username = text_at(body, "/account_username");
        let shown = if username.is_empty() {
            text_at(body, "/account_name")
        } else {
            username
        };
        let preview = Preview::of(&spec, &shown, |media| {
            format!("/review/{token}/media/{}", super::encode_segment(media))
        });
        let history = body
            .get("history")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|event| {
                let message = text_at(event, "/message");
                (
                    text_at(event, "/at"),
                    crate::views::kind_unless_said(&text_at(event, "/kind"), &message),
                    message,
                )
            })
            .collect();
        let status = match &outcome {
            Some(outcome) if !outcome.ok => StatusCode::CONFLICT,
            _ => StatusCode::OK,
        };
        (
            Some(Review {
                reviewer_name: text_at(body, "/reviewer_name"),
                workspace_name: text_at(body, "/workspace_name"),
                state: text_at(body, "/state"),
                state_words: state_words(&text_at(body, "/state")),
                revision: body
                    .get("revision")
                    .map(Value::to_string)
                    .unwrap_or_default(),
                scheduled_at: text_at(body, "/scheduled_at"),
                expires_at: text_at(body, "/expires_at"),
                decidable: body.get("decidable").and_then(Value::as_bool) == Some(true),
                history,
            }),
            preview,
            None,
            status,
        )
    } else {
        (
            None,
            Preview::default(),
            Some(answer.error_message()),
            StatusCode::GONE,
        )
    };
    signed_out_page(
        state,
        status,
        |chrome| {
            ReviewPage {
                chrome,
                token,
                review,
                preview,
                closed,
                outcome,
            }
            .render()
        },
        "review",
    )
}

pub(crate) async fn review_page(
    State(state): State<Dashboard>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    page(&state, clean(&token), None).await
}

#[derive(Deserialize)]
pub(crate) struct ReviewForm {
    #[serde(default)]
    csrf: String,
    /// `approve` or `reject`.
    #[serde(default)]
    decision: String,
    #[serde(default)]
    revision: String,
    #[serde(default)]
    comment: String,
}

pub(crate) async fn decide(
    State(state): State<Dashboard>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PageError> {
    check_signed_out_form(&headers, &form.csrf)?;
    let token = clean(&token);
    let mut body = serde_json::Map::new();
    body.insert("token".to_owned(), json!(token));
    body.insert("decision".to_owned(), json!(form.decision));
    if let Ok(revision) = form.revision.trim().parse::<u32>() {
        body.insert("revision".to_owned(), json!(revision));
    }
    if !form.comment.trim().is_empty() {
        body.insert("comment".to_owned(), json!(form.comment));
    }
    let body = Value::Object(body);
    let answer = state
        .api
        .post_json_signed_out("/v1/review-links/decide", &body)
        .await?;
    let outcome = if answer.status.is_success() {
        super::Outcome::done(if form.decision == "approve" {
            "Thank you: you approved it. It goes out at its time."
        } else {
            "Thank you: the team has your comment and will send the post back once it is changed."
        })
    } else {
        super::Outcome::failed(answer.error_message())
    };
    page(&state, token, Some(outcome)).await
}

/// The bytes of the link's post's media, for its preview (ranges honoured).
pub(crate) async fn media(
    State(state): State<Dashboard>,
    Path((token, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let token = clean(&token);
    let link = state
        .app
        .review_links()
        .review_link_by_hash(&tokpost_api::hash_key(&token))
        .await?
        .filter(|link| link.is_open(state.app.now()))
        .ok_or(PageError::NotFound)?;
    let post = state
        .app
        .posts()
        .post(link.post_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let asset = super::media::workspace_asset(&state, link.workspace_id, &id).await?;
    let in_post = match &post.spec.content {
        tokpost_core::PostContent::Video { media, .. } => *media == asset.id,
        tokpost_core::PostContent::Photos { media, .. } => media.contains(&asset.id),
    };
    if !in_post {
        return Err(PageError::NotFound);
    }
    // Not kept anywhere: the link may be revoked at any moment.
    super::media::serve_asset(&state, &asset, &method, &headers, "private, no-store").await
}
