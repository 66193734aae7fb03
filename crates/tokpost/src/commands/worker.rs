//! `tokpost worker`: the publishing workers without the API, for scale-out: several of these on
//! several machines share one PostgreSQL database (never two on one SQLite file's account at
//! once either: the store's per-account leases hold across processes).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clock::{SharedClock, SystemClock};
use secrecy::SecretString;
use tiktok::{TikTokClient, TikTokConfig};
use tokpost_media_store::{PullBaseUrl, UrlSigner};
use tokpost_pipeline::{MediaAccess, Pipeline};

use crate::cli::ConfigArgs;
use crate::config::Config;

pub(crate) fn run(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.sources())?;
    if config.uses_sandbox() {
        anyhow::bail!(
            "tokpost worker needs the TikTok app's credentials (tiktok.client_key and \
             tiktok.client_secret, or TOKPOST_TIKTOK__CLIENT_KEY / TOKPOST_TIKTOK__CLIENT_SECRET); \
             the built-in sandbox runs inside `tokpost serve`, or point tiktok.api_base_url at \
             a `tokpost sandbox` and use its demo app"
        );
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(work(config))?;
    Ok(ExitCode::SUCCESS)
}

/// The TikTok client the configuration describes.
pub(crate) fn tiktok_client(config: &Config) -> anyhow::Result<TikTokClient> {
    let secret = config
        .tiktok
        .client_secret
        .get()
        .map(|secret| SecretString::from(secrecy::ExposeSecret::expose_secret(secret).to_owned()))
        .context("tiktok.client_secret is not set")?;
    let mut tiktok = TikTokConfig::production(
        config.tiktok.client_key.clone(),
        secret,
        config.redirect_uri()?,
    )
    .context("the TikTok app configuration")?
    .with_base_urls(config.api_base_url()?, config.authorize_base_url()?);
    tiktok.request_timeout = std::time::Duration::from_secs(config.tiktok.request_timeout_secs);
    TikTokClient::new(tiktok, SystemClock::shared()).context("building the TikTok client")
}

/// The media store of the configuration, and the signer of pull URLs under `pull_base` (the
/// configured one, or the built-in sandbox's loopback one) when there is one.
pub(crate) fn media_access(
    config: &Config,
    clock: SharedClock,
    pull_base: Option<PullBaseUrl>,
) -> anyhow::Result<(MediaAccess, Option<Arc<UrlSigner>>)> {
    let store = tokpost_media_store::open(&config.media_store_config())
        .context("opening the media store (media.*)")?;
    let access = MediaAccess::new(store);
    let Some(base) = pull_base else {
        return Ok((access, None));
    };
    if !config.media.signing_key.is_set() && !config.uses_sandbox() {
        // Workers sign and `serve` checks: keys generated on two machines never agree.
        tracing::warn!(
            "media.signing_key is not configured: this process uses the key generated in its data \
             directory; with several machines set TOKPOST_MEDIA__SIGNING_KEY to the same value \
             everywhere, or TikTok's pulls are refused"
        );
    }
    let key = config.media_signing_key()?;
    let signer = Arc::new(
        UrlSigner::new(base, &key, clock).context("the media signing key (media.signing_key)")?,
    );
    let lifetime = std::time::Duration::from_secs(config.media.pull_url_lifetime_secs);
    Ok((
        access.with_pull(Arc::clone(&signer), lifetime),
        Some(signer),
    ))
}

async fn work(config: Config) -> anyhow::Result<()> {
    let cipher = config.token_cipher()?;
    let store = tokpost_store::open(&config.database_url(), cipher)
        .await
        .context("opening the database")?;
    let client = tiktok_client(&config)?;
    let (media, _) = media_access(&config, SystemClock::shared(), config.pull_base_url()?)?;
    let pipeline = Pipeline::with_media(
        Arc::clone(&store),
        SystemClock::shared(),
        client,
        config.pipeline_config(config.publish_policy())?,
        Some(media),
    );
    let name = worker_name();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let mut handles = pipeline.spawn(&name, shutdown.clone());
    // Every worker process also sends outbound webhooks, alerts and digests: deliveries are
    // leased, so several senders share them like jobs, and a day's digest is recorded once.
    handles.push(
        tokpost_pipeline::webhooks::Deliverer::spawn(
            &name,
            store,
            SystemClock::shared(),
            tokpost_pipeline::webhooks::DeliverySettings::default(),
            config.webhooks.address_policy()?,
            config
                .webhooks
                .messages(config.public_base_url()?, config.email.mailer()?)?,
            shutdown,
        )
        .context("starting the webhook sender")?,
    );
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "tokpost worker {name}: {} workers; Ctrl-C or SIGTERM stops them",
            config.workers.count
        )?;
        stdout.flush()?;
    }
    stop_signal().await?;
    tracing::info!(worker = %name, "stopping: running jobs end at their next step; unfinished ones return to the queue when their lease ends");
    let _ = stop.send(true);
    for handle in handles {
        let _ = handle.await;
    }
    Ok(())
}

/// `host:pid`, unique among the processes sharing a database.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    format!("{host}:{}", std::process::id())
}

/// Ctrl-C or SIGTERM (what service managers send).
pub(crate) async fn stop_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}
