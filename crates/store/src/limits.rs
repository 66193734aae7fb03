//! The rules of the rate-limit windows and the active-creator cap, decided in memory over rows
//! a transaction has read, so that the one-request path and the init wave's batch decide
//! alike.

use std::collections::HashMap;

use uuid::Uuid;

use crate::rows::from_ms;
use crate::{RateLimitDecision, StoreError};

/// Whether one more request fits a rolling window that already holds `used` requests, the
/// oldest sent at `oldest_ms`: a request is inside the window for `window_ms` after it was
/// sent, so the oldest one leaving frees the next slot.
pub(crate) fn rate_limit_decision(
    used: i64,
    oldest_ms: Option<i64>,
    limit: u32,
    window_ms: i64,
    now_ms: i64,
) -> Result<RateLimitDecision, StoreError> {
    if limit == 0 {
        return Ok(RateLimitDecision::Limited {
            retry_at: from_ms(now_ms.saturating_add(window_ms))?,
        });
    }
    if used >= i64::from(limit) {
        let frees_at = oldest_ms.unwrap_or(now_ms).saturating_add(window_ms);
        return Ok(RateLimitDecision::Limited {
            retry_at: from_ms(frees_at)?,
        });
    }
    Ok(RateLimitDecision::Allowed {
        used: u32::try_from(used.saturating_add(1)).unwrap_or(u32::MAX),
    })
}

/// The app's active creators as one transaction sees them: each account with its latest quota
/// use inside the window.
#[derive(Debug)]
pub(crate) struct ActiveCreators {
    latest_use_ms: HashMap<Uuid, i64>,
    cap: u64,
}

/// Whether a creator may post under the active-creator cap.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// It already counts among the active creators: nothing to record.
    AlreadyActive,
    /// A slot is free: recording its use makes it active.
    SlotFree,
    /// Every slot is taken.
    Full,
}

impl ActiveCreators {
    pub(crate) fn new(rows: impl IntoIterator<Item = (Uuid, i64)>, cap: u64) -> Self {
        Self {
            latest_use_ms: rows.into_iter().collect(),
            cap,
        }
    }

    pub(crate) fn admission(&self, account: Uuid) -> Admission {
        if self.latest_use_ms.contains_key(&account) {
            Admission::AlreadyActive
        } else if u64::try_from(self.latest_use_ms.len()).unwrap_or(u64::MAX) >= self.cap {
            Admission::Full
        } else {
            Admission::SlotFree
        }
    }

    /// Counts `account` as active from `now_ms` on (after a [`Admission::SlotFree`]).
    pub(crate) fn admit(&mut self, account: Uuid, now_ms: i64) {
        self.latest_use_ms.entry(account).or_insert(now_ms);
    }

    /// The latest use of each active creator, oldest first: a slot frees when the oldest
    /// leaves the window.
    pub(crate) fn latest_uses(&self) -> Result<Vec<jiff::Timestamp>, StoreError> {
        let mut uses = self
            .latest_use_ms
            .values()
            .map(|&at| from_ms(at))
            .collect::<Result<Vec<_>, _>>()?;
        uses.sort();
        Ok(uses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_up_to_its_limit_and_then_names_when_the_oldest_leaves() {
        let allowed = rate_limit_decision(5, Some(1_000), 6, 60_000, 30_000).unwrap();
        assert_eq!(allowed, RateLimitDecision::Allowed { used: 6 });
        let limited = rate_limit_decision(6, Some(1_000), 6, 60_000, 30_000).unwrap();
        assert_eq!(
            limited,
            RateLimitDecision::Limited {
                retry_at: jiff::Timestamp::from_millisecond(61_000).unwrap()
            }
        );
    }

    #[test]
    fn a_zero_limit_waits_a_whole_window() {
        let limited = rate_limit_decision(0, None, 0, 60_000, 30_000).unwrap();
        assert_eq!(
            limited,
            RateLimitDecision::Limited {
                retry_at: jiff::Timestamp::from_millisecond(90_000).unwrap()
            }
        );
    }

    #[test]
    fn an_active_creator_stays_admitted_when_the_cap_is_full_and_a_new_one_does_not() {
        let known = Uuid::from_u128(1);
        let mut active = ActiveCreators::new([(known, 10)], 2);
        assert_eq!(active.admission(known), Admission::AlreadyActive);
        let second = Uuid::from_u128(2);
        assert_eq!(active.admission(second), Admission::SlotFree);
        active.admit(second, 20);
        let third = Uuid::from_u128(3);
        assert_eq!(active.admission(third), Admission::Full);
        assert_eq!(active.admission(second), Admission::AlreadyActive);
        let uses: Vec<i64> = active
            .latest_uses()
            .unwrap()
            .iter()
            .map(|at| at.as_millisecond())
            .collect();
        assert_eq!(uses, [10, 20]);
    }
}
