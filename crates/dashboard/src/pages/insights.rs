//! The Insights page: over the last 7, 30 or 90 days, what the workspace's posts gained, each
//! creator's followers (a line of their daily counts), the top posts by views gained, and the
//! hours of the day when posts gained most in their first day, in the reader's time zone. From
//! one request, `/v1/insights/summary` (each creator's follower series in the range comes with
//! it); charts are inline SVG ([`crate::charts`]).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::{Chrome, SignedIn, render};
use crate::Dashboard;
use crate::charts;
use crate::error::PageError;
use crate::views::text_at;

/// The ranges offered.
const RANGES: [i64; 3] = [7, 30, 90];

struct AccountRow {
    name: String,
    posts: u64,
    views: u64,
    followers: String,
    chart: String,
    ready: bool,
}

struct PostRow {
    id: String,
    caption: String,
    views: u64,
    bar: String,
    likes: u64,
    engagement: String,
}

#[derive(Template)]
#[template(path = "insights.html")]
struct InsightsPage {
    chrome: Chrome,
    days: i64,
    ranges: [i64; 3],
    views: u64,
    likes: u64,
    comments: u64,
    shares: u64,
    accounts: Vec<AccountRow>,
    posts: Vec<PostRow>,
    hours: String,
    best_hour: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct InsightsQuery {
    days: Option<i64>,
}

fn number(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

pub(crate) async fn insights(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Query(query): Query<InsightsQuery>,
) -> Result<Response, PageError> {
    let days = query
        .days
        .filter(|days| RANGES.contains(days))
        .unwrap_or(30);
    let to = state.app.now();
    let from = to - jiff::SignedDuration::from_hours(24 * days);
    let zone = signed_in.zone().iana_name().unwrap_or("UTC").to_owned();
    let summary = state
        .api
        .get(
            signed_in.key(),
            &format!(
                "/v1/insights/summary?from={from}&to={to}&top=10&time_zone={}",
                url::form_urlencoded::byte_serialize(zone.as_bytes()).collect::<String>()
            ),
        )
        .await?;
    let mut accounts = Vec::new();
    for account in summary
        .get("accounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let followers: Vec<u64> = account
            .get("follower_series")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|point| point.get("followers").and_then(Value::as_u64))
            .collect();
        let ends = (
            account.get("followers_at_start").and_then(Value::as_u64),
            account.get("followers_at_end").and_then(Value::as_u64),
        );
        accounts.push(AccountRow {
            name: text_at(account, "/display_name"),
            posts: number(account, "/posts"),
            views: number(account, "/gained/views"),
            followers: match ends {
                (Some(start), Some(end)) => format!("{start} → {end}"),
                (None, Some(end)) => end.to_string(),
                _ => "not read yet".to_owned(),
            },
            chart: charts::sparkline(&followers, 120, 28),
            ready: account.get("insights_ready").and_then(Value::as_bool) == Some(true),
        });
    }
    let top = summary
        .get("top_posts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let most = top
        .iter()
        .map(|post| number(post, "/gained/views"))
        .max()
        .unwrap_or(0);
    let posts = top
        .iter()
        .map(|post| PostRow {
            id: text_at(post, "/post_id"),
            caption: match text_at(post, "/caption") {
                caption if caption.trim().is_empty() => "(no caption)".to_owned(),
                caption => caption,
            },
            views: number(post, "/gained/views"),
            bar: charts::bar(number(post, "/gained/views"), most, 120),
            likes: number(post, "/gained/likes"),
            engagement: post
                .get("engagement_rate")
                .and_then(Value::as_f64)
                .map_or_else(|| "–".to_owned(), |rate| format!("{:.1}%", rate * 100.0)),
        })
        .collect();
    let by_hour: Vec<u64> = summary
        .get("first_day_views_by_hour")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|views| views.as_u64().unwrap_or(0))
        .collect();
    let best_hour = by_hour
        .iter()
        .enumerate()
        .filter(|(_, views)| **views > 0)
        .max_by_key(|(_, views)| **views)
        .map(|(hour, _)| hour as u64);
    render(&InsightsPage {
        chrome: signed_in.chrome("insights"),
        days,
        ranges: RANGES,
        views: number(&summary, "/gained/views"),
        likes: number(&summary, "/gained/likes"),
        comments: number(&summary, "/gained/comments"),
        shares: number(&summary, "/gained/shares"),
        accounts,
        posts,
        hours: if by_hour.len() == 24 {
            charts::hours(&by_hour)
        } else {
            String::new()
        },
        best_hour,
    })
}
