//! When a post's counts are read again. TikTok's Display API gives lifetime totals only, so a
//! post's history is the snapshots tokpost takes: densely while the post is young and its counts
//! move, sparsely as it ages, then never.
//!
//! Invariants, judged by [`next_snapshot`] alone:
//! - the next snapshot is never before `now` (a missed pass catches up with one snapshot, not a
//!   burst of the ones it missed);
//! - the interval never shrinks as a post ages, and tracking stops at [`TRACKED_FOR`].
//!
//! A post whose public id TikTok never reports is found by [`matching`] instead.

pub mod matching;

use std::time::Duration;

use jiff::Timestamp;

const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(86_400);

/// Posts are followed this long after they went live, then their last counts stand.
pub const TRACKED_FOR: Duration = Duration::from_secs(90 * 86_400);

/// How often a creator's follower counts are read.
pub const ACCOUNT_EVERY: Duration = DAY;

/// How often a post of `age` is read: hourly for a day, every 6 h for a week, daily for a
/// month, weekly until [`TRACKED_FOR`].
#[must_use]
pub fn interval(age: Duration) -> Option<Duration> {
    if age < DAY {
        Some(HOUR)
    } else if age < 7 * DAY {
        Some(6 * HOUR)
    } else if age < 30 * DAY {
        Some(DAY)
    } else if age < TRACKED_FOR {
        Some(7 * DAY)
    } else {
        None
    }
}

/// When a post that went live at `live_at` is read next, after a snapshot at `now`; `None` once
/// it is no longer followed (the last snapshot is taken at or after [`TRACKED_FOR`]).
#[must_use]
pub fn next_snapshot(live_at: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let age = now.duration_since(live_at).unsigned_abs();
    let every = interval(age)?;
    // Still followed, so the end is ahead; the last snapshot lands on it, not a week past it.
    let end = clock_add(live_at, TRACKED_FOR);
    Some(clock_add(now, every).min(end))
}

fn clock_add(at: Timestamp, by: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(by)
        .ok()
        .and_then(|by| at.checked_add(by).ok())
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + seconds).unwrap()
    }

    #[test]
    fn young_posts_are_read_hourly_then_less_often_then_never() {
        let live = at(0);
        assert_eq!(next_snapshot(live, at(60)), Some(at(60 + 3_600)));
        assert_eq!(
            next_snapshot(live, at(2 * 86_400)),
            Some(at(2 * 86_400 + 6 * 3_600))
        );
        assert_eq!(next_snapshot(live, at(10 * 86_400)), Some(at(11 * 86_400)));
        assert_eq!(next_snapshot(live, at(40 * 86_400)), Some(at(47 * 86_400)));
        // The last read lands on the 90th day, then nothing.
        assert_eq!(next_snapshot(live, at(88 * 86_400)), Some(at(90 * 86_400)));
        assert_eq!(next_snapshot(live, at(90 * 86_400)), None);
        assert_eq!(next_snapshot(live, at(400 * 86_400)), None);
    }

    proptest! {
        #[test]
        fn the_next_read_is_never_in_the_past_and_reads_thin_out_with_age(
            first in 0i64..(95 * 86_400),
            gap in 0i64..(10 * 86_400),
        ) {
            let live = at(0);
            let now = at(first);
            if let Some(next) = next_snapshot(live, now) {
                prop_assert!(next > now);
                let later = at(first + gap);
                let young = interval(now.duration_since(live).unsigned_abs());
                let old = interval(later.duration_since(live).unsigned_abs());
                if let (Some(young), Some(old)) = (young, old) {
                    prop_assert!(old >= young);
                }
            } else {
                prop_assert!(now.duration_since(live).unsigned_abs() >= TRACKED_FOR);
            }
        }
    }
}
