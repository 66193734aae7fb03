//! Planning against the creator's daily cap: whether a post moved to a time would land in a
//! rolling 24 hours the creator's other posts already fill (`caps::crowded_window`), where it
//! would only wait for a slot. The reschedule endpoint refuses such a move with the reason, so
//! that a person dragging a post in the calendar learns it before the post is deferred.

use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tokpost_core::{Post, PostMode, PostState};
use tokpost_pipeline::caps;
use tokpost_store::{PostFilter, QuotaKind};

use crate::error::ApiError;
use crate::state::AppState;

/// How many posts one read of the planned posts takes.
const PAGE: u32 = 500;

/// The refusal for moving `post` to `at` when a full rolling 24 hours would hold it.
///
/// Counted: the creator's direct posts already sent (the quota ledger) and those still planned
/// (scheduled, prepared, or deferred to a time in reach), the moved post itself aside. Inbox
/// shares have their own cap, applied when they are sent.
pub(crate) async fn daily_cap_refusal(
    state: &AppState,
    post: &Post,
    at: Timestamp,
) -> Result<Option<ApiError>, ApiError> {
    if post.spec.mode != PostMode::Direct {
        return Ok(None);
    }
    let day = SignedDuration::from_hours(24);
    let (from, until) = (
        at.checked_sub(day).unwrap_or(Timestamp::MIN),
        at.checked_add(day).unwrap_or(Timestamp::MAX),
    );
    let now = state.now();
    let learned = state
        .quotas()
        .learned_post_cap(post.account_id, caps::window_start(now))
        .await?;
    let cap = learned.map_or(state.settings.daily_post_cap, |learned| {
        learned.min(state.settings.daily_post_cap)
    });
    let mut others = state
        .quotas()
        .quota_use_times(post.account_id, QuotaKind::DirectPost, from)
        .await?;
    let mut after = None;
    loop {
        let page = state
            .posts()
            .list_posts(&PostFilter {
                workspace_id: post.workspace_id,
                state: None,
                account_id: Some(post.account_id),
                scheduled_from: Some(from),
                scheduled_before: Some(until),
                after,
                limit: PAGE,
            })
            .await?;
        for other in page
            .iter()
            .filter(|o| o.id != post.id && o.spec.mode == PostMode::Direct)
        {
            match other.state {
                PostState::Scheduled | PostState::Preflighted | PostState::CreatorChecked => {
                    others.push(other.scheduled_at.at());
                }
                PostState::Deferred { until, .. } => others.push(until),
                _ => {}
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
        after = page.last().map(|p| (p.scheduled_at.at(), p.id));
    }
    Ok(
        caps::crowded_window(&others, at, u64::from(cap)).map(|window| ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "daily_post_cap_planned",
            message: format!(
                "the creator already has {} direct posts sent or planned in the 24 hours up to {}, and the daily cap is {}: moved to {at}, the post would only wait for a slot; pick a time outside that window",
                window.posts, window.to, window.cap
            ),
            field: Some("scheduled_at".to_owned()),
            limit: Some(json!(window.cap)),
            measured: Some(json!(window.posts.saturating_add(1))),
        }),
    )
}
