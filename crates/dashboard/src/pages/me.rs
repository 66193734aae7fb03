//! The signed-in person's own page: who they are, their role, and changing their password
//! (`POST /v1/me/password`: every session of theirs ends, this browser gets a new one).

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Chrome, SignedIn};
use crate::Dashboard;
use crate::error::PageError;

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    chrome: Chrome,
    name: String,
    email: String,
    role: String,
    /// What the last change did: `(ok, words)`.
    outcome: Option<(bool, String)>,
}

fn page(
    signed_in: &SignedIn,
    outcome: Option<(bool, String)>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let html = MePage {
        chrome: signed_in.chrome("me"),
        name: signed_in.session.user.name.clone(),
        email: signed_in.session.user.email.clone(),
        role: signed_in.session.role.to_string(),
        outcome,
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub(crate) async fn change_password(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let answer = state
        .api
        .post_json(
            signed_in.key(),
            "/v1/me/password",
            &json!({
                "current_password": form.current_password,
                "new_password": form.new_password,
            }),
        )
        .await?;
    let token = answer.body.get("token").and_then(Value::as_str);
    match token {
        Some(token) if answer.status == StatusCode::CREATED => Ok(
            super::sign_in::signed_in_response(&state, token, "/me?changed=1"),
        ),
        _ => page(
            &signed_in,
            Some((false, answer.error_message())),
            if answer.status.is_client_error() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_GATEWAY
            },
        ),
    }
}

/// `/me?changed=1`: the page after a change, saying so.
#[derive(Deserialize)]
pub(crate) struct MeQuery {
    changed: Option<String>,
}

pub(crate) async fn me_after(
    signed_in: SignedIn,
    query: axum::extract::Query<MeQuery>,
) -> Result<Response, PageError> {
    let outcome = query.changed.is_some().then(|| {
        (
            true,
            "Your password is changed. Every other session of yours has ended.".to_owned(),
        )
    });
    page(&signed_in, outcome, StatusCode::OK)
}
