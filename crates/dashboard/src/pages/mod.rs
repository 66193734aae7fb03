//! One module per page (or family of pages). Reads go through the API in-process (or the
//! store for the listings the API pages differently); every form that changes something checks
//! the session's CSRF token first. What every page shares lives here: the signed-in extractor,
//! the layout's chrome and rendering.

mod accounts;
mod audit;
mod calendar;
mod compose;
mod errors;
mod home;
mod import;
mod media;
mod posts;
mod sign_in;

pub(crate) use accounts::{accounts, connect};
pub(crate) use audit::audit;
pub(crate) use calendar::{calendar, move_page, move_post};
pub(crate) use compose::{compose, compose_page};
pub(crate) use errors::errors;
pub(crate) use home::home;
pub(crate) use import::{import, import_page, sample as import_sample};
pub(crate) use media::{media_file, upload_media};
pub(crate) use posts::{cancel, post, post_status, posts, retry};
pub(crate) use sign_in::{sign_in, sign_in_page, sign_out};

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use jiff::tz::TimeZone;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::Dashboard;
use crate::error::PageError;
use crate::session::{SESSION_COOKIE, Session, cookie, tokens_match};

/// How many posts the listings show at once.
pub(crate) const CALENDAR_LIMIT: u32 = 200;

/// A browser with a live session.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub(crate) session_id: String,
    pub(crate) session: Session,
}

impl SignedIn {
    pub(crate) fn key(&self) -> &SecretString {
        &self.session.api_key
    }

    pub(crate) fn zone(&self) -> &TimeZone {
        &self.session.time_zone
    }

    /// Refuses a form without this session's CSRF token.
    pub(crate) fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        if tokens_match(&self.session.csrf_token, given) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    pub(crate) fn chrome(&self, active: &'static str) -> Chrome {
        Chrome {
            csrf: self.session.csrf_token.clone(),
            signed_in: true,
            active,
            zone: self
                .session
                .time_zone
                .iana_name()
                .unwrap_or("UTC")
                .to_owned(),
        }
    }
}

impl FromRequestParts<Dashboard> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Dashboard,
    ) -> Result<Self, Self::Rejection> {
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or(PageError::SignInNeeded)?;
        let session = state
            .sessions
            .get(id, state.app.now())
            .ok_or(PageError::SignInNeeded)?;
        // A key revoked since sign-in ends every session opened with it.
        let key = state
            .app
            .workspaces()
            .api_key_by_hash(&tokpost_api::hash_key(session.api_key.expose_secret()))
            .await?;
        if !key.as_ref().is_some_and(tokpost_store::ApiKey::is_active) {
            state.sessions.close(id);
            return Err(PageError::SignInNeeded);
        }
        Ok(Self {
            session_id: id.to_owned(),
            session,
        })
    }
}

/// What the base layout needs on every page.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub(crate) csrf: String,
    pub(crate) signed_in: bool,
    pub(crate) active: &'static str,
    pub(crate) zone: String,
}

pub(crate) fn render(template: &impl Template) -> Result<Response, PageError> {
    Ok(Html(template.render()?).into_response())
}

/// A form that carries nothing but the session's CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// A post id as a path segment; anything else cannot name a post.
pub(crate) fn encode_segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}
