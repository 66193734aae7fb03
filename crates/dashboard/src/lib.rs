//! tokpost's dashboard: the web pages social media managers use instead of curl.
//!
//! What it is: an axum router of server-rendered pages (askama templates compiled into the
//! binary) with a little hand-written JavaScript for progress bars and counters, every asset
//! embedded and served under `/assets/`. A person signs in with their email and password (or
//! joins through an invitation link); the session's secret lives in an HTTP-only,
//! SameSite=Strict cookie and in the database as a hash, and every form that changes something
//! carries the session's form token. The pages call the HTTP API in-process with the session,
//! so every rule the API applies (roles included) applies here too.
//!
//! What it must not do: fetch or reference anything outside its own origin (no CDN, no web
//! font), put a session secret anywhere but its cookie (never in a page or a log), read the wall clock (time comes from the
//! API's injected clock), or decide publishing policy (the API and the pipeline do).
//!
//! Map of the crate:
//!
//! ```text
//! session.rs   sessions, cookies, CSRF token comparison
//! api.rs       the HTTP API called in-process
//! views.rs     the API's JSON turned into what templates show (health colours, times)
//! preview.rs   a stored post as it will go out (the post page, the review link's page)
//! pages/       one module per page and its forms (pages/audit/checks.rs: the audit
//!              rehearsal's checklist, pure)
//! assets.rs    the embedded CSS, JavaScript and icon
//! error.rs     PageError, rendered as a plain page
//! ```

mod api;
mod assets;
mod charts;
mod error;
mod pages;
mod preview;
mod session;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use tokpost_api::AppState;

use crate::api::InProcessApi;

/// What the dashboard's handlers share.
#[derive(Debug, Clone)]
pub(crate) struct Dashboard {
    pub(crate) app: AppState,
    pub(crate) api: InProcessApi,
}

/// The dashboard's pages (`/`, `/sign-in`, `/invite/{token}`, `/reset/{token}`,
/// `/review/{token}`, `/team`, `/accounts`, `/compose`, `/posts`, `/posts/import`, `/posts/{id}`,
/// `/posts/{id}/edit`, `/calendar`, `/errors`, `/audit`) and its assets under `/assets/`. Merge it
/// with `tokpost_api::router` over the same state; the two share no path.
pub fn router(state: AppState) -> Router {
    let dashboard = Dashboard {
        api: InProcessApi::new(tokpost_api::router(state.clone())),
        app: state,
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/sign-in", get(pages::sign_in_page).post(pages::sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route("/sign-in/oidc", post(pages::oidc_start))
        .route("/sign-in/oidc/callback", get(pages::oidc_callback))
        .route(
            "/invite/{token}",
            get(pages::invite_page).post(pages::accept_invitation),
        )
        .route("/reset/{token}", get(pages::reset_page).post(pages::reset))
        .route("/forgot", get(pages::forgot_page).post(pages::forgot))
        .route("/team", get(pages::team))
        .route("/alerts", get(pages::alerts))
        .route("/insights", get(pages::insights))
        .route("/alerts/mine", post(pages::alerts_save_mine))
        .route("/alerts/channels", post(pages::alerts_add_channel))
        .route(
            "/alerts/channels/{id}/delete",
            post(pages::alerts_delete_channel),
        )
        .route(
            "/alerts/channels/{id}/resume",
            post(pages::alerts_resume_channel),
        )
        .route("/me", get(pages::me))
        .route("/me/password", post(pages::change_password))
        .route("/team/invite", post(pages::team_invite))
        .route("/team/members/{id}/role", post(pages::team_set_role))
        .route("/team/members/{id}/remove", post(pages::team_remove))
        .route("/team/members/{id}/reset", post(pages::team_reset_link))
        .route("/team/invitations/{id}/revoke", post(pages::team_revoke))
        .route("/accounts", get(pages::accounts))
        .route("/accounts/connect", post(pages::connect))
        .route("/accounts/{id}/history", get(pages::account_history))
        .route("/compose", get(pages::compose_page).post(pages::compose))
        // The upload streams through to the API, which enforces the configured limit.
        .route(
            "/compose/media",
            post(pages::upload_media).layer(DefaultBodyLimit::disable()),
        )
        .route("/compose/media/{id}", get(pages::media_file))
        .route(
            "/compose/media/{id}/fix",
            get(pages::fix_status).post(pages::fix_media),
        )
        .route("/posts", get(pages::posts))
        // An import's text comes url-encoded (up to three times the API's 2 MiB).
        .route(
            "/posts/import",
            get(pages::import_page)
                .post(pages::import)
                .layer(DefaultBodyLimit::max(IMPORT_FORM_BYTES)),
        )
        .route("/posts/import/sample.csv", get(pages::import_sample))
        .route("/posts/{id}", get(pages::post))
        .route("/posts/{id}/status", get(pages::post_status))
        .route("/posts/{id}/cancel", post(pages::cancel))
        .route("/posts/{id}/retry", post(pages::retry))
        .route("/posts/{id}/edit", get(pages::edit_page))
        .route("/posts/{id}/approve", post(pages::approve))
        .route("/posts/{id}/reject", post(pages::reject))
        .route("/posts/{id}/comments", post(pages::comment))
        .route("/posts/{id}/review-links", post(pages::make_review_link))
        .route(
            "/posts/{id}/review-links/{link}/revoke",
            post(pages::revoke_review_link),
        )
        .route(
            "/review/{token}",
            get(pages::review_page).post(pages::review_decide),
        )
        .route("/review/{token}/media/{id}", get(pages::review_media))
        .route("/team/approval", post(pages::approval_settings))
        .route("/errors", get(pages::errors))
        .route("/audit", get(pages::audit))
        .route("/calendar", get(pages::calendar))
        .route(
            "/calendar/move/{id}",
            get(pages::move_page).post(pages::move_post),
        )
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(dashboard)
}

/// The largest import form: the API's 2 MiB file, url-encoded.
const IMPORT_FORM_BYTES: usize = 8 * 1024 * 1024;

/// What every page may load: its own origin only (media previews also from `blob:` URLs of
/// files the person picked), no inline script or style, never framed by another site.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
