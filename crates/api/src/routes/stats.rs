//! Insights over the API: a post's counts over time and a creator's, from the snapshots tokpost
//! takes (`tokpost_pipeline::insights`). TikTok gives lifetime totals only; every point here is
//! one snapshot, oldest first, and the latest is repeated for convenience with its engagement
//! rate ((likes + comments + shares) / views).

use axum::Json;
use axum::extract::{Path, State};
use jiff::Timestamp;
use serde::Serialize;
use tokpost_core::{Action, PostMode, PrivacyLevel, Scope, StateKind};
use tokpost_store::{AccountCounts, Counts};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::routes::accounts::owned_account;
use crate::routes::posts::owned_post;
use crate::state::AppState;

/// A post's counts at one snapshot (absent: TikTok did not say).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PostPoint {
    #[schema(value_type = String, format = DateTime)]
    at: Timestamp,
    views: Option<u64>,
    likes: Option<u64>,
    comments: Option<u64>,
    shares: Option<u64>,
    /// (likes + comments + shares) / views, when there are views.
    engagement_rate: Option<f64>,
}

fn post_point(at: Timestamp, counts: Counts) -> PostPoint {
    let engaged =
        counts.likes.unwrap_or(0) + counts.comments.unwrap_or(0) + counts.shares.unwrap_or(0);
    #[allow(clippy::cast_precision_loss)]
    let engagement_rate = counts
        .views
        .filter(|views| *views > 0)
        .map(|views| engaged as f64 / views as f64);
    PostPoint {
        at,
        views: counts.views,
        likes: counts.likes,
        comments: counts.comments,
        shares: counts.shares,
        engagement_rate,
    }
}

/// A post's insights.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PostStatsView {
    #[schema(value_type = String, format = Uuid)]
    post_id: String,
    /// `followed` (read on a schedule), `finished` (followed for 90 days, or gone from TikTok's
    /// lists), `waiting` (not public on TikTok yet), or `not_followed` (a post TikTok never shows
    /// in its Display API: private, friends only, only me).
    tracking: &'static str,
    /// Why, in words.
    explanation: String,
    /// When the next snapshot is due.
    #[schema(value_type = Option<String>, format = DateTime)]
    next_snapshot_at: Option<Timestamp>,
    latest: Option<PostPoint>,
    series: Vec<PostPoint>,
}

/// A post's counts over time.
#[utoipa::path(get, path = "/v1/posts/{id}/stats", tag = "insights",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 200, description = "The post's snapshots, oldest first", body = PostStatsView),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn post(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<PostStatsView>, ApiError> {
    auth.require(Action::Read)?;
    let post = owned_post(&state, &auth, &id).await?;
    let following = state.insights().following(post.id).await?;
    let series: Vec<PostPoint> = state
        .insights()
        .post_counts(post.id)
        .await?
        .into_iter()
        .map(|(at, counts)| post_point(at, counts))
        .collect();
    let shown_by_tiktok =
        post.spec.mode == PostMode::Inbox || post.spec.privacy == PrivacyLevel::PublicToEveryone;
    let (tracking, explanation) = match following {
        Some(following) if following.next_at.is_some() => (
            "followed",
            "read hourly for a day, every 6 hours for a week, daily for a month, weekly until 90 days"
                .to_owned(),
        ),
        Some(following) if following.missing_since.is_some() => (
            "finished",
            "TikTok stopped listing the video (made private or deleted); the last counts stand"
                .to_owned(),
        ),
        Some(_) => ("finished", "followed for 90 days; the last counts stand".to_owned()),
        None if !shown_by_tiktok => (
            "not_followed",
            "TikTok shows counts only for public posts; this one is not public".to_owned(),
        ),
        None if post.state.kind() == StateKind::Published => (
            "waiting",
            "published; counts are read once TikTok gives the post its public id (after moderation)"
                .to_owned(),
        ),
        None => (
            "waiting",
            format!("the post is {}; counts are read once it is public on TikTok", post.state.kind().as_str().replace('_', " ")),
        ),
    };
    Ok(Json(PostStatsView {
        post_id: post.id.to_string(),
        tracking,
        explanation,
        next_snapshot_at: following.and_then(|following| following.next_at),
        latest: series.last().map(|last| {
            post_point(
                last.at,
                Counts {
                    views: last.views,
                    likes: last.likes,
                    comments: last.comments,
                    shares: last.shares,
                },
            )
        }),
        series,
    }))
}

/// A creator's counts at one snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountPoint {
    #[schema(value_type = String, format = DateTime)]
    at: Timestamp,
    followers: Option<u64>,
    following: Option<u64>,
    /// Likes across the creator's videos.
    likes: Option<u64>,
    /// Publicly posted videos.
    videos: Option<u64>,
}

fn account_point(at: Timestamp, counts: AccountCounts) -> AccountPoint {
    AccountPoint {
        at,
        followers: counts.followers,
        following: counts.following,
        likes: counts.likes,
        videos: counts.videos,
    }
}

/// What a creator has not granted of what insights read (`user.info.stats`, `video.list`).
pub(crate) fn read_scopes_missing(account: &tokpost_core::Account) -> Vec<String> {
    [Scope::USER_INFO_STATS, Scope::VIDEO_LIST]
        .into_iter()
        .filter(|scope| !account.has_scope(scope))
        .map(str::to_owned)
        .collect()
}

/// A creator's insights.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountStatsView {
    #[schema(value_type = String, format = Uuid)]
    account_id: String,
    /// Whether the creator granted what insights read (`user.info.stats`, `video.list`).
    insights_ready: bool,
    /// What is missing, when not ready: connect again with it checked.
    scopes_missing: Vec<String>,
    latest: Option<AccountPoint>,
    /// Daily snapshots, oldest first.
    series: Vec<AccountPoint>,
}

/// A creator's counts over time.
#[utoipa::path(get, path = "/v1/accounts/{id}/stats", tag = "insights",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The account id")),
    responses(
        (status = 200, description = "The creator's daily snapshots, oldest first", body = AccountStatsView),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 404, description = "No such account in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn account(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<AccountStatsView>, ApiError> {
    auth.require(Action::Read)?;
    let account = owned_account(&state, &auth, &id).await?;
    let scopes_missing = read_scopes_missing(&account);
    let series: Vec<(Timestamp, AccountCounts)> =
        state.insights().account_counts(account.id).await?;
    Ok(Json(AccountStatsView {
        account_id: account.id.to_string(),
        insights_ready: scopes_missing.is_empty(),
        scopes_missing,
        latest: series
            .last()
            .map(|(at, counts)| account_point(*at, *counts)),
        series: series
            .into_iter()
            .map(|(at, counts)| account_point(at, counts))
            .collect(),
    }))
}
