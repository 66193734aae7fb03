//! The OpenAPI 3.1 document, generated from the handlers' annotations (a snapshot test keeps it
//! from changing unnoticed; every response carries a description).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{
    accounts, alerts, approvals, batch, errors, health, insights_summary, media, media_fix,
    members, post_changes, posts, review_links, sessions, stats, webhook_endpoints, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokpost",
        description = "Publish to TikTok reliably: accounts, media, scheduled posts with their full history, the failure catalog.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        health::healthz, health::readyz, health::metrics,
        errors::list, errors::get,
        accounts::connect, accounts::callback, accounts::list, accounts::get,
        accounts::refresh, accounts::creator_info, accounts::disconnect, accounts::history,
        media::upload, media::list, media::register_url, media::get, media_fix::fix,
        posts::create, posts::validate, posts::list, posts::get,
        post_changes::edit, post_changes::cancel, post_changes::retry, post_changes::reschedule,
        batch::import,
        approvals::approve, approvals::reject, approvals::comment,
        approvals::settings, approvals::change_settings,
        review_links::create, review_links::list, review_links::revoke,
        review_links::open, review_links::decide_by_link,
        webhooks::tiktok,
        webhook_endpoints::create, webhook_endpoints::list, webhook_endpoints::get,
        webhook_endpoints::delete, webhook_endpoints::resume, webhook_endpoints::deliveries,
        sessions::sign_in, sessions::sign_out, sessions::me,
        sessions::preview_invitation, sessions::accept_invitation, sessions::complete_reset,
        sessions::forgot_password, sessions::change_password, alerts::get, alerts::set,
        members::list, members::change_role, members::remove, members::password_reset,
        members::invitations, members::invite, members::revoke_invitation,
        stats::post, stats::account, insights_summary::summary,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerKeys),
    tags(
        (name = "accounts", description = "TikTok creator accounts"),
        (name = "media", description = "Videos and photos"),
        (name = "posts", description = "Scheduled posts and their history"),
        (name = "approval", description = "Approval before publishing: the workspace's and accounts' settings, approve, reject, comment, and review links for reviewers outside the team"),
        (name = "errors", description = "The failure catalog"),
        (name = "insights", description = "Counts over time: each public post's views, likes, comments and shares, and each creator's followers, from the snapshots tokpost takes"),
        (name = "webhooks", description = "Inbound TikTok webhooks; outbound endpoints and alert channels (signed JSON, Slack, Discord, Telegram, email) and their delivery log (signed: Tokpost-Signature t=<unix s>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">)"),
        (name = "people", description = "Signing in, members and their roles (owner, editor, reviewer), invitations, password resets, a person's own email alerts"),
        (name = "health", description = "Liveness, readiness, metrics"),
    ),
)]
struct ApiDoc;

/// Declares the `api_key` scheme the operations refer to.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tp_… or tps_…")
                    .description(Some("An API key of the workspace (`tokpost keys create`), or a person's session token from `POST /v1/sessions`"))
                    .build(),
            ),
        );
    }
}

/// The document served at `/openapi.json`.
#[must_use]
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
