//! Approval before publishing: which posts need it, and what an approval may still do once the
//! post's time has passed.
//!
//! Invariants:
//! - Whether a post needs approval is decided by [`requires_approval`] from the workspace's
//!   setting and its account's override, at the moment the post is created or changed (the
//!   store reads both in the transaction that writes the post, so a setting changed at the same
//!   moment is either wholly before or wholly after).
//! - An approval is of one revision: a post changed after a reviewer saw it needs approval
//!   again, and an approval of an older revision changes nothing ([`Revision`]).
//! - An approval never publishes later than the late grace allows: [`late_approval`] says
//!   whether the post may go out now, or must be given a new time.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One account's choice, over the workspace's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AccountApproval {
    /// Whatever the workspace says.
    #[default]
    Inherit,
    /// Every post for this account needs approval, whatever the workspace says.
    Required,
    /// Posts for this account go out without approval, whatever the workspace says.
    NotRequired,
}

impl AccountApproval {
    /// Every choice.
    pub const ALL: [Self; 3] = [Self::Inherit, Self::Required, Self::NotRequired];

    /// The stable stored and typed name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inherit => "inherit",
            Self::Required => "required",
            Self::NotRequired => "not_required",
        }
    }

    /// Parses a stored or typed name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|choice| choice.as_str() == name)
    }
}

impl fmt::Display for AccountApproval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a post for an account needs approval: the account's override, else the workspace's
/// setting.
#[must_use]
pub const fn requires_approval(workspace_requires: bool, account: AccountApproval) -> bool {
    match account {
        AccountApproval::Inherit => workspace_requires,
        AccountApproval::Required => true,
        AccountApproval::NotRequired => false,
    }
}

/// The version of a post's content and time. It starts at 1 and grows by one with every edit
/// (a new caption, media, setting or time); comments and moves of the state machine leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(pub u32);

impl Revision {
    /// A new post's revision.
    pub const FIRST: Self = Self(1);

    /// The revision after an edit.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an approval given at `now` does with a post due at `due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateApproval {
    /// Its time has not come: it waits for it.
    OnTime,
    /// Its time passed less than the late grace ago: it goes out now, `late` after its time.
    WithinGrace { late: Duration },
    /// Its time passed more than the late grace ago: the approval must give a new time, the
    /// same rule that turns a post picked up that late into `missed`.
    TooLate { late: Duration },
}

/// Judges an approval at `now` of a post due at `due`, under the operator's late grace.
#[must_use]
pub fn late_approval(due: Timestamp, now: Timestamp, grace: Duration) -> LateApproval {
    if now <= due {
        return LateApproval::OnTime;
    }
    let late = now
        .duration_since(due)
        .unsigned_abs()
        .min(Duration::from_secs(u64::MAX / 2));
    if late <= grace {
        LateApproval::WithinGrace { late }
    } else {
        LateApproval::TooLate { late }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_account_override_wins_over_the_workspace() {
        for workspace in [false, true] {
            assert_eq!(
                requires_approval(workspace, AccountApproval::Inherit),
                workspace
            );
            assert!(requires_approval(workspace, AccountApproval::Required));
            assert!(!requires_approval(workspace, AccountApproval::NotRequired));
        }
        for choice in AccountApproval::ALL {
            assert_eq!(AccountApproval::parse(choice.as_str()), Some(choice));
        }
        assert_eq!(AccountApproval::parse("yes"), None);
    }

    #[test]
    fn a_late_approval_goes_out_only_within_the_grace() {
        let due = Timestamp::from_second(1_800_000_000).unwrap();
        let grace = Duration::from_secs(3_600);
        let at = |secs: i64| Timestamp::from_second(1_800_000_000 + secs).unwrap();
        assert_eq!(late_approval(due, at(-60), grace), LateApproval::OnTime);
        assert_eq!(late_approval(due, at(0), grace), LateApproval::OnTime);
        assert_eq!(
            late_approval(due, at(600), grace),
            LateApproval::WithinGrace {
                late: Duration::from_secs(600)
            }
        );
        assert_eq!(
            late_approval(due, at(3_600), grace),
            LateApproval::WithinGrace {
                late: Duration::from_secs(3_600)
            }
        );
        assert_eq!(
            late_approval(due, at(3_601), grace),
            LateApproval::TooLate {
                late: Duration::from_secs(3_601)
            }
        );
    }

    proptest! {
        #[test]
        fn nothing_beyond_the_grace_is_ever_let_through(offset in -10_000_000i64..10_000_000, grace in 0u64..1_000_000) {
            let due = Timestamp::from_second(1_800_000_000).unwrap();
            let now = Timestamp::from_second(1_800_000_000 + offset).unwrap();
            let verdict = late_approval(due, now, Duration::from_secs(grace));
            let goes_out = !matches!(verdict, LateApproval::TooLate { .. });
            prop_assert_eq!(goes_out, offset <= i64::try_from(grace).unwrap());
        }
    }
}
