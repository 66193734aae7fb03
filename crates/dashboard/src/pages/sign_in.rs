//! Signing in with an API key, and out.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jiff::tz::TimeZone;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Chrome, CsrfForm, SignedIn};
use crate::Dashboard;
use crate::error::PageError;
use crate::session::{
    SESSION_COOKIE, SESSION_LIFETIME, SIGN_IN_COOKIE, Session, clear_cookie, cookie, random_token,
    set_cookie, tokens_match,
};

/// How long the sign-in form's token lives.
const SIGN_IN_FORM_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30 * 60);

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    error: Option<String>,
}

pub(crate) async fn sign_in_page(State(state): State<Dashboard>) -> Result<Response, PageError> {
    sign_in_form(&state, None, StatusCode::OK)
}

/// Cookies carry `Secure` when users reach tokpost over HTTPS.
fn secure_cookies(state: &Dashboard) -> bool {
    state.app.settings.public_base_url.scheme() == "https"
}

fn sign_in_form(
    state: &Dashboard,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let token = random_token();
    let page = SignInPage {
        chrome: Chrome {
            csrf: token.clone(),
            signed_in: false,
            active: "sign-in",
            zone: "UTC".to_owned(),
        },
        error,
    };
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
        Html(page.render()?),
    )
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    time_zone: String,
}

pub(crate) async fn sign_in(
    State(state): State<Dashboard>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !tokens_match(expected, &form.csrf) {
        return Err(PageError::Forbidden);
    }
    let secret = form.api_key.trim();
    let key = state
        .app
        .workspaces()
        .api_key_by_hash(&tokpost_api::hash_key(secret))
        .await?
        .filter(tokpost_store::ApiKey::is_active);
    let Some(key) = key else {
        return sign_in_form(
            &state,
            Some("This API key is not valid (or was revoked).".to_owned()),
            StatusCode::UNAUTHORIZED,
        );
    };
    let now = state.app.now();
    let time_zone = TimeZone::get(form.time_zone.trim()).unwrap_or(TimeZone::UTC);
    let id = state.sessions.open(
        Session {
            workspace_id: key.workspace_id,
            api_key: SecretString::from(secret.to_owned()),
            csrf_token: random_token(),
            time_zone,
            expires_at: clock::add(now, SESSION_LIFETIME),
        },
        now,
    );
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_owned()),
            (
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &id,
                    SESSION_LIFETIME,
                    secure_cookies(&state),
                ),
            ),
        ],
    )
        .into_response())
}

pub(crate) async fn sign_out(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    state.sessions.close(&signed_in.session_id);
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/sign-in".to_owned()),
            (header::SET_COOKIE, clear_cookie(SESSION_COOKIE)),
        ],
    )
        .into_response())
}
