//! When the keeper refreshes, how long it holds a refresh, and how it backs off.
//!
//! Whatever lifetime TikTok grants (24 h and 2 h are both documented; tests use 60 s), a refresh
//! is never due before half of it has passed: the margin before expiry is at most half the
//! lifetime. Every refresh waits for its due time, so an account is refreshed at most twice per
//! token lifetime by the keeper's own decisions.

use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

/// When to refresh and when to warn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeeperPolicy {
    /// The refresh margin as a share of the granted access-token lifetime, in thousandths.
    pub margin_per_mille: u32,
    /// The smallest margin, whatever the lifetime (but never more than half of it).
    pub min_margin: Duration,
    /// The largest margin, whatever the lifetime.
    pub max_margin: Duration,
    /// A scheduling pass enqueues refreshes for accounts whose access token expires within
    /// this window (longer than `max_margin` plus the interval between passes).
    pub lookahead: Duration,
    /// Warn when the refresh token itself has this little time left (each value once).
    pub warn_before_refresh_expiry: Vec<Duration>,
    /// How long one process may hold an account's refresh (longer than a request to TikTok
    /// may take) before another may take over.
    pub claim_for: Duration,
    /// The wait after the first failed refresh of a row; it doubles with each further failure.
    pub first_backoff: Duration,
    /// The longest wait after failed refreshes (never more than a quarter of the lifetime).
    pub max_backoff: Duration,
}

impl Default for KeeperPolicy {
    fn default() -> Self {
        Self {
            margin_per_mille: 250,
            min_margin: Duration::from_secs(5 * 60),
            max_margin: Duration::from_secs(6 * 3_600),
            lookahead: Duration::from_secs(12 * 3_600),
            warn_before_refresh_expiry: vec![30 * DAY, 7 * DAY],
            claim_for: Duration::from_secs(120),
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(10 * 60),
        }
    }
}

impl KeeperPolicy {
    /// How long before expiry an access token granted for `lifetime` is refreshed: a quarter of
    /// it by default (6 h of 24 h, 30 min of 2 h), within [`KeeperPolicy::min_margin`] and
    /// [`KeeperPolicy::max_margin`], and never more than half the lifetime (30 s of 60 s).
    #[must_use]
    pub fn margin(&self, lifetime: Duration) -> Duration {
        let share = lifetime.saturating_mul(self.margin_per_mille) / 1_000;
        share
            .clamp(self.min_margin, self.max_margin.max(self.min_margin))
            .min(lifetime / 2)
    }

    /// How close to expiry a token handed to a publishing step is refreshed first:
    /// [`KeeperPolicy::min_margin`], never more than half the lifetime.
    #[must_use]
    pub fn urgent_margin(&self, lifetime: Duration) -> Duration {
        self.min_margin.min(lifetime / 2)
    }

    /// How long nobody refreshes after `failures` refreshes in a row failed (1 = the first):
    /// [`KeeperPolicy::first_backoff`], doubling, at most [`KeeperPolicy::max_backoff`] and a
    /// quarter of the lifetime, at least a second.
    #[must_use]
    pub fn backoff(&self, failures: u32, lifetime: Duration) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let grown = self.first_backoff.saturating_mul(1 << doublings);
        grown
            .min(self.max_backoff)
            .min(lifetime / 4)
            .max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_a_bounded_share_of_the_granted_lifetime() {
        let policy = KeeperPolicy::default();
        assert_eq!(
            policy.margin(Duration::from_secs(86_400)),
            Duration::from_secs(6 * 3_600)
        );
        assert_eq!(
            policy.margin(Duration::from_secs(7_200)),
            Duration::from_secs(1_800)
        );
        assert_eq!(
            policy.margin(Duration::from_secs(30 * 86_400)),
            Duration::from_secs(6 * 3_600)
        );
    }

    #[test]
    fn a_short_lifetime_is_refreshed_after_half_of_it_not_always() {
        let policy = KeeperPolicy::default();
        assert_eq!(
            policy.margin(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(
            policy.margin(Duration::from_secs(90)),
            Duration::from_secs(45)
        );
        assert_eq!(
            policy.urgent_margin(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(policy.margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn failed_refreshes_back_off_doubling_within_the_lifetime() {
        let policy = KeeperPolicy::default();
        let day = Duration::from_secs(86_400);
        let waits: Vec<u64> = (1..=8)
            .map(|failures| policy.backoff(failures, day).as_secs())
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(
            policy.backoff(5, Duration::from_secs(60)),
            Duration::from_secs(15)
        );
        assert_eq!(
            policy.backoff(u32::MAX, Duration::ZERO),
            Duration::from_secs(1)
        );
    }
}
