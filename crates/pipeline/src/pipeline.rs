//! The assembled pipeline of one process: the token keeper and the publisher behind one job
//! dispatcher, the workers that run it, and the periodic pass that schedules token refreshes.

use std::sync::Arc;
use std::time::Duration;

use clock::SharedClock;
use tiktok::TikTokClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokpost_core::{AccountId, JobKind};
use tokpost_store::{Job, Store, StoreError, WorkerId};

use crate::media_access::MediaAccess;
use crate::policy::PublishPolicy;
use crate::preflight::{PostDraft, PreflightReport};
use crate::publisher::Publisher;
use crate::token_keeper::{KeeperPolicy, TokenKeeper};
use crate::worker::{JobHandler, JobOutcome, Worker, WorkerSettings};

/// How a process runs the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    pub worker: WorkerSettings,
    pub keeper: KeeperPolicy,
    pub publishing: PublishPolicy,
    /// Concurrent workers in this process. Each claims jobs of accounts no other worker holds
    /// and runs up to [`WorkerSettings::batch`] of them at once, so more workers means more
    /// accounts served at once, never two steps of one account.
    pub workers: usize,
    /// How often the token keeper looks for accounts whose token needs refreshing soon.
    pub refresh_scan_every: Duration,
    /// What the janitor deletes, and when.
    pub retention: crate::janitor::Retention,
    /// How counts are read for insights.
    pub insights: crate::insights::InsightSettings,
    /// How media are fixed (ffmpeg, bounds).
    pub fix: crate::media_fix::FixSettings,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            worker: WorkerSettings::default(),
            keeper: KeeperPolicy::default(),
            publishing: PublishPolicy::default(),
            workers: 4,
            refresh_scan_every: Duration::from_secs(15 * 60),
            retention: crate::janitor::Retention::default(),
            insights: crate::insights::InsightSettings::default(),
            fix: crate::media_fix::FixSettings::default(),
        }
    }
}

/// The pipeline of one process.
#[derive(Debug, Clone)]
pub struct Pipeline {
    store: Arc<dyn Store>,
    clock: SharedClock,
    keeper: Arc<TokenKeeper>,
    dispatcher: Arc<Dispatcher>,
    config: PipelineConfig,
    media: Option<MediaAccess>,
}

impl Pipeline {
    /// Assembles the keeper and the publisher over one store, clock and TikTok client.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        client: TikTokClient,
        config: PipelineConfig,
    ) -> Self {
        Self::with_media(store, clock, client, config, None)
    }

    /// [`Pipeline::new`] reading uploaded media from a media store (shared with the API that
    /// writes them). Without one, only media registered by URL and uploads from before the
    /// media store (files on this machine) can be published.
    #[must_use]
    pub fn with_media(
        store: Arc<dyn Store>,
        clock: SharedClock,
        client: TikTokClient,
        config: PipelineConfig,
        media: Option<MediaAccess>,
    ) -> Self {
        let keeper = Arc::new(TokenKeeper::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            client.clone(),
            config.keeper.clone(),
        ));
        let publisher = Arc::new(
            Publisher::new(
                Arc::clone(&store),
                Arc::clone(&clock),
                client,
                Arc::clone(&keeper),
                config.publishing.clone(),
            )
            .with_media(media.clone())
            .with_insights(config.insights),
        );
        let fixes = Arc::new(crate::media_fix::MediaFixes::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            media.clone(),
            config.fix.clone(),
        ));
        Self {
            store,
            clock,
            keeper: Arc::clone(&keeper),
            dispatcher: Arc::new(Dispatcher {
                keeper,
                publisher,
                fixes,
            }),
            config,
            media,
        }
    }

    /// The media store this pipeline reads uploads from (the API writes to the same one).
    #[must_use]
    pub fn media(&self) -> Option<&MediaAccess> {
        self.media.as_ref()
    }

    /// The token keeper (fresh tokens for the API's creator-info and refresh-now calls).
    #[must_use]
    pub fn keeper(&self) -> Arc<TokenKeeper> {
        Arc::clone(&self.keeper)
    }

    /// The runner of media fixes (whether fixing is available here).
    #[must_use]
    pub fn fixes(&self) -> Arc<crate::media_fix::MediaFixes> {
        Arc::clone(&self.dispatcher.fixes)
    }

    /// The publisher (preflight dry runs, resuming after a reconnect).
    #[must_use]
    pub fn publisher(&self) -> Arc<Publisher> {
        Arc::clone(&self.dispatcher.publisher)
    }

    /// The full preflight of a draft, nothing stored (`POST /v1/posts/validate`).
    ///
    /// # Errors
    /// Store failures.
    pub async fn preflight(&self, draft: &PostDraft) -> Result<PreflightReport, StoreError> {
        self.dispatcher.publisher.preflight(draft).await
    }

    /// Resumes the account's posts that waited for a reconnect (call after a reconnect).
    ///
    /// # Errors
    /// Store failures.
    pub async fn account_reconnected(&self, account: AccountId) -> Result<usize, StoreError> {
        self.dispatcher.publisher.account_reconnected(account).await
    }

    /// A publish TikTok reported (webhook) that no post knows: adopted by the account's one
    /// post whose init answer was lost, if there is exactly one.
    ///
    /// # Errors
    /// Store failures.
    pub async fn publish_reported(
        &self,
        account: AccountId,
        publish_id: &tokpost_core::PublishId,
    ) -> Result<Option<tokpost_core::PostId>, StoreError> {
        self.dispatcher
            .publisher
            .publish_reported(account, publish_id)
            .await
    }

    /// Starts `config.workers` workers named `{worker_name}:{n}`, the init wave
    /// (`{worker_name}:wave`), the refresh scan and the
    /// process's worker heartbeat (recorded under `worker_name`), until
    /// `shutdown` turns true. A job interrupted by shutdown stays leased until its lease ends,
    /// then another worker resumes it from its stored progress.
    #[must_use]
    pub fn spawn(&self, worker_name: &str, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let mut handles = Vec::with_capacity(self.config.workers + 1);
        for n in 0..self.config.workers.max(1) {
            let worker = Worker::new(
                WorkerId::new(format!("{worker_name}:{n}")),
                Arc::clone(&self.store),
                Arc::clone(&self.clock),
                Arc::clone(&self.dispatcher),
                self.config.worker,
            );
            let shutdown = shutdown.clone();
            handles.push(tokio::spawn(async move { worker.run(shutdown).await }));
        }
        handles.push(tokio::spawn(crate::init_wave::run(
            Worker::new(
                WorkerId::new(format!("{worker_name}:wave")),
                Arc::clone(&self.store),
                Arc::clone(&self.clock),
                Arc::clone(&self.dispatcher),
                self.config.worker,
            ),
            Arc::clone(&self.dispatcher.publisher),
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            shutdown.clone(),
        )));
        let workers: Vec<_> = handles.iter().map(JoinHandle::abort_handle).collect();
        handles.push(tokio::spawn(heartbeat(
            worker_name.to_owned(),
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            workers,
            shutdown.clone(),
        )));
        if !self.config.publishing.prepare_ahead.is_zero() {
            handles.push(tokio::spawn(bring_forward_due_posts(
                Arc::clone(&self.store),
                Arc::clone(&self.clock),
                self.config.publishing.prepare_ahead,
                shutdown.clone(),
            )));
        }
        handles.push(tokio::spawn(crate::janitor::run(
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            self.config.retention,
            shutdown.clone(),
        )));
        let keeper = Arc::clone(&self.keeper);
        let clock = Arc::clone(&self.clock);
        let every = self.config.refresh_scan_every;
        let mut shutdown = shutdown;
        handles.push(tokio::spawn(async move {
            loop {
                if let Err(error) = keeper.schedule_due_refreshes().await {
                    tracing::warn!(%error, "token refresh scan failed");
                }
                tokio::select! {
                    () = clock::sleep(clock.as_ref(), every) => {}
                    changed = shutdown.changed() => {
                        if changed.is_err() || *shutdown.borrow() {
                            return;
                        }
                    }
                }
            }
        }));
        handles
    }
}

/// Hands the workers every post due within `ahead`, to be prepared before its time (see
/// [`PublishPolicy::prepare_ahead`]), looking ten times per `ahead` (at most every 30 s, at
/// least every second) so that a post created inside the window still gets most of it. Every
/// process may run it: bringing a job forward twice is bringing it forward once.
async fn bring_forward_due_posts(
    store: Arc<dyn Store>,
    clock: SharedClock,
    ahead: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = (ahead / 10).clamp(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        let now = clock.now();
        match store.prepare_due_by(clock::add(now, ahead), now).await {
            Ok(0) => {}
            Ok(moved) => tracing::debug!(moved, "posts due soon handed to the workers to prepare"),
            Err(error) => tracing::warn!(%error, "looking for posts to prepare failed"),
        }
        tokio::select! {
            () = clock::sleep(clock.as_ref(), every) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

/// How often a process records that its workers run (`Store::record_worker_heartbeat`);
/// readiness allows a few missed beats ([`WORKER_HEARTBEAT_STALE_AFTER`]).
pub const WORKER_HEARTBEAT_EVERY: Duration = Duration::from_secs(15);

/// How old a process's worker heartbeat may be before its readiness check fails.
pub const WORKER_HEARTBEAT_STALE_AFTER: Duration = Duration::from_secs(60);

/// Records the process's heartbeat every [`WORKER_HEARTBEAT_EVERY`] while all of its worker
/// tasks run: a worker task that ended (a panic) stops the beat, so readiness fails instead of
/// the process serving without publishing.
async fn heartbeat(
    name: String,
    store: Arc<dyn Store>,
    clock: SharedClock,
    workers: Vec<tokio::task::AbortHandle>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        if workers.iter().all(|worker| !worker.is_finished()) {
            if let Err(error) = store.record_worker_heartbeat(&name, clock.now()).await {
                tracing::warn!(%error, "recording the worker heartbeat failed");
            }
        } else {
            tracing::error!(process = %name, "a worker task ended; readiness will fail");
        }
        tokio::select! {
            () = clock::sleep(clock.as_ref(), WORKER_HEARTBEAT_EVERY) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Routes each job to the component that runs its kind.
#[derive(Debug)]
pub struct Dispatcher {
    keeper: Arc<TokenKeeper>,
    publisher: Arc<Publisher>,
    fixes: Arc<crate::media_fix::MediaFixes>,
}

impl JobHandler for Dispatcher {
    async fn handle(&self, job: &Job) -> JobOutcome {
        match job.kind {
            JobKind::RefreshToken => self.keeper.handle(job).await,
            JobKind::PublishPost
            | JobKind::CheckPublishStatus
            | JobKind::SyncCreatorInfo
            | JobKind::SnapshotStats => self.publisher.handle(job).await,
            JobKind::FixMedia => self.fixes.run(job).await,
        }
    }
}
