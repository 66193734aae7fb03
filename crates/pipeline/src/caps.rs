//! The cap planner: whether a post for an account may go now under the rolling 24-hour caps
//! tokpost counts itself (the creator's daily posts, pending inbox shares, the app's active
//! creators), and if not, the moment the next slot frees.
//!
//! The counts come from the quota ledger in the store, which every worker writes at init, so the
//! caps hold across workers and restarts. TikTok's daily cap is shared with every other app the
//! creator uses: when TikTok says `spam_risk_too_many_posts` earlier than our count, the count we
//! had becomes the cap for the next 24 hours (a learned cap).

use std::time::Duration;

use clock::{SignedDuration, Timestamp};
use serde::Serialize;
use tokpost_core::{AccountId, DeferReason, PostMode};
use tokpost_store::{ActiveCreatorAdmission, QuotaKind, QuotaStore, StoreError};

use crate::policy::PublishPolicy;

/// The rolling window all three caps use.
pub const WINDOW: Duration = Duration::from_secs(86_400);

/// A cap that keeps a post from going now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CapBlock {
    pub why: DeferReason,
    /// Uses counted in the window.
    pub used: u64,
    /// The cap in force.
    pub cap: u64,
    /// When the window frees a slot.
    pub frees_at: Timestamp,
}

/// The first cap that blocks a post in `mode` for `account` at `now`, or `None` when it may go.
/// Only reads: for preflight and planning. The init itself goes through [`admit_for_init`].
///
/// # Errors
/// Store failures.
pub async fn blocking_cap(
    store: &dyn QuotaStore,
    policy: &PublishPolicy,
    account: AccountId,
    mode: PostMode,
    now: Timestamp,
) -> Result<Option<CapBlock>, StoreError> {
    if let Some(block) = creator_cap(store, policy, account, mode, now).await? {
        return Ok(Some(block));
    }
    let Some(active_cap) = policy.active_creator_cap else {
        return Ok(None);
    };
    let active = store.active_creators_since(window_start(now)).await?;
    if active.iter().any(|(id, _)| *id == account) {
        return Ok(None);
    }
    let mut latest: Vec<Timestamp> = active.into_iter().map(|(_, at)| at).collect();
    latest.sort();
    Ok(active_creators_full(&latest, u64::from(active_cap)))
}

/// [`blocking_cap`]'s decision right before an init, where it must hold across processes: the
/// creator's own caps are read, then a creator new to the day is admitted among the app's
/// active creators by one atomic store call (counted from now on), so two new creators cannot
/// both take the last slot.
///
/// # Errors
/// Store failures.
pub async fn admit_for_init(
    store: &dyn QuotaStore,
    policy: &PublishPolicy,
    account: AccountId,
    mode: PostMode,
    now: Timestamp,
) -> Result<Option<CapBlock>, StoreError> {
    if let Some(block) = creator_cap(store, policy, account, mode, now).await? {
        return Ok(Some(block));
    }
    let Some(cap) = policy.active_creator_cap else {
        return Ok(None);
    };
    let cap = u64::from(cap);
    Ok(
        match store
            .admit_active_creator(account, window_start(now), cap, now)
            .await?
        {
            ActiveCreatorAdmission::Admitted => None,
            ActiveCreatorAdmission::Full { latest_uses } => active_creators_full(&latest_uses, cap),
        },
    )
}

/// The creator's own rolling cap for `mode`: daily direct posts (lowered by a learned cap) or
/// pending inbox shares.
pub(crate) async fn creator_cap(
    store: &dyn QuotaStore,
    policy: &PublishPolicy,
    account: AccountId,
    mode: PostMode,
    now: Timestamp,
) -> Result<Option<CapBlock>, StoreError> {
    let since = window_start(now);
    let (kind, why, cap) = match mode {
        PostMode::Direct => {
            let learned = store.learned_post_cap(account, since).await?;
            let cap = learned.map_or(policy.daily_post_cap, |learned| {
                learned.min(policy.daily_post_cap)
            });
            (QuotaKind::DirectPost, DeferReason::DailyPostCap, cap)
        }
        PostMode::Inbox => (
            QuotaKind::InboxShare,
            DeferReason::PendingInboxShares,
            policy.pending_inbox_cap,
        ),
    };
    let uses = store.quota_use_times(account, kind, since).await?;
    Ok(frees_at(&uses, u64::from(cap)).map(|frees_at| CapBlock {
        why,
        used: uses.len() as u64,
        cap: u64::from(cap),
        frees_at,
    }))
}

/// The block when `latest_uses` (each active creator's latest use, oldest first) fill `cap`.
pub(crate) fn active_creators_full(latest_uses: &[Timestamp], cap: u64) -> Option<CapBlock> {
    frees_at(latest_uses, cap).map(|frees_at| CapBlock {
        why: DeferReason::ActiveCreatorCap,
        used: latest_uses.len() as u64,
        cap,
        frees_at,
    })
}

/// With `uses` (oldest first) inside the window, when the count drops below `cap`; `None` when
/// it is already below. A cap of 0 never frees within a window: the answer is a window ahead.
#[must_use]
pub fn frees_at(uses: &[Timestamp], cap: u64) -> Option<Timestamp> {
    let used = uses.len() as u64;
    if used < cap {
        return None;
    }
    // Once the oldest `used - cap + 1` uses have aged out, `cap - 1` remain.
    let index = usize::try_from(used - cap).ok()?;
    let aged_out = uses.get(index).or_else(|| uses.last())?;
    Some(clock::add(*aged_out, WINDOW))
}

/// A rolling 24-hour window around a planned time that the creator's other posts already fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CrowdedWindow {
    /// The other posts in the window: uses already counted and posts still planned.
    pub posts: u64,
    /// The cap in force.
    pub cap: u64,
    /// The window's first instant.
    pub from: Timestamp,
    /// The window's last instant (included).
    pub to: Timestamp,
}

/// Planning one more post at `at` given the times of the creator's other posts around it
/// (uses already counted and posts still planned, in any order): the busiest rolling 24-hour
/// window that contains `at`, when it already holds `cap` posts or more, so that a post there
/// would be deferred until a slot frees. `None`: the post fits.
///
/// A window is what the planner counts at an init: the 24 hours ending at that instant. Those
/// containing `at` end between `at` and a window later; the busiest ends at `at` or at one of
/// the later posts, so only those are counted.
#[must_use]
pub fn crowded_window(others: &[Timestamp], at: Timestamp, cap: u64) -> Option<CrowdedWindow> {
    let last_end = clock::sub(clock::add(at, WINDOW), Duration::from_millis(1));
    let mut ends: Vec<Timestamp> = others
        .iter()
        .copied()
        .filter(|other| *other > at && *other <= last_end)
        .collect();
    ends.push(at);
    let (posts, from, to) = ends
        .into_iter()
        .map(|to| {
            let from = window_start(to);
            let posts = others
                .iter()
                .filter(|other| **other >= from && **other <= to)
                .count() as u64;
            (posts, from, to)
        })
        .max_by_key(|(posts, _, to)| (*posts, std::cmp::Reverse(*to)))?;
    (posts >= cap).then_some(CrowdedWindow {
        posts,
        cap,
        from,
        to,
    })
}

/// The first instant of the rolling window ending at `now`: a use exactly 24 hours old has
/// left it, which is what [`frees_at`] promises.
#[must_use]
pub fn window_start(now: Timestamp) -> Timestamp {
    now.checked_sub(SignedDuration::from_hours(24) - SignedDuration::from_millis(1))
        .unwrap_or(Timestamp::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + hour * 3_600).unwrap()
    }

    #[test]
    fn a_slot_frees_when_enough_of_the_oldest_uses_age_out() {
        let uses = [at(0), at(1), at(2), at(3)];
        assert_eq!(frees_at(&uses, 5), None, "4 of 5 used");
        assert_eq!(
            frees_at(&uses, 4),
            Some(at(24)),
            "the oldest frees the slot"
        );
        assert_eq!(
            frees_at(&uses, 2),
            Some(at(26)),
            "two over a learned cap of 2: the third oldest must age out"
        );
    }

    #[test]
    fn a_use_leaves_the_window_at_the_instant_its_slot_frees() {
        let use_at = at(0);
        let frees = frees_at(&[use_at], 1).unwrap();
        assert!(window_start(frees) > use_at);
        assert!(window_start(clock::add(use_at, Duration::from_secs(86_399))) <= use_at);
    }

    #[test]
    fn a_planned_post_fits_while_every_window_around_it_has_room() {
        let others = [at(0), at(5), at(10)];
        assert_eq!(crowded_window(&others, at(12), 4), None);
        let full = crowded_window(&others, at(12), 3).unwrap();
        assert_eq!((full.posts, full.cap), (3, 3));
        assert_eq!((full.from, full.to), (window_start(at(12)), at(12)));
    }

    #[test]
    fn only_windows_that_contain_the_planned_time_count() {
        // Three posts a day before and three a day after hour 24: the windows that contain it
        // hold at most two of them (those ending at hour 24: hours 1 and 2).
        let others = [at(0), at(1), at(2), at(47), at(48), at(49)];
        assert_eq!(crowded_window(&others, at(24), 3), None);
        let crowded = crowded_window(&others, at(24), 2).unwrap();
        assert_eq!(crowded.posts, 2);
        assert_eq!(crowded.from, window_start(at(24)));
        // A post exactly 24 hours before has left every window that contains the planned time.
        assert_eq!(crowded_window(&[at(0)], at(24), 1), None);
        let just_inside = clock::sub(at(24), Duration::from_millis(1));
        assert!(crowded_window(&[at(0)], just_inside, 1).is_some());
        // Later posts count too: the window ending at hour 30 holds hours 25 to 30.
        let later = [at(25), at(26), at(30)];
        assert_eq!(
            crowded_window(&later, at(24), 3).map(|w| w.to),
            Some(at(30))
        );
    }

    #[test]
    fn a_zero_cap_waits_a_whole_window_after_the_newest_use() {
        assert_eq!(frees_at(&[at(0), at(5)], 0), Some(at(29)));
        assert_eq!(
            frees_at(&[], 0),
            None,
            "nothing to age out; TikTok will say"
        );
    }
}
