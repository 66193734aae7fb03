//! The session cookie and the forms' tokens. A session is opened by the API (`POST
//! /v1/sessions`); its secret lives in an HTTP-only, SameSite=Strict cookie and in the database
//! only as a hash (`tokpost_api::people`), so every process sees the same sessions and a
//! disabled user, a changed role or a new password ends them at once. A session's form token is
//! derived from its secret.

use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The session cookie's name. Its value is the session's secret (`tps_…`), which the database
/// knows only by its hash.
pub(crate) const SESSION_COOKIE: &str = "tokpost_session";
/// The double-submit cookie of the forms shown before there is a session (sign-in, an
/// invitation, a password reset): there is no session yet to bind a token to.
pub(crate) const SIGN_IN_COOKIE: &str = "tokpost_sign_in";

/// The state of a sign-in at the OpenID Connect provider, in the browser that started it. It
/// must reach the callback, a top-level navigation from the provider's site: `SameSite=Lax`.
pub(crate) const OIDC_STATE_COOKIE: &str = "tokpost_oidc";

/// 32 random bytes as hex: the signed-out forms' tokens.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
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

/// A `Set-Cookie` value for the sign-in state: sent back only to the callback, on the
/// provider's redirect (a top-level GET from another site), for `max_age`.
pub(crate) fn set_oidc_state_cookie(value: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{OIDC_STATE_COOKIE}={value}; Path=/sign-in/oidc; HttpOnly; SameSite=Lax; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that deletes the sign-in state.
pub(crate) fn clear_oidc_state_cookie() -> String {
    format!("{OIDC_STATE_COOKIE}=; Path=/sign-in/oidc; HttpOnly; SameSite=Lax; Max-Age=0")
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
}
