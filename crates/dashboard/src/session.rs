//! Sessions: a random id in an HTTP-only, SameSite=Strict cookie, mapped in memory to the
//! workspace, the API key it was opened with (kept server-side only, to call the API in-process),
//! the per-session CSRF token and an expiry on the injected clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use secrecy::SecretString;
use tokpost_core::WorkspaceId;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "tokpost_session";
/// The sign-in form's double-submit cookie (there is no session yet to bind a token to).
pub(crate) const SIGN_IN_COOKIE: &str = "tokpost_sign_in";
/// How long a session lives without signing in again.
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// One signed-in browser.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) workspace_id: WorkspaceId,
    pub(crate) api_key: SecretString,
    pub(crate) csrf_token: String,
    pub(crate) time_zone: TimeZone,
    pub(crate) expires_at: Timestamp,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("workspace_id", &self.workspace_id)
            .field("api_key", &"[REDACTED]")
            .field("csrf_token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Every open session of this process. Restarting the process signs everybody out, which is
/// the price of never writing a session secret to disk.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sessions {
    by_id: Arc<Mutex<HashMap<String, Session>>>,
}

/// 32 random bytes as hex: session ids and CSRF tokens.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

impl Sessions {
    /// Opens a session; returns its id (the cookie's value).
    pub(crate) fn open(&self, session: Session, now: Timestamp) -> String {
        let id = random_token();
        if let Ok(mut map) = self.by_id.lock() {
            map.retain(|_, s| s.expires_at > now);
            map.insert(id.clone(), session);
        }
        id
    }

    /// The live session of `id`, if any.
    pub(crate) fn get(&self, id: &str, now: Timestamp) -> Option<Session> {
        let map = self.by_id.lock().ok()?;
        map.get(id).filter(|s| s.expires_at > now).cloned()
    }

    /// Ends a session.
    pub(crate) fn close(&self, id: &str) {
        if let Ok(mut map) = self.by_id.lock() {
            map.remove(id);
        }
    }
}

/// The value of cookie `name` in the request.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value for a cookie scripts cannot read and other sites never send; `secure`
/// (tokpost is reached over HTTPS) also keeps it off plain HTTP.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that deletes the cookie.
pub(crate) fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Compares two tokens in time that depends only on their lengths, so that a forged token
/// cannot be guessed byte by byte from response times.
pub(crate) fn tokens_match(expected: &str, given: &str) -> bool {
    let (expected, given) = (expected.as_bytes(), given.as_bytes());
    if expected.len() != given.len() || expected.is_empty() {
        return false;
    }
    expected
        .iter()
        .zip(given)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use rstest::rstest;

    #[rstest]
    #[case("abc", "abc", true)]
    #[case("abc", "abd", false)]
    #[case("abc", "ab", false)]
    #[case("", "", false)]
    fn tokens_match_only_when_equal_and_not_empty(
        #[case] expected: &str,
        #[case] given: &str,
        #[case] matches: bool,
    ) {
        assert_eq!(tokens_match(expected, given), matches);
    }

    #[rstest]
    #[case(true, true)]
    #[case(false, false)]
    fn a_cookie_is_secure_when_tokpost_is_reached_over_https(
        #[case] secure: bool,
        #[case] flagged: bool,
    ) {
        let header = set_cookie(SESSION_COOKIE, "id", Duration::from_secs(60), secure);
        assert!(header.contains("HttpOnly; SameSite=Strict"));
        assert_eq!(header.ends_with("; Secure"), flagged);
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; tokpost_session=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn an_expired_session_is_gone() {
        let sessions = Sessions::default();
        let now = Timestamp::from_second(1_000_000).unwrap();
        let id = sessions.open(
            Session {
                workspace_id: "018f0000-0000-7000-8000-000000000000".parse().unwrap(),
                api_key: SecretString::from("tp_secret".to_owned()),
                csrf_token: random_token(),
                time_zone: TimeZone::UTC,
                expires_at: clock::add(now, Duration::from_secs(60)),
            },
            now,
        );
        assert!(sessions.get(&id, now).is_some());
        assert!(
            sessions
                .get(&id, clock::add(now, Duration::from_secs(61)))
                .is_none()
        );
        let debug = format!("{:?}", sessions.get(&id, now).unwrap());
        assert!(!debug.contains("tp_secret"), "{debug}");
    }
}
