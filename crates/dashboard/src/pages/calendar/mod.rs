//! The calendar: a week (hour rows) or a month (day cells, weeks from Monday) of posts in the
//! signed-in person's zone, for every account or one; each creator's next free slot above the
//! grid and marked in it; posts that can still move are dragged to another slot (`calendar.js`,
//! Pointer Events) or moved with a small form, both through the API's reschedule endpoint
//! (`moving.rs`). The date arithmetic is pure and lives in `grid.rs`.

mod grid;
mod moving;

pub(crate) use moving::{move_page, move_post};

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;
use serde_json::Value;
use tokpost_core::{AccountId, Post};
use tokpost_store::PostFilter;

use self::grid::{Group, HourKind, View};
use super::{CALENDAR_LIMIT, Chrome, SignedIn, render};
use crate::Dashboard;
use crate::error::PageError;
use crate::views;

/// The most posts one view shows; a busier view says how many it left out.
const MAX_POSTS: usize = 2_000;

#[derive(Debug, Deserialize)]
pub(crate) struct CalendarQuery {
    view: Option<String>,
    date: Option<String>,
    account: Option<String>,
    moved: Option<String>,
}

/// One post in a cell.
#[derive(Debug, Clone)]
struct Chip {
    id: String,
    time: String,
    group: Group,
    state: String,
    account: String,
    text: String,
    movable: bool,
    moved: bool,
}

/// One cell: an hour of a day (week) or a day (month).
#[derive(Debug, Clone, Default)]
struct Cell {
    date: String,
    /// The hour in the week view; empty in the month view.
    hour: String,
    /// The month view's day as screen readers say it ("Tuesday 6 January"); the week view's
    /// cells are named by their row and column headers.
    label: String,
    /// The day's number in the month view.
    day: String,
    skipped: bool,
    twice: bool,
    today: bool,
    past: bool,
    /// A month cell of the neighbouring month.
    outside: bool,
    posts: Vec<Chip>,
    /// Creators whose next free slot falls in this cell.
    free: Vec<String>,
}

#[derive(Debug, Clone)]
struct Row {
    /// The week view's hour ("14:00"); empty in the month view.
    label: String,
    cells: Vec<Cell>,
}

#[derive(Debug, Clone)]
struct DayHead {
    weekday: String,
    day: String,
    today: bool,
}

/// One creator above the grid: the cap and the next free slot.
#[derive(Debug, Clone)]
struct SlotLine {
    id: String,
    name: String,
    used: u64,
    cap: u32,
    next: String,
    full: bool,
    in_view: usize,
    href: String,
}

#[derive(Debug, Clone)]
struct LegendLine {
    group: Group,
    count: usize,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    chrome: Chrome,
    view: &'static str,
    title: String,
    date: String,
    account: String,
    accounts: Vec<(String, String)>,
    prev_href: String,
    next_href: String,
    today_href: String,
    week_href: String,
    month_href: String,
    heads: Vec<DayHead>,
    rows: Vec<Row>,
    slots: Vec<SlotLine>,
    legend: Vec<LegendLine>,
    total: usize,
    truncated: bool,
    notice: Option<String>,
}

/// A calendar link: the view, the anchor day (none: today) and the account filter.
pub(crate) fn href(view: View, date: Option<Date>, account: &str) -> String {
    let mut out = format!("/calendar?view={}", view.as_str());
    if let Some(date) = date {
        out.push_str(&format!("&date={date}"));
    }
    if !account.is_empty() {
        out.push_str(&format!("&account={account}"));
    }
    out
}

/// The account filter: empty for all, else an account of this workspace.
fn parse_account(text: Option<&str>, known: &[AccountId]) -> Result<Option<AccountId>, PageError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    text.parse::<AccountId>()
        .ok()
        .filter(|id| known.contains(id))
        .map(Some)
        .ok_or_else(|| {
            PageError::BadInput(format!(
                "account: `{}` is not an account of this workspace",
                text.chars().take(40).collect::<String>()
            ))
        })
}

/// Every post of the view's span (and account), a page at a time, up to [`MAX_POSTS`].
async fn posts_between(
    state: &Dashboard,
    signed_in: &SignedIn,
    account: Option<AccountId>,
    span: &grid::Span,
) -> Result<(Vec<Post>, bool), PageError> {
    let mut posts: Vec<Post> = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .app
            .posts()
            .list_posts(&PostFilter {
                workspace_id: signed_in.session.workspace_id,
                state: None,
                account_id: account,
                scheduled_from: Some(span.start),
                scheduled_before: Some(span.end),
                after,
                limit: CALENDAR_LIMIT,
            })
            .await?;
        let full = page.len() >= CALENDAR_LIMIT as usize;
        after = page.last().map(|p| (p.scheduled_at.at(), p.id));
        posts.extend(page);
        if posts.len() >= MAX_POSTS {
            posts.truncate(MAX_POSTS);
            return Ok((posts, true));
        }
        if !full || after.is_none() {
            return Ok((posts, false));
        }
    }
}

fn day_label(date: Date) -> String {
    date.strftime("%A %-d %B").to_string()
}

/// The start of `date` at `hour` in `zone` (the first one when the hour is lived twice).
fn hour_start(date: Date, hour: i8, zone: &TimeZone) -> Option<Timestamp> {
    let time = jiff::civil::Time::new(hour, 0, 0, 0).ok()?;
    zone.to_ambiguous_zoned(date.to_datetime(time))
        .compatible()
        .ok()
        .map(|z| z.timestamp())
}

pub(crate) async fn calendar(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Query(query): Query<CalendarQuery>,
) -> Result<Response, PageError> {
    let zone = signed_in.zone().clone();
    let now = state.app.now();
    let today = now.to_zoned(zone.clone()).date();
    let view = View::parse(query.view.as_deref()).map_err(PageError::BadInput)?;
    let anchor = match query
        .date
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => today,
        Some(text) => text.parse::<Date>().map_err(|_| {
            PageError::BadInput(format!(
                "date: expected YYYY-MM-DD, got `{}`",
                text.chars().take(40).collect::<String>()
            ))
        })?,
    };
    let accounts = state
        .app
        .accounts()
        .accounts(signed_in.session.workspace_id)
        .await?;
    let ids: Vec<AccountId> = accounts.iter().map(|a| a.id).collect();
    let account = parse_account(query.account.as_deref(), &ids)?;
    let account_text = account.map(|a| a.to_string()).unwrap_or_default();
    let bad_range = |_| PageError::BadInput(format!("date: {anchor} is outside the calendar"));
    let span = grid::span(view, anchor, &zone).map_err(bad_range)?;
    let (posts, truncated) = posts_between(&state, &signed_in, account, &span).await?;
    let names: BTreeMap<AccountId, String> = accounts
        .iter()
        .map(|a| (a.id, a.display_name.clone()))
        .collect();

    // The cells, in reading order.
    let mut rows: Vec<Row> = Vec::new();
    match view {
        View::Week => {
            for hour in 0..24i8 {
                let cells = span
                    .days
                    .iter()
                    .map(|&date| {
                        let kind = grid::hour_kind(date, hour, &zone);
                        let end = hour_start(date, hour, &zone)
                            .and_then(|start| start.checked_add(1.hour()).ok());
                        Cell {
                            date: date.to_string(),
                            hour: hour.to_string(),
                            skipped: kind == HourKind::Skipped,
                            twice: kind == HourKind::Twice,
                            today: date == today,
                            past: end.is_some_and(|end| end <= now),
                            ..Cell::default()
                        }
                    })
                    .collect();
                rows.push(Row {
                    label: format!("{hour:02}:00"),
                    cells,
                });
            }
        }
        View::Month => {
            for week in span.days.chunks(7) {
                let cells = week
                    .iter()
                    .map(|&date| {
                        let end = date
                            .tomorrow()
                            .ok()
                            .and_then(|next| next.to_zoned(zone.clone()).ok());
                        Cell {
                            date: date.to_string(),
                            label: day_label(date),
                            day: date.day().to_string(),
                            today: date == today,
                            past: end.is_some_and(|end| end.timestamp() <= now),
                            outside: date.month() != anchor.month(),
                            ..Cell::default()
                        }
                    })
                    .collect();
                rows.push(Row {
                    label: String::new(),
                    cells,
                });
            }
        }
    }
    let cell_of = |at: Timestamp| -> Option<(usize, usize)> {
        let zoned = at.to_zoned(zone.clone());
        let day = span.days.iter().position(|d| *d == zoned.date())?;
        Some(match view {
            View::Week => (usize::try_from(zoned.hour()).ok()?, day),
            View::Month => (day / 7, day % 7),
        })
    };

    // The posts.
    let mut counts: BTreeMap<Group, usize> = BTreeMap::new();
    let mut in_view: BTreeMap<AccountId, usize> = BTreeMap::new();
    let mut notice = None;
    let total = posts.len();
    for post in posts {
        let kind = post.state.kind();
        let group = Group::of(kind);
        *counts.entry(group).or_default() += 1;
        *in_view.entry(post.account_id).or_default() += 1;
        let Some((row, column)) = cell_of(post.scheduled_at.at()) else {
            continue;
        };
        let zoned = post.scheduled_at.at().to_zoned(zone.clone());
        let Some(cell) = rows.get_mut(row).and_then(|r| r.cells.get_mut(column)) else {
            continue;
        };
        let spec = serde_json::to_value(&post.spec).unwrap_or(Value::Null);
        let id = post.id.to_string();
        let moved = query.moved.as_deref() == Some(id.as_str());
        let chip = Chip {
            time: if cell.twice {
                zoned.strftime("%H:%M %Z").to_string()
            } else {
                zoned.strftime("%H:%M").to_string()
            },
            group,
            state: kind.as_str().replace('_', " "),
            account: names.get(&post.account_id).cloned().unwrap_or_default(),
            text: views::post_text(&spec),
            movable: grid::movable(kind) && signed_in.may_change(post.created_by),
            moved,
            id,
        };
        if moved {
            notice = Some(format!(
                "Moved “{}” ({}) to {}.",
                chip.text,
                chip.account,
                views::when(post.scheduled_at.at(), &zone)
            ));
        }
        cell.posts.push(chip);
    }

    // Each creator's cap and next free slot, from the API's account health: one account's, or
    // every account's a page of 200 at a time (never a request per account).
    let mut healths: BTreeMap<String, views::HealthJson> = match account {
        Some(only) => {
            let json = super::accounts::account_json(&state, &signed_in, &only.to_string()).await?;
            json.health
                .map(|health| (json.id, health))
                .into_iter()
                .collect()
        }
        None => super::accounts::every_account_health(&state, &signed_in)
            .await?
            .into_iter()
            .filter_map(|json| Some((json.id, json.health?)))
            .collect(),
    };
    let mut slots = Vec::new();
    for item in accounts
        .iter()
        .filter(|a| account.is_none_or(|only| only == a.id))
    {
        let Some(health) = healths.remove(&item.id.to_string()) else {
            continue;
        };
        let next = health.next_slot_at.filter(|at| *at > now);
        let free_at = next.unwrap_or(now);
        if let Some((row, column)) = cell_of(free_at)
            && let Some(cell) = rows.get_mut(row).and_then(|r| r.cells.get_mut(column))
        {
            cell.free.push(item.display_name.clone());
        }
        slots.push(SlotLine {
            id: item.id.to_string(),
            name: item.display_name.clone(),
            used: health.posts_last_24h,
            cap: health.daily_post_cap,
            next: next.map_or_else(|| "now".to_owned(), |at| views::when(at, &zone)),
            full: next.is_some(),
            in_view: in_view.get(&item.id).copied().unwrap_or_default(),
            href: href(view, Some(anchor), &item.id.to_string()),
        });
    }

    let title = match view {
        View::Week => {
            let first = span.days.first().copied().unwrap_or(anchor);
            let last = span.days.last().copied().unwrap_or(anchor);
            format!(
                "Week of {} – {}",
                first.strftime("%-d %B"),
                last.strftime("%-d %B %Y")
            )
        }
        View::Month => anchor.strftime("%B %Y").to_string(),
    };
    let step = |forward| grid::step(view, anchor, forward).map_err(bad_range);
    let page = CalendarPage {
        chrome: signed_in.chrome("calendar"),
        view: view.as_str(),
        title,
        date: anchor.to_string(),
        prev_href: href(view, Some(step(false)?), &account_text),
        next_href: href(view, Some(step(true)?), &account_text),
        today_href: href(view, None, &account_text),
        week_href: href(View::Week, Some(anchor), &account_text),
        month_href: href(View::Month, Some(anchor), &account_text),
        heads: span
            .days
            .iter()
            .take(7)
            .map(|d| DayHead {
                weekday: d.strftime("%a").to_string(),
                day: if view == View::Week {
                    d.strftime("%-d %b").to_string()
                } else {
                    String::new()
                },
                today: view == View::Week && *d == today,
            })
            .collect(),
        rows,
        slots,
        legend: Group::ALL
            .into_iter()
            .map(|group| LegendLine {
                group,
                count: counts.get(&group).copied().unwrap_or_default(),
            })
            .collect(),
        total,
        truncated,
        notice,
        accounts: accounts
            .iter()
            .map(|a| (a.id.to_string(), a.display_name.clone()))
            .collect(),
        account: account_text,
    };
    render(&page)
}
