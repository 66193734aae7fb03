//! Snapshots for insights: an account's `SnapshotStats` job plans a pass (one read of the store:
//! its followed posts that are due, at most [`MAX_BATCHES_PER_RUN`] batches of 20), reads their
//! counts 20 ids per `video/query` within TikTok's 600 a minute, and the creator's own counts
//! once a day; then it waits until the next post is due.
//!
//! Invariants:
//! - a pass over n due posts sends ⌈n/20⌉ queries: every batch but the last is full;
//! - every request takes a slot of the shared window first (per token, or for the whole app
//!   when [`InsightSettings::limit_per_app`] says so; several workers share it through the
//!   store), so the limits hold across processes;
//! - a pass reads at most [`MAX_BATCHES_PER_RUN`] batches and then yields the worker, so one
//!   account with many posts cannot starve the others; a missed pass reads each post once;
//! - an account connected without the insight scopes, or needing a reconnect, is never an
//!   error: its job waits a day and tries again, and publishing is untouched;
//! - a published public post whose public id TikTok never reports is looked for among the
//!   creator's public videos ([`unreported`]) hourly for a week, and followed once found.

mod unreported;

pub use unreported::MAX_LIST_PAGES;

use std::sync::Arc;
use std::time::Duration;

use clock::SharedClock;
use jiff::Timestamp;
use tiktok::display::MAX_VIDEOS_PER_CALL;
use tiktok::{PublicPostId, TikTokClient};
use tokpost_core::insights::{ACCOUNT_EVERY, next_snapshot};
use tokpost_core::{AccountId, Scope};
use tokpost_store::{
    AccountCounts, Counts, PostSnapshot, RateLimitDecision, RateLimitSlot, Store, Track,
};

use crate::token_keeper::TokenKeeper;
use crate::worker::JobOutcome;

/// Batches of 20 one run reads before it lets other accounts' jobs run.
pub const MAX_BATCHES_PER_RUN: usize = 50;
/// TikTok's limit of each Display endpoint, per token and minute.
pub const DISPLAY_PER_MINUTE: u32 = 600;
/// How long a post the Display API does not return is still asked for (its public id may show
/// before TikTok lists it; a post made private never comes back).
pub const MISSING_FOR: Duration = Duration::from_secs(3 * 86_400);
/// How soon a missing post is asked for again.
const MISSING_RETRY: Duration = Duration::from_secs(3_600);
/// How long an account without the scopes (or its tokens) waits before its job tries again.
const BLOCKED_RETRY: Duration = Duration::from_secs(86_400);

/// The operator's settings for insights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InsightSettings {
    /// Whether TikTok's 600 requests a minute per Display endpoint count for the whole app
    /// rather than for each token (TikTok's documentation leaves it open; some peers assume the
    /// app). Off: each creator's token has its own window.
    pub limit_per_app: bool,
}

/// The due posts one pass reads, in the batches it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// At most [`MAX_VIDEOS_PER_CALL`] each; all full but the last.
    pub batches: Vec<Vec<Track>>,
}

/// Reads counts for an account's `SnapshotStats` job.
#[derive(Debug)]
pub struct Snapshotter {
    store: Arc<dyn Store>,
    clock: SharedClock,
    client: TikTokClient,
    keeper: Arc<TokenKeeper>,
    settings: InsightSettings,
}

impl Snapshotter {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        client: TikTokClient,
        keeper: Arc<TokenKeeper>,
        settings: InsightSettings,
    ) -> Self {
        Self {
            store,
            clock,
            client,
            keeper,
            settings,
        }
    }

    /// What a pass for `account` reads now: its due posts, oldest due first, in batches of 20,
    /// from one read of the store.
    ///
    /// # Errors
    /// Store failures.
    pub async fn plan(&self, account: AccountId) -> Result<Plan, tokpost_store::StoreError> {
        let most = u32::try_from(MAX_BATCHES_PER_RUN * MAX_VIDEOS_PER_CALL).unwrap_or(u32::MAX);
        let due = self
            .store
            .due_snapshots(account, self.clock.now(), most)
            .await?;
        Ok(Plan {
            batches: due
                .chunks(MAX_VIDEOS_PER_CALL)
                .map(<[Track]>::to_vec)
                .collect(),
        })
    }

    /// Runs one pass for `account`.
    pub async fn run(&self, account: AccountId) -> JobOutcome {
        let now = self.clock.now();
        let wait = |reason: &str| JobOutcome::RetryAt {
            at: clock::add(now, BLOCKED_RETRY),
            reason: reason.to_owned(),
        };
        let stored = match self.store.account(account).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return JobOutcome::Done,
            Err(error) => return transient(&error),
        };
        if !stored.has_scope(Scope::VIDEO_LIST) {
            return wait("insights need a reconnect: video.list was not granted");
        }
        let token = match self.keeper.access_token_for(account).await {
            Ok(token) => token,
            Err(error) if error.is_transient() => {
                return JobOutcome::Transient {
                    error: error.to_string(),
                };
            }
            Err(error) => return wait(&format!("no usable token: {error}")),
        };
        let plan = match self.plan(account).await {
            Ok(plan) => plan,
            Err(error) => return transient(&error),
        };
        for due in &plan.batches {
            if let Some(stop) = self.slot(account, "video_query").await {
                return stop;
            }
            let ids: Vec<PublicPostId> = due.iter().map(|t| PublicPostId(t.video_id)).collect();
            let videos = match self.client.video_query(&token, &ids).await {
                Ok(videos) => videos,
                Err(failure) => return failed(&failure, now),
            };
            let at = self.clock.now();
            let snapshots: Vec<PostSnapshot> = due
                .iter()
                .map(|track| {
                    let found = videos.iter().find(|video| video.id.0 == track.video_id);
                    snapshot(track, found, at)
                })
                .collect();
            if let Err(error) = self.store.record_snapshots(&snapshots, at).await {
                return transient(&error);
            }
        }
        let look_again = match self.find_unreported(account, &token).await {
            Ok(look_again) => look_again,
            Err(stop) => return stop,
        };
        if let Some(stop) = self.account_counts(account, &stored.scopes, &token).await {
            return stop;
        }
        self.next_run(account, look_again).await
    }

    /// The creator's counts, once a day, when `user.info.stats` was granted.
    async fn account_counts(
        &self,
        account: AccountId,
        scopes: &std::collections::BTreeSet<Scope>,
        token: &tiktok::AccessToken,
    ) -> Option<JobOutcome> {
        if !scopes.iter().any(|s| s.as_str() == Scope::USER_INFO_STATS) {
            return None;
        }
        let now = self.clock.now();
        let last = match self.store.last_account_counts_at(account).await {
            Ok(last) => last,
            Err(error) => return Some(transient(&error)),
        };
        if last.is_some_and(|last| now.duration_since(last).unsigned_abs() < ACCOUNT_EVERY) {
            return None;
        }
        if let Some(stop) = self.slot(account, "user_info").await {
            return Some(stop);
        }
        let granted: Vec<tiktok::Scope> = tiktok::Scope::parse_list(
            &scopes
                .iter()
                .map(Scope::as_str)
                .collect::<Vec<_>>()
                .join(","),
        );
        let info = match self.client.user_info(token, &granted).await {
            Ok(info) => info,
            Err(failure) => return Some(failed(&failure, now)),
        };
        let counts = AccountCounts {
            followers: info.follower_count,
            following: info.following_count,
            likes: info.likes_count,
            videos: info.video_count,
        };
        self.store
            .record_account_counts(account, counts, self.clock.now())
            .await
            .err()
            .map(|error| transient(&error))
    }

    /// A slot of the endpoint's window (the token's, or the app's), or when to come back for
    /// one.
    async fn slot(&self, account: AccountId, endpoint: &'static str) -> Option<JobOutcome> {
        let window = Duration::from_secs(60);
        let slot = if self.settings.limit_per_app {
            RateLimitSlot::app_wide(endpoint, window, DISPLAY_PER_MINUTE)
        } else {
            RateLimitSlot {
                account_id: account,
                endpoint,
                window,
                limit: DISPLAY_PER_MINUTE,
            }
        };
        match self
            .store
            .take_rate_limit_slot(slot, self.clock.now())
            .await
        {
            Ok(RateLimitDecision::Allowed { .. }) => None,
            Ok(RateLimitDecision::Limited { retry_at }) => Some(JobOutcome::RetryAt {
                at: retry_at,
                reason: format!("{endpoint} limit of {DISPLAY_PER_MINUTE} per minute reached"),
            }),
            Err(error) => Some(transient(&error)),
        }
    }

    /// Waits for the account's next due post (or the next look for unreported ones), or ends
    /// when nothing is followed or looked for.
    async fn next_run(&self, account: AccountId, look_again: Option<Timestamp>) -> JobOutcome {
        let next_post = match self.store.next_snapshot_at(account).await {
            Ok(next) => next,
            Err(error) => return transient(&error),
        };
        match next_post.into_iter().chain(look_again).min() {
            Some(at) => JobOutcome::RetryAt {
                at: at.max(self.clock.now()),
                reason: "the next snapshot".to_owned(),
            },
            None => JobOutcome::Done,
        }
    }
}

/// What one read of `track` found at `at`.
fn snapshot(track: &Track, found: Option<&tiktok::display::Video>, at: Timestamp) -> PostSnapshot {
    match found {
        Some(video) => PostSnapshot {
            post_id: track.post_id,
            counts: Some(Counts {
                views: video.view_count,
                likes: video.like_count,
                comments: video.comment_count,
                shares: video.share_count,
            }),
            next_at: next_snapshot(track.live_at, at),
        },
        None => {
            let missing_since = track.missing_since.unwrap_or(at);
            let given_up = at.duration_since(missing_since).unsigned_abs() >= MISSING_FOR;
            PostSnapshot {
                post_id: track.post_id,
                counts: None,
                next_at: (!given_up).then(|| clock::add(at, MISSING_RETRY)),
            }
        }
    }
}

fn transient(error: &tokpost_store::StoreError) -> JobOutcome {
    JobOutcome::Transient {
        error: format!("store: {error}"),
    }
}

/// A refused Display call: a reconnect waits a day, a limit its window, the rest retries.
fn failed(failure: &tiktok::TikTokFailure, now: Timestamp) -> JobOutcome {
    let id = failure.classification().id();
    match id {
        "scope_not_authorized" | "scope_permission_missed" | "access_token_invalid" => {
            JobOutcome::RetryAt {
                at: clock::add(now, BLOCKED_RETRY),
                reason: format!("insights need a reconnect ({id})"),
            }
        }
        "rate_limit_exceeded" | "http_429" => JobOutcome::RetryAt {
            at: clock::add(now, Duration::from_secs(60)),
            reason: format!("TikTok rate-limited the Display API ({id})"),
        },
        _ => JobOutcome::Transient {
            error: format!("Display API: {id}"),
        },
    }
}
