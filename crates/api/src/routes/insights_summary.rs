//! A workspace's insights over a date range: what each account's posts gained, its followers at
//! both ends, and the top posts by views gained, as JSON or CSV (`?format=csv`).
//!
//! A post's gain over `[from, to]` is its last snapshot at or before `to` minus its last at or
//! before `from` (nothing before `from`: the post went live in the range and gained it all).
//! Counts are lifetime totals read on a schedule, so a range's edges fall on the nearest earlier
//! snapshot: hourly for a young post, weekly for an old one.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokpost_core::{AccountId, Action, PostId};
use tokpost_store::Counts;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The longest range one summary covers.
const MAX_RANGE_DAYS: i64 = 366;
/// Top posts listed by default and at most.
const DEFAULT_TOP: usize = 20;
const MAX_TOP: usize = 100;
/// The most of a caption a top post shows.
const CAPTION_CHARS: usize = 80;

/// The range and the shape of the answer.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct SummaryQuery {
    /// Start of the range (RFC 3339); 30 days before `to` when absent.
    from: Option<String>,
    /// End of the range (RFC 3339); now when absent.
    to: Option<String>,
    /// Top posts listed (default 20, at most 100).
    top: Option<usize>,
    /// `json` (the default) or `csv` (the posts, one row each, by views gained).
    format: Option<String>,
    /// The IANA time zone the hours of `first_day_views_by_hour` are in (default UTC).
    time_zone: Option<String>,
}

/// What counts gained over the range.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub(crate) struct Gained {
    views: u64,
    likes: u64,
    comments: u64,
    shares: u64,
}

/// One post's range.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PostRange {
    #[schema(value_type = String, format = Uuid)]
    post_id: String,
    #[schema(value_type = String, format = Uuid)]
    account_id: String,
    /// The start of the caption (or photo title), for people; absent in the CSV.
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<String>,
    gained: Gained,
    /// Lifetime views at the end of the range.
    views: u64,
    /// (likes + comments + shares) / views over the range's gains.
    engagement_rate: Option<f64>,
}

/// One account's range.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountRange {
    #[schema(value_type = String, format = Uuid)]
    account_id: String,
    display_name: String,
    /// Posts with a snapshot in or before the range's end.
    posts: usize,
    gained: Gained,
    /// Followers at the range's start (the first reading in it when none is older).
    followers_at_start: Option<u64>,
    followers_at_end: Option<u64>,
    /// The creator's follower counts read in the range, oldest first (daily).
    follower_series: Vec<FollowerPoint>,
    /// Whether the creator granted what insights read (`user.info.stats`, `video.list`);
    /// otherwise connecting again with them checked starts the counts.
    insights_ready: bool,
}

/// A creator's follower count when it was read.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FollowerPoint {
    #[schema(value_type = String, format = DateTime)]
    at: Timestamp,
    followers: u64,
}

/// The workspace's insights over a range.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Summary {
    #[schema(value_type = String, format = DateTime)]
    from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    to: Timestamp,
    gained: Gained,
    accounts: Vec<AccountRange>,
    /// By views gained, most first.
    top_posts: Vec<PostRange>,
    /// Views the range's posts gained in their first day, by the hour of day (0–23, in
    /// `time_zone`) of the snapshot that saw them: when this workspace's audience responds.
    first_day_views_by_hour: Vec<u64>,
    /// The zone of those hours.
    time_zone: String,
}

fn time(text: Option<&str>, field: &str) -> Result<Option<Timestamp>, ApiError> {
    text.map(|text| {
        text.trim().parse::<Timestamp>().map_err(|_| {
            ApiError::unprocessable(
                "invalid_time",
                field.to_owned(),
                format!("{text:?} is not an RFC 3339 time"),
                json!("2026-12-01T00:00:00Z"),
                json!(text),
            )
        })
    })
    .transpose()
}

fn minus(end: Counts, start: Counts) -> Gained {
    let gain =
        |end: Option<u64>, start: Option<u64>| end.unwrap_or(0).saturating_sub(start.unwrap_or(0));
    Gained {
        views: gain(end.views, start.views),
        likes: gain(end.likes, start.likes),
        comments: gain(end.comments, start.comments),
        shares: gain(end.shares, start.shares),
    }
}

fn add(total: &mut Gained, more: Gained) {
    total.views += more.views;
    total.likes += more.likes;
    total.comments += more.comments;
    total.shares += more.shares;
}

/// The workspace's insights over a range.
#[utoipa::path(get, path = "/v1/insights/summary", tag = "insights",
    security(("api_key" = [])),
    params(SummaryQuery),
    responses(
        (status = 200, description = "Per account and top posts (JSON), or the posts as CSV with ?format=csv", body = Summary),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 422, description = "A time that is not RFC 3339, a range that ends before it starts or is longer than a year, an unknown format", body = ErrorBody),
    ))]
pub(crate) async fn summary(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<SummaryQuery>,
) -> Result<Response, ApiError> {
    auth.require(Action::Read)?;
    let csv = match query.format.as_deref().map(str::trim) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::unprocessable(
                "unknown_format",
                "format",
                format!("{other:?} is not a format"),
                json!(["json", "csv"]),
                json!(other),
            ));
        }
    };
    let to = time(query.to.as_deref(), "to")?.unwrap_or_else(|| state.now());
    let from = time(query.from.as_deref(), "from")?
        .unwrap_or_else(|| to - jiff::SignedDuration::from_hours(30 * 24));
    let days = to.duration_since(from).as_hours() / 24;
    if from >= to || days > MAX_RANGE_DAYS {
        return Err(ApiError::unprocessable(
            "invalid_range",
            "from",
            format!("the range must end after it starts and cover at most {MAX_RANGE_DAYS} days"),
            json!(MAX_RANGE_DAYS),
            json!(days),
        ));
    }
    let top = query.top.unwrap_or(DEFAULT_TOP).clamp(1, MAX_TOP);
    let zone_name = query.time_zone.as_deref().map_or("UTC", str::trim);
    let zone = jiff::tz::TimeZone::get(zone_name).map_err(|_| {
        ApiError::unprocessable(
            "unknown_time_zone",
            "time_zone",
            format!("{zone_name:?} is not a time zone"),
            json!("an IANA name like Europe/Berlin"),
            json!(zone_name),
        )
    })?;
    let points = state
        .insights()
        .workspace_post_counts(auth.workspace_id, to)
        .await?;
    // Per post: the last snapshot at or before `from`, and the last at or before `to`; and the
    // views each snapshot of a post's first day (from its first snapshot, taken as it went
    // live) saw arrive, by hour of day.
    let mut ends: BTreeMap<PostId, (AccountId, Option<Counts>, Counts)> = BTreeMap::new();
    let mut by_hour = vec![0_u64; 24];
    let mut first_seen: Option<(PostId, Timestamp, u64)> = None;
    for (post, account, at, counts) in points {
        let entry = ends.entry(post).or_insert((account, None, counts));
        if at <= from {
            entry.1 = Some(counts);
        }
        entry.2 = counts;
        let views = counts.views.unwrap_or(0);
        match first_seen {
            Some((seen, live, before)) if seen == post => {
                if at > from && at <= to && at.duration_since(live).as_hours() < 24 {
                    let hour = usize::try_from(at.to_zoned(zone.clone()).hour()).unwrap_or(0);
                    if let Some(slot) = by_hour.get_mut(hour) {
                        *slot += views.saturating_sub(before);
                    }
                }
                first_seen = Some((post, live, views));
            }
            _ => first_seen = Some((post, at, views)),
        }
    }
    let mut posts: Vec<PostRange> = ends
        .into_iter()
        .map(|(post, (account, start, end))| {
            let gained = minus(end, start.unwrap_or_default());
            let engaged = gained.likes + gained.comments + gained.shares;
            #[allow(clippy::cast_precision_loss)]
            let engagement_rate = (gained.views > 0).then(|| engaged as f64 / gained.views as f64);
            PostRange {
                post_id: post.to_string(),
                account_id: account.to_string(),
                caption: None,
                gained,
                views: end.views.unwrap_or(0),
                engagement_rate,
            }
        })
        .collect();
    posts.sort_by(|a, b| {
        b.gained
            .views
            .cmp(&a.gained.views)
            .then(a.post_id.cmp(&b.post_id))
    });
    if csv {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let header = [
            "post_id",
            "account_id",
            "views_gained",
            "likes_gained",
            "comments_gained",
            "shares_gained",
            "views",
            "engagement_rate",
        ];
        let written = writer.write_record(header).and_then(|()| {
            posts.iter().try_for_each(|post| {
                writer.write_record([
                    post.post_id.clone(),
                    post.account_id.clone(),
                    post.gained.views.to_string(),
                    post.gained.likes.to_string(),
                    post.gained.comments.to_string(),
                    post.gained.shares.to_string(),
                    post.views.to_string(),
                    post.engagement_rate
                        .map_or_else(String::new, |rate| format!("{rate:.4}")),
                ])
            })
        });
        let bytes = written
            .ok()
            .and_then(|()| writer.into_inner().ok())
            .unwrap_or_default();
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"insights-{}-{}.csv\"",
                        from.strftime("%Y%m%d"),
                        to.strftime("%Y%m%d")
                    ),
                ),
            ],
            bytes,
        )
            .into_response());
    }
    let mut accounts = Vec::new();
    let mut total = Gained::default();
    for account in state.accounts().accounts(auth.workspace_id).await? {
        let id = account.id.to_string();
        let mut gained = Gained::default();
        let mut count = 0;
        for post in posts.iter().filter(|post| post.account_id == id) {
            add(&mut gained, post.gained);
            count += 1;
        }
        add(&mut total, gained);
        let followers = state.insights().account_counts(account.id).await?;
        let insights_ready = crate::routes::stats::read_scopes_missing(&account).is_empty();
        let last_at = |until: Timestamp| {
            followers
                .iter()
                .rev()
                .find(|(at, _)| *at <= until)
                .and_then(|(_, counts)| counts.followers)
        };
        accounts.push(AccountRange {
            account_id: id,
            display_name: account.display_name,
            posts: count,
            gained,
            // Read after the range began: the first reading in it stands for the start.
            followers_at_start: last_at(from).or_else(|| {
                followers
                    .iter()
                    .find(|(at, _)| *at > from && *at <= to)
                    .and_then(|(_, counts)| counts.followers)
            }),
            followers_at_end: last_at(to),
            follower_series: followers
                .iter()
                .filter(|(at, _)| *at >= from && *at <= to)
                .filter_map(|(at, counts)| {
                    counts
                        .followers
                        .map(|followers| FollowerPoint { at: *at, followers })
                })
                .collect(),
            insights_ready,
        });
    }
    posts.truncate(top);
    for post in &mut posts {
        let Ok(id) = post.post_id.parse::<PostId>() else {
            continue;
        };
        post.caption = state.posts().post(id).await?.map(|found| {
            let text = match &found.spec.content {
                tokpost_core::PostContent::Video { caption, .. } => caption.as_str().to_owned(),
                tokpost_core::PostContent::Photos { title, .. } => title.as_str().to_owned(),
            };
            let mut excerpt: String = text.chars().take(CAPTION_CHARS).collect();
            if text.chars().count() > CAPTION_CHARS {
                excerpt.push('…');
            }
            excerpt
        });
    }
    Ok(Json(Summary {
        from,
        to,
        gained: total,
        accounts,
        top_posts: posts,
        first_day_views_by_hour: by_hour,
        time_zone: zone_name.to_owned(),
    })
    .into_response())
}
