//! The in-memory world behind one mutex: grants and tokens, rate windows, fault rules, publishes
//! and the rolling 24-hour counters. Nothing here awaits; handlers lock, decide, unlock.
//!
//! Publishes change state lazily: a publish stores the instants at which its processing ends
//! and its public ids appear, and its status is computed from the clock when asked. A test that
//! moves a `ManualClock` therefore sees the result at once, without any background task. Memory
//! stays bounded: expired codes and tokens are pruned, received media bytes are dropped as soon
//! as processing is decided, and the oldest finished publishes are forgotten beyond
//! `max_retained_publishes`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use clock::{ManualClock, SharedClock};
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use tokio::task::{AbortHandle, JoinSet};
use url::Url;

use crate::config::{CreatorConfig, Delay, SandboxConfig};
use crate::faults::{FaultBook, FaultDecision, FaultEndpoint};
use crate::ids;
use crate::rate_limit::RateLimiter;
use crate::wire::Envelope;

pub(crate) const DAY: SignedDuration = SignedDuration::from_hours(24);
const PRUNE_EVERY: SignedDuration = SignedDuration::from_secs(1);

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    pub(crate) clock: SharedClock,
    /// The same clock when the sandbox may move it (admin `POST /clock/advance`).
    pub(crate) movable_clock: Option<Arc<ManualClock>>,
    pub(crate) envelope: Envelope,
    pub(crate) http: reqwest::Client,
    pub(crate) upload_base: Url,
    /// `config.creators` by open id and by username: a lookup on every request must not scan
    /// a world of ten thousand creators.
    creators_by_key: HashMap<String, usize>,
    media_dir: tempfile::TempDir,
    world: Mutex<World>,
    tasks: Mutex<JoinSet<()>>,
}

impl Shared {
    pub(crate) fn new(
        config: SandboxConfig,
        clock: SharedClock,
        movable_clock: Option<Arc<ManualClock>>,
        http: reqwest::Client,
        upload_base: Url,
        media_dir: tempfile::TempDir,
    ) -> Self {
        let mut world = World::new(config.seed);
        for rule in &config.faults {
            world.faults.add(rule.clone());
        }
        let mut creators_by_key = HashMap::new();
        // The first creator with a name wins, as in `SandboxConfig::creator`'s scan.
        for (index, creator) in config.creators.iter().enumerate() {
            creators_by_key
                .entry(creator.open_id.clone())
                .or_insert(index);
        }
        for (index, creator) in config.creators.iter().enumerate() {
            creators_by_key
                .entry(creator.username.clone())
                .or_insert(index);
        }
        Self {
            envelope: Envelope {
                invalid_params_spelling: config.invalid_params_code.clone(),
            },
            creators_by_key,
            config,
            clock,
            movable_clock,
            http,
            upload_base,
            media_dir,
            world: Mutex::new(world),
            tasks: Mutex::new(JoinSet::new()),
        }
    }

    /// Bytes of received media currently held on disk.
    pub(crate) fn media_on_disk_bytes(&self) -> u64 {
        std::fs::read_dir(self.media_dir.path())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|entry| entry.metadata().ok())
                    .map(|metadata| metadata.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// A file name inside the sandbox's private media directory.
    pub(crate) fn media_path(&self, name: &str) -> PathBuf {
        self.media_dir.path().join(name)
    }

    /// The creator with this open id or username.
    pub(crate) fn creator(&self, open_id_or_username: &str) -> Option<&CreatorConfig> {
        self.creators_by_key
            .get(open_id_or_username)
            .and_then(|index| self.config.creators.get(*index))
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn log_id(&self) -> String {
        let now = self.now();
        ids::log_id(now, &mut self.world().rng)
    }

    /// Fires the fault rules for one request.
    pub(crate) fn faults(&self, endpoint: FaultEndpoint, open_id: Option<&str>) -> FaultDecision {
        let creator = open_id
            .and_then(|id| self.creator(id))
            .map(|c| (c.open_id.as_str(), c.username.as_str()));
        let mut world = self.world();
        let World { faults, rng, .. } = &mut *world;
        faults.decide(endpoint, creator, || rng.random::<f64>())
    }

    /// Runs a background task (pull, webhook delivery) that shutdown aborts.
    pub(crate) fn spawn(
        &self,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> AbortHandle {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task)
    }

    pub(crate) fn abort_tasks(&self) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }
}

/// An authorization code waiting to be exchanged.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) client_key: String,
    pub(crate) redirect_uri: String,
    pub(crate) open_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: Timestamp,
    pub(crate) code_challenge: Option<String>,
}

/// One user's authorization of one app.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) client_key: String,
    pub(crate) open_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) revoked: bool,
}

impl Grant {
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub(crate) grant: u64,
    pub(crate) expires_at: Timestamp,
}

/// What a valid bearer token stands for.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) token: String,
    pub(crate) grant_id: u64,
    pub(crate) grant: Grant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MediaKind {
    Video,
    Photo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PostMode {
    Direct,
    Inbox,
}

impl PostMode {
    /// `publish_type` in webhooks (`DIRECT_PUBLISH` as captured in a real payload).
    pub(crate) fn publish_type(self) -> &'static str {
        match self {
            Self::Direct => "DIRECT_PUBLISH",
            Self::Inbox => "INBOX_SHARE",
        }
    }
}

#[derive(Debug)]
pub(crate) struct UploadSession {
    pub(crate) upload_id: u64,
    pub(crate) token: String,
    pub(crate) video_size: u64,
    pub(crate) chunk_size: u64,
    pub(crate) total_chunks: u64,
    pub(crate) expires_at: Timestamp,
    pub(crate) received: u64,
    /// Where the received bytes are written.
    pub(crate) path: PathBuf,
    /// A chunk is being received (chunks are sequential: a concurrent one is refused).
    pub(crate) busy: bool,
    /// The file was deleted (outcome decided, publish failed, or window expired).
    pub(crate) discarded: bool,
}

impl UploadSession {
    pub(crate) fn discard(&mut self) {
        if !self.discarded {
            // Already gone is fine: the point is that nothing stays behind.
            let _ = std::fs::remove_file(&self.path);
            self.discarded = true;
        }
    }
}

#[derive(Debug)]
pub(crate) struct PullSession {
    pub(crate) urls: Vec<String>,
    /// One file per URL.
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) downloaded: u64,
    pub(crate) task: Option<AbortHandle>,
}

impl Source {
    /// Deletes whatever media this publish holds on disk.
    pub(crate) fn discard_media(&mut self) {
        match self {
            Self::FileUpload(upload) => upload.discard(),
            Self::PullFromUrl(pull) => {
                for path in &pull.paths {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

#[derive(Debug)]
pub(crate) enum Source {
    FileUpload(UploadSession),
    PullFromUrl(PullSession),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Failed(String),
    Published,
    Inbox,
}

#[derive(Debug, Clone)]
pub(crate) struct PublicPost {
    pub(crate) id: u64,
    /// When it was posted (the Display API's `create_time`).
    pub(crate) created_at: Timestamp,
    /// When the post becomes public (after moderation); `None` for a post nobody else sees.
    pub(crate) visible_at: Option<Timestamp>,
    /// Whether status fetch and the webhook ever report its id: not for a creator with
    /// [`PublicPostIds::Never`](crate::config::PublicPostIds::Never), whose public posts the
    /// Display API still lists.
    pub(crate) reported: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub(crate) done_at: Timestamp,
    pub(crate) outcome: Outcome,
    pub(crate) user_posted_at: Option<Timestamp>,
    pub(crate) posts: Vec<PublicPost>,
}

#[derive(Debug, Clone)]
pub(crate) enum Phase {
    AwaitingMedia,
    Decided(Decision),
    Failed { reason: String },
}

/// `status` of status fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    ProcessingUpload,
    ProcessingDownload,
    SendToUserInbox,
    PublishComplete,
    Failed(String),
}

impl Status {
    pub(crate) fn wire(&self) -> &'static str {
        match self {
            Self::ProcessingUpload => "PROCESSING_UPLOAD",
            Self::ProcessingDownload => "PROCESSING_DOWNLOAD",
            Self::SendToUserInbox => "SEND_TO_USER_INBOX",
            Self::PublishComplete => "PUBLISH_COMPLETE",
            Self::Failed(_) => "FAILED",
        }
    }

    pub(crate) fn fail_reason(&self) -> Option<&str> {
        match self {
            Self::Failed(reason) => Some(reason),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Publish {
    pub(crate) id: String,
    pub(crate) grant: u64,
    pub(crate) client_key: String,
    pub(crate) open_id: String,
    pub(crate) kind: MediaKind,
    pub(crate) mode: PostMode,
    pub(crate) source: Source,
    pub(crate) privacy_level: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) created_at: Timestamp,
    pub(crate) forced_fail_reason: Option<String>,
    pub(crate) phase: Phase,
    /// Hex SHA-256 of every file that arrived, in order (what was really published).
    pub(crate) received_sha256: Vec<String>,
}

impl Publish {
    pub(crate) fn status_at(&self, now: Timestamp) -> Status {
        let in_flight = match self.source {
            Source::FileUpload(_) => Status::ProcessingUpload,
            Source::PullFromUrl(_) => Status::ProcessingDownload,
        };
        match &self.phase {
            Phase::AwaitingMedia => in_flight,
            Phase::Failed { reason } => Status::Failed(reason.clone()),
            Phase::Decided(decision) if now < decision.done_at => in_flight,
            Phase::Decided(decision) => match &decision.outcome {
                Outcome::Failed(reason) => Status::Failed(reason.clone()),
                Outcome::Published => Status::PublishComplete,
                Outcome::Inbox => match decision.user_posted_at {
                    Some(at) if at <= now => Status::PublishComplete,
                    _ => Status::SendToUserInbox,
                },
            },
        }
    }

    pub(crate) fn visible_post_ids(&self, now: Timestamp) -> Vec<u64> {
        match (&self.phase, self.status_at(now)) {
            (Phase::Decided(decision), Status::PublishComplete) => decision
                .posts
                .iter()
                .filter(|post| post.reported && post.visible_at.is_some_and(|at| at <= now))
                .map(|post| post.id)
                .collect(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn is_final(&self, now: Timestamp) -> bool {
        matches!(
            self.status_at(now),
            Status::Failed(_) | Status::PublishComplete
        )
    }

    pub(crate) fn transferred_bytes(&self) -> u64 {
        match &self.source {
            Source::FileUpload(upload) => upload.received,
            Source::PullFromUrl(pull) => pull.downloaded,
        }
    }

    pub(crate) fn record(&self, now: Timestamp) -> PublishedRecord {
        let status = self.status_at(now);
        PublishedRecord {
            publish_id: self.id.clone(),
            client_key: self.client_key.clone(),
            open_id: self.open_id.clone(),
            media: match self.kind {
                MediaKind::Video => "video",
                MediaKind::Photo => "photo",
            }
            .to_owned(),
            post_mode: match self.mode {
                PostMode::Direct => "DIRECT_POST",
                PostMode::Inbox => "MEDIA_UPLOAD",
            }
            .to_owned(),
            source: match self.source {
                Source::FileUpload(_) => "FILE_UPLOAD",
                Source::PullFromUrl(_) => "PULL_FROM_URL",
            }
            .to_owned(),
            privacy_level: self.privacy_level.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            status: status.wire().to_owned(),
            fail_reason: status.fail_reason().map(str::to_owned),
            public_post_ids: self.visible_post_ids(now),
            transferred_bytes: self.transferred_bytes(),
            media_settled: !matches!(self.phase, Phase::AwaitingMedia),
            received_sha256: self.received_sha256.clone(),
            created_at: self.created_at,
        }
    }
}

/// One publish as the sandbox sees it: the truth tests compare against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PublishedRecord {
    /// The publish id handed out at init.
    pub publish_id: String,
    /// The app that created it.
    pub client_key: String,
    /// The creator it was posted for.
    pub open_id: String,
    /// `video` or `photo`.
    pub media: String,
    /// `DIRECT_POST` or `MEDIA_UPLOAD` (inbox).
    pub post_mode: String,
    /// `FILE_UPLOAD` or `PULL_FROM_URL`.
    pub source: String,
    /// The privacy level chosen at init (direct posts).
    pub privacy_level: Option<String>,
    /// Caption (video) or title (photo).
    pub title: Option<String>,
    /// Photo description.
    pub description: Option<String>,
    /// The status a status fetch would report now.
    pub status: String,
    /// Set when `FAILED`.
    pub fail_reason: Option<String>,
    /// Public post ids visible now.
    pub public_post_ids: Vec<u64>,
    /// Bytes uploaded or downloaded.
    pub transferred_bytes: u64,
    /// Whether every byte arrived (or the publish failed before): the outcome is decided and
    /// only the clock still has to reach it.
    pub media_settled: bool,
    /// Hex SHA-256 of every file that arrived (uploaded or pulled), in order: a test compares
    /// them with what it meant to publish.
    #[serde(default)]
    pub received_sha256: Vec<String>,
    /// When init succeeded.
    pub created_at: Timestamp,
}

/// The mutable world.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) rng: StdRng,
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) grants: HashMap<u64, Grant>,
    next_grant: u64,
    pub(crate) access_tokens: HashMap<String, IssuedToken>,
    pub(crate) refresh_tokens: HashMap<String, IssuedToken>,
    pub(crate) rate: RateLimiter,
    pub(crate) faults: FaultBook,
    pub(crate) publishes: HashMap<String, Publish>,
    publish_order: VecDeque<String>,
    pub(crate) uploads: HashMap<u64, String>,
    /// File uploads that may still be waiting for bytes (what the disk budget must hold).
    pending_uploads: PendingUploads,
    /// Each creator's direct posts of the last 24 h (across apps), oldest first.
    direct_posts: HashMap<String, VecDeque<Timestamp>>,
    /// Each app's creators with a direct post in the last 24 h.
    active_creators: HashMap<String, ActiveCreators>,
    /// The earliest instant [`World::prune`] does its work again: a sweep over every token and
    /// publish on each request would make a request cost grow with the world.
    next_prune_at: Timestamp,
    /// Errors the sandbox itself answered (not injected), by code: a client that respects
    /// TikTok's limits never sees `rate_limit_exceeded` or a cap error here.
    pub(crate) refusals: std::collections::BTreeMap<String, u64>,
    /// Requests admitted past scopes and rate limits, by endpoint, since start.
    pub(crate) admitted: HashMap<crate::faults::FaultEndpoint, u64>,
}

/// File uploads that may still be waiting for bytes, by URL expiry, with their total.
///
/// A burst inits thousands of uploads: summing every publish on each init made the sandbox
/// quadratic. Expired URLs leave in order; an upload whose media arrived (or whose publish
/// failed) stays counted until the total would refuse an upload, and only then are the
/// entries checked, so the answer is exact without a hook at every change of phase.
#[derive(Debug, Default)]
struct PendingUploads {
    by_expiry: BTreeMap<(Timestamp, String), u64>,
    total: u64,
}

impl PendingUploads {
    fn add(&mut self, publish_id: &str, size: u64, expires_at: Timestamp) {
        if let Some(replaced) = self
            .by_expiry
            .insert((expires_at, publish_id.to_owned()), size)
        {
            self.total = self.total.saturating_sub(replaced);
        }
        self.total = self.total.saturating_add(size);
    }

    /// Whether `size` more bytes fit in `budget`; `awaiting(publish_id)` says whether an
    /// upload still waits for its media.
    fn has_room(
        &mut self,
        size: u64,
        budget: u64,
        now: Timestamp,
        awaiting: impl Fn(&str) -> bool,
    ) -> bool {
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.total = self.total.saturating_sub(entry.remove());
        }
        if self.total.saturating_add(size) <= budget {
            return true;
        }
        self.by_expiry.retain(|(_, id), _| awaiting(id));
        self.total = self.by_expiry.values().sum();
        self.total.saturating_add(size) <= budget
    }
}

/// One app's creators with a direct post in the last 24 h: each creator's latest post, and
/// every post in time order so that creators age out without a scan.
#[derive(Debug, Default)]
struct ActiveCreators {
    latest: HashMap<String, Timestamp>,
    posts: VecDeque<(Timestamp, String)>,
}

impl ActiveCreators {
    fn record(&mut self, open_id: &str, now: Timestamp) {
        self.latest.insert(open_id.to_owned(), now);
        self.posts.push_back((now, open_id.to_owned()));
    }

    /// Forgets the posts that left the window, and a creator once its latest one has.
    fn age_out(&mut self, now: Timestamp) {
        while let Some((at, open_id)) = self
            .posts
            .pop_front_if(|(at, _)| now.duration_since(*at) >= DAY)
        {
            if self.latest.get(&open_id) == Some(&at) {
                self.latest.remove(&open_id);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.posts.is_empty()
    }
}

impl World {
    fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            codes: HashMap::new(),
            grants: HashMap::new(),
            next_grant: 0,
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            rate: RateLimiter::default(),
            faults: FaultBook::default(),
            publishes: HashMap::new(),
            publish_order: VecDeque::new(),
            pending_uploads: PendingUploads::default(),
            uploads: HashMap::new(),
            direct_posts: HashMap::new(),
            active_creators: HashMap::new(),
            next_prune_at: Timestamp::MIN,
            refusals: std::collections::BTreeMap::new(),
            admitted: HashMap::new(),
        }
    }

    pub(crate) fn new_grant(&mut self, grant: Grant) -> u64 {
        self.next_grant += 1;
        self.grants.insert(self.next_grant, grant);
        self.next_grant
    }

    /// The grant behind a bearer token, if the token is known, unexpired and not revoked.
    pub(crate) fn caller(&self, token: &str, now: Timestamp) -> Option<Caller> {
        let issued = self.access_tokens.get(token)?;
        let grant = self.grants.get(&issued.grant)?;
        (issued.expires_at > now && !grant.revoked).then(|| Caller {
            token: token.to_owned(),
            grant_id: issued.grant,
            grant: grant.clone(),
        })
    }

    /// Forgets expired codes and tokens, idle rate windows and aged-out counters, at most once
    /// per second of sandbox time. Only memory depends on it: every use checks expiry itself.
    pub(crate) fn prune(&mut self, now: Timestamp) {
        if now < self.next_prune_at {
            return;
        }
        self.next_prune_at = now + PRUNE_EVERY;
        self.codes.retain(|_, code| code.expires_at > now);
        self.access_tokens.retain(|_, token| token.expires_at > now);
        self.refresh_tokens
            .retain(|_, token| token.expires_at > now);
        let live: HashSet<u64> = self
            .access_tokens
            .values()
            .chain(self.refresh_tokens.values())
            .map(|token| token.grant)
            .collect();
        let referenced: HashSet<u64> = self.publishes.values().map(|p| p.grant).collect();
        self.grants
            .retain(|id, _| live.contains(id) || referenced.contains(id));
        self.rate.prune(now);
        for publish in self.publishes.values_mut() {
            if let Source::FileUpload(upload) = &mut publish.source
                && now >= upload.expires_at
                && !upload.busy
                && upload.received < upload.video_size
            {
                upload.discard();
            }
        }
        self.direct_posts.retain(|_, posts| {
            while posts
                .pop_front_if(|at| now.duration_since(*at) >= DAY)
                .is_some()
            {}
            !posts.is_empty()
        });
        self.active_creators.retain(|_, active| {
            active.age_out(now);
            !active.is_empty()
        });
    }

    pub(crate) fn insert_publish(&mut self, publish: Publish, max_retained: usize, now: Timestamp) {
        if let Source::FileUpload(upload) = &publish.source {
            self.uploads.insert(upload.upload_id, publish.id.clone());
            self.pending_uploads
                .add(&publish.id, upload.video_size, upload.expires_at);
        }
        self.publish_order.push_back(publish.id.clone());
        self.publishes.insert(publish.id.clone(), publish);
        let mut scanned = 0;
        while self.publishes.len() > max_retained && scanned < self.publish_order.len() {
            let Some(oldest) = self.publish_order.pop_front() else {
                break;
            };
            let forget = self.publishes.get(&oldest).is_none_or(|p| p.is_final(now));
            if forget {
                if let Some(mut publish) = self.publishes.remove(&oldest) {
                    publish.source.discard_media();
                    if let Source::FileUpload(upload) = &publish.source {
                        self.uploads.remove(&upload.upload_id);
                    }
                }
            } else {
                self.publish_order.push_back(oldest);
                scanned += 1;
            }
        }
    }

    /// The creator's posts the Display API shows at `now`: visible public ids of posts that went
    /// out public (a direct post to everyone, or one the creator posted from their inbox).
    pub(crate) fn display_videos(
        &self,
        open_id: &str,
        now: Timestamp,
    ) -> Vec<crate::display::DisplayVideo> {
        self.publishes
            .values()
            .filter(|publish| publish.open_id == open_id)
            .filter(|publish| match publish.mode {
                PostMode::Direct => publish.privacy_level.as_deref() == Some("PUBLIC_TO_EVERYONE"),
                PostMode::Inbox => true,
            })
            .filter(|publish| publish.status_at(now) == Status::PublishComplete)
            .flat_map(|publish| {
                let Phase::Decided(decision) = &publish.phase else {
                    return Vec::new();
                };
                decision
                    .posts
                    .iter()
                    .filter_map(|post| {
                        let at = post.visible_at.filter(|at| *at <= now)?;
                        Some(crate::display::DisplayVideo {
                            id: post.id,
                            created_at: post.created_at,
                            visible_at: at,
                            title: publish.title.clone().unwrap_or_default(),
                            description: publish
                                .description
                                .clone()
                                .or_else(|| publish.title.clone())
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .collect()
    }

    /// Direct posts for this creator in the last 24 h, across every app.
    pub(crate) fn direct_posts_in_window(&self, open_id: &str, now: Timestamp) -> usize {
        self.direct_posts.get(open_id).map_or(0, |posts| {
            posts
                .iter()
                .filter(|at| now.duration_since(**at) < DAY)
                .count()
        })
    }

    pub(crate) fn record_direct_post(&mut self, open_id: &str, now: Timestamp) {
        self.direct_posts
            .entry(open_id.to_owned())
            .or_default()
            .push_back(now);
    }

    /// Whether the app may post for this creator under an active-creator cap of `cap`: the
    /// creator is already active today, or fewer than `cap` creators are.
    pub(crate) fn admits_creator(
        &mut self,
        client_key: &str,
        open_id: &str,
        cap: u32,
        now: Timestamp,
    ) -> bool {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        let Some(active) = self.active_creators.get_mut(client_key) else {
            return cap > 0;
        };
        active.age_out(now);
        active.latest.contains_key(open_id) || active.latest.len() < cap
    }

    pub(crate) fn record_active_creator(
        &mut self,
        client_key: &str,
        open_id: &str,
        now: Timestamp,
    ) {
        self.active_creators
            .entry(client_key.to_owned())
            .or_default()
            .record(open_id, now);
    }

    /// Whether the disk budget holds `size` more bytes beside the bytes still expected by live
    /// uploads (waiting for media, URL not expired).
    pub(crate) fn has_disk_room(&mut self, size: u64, budget: u64, now: Timestamp) -> bool {
        let Self {
            pending_uploads,
            publishes,
            ..
        } = self;
        pending_uploads.has_room(size, budget, now, |id| {
            publishes
                .get(id)
                .is_some_and(|publish| matches!(publish.phase, Phase::AwaitingMedia))
        })
    }

    /// Inbox shares for this creator created in the last 24 h and not yet acted on or failed.
    pub(crate) fn pending_inbox_shares(&self, open_id: &str, now: Timestamp) -> usize {
        self.publishes
            .values()
            .filter(|p| {
                p.mode == PostMode::Inbox
                    && p.open_id == open_id
                    && now.duration_since(p.created_at) < DAY
                    && !p.is_final(now)
            })
            .count()
    }

    pub(crate) fn sample(&mut self, delay: &Delay) -> Duration {
        match delay {
            Delay::Fixed { ms } => Duration::from_millis(*ms),
            Delay::Uniform { min_ms, max_ms } => {
                let (low, high) = (*min_ms.min(max_ms), *min_ms.max(max_ms));
                Duration::from_millis(self.rng.random_range(low..=high))
            }
            Delay::Sometimes {
                usually,
                rarely,
                rare_probability,
            } => {
                if self.rng.random::<f64>() < *rare_probability {
                    self.sample(rarely)
                } else {
                    self.sample(usually)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "app";

    fn at(hours: i64, seconds: i64) -> Timestamp {
        Timestamp::constant(1_767_225_600 + hours * 3_600 + seconds, 0)
    }

    #[test]
    fn a_creator_stays_active_for_a_day_after_its_latest_post_not_its_first() {
        let mut world = World::new(7);
        world.record_active_creator(APP, "ada", at(0, 0));
        world.record_active_creator(APP, "bo", at(1, 0));
        world.record_active_creator(APP, "ada", at(2, 0));
        assert!(
            !world.admits_creator(APP, "cy", 2, at(24, 1)),
            "ada's first post aged out, her second has not: two creators are still active"
        );
        assert!(world.admits_creator(APP, "ada", 2, at(24, 1)));
        assert!(
            world.admits_creator(APP, "cy", 2, at(25, 0)),
            "bo's only post left the window"
        );
        assert!(!world.admits_creator(APP, "cy", 1, at(25, 0)));
        assert!(world.admits_creator(APP, "cy", 1, at(26, 0)));
        assert!(!world.admits_creator("other", "cy", 0, at(26, 0)));
    }

    #[test]
    fn direct_posts_count_per_creator_inside_the_rolling_day_with_or_without_a_prune() {
        let mut world = World::new(7);
        world.record_direct_post("ada", at(0, 0));
        world.record_direct_post("ada", at(12, 0));
        world.record_direct_post("bo", at(12, 0));
        assert_eq!(world.direct_posts_in_window("ada", at(23, 0)), 2);
        assert_eq!(world.direct_posts_in_window("ada", at(24, 0)), 1);
        world.prune(at(24, 0));
        assert_eq!(world.direct_posts_in_window("ada", at(24, 0)), 1);
        world.prune(at(36, 0));
        assert_eq!(world.direct_posts_in_window("ada", at(36, 0)), 0);
        assert!(
            world.direct_posts.is_empty(),
            "a prune forgets aged-out posts"
        );
        assert!(world.active_creators.is_empty());
    }

    #[test]
    fn pending_uploads_hold_the_budget_until_their_media_arrives_or_their_url_expires() {
        let mut pending = PendingUploads::default();
        pending.add("one", 60, at(1, 0));
        pending.add("two", 30, at(2, 0));
        let awaiting = |id: &str| id == "two";
        assert!(pending.has_room(10, 100, at(0, 0), |_| true));
        assert!(
            !pending.has_room(20, 100, at(0, 0), |_| true),
            "90 bytes still expected, 20 more do not fit in 100"
        );
        assert!(
            pending.has_room(20, 100, at(0, 0), awaiting),
            "one's media arrived: only two's 30 bytes count"
        );
        assert_eq!(pending.total, 30);
        assert!(!pending.has_room(80, 100, at(0, 0), |_| true));
        assert!(
            pending.has_room(100, 100, at(2, 0), |_| true),
            "two's URL expired at its instant"
        );
        assert!(pending.by_expiry.is_empty());
    }
}
