//! Per-token, per-endpoint sliding one-minute windows (tiktok-api.md §13).

use std::collections::{HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};

use crate::faults::FaultEndpoint;

const WINDOW: SignedDuration = SignedDuration::from_secs(60);

/// Admitted request times per (access token, endpoint). Only admitted requests count: a 429
/// does not push the window further out.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<(String, FaultEndpoint), VecDeque<Timestamp>>,
}

impl RateLimiter {
    /// Admits the request if fewer than `limit` were admitted in the last 60 s.
    pub(crate) fn admit(
        &mut self,
        token: &str,
        endpoint: FaultEndpoint,
        limit: Option<u32>,
        now: Timestamp,
    ) -> bool {
        let Some(limit) = limit else {
            return true;
        };
        let window = self
            .windows
            .entry((token.to_owned(), endpoint))
            .or_default();
        while window
            .front()
            .is_some_and(|at| now.duration_since(*at) >= WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
            return false;
        }
        window.push_back(now);
        true
    }

    /// Drops windows with nothing in the last minute (keeps memory bounded).
    pub(crate) fn prune(&mut self, now: Timestamp) {
        self.windows.retain(|_, window| {
            window
                .back()
                .is_some_and(|at| now.duration_since(*at) < WINDOW)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seventh_init_in_a_minute_is_refused_and_admitted_once_the_first_leaves_the_window() {
        let mut limiter = RateLimiter::default();
        let start = Timestamp::constant(1_767_225_600, 0);
        for second in 0..6 {
            let at = start + SignedDuration::from_secs(second);
            assert!(limiter.admit("act.a", FaultEndpoint::VideoInit, Some(6), at));
        }
        let at = start + SignedDuration::from_secs(59);
        assert!(!limiter.admit("act.a", FaultEndpoint::VideoInit, Some(6), at));
        assert!(
            limiter.admit("act.b", FaultEndpoint::VideoInit, Some(6), at),
            "per token"
        );
        assert!(
            limiter.admit("act.a", FaultEndpoint::Status, Some(30), at),
            "per endpoint"
        );
        let at = start + SignedDuration::from_secs(60);
        assert!(limiter.admit("act.a", FaultEndpoint::VideoInit, Some(6), at));
    }

    #[test]
    fn pruning_forgets_idle_windows() {
        let mut limiter = RateLimiter::default();
        let start = Timestamp::constant(1_767_225_600, 0);
        assert!(limiter.admit("act.a", FaultEndpoint::Status, Some(30), start));
        limiter.prune(start + SignedDuration::from_secs(61));
        assert!(limiter.windows.is_empty());
    }
}
