//! Public ids TikTok never reports. Some accounts' posts go public without status fetch or the
//! webhook ever naming their public id, so insights could not follow them. One step of an
//! account's snapshot pass looks for them among the creator's newest public videos
//! (`video/list`) by caption and time (`tokpost_core::insights::matching`), and records each
//! unambiguous match as the post's public id: from that move on the post is followed like any
//! other.
//!
//! A post is looked for once the hour either side of its publishing has passed (so a second
//! post with the same caption in that hour can no longer appear and make a match wrong), then
//! hourly until [`MATCH_FOR`] after it was published.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use tiktok::display::MAX_VIDEOS_PER_CALL;
use tokpost_core::insights::matching::{Awaiting, Listed, MATCH_FOR, MATCH_WINDOW, match_listed};
use tokpost_core::{
    AccountId, EventKind, NewPostEvent, Post, PostContent, PostState, PublishProgress,
};
use tokpost_store::{AwaitingIds, Transition, TransitionOutcome};

use super::{Snapshotter, failed, transient};
use crate::worker::JobOutcome;

/// Pages of 20 public videos one look reads at most (the newest 100).
pub const MAX_LIST_PAGES: usize = 5;
/// Posts looked for in one pass at most (the newest).
const MAX_AWAITING: u32 = 200;
/// How soon posts still unmatched are looked for again.
const LOOK_EVERY: Duration = Duration::from_secs(3_600);

impl Snapshotter {
    /// Looks for `account`'s published public posts without a public id among its public
    /// videos and records the matches. `Ok(Some(at))`: posts are still awaited, look again at
    /// `at`; `Err`: the pass stops here (a limit, a refusal, the store).
    pub(super) async fn find_unreported(
        &self,
        account: AccountId,
        token: &tiktok::AccessToken,
    ) -> Result<Option<Timestamp>, JobOutcome> {
        let now = self.clock.now();
        let AwaitingIds { posts, known } = self
            .store
            .awaiting_public_ids(account, clock::sub(now, MATCH_FOR), MAX_AWAITING)
            .await
            .map_err(|error| transient(&error))?;
        if posts.is_empty() {
            return Ok(None);
        }
        let window_closed = clock::sub(now, MATCH_WINDOW);
        let (ready, young): (Vec<&Post>, Vec<&Post>) = posts
            .iter()
            .partition(|post| post.updated_at <= window_closed);
        let first_young = young
            .iter()
            .map(|post| clock::add(post.updated_at, MATCH_WINDOW))
            .min();
        if ready.is_empty() {
            return Ok(first_young);
        }
        let awaiting: Vec<Awaiting<usize>> = ready
            .iter()
            .enumerate()
            .map(|(key, post)| Awaiting {
                key,
                texts: texts(post),
                published_at: post.updated_at,
            })
            .collect();
        let oldest = awaiting.iter().map(|post| post.published_at).min();
        let listed = self.list_back_to(account, token, oldest).await?;
        let known: BTreeSet<u64> = known.into_iter().collect();
        let mut found = BTreeSet::new();
        for (key, video) in match_listed(&awaiting, &listed, &known) {
            let Some(post) = ready.get(key) else {
                continue;
            };
            self.record(post, video).await?;
            found.insert(key);
        }
        let still_awaited = ready.len() > found.len();
        let look_again = still_awaited.then(|| clock::add(now, LOOK_EVERY));
        Ok(look_again.into_iter().chain(first_young).min())
    }

    /// The creator's public videos, newest first, back to an hour before `oldest` (or
    /// [`MAX_LIST_PAGES`] pages).
    async fn list_back_to(
        &self,
        account: AccountId,
        token: &tiktok::AccessToken,
        oldest: Option<Timestamp>,
    ) -> Result<Vec<Listed>, JobOutcome> {
        let reach = oldest.map(|oldest| clock::sub(oldest, MATCH_WINDOW));
        let mut listed = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_LIST_PAGES {
            if let Some(stop) = self.slot(account, "video_list").await {
                return Err(stop);
            }
            let page = self
                .client
                .video_list(token, cursor, MAX_VIDEOS_PER_CALL)
                .await
                .map_err(|failure| failed(&failure, self.clock.now()))?;
            let page_listed: Vec<Listed> = page
                .videos
                .into_iter()
                .map(|video| Listed {
                    id: video.id.0,
                    title: video.title,
                    description: video.description,
                    created_at: video
                        .create_time
                        .and_then(|at| Timestamp::from_second(at).ok()),
                })
                .collect();
            let past_reach = page_listed.iter().any(|video| {
                matches!((video.created_at, reach), (Some(created), Some(reach)) if created < reach)
            });
            listed.extend(page_listed);
            if !page.has_more || past_reach || page.cursor.is_none() {
                break;
            }
            cursor = page.cursor;
        }
        Ok(listed)
    }

    /// Records `video` as `post`'s public id, as status fetch would have. A post moved
    /// meanwhile is left as it is.
    async fn record(&self, post: &Post, video: u64) -> Result<(), JobOutcome> {
        let now = self.clock.now();
        let progress = PublishProgress {
            public_post_ids: vec![video.to_string()],
            ..post.progress.clone()
        };
        let message = format!(
            "public post id {video} found among the creator's public videos by its caption and \
             time (TikTok never reported it)"
        );
        let outcome = self
            .store
            .transition_post(Transition {
                post: post.id,
                expected: post.state,
                to: PostState::Published,
                event: NewPostEvent::new(now, EventKind::Note, message),
                progress: Some(progress),
                quota_use: None,
                next_job: None,
                completes: None,
                lease: None,
            })
            .await
            .map_err(|error| transient(&error))?;
        match outcome {
            TransitionOutcome::Applied(_)
            | TransitionOutcome::Stale { .. }
            | TransitionOutcome::LeaseLost => Ok(()),
        }
    }
}

/// What TikTok may list of a post's words: a video's caption, a photo post's title and
/// description.
fn texts(post: &Post) -> Vec<String> {
    match &post.spec.content {
        PostContent::Video { caption, .. } => vec![caption.as_str().to_owned()],
        PostContent::Photos {
            title, description, ..
        } => vec![title.as_str().to_owned(), description.as_str().to_owned()],
    }
}
