//! The Team page: who is in the workspace with which role, and (for owners) inviting people,
//! changing roles, removing members, making password-reset links and revoking invitations.
//! Every change goes through the API, which judges the role; a link the API makes is shown on
//! the page once, for the owner to send.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokpost_core::Action;

use super::{Chrome, CsrfForm, Outcome, SignedIn, encode_segment};
use crate::Dashboard;
use crate::error::PageError;
use crate::views::{text_at, when_text};

struct MemberRow {
    id: String,
    name: String,
    email: String,
    role: String,
    disabled: bool,
    is_me: bool,
}

/// One account's approval choice on the Team page.
struct ApprovalRow {
    id: String,
    name: String,
    choice: String,
    requires: bool,
}

struct InvitationRow {
    id: String,
    email: String,
    role: String,
    status: String,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    chrome: Chrome,
    members: Vec<MemberRow>,
    invitations: Vec<InvitationRow>,
    manage: bool,
    outcome: Option<Outcome>,
    roles: [&'static str; 3],
    approval_required: bool,
    approval_accounts: Vec<ApprovalRow>,
    manage_settings: bool,
}

pub(crate) async fn page(
    state: &Dashboard,
    signed_in: &SignedIn,
    outcome: Option<Outcome>,
) -> Result<Response, PageError> {
    let members = state.api.get(signed_in.key(), "/v1/members").await?;
    let manage = signed_in.may(Action::ManageTeam);
    let invitations = if manage {
        state.api.get(signed_in.key(), "/v1/invitations").await?
    } else {
        Value::Null
    };
    let me = signed_in.session.user.id.to_string();
    let members = members
        .get("members")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|member| MemberRow {
                    id: text_at(member, "/user/id"),
                    name: text_at(member, "/user/name"),
                    email: text_at(member, "/user/email"),
                    role: text_at(member, "/role"),
                    disabled: member
                        .pointer("/user/disabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    is_me: text_at(member, "/user/id") == me,
                })
                .collect()
        })
        .unwrap_or_default();
    let invitations = invitations
        .get("invitations")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|invitation| InvitationRow {
                    id: text_at(invitation, "/id"),
                    email: text_at(invitation, "/email"),
                    role: text_at(invitation, "/role"),
                    status: text_at(invitation, "/status"),
                    expires_at: when_text(&text_at(invitation, "/expires_at"), signed_in.zone()),
                })
                .collect()
        })
        .unwrap_or_default();
    let status = match &outcome {
        Some(outcome) if !outcome.ok => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let approval = state
        .api
        .get(signed_in.key(), "/v1/approval-settings")
        .await?;
    let approval_accounts = approval
        .get("accounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|account| ApprovalRow {
            id: text_at(account, "/account_id"),
            name: text_at(account, "/display_name"),
            choice: text_at(account, "/approval"),
            requires: account.get("requires_approval").and_then(Value::as_bool) == Some(true),
        })
        .collect();
    let html = TeamPage {
        approval_required: approval.get("required").and_then(Value::as_bool) == Some(true),
        approval_accounts,
        manage_settings: signed_in.may(Action::ManageSettings),
        chrome: signed_in.chrome("team"),
        members,
        invitations,
        manage,
        outcome,
        roles: ["owner", "editor", "reviewer"],
    }
    .render()?;
    Ok((status, axum::response::Html(html)).into_response())
}

pub(crate) async fn team(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    page(&state, &signed_in, None).await
}

#[derive(Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub(crate) async fn invite(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<InviteForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let answer = state
        .api
        .post_json(
            signed_in.key(),
            "/v1/invitations",
            &json!({ "email": form.email, "role": form.role }),
        )
        .await?;
    let outcome = if answer.status == StatusCode::CREATED {
        let who = format!(
            "Invited {} as {}",
            text_at(&answer.body, "/invitation/email"),
            text_at(&answer.body, "/invitation/role")
        );
        let emailed = answer.body.get("emailed").and_then(Value::as_bool) == Some(true);
        Outcome {
            ok: true,
            message: if emailed {
                format!(
                    "{who}, and emailed them the link. Here it is too (shown once; it works for 7 days):"
                )
            } else {
                format!(
                    "{who}. Send them this link (shown once; it works for 7 days). Not emailed: {}",
                    text_at(&answer.body, "/email_problem")
                )
            },
            link: Some(text_at(&answer.body, "/link")),
        }
    } else {
        Outcome::failed(answer.error_message())
    };
    page(&state, &signed_in, Some(outcome)).await
}

#[derive(Deserialize)]
pub(crate) struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

/// Applies one change to a member or an invitation and shows the page with its outcome.
async fn change(
    state: &Dashboard,
    signed_in: &SignedIn,
    method: Method,
    path: String,
    body: Option<Value>,
    done: &str,
) -> Result<Response, PageError> {
    let outcome = super::apply(state, signed_in, method, &path, body, done).await?;
    page(state, signed_in, Some(outcome)).await
}

pub(crate) async fn set_role(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let done = format!("Role changed to {}; their sessions ended.", form.role);
    change(
        &state,
        &signed_in,
        Method::PATCH,
        format!("/v1/members/{}", encode_segment(&id)),
        Some(json!({ "role": form.role })),
        &done,
    )
    .await
}

pub(crate) async fn remove(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    change(
        &state,
        &signed_in,
        Method::DELETE,
        format!("/v1/members/{}", encode_segment(&id)),
        None,
        "Removed from the workspace; their sessions here ended.",
    )
    .await
}

pub(crate) async fn reset_link(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    change(
        &state,
        &signed_in,
        Method::POST,
        format!("/v1/members/{}/password-reset", encode_segment(&id)),
        None,
        "Send them this password-reset link (shown once; it works once, for an hour):",
    )
    .await
}

pub(crate) async fn revoke(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    change(
        &state,
        &signed_in,
        Method::DELETE,
        format!("/v1/invitations/{}", encode_segment(&id)),
        None,
        "Invitation revoked; its link no longer works.",
    )
    .await
}
