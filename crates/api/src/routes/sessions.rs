//! Signing in and out, who am I, and the two links that open a session without one: an
//! accepted invitation and a password reset. These routes need no credential (except signing
//! out and `me`); what they refuse they refuse alike for an unknown email and a wrong password.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use jiff::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokpost_core::{Action, Principal, Role, WorkspaceId};
use tokpost_store::{Accepted, User};
use utoipa::ToSchema;

use crate::auth::{Authenticated, bearer};
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::people::{self, Opened, SessionSecret, passwords};
use crate::state::AppState;

/// A person, as the API shows them (never a password hash).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserView {
    #[schema(value_type = String, format = Uuid)]
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) name: String,
    /// Whether the user has a password (one who signs in only through the organisation's
    /// identity provider has none).
    pub(crate) has_password: bool,
    pub(crate) disabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub(crate) created_at: Timestamp,
}

pub(crate) fn user_view(user: &User) -> UserView {
    UserView {
        id: user.id.to_string(),
        email: user.email.clone(),
        name: user.name.clone(),
        has_password: user.password_hash.is_some(),
        disabled: !user.is_enabled(),
        created_at: user.created_at,
    }
}

/// Signing in with a password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    /// The browser's IANA time zone (`Europe/Paris`), for showing times; UTC when absent or
    /// unknown.
    #[serde(default)]
    time_zone: Option<String>,
    /// The workspace to sign in to; the user's first when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    workspace_id: Option<WorkspaceId>,
}

/// An opened session. The token is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionView {
    /// The session's secret (`tps_…`): send it as `Authorization: Bearer`. The dashboard keeps
    /// it in an HTTP-only cookie.
    token: String,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
    user: UserView,
    #[schema(value_type = String, format = Uuid)]
    workspace_id: WorkspaceId,
    /// `owner`, `editor` or `reviewer`.
    role: String,
}

fn session_view(opened: &Opened) -> SessionView {
    SessionView {
        token: opened.secret.expose_secret().to_owned(),
        expires_at: opened.expires_at,
        user: user_view(&opened.user),
        workspace_id: opened.workspace_id,
        role: opened.role.as_str().to_owned(),
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::refused(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the email or the password is wrong (or the user is disabled)",
    )
}

/// Signs in with an email and a password.
#[utoipa::path(post, path = "/v1/sessions", tag = "people",
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in; the token is shown this once", body = SessionView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "Wrong email or password, or a disabled user", body = ErrorBody),
        (status = 403, description = "The user belongs to no workspace (or not to the one asked)", body = ErrorBody),
        (status = 422, description = "An email or password that cannot be one: code, field, limit, measured", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins for this email; says when to try again", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked at once (`overloaded`); try again in a few seconds", body = ErrorBody),
    ))]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SignIn>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let email = people::normalize_email(&request.email, "email")?;
    people::passwords::check(&request.password, "password").map_err(|_| invalid_credentials())?;
    // A disabled user is checked against the decoy: refused, and counted, like a stranger.
    let user = state
        .people()
        .user_by_email(&email)
        .await?
        .filter(User::is_enabled);
    let hash = user.as_ref().and_then(|user| user.password_hash.clone());
    let matches = people::attempt(&state, &email, request.password, hash).await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(invalid_credentials());
    };
    state.invitations().clear_sign_in_failures(&email).await?;
    let opened = people::open_session(
        &state,
        user,
        request.workspace_id,
        request.time_zone.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(session_view(&opened))))
}

/// The session secret of a request signed in as a person.
pub(crate) struct CurrentSession(SessionSecret);

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        bearer(parts)
            .and_then(SessionSecret::parse)
            .map(Self)
            .ok_or(ApiError::Unauthorized)
    }
}

/// Signs out: the session's token stops working at once.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "people",
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Signed out (also when the session had ended already)"),
        (status = 401, description = "No session token", body = ErrorBody),
    ))]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    CurrentSession(secret): CurrentSession,
) -> Result<StatusCode, ApiError> {
    state.people().close_session(&secret.hash()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who is calling.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeView {
    #[schema(value_type = String, format = Uuid)]
    workspace_id: WorkspaceId,
    workspace_name: String,
    /// `user` (a person's session) or `api_key`.
    kind: &'static str,
    /// The person, for a session.
    user: Option<UserView>,
    /// The key's id, for an API key.
    #[schema(value_type = Option<String>, format = Uuid)]
    api_key_id: Option<String>,
    role: String,
    /// Every action this role may take (`read`, `compose`, `review`, `manage_team`, …).
    may: Vec<&'static str>,
}

/// The caller: workspace, person or key, role and what it may do.
#[utoipa::path(get, path = "/v1/me", tag = "people",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The caller", body = MeView),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
    ))]
pub(crate) async fn me(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<MeView>, ApiError> {
    let workspace = state
        .workspaces()
        .workspace(auth.workspace_id)
        .await?
        .ok_or(ApiError::NotFound("workspace"))?;
    let user = match auth.principal {
        Principal::User(id) => state.people().user(id).await?.as_ref().map(user_view),
        _ => None,
    };
    Ok(Json(MeView {
        workspace_id: auth.workspace_id,
        workspace_name: workspace.name,
        kind: auth.principal.kind(),
        user,
        api_key_id: match auth.principal {
            Principal::ApiKey(id) => Some(id.to_string()),
            _ => None,
        },
        role: auth.role.as_str().to_owned(),
        may: Action::ALL
            .into_iter()
            .filter(|action| auth.role.may(*action))
            .map(Action::as_str)
            .collect(),
    }))
}

/// A link's secret, to look at or take.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkToken {
    /// The secret from the link (`tpi_…`, `tpr_…` or `tpl_…`).
    pub(crate) token: String,
}

/// What an invitation link offers, before it is accepted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationPreview {
    email: String,
    workspace_name: String,
    role: String,
    /// Whether a user with this email exists (they confirm with their password instead of
    /// choosing one).
    existing_user: bool,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

pub(crate) fn closed_link(what: &'static str) -> ApiError {
    ApiError::refused(
        StatusCode::GONE,
        "link_closed",
        format!("this {what} link is unknown, used, revoked or expired; ask for a new one"),
    )
}

/// What an invitation link is for (no credential: the link is the credential).
#[utoipa::path(post, path = "/v1/invitations/preview", tag = "people",
    request_body = LinkToken,
    responses(
        (status = 200, description = "The open invitation", body = InvitationPreview),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 410, description = "Unknown, used, revoked or expired", body = ErrorBody),
    ))]
pub(crate) async fn preview_invitation(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<LinkToken>,
) -> Result<Json<InvitationPreview>, ApiError> {
    let invitation = state
        .invitations()
        .invitation_by_hash(&crate::auth::hash_key(request.token.trim()))
        .await?
        .filter(|invitation| invitation.is_open(state.now()))
        .ok_or_else(|| closed_link("invitation"))?;
    let workspace = state
        .workspaces()
        .workspace(invitation.workspace_id)
        .await?
        .ok_or_else(|| closed_link("invitation"))?;
    let existing_user = state
        .people()
        .user_by_email(&invitation.email)
        .await?
        .is_some();
    Ok(Json(InvitationPreview {
        email: invitation.email,
        workspace_name: workspace.name,
        role: invitation.role.as_str().to_owned(),
        existing_user,
        expires_at: invitation.expires_at,
    }))
}

/// Accepting an invitation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptInvitation {
    token: String,
    /// The new user's name (ignored for an existing user).
    #[serde(default)]
    name: Option<String>,
    /// A new user's password, or an existing user's current one.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    #[serde(default)]
    time_zone: Option<String>,
}

/// Accepts an invitation: a new user chooses a name and a password; an existing user confirms
/// with theirs. Either way the user joins the workspace with the invited role and is signed in.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "people",
    request_body = AcceptInvitation,
    responses(
        (status = 201, description = "Joined and signed in; the token is shown this once", body = SessionView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "An existing user's password is wrong", body = ErrorBody),
        (status = 403, description = "The invited email belongs to a disabled user", body = ErrorBody),
        (status = 410, description = "Unknown, used, revoked or expired", body = ErrorBody),
        (status = 422, description = "A missing name, a password too short or too long", body = ErrorBody),
        (status = 429, description = "Too many failed attempts for this email", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked at once (`overloaded`); try again in a few seconds", body = ErrorBody),
    ))]
pub(crate) async fn accept_invitation(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<AcceptInvitation>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let hash = crate::auth::hash_key(request.token.trim());
    let now = state.now();
    let invitation = state
        .invitations()
        .invitation_by_hash(&hash)
        .await?
        .filter(|invitation| invitation.is_open(now))
        .ok_or_else(|| closed_link("invitation"))?;
    let existing = state.people().user_by_email(&invitation.email).await?;
    let (name, password) = match &existing {
        Some(user) => {
            let hash = user.password_hash.clone();
            if !people::attempt(&state, &user.email, request.password, hash).await? {
                return Err(invalid_credentials());
            }
            (user.name.clone(), None)
        }
        None => {
            let name = people::normalize_name(request.name.as_deref().unwrap_or(""), "name")?;
            passwords::check(&request.password, "password")?;
            (name, Some(passwords::hash(request.password).await?))
        }
    };
    let accepted = state
        .invitations()
        .accept_invitation(&hash, &name, password, now)
        .await?;
    let (user, invitation) = match accepted {
        Accepted::Joined { user, invitation } => (*user, *invitation),
        Accepted::Closed => return Err(closed_link("invitation")),
        Accepted::UserDisabled => {
            return Err(ApiError::refused(
                StatusCode::FORBIDDEN,
                "user_disabled",
                "the invited email belongs to a disabled user; ask an owner to enable them",
            ));
        }
    };
    let opened = people::open_session(
        &state,
        user,
        Some(invitation.workspace_id),
        request.time_zone.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(session_view(&opened))))
}

/// Setting a new password with a reset link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteReset {
    token: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Sets a new password with a reset link (single use). Every session of the user ends.
#[utoipa::path(post, path = "/v1/password-resets/complete", tag = "people",
    request_body = CompleteReset,
    responses(
        (status = 204, description = "The password is set; sign in with it"),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 410, description = "Unknown, used or expired", body = ErrorBody),
        (status = 422, description = "A password too short or too long", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked at once (`overloaded`); try again in a few seconds", body = ErrorBody),
    ))]
pub(crate) async fn complete_reset(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CompleteReset>,
) -> Result<StatusCode, ApiError> {
    let hash = crate::auth::hash_key(request.token.trim());
    let now = state.now();
    state
        .invitations()
        .password_reset(&hash, now)
        .await?
        .ok_or_else(|| closed_link("password reset"))?;
    passwords::check(&request.password, "password")?;
    let password = passwords::hash(request.password).await?;
    let user = state
        .invitations()
        .use_password_reset(&hash, password, now)
        .await?
        .ok_or_else(|| closed_link("password reset"))?;
    if let Some(user) = state.people().user(user).await? {
        state
            .invitations()
            .clear_sign_in_failures(&user.email)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The role named in a request, or a 422 listing the roles.
pub(crate) fn parse_role(name: &str, field: &str) -> Result<Role, ApiError> {
    Role::parse(name.trim()).ok_or_else(|| {
        ApiError::unprocessable(
            "unknown_role",
            field,
            format!("{name:?} is not a role"),
            serde_json::json!(Role::ALL.map(Role::as_str)),
            serde_json::json!(name),
        )
    })
}

/// Asking for a password-reset link by email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForgotPassword {
    email: String,
}

/// At most this many reset links are emailed to one user an hour.
const RESETS_PER_HOUR: u32 = 3;

/// Emails a single-use password-reset link (valid one hour) when the email belongs to an
/// enabled user. The answer is the same whether it does or not, so nobody learns who has an
/// account; at most three links an hour go to one user.
#[utoipa::path(post, path = "/v1/password-resets", tag = "people",
    request_body = ForgotPassword,
    responses(
        (status = 202, description = "If the email belongs to someone here, a link is on its way"),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 422, description = "Not an email address, or email is not configured on this server (`email_unavailable`: ask an owner for a reset link)", body = ErrorBody),
    ))]
pub(crate) async fn forgot_password(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ForgotPassword>,
) -> Result<StatusCode, ApiError> {
    let email = people::normalize_email(&request.email, "email")?;
    let Some(mailer) = &state.settings.mailer else {
        return Err(ApiError::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email_unavailable",
            "this server sends no email; ask an owner of your workspace for a reset link (Team page)",
        ));
    };
    let Some(user) = state
        .people()
        .user_by_email(&email)
        .await?
        .filter(User::is_enabled)
    else {
        return Ok(StatusCode::ACCEPTED);
    };
    let now = state.now();
    let recent = state
        .invitations()
        .password_resets_since(
            user.id,
            clock::sub(now, std::time::Duration::from_secs(3_600)),
        )
        .await?;
    if recent >= RESETS_PER_HOUR {
        tracing::info!(user = %user.id, "password-reset email held back: three this hour already");
        return Ok(StatusCode::ACCEPTED);
    }
    let (secret, hash) = people::link_secret("tpr_");
    let expires_at = clock::add(now, people::RESET_LIFETIME);
    state
        .invitations()
        .create_password_reset(user.id, &hash, expires_at, now)
        .await?;
    let link = state.link(&format!("reset/{secret}"));
    if let Err(error) = mailer
        .send(
            &user.email,
            "Your tokpost password-reset link",
            &format!(
                "Someone (hopefully you) asked to reset the password of {email} on tokpost.\n\n\
                 Open this link to choose a new one (it works once, until {expires_at}):\n{link}\n\n\
                 If it was not you, ignore this message: your password stays as it is.\n",
                email = user.email,
            ),
        )
        .await
    {
        tracing::warn!(%error, "a password-reset link could not be emailed");
    }
    Ok(StatusCode::ACCEPTED)
}

/// A new password for the signed-in person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePassword {
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    #[schema(value_type = String, format = Password)]
    new_password: SecretString,
}

/// Changes the signed-in person's password. Every session of theirs ends (a stolen one too);
/// the answer opens a new one for the browser that asked.
#[utoipa::path(post, path = "/v1/me/password", tag = "people",
    security(("api_key" = [])),
    request_body = ChangePassword,
    responses(
        (status = 201, description = "Changed; the new session's token is shown this once", body = SessionView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No session, or the current password is wrong", body = ErrorBody),
        (status = 422, description = "A new password too short or too long", body = ErrorBody),
        (status = 429, description = "Too many failed attempts for this email", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked at once (`overloaded`); try again in a few seconds", body = ErrorBody),
    ))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    CurrentSession(secret): CurrentSession,
    JsonBody(request): JsonBody<ChangePassword>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let now = state.now();
    let session = state
        .people()
        .session(&secret.hash(), now)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let user = session.user;
    let hash = user.password_hash.clone();
    if !people::attempt(&state, &user.email, request.current_password, hash).await? {
        return Err(ApiError::Refused {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_credentials",
            message: "the current password is wrong".to_owned(),
            field: Some("current_password".to_owned()),
            limit: None,
            measured: None,
        });
    }
    passwords::check(&request.new_password, "new_password")?;
    let hash = passwords::hash(request.new_password).await?;
    if !state.people().set_password(user.id, hash).await? {
        return Err(ApiError::Unauthorized);
    }
    let opened = people::open_session(
        &state,
        user,
        Some(session.workspace_id),
        Some(&session.time_zone),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(session_view(&opened))))
}
