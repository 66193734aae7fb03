//! Signing in with the organisation's OpenID Connect provider, configured per installation
//! (`[oidc]`: issuer, client id and secret). The authorization code flow with PKCE (S256), a
//! state and a nonce:
//!
//! 1. [`Oidc::start`] discovers the provider (its metadata and keys, kept for an hour), stores
//!    the attempt (the state's SHA-256, the nonce, the sealed PKCE verifier, the person's time
//!    zone) for ten minutes and answers the provider's authorize URL and the state, which the
//!    dashboard also keeps in a cookie: a callback is accepted only in the browser that started
//!    it, so nobody can sign a victim in as themselves.
//! 2. [`Oidc::finish`] takes the attempt once, exchanges the code with the verifier, checks the
//!    ID token (signature with the provider's keys, issuer, audience, expiry on the injected
//!    clock, nonce) and reads the person's email, from the ID token or else the provider's
//!    user info (for the same subject).
//!
//! Invariants: only an email the provider says is verified signs in; it signs in the tokpost
//! user who has it, who must be enabled and a member of a workspace; nobody is ever created
//! (people join by invitation). Provider answers are untrusted input: at most
//! [`MAX_ANSWER_BYTES`] are read, no redirect is followed, and a malformed answer is an error
//! that names the provider, never a panic.

use std::fmt;
use std::time::Duration;

use axum::http::StatusCode;
use jiff::Timestamp;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyAdditionalClaims, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _, UserInfoClaims,
};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::RwLock;
use tokpost_store::{NewSignInState, SignInStateTake};
use url::Url;

use crate::error::ApiError;
use crate::people::{Opened, normalize_email, open_session};
use crate::state::AppState;

/// How long a started sign-in may take at the provider.
pub const ATTEMPT_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long the provider's metadata and keys are used before they are fetched again (sooner
/// when a token is signed with a key they do not have).
pub const METADATA_FRESH_FOR: Duration = Duration::from_secs(3_600);
/// The most of one provider answer read.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The longest a provider may take to answer.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The callback's path on the dashboard.
pub const CALLBACK_PATH: &str = "sign-in/oidc/callback";

/// The installation's provider.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer exactly as the provider names itself
    /// (`https://login.example.com/realms/acme`, without a trailing `/` unless it has one);
    /// its `/.well-known/openid-configuration` is read.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The sign-in button's words ("Sign in with Acme SSO").
    pub label: String,
}

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("label", &self.label)
            .finish()
    }
}

/// A sign-in sent to the provider.
#[derive(Debug)]
pub struct Started {
    /// Where the browser goes.
    pub authorize_url: Url,
    /// The state, for the browser's cookie.
    pub state: SecretString,
}

/// The provider, with its metadata once discovered.
pub struct Oidc {
    settings: OidcSettings,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: RwLock<Option<(CoreProviderMetadata, Timestamp)>>,
}

impl fmt::Debug for Oidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oidc")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why a provider request failed (never its body, which may carry a token).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderHttpError(String);

/// What is stored of a state: its SHA-256 (the state itself travels through the browser).
fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::refused(status, code, message)
}

fn unreachable_provider(what: &str, error: &dyn std::error::Error) -> ApiError {
    let text = tokpost_pipeline::webhooks::error_chain(error);
    tracing::warn!(error = %text, "the OpenID Connect provider failed: {what}");
    refused(
        StatusCode::BAD_GATEWAY,
        "sign_in_provider_failed",
        format!("the sign-in provider failed ({what}): {text}"),
    )
}

impl Oidc {
    /// The provider of `settings`, answering at `<public_base_url>sign-in/oidc/callback`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built or the callback URL is not one.
    pub fn new(settings: OidcSettings, public_base_url: &Url) -> Result<Self, String> {
        let redirect = public_base_url
            .join(CALLBACK_PATH)
            .map_err(|error| error.to_string())
            .and_then(|url| RedirectUrl::new(url.to_string()).map_err(|e| e.to_string()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("tokpost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Self {
            settings,
            redirect,
            http,
            metadata: RwLock::new(None),
        })
    }

    /// The sign-in button's words.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.settings.label
    }

    /// The callback URL registered at the provider.
    #[must_use]
    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    /// One provider request over tokpost's HTTP client, reading at most [`MAX_ANSWER_BYTES`].
    async fn send(
        http: reqwest::Client,
        request: openidconnect::HttpRequest,
    ) -> Result<openidconnect::HttpResponse, ProviderHttpError> {
        let (parts, body) = request.into_parts();
        let mut response = http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|error| ProviderHttpError(error.without_url().to_string()))?;
        let mut answer = http::Response::builder().status(response.status());
        if let Some(headers) = answer.headers_mut() {
            *headers = response.headers().clone();
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| ProviderHttpError(error.without_url().to_string()))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(ProviderHttpError(format!(
                    "the answer is larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        answer
            .body(bytes)
            .map_err(|error| ProviderHttpError(error.to_string()))
    }

    fn http_client(
        &self,
    ) -> impl Fn(
        openidconnect::HttpRequest,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, ProviderHttpError>>
                + Send,
        >,
    > + use<> {
        let http = self.http.clone();
        move |request| Box::pin(Self::send(http.clone(), request))
    }

    /// The provider's metadata and keys: the cached ones while fresh (unless `refresh`).
    async fn metadata(
        &self,
        now: Timestamp,
        refresh: bool,
    ) -> Result<CoreProviderMetadata, ApiError> {
        if !refresh
            && let Some((metadata, at)) = self.metadata.read().await.as_ref()
            && now.duration_since(*at).unsigned_abs() < METADATA_FRESH_FOR
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|error| unreachable_provider("its issuer URL", &error))?;
        let http = self.http_client();
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|error| unreachable_provider("discovery", &error))?;
        *self.metadata.write().await = Some((metadata.clone(), now));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Starts a sign-in: the provider's authorize URL, and the state for the browser's cookie.
    ///
    /// # Errors
    /// 502 `sign_in_provider_failed` when the provider cannot be discovered.
    pub async fn start(&self, state: &AppState, time_zone: &str) -> Result<Started, ApiError> {
        let now = state.now();
        let metadata = self.metadata(now, false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = self
            .client(metadata)
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        state
            .oauth_states()
            .save_sign_in_state(
                NewSignInState {
                    state_hash: sha256_hex(csrf.secret()),
                    nonce: nonce.secret().clone(),
                    pkce_verifier: SecretString::from(verifier.secret().clone()),
                    time_zone: time_zone.to_owned(),
                    expires_at: clock::add(now, ATTEMPT_LIFETIME),
                },
                now,
            )
            .await?;
        Ok(Started {
            authorize_url: url,
            state: SecretString::from(csrf.secret().clone()),
        })
    }

    /// Finishes a sign-in at the callback: the session of the user with the verified email.
    ///
    /// # Errors
    /// 400 `sign_in_expired` (an unknown, used, expired state, or one from another browser),
    /// 401 `sign_in_refused` (the provider refused the code, or its ID token does not check),
    /// 403 `email_not_verified`, `no_user` or `user_disabled`, 502 when the provider fails.
    pub async fn finish(
        &self,
        state: &AppState,
        code: &str,
        returned_state: &str,
        browser_state: &str,
    ) -> Result<Opened, ApiError> {
        let expired = || {
            refused(
                StatusCode::BAD_REQUEST,
                "sign_in_expired",
                "this sign-in is unknown, used, expired or was started in another browser: start again",
            )
        };
        if returned_state.is_empty() || !same(returned_state, browser_state) {
            return Err(expired());
        }
        let now = state.now();
        let SignInStateTake::Taken {
            nonce,
            pkce_verifier,
            time_zone,
        } = state
            .oauth_states()
            .take_sign_in_state(&sha256_hex(returned_state), now)
            .await?
        else {
            return Err(expired());
        };
        let email = self
            .verified_email(now, code, &Nonce::new(nonce), pkce_verifier)
            .await?;
        let user = state
            .people()
            .user_by_email(&email)
            .await?
            .ok_or_else(|| {
                refused(
                    StatusCode::FORBIDDEN,
                    "no_user",
                    format!(
                        "no one in tokpost has the email {email}: people join by invitation, so ask an owner to invite this address"
                    ),
                )
            })?;
        if !user.is_enabled() {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "user_disabled",
                format!("the user {email} is disabled; ask an owner to enable them"),
            ));
        }
        open_session(state, user, None, Some(&time_zone)).await
    }

    /// Exchanges the code and reads the person's verified email (lowercased).
    async fn verified_email(
        &self,
        now: Timestamp,
        code: &str,
        nonce: &Nonce,
        verifier: SecretString,
    ) -> Result<String, ApiError> {
        let http = self.http_client();
        let metadata = self.metadata(now, false).await?;
        let client = self.client(metadata);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| unreachable_provider("it has no token endpoint", &error))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
            .request_async(&http)
            .await
            .map_err(|error| {
                tracing::info!(%error, "the OpenID Connect provider refused the code");
                refused(
                    StatusCode::UNAUTHORIZED,
                    "sign_in_refused",
                    format!("the sign-in provider refused the sign-in: {error}"),
                )
            })?;
        let id_token = tokens.id_token().ok_or_else(|| {
            refused(
                StatusCode::UNAUTHORIZED,
                "sign_in_refused",
                "the sign-in provider answered without an ID token",
            )
        })?;
        let at = chrono::DateTime::from_timestamp(now.as_second(), 0).unwrap_or_default();
        let check = |client: &CoreClient<_, _, _, _, _, _>| {
            id_token
                .claims(&client.id_token_verifier().set_time_fn(move || at), nonce)
                .cloned()
        };
        let claims = match check(&client) {
            Ok(claims) => claims,
            // Keys rotate: a token signed with a key not yet known is checked once more
            // against the provider's current keys.
            Err(_) => {
                let fresh = self.client(self.metadata(now, true).await?);
                check(&fresh).map_err(|error| {
                    refused(
                        StatusCode::UNAUTHORIZED,
                        "sign_in_refused",
                        format!("the sign-in provider's ID token does not check: {error}"),
                    )
                })?
            }
        };
        let (email, verified) = match (claims.email(), claims.email_verified()) {
            (Some(email), verified) => (email.as_str().to_owned(), verified),
            (None, _) => {
                let info: UserInfoClaims<EmptyAdditionalClaims, CoreGenderClaim> = client
                    .user_info(
                        tokens.access_token().clone(),
                        Some(claims.subject().clone()),
                    )
                    .map_err(|error| unreachable_provider("it has no user info endpoint", &error))?
                    .request_async(&http)
                    .await
                    .map_err(|error| unreachable_provider("user info", &error))?;
                let email = info.email().map(|email| email.as_str().to_owned()).ok_or_else(|| {
                    refused(
                        StatusCode::FORBIDDEN,
                        "email_not_verified",
                        "the sign-in provider gave no email address: tokpost finds people by their verified email (the `email` scope)",
                    )
                })?;
                (email, info.email_verified())
            }
        };
        let email = normalize_email(&email, "email")?;
        if verified != Some(true) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "email_not_verified",
                format!(
                    "the sign-in provider does not say that {email} is verified; tokpost signs in only verified addresses"
                ),
            ));
        }
        Ok(email)
    }
}
