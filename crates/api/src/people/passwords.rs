//! Passwords: checked for length, hashed with argon2id (OWASP's parameters: 19 MiB, two passes,
//! one lane; a random salt per hash) and verified in constant time, on the blocking pool and at
//! most [`AT_ONCE`] at a time, with at most [`WAITING`] more waiting their turn: a flood of
//! sign-ins costs bounded memory and cores, and the sign-in beyond that is answered 503
//! `overloaded` at once instead of holding a request slot the rest of the API needs.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use tokio::sync::Semaphore;
use tokpost_store::PasswordHash;

use crate::error::ApiError;

/// The shortest password accepted (NIST SP 800-63B asks at least 8; a passphrase is better).
pub const MIN_CHARS: usize = 12;
/// The longest password accepted (hashing cost does not grow with it, but bodies stay small).
pub const MAX_CHARS: usize = 256;
/// Hashes computed at once; the rest wait their turn.
const AT_ONCE: usize = 2;
/// Hashes waiting for a turn; one more is refused.
const WAITING: usize = 32;

static HASHING: Semaphore = Semaphore::const_new(AT_ONCE);
/// Admission: a turn computing or waiting.
static ADMITTED: Semaphore = Semaphore::const_new(AT_ONCE + WAITING);

/// Runs `work` on the blocking pool in its turn, or refuses when too many wait already.
async fn in_turn<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _admitted = ADMITTED.try_acquire().map_err(|_| overloaded())?;
    let _turn = HASHING.acquire().await.map_err(|_| unavailable())?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| unavailable())
}

fn overloaded() -> ApiError {
    ApiError::refused(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "too many sign-ins are being checked at once; try again in a few seconds",
    )
}

/// Refuses a password shorter than [`MIN_CHARS`] or longer than [`MAX_CHARS`], naming `field`.
pub fn check(password: &SecretString, field: &str) -> Result<(), ApiError> {
    let chars = password.expose_secret().chars().count();
    let (code, limit, message) = if chars < MIN_CHARS {
        (
            "too_short",
            MIN_CHARS,
            format!("the password has {chars} characters; it needs at least {MIN_CHARS}"),
        )
    } else if chars > MAX_CHARS {
        (
            "too_long",
            MAX_CHARS,
            format!("the password has {chars} characters; the limit is {MAX_CHARS}"),
        )
    } else {
        return Ok(());
    };
    Err(ApiError::unprocessable(
        code,
        field,
        message,
        json!(limit),
        json!(chars),
    ))
}

fn unavailable() -> ApiError {
    ApiError::refused(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the password could not be hashed now (the process is shutting down); try again",
    )
}

/// The argon2id hash of `password` (checked with [`check`] first by the caller).
///
/// # Errors
/// 503 `overloaded` when too many wait already, or the blocking pool is gone (shutting down).
pub async fn hash(password: SecretString) -> Result<PasswordHash, ApiError> {
    in_turn(move || {
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|hash| PasswordHash(hash.to_string()))
            .map_err(|_| unavailable())
    })
    .await?
}

/// A hash of nothing anyone knows, verified when there is no user (or no password), so that
/// an unknown email takes as long to refuse as a wrong password.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$dG9rcG9zdC1kZWNveS1zYWx0$\
                     FBPf0JYcfgUYi/sgZ8Pl3ALpUmvVPjL8EP7dCEwnWLQ";

/// Whether `password` matches `hash`; always spends one verification.
///
/// # Errors
/// 503 `overloaded` when too many verifications wait already.
pub async fn verify(password: SecretString, hash: Option<PasswordHash>) -> Result<bool, ApiError> {
    in_turn(move || {
        let known = hash.is_some();
        let stored = hash.map_or_else(|| DECOY.to_owned(), |hash| hash.0);
        let Ok(parsed) = Phc::new(&stored) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        matches && known
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hashed = hash(SecretString::from("correct horse battery"))
            .await
            .unwrap();
        assert!(
            hashed.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hashed.0
        );
        assert!(
            verify(
                SecretString::from("correct horse battery"),
                Some(hashed.clone())
            )
            .await
            .unwrap()
        );
        assert!(
            !verify(SecretString::from("correct horse batterY"), Some(hashed))
                .await
                .unwrap()
        );
        assert!(
            !verify(SecretString::from("anything at all"), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_sign_in_beyond_the_waiting_room_is_refused_at_once() {
        let held = ADMITTED
            .acquire_many(u32::try_from(AT_ONCE + WAITING).unwrap())
            .await
            .unwrap();
        let refused = verify(SecretString::from("a long enough passphrase"), None)
            .await
            .unwrap_err();
        assert_eq!(
            refused.status(),
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(refused.detail().code, "overloaded");
        drop(held);
        assert!(
            !verify(SecretString::from("a long enough passphrase"), None)
                .await
                .unwrap()
        );
    }

    #[test]
    fn the_decoy_parses_so_an_unknown_email_costs_a_full_verification() {
        assert!(Phc::new(DECOY).is_ok());
    }

    #[test]
    fn length_is_checked_with_the_measured_value() {
        let short = check(&SecretString::from("short"), "password").unwrap_err();
        let detail = short.detail();
        assert_eq!(detail.code, "too_short");
        assert_eq!(detail.field.as_deref(), Some("password"));
        assert_eq!(detail.measured, Some(json!(5)));
        assert!(check(&SecretString::from("x".repeat(MAX_CHARS + 1)), "password").is_err());
        assert!(check(&SecretString::from("a fine passphrase"), "password").is_ok());
    }
}
