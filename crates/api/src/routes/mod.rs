//! The routes, one module per resource, and the router that mounts them.

pub(crate) mod accounts;
pub(crate) mod actors;
pub(crate) mod alerts;
pub(crate) mod approvals;
pub(crate) mod batch;
pub(crate) mod errors;
pub(crate) mod health;
pub(crate) mod insights_summary;
pub(crate) mod media;
pub(crate) mod media_fix;
pub(crate) mod members;
pub(crate) mod paging;
pub(crate) mod planning;
pub(crate) mod post_changes;
pub(crate) mod posts;
pub(crate) mod review_links;
pub(crate) mod sessions;
pub(crate) mod stats;
pub(crate) mod webhook_endpoints;
pub(crate) mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::state::AppState;

/// Our id of `what` from a path segment. Something that is not an id names nothing, so it
/// answers 404 like an id of another workspace.
pub(crate) fn parse_id<T: std::str::FromStr>(
    text: &str,
    what: &'static str,
) -> Result<T, ApiError> {
    text.trim().parse().map_err(|_| ApiError::NotFound(what))
}

pub(crate) fn router(state: AppState) -> Router {
    // Installed now, not at the first scrape: what the process records before it (its first
    // TikTok calls, a publish) would otherwise be lost.
    let _ = crate::metrics::handle();
    let api = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/v1/sessions", post(sessions::sign_in))
        .route("/v1/sessions/current", delete(sessions::sign_out))
        .route("/v1/me", get(sessions::me))
        .route("/v1/me/password", post(sessions::change_password))
        .route("/v1/me/alerts", get(alerts::get).put(alerts::set))
        .route("/v1/members", get(members::list))
        .route(
            "/v1/members/{id}",
            patch(members::change_role).delete(members::remove),
        )
        .route(
            "/v1/members/{id}/password-reset",
            post(members::password_reset),
        )
        .route(
            "/v1/invitations",
            get(members::invitations).post(members::invite),
        )
        .route("/v1/invitations/{id}", delete(members::revoke_invitation))
        .route(
            "/v1/invitations/preview",
            post(sessions::preview_invitation),
        )
        .route("/v1/invitations/accept", post(sessions::accept_invitation))
        .route("/v1/password-resets", post(sessions::forgot_password))
        .route(
            "/v1/password-resets/complete",
            post(sessions::complete_reset),
        )
        .route("/v1/errors", get(errors::list))
        .route("/v1/errors/{code}", get(errors::get))
        .route("/v1/accounts", get(accounts::list))
        .route("/v1/accounts/connect", post(accounts::connect))
        .route("/v1/oauth/tiktok/callback", get(accounts::callback))
        .route(
            "/v1/accounts/{id}",
            get(accounts::get).delete(accounts::disconnect),
        )
        .route("/v1/accounts/{id}/refresh", post(accounts::refresh))
        .route("/v1/accounts/{id}/history", get(accounts::history))
        .route("/v1/accounts/{id}/stats", get(stats::account))
        .route("/v1/posts/{id}/stats", get(stats::post))
        .route("/v1/insights/summary", get(insights_summary::summary))
        .route(
            "/v1/accounts/{id}/creator-info",
            get(accounts::creator_info),
        )
        // The upload streams to disk and enforces its own configured limit.
        .route(
            "/v1/media",
            get(media::list)
                .post(media::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/media/url", post(media::register_url))
        .route("/v1/media/{id}", get(media::get))
        .route("/v1/media/{id}/fix", post(media_fix::fix))
        .route("/v1/posts", get(posts::list).post(posts::create))
        .route("/v1/posts/validate", post(posts::validate))
        // The import reads its own body, up to its own limit (`import::MAX_BYTES`).
        .route(
            "/v1/posts/batch",
            post(batch::import).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/posts/{id}", get(posts::get).put(post_changes::edit))
        .route("/v1/posts/{id}/cancel", post(post_changes::cancel))
        .route("/v1/posts/{id}/retry", post(post_changes::retry))
        .route("/v1/posts/{id}/reschedule", post(post_changes::reschedule))
        .route("/v1/posts/{id}/approve", post(approvals::approve))
        .route("/v1/posts/{id}/reject", post(approvals::reject))
        .route("/v1/posts/{id}/comments", post(approvals::comment))
        .route(
            "/v1/posts/{id}/review-links",
            get(review_links::list).post(review_links::create),
        )
        .route("/v1/review-links/{id}", delete(review_links::revoke))
        .route("/v1/review-links/open", post(review_links::open))
        .route(
            "/v1/review-links/decide",
            post(review_links::decide_by_link),
        )
        .route(
            "/v1/approval-settings",
            get(approvals::settings).put(approvals::change_settings),
        )
        .route(
            "/v1/webhooks/tiktok",
            post(webhooks::tiktok).layer(DefaultBodyLimit::max(webhooks::MAX_BODY_BYTES)),
        )
        .route(
            "/v1/webhook-endpoints",
            get(webhook_endpoints::list).post(webhook_endpoints::create),
        )
        .route(
            "/v1/webhook-endpoints/{id}",
            get(webhook_endpoints::get).delete(webhook_endpoints::delete),
        )
        .route(
            "/v1/webhook-endpoints/{id}/resume",
            post(webhook_endpoints::resume),
        )
        .route(
            "/v1/webhook-endpoints/{id}/deliveries",
            get(webhook_endpoints::deliveries),
        )
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::refused(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take this method",
            )
        })
        .with_state(state);
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", crate::openapi::document()))
        .merge(api)
        .layer(axum::middleware::from_fn(crate::metrics::count_requests))
}
