//! People's credentials: passwords and session secrets, and what signing in checks.
//!
//! - [`passwords`]: the length rule, argon2id hashing and constant-time verification.
//! - [`sessions`]: the `tps_…` secrets a browser holds, their stored hash, their form token.
//! - Here: the sign-in rules every way in shares (a password, an accepted invitation, a reset),
//!   so that a session is opened in one place: emails normalised, failures rate-limited per
//!   email, a session bound to one workspace the user belongs to.

pub mod oidc;
pub mod passwords;
pub mod sessions;

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;
use tokpost_core::{Role, WorkspaceId};
use tokpost_store::{NewSession, User};

pub use sessions::SessionSecret;

use crate::error::ApiError;
use crate::state::AppState;

/// How long a session lasts before its user signs in again.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// How long an invitation link stays usable.
pub const INVITATION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// How long a password-reset link stays usable.
pub const RESET_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Failed sign-ins for one email within [`FAILURE_WINDOW`] after which signing in is refused
/// until the oldest of them leaves the window.
pub const MAX_FAILURES: u32 = 5;
/// The window over which failed sign-ins are counted.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The longest name accepted.
pub const MAX_NAME_CHARS: usize = 100;

/// An email as tokpost stores and compares it: trimmed and lowercased, checked for shape and
/// length (`field` names it in a refusal).
///
/// # Errors
/// 422 `invalid_email` or `too_long`.
pub fn normalize_email(email: &str, field: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let chars = email.chars().count();
    if chars > MAX_EMAIL_CHARS {
        return Err(ApiError::unprocessable(
            "too_long",
            field,
            format!("the email has {chars} characters; the limit is {MAX_EMAIL_CHARS}"),
            json!(MAX_EMAIL_CHARS),
            json!(chars),
        ));
    }
    let shaped = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !email.chars().any(char::is_whitespace)
    });
    if !shaped {
        return Err(ApiError::unprocessable(
            "invalid_email",
            field,
            "this is not an email address (name@example.com)",
            json!("name@domain"),
            json!(email),
        ));
    }
    Ok(email)
}

/// A person's name: trimmed, not empty, at most [`MAX_NAME_CHARS`].
///
/// # Errors
/// 422 `required` or `too_long`.
pub fn normalize_name(name: &str, field: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ApiError::unprocessable(
            if chars == 0 { "required" } else { "too_long" },
            field,
            if chars == 0 {
                "a name is required".to_owned()
            } else {
                format!("the name has {chars} characters; the limit is {MAX_NAME_CHARS}")
            },
            json!(MAX_NAME_CHARS),
            json!(chars),
        ));
    }
    Ok(name.to_owned())
}

/// Refuses (429) an email with [`MAX_FAILURES`] failed sign-ins in the window.
///
/// # Errors
/// 429 `too_many_attempts`, or a store failure.
pub async fn check_attempts(state: &AppState, email: &str) -> Result<(), ApiError> {
    let now = state.now();
    let since = clock::sub(now, FAILURE_WINDOW);
    let (failures, oldest) = state.invitations().sign_in_failures(email, since).await?;
    if failures < MAX_FAILURES {
        return Ok(());
    }
    let free_at = oldest.map_or(now, |oldest| clock::add(oldest, FAILURE_WINDOW));
    let wait = free_at.duration_since(now).as_secs().max(1);
    Err(ApiError::Refused {
        status: axum::http::StatusCode::TOO_MANY_REQUESTS,
        code: "too_many_attempts",
        message: format!(
            "{failures} failed sign-ins for this email in the last {} minutes; try again in {} \
             minute(s), or ask an owner for a password-reset link",
            FAILURE_WINDOW.as_secs() / 60,
            (wait + 59) / 60
        ),
        field: Some("email".to_owned()),
        limit: Some(json!(MAX_FAILURES)),
        measured: Some(json!(failures)),
    })
}

/// Checks `password` against `hash` for `email` the way every sign-in does: refused (429) when
/// the email has had [`MAX_FAILURES`] failures in the window, one more failure recorded on a
/// mismatch. Always spends one verification (`None` verifies a decoy and never matches).
///
/// # Errors
/// 429 `too_many_attempts`, 503 `overloaded`, or a store failure.
pub async fn attempt(
    state: &AppState,
    email: &str,
    password: secrecy::SecretString,
    hash: Option<tokpost_store::PasswordHash>,
) -> Result<bool, ApiError> {
    check_attempts(state, email).await?;
    let matches = passwords::verify(password, hash).await?;
    if !matches {
        let now = state.now();
        state
            .invitations()
            .record_sign_in_failure(email, clock::sub(now, FAILURE_WINDOW), now)
            .await?;
    }
    Ok(matches)
}

/// An opened session: the secret for the browser, and what it is for.
#[derive(Debug, Clone)]
pub struct Opened {
    pub secret: SessionSecret,
    pub user: User,
    pub workspace_id: WorkspaceId,
    pub role: Role,
    pub expires_at: Timestamp,
}

/// Opens a session for `user` in `workspace` (or their first workspace).
///
/// # Errors
/// 403 `no_workspace` when the user belongs to none (or not to `workspace`).
pub async fn open_session(
    state: &AppState,
    user: User,
    workspace: Option<WorkspaceId>,
    time_zone: Option<&str>,
) -> Result<Opened, ApiError> {
    let memberships = state.people().memberships(user.id).await?;
    let chosen = match workspace {
        Some(wanted) => memberships.into_iter().find(|(id, _)| *id == wanted),
        None => memberships.into_iter().next(),
    };
    let Some((workspace_id, role)) = chosen else {
        return Err(ApiError::refused(
            axum::http::StatusCode::FORBIDDEN,
            "no_workspace",
            "this user is not a member of the workspace; ask one of its owners for an invitation",
        ));
    };
    let now = state.now();
    let zone = time_zone
        .map(str::trim)
        .filter(|zone| TimeZone::get(zone).is_ok())
        .unwrap_or("UTC");
    let secret = SessionSecret::generate();
    let expires_at = clock::add(now, SESSION_LIFETIME);
    state
        .people()
        .open_session(
            NewSession {
                secret_hash: secret.hash(),
                user_id: user.id,
                workspace_id,
                time_zone: zone.to_owned(),
                expires_at,
            },
            now,
        )
        .await?;
    Ok(Opened {
        secret,
        user,
        workspace_id,
        role,
        expires_at,
    })
}

/// The secret of a link (`tpi_…` for invitations, `tpr_…` for resets) and its stored hash.
#[must_use]
pub fn link_secret(prefix: &str) -> (String, String) {
    let random: [u8; 32] = rand::random();
    let secret = format!("{prefix}{}", hex::encode(random));
    let hash = crate::auth::hash_key(&secret);
    (secret, hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("  Ana@Example.COM ", Some("ana@example.com"))]
    #[case("ana@example", Some("ana@example"))]
    #[case("ana", None)]
    #[case("@example.com", None)]
    #[case("ana@", None)]
    #[case("a na@example.com", None)]
    #[case("a@b@c", None)]
    fn emails_are_normalised_or_refused(#[case] given: &str, #[case] expected: Option<&str>) {
        assert_eq!(normalize_email(given, "email").ok().as_deref(), expected);
    }

    #[test]
    fn a_long_email_is_refused_with_its_length() {
        let email = format!("{}@example.com", "a".repeat(250));
        let detail = normalize_email(&email, "email").unwrap_err().detail();
        assert_eq!(detail.code, "too_long");
        assert_eq!(detail.measured, Some(json!(262)));
    }
}
