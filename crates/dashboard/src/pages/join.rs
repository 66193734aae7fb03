//! The two links that open a session without signing in: an invitation (`/invite/tpi_…`: a new
//! person chooses a name and a password, an existing user confirms with theirs) and a password
//! reset (`/reset/tpr_…`). The link's secret is the credential; the API judges it.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::sign_in::{check_signed_out_form, signed_in_response, signed_out_page};
use super::{Chrome, link_token as clean};
use crate::Dashboard;
use crate::error::PageError;
use crate::views::{text_at, when_text};

/// What an open invitation offers.
struct Offer {
    email: String,
    workspace_name: String,
    role: String,
    existing_user: bool,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    chrome: Chrome,
    token: String,
    /// `None` when the link is closed (used, revoked, expired or unknown).
    offer: Option<Offer>,
    closed: Option<String>,
    error: Option<String>,
    name: String,
}

async fn invite_form(
    state: &Dashboard,
    token: String,
    error: Option<String>,
    name: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let answer = state
        .api
        .post_json_signed_out("/v1/invitations/preview", &json!({ "token": token }))
        .await?;
    let (offer, closed, status) = if answer.status == StatusCode::OK {
        let body = &answer.body;
        (
            Some(Offer {
                email: text_at(body, "/email"),
                workspace_name: text_at(body, "/workspace_name"),
                role: text_at(body, "/role"),
                existing_user: body
                    .get("existing_user")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                expires_at: when_text(&text_at(body, "/expires_at"), &jiff::tz::TimeZone::UTC),
            }),
            None,
            status,
        )
    } else {
        (None, Some(answer.error_message()), StatusCode::GONE)
    };
    signed_out_page(
        state,
        status,
        |chrome| {
            InvitePage {
                chrome,
                token,
                offer,
                closed,
                error,
                name,
            }
            .render()
        },
        "invite",
    )
}

pub(crate) async fn invite_page(
    State(state): State<Dashboard>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    invite_form(&state, clean(&token), None, String::new(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub(crate) struct AcceptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    time_zone: String,
}

pub(crate) async fn accept(
    State(state): State<Dashboard>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> Result<Response, PageError> {
    check_signed_out_form(&headers, &form.csrf)?;
    let token = clean(&token);
    let answer = state
        .api
        .post_json_signed_out(
            "/v1/invitations/accept",
            &json!({
                "token": token,
                "name": form.name,
                "password": form.password,
                "time_zone": form.time_zone,
            }),
        )
        .await?;
    match answer.body.get("token").and_then(Value::as_str) {
        Some(session) if answer.status == StatusCode::CREATED => {
            Ok(signed_in_response(&state, session, "/"))
        }
        _ => {
            invite_form(
                &state,
                token,
                Some(answer.error_message()),
                form.name,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    chrome: Chrome,
    token: String,
    error: Option<String>,
    done: bool,
}

fn reset_form(
    state: &Dashboard,
    token: String,
    error: Option<String>,
    done: bool,
    status: StatusCode,
) -> Result<Response, PageError> {
    signed_out_page(
        state,
        status,
        |chrome| {
            ResetPage {
                chrome,
                token,
                error,
                done,
            }
            .render()
        },
        "reset",
    )
}

pub(crate) async fn reset_page(
    State(state): State<Dashboard>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    reset_form(&state, clean(&token), None, false, StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn reset(
    State(state): State<Dashboard>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Result<Response, PageError> {
    check_signed_out_form(&headers, &form.csrf)?;
    let token = clean(&token);
    let answer = state
        .api
        .post_json_signed_out(
            "/v1/password-resets/complete",
            &json!({ "token": token, "password": form.password }),
        )
        .await?;
    if answer.status == StatusCode::NO_CONTENT {
        reset_form(&state, token, None, true, StatusCode::OK)
    } else {
        reset_form(
            &state,
            token,
            Some(answer.error_message()),
            false,
            answer.page_status(),
        )
    }
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    /// What happened to the last request: `(ok, words)`.
    outcome: Option<(bool, String)>,
    email: String,
}

fn forgot_form(
    state: &Dashboard,
    outcome: Option<(bool, String)>,
    email: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    signed_out_page(
        state,
        status,
        |chrome| {
            ForgotPage {
                chrome,
                outcome,
                email,
            }
            .render()
        },
        "forgot",
    )
}

pub(crate) async fn forgot_page(State(state): State<Dashboard>) -> Result<Response, PageError> {
    forgot_form(&state, None, String::new(), StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

pub(crate) async fn forgot(
    State(state): State<Dashboard>,
    headers: HeaderMap,
    Form(form): Form<ForgotForm>,
) -> Result<Response, PageError> {
    check_signed_out_form(&headers, &form.csrf)?;
    let answer = state
        .api
        .post_json_signed_out("/v1/password-resets", &json!({ "email": form.email }))
        .await?;
    if answer.status == StatusCode::ACCEPTED {
        let email = form.email.trim().to_owned();
        forgot_form(
            &state,
            Some((
                true,
                format!(
                    "If {email} belongs to someone here, a reset link is on its way; it works \
                     once, for an hour."
                ),
            )),
            email,
            StatusCode::OK,
        )
    } else {
        forgot_form(
            &state,
            Some((false, answer.error_message())),
            form.email,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    }
}
