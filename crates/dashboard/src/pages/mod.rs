//! One module per page (or family of pages). Reads go through the API in-process (or the
//! store for the listings the API pages differently); every form that changes something checks
//! the session's CSRF token first. What every page shares lives here: the signed-in extractor,
//! the layout's chrome and rendering.

mod account_history;
mod accounts;
mod alerts;
mod approval;
mod audit;
mod calendar;
mod compose;
mod errors;
mod home;
mod import;
mod insights;
mod join;
mod me;
mod media;
mod posts;
mod review;
mod sign_in;
mod team;

pub(crate) use account_history::account_history;
pub(crate) use accounts::{accounts, connect};
pub(crate) use alerts::{
    add_channel as alerts_add_channel, alerts, delete_channel as alerts_delete_channel,
    resume_channel as alerts_resume_channel, save_mine as alerts_save_mine,
};
pub(crate) use approval::{
    approve, comment, make_link as make_review_link, reject, revoke_link as revoke_review_link,
    settings as approval_settings,
};
pub(crate) use audit::audit;
pub(crate) use calendar::{calendar, move_page, move_post};
pub(crate) use compose::{compose, compose_page, edit_page};
pub(crate) use errors::errors;
pub(crate) use home::home;
pub(crate) use import::{import, import_page, sample as import_sample};
pub(crate) use insights::insights;
pub(crate) use join::{
    accept as accept_invitation, forgot, forgot_page, invite_page, reset, reset_page,
};
pub(crate) use me::{change_password, me_after as me};
pub(crate) use media::{fix_media, fix_status, media_file, upload_media};
pub(crate) use posts::{cancel, post, post_status, posts, retry};
pub(crate) use review::{decide as review_decide, media as review_media, review_page};
pub(crate) use sign_in::{oidc_callback, oidc_start, sign_in, sign_in_page, sign_out};
pub(crate) use team::{
    invite as team_invite, remove as team_remove, reset_link as team_reset_link,
    revoke as team_revoke, set_role as team_set_role, team,
};

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use jiff::tz::TimeZone;
use secrecy::SecretString;
use serde::Deserialize;
use tokpost_api::people::SessionSecret;
use tokpost_core::Action;
use tokpost_store::SessionUser;

use crate::Dashboard;
use crate::error::PageError;
use crate::session::{SESSION_COOKIE, cookie, tokens_match};

/// How many posts the listings show at once.
pub(crate) const CALENDAR_LIMIT: u32 = 200;

/// A browser with a live session: the person, their workspace and role as of this request.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// The session's secret, sent to the API in-process as the Bearer credential.
    secret: SecretString,
    pub(crate) session: SessionUser,
    zone: TimeZone,
    csrf: String,
}

impl SignedIn {
    /// The credential the API is called with.
    pub(crate) fn key(&self) -> &SecretString {
        &self.secret
    }

    pub(crate) fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Whether this person's role may do `action` (pages hide what the API would refuse).
    pub(crate) fn may(&self, action: Action) -> bool {
        self.session.role.may(action)
    }

    /// Whether this person may change a post written by `author` (owners any, editors
    /// their own).
    pub(crate) fn may_change(&self, author: Option<tokpost_core::Principal>) -> bool {
        tokpost_core::may_change_post(
            self.session.role,
            tokpost_core::Principal::User(self.session.user.id),
            author,
        )
    }

    /// Refuses (403, in the API's words) what this person's role may not do.
    pub(crate) fn require(&self, action: Action) -> Result<(), PageError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(PageError::NotAllowed(tokpost_api::refusal_message(
                self.session.role,
                action,
            )))
        }
    }

    /// The session's form token.
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Refuses a form without this session's CSRF token.
    pub(crate) fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        if tokens_match(&self.csrf, given) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    pub(crate) fn chrome(&self, active: &'static str) -> Chrome {
        Chrome {
            csrf: self.csrf.clone(),
            signed_in: true,
            active,
            zone: self.zone.iana_name().unwrap_or("UTC").to_owned(),
            person: format!("{} ({})", self.session.user.name, self.session.role),
            role: Some(self.session.role),
        }
    }
}

impl FromRequestParts<Dashboard> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Dashboard,
    ) -> Result<Self, Self::Rejection> {
        let secret = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(SessionSecret::parse)
            .ok_or(PageError::SignInNeeded)?;
        // Read from the database each time: a disabled user, a changed role or a new password
        // ends the session on every process at once.
        let session = state
            .app
            .people()
            .session(&secret.hash(), state.app.now())
            .await?
            .ok_or(PageError::SignInNeeded)?;
        let zone = TimeZone::get(&session.time_zone).unwrap_or(TimeZone::UTC);
        Ok(Self {
            csrf: secret.form_token(),
            secret: SecretString::from(secret.expose_secret().to_owned()),
            session,
            zone,
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
    /// Who is signed in, with their role ("Ana (editor)").
    pub(crate) person: String,
    /// The signed-in person's role (`None` signed out), for hiding what it may not do.
    pub(crate) role: Option<tokpost_core::Role>,
}

impl Chrome {
    /// Whether the signed-in role may do the action named `action` (`compose`,
    /// `manage_accounts`, …; see `tokpost_core::Action::as_str`).
    pub(crate) fn may(&self, action: &str) -> bool {
        self.role.is_some_and(|role| {
            Action::ALL
                .into_iter()
                .any(|known| known.as_str() == action && role.may(known))
        })
    }

    /// The chrome of a page nobody is signed in to (sign-in, an invitation, a reset).
    pub(crate) fn signed_out(csrf: String, active: &'static str) -> Self {
        Self {
            csrf,
            signed_in: false,
            active,
            zone: "UTC".to_owned(),
            person: String::new(),
            role: None,
        }
    }
}

pub(crate) fn render(template: &impl Template) -> Result<Response, PageError> {
    Ok(Html(template.render()?).into_response())
}

/// What the last change did: a sentence, and a link to hand over when one was made.
pub(crate) struct Outcome {
    pub(crate) ok: bool,
    pub(crate) message: String,
    pub(crate) link: Option<String>,
}

impl Outcome {
    /// It worked, and this is what happened.
    pub(crate) fn done(message: impl Into<String>) -> Self {
        Self {
            ok: true,
            message: message.into(),
            link: None,
        }
    }

    /// It was refused, in these words (the API's).
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            message: message.into(),
            link: None,
        }
    }
}

/// Sends one change to the API as `signed_in` and says what it came to: `done`, with the link
/// the API made if it made one, or the API's refusal in its words.
pub(crate) async fn apply(
    state: &Dashboard,
    signed_in: &SignedIn,
    method: axum::http::Method,
    path: &str,
    body: Option<serde_json::Value>,
    done: &str,
) -> Result<Outcome, PageError> {
    let body = body.map(|body| ("application/json", axum::body::Body::from(body.to_string())));
    let answer = state
        .api
        .call(Some(signed_in.key()), method, path, body)
        .await?;
    Ok(if answer.status.is_success() {
        Outcome {
            link: answer
                .body
                .get("link")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            ..Outcome::done(done)
        }
    } else {
        Outcome::failed(answer.error_message())
    })
}

/// A form that carries nothing but the session's CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// A link's secret from a path (an invitation, a reset, a review link): only the characters a
/// secret has, so nothing else reaches a page or the API.
pub(crate) fn link_token(token: &str) -> String {
    token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(80)
        .collect()
}

/// A post id as a path segment; anything else cannot name a post.
pub(crate) fn encode_segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}
