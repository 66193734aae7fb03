//! The audit rehearsal: what to configure before asking TikTok for an audit (checked where
//! tokpost can see it, said plainly where it cannot), then the demo video TikTok's reviewers
//! expect, step by step in the order of TikTok's guideline, each step in the composer. The same
//! journey in prose is `docs/TIKTOK-AUDIT.md`.

mod checks;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use tokpost_pipeline::preflight::CreatorFacts;

use super::accounts::every_account_health;
use super::{Chrome, SignedIn, render};
use crate::Dashboard;
use crate::error::PageError;
use crate::views::{AccountJson, AppAudit};
use checks::{AccountFacts, AuditCheck, AuditFacts};

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    checks: Vec<AuditCheck>,
    /// Where each demo step opens the composer (with the private test account when there is
    /// one).
    compose: String,
    /// The private test account the demo is recorded with, as the page names it.
    demo_account: Option<String>,
    /// The host the demo is recorded on.
    host: String,
    builtin_sandbox: bool,
}

/// What the checklist needs to know of one account.
fn account_facts(account: &AccountJson) -> AccountFacts {
    let creator = account
        .health
        .as_ref()
        .and_then(|h| h.creator_info.as_ref());
    let text = |key: &str| {
        creator
            .and_then(|c| c.get(key))
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    AccountFacts {
        id: account.id.clone(),
        nickname: text("creator_nickname").unwrap_or_else(|| account.display_name.clone()),
        username: text("creator_username").unwrap_or_default(),
        connected: account.status == "connected",
        private: creator.map(|info| CreatorFacts::from_snapshot(info).is_private_account()),
    }
}

pub(crate) async fn audit(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let accounts: Vec<_> = every_account_health(&state, &signed_in)
        .await?
        .iter()
        .map(account_facts)
        .collect();
    let app = &state.app;
    let client = app.client.config();
    let facts = AuditFacts {
        public_base_url: app.settings.public_base_url.clone(),
        redirect_uri: client.redirect_uri.clone(),
        api_base_url: client.api_base_url.clone(),
        client_key: client.client_key.clone(),
        verified_url_prefixes: app.settings.verified_url_prefixes.clone(),
        pull_base: app
            .pipeline
            .media()
            .and_then(tokpost_pipeline::MediaAccess::pull_base)
            .cloned(),
        audit: AppAudit::of(app),
        accounts,
    };
    let demo = checks::demo_account(&facts);
    render(&AuditPage {
        chrome: signed_in.chrome("audit"),
        compose: demo.map_or_else(
            || "/compose".to_owned(),
            |account| format!("/compose?account={}", super::encode_segment(&account.id)),
        ),
        demo_account: demo.map(AccountFacts::name),
        host: facts
            .public_base_url
            .host_str()
            .unwrap_or_default()
            .to_owned(),
        builtin_sandbox: facts.audit.builtin_sandbox,
        checks: checks::checks(&facts),
    })
}
