//! The calendar's pure parts: which days a view shows and the instants they span in the
//! person's zone (a day is 23 or 25 hours across a clock change), which wall-clock hours exist
//! on a day, how a post's state is grouped for the legend, and the instant a drop (or the move
//! form) names. No IO: facts in, answer out.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};
use tokpost_core::StateKind;

/// Week (hour rows) or month (day cells, weeks starting on Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    Week,
    Month,
}

impl View {
    /// `week` (also the default) or `month`.
    pub(crate) fn parse(text: Option<&str>) -> Result<Self, String> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None | Some("week") => Ok(Self::Week),
            Some("month") => Ok(Self::Month),
            Some(other) => Err(format!(
                "view: expected `week` or `month`, got `{}`",
                other.chars().take(40).collect::<String>()
            )),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// The days a view shows and the instants they span: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) days: Vec<Date>,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
}

/// The Monday on or before `date`.
pub(crate) fn monday_of(date: Date) -> Result<Date, jiff::Error> {
    date.checked_sub(i64::from(date.weekday().to_monday_zero_offset()).days())
}

/// The days of the week (Monday to Sunday) or of the month's weeks (from the Monday on or
/// before the 1st to the Sunday on or after the last day) around `anchor`, and the instants
/// from the first day's start to the next day's start after the last, in `zone`.
pub(crate) fn span(view: View, anchor: Date, zone: &TimeZone) -> Result<Span, jiff::Error> {
    let (first, count) = match view {
        View::Week => (monday_of(anchor)?, 7),
        View::Month => {
            let first = monday_of(anchor.first_of_month())?;
            let last = monday_of(anchor.last_of_month())?.checked_add(6.days())?;
            let weeks = (first.until(last)?.get_days() + 1) / 7;
            (first, i64::from(weeks) * 7)
        }
    };
    let mut days = Vec::new();
    for offset in 0..count {
        days.push(first.checked_add(offset.days())?);
    }
    let after = first.checked_add(count.days())?;
    Ok(Span {
        start: first.to_zoned(zone.clone())?.timestamp(),
        end: after.to_zoned(zone.clone())?.timestamp(),
        days,
    })
}

/// The anchor of the previous (`forward == false`) or next view.
pub(crate) fn step(view: View, anchor: Date, forward: bool) -> Result<Date, jiff::Error> {
    let sign: i64 = if forward { 1 } else { -1 };
    match view {
        View::Week => anchor.checked_add((7 * sign).days()),
        View::Month => anchor.first_of_month().checked_add(sign.months()),
    }
}

/// How a wall-clock hour exists on a day in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HourKind {
    /// Once, as usual.
    Normal,
    /// Not at all: the clocks jump over it.
    Skipped,
    /// Twice: the clocks go back over it.
    Twice,
}

/// Whether `hour:00` (and `hour:30`) exists on `date` in `zone`: an hour skipped when clocks go
/// forward, lived twice when they go back.
pub(crate) fn hour_kind(date: Date, hour: i8, zone: &TimeZone) -> HourKind {
    let at = |minute: i8| {
        Time::new(hour, minute, 0, 0)
            .map(|time| zone.to_ambiguous_zoned(date.to_datetime(time)).offset())
    };
    match (at(0), at(30)) {
        (Ok(AmbiguousOffset::Gap { .. }), Ok(AmbiguousOffset::Gap { .. })) => HourKind::Skipped,
        (Ok(AmbiguousOffset::Fold { .. }), _) | (_, Ok(AmbiguousOffset::Fold { .. })) => {
            HourKind::Twice
        }
        _ => HourKind::Normal,
    }
}

/// How a post's state shows in the calendar: a handful of groups with a legend, each with a
/// word and a mark so that colour is never the only signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Group {
    /// Waiting for a reviewer, or rejected and back with its author.
    Review,
    Scheduled,
    /// Anything between being picked up and TikTok's final answer.
    Publishing,
    /// Waiting on something: a cap, a reconnect, an answer TikTok has not given.
    Held,
    Published,
    /// Failed or missed.
    Failed,
    Cancelled,
}

impl Group {
    pub(crate) const ALL: [Self; 7] = [
        Self::Review,
        Self::Scheduled,
        Self::Publishing,
        Self::Held,
        Self::Published,
        Self::Failed,
        Self::Cancelled,
    ];

    pub(crate) fn of(kind: StateKind) -> Self {
        match kind {
            StateKind::AwaitingApproval | StateKind::Rejected => Self::Review,
            StateKind::Scheduled => Self::Scheduled,
            StateKind::Preflighted
            | StateKind::CreatorChecked
            | StateKind::Initialized
            | StateKind::Uploading
            | StateKind::Processing => Self::Publishing,
            StateKind::Deferred | StateKind::WaitingForReconnect | StateKind::Uncertain => {
                Self::Held
            }
            StateKind::Published | StateKind::InboxDelivered => Self::Published,
            StateKind::Failed | StateKind::Missed => Self::Failed,
            StateKind::Cancelled => Self::Cancelled,
        }
    }

    /// The CSS class (`cal-<name>`) and the machine name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::Scheduled => "scheduled",
            Self::Publishing => "publishing",
            Self::Held => "held",
            Self::Published => "published",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Review => "In review",
            Self::Scheduled => "Scheduled",
            Self::Publishing => "Publishing",
            Self::Held => "Held",
            Self::Published => "Published",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
        }
    }

    /// A mark beside the word, readable without colour.
    pub(crate) fn mark(self) -> &'static str {
        match self {
            Self::Review => "?",
            Self::Scheduled => "◷",
            Self::Publishing => "↻",
            Self::Held => "‖",
            Self::Published => "✓",
            Self::Failed => "✕",
            Self::Cancelled => "–",
        }
    }

    /// What the legend says the group holds.
    pub(crate) fn meaning(self) -> &'static str {
        match self {
            Self::Review => {
                "awaiting approval, or rejected and back with its author; can be moved (approval is asked again)"
            }
            Self::Scheduled => "waiting for its time; can be moved",
            Self::Publishing => {
                "being prepared, uploaded or processed (prepared posts can still be moved until shortly before their time)"
            }
            Self::Held => "deferred by a cap, waiting for a reconnect, or TikTok's answer unknown",
            Self::Published => "published, or delivered to the creator's inbox",
            Self::Failed => "failed or missed; open it to see why and retry",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Whether the calendar offers to move a post in `kind`: one not yet sent to TikTok
/// ([`StateKind::is_editable`]). The reschedule endpoint has the last word (a prepared post
/// freezes just before its time).
pub(crate) const fn movable(kind: StateKind) -> bool {
    kind.is_editable()
}

/// Where a post was dropped: a day, and in the week view a time (the hour or half hour under
/// the pointer); the month view keeps the post's own time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drop {
    pub(crate) date: Date,
    pub(crate) time: Option<Time>,
}

impl Drop {
    /// Parses `date` (`YYYY-MM-DD`) and an optional `time` (`HH:MM`), naming the field at fault.
    pub(crate) fn parse(date: &str, time: Option<&str>) -> Result<Self, String> {
        let date = date.trim().parse::<Date>().map_err(|_| {
            format!(
                "date: expected YYYY-MM-DD, got `{}`",
                date.chars().take(40).collect::<String>()
            )
        })?;
        let time = match time.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(text) => Some(text.parse::<Time>().map_err(|_| {
                format!(
                    "time: expected HH:MM, got `{}`",
                    text.chars().take(40).collect::<String>()
                )
            })?),
        };
        Ok(Self { date, time })
    }

    /// Parses a `datetime-local` value (`YYYY-MM-DDTHH:MM`).
    pub(crate) fn parse_local(text: &str) -> Result<Self, String> {
        let at = text.trim().parse::<DateTime>().map_err(|_| {
            format!(
                "at: expected a date and time as YYYY-MM-DDTHH:MM, got `{}`",
                text.chars().take(40).collect::<String>()
            )
        })?;
        Ok(Self {
            date: at.date(),
            time: Some(at.time()),
        })
    }
}

/// The instant a drop names for a post now at `current`, in `zone`: the dropped day at the
/// dropped time, or at the post's own time of day. A wall time the clocks skip that day is
/// refused (rather than silently shifted); one they live twice means the first.
pub(crate) fn drop_instant(
    drop: Drop,
    current: Timestamp,
    zone: &TimeZone,
) -> Result<Timestamp, String> {
    let time = drop
        .time
        .unwrap_or_else(|| current.to_zoned(zone.clone()).time());
    crate::views::wall_instant(drop.date.to_datetime(time), zone)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use jiff::civil::date;
    use rstest::rstest;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn a_week_across_the_spring_clock_change_is_one_hour_short() {
        // 2026-03-29: Berlin goes from 02:00 CET to 03:00 CEST.
        let week = span(View::Week, date(2026, 3, 26), &berlin()).unwrap();
        assert_eq!(week.days.first(), Some(&date(2026, 3, 23)));
        assert_eq!(week.days.last(), Some(&date(2026, 3, 29)));
        assert_eq!(week.start.to_string(), "2026-03-22T23:00:00Z");
        assert_eq!(week.end.to_string(), "2026-03-29T22:00:00Z");
        assert_eq!(week.start.duration_until(week.end).as_hours(), 7 * 24 - 1);
        assert_eq!(
            hour_kind(date(2026, 3, 29), 2, &berlin()),
            HourKind::Skipped
        );
        assert_eq!(hour_kind(date(2026, 3, 29), 3, &berlin()), HourKind::Normal);
        assert_eq!(hour_kind(date(2026, 3, 28), 2, &berlin()), HourKind::Normal);
    }

    #[test]
    fn a_week_across_the_autumn_clock_change_is_one_hour_long() {
        // 2026-10-25: Berlin goes from 03:00 CEST back to 02:00 CET.
        let week = span(View::Week, date(2026, 10, 25), &berlin()).unwrap();
        assert_eq!(week.days.first(), Some(&date(2026, 10, 19)));
        assert_eq!(week.start.duration_until(week.end).as_hours(), 7 * 24 + 1);
        assert_eq!(hour_kind(date(2026, 10, 25), 2, &berlin()), HourKind::Twice);
        assert_eq!(
            hour_kind(date(2026, 10, 25), 1, &berlin()),
            HourKind::Normal
        );
    }

    #[rstest]
    // March 2026 starts on a Sunday and ends on a Tuesday: six rows.
    #[case(date(2026, 3, 15), date(2026, 2, 23), date(2026, 4, 5), 42)]
    // February 2027 starts on a Monday and has 28 days: exactly four rows.
    #[case(date(2027, 2, 10), date(2027, 2, 1), date(2027, 2, 28), 28)]
    // January 2026 starts on a Thursday.
    #[case(date(2026, 1, 31), date(2025, 12, 29), date(2026, 2, 1), 35)]
    fn a_month_shows_whole_weeks_from_monday(
        #[case] anchor: Date,
        #[case] first: Date,
        #[case] last: Date,
        #[case] days: usize,
    ) {
        let month = span(View::Month, anchor, &TimeZone::UTC).unwrap();
        assert_eq!(month.days.len(), days);
        assert_eq!(month.days[0], first);
        assert_eq!(month.days[days - 1], last);
        assert_eq!(month.days[0].weekday(), jiff::civil::Weekday::Monday);
    }

    #[test]
    fn a_month_view_spans_the_local_days_not_utc_days() {
        let zone = TimeZone::get("America/New_York").unwrap();
        let month = span(View::Month, date(2026, 3, 1), &zone).unwrap();
        // 2026-02-23 00:00 EST is 05:00 UTC; 2026-04-06 00:00 EDT is 04:00 UTC.
        assert_eq!(month.start.to_string(), "2026-02-23T05:00:00Z");
        assert_eq!(month.end.to_string(), "2026-04-06T04:00:00Z");
    }

    #[rstest]
    #[case(View::Week, date(2026, 1, 7), true, date(2026, 1, 14))]
    #[case(View::Week, date(2026, 1, 7), false, date(2025, 12, 31))]
    #[case(View::Month, date(2026, 1, 31), true, date(2026, 2, 1))]
    #[case(View::Month, date(2026, 3, 31), false, date(2026, 2, 1))]
    fn previous_and_next_move_by_a_whole_view(
        #[case] view: View,
        #[case] anchor: Date,
        #[case] forward: bool,
        #[case] expected: Date,
    ) {
        assert_eq!(step(view, anchor, forward).unwrap(), expected);
    }

    #[rstest]
    #[case(StateKind::Scheduled, Group::Scheduled, true)]
    #[case(StateKind::Preflighted, Group::Publishing, true)]
    #[case(StateKind::CreatorChecked, Group::Publishing, true)]
    #[case(StateKind::Initialized, Group::Publishing, false)]
    #[case(StateKind::Uploading, Group::Publishing, false)]
    #[case(StateKind::Processing, Group::Publishing, false)]
    #[case(StateKind::Deferred, Group::Held, false)]
    #[case(StateKind::WaitingForReconnect, Group::Held, false)]
    #[case(StateKind::Uncertain, Group::Held, false)]
    #[case(StateKind::Published, Group::Published, false)]
    #[case(StateKind::InboxDelivered, Group::Published, false)]
    #[case(StateKind::Failed, Group::Failed, false)]
    #[case(StateKind::Missed, Group::Failed, false)]
    #[case(StateKind::Cancelled, Group::Cancelled, false)]
    #[case(StateKind::AwaitingApproval, Group::Review, true)]
    #[case(StateKind::Rejected, Group::Review, true)]
    fn every_state_has_a_group_and_only_unsent_posts_move(
        #[case] kind: StateKind,
        #[case] group: Group,
        #[case] moves: bool,
    ) {
        assert_eq!(Group::of(kind), group);
        assert_eq!(movable(kind), moves);
    }

    #[test]
    fn every_group_is_in_the_legend_with_a_distinct_mark() {
        let mut marks: Vec<&str> = Group::ALL.iter().map(|g| g.mark()).collect();
        marks.sort_unstable();
        marks.dedup();
        assert_eq!(marks.len(), Group::ALL.len());
        for kind in StateKind::ALL {
            assert!(Group::ALL.contains(&Group::of(kind)));
        }
    }

    #[rstest]
    // Week view: the dropped day at the dropped half hour, in the person's zone.
    #[case("2026-01-06", Some("14:30"), "2026-01-06T13:30:00Z")]
    // Month view: the post's own time of day (09:15:20 in Berlin) on the dropped day.
    #[case("2026-01-09", None, "2026-01-09T08:15:20Z")]
    // Across the spring change the same wall time is an hour earlier in UTC.
    #[case("2026-03-30", None, "2026-03-30T07:15:20Z")]
    // 02:30 on the autumn change happens twice: the first one (CEST) is meant.
    #[case("2026-10-25", Some("02:30"), "2026-10-25T00:30:00Z")]
    fn a_drop_names_an_instant_in_the_persons_zone(
        #[case] day: &str,
        #[case] time: Option<&str>,
        #[case] expected: &str,
    ) {
        let current: Timestamp = "2026-01-05T08:15:20Z".parse().unwrap();
        let drop = Drop::parse(day, time).unwrap();
        assert_eq!(
            drop_instant(drop, current, &berlin()).unwrap().to_string(),
            expected
        );
    }

    #[test]
    fn a_drop_on_a_skipped_hour_is_refused_with_the_reason() {
        let current: Timestamp = "2026-01-05T08:15:20Z".parse().unwrap();
        let drop = Drop::parse("2026-03-29", Some("02:30")).unwrap();
        let error = drop_instant(drop, current, &berlin()).unwrap_err();
        assert!(
            error.contains("02:30 does not exist on 2026-03-29"),
            "{error}"
        );
        assert!(error.contains("Europe/Berlin"), "{error}");
    }

    #[rstest]
    #[case("2026-13-01", None, "date: expected YYYY-MM-DD, got `2026-13-01`")]
    #[case("2026-01-01", Some("25:00"), "time: expected HH:MM, got `25:00`")]
    fn a_bad_drop_names_the_field(
        #[case] day: &str,
        #[case] time: Option<&str>,
        #[case] message: &str,
    ) {
        assert_eq!(Drop::parse(day, time).unwrap_err(), message);
    }

    #[test]
    fn the_move_form_reads_a_datetime_local_value() {
        let drop = Drop::parse_local("2026-02-03T07:45").unwrap();
        assert_eq!(drop.date, date(2026, 2, 3));
        assert_eq!(drop.time, Some(Time::constant(7, 45, 0, 0)));
        assert!(
            Drop::parse_local("tomorrow")
                .unwrap_err()
                .starts_with("at: expected")
        );
        assert_eq!(
            View::parse(Some("year")).unwrap_err(),
            "view: expected `week` or `month`, got `year`"
        );
        assert_eq!(View::parse(None).unwrap(), View::Week);
    }
}
