//! The signal that the queue changed, and when what changed is due. A listener asleep until
//! its next due job wakes only for a change that may be due before then: a post scheduled for
//! next week does not wake every worker of the process (at thousands of creates a second, those
//! wake-ups and the claims that followed them were a third of the API's cost).
//!
//! Invariants:
//! - every change is recorded, in order, with its due time when the writer knows it (`None`:
//!   unknown, or due now; that wakes everyone);
//! - a listener is woken by every change due before the instant it waits for, and by any change
//!   it can no longer see (more changes than [`KEPT`] since it last looked).

use std::collections::VecDeque;

use jiff::Timestamp;
use tokio::sync::watch;

/// How many of the latest changes are kept for listeners that have not looked yet.
const KEPT: usize = 64;

/// How many changes were made, and the due times of the latest (the last is change `version`).
#[derive(Debug, Default)]
pub(crate) struct ChangeLog {
    version: u64,
    recent: VecDeque<Option<Timestamp>>,
}

impl ChangeLog {
    /// Records a change due at `due` (`None`: unknown or now).
    pub(crate) fn record(&mut self, due: Option<Timestamp>) {
        self.version = self.version.wrapping_add(1);
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(due);
    }

    /// Whether a listener that saw every change up to `seen` must wake to look for a job due
    /// before `before`.
    fn wakes(&self, seen: u64, before: Timestamp) -> bool {
        if self.version == seen {
            return false;
        }
        let unseen = self.version.wrapping_sub(seen);
        if unseen > self.recent.len() as u64 {
            return true;
        }
        self.recent
            .iter()
            .rev()
            .take(usize::try_from(unseen).unwrap_or(KEPT))
            .any(|due| due.is_none_or(|due| due < before))
    }
}

/// One listener's view of the queue's changes (see [`crate::QueueStore::job_changes`]).
#[derive(Debug)]
pub struct JobChanges {
    log: watch::Receiver<ChangeLog>,
    seen: u64,
}

impl JobChanges {
    pub(crate) fn new(mut log: watch::Receiver<ChangeLog>) -> Self {
        let seen = log.borrow_and_update().version;
        Self { log, seen }
    }

    /// Waits for a change that may make a job due before `before`: one recorded since the last
    /// wait returned (or since this view was made), with a due time before `before` or none.
    ///
    /// # Errors
    /// When the store is gone.
    pub async fn due_before(&mut self, before: Timestamp) -> Result<(), watch::error::RecvError> {
        loop {
            {
                let log = self.log.borrow_and_update();
                let wakes = log.wakes(self.seen, before);
                self.seen = log.version;
                if wakes {
                    return Ok(());
                }
            }
            self.log.changed().await?;
        }
    }

    /// Waits for any change.
    ///
    /// # Errors
    /// When the store is gone.
    pub async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        self.due_before(Timestamp::MAX).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[tokio::test]
    async fn a_listener_wakes_for_a_change_due_before_its_time_and_not_for_a_later_one() {
        let (sender, receiver) = watch::channel(ChangeLog::default());
        let mut changes = JobChanges::new(receiver);
        sender.send_modify(|log| log.record(Some(at(5_000))));
        let asleep = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            changes.due_before(at(1_000)),
        )
        .await;
        assert!(asleep.is_err(), "woken by a change due after its time");
        sender.send_modify(|log| log.record(Some(at(900))));
        changes.due_before(at(1_000)).await.unwrap();
        sender.send_modify(|log| log.record(None));
        changes.due_before(at(1_000)).await.unwrap();
        sender.send_modify(|log| log.record(Some(at(5_000))));
        changes.changed().await.unwrap();
    }

    #[tokio::test]
    async fn a_change_made_before_the_wait_began_still_wakes_it() {
        let (sender, receiver) = watch::channel(ChangeLog::default());
        let mut changes = JobChanges::new(receiver);
        // Between the listener's read of the next due job and its wait.
        sender.send_modify(|log| log.record(Some(at(10))));
        sender.send_modify(|log| log.record(Some(at(9_000))));
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            changes.due_before(at(100)),
        )
        .await
        .expect("the earlier change was lost behind a later one")
        .unwrap();
    }

    proptest! {
        /// Woken exactly when some unseen change is due before the instant, or when changes
        /// fell out of the log.
        #[test]
        fn a_listener_wakes_exactly_for_what_it_may_have_missed(
            seen_first in prop::collection::vec(prop::option::of(0_i64..100), 0..80),
            unseen in prop::collection::vec(prop::option::of(0_i64..100), 0..80),
            before in 0_i64..100,
        ) {
            let mut log = ChangeLog::default();
            for due in &seen_first {
                log.record(due.map(at));
            }
            let seen = log.version;
            for due in &unseen {
                log.record(due.map(at));
            }
            let expected = unseen.len() > KEPT
                || unseen.iter().any(|due| due.is_none_or(|due| due < before));
            prop_assert_eq!(log.wakes(seen, at(before)), expected);
        }
    }
}
