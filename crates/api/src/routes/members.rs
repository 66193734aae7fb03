//! The people of a workspace: members and their roles, invitations (links shown once to the
//! owner who makes them), and password-reset links an owner makes for a member. Everything but
//! the member list needs the `manage_team` action (owners).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokpost_core::{Action, InvitationId, Principal, UserId};
use tokpost_store::{Invitation, Member, MembershipChange, NewInvitation};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::people;
use crate::routes::parse_id;
use crate::routes::sessions::{UserView, parse_role, user_view};
use crate::state::AppState;

/// A member of the workspace.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberView {
    user: UserView,
    /// `owner`, `editor` or `reviewer`.
    role: String,
    #[schema(value_type = String, format = DateTime)]
    joined_at: Timestamp,
}

fn member_view(member: &Member) -> MemberView {
    MemberView {
        user: user_view(&member.user),
        role: member.role.as_str().to_owned(),
        joined_at: member.joined_at,
    }
}

/// The workspace's members.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberList {
    members: Vec<MemberView>,
}

/// The workspace's members, oldest first.
#[utoipa::path(get, path = "/v1/members", tag = "people",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<MemberList>, ApiError> {
    auth.require(Action::Read)?;
    let members = state.people().members(auth.workspace_id).await?;
    Ok(Json(MemberList {
        members: members.iter().map(member_view).collect(),
    }))
}

async fn member(state: &AppState, auth: &Authenticated, id: &str) -> Result<Member, ApiError> {
    let id: UserId = parse_id(id, "member")?;
    state
        .people()
        .members(auth.workspace_id)
        .await?
        .into_iter()
        .find(|member| member.user.id == id)
        .ok_or(ApiError::NotFound("member"))
}

fn last_owner() -> ApiError {
    ApiError::refused(
        StatusCode::CONFLICT,
        "last_owner",
        "this is the workspace's last enabled owner; make someone else an owner first",
    )
}

/// A change of role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeRole {
    /// `owner`, `editor` or `reviewer`.
    role: String,
}

/// Gives a member another role. Their sessions end at once (they sign in again with it).
#[utoipa::path(patch, path = "/v1/members/{id}", tag = "people",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The member's user id")),
    request_body = ChangeRole,
    responses(
        (status = 200, description = "The member with their new role", body = MemberView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "Only owners manage the team", body = ErrorBody),
        (status = 404, description = "No such member in this workspace", body = ErrorBody),
        (status = 409, description = "The workspace's last owner cannot stop being one", body = ErrorBody),
        (status = 422, description = "An unknown role", body = ErrorBody),
    ))]
pub(crate) async fn change_role(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ChangeRole>,
) -> Result<Json<MemberView>, ApiError> {
    auth.require(Action::ManageTeam)?;
    let role = parse_role(&request.role, "role")?;
    let member = member(&state, &auth, &id).await?;
    match state
        .people()
        .set_role(member.user.id, auth.workspace_id, role)
        .await?
    {
        MembershipChange::Changed => {}
        MembershipChange::NotMember => return Err(ApiError::NotFound("member")),
        MembershipChange::LastOwner => return Err(last_owner()),
    }
    let member = self::member(&state, &auth, &id).await?;
    Ok(Json(member_view(&member)))
}

/// Removes a member from the workspace (the user remains, for their other workspaces, and
/// their posts and history keep their name).
#[utoipa::path(delete, path = "/v1/members/{id}", tag = "people",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed; their sessions here ended"),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "Only owners manage the team", body = ErrorBody),
        (status = 404, description = "No such member in this workspace", body = ErrorBody),
        (status = 409, description = "The workspace's last owner cannot leave", body = ErrorBody),
    ))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Action::ManageTeam)?;
    let member = member(&state, &auth, &id).await?;
    match state
        .people()
        .leave(member.user.id, auth.workspace_id)
        .await?
    {
        MembershipChange::Changed => Ok(StatusCode::NO_CONTENT),
        MembershipChange::NotMember => Err(ApiError::NotFound("member")),
        MembershipChange::LastOwner => Err(last_owner()),
    }
}

/// An invitation, as its workspace's owners see it (never its link, which was shown once).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationView {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    email: String,
    role: String,
    /// `open`, `accepted`, `revoked` or `expired`.
    status: &'static str,
    /// Who invited: `{kind: user|api_key, id}`.
    #[schema(value_type = Option<Object>)]
    invited_by: Option<Principal>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

fn invitation_view(invitation: &Invitation, now: Timestamp) -> InvitationView {
    InvitationView {
        id: invitation.id.to_string(),
        email: invitation.email.clone(),
        role: invitation.role.as_str().to_owned(),
        status: if invitation.accepted_at.is_some() {
            "accepted"
        } else if invitation.revoked_at.is_some() {
            "revoked"
        } else if invitation.expires_at <= now {
            "expired"
        } else {
            "open"
        },
        invited_by: invitation.invited_by,
        created_at: invitation.created_at,
        expires_at: invitation.expires_at,
    }
}

/// The workspace's invitations.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationList {
    invitations: Vec<InvitationView>,
}

/// The workspace's invitations, newest first.
#[utoipa::path(get, path = "/v1/invitations", tag = "people",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The invitations", body = InvitationList),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "Only owners manage the team", body = ErrorBody),
    ))]
pub(crate) async fn invitations(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<InvitationList>, ApiError> {
    auth.require(Action::ManageTeam)?;
    let now = state.now();
    let invitations = state.invitations().invitations(auth.workspace_id).await?;
    Ok(Json(InvitationList {
        invitations: invitations
            .iter()
            .map(|invitation| invitation_view(invitation, now))
            .collect(),
    }))
}

/// Someone to invite.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Invite {
    email: String,
    /// `owner`, `editor` or `reviewer`.
    role: String,
}

/// A new invitation and its link, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedInvitation {
    invitation: InvitationView,
    /// The link to send the person (`<public base URL>/invite/tpi_…`); anyone holding it can
    /// join as the invited email until it is used, revoked or expires (7 days).
    link: String,
    /// Whether the link was emailed to the person (an SMTP server is configured and took it).
    emailed: bool,
    /// Why it was not emailed, when it was not.
    email_problem: Option<String>,
}

/// Invites a person by email. Nobody joins a workspace without an invitation.
#[utoipa::path(post, path = "/v1/invitations", tag = "people",
    security(("api_key" = [])),
    request_body = Invite,
    responses(
        (status = 201, description = "Invited; the link is shown this once", body = CreatedInvitation),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "Only owners manage the team", body = ErrorBody),
        (status = 409, description = "The person is a member already", body = ErrorBody),
        (status = 422, description = "A malformed email or an unknown role", body = ErrorBody),
    ))]
pub(crate) async fn invite(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(request): JsonBody<Invite>,
) -> Result<(StatusCode, Json<CreatedInvitation>), ApiError> {
    auth.require(Action::ManageTeam)?;
    let email = people::normalize_email(&request.email, "email")?;
    let role = parse_role(&request.role, "role")?;
    let members = state.people().members(auth.workspace_id).await?;
    if members.iter().any(|member| member.user.email == email) {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "already_member",
            format!("{email} is a member of this workspace already; change their role instead"),
        ));
    }
    let (secret, secret_hash) = people::link_secret("tpi_");
    let now = state.now();
    let invitation = state
        .invitations()
        .create_invitation(
            NewInvitation {
                workspace_id: auth.workspace_id,
                email,
                role,
                secret_hash,
                invited_by: auth.principal,
                expires_at: clock::add(now, people::INVITATION_LIFETIME),
            },
            now,
        )
        .await?;
    let link = state.link(&format!("invite/{secret}"));
    let workspace = state
        .workspaces()
        .workspace(auth.workspace_id)
        .await?
        .map_or_else(|| "a workspace".to_owned(), |workspace| workspace.name);
    let (emailed, email_problem) = match &state.settings.mailer {
        None => (
            false,
            Some(
                "email is not configured on this server (email.smtp_url); send the link yourself"
                    .to_owned(),
            ),
        ),
        Some(mailer) => match mailer
            .send(
                &invitation.email,
                &format!("You are invited to {workspace} on tokpost"),
                &format!(
                    "You are invited to join {workspace} on tokpost as {role}.\n\n\
                     Open this link to choose your name and password (it works once, until \
                     {until}):\n{link}\n\n\
                     If you did not expect this, ignore this message: nothing happens without \
                     the link.\n",
                    role = invitation.role,
                    until = invitation.expires_at,
                ),
            )
            .await
        {
            Ok(()) => (true, None),
            Err(error) => {
                tracing::warn!(%error, "an invitation could not be emailed");
                (false, Some(format!("{error}; send the link yourself")))
            }
        },
    };
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvitation {
            invitation: invitation_view(&invitation, now),
            link,
            emailed,
            email_problem,
        }),
    ))
}

/// Revokes an open invitation: its link stops working.
#[utoipa::path(delete, path = "/v1/invitations/{id}", tag = "people",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "Only owners manage the team", body = ErrorBody),
        (status = 404, description = "No open invitation with this id in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn revoke_invitation(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Action::ManageTeam)?;
    let id: InvitationId = parse_id(&id, "invitation")?;
    if state
        .invitations()
        .revoke_invitation(id, auth.workspace_id, state.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("invitation"))
    }
}

/// A password-reset link for a member, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResetLink {
    /// The link to send the member (`<public base URL>/reset/tpr_…`), usable once for an hour.
    link: String,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

/// Makes a password-reset link for a member (for a person who forgot their password).
#[utoipa::path(post, path = "/v1/members/{id}/password-reset", tag = "people",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The member's user id")),
    responses(
        (status = 201, description = "The link, shown this once", body = ResetLink),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "Only owners manage the team", body = ErrorBody),
        (status = 404, description = "No such member in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn password_reset(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ResetLink>), ApiError> {
    auth.require(Action::ManageTeam)?;
    let member = member(&state, &auth, &id).await?;
    let (secret, hash) = people::link_secret("tpr_");
    let now = state.now();
    let expires_at = clock::add(now, people::RESET_LIFETIME);
    state
        .invitations()
        .create_password_reset(member.user.id, &hash, expires_at, now)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ResetLink {
            link: state.link(&format!("reset/{secret}")),
            expires_at,
        }),
    ))
}
