//! What every handler shares.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clock::SharedClock;
use secrecy::SecretString;
use tiktok::TikTokClient;
use tokpost_media_store::{LocalMediaStore, MediaStore};
use tokpost_pipeline::Pipeline;
use tokpost_store::{
    AccountHealthStore, AccountHistoryStore, AccountStore, ApprovalStore, InboundWebhookStore,
    InvitationStore, MediaAssetStore, OAuthStateStore, OperationsStore, PeopleStore, PostStore,
    QueueStore, QuotaStore, ReviewLinkStore, Store, WebhookStore, WorkspaceStore,
};
use url::Url;

/// The operator's settings the API applies (the binary builds them from its configuration).
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Where users reach tokpost (links, the dashboard redirect after connecting).
    pub public_base_url: Url,
    /// Where uploaded media are stored when the pipeline has no media store (`<data_dir>/media`).
    pub media_dir: PathBuf,
    /// The largest media upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// URL prefixes verified with TikTok; PULL_FROM_URL media must start with one.
    pub verified_url_prefixes: Vec<String>,
    /// Send PKCE with the authorize URL (TikTok requires it for desktop apps).
    pub pkce: bool,
    /// Posts per creator per rolling 24 h, shown in account health.
    pub daily_post_cap: u32,
    /// Scopes asked for beside posting's, for insights (`tiktok.insight_scopes`); an account
    /// without them posts as before and its health says insights need a reconnect.
    pub insight_scopes: Vec<String>,
    /// The app's client secret, which signs TikTok's webhooks. `None`: inbound webhooks are
    /// refused.
    pub webhook_secret: Option<SecretString>,
    /// How old a webhook's signed timestamp may be.
    pub webhook_tolerance: Duration,
    /// How long an OAuth state (and so an authorize URL) stays usable.
    pub oauth_state_ttl: Duration,
    /// The name under which this process's workers record their heartbeat, when it runs
    /// workers (`serve`): `/readyz` then fails once that heartbeat is older than
    /// `worker_heartbeat_stale_after`. `None`: readiness is the database's only.
    pub workers_process: Option<String>,
    /// How old the workers' heartbeat may be.
    pub worker_heartbeat_stale_after: Duration,
    /// Whether "TikTok" is tokpost's built-in sandbox running in this process (`serve
    /// --sandbox`, or no TikTok app configured), so pages can say whose app they describe.
    /// Default `false`: a TikTok app (or a TikTok-compatible server) of the operator's.
    pub builtin_sandbox: bool,
    /// Where outbound webhook endpoints may point (public addresses, and the operator's own
    /// ranges). Judged at registration; the sender judges again at every send.
    pub webhook_addresses: tokpost_pipeline::webhooks::address::AddressPolicy,
    /// Requests served at once and the longest one may take ([`crate::limits`]).
    pub limits: crate::limits::Limits,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>`.
    pub metrics_token: Option<SecretString>,
    /// Sends invitations and password-reset links by email; `None`: links are only shown to
    /// whoever makes them.
    pub mailer: Option<tokpost_pipeline::mail::Mailer>,
    /// The installation's OpenID Connect provider, when people may sign in with it.
    pub oidc: Option<std::sync::Arc<crate::people::oidc::Oidc>>,
}

impl ApiSettings {
    /// Settings with the documented defaults around the given essentials: 4 GiB uploads (TikTok's
    /// video limit), 5-minute webhook tolerance, 10-minute OAuth states.
    #[must_use]
    pub fn new(public_base_url: Url, media_dir: PathBuf) -> Self {
        Self {
            public_base_url,
            media_dir,
            max_upload_bytes: 4 * 1024 * 1024 * 1024,
            verified_url_prefixes: Vec::new(),
            pkce: false,
            daily_post_cap: 15,
            insight_scopes: tokpost_core::Scope::INSIGHTS
                .iter()
                .map(|scope| (*scope).to_owned())
                .collect(),
            webhook_secret: None,
            webhook_tolerance: Duration::from_secs(5 * 60),
            oauth_state_ttl: Duration::from_secs(10 * 60),
            workers_process: None,
            worker_heartbeat_stale_after: tokpost_pipeline::WORKER_HEARTBEAT_STALE_AFTER,
            builtin_sandbox: false,
            webhook_addresses: tokpost_pipeline::webhooks::address::AddressPolicy::public_only(),
            limits: crate::limits::Limits::default(),
            metrics_token: None,
            mailer: None,
            oidc: None,
        }
    }
}

/// The shared state of every handler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub client: TikTokClient,
    pub pipeline: Pipeline,
    pub settings: Arc<ApiSettings>,
    /// Where uploads are stored: the pipeline's media store (so its workers read what the API
    /// wrote), or without one a directory store in `settings.media_dir`.
    pub media: Arc<dyn MediaStore>,
}

impl AppState {
    /// The state over the process's store, clock, client and pipeline.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        client: TikTokClient,
        pipeline: Pipeline,
        settings: ApiSettings,
    ) -> Self {
        let media = pipeline.media().map_or_else(
            || Arc::new(LocalMediaStore::new(settings.media_dir.clone())) as Arc<dyn MediaStore>,
            |access| Arc::clone(access.store()),
        );
        Self {
            store,
            clock,
            client,
            pipeline,
            settings: Arc::new(settings),
            media,
        }
    }

    /// Now, on the injected clock.
    #[must_use]
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// A link to `path` under the public base URL (`invite/tpi_…`).
    #[must_use]
    pub fn link(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.settings.public_base_url.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// Each part of the store, for a handler that needs only that part (`state.posts()`): a route
/// names what it touches, and a part's trait is the whole of what it can reach.
impl AppState {
    #[must_use]
    pub fn workspaces(&self) -> &dyn WorkspaceStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn accounts(&self) -> &dyn AccountStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn account_health(&self) -> &dyn AccountHealthStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn insights(&self) -> &dyn tokpost_store::InsightStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn media_fixes(&self) -> &dyn tokpost_store::MediaFixStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn oauth_states(&self) -> &dyn OAuthStateStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn media_assets(&self) -> &dyn MediaAssetStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn posts(&self) -> &dyn PostStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn queue(&self) -> &dyn QueueStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn quotas(&self) -> &dyn QuotaStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn webhooks(&self) -> &dyn WebhookStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn inbound_webhooks(&self) -> &dyn InboundWebhookStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn operations(&self) -> &dyn OperationsStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn account_history(&self) -> &dyn AccountHistoryStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn people(&self) -> &dyn PeopleStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn invitations(&self) -> &dyn InvitationStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn approvals(&self) -> &dyn ApprovalStore {
        self.store.as_ref()
    }

    #[must_use]
    pub fn review_links(&self) -> &dyn ReviewLinkStore {
        self.store.as_ref()
    }
}
