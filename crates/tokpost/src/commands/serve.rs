//! `tokpost serve`: the API and the publishing workers in one process. With `--sandbox`, or
//! when no TikTok app is configured, the built-in TikTok sandbox starts in-process on a free
//! loopback port and the client points at it, so the whole product works without a TikTok app.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clock::{SharedClock, SystemClock};
use secrecy::SecretString;
use tiktok::{TikTokClient, TikTokConfig};
use tiktok_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use tokio::net::TcpListener;
use tokpost_api::{ApiSettings, AppState};
use tokpost_media_store::{PULL_ROUTE_PREFIX, PullBaseUrl, pull_router};
use tokpost_pipeline::Pipeline;

use crate::cli::ServeArgs;
use crate::commands::worker::{media_access, stop_signal, tiktok_client};
use crate::config::Config;

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let mut sources = args.config.sources();
    if let Some(listen) = args.listen {
        sources.flags.push(("http.listen", listen.to_string()));
    }
    let config = Config::load(&sources)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(config, args.sandbox, !args.no_workers))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(mut config: Config, sandbox_flag: bool, run_workers: bool) -> anyhow::Result<()> {
    let clock: SharedClock = SystemClock::shared();
    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("listening on {}", config.http.listen))?;
    // Port 0 means any free port: links and the OAuth redirect must name the real one.
    config.http.listen = listener
        .local_addr()
        .context("reading the listen address")?;
    let store = tokpost_store::open(&config.database_url(), config.token_cipher()?)
        .await
        .context("opening the database")?;
    let mut stdout = std::io::stdout();
    if let Some((workspace, key)) = tokpost_api::bootstrap(store.as_ref(), clock.now())
        .await
        .context("creating the default workspace")?
    {
        writeln!(
            stdout,
            "First start: created workspace `{}` ({}) and its admin API key (shown once, keep it):\n  {}\n",
            workspace.name,
            workspace.id,
            key.secret.expose_secret()
        )?;
    }
    if store.users().await.context("reading the users")?.is_empty() {
        writeln!(
            stdout,
            "Nobody can sign in to the dashboard yet. Create the first owner (asks for a password):\n  tokpost users create --email you@example.com --name \"Your Name\"\nThen invite the rest of the team from the dashboard's Team page.\n"
        )?;
    }
    let in_process_sandbox = sandbox_flag || config.uses_sandbox();
    // Without a TikTok app, the built-in sandbox pulls uploaded media from this process over
    // loopback (TikTok itself needs the verified https prefix of media.pull_base_url).
    let pull_base = match config.pull_base_url()? {
        Some(base) => Some(base),
        None if in_process_sandbox => Some(
            PullBaseUrl::parse_loopback(&format!(
                "http://127.0.0.1:{}{PULL_ROUTE_PREFIX}/",
                config.http.listen.port()
            ))
            .context("the loopback pull base")?,
        ),
        None => None,
    };
    let sandbox = if in_process_sandbox {
        Some(start_sandbox(Arc::clone(&clock), pull_base.as_ref()).await?)
    } else {
        None
    };
    if sandbox.is_some()
        && let Some(base) = &pull_base
    {
        config
            .tiktok
            .verified_url_prefixes
            .push(base.as_url().to_string());
    }
    let (media, signer) = media_access(&config, Arc::clone(&clock), pull_base)?;
    let media_store = Arc::clone(media.store());
    let (client, webhook_secret) = match &sandbox {
        Some(handle) => sandbox_client(&config, handle, Arc::clone(&clock))?,
        None => (
            tiktok_client(&config)?,
            config.tiktok.client_secret.get().map(|secret| {
                SecretString::from(secrecy::ExposeSecret::expose_secret(secret).to_owned())
            }),
        ),
    };
    // The in-process sandbox's app is the app tokpost posts as: its audit is the truth.
    let audited = config.app_audited(sandbox.as_ref().map(SandboxHandle::config));
    let pipeline = Pipeline::with_media(
        Arc::clone(&store),
        Arc::clone(&clock),
        client.clone(),
        config.pipeline_config(config.publish_policy_for(audited))?,
        Some(media),
    );
    let mut settings = ApiSettings::new(config.public_base_url()?, config.data_dir.join("media"));
    settings.verified_url_prefixes = config.tiktok.verified_url_prefixes.clone();
    settings.max_upload_bytes = config.http.max_upload_bytes;
    settings.pkce = config.tiktok.desktop_app;
    settings.daily_post_cap = config.tiktok.daily_post_cap;
    settings.insight_scopes = config.tiktok.insight_scopes.clone();
    settings.webhook_secret = webhook_secret;
    settings.builtin_sandbox = sandbox.is_some();
    settings.webhook_addresses = config.webhooks.address_policy()?;
    settings.limits = config.http.limits();
    settings.metrics_token = config.http.metrics_token.get().cloned();
    settings.mailer = config.email.mailer()?;
    settings.oidc = config
        .oidc
        .provider(&config.public_base_url()?)?
        .map(std::sync::Arc::new);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let process = format!("serve:{}", std::process::id());
    let mut workers = Vec::new();
    if run_workers {
        // This process runs workers: /readyz fails when their heartbeat goes stale.
        settings.workers_process = Some(process.clone());
        workers = pipeline.spawn(&process, shutdown.clone());
        workers.push(
            tokpost_pipeline::webhooks::Deliverer::spawn(
                &process,
                Arc::clone(&store),
                Arc::clone(&clock),
                tokpost_pipeline::webhooks::DeliverySettings::default(),
                config.webhooks.address_policy()?,
                config
                    .webhooks
                    .messages(config.public_base_url()?, config.email.mailer()?)?,
                shutdown,
            )
            .context("starting the webhook sender")?,
        );
    }
    let state = AppState::new(store, clock, client, pipeline.clone(), settings);
    let api = config.public_base_url()?;
    writeln!(
        stdout,
        "tokpost API on {api} (dashboard: {api}, docs: {api}docs, OpenAPI: {api}openapi.json)"
    )?;
    if let Some(handle) = &sandbox {
        write!(stdout, "{}", handle.banner())?;
    }
    if run_workers {
        writeln!(
            stdout,
            "{} workers running; Ctrl-C or SIGTERM stops tokpost.",
            config.workers.count
        )?;
    } else {
        writeln!(
            stdout,
            "No workers in this process (--no-workers): `tokpost worker` processes publish. Ctrl-C or SIGTERM stops tokpost."
        )?;
    }
    stdout.flush()?;
    // The API and the dashboard share the state and no path.
    let mut app = tokpost_api::router(state.clone()).merge(tokpost_dashboard::router(state));
    if let Some(signer) = signer {
        // What TikTok downloads: signed, expiring, straight from the media store.
        app = app.nest(PULL_ROUTE_PREFIX, pull_router(media_store, signer));
    }
    // The limits hold for every route of the process, the pull route included.
    let app = tokpost_api::limits::apply(app, config.http.limits());
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            if let Err(error) = stop_signal().await {
                tracing::error!(%error, "cannot wait for a stop signal; stopping");
            }
        })
        .await
        .context("serving the API")?;
    tracing::info!(
        "stopping: running jobs end at their next step; unfinished ones return to the queue when their lease ends"
    );
    let _ = stop.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    if let Some(handle) = sandbox {
        handle.shutdown().await;
    }
    Ok(())
}

async fn start_sandbox(
    clock: SharedClock,
    pull_base: Option<&PullBaseUrl>,
) -> anyhow::Result<SandboxHandle> {
    let mut sandbox = SandboxConfig::default();
    if let Some(base) = pull_base {
        sandbox.allow_insecure_loopback_pull = true;
        for app in &mut sandbox.apps {
            app.verified_url_prefixes.push(base.as_url().to_string());
        }
    }
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let api = TcpListener::bind(loopback)
        .await
        .context("listening for the sandbox")?;
    let upload = TcpListener::bind(loopback)
        .await
        .context("listening for sandbox uploads")?;
    Sandbox::start(sandbox, clock, api, Some(upload))
        .await
        .context("starting the sandbox")
}

/// A client for the sandbox's demo app, and the secret its webhooks are signed with.
fn sandbox_client(
    config: &Config,
    handle: &SandboxHandle,
    clock: SharedClock,
) -> anyhow::Result<(TikTokClient, Option<SecretString>)> {
    let app = handle
        .config()
        .apps
        .first()
        .context("the sandbox has no app")?;
    let secret = SecretString::from(app.client_secret.expose().to_owned());
    let tiktok = TikTokConfig::production(
        app.client_key.clone(),
        secret.clone(),
        config.redirect_uri()?,
    )
    .context("the sandbox app configuration")?
    .with_base_urls(handle.api_base_url(), handle.authorize_base_url());
    let client = TikTokClient::new(tiktok, clock).context("building the TikTok client")?;
    Ok((client, Some(secret)))
}
