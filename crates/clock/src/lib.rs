//! Injected time.
//!
//! Every tokpost component that needs to know "now" or to wait until a moment takes a
//! [`SharedClock`]. Production uses [`SystemClock`]; tests use [`ManualClock`], which stands
//! still until the test moves it, so that a 24-hour token lifetime, a one-hour upload window or
//! a rolling 24-hour cap is crossed in microseconds and never by sleeping.
//!
//! This crate must stay tiny and free of policy: it is the one dependency shared by the TikTok
//! sandbox and the service, so that both can run on the same clock in a test.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

/// A future returned by [`Clock::sleep_until`].
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The source of the current instant and of waiting.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// Resolves once [`Clock::now`] has reached `deadline` (at once if it already has).
    fn sleep_until(&self, deadline: Timestamp) -> Sleep<'_>;
}

/// A clock shared between components (and, in tests, between tokpost and its sandbox).
pub type SharedClock = Arc<dyn Clock>;

/// Waits for `duration` on `clock`.
pub fn sleep<'a>(clock: &'a dyn Clock, duration: Duration) -> Sleep<'a> {
    let deadline = add(clock.now(), duration);
    clock.sleep_until(deadline)
}

/// `at + duration`, saturating at the largest representable instant instead of panicking.
#[must_use]
pub fn add(at: Timestamp, duration: Duration) -> Timestamp {
    SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// `at - duration`, saturating at the smallest representable instant instead of panicking.
#[must_use]
pub fn sub(at: Timestamp, duration: Duration) -> Timestamp {
    SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_sub(d).ok())
        .unwrap_or(Timestamp::MIN)
}

/// The wall clock of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// A [`SharedClock`] reading the machine's wall clock.
    #[must_use]
    pub fn shared() -> SharedClock {
        Arc::new(Self)
    }
}

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the real time
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep<'_> {
        Box::pin(async move {
            // Re-check after waking: the wall clock may have been adjusted while we slept.
            loop {
                let remaining = deadline.duration_since(self.now());
                if remaining <= SignedDuration::ZERO {
                    return;
                }
                let wait = Duration::try_from(remaining).unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(wait).await;
            }
        })
    }
}

/// A clock that only moves when told to. Sleepers wake as soon as it is moved past their
/// deadline.
pub struct ManualClock {
    now: Mutex<Timestamp>,
    changed: watch::Sender<Timestamp>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

impl ManualClock {
    /// A manual clock standing at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Arc<Self> {
        let (changed, _) = watch::channel(start);
        Arc::new(Self {
            now: Mutex::new(start),
            changed,
        })
    }

    /// A manual clock standing at 2026-01-01T00:00:00Z, a fixed start that keeps test output
    /// reproducible.
    #[must_use]
    pub fn at_fixed_start() -> Arc<Self> {
        Self::new(Timestamp::constant(1_767_225_600, 0))
    }

    /// Moves the clock forward by `by` and wakes every sleeper whose deadline has passed.
    pub fn advance(&self, by: Duration) -> Timestamp {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = add(*now, by);
        let at = *now;
        drop(now);
        self.changed.send_replace(at);
        at
    }

    /// Moves the clock to `at`. Moving backwards is allowed (to test clock skew) but wakes
    /// nobody.
    pub fn set(&self, at: Timestamp) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = at;
        self.changed.send_replace(at);
    }

    /// This clock as a [`SharedClock`].
    #[must_use]
    pub fn shared(self: &Arc<Self>) -> SharedClock {
        self.clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep<'_> {
        let mut changes = self.changed.subscribe();
        Box::pin(async move {
            while self.now() < deadline {
                if changes.changed().await.is_err() {
                    // The sender lives as long as `self`; this cannot end while we borrow it.
                    return;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sleeper_on_a_manual_clock_wakes_only_when_the_clock_passes_its_deadline() {
        let clock = ManualClock::at_fixed_start();
        let start = clock.now();
        let deadline = add(start, Duration::from_secs(3600));
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(deadline).await })
        };
        clock.advance(Duration::from_secs(1800));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke half-way to its deadline");
        clock.advance(Duration::from_secs(1800));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("sleeper did not wake after the deadline passed")
            .expect("sleeper task failed");
    }

    #[tokio::test]
    async fn sleeping_until_the_past_returns_at_once() {
        let clock = ManualClock::at_fixed_start();
        let past = clock.now() - SignedDuration::from_secs(10);
        tokio::time::timeout(Duration::from_secs(1), clock.sleep_until(past))
            .await
            .expect("sleep until a past instant blocked");
    }

    #[tokio::test]
    async fn the_system_clock_waits_until_the_wall_clock_reaches_the_deadline() {
        let clock = SystemClock;
        let deadline = add(clock.now(), Duration::from_millis(10));
        clock.sleep_until(deadline).await;
        assert!(clock.now() >= deadline);
    }

    #[test]
    fn adding_a_huge_duration_saturates_instead_of_panicking() {
        assert_eq!(add(Timestamp::MAX, Duration::from_secs(1)), Timestamp::MAX);
        assert_eq!(
            add(Timestamp::UNIX_EPOCH, Duration::MAX),
            Timestamp::MAX,
            "an unrepresentable duration saturates"
        );
    }

    #[test]
    fn subtracting_a_huge_duration_saturates_instead_of_panicking() {
        assert_eq!(
            sub(Timestamp::UNIX_EPOCH, Duration::from_secs(1)),
            Timestamp::from_second(-1).unwrap()
        );
        assert_eq!(sub(Timestamp::MIN, Duration::from_secs(1)), Timestamp::MIN);
        assert_eq!(
            sub(Timestamp::UNIX_EPOCH, Duration::MAX),
            Timestamp::MIN,
            "an unrepresentable duration saturates"
        );
    }
}
