//! Signing in with an email and a password, or with the installation's OpenID Connect provider,
//! and out. The API opens the session (`POST /v1/sessions`, which rate-limits failures per
//! email; `tokpost_api::people::oidc` for the provider); the page keeps its secret in the
//! session cookie.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Chrome, CsrfForm, SignedIn};
use crate::Dashboard;
use crate::error::PageError;
use crate::session::{
    OIDC_STATE_COOKIE, SESSION_COOKIE, SIGN_IN_COOKIE, clear_cookie, clear_oidc_state_cookie,
    cookie, random_token, set_cookie, set_oidc_state_cookie, tokens_match,
};

/// How long a signed-out form's token lives.
pub(crate) const SIGN_IN_FORM_LIFETIME: std::time::Duration =
    std::time::Duration::from_secs(30 * 60);

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    error: Option<String>,
    email: String,
    /// The provider's button, when one is configured.
    oidc_label: Option<String>,
}

pub(crate) async fn sign_in_page(State(state): State<Dashboard>) -> Result<Response, PageError> {
    sign_in_form(&state, None, String::new(), StatusCode::OK)
}

/// Cookies carry `Secure` when users reach tokpost over HTTPS.
pub(crate) fn secure_cookies(state: &Dashboard) -> bool {
    state.app.settings.public_base_url.scheme() == "https"
}

/// A signed-out page with its form token, and the cookie that token must match.
pub(crate) fn signed_out_page(
    state: &Dashboard,
    status: StatusCode,
    render: impl FnOnce(Chrome) -> Result<String, askama::Error>,
    active: &'static str,
) -> Result<Response, PageError> {
    let token = random_token();
    let html = render(Chrome::signed_out(token.clone(), active))?;
    Ok((
        status,
        [(
            header::SET_COOKIE,
            set_cookie(
                SIGN_IN_COOKIE,
                &token,
                SIGN_IN_FORM_LIFETIME,
                secure_cookies(state),
            ),
        )],
        Html(html),
    )
        .into_response())
}

/// Refuses a signed-out form whose token does not match its cookie.
pub(crate) fn check_signed_out_form(headers: &HeaderMap, given: &str) -> Result<(), PageError> {
    let expected = cookie(headers, SIGN_IN_COOKIE).unwrap_or_default();
    if tokens_match(expected, given) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

/// Signs the browser in with a session the API opened: the cookie, then `location`.
pub(crate) fn signed_in_response(state: &Dashboard, token: &str, location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location.to_owned()),
            (
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    token,
                    tokpost_api::people::SESSION_LIFETIME,
                    secure_cookies(state),
                ),
            ),
        ],
    )
        .into_response()
}

fn sign_in_form(
    state: &Dashboard,
    error: Option<String>,
    email: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    signed_out_page(
        state,
        status,
        |chrome| {
            SignInPage {
                chrome,
                error,
                email,
                oidc_label: state
                    .app
                    .settings
                    .oidc
                    .as_ref()
                    .map(|oidc| oidc.label().to_owned()),
            }
            .render()
        },
        "sign-in",
    )
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    time_zone: String,
}

pub(crate) async fn sign_in(
    State(state): State<Dashboard>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    check_signed_out_form(&headers, &form.csrf)?;
    let answer = state
        .api
        .post_json_signed_out(
            "/v1/sessions",
            &json!({
                "email": form.email,
                "password": form.password,
                "time_zone": form.time_zone,
            }),
        )
        .await?;
    let token = answer.body.get("token").and_then(|token| token.as_str());
    match token {
        Some(token) if answer.status == StatusCode::CREATED => {
            Ok(signed_in_response(&state, token, "/"))
        }
        _ => sign_in_form(
            &state,
            Some(answer.error_message()),
            form.email,
            answer.page_status(),
        ),
    }
}

#[derive(Deserialize)]
pub(crate) struct OidcStartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    time_zone: String,
}

/// "Sign in with …": the attempt is stored, its state kept in this browser, and the browser
/// sent to the provider.
pub(crate) async fn oidc_start(
    State(state): State<Dashboard>,
    headers: HeaderMap,
    Form(form): Form<OidcStartForm>,
) -> Result<Response, PageError> {
    check_signed_out_form(&headers, &form.csrf)?;
    let Some(oidc) = state.app.settings.oidc.clone() else {
        return sign_in_form(
            &state,
            Some(
                "This server has no single sign-on provider: sign in with your email and password."
                    .to_owned(),
            ),
            String::new(),
            StatusCode::NOT_FOUND,
        );
    };
    match oidc.start(&state.app, &form.time_zone).await {
        Ok(started) => Ok((
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, started.authorize_url.to_string()),
                (
                    header::SET_COOKIE,
                    set_oidc_state_cookie(
                        secrecy::ExposeSecret::expose_secret(&started.state),
                        tokpost_api::people::oidc::ATTEMPT_LIFETIME,
                        secure_cookies(&state),
                    ),
                ),
            ],
        )
            .into_response()),
        Err(error) => sign_in_form(
            &state,
            Some(error.detail().message),
            String::new(),
            StatusCode::BAD_GATEWAY,
        ),
    }
}

/// What the provider sends the browser back with.
#[derive(Deserialize)]
pub(crate) struct OidcCallback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    /// Set when the person (or the provider) refused.
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's answer: the session of the person with the verified email, or the sign-in
/// page saying why not.
pub(crate) async fn oidc_callback(
    State(state): State<Dashboard>,
    headers: HeaderMap,
    Query(answer): Query<OidcCallback>,
) -> Result<Response, PageError> {
    let Some(oidc) = state.app.settings.oidc.clone() else {
        return Err(PageError::NotFound);
    };
    let refused = |message: String, status: StatusCode| -> Result<Response, PageError> {
        let mut page = sign_in_form(&state, Some(message), String::new(), status)?;
        if let Ok(clear) = header::HeaderValue::from_str(&clear_oidc_state_cookie()) {
            page.headers_mut().append(header::SET_COOKIE, clear);
        }
        Ok(page)
    };
    if let Some(error) = answer.error {
        let why = answer.error_description.unwrap_or(error);
        return refused(
            format!("The sign-in provider did not sign you in: {why}"),
            StatusCode::UNAUTHORIZED,
        );
    }
    let browser_state = cookie(&headers, OIDC_STATE_COOKIE).unwrap_or_default();
    match oidc
        .finish(&state.app, &answer.code, &answer.state, browser_state)
        .await
    {
        Ok(opened) => {
            // The session cookie is SameSite=Strict, and this request came from the provider's
            // site: a redirect from here would still be that navigation, sent without it. The
            // page moves on by itself, a navigation of tokpost's own.
            let html = "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url=/\"><title>Signed in · tokpost</title><p>Signed in. <a href=\"/\">Continue</a></p>";
            let mut response = (
                StatusCode::OK,
                [(
                    header::SET_COOKIE,
                    set_cookie(
                        SESSION_COOKIE,
                        opened.secret.expose_secret(),
                        tokpost_api::people::SESSION_LIFETIME,
                        secure_cookies(&state),
                    ),
                )],
                Html(html),
            )
                .into_response();
            if let Ok(clear) = header::HeaderValue::from_str(&clear_oidc_state_cookie()) {
                response.headers_mut().append(header::SET_COOKIE, clear);
            }
            Ok(response)
        }
        Err(error) => refused(error.detail().message, error.status()),
    }
}

pub(crate) async fn sign_out(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    state
        .api
        .call(
            Some(signed_in.key()),
            axum::http::Method::DELETE,
            "/v1/sessions/current",
            None,
        )
        .await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/sign-in".to_owned()),
            (header::SET_COOKIE, clear_cookie(SESSION_COOKIE)),
        ],
    )
        .into_response())
}
