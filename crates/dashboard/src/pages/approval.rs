//! The forms of approval on the post page (approve, reject, comment, review links) and on the
//! Team page (who must approve). Each calls the API with the person's session and shows the
//! page again with what happened, in the API's words when it refused.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::compose::schedule_instant;
use super::posts::show;
use super::{Outcome, SignedIn, encode_segment};
use crate::Dashboard;
use crate::error::PageError;
use crate::views::{self, text_at};

#[derive(Deserialize)]
pub(crate) struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    revision: String,
    #[serde(default)]
    comment: String,
    /// A new time, in the person's zone (needed when the post's time passed too long ago).
    #[serde(default)]
    scheduled_at: String,
}

async fn decide(
    state: &Dashboard,
    signed_in: &SignedIn,
    id: &str,
    approve: bool,
    form: DecisionForm,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let mut body = Map::new();
    if let Ok(revision) = form.revision.trim().parse::<u32>() {
        body.insert("revision".to_owned(), json!(revision));
    }
    if !form.comment.trim().is_empty() {
        body.insert("comment".to_owned(), json!(form.comment));
    }
    if approve {
        let zone = signed_in.zone().iana_name().unwrap_or("UTC").to_owned();
        if let Some(at) = schedule_instant(&form.scheduled_at, &zone)? {
            body.insert("scheduled_at".to_owned(), json!(at));
        }
    }
    let verb = if approve { "approve" } else { "reject" };
    let answer = state
        .api
        .post_json(
            signed_in.key(),
            &format!("/v1/posts/{}/{verb}", encode_segment(id)),
            &Value::Object(body),
        )
        .await?;
    let outcome = if answer.status.is_success() {
        let at = views::when_text(&text_at(&answer.body, "/scheduled_at"), signed_in.zone());
        Outcome::done(if approve {
            format!("Approved. It goes out at {at}, checked against TikTok's rules again first.")
        } else {
            "Rejected: it is back with its author, with your comment.".to_owned()
        })
    } else {
        Outcome::failed(answer.error_message())
    };
    show(state, signed_in, id, false, Some(outcome)).await
}

pub(crate) async fn approve(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    decide(&state, &signed_in, &id, true, form).await
}

pub(crate) async fn reject(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    decide(&state, &signed_in, &id, false, form).await
}

#[derive(Deserialize)]
pub(crate) struct CommentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

pub(crate) async fn comment(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let answer = state
        .api
        .post_json(
            signed_in.key(),
            &format!("/v1/posts/{}/comments", encode_segment(&id)),
            &json!({ "text": form.text }),
        )
        .await?;
    let outcome = if answer.status.is_success() {
        Outcome::done("Comment added to the history.")
    } else {
        Outcome::failed(answer.error_message())
    };
    show(&state, &signed_in, &id, false, Some(outcome)).await
}

#[derive(Deserialize)]
pub(crate) struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reviewer_name: String,
    #[serde(default)]
    reviewer_email: String,
    #[serde(default)]
    expires_in_hours: String,
}

pub(crate) async fn make_link(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let mut body = Map::new();
    body.insert("reviewer_name".to_owned(), json!(form.reviewer_name));
    if !form.reviewer_email.trim().is_empty() {
        body.insert("reviewer_email".to_owned(), json!(form.reviewer_email));
    }
    let hours = form.expires_in_hours.trim();
    if let Ok(hours) = hours.parse::<u64>() {
        body.insert("expires_in_hours".to_owned(), json!(hours));
    } else if !hours.is_empty() {
        let outcome = Outcome::failed(format!(
            "Works for: “{hours}” is not a whole number of hours"
        ));
        return show(&state, &signed_in, &id, false, Some(outcome)).await;
    }
    let body = Value::Object(body);
    let answer = state
        .api
        .post_json(
            signed_in.key(),
            &format!("/v1/posts/{}/review-links", encode_segment(&id)),
            &body,
        )
        .await?;
    let outcome = if answer.status.is_success() {
        let who = text_at(&answer.body, "/link/reviewer_name");
        let until = views::when_text(&text_at(&answer.body, "/link/expires_at"), signed_in.zone());
        let emailed = answer.body.get("emailed").and_then(Value::as_bool) == Some(true);
        let problem = text_at(&answer.body, "/email_problem");
        let message = if emailed {
            format!(
                "A review link for {who} was made and emailed to them. Here it is too (shown once; it works until {until}):"
            )
        } else if problem.is_empty() {
            format!(
                "A review link for {who} was made. Send it to them (shown once; it works until {until}):"
            )
        } else {
            format!(
                "A review link for {who} was made. Send it to them (shown once; it works until {until}). Not emailed: {problem}."
            )
        };
        Outcome {
            link: Some(text_at(&answer.body, "/url")),
            ..Outcome::done(message)
        }
    } else {
        Outcome::failed(answer.error_message())
    };
    show(&state, &signed_in, &id, false, Some(outcome)).await
}

pub(crate) async fn revoke_link(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path((id, link)): Path<(String, String)>,
    Form(form): Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let answer = state
        .api
        .call(
            Some(signed_in.key()),
            Method::DELETE,
            &format!("/v1/review-links/{}", encode_segment(&link)),
            None,
        )
        .await?;
    let outcome = if answer.status.is_success() {
        Outcome::done("The review link was revoked: it opens nothing now.")
    } else {
        Outcome::failed(answer.error_message())
    };
    show(&state, &signed_in, &id, false, Some(outcome)).await
}

/// The Team page's approval form: `required` (a checkbox) and `account:<id>` → a choice.
pub(crate) async fn settings(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(form.get("csrf").map_or("", String::as_str))?;
    let accounts: Map<String, Value> = form
        .iter()
        .filter_map(|(key, choice)| {
            key.strip_prefix("account:")
                .map(|id| (id.to_owned(), json!(choice)))
        })
        .collect();
    let answer = state
        .api
        .send_json(
            signed_in.key(),
            Method::PUT,
            "/v1/approval-settings",
            &json!({ "required": form.contains_key("required"), "accounts": accounts }),
        )
        .await?;
    let outcome = if answer.status.is_success() {
        Outcome::done(
            "Approval settings saved. Posts created or edited from now on follow them; posts already waiting still wait for a decision.",
        )
    } else {
        Outcome::failed(answer.error_message())
    };
    super::team::page(&state, &signed_in, Some(outcome)).await
}
