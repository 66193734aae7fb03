//! Starting and stopping the sandbox, the routers, and the request plumbing shared by the
//! handlers (fault injection, bearer authentication, scope and rate checks, envelopes).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post, put};
use clock::{ManualClock, SharedClock};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::{CreatorConfig, SandboxConfig};
use crate::faults::{ActiveFault, FaultEffect, FaultEndpoint, FaultRule};
use crate::state::{Caller, PublishedRecord, Shared};
use crate::wire::{ApiError, ErrorCode, OAuthError, OAuthErrorKind, bare_5xx, dropped_connection};
use crate::{admin, creator, display, oauth, publish, upload};

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration names no app or no creator.
    #[error("the sandbox configuration needs at least one app and one creator")]
    EmptyConfig,
    /// A listener has no local address.
    #[error("cannot read the listener's address: {0}")]
    Listener(#[source] std::io::Error),
    /// The HTTP client used for pulls and webhooks could not be built.
    #[error("cannot build the HTTP client for pulls and webhooks: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The private directory for received media could not be created.
    #[error("cannot create the sandbox's media directory: {0}")]
    MediaDir(#[source] std::io::Error),
    /// A base URL could not be formed from a listener address.
    #[error("cannot form a base URL from {0}")]
    BaseUrl(SocketAddr),
}

/// Entry point: `Sandbox::start(...)`.
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Starts the sandbox on the given listeners (bind them to port 0 in tests). Upload URLs
    /// point at `upload_listener` when given, otherwise at `/upload/` on the API listener.
    ///
    /// The sandbox only reads `clock`: the admin API's `POST /sandbox/admin/clock/advance`
    /// answers 409. Use [`Sandbox::start_with_manual_clock`] to let it move time.
    ///
    /// # Errors
    /// See [`StartError`].
    pub async fn start(
        config: SandboxConfig,
        clock: SharedClock,
        api_listener: TcpListener,
        upload_listener: Option<TcpListener>,
    ) -> Result<SandboxHandle, StartError> {
        Self::launch(config, clock, None, api_listener, upload_listener).await
    }

    /// Like [`Sandbox::start`] on a [`ManualClock`] that the admin API may move:
    /// `GET /sandbox/admin/clock` reads it and `POST /sandbox/admin/clock/advance`
    /// (`{"seconds": N}`, 1 ≤ N ≤ [`crate::MAX_CLOCK_ADVANCE_SECS`]) moves it forward, so that token
    /// lifetimes, the upload window, rolling 24 h caps and processing or moderation delays can be
    /// rehearsed without waiting. The caller may keep moving the clock itself too.
    ///
    /// # Errors
    /// See [`StartError`].
    pub async fn start_with_manual_clock(
        config: SandboxConfig,
        clock: Arc<ManualClock>,
        api_listener: TcpListener,
        upload_listener: Option<TcpListener>,
    ) -> Result<SandboxHandle, StartError> {
        Self::launch(
            config,
            clock.shared(),
            Some(clock),
            api_listener,
            upload_listener,
        )
        .await
    }

    async fn launch(
        config: SandboxConfig,
        clock: SharedClock,
        movable_clock: Option<Arc<ManualClock>>,
        api_listener: TcpListener,
        upload_listener: Option<TcpListener>,
    ) -> Result<SandboxHandle, StartError> {
        if config.apps.is_empty() || config.creators.is_empty() {
            return Err(StartError::EmptyConfig);
        }
        let api_addr = api_listener.local_addr().map_err(StartError::Listener)?;
        let api_base = base_url(api_addr)?;
        let upload_addr = match &upload_listener {
            Some(listener) => Some(listener.local_addr().map_err(StartError::Listener)?),
            None => None,
        };
        let upload_base = match upload_addr {
            Some(addr) => base_url(addr)?,
            None => api_base
                .join("upload/")
                .map_err(|_| StartError::BaseUrl(api_addr))?,
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(StartError::HttpClient)?;
        let media_dir = tempfile::Builder::new()
            .prefix("tiktok-sandbox-")
            .tempdir()
            .map_err(StartError::MediaDir)?;
        let shared = Arc::new(Shared::new(
            config,
            clock,
            movable_clock,
            http,
            upload_base,
            media_dir,
        ));
        let (stop, stopped) = watch::channel(false);

        let upload_routes = Router::new()
            .route("/video/", put(upload::put_chunk))
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&shared));
        let mut api = api_router(Arc::clone(&shared));
        let mut servers = Vec::new();
        match upload_listener {
            Some(listener) => servers.push(serve(listener, upload_routes, stopped.clone())),
            None => api = api.nest("/upload", upload_routes),
        }
        servers.push(serve(api_listener, api, stopped));
        Ok(SandboxHandle {
            shared,
            api_base,
            stop,
            servers,
        })
    }
}

fn base_url(addr: SocketAddr) -> Result<Url, StartError> {
    Url::parse(&format!("http://{addr}/")).map_err(|_| StartError::BaseUrl(addr))
}

fn serve(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            while !*stopped.borrow_and_update() {
                if stopped.changed().await.is_err() {
                    return;
                }
            }
        };
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "sandbox listener stopped");
        }
    })
}

fn api_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v2/auth/authorize/", get(oauth::authorize))
        .route("/v2/oauth/token/", post(oauth::token))
        .route("/v2/oauth/revoke/", post(oauth::revoke))
        .route("/v2/post/publish/creator_info/query/", post(creator::query))
        .route("/v2/post/publish/video/init/", post(publish::video_init))
        .route(
            "/v2/post/publish/inbox/video/init/",
            post(publish::inbox_init),
        )
        .route(
            "/v2/post/publish/content/init/",
            post(publish::content_init),
        )
        .route(
            "/v2/post/publish/status/fetch/",
            post(publish::status_fetch),
        )
        .route("/v2/post/publish/cancel/", post(publish::cancel))
        .route("/v2/user/info/", get(display::user_info))
        .route("/v2/video/list/", post(display::video_list))
        .route("/v2/video/query/", post(display::video_query))
        .nest("/sandbox/admin", admin::router())
        .with_state(shared)
}

/// A running sandbox.
#[derive(Debug)]
pub struct SandboxHandle {
    shared: Arc<Shared>,
    api_base: Url,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

impl SandboxHandle {
    /// Base of the API host (`http://127.0.0.1:PORT/`); `v2/...` paths go under it.
    #[must_use]
    pub fn api_base_url(&self) -> Url {
        self.api_base.clone()
    }

    /// Base of the consent page host (`v2/auth/authorize/` goes under it).
    #[must_use]
    pub fn authorize_base_url(&self) -> Url {
        self.api_base.clone()
    }

    /// Base of the upload host that `upload_url`s point at.
    #[must_use]
    pub fn upload_base_url(&self) -> Url {
        self.shared.upload_base.clone()
    }

    /// Base of the admin API (`faults`, `published`, `creators`, `inbox/{publish_id}/post`,
    /// `clock`, `clock/advance`).
    #[must_use]
    pub fn admin_base_url(&self) -> Url {
        self.api_base
            .join("sandbox/admin/")
            .unwrap_or_else(|_| self.api_base.clone())
    }

    /// The configuration it runs with.
    #[must_use]
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// The sandbox creators.
    #[must_use]
    pub fn creators(&self) -> Vec<CreatorConfig> {
        self.shared.config.creators.clone()
    }

    /// Every remembered publish with its status as of now: the truth tests compare against.
    #[must_use]
    pub fn published(&self) -> Vec<PublishedRecord> {
        admin::published(&self.shared)
    }

    /// How many times each error code was answered by the sandbox's own rules (rate limits,
    /// caps, invalid tokens, bad parameters: never the injected faults), since start.
    #[must_use]
    pub fn refusals(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.world().refusals.clone()
    }

    /// How many requests to `endpoint` were admitted (past scopes and rate limits), since start:
    /// what TikTok received and would have answered.
    #[must_use]
    pub fn admitted(&self, endpoint: FaultEndpoint) -> u64 {
        self.shared
            .world()
            .admitted
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// Whether the admin API may move the sandbox's clock (started with
    /// [`Sandbox::start_with_manual_clock`]).
    #[must_use]
    pub fn clock_is_movable(&self) -> bool {
        self.shared.movable_clock.is_some()
    }

    /// Adds a fault rule; returns its id.
    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        self.shared.world().faults.add(rule)
    }

    /// The active fault rules.
    #[must_use]
    pub fn faults(&self) -> Vec<ActiveFault> {
        self.shared.world().faults.list()
    }

    /// Removes one fault rule; `false` if no rule had that id.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.shared.world().faults.remove(id)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.world().faults.clear();
    }

    /// The creator acts on an inbox draft and posts it (publicly): the publish becomes
    /// `PUBLISH_COMPLETE`. Returns `false` if no inbox draft with that id is waiting.
    pub fn user_posts_from_inbox(&self, publish_id: &str) -> bool {
        publish::user_posts_from_inbox(&self.shared, publish_id)
    }

    /// Bytes of received media held on disk right now: media still arriving; everything else
    /// is deleted once its outcome is decided.
    #[must_use]
    pub fn media_on_disk_bytes(&self) -> u64 {
        self.shared.media_on_disk_bytes()
    }

    /// A human-readable start-up banner: base URLs, apps and creators (no secrets).
    #[must_use]
    pub fn banner(&self) -> String {
        let mut text = format!(
            "TikTok sandbox\n  API:       {}\n  authorize: {}v2/auth/authorize/\n  upload:    {}\n  admin:     {}\n",
            self.api_base_url(),
            self.authorize_base_url(),
            self.upload_base_url(),
            self.admin_base_url()
        );
        if self.shared.movable_clock.is_some() {
            text.push_str(&format!(
                "  clock:     manual, now {} (GET {}clock, POST {}clock/advance {{\"seconds\": N}})\n",
                self.shared.now(),
                self.admin_base_url(),
                self.admin_base_url()
            ));
        }
        for app in &self.shared.config.apps {
            text.push_str(&format!(
                "  app {} ({})\n",
                app.client_key,
                if app.audited { "audited" } else { "unaudited" }
            ));
        }
        for creator in &self.shared.config.creators {
            text.push_str(&format!(
                "  creator @{} {} ({}{}, cap {}/24h, max {} s)\n",
                creator.username,
                creator.open_id,
                if creator.private_account {
                    "private"
                } else {
                    "public"
                },
                if creator.banned { ", banned" } else { "" },
                creator.daily_post_cap,
                creator.max_video_post_duration_sec
            ));
        }
        text
    }

    /// Stops accepting connections, lets requests in flight finish, aborts background work
    /// (pulls, webhook deliveries) and waits for the listeners to close.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        self.shared.abort_tasks();
        for server in self.servers {
            if let Err(error) = server.await {
                tracing::warn!(%error, "sandbox listener task ended abnormally");
            }
        }
    }
}

/// Which answer shape an endpoint uses, for injected errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Envelope,
    OAuth,
}

/// Runs `work` under the fault rules of `endpoint`. `work` receives an injected `fail_reason`.
pub(crate) async fn with_faults<F, Fut>(
    shared: &Shared,
    endpoint: FaultEndpoint,
    open_id: Option<&str>,
    family: Family,
    work: F,
) -> Response
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: Future<Output = Response>,
{
    let decision = shared.faults(endpoint, open_id);
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    match decision.action {
        Some(FaultEffect::Error {
            code,
            http_status,
            message,
        }) => {
            let status =
                StatusCode::from_u16(http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = message.unwrap_or_else(|| format!("Injected by the sandbox: {code}"));
            let log_id = shared.log_id();
            match family {
                Family::Envelope => shared.envelope.error(
                    ApiError::new(ErrorCode::Injected(code), message).with_status(status),
                    log_id,
                ),
                Family::OAuth => {
                    let mut error = OAuthError::new(OAuthErrorKind::Injected(code), message);
                    error.forced_status = Some(status);
                    error.render(shared.config.oauth_error_status, &log_id)
                }
            }
        }
        Some(FaultEffect::Http5xxWithoutBody { http_status }) => {
            bare_5xx(StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_GATEWAY))
        }
        Some(FaultEffect::DropConnection { after_processing }) => {
            if after_processing {
                drop(work(decision.fail_reason).await);
            }
            dropped_connection()
        }
        Some(FaultEffect::FailReason { .. } | FaultEffect::Latency { .. }) | None => {
            work(decision.fail_reason).await
        }
    }
}

/// The bearer token's grant, or `access_token_invalid`.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim().to_owned())
        })
        .ok_or_else(ApiError::token_invalid)?;
    shared
        .world()
        .caller(&token, shared.now())
        .ok_or_else(ApiError::token_invalid)
}

/// Scope (any of `scopes`) then the rate limit.
pub(crate) fn admit(
    shared: &Shared,
    caller: &Caller,
    scopes: &[&str],
    endpoint: FaultEndpoint,
    limit: Option<u32>,
) -> Result<(), ApiError> {
    if !scopes.iter().any(|scope| caller.grant.has_scope(scope)) {
        return Err(ApiError::scope_missing(&scopes.join(" or ")));
    }
    let now = shared.now();
    let mut world = shared.world();
    if world.rate.admit(&caller.token, endpoint, limit, now) {
        *world.admitted.entry(endpoint).or_default() += 1;
        Ok(())
    } else {
        Err(ApiError::rate_limited())
    }
}

/// Renders a v2 result: `Some(data)`, `None` for an envelope without `data` (cancel), or an
/// error.
pub(crate) fn respond(shared: &Shared, result: Result<Option<Value>, ApiError>) -> Response {
    let log_id = shared.log_id();
    match result {
        Ok(data) => shared.envelope.ok(data, log_id),
        Err(error) => {
            if !matches!(error.code, ErrorCode::Injected(_)) {
                let code = error.code.as_wire(&shared.envelope.invalid_params_spelling);
                *shared.world().refusals.entry(code).or_default() += 1;
            }
            shared.envelope.error(error, log_id)
        }
    }
}
