//! Login Kit v2 (tiktok-api.md §2): the consent-page URL, PKCE the way TikTok wants it, the
//! callback, and the token endpoint (code exchange, refresh, revoke).
//!
//! Token lifetimes are returned as TikTok states them; nothing here assumes 24 h or 2 h, and
//! nothing stores a token. OAuth failures are recognised by the body (`error`), also when the
//! HTTP status is 200.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use crate::client::TikTokClient;
use crate::config::ConfigError;
use crate::failure::{self, AnswerShape, TikTokFailure};
use crate::wire::{AccessToken, RefreshToken, Scope, TokenGrant, TokenGrantWire};

const TOKEN_PATH: &str = "v2/oauth/token/";
const REVOKE_PATH: &str = "v2/oauth/revoke/";

/// The characters RFC 7636 allows in a verifier.
const VERIFIER_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
/// Length of generated verifiers (the allowed range is 43–128).
const GENERATED_VERIFIER_LEN: usize = 64;

/// A PKCE code verifier: 43–128 characters from `[A-Za-z0-9-._~]`, fresh per authorization.
/// `Debug` never shows it.
#[derive(Clone)]
pub struct PkceVerifier(SecretString);

/// Why a string is not a valid PKCE verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkceError {
    /// Outside 43–128 characters.
    #[error("a PKCE verifier has 43 to 128 characters, this one has {0}")]
    Length(usize),
    /// A character outside `[A-Za-z0-9-._~]`.
    #[error("a PKCE verifier may only use A-Z, a-z, 0-9, '-', '.', '_' and '~'")]
    Alphabet,
}

impl PkceVerifier {
    /// A fresh random verifier from the operating system's CSPRNG-seeded generator.
    #[must_use]
    pub fn generate() -> Self {
        let verifier: String = (0..GENERATED_VERIFIER_LEN)
            .map(|_| {
                let index = rand::random_range(0..VERIFIER_ALPHABET.len());
                VERIFIER_ALPHABET
                    .get(index)
                    .map_or('~', |&byte| char::from(byte))
            })
            .collect();
        Self(SecretString::from(verifier))
    }

    /// Accepts a verifier (for example one stored between the redirect and the callback).
    ///
    /// # Errors
    /// When the verifier breaks RFC 7636's length or alphabet rules.
    pub fn new(verifier: impl Into<String>) -> Result<Self, PkceError> {
        let verifier = verifier.into();
        if !(43..=128).contains(&verifier.len()) {
            return Err(PkceError::Length(verifier.len()));
        }
        if !verifier.bytes().all(|b| VERIFIER_ALPHABET.contains(&b)) {
            return Err(PkceError::Alphabet);
        }
        Ok(Self(SecretString::from(verifier)))
    }

    /// The verifier itself, to store until the callback and to send to the token endpoint.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// TikTok's challenge for this verifier: lowercase hex of SHA-256 (not RFC 7636's
    /// base64url; TikTok's desktop guide requires hex).
    #[must_use]
    pub fn challenge(&self) -> PkceChallenge {
        PkceChallenge(hex::encode(Sha256::digest(self.expose_secret().as_bytes())))
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([REDACTED])")
    }
}

/// A PKCE challenge in TikTok's form: 64 lowercase hex characters, method `S256`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkceChallenge(String);

impl PkceChallenge {
    /// The challenge as sent in `code_challenge`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the consent-page URL asks for.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest<'a> {
    /// Scopes to request (sent comma-separated).
    pub scopes: &'a [Scope],
    /// Anti-CSRF value echoed back on the callback.
    pub state: &'a str,
    /// `Some(true)` always shows the consent page (lets users switch accounts); `Some(false)`
    /// lets TikTok skip it for an existing grant; `None` leaves the parameter out.
    pub disable_auto_auth: Option<bool>,
    /// The PKCE challenge (required by TikTok for desktop apps).
    pub pkce: Option<&'a PkceChallenge>,
}

/// A successful authorization callback.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCallback {
    /// The authorization code, already URL-decoded.
    pub code: String,
    /// The state to compare with the one sent.
    pub state: String,
    /// The scopes the user granted (`scopes`, plural, on the callback).
    pub scopes: Vec<Scope>,
}

impl fmt::Debug for AuthorizationCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCallback")
            .field("code", &"[REDACTED]")
            .field("state", &self.state)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Why a callback does not carry a usable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// TikTok reported an error (`access_denied`, …), classified by the catalog.
    #[error("authorization failed: {0}")]
    Refused(TikTokFailure),
    /// A required parameter is missing.
    #[error("the callback has no `{0}` parameter")]
    Missing(&'static str),
}

impl AuthorizationCallback {
    /// Parses the callback's query string (`code`, `state`, `scopes`, or `error`,
    /// `error_description`).
    ///
    /// # Errors
    /// [`CallbackError::Refused`] when TikTok sent `error`; [`CallbackError::Missing`] when
    /// `code` or `state` is absent.
    pub fn from_query(query: &str) -> Result<Self, CallbackError> {
        let mut code = None;
        let mut state = None;
        let mut scopes = Vec::new();
        let mut error = None;
        let mut error_description = None;
        for (key, value) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            match key.as_ref() {
                "code" => code = Some(value.into_owned()),
                "state" => state = Some(value.into_owned()),
                "scopes" => scopes = Scope::parse_list(&value),
                "error" => error = Some(value.into_owned()),
                "error_description" => error_description = Some(value.into_owned()),
                _ => {}
            }
        }
        if let Some(error) = error.filter(|e| !e.is_empty()) {
            return Err(CallbackError::Refused(TikTokFailure::from_oauth_callback(
                &error,
                error_description.as_deref(),
                query,
            )));
        }
        Ok(Self {
            code: code.ok_or(CallbackError::Missing("code"))?,
            state: state.ok_or(CallbackError::Missing("state"))?,
            scopes,
        })
    }
}

impl TikTokClient {
    /// The consent-page URL to send the user's browser to.
    ///
    /// # Errors
    /// When the configured authorize base URL cannot take a path.
    pub fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ConfigError> {
        let mut url = self.config.authorize_url()?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("client_key", &self.config.client_key)
                .append_pair("scope", &Scope::join(request.scopes))
                .append_pair("redirect_uri", &self.config.redirect_uri)
                .append_pair("state", request.state)
                .append_pair("response_type", "code");
            if let Some(disable) = request.disable_auto_auth {
                query.append_pair("disable_auto_auth", if disable { "1" } else { "0" });
            }
            if let Some(challenge) = request.pkce {
                query
                    .append_pair("code_challenge", challenge.as_str())
                    .append_pair("code_challenge_method", "S256");
            }
        }
        Ok(url)
    }

    /// Exchanges an authorization code for tokens (`grant_type=authorization_code`).
    ///
    /// # Errors
    /// A classified [`TikTokFailure`]: OAuth errors (also with HTTP 200), bare statuses,
    /// malformed answers, transport failures.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: Option<&PkceVerifier>,
    ) -> Result<TokenGrant, TikTokFailure> {
        let secret = self.config.client_secret.expose_secret();
        let mut form = vec![
            ("client_key", self.config.client_key.as_str()),
            ("client_secret", secret),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", self.config.redirect_uri.as_str()),
        ];
        if let Some(verifier) = pkce_verifier {
            form.push(("code_verifier", verifier.expose_secret()));
        }
        self.token_call(&form).await
    }

    /// Refreshes an access token (`grant_type=refresh_token`). The answer's refresh token may
    /// be new (rotation): store it before using the new access token.
    ///
    /// # Errors
    /// As [`TikTokClient::exchange_code`]; `invalid_grant` means the user must reconnect.
    pub async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenGrant, TikTokFailure> {
        let form = [
            ("client_key", self.config.client_key.as_str()),
            ("client_secret", self.config.client_secret.expose_secret()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        self.token_call(&form).await
    }

    /// Revokes a user's access token; the app disappears from the user's authorized apps.
    ///
    /// # Errors
    /// A classified [`TikTokFailure`].
    pub async fn revoke(&self, access_token: &AccessToken) -> Result<(), TikTokFailure> {
        let form = [
            ("client_key", self.config.client_key.as_str()),
            ("client_secret", self.config.client_secret.expose_secret()),
            ("token", access_token.expose_secret()),
        ];
        let answer = self.post_form(REVOKE_PATH, &form).await?;
        failure::judge(answer.status, &answer.body, AnswerShape::OAuth).map(|_| ())
    }

    async fn token_call(&self, form: &[(&str, &str)]) -> Result<TokenGrant, TikTokFailure> {
        let answer = self.post_form(TOKEN_PATH, form).await?;
        let value = failure::judge(answer.status, &answer.body, AnswerShape::OAuth)
            .map_err(TikTokFailure::without_token_values)?;
        let wire: TokenGrantWire =
            failure::decode_token_answer(answer.status, &answer.body, value)?;
        Ok(TokenGrant::from(wire))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_challenge_is_lowercase_hex_sha256_of_the_verifier() {
        // RFC 7636 appendix B's verifier; its base64url challenge E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
        // is these bytes, written in hex as TikTok wants them.
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(
            verifier.challenge().as_str(),
            "13d31e961a1ad8ec2f16b10c4c982e0876a878ad6df144566ee1894acb70f9c3"
        );
    }

    #[test]
    fn verifiers_outside_the_rfc_rules_are_rejected() {
        assert_eq!(
            PkceVerifier::new("short").unwrap_err(),
            PkceError::Length(5)
        );
        assert_eq!(
            PkceVerifier::new("a".repeat(129)).unwrap_err(),
            PkceError::Length(129)
        );
        assert_eq!(
            PkceVerifier::new(format!("{}!", "a".repeat(50))).unwrap_err(),
            PkceError::Alphabet
        );
    }

    #[test]
    fn two_generated_verifiers_differ() {
        assert_ne!(
            PkceVerifier::generate().expose_secret(),
            PkceVerifier::generate().expose_secret()
        );
    }

    proptest! {
        #[test]
        fn every_valid_verifier_yields_64_lowercase_hex_chars_matching_sha256(
            verifier in "[A-Za-z0-9._~-]{43,128}"
        ) {
            let challenge = PkceVerifier::new(verifier.clone()).unwrap().challenge();
            prop_assert_eq!(challenge.as_str().len(), 64);
            prop_assert!(challenge.as_str().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            let decoded = hex::decode(challenge.as_str()).unwrap();
            let expected = Sha256::digest(verifier.as_bytes());
            prop_assert_eq!(decoded.as_slice(), expected.as_slice());
        }

        #[test]
        fn generated_verifiers_always_pass_validation(_seed in 0u8..50) {
            let generated = PkceVerifier::generate();
            prop_assert!(PkceVerifier::new(generated.expose_secret()).is_ok());
        }
    }

    #[test]
    fn a_callback_with_error_is_classified_and_one_without_code_is_missing() {
        let refused = AuthorizationCallback::from_query(
            "error=access_denied&error_description=User+said+no&state=s",
        )
        .unwrap_err();
        match refused {
            CallbackError::Refused(failure) => {
                assert_eq!(failure.classification.id(), "access_denied");
                assert_eq!(failure.message.as_deref(), Some("User said no"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            AuthorizationCallback::from_query("state=s").unwrap_err(),
            CallbackError::Missing("code")
        );
        let ok = AuthorizationCallback::from_query(
            "?code=abc%2Adef&scopes=user.info.basic%2Cvideo.publish&state=xyz",
        )
        .unwrap();
        assert_eq!(ok.code, "abc*def");
        assert_eq!(ok.state, "xyz");
        assert_eq!(ok.scopes, vec![Scope::UserInfoBasic, Scope::VideoPublish]);
    }
}
