//! The publishing state machine (design.md, "The publishing state machine").
//!
//! ```text
//! scheduled → preflighted → creator_checked → initialized (publish_id stored)
//!   → uploading (offset stored) → processing → published | inbox_delivered | failed(action)
//! side states: deferred(until, why), waiting_for_reconnect, missed, cancelled, uncertain
//! approval (crate::approval): awaiting_approval → scheduled (approved) | rejected → awaiting_approval
//! ```
//!
//! "Token ok" is a guard between preflighted and creator_checked, not a state. [`PostState::check_transition`]
//! is the only judge of which moves are legal; the store applies a move only as a compare-and-set
//! from the state the worker read, so two workers can never both move the same post.
//!
//! The rules that keep a post from being published twice live in the table:
//! - once `initialized`, a post never goes back to `scheduled`/`deferred` (that would re-init);
//!   only `uploading`/`uncertain` may return to `initialized` (new init after the upload URL
//!   expired, decided by the worker from TikTok's status);
//! - `uncertain` (an init or upload whose answer was lost) can only be resolved by TikTok's
//!   status, never cancelled or rescheduled blindly;
//! - `published`, `inbox_delivered`, `failed`, `missed` and `cancelled` are final (a published
//!   post may only record the public post ids TikTok reports late, on itself);
//! - a new init happens only from `creator_checked`, or back into `initialized` once TikTok's
//!   first publish is known dead (upload URL expired with the upload incomplete, status FAILED).
//!
//! - `awaiting_approval` and `rejected` are held by people, never by a worker: they are entered
//!   only before TikTok was ever asked (from `scheduled`, a post prepared ahead, or each other),
//!   the store removes the post's queued publish job in the move that enters them, and only an
//!   approval (of the revision the reviewer saw) or an edit that no longer needs one leaves them
//!   for `scheduled`.
//!
//! One rule lives beside the table, because a state cannot carry it: a `creator_checked` post
//! whose init was recorded (and may be at TikTok) is not cancelled or rescheduled until the
//! answer, or a move, is stored. The store enforces it in the same statement that would move
//! the post, and the init is recorded only if the post is still where the worker read it, so a
//! cancel and an init can never both win. Every write a worker makes for a job, and every request
//! it sends to TikTok, is made only while it holds the job's lease (`tokpost_pipeline::lease`).

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a human must do about a failure, in the words of TikTok's published triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredAction {
    /// Connect the account again.
    Reconnect,
    /// Change the post (media, caption, settings) or the account.
    FixInput,
    /// Nothing to change; try again later (after automatic retries ran out).
    RetryLater,
}

/// Who must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The TikTok creator (reconnect, change the account, clear inbox drafts).
    Creator,
    /// The person who scheduled the post (fix the media or caption).
    User,
    /// Whoever runs tokpost and owns the TikTok app (audit, verified domains).
    Operator,
    /// Nobody: TikTok must recover.
    Tiktok,
}

/// Why a post waits before it is attempted (again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferReason {
    /// The creator's rolling 24 h post cap is reached.
    DailyPostCap,
    /// The creator has too many pending inbox shares.
    PendingInboxShares,
    /// The app's daily active-creator cap is reached.
    ActiveCreatorCap,
    /// TikTok rate-limited the token.
    RateLimited,
    /// TikTok failed on its side; retrying later.
    TiktokUnavailable,
}

/// Where a post is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PostState {
    Scheduled,
    Preflighted,
    CreatorChecked,
    Initialized,
    Uploading,
    Processing,
    Published,
    InboxDelivered,
    Failed {
        action: RequiredAction,
        who: Actor,
    },
    Deferred {
        until: Timestamp,
        why: DeferReason,
    },
    /// The account must be reconnected. `publish_started` records whether TikTok may already
    /// hold a publish for this post, which decides where it may resume.
    WaitingForReconnect {
        publish_started: bool,
    },
    Missed,
    Cancelled,
    Uncertain,
    /// Waits for an owner or reviewer to approve it; no worker picks it.
    AwaitingApproval,
    /// A reviewer rejected it (their comment is in the history); back with its author, who
    /// edits it (which asks for approval again) or cancels it.
    Rejected,
}

/// A [`PostState`] without its data, for indexing and queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    Scheduled,
    Preflighted,
    CreatorChecked,
    Initialized,
    Uploading,
    Processing,
    Published,
    InboxDelivered,
    Failed,
    Deferred,
    WaitingForReconnect,
    Missed,
    Cancelled,
    Uncertain,
    AwaitingApproval,
    Rejected,
}

impl StateKind {
    /// Every kind.
    pub const ALL: [Self; 16] = [
        Self::Scheduled,
        Self::Preflighted,
        Self::CreatorChecked,
        Self::Initialized,
        Self::Uploading,
        Self::Processing,
        Self::Published,
        Self::InboxDelivered,
        Self::Failed,
        Self::Deferred,
        Self::WaitingForReconnect,
        Self::Missed,
        Self::Cancelled,
        Self::Uncertain,
        Self::AwaitingApproval,
        Self::Rejected,
    ];

    /// The stable name stored in the database and shown by the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Preflighted => "preflighted",
            Self::CreatorChecked => "creator_checked",
            Self::Initialized => "initialized",
            Self::Uploading => "uploading",
            Self::Processing => "processing",
            Self::Published => "published",
            Self::InboxDelivered => "inbox_delivered",
            Self::Failed => "failed",
            Self::Deferred => "deferred",
            Self::WaitingForReconnect => "waiting_for_reconnect",
            Self::Missed => "missed",
            Self::Cancelled => "cancelled",
            Self::Uncertain => "uncertain",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Rejected => "rejected",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// No move leaves a final state.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Published | Self::InboxDelivered | Self::Failed | Self::Missed | Self::Cancelled
        )
    }

    /// States in which TikTok may already hold a publish for this post: nothing may start a new
    /// one from here except through the status-checked paths in the table.
    #[must_use]
    pub const fn tiktok_may_have_it(self) -> bool {
        matches!(
            self,
            Self::Initialized | Self::Uploading | Self::Processing | Self::Uncertain
        )
    }

    /// States in which people may still edit a post or move it in time: it has not been sent to
    /// TikTok. (A post prepared ahead only until shortly before its time; the store refuses the
    /// edit from then on, in the statement that would make it.)
    #[must_use]
    pub const fn is_editable(self) -> bool {
        matches!(
            self,
            Self::Scheduled
                | Self::Preflighted
                | Self::CreatorChecked
                | Self::AwaitingApproval
                | Self::Rejected
        )
    }

    /// The kinds a post in `self` may move to.
    #[must_use]
    pub fn successors(self) -> &'static [Self] {
        use StateKind as K;
        match self {
            K::Scheduled => &[
                K::Preflighted,
                K::AwaitingApproval,
                K::Deferred,
                K::WaitingForReconnect,
                K::Failed,
                K::Missed,
                K::Cancelled,
            ],
            // prepared → scheduled: edited or moved in time before its init, prepared again.
            K::Preflighted => &[
                K::Scheduled,
                K::CreatorChecked,
                K::AwaitingApproval,
                K::Deferred,
                K::WaitingForReconnect,
                K::Failed,
                K::Missed,
                K::Cancelled,
            ],
            K::CreatorChecked => &[
                K::Scheduled,
                K::Initialized,
                K::AwaitingApproval,
                K::Uncertain,
                K::Deferred,
                K::WaitingForReconnect,
                K::Failed,
                K::Missed,
                K::Cancelled,
            ],
            // initialized → initialized: a new init after the upload URL expired before TikTok
            // held any byte (the old publish can never complete).
            K::Initialized => &[
                K::Initialized,
                K::Uploading,
                K::Processing,
                K::Uncertain,
                K::WaitingForReconnect,
                K::Failed,
            ],
            K::Uploading => &[
                K::Uploading,
                K::Processing,
                K::Initialized,
                K::Uncertain,
                K::WaitingForReconnect,
                K::Failed,
            ],
            // processing → initialized: TikTok reported the publish FAILED (it is dead) for a
            // reason a new init can get past (a failed pull, a full cap that has since freed).
            K::Processing => &[
                K::Processing,
                K::Initialized,
                K::Published,
                K::InboxDelivered,
                K::Uncertain,
                K::WaitingForReconnect,
                K::Failed,
            ],
            K::Uncertain => &[
                K::Uncertain,
                K::Initialized,
                K::Processing,
                K::Published,
                K::InboxDelivered,
                K::WaitingForReconnect,
                K::Failed,
            ],
            K::Deferred => &[
                K::Scheduled,
                K::Deferred,
                K::WaitingForReconnect,
                K::Failed,
                K::Missed,
                K::Cancelled,
            ],
            // Where the post resumes depends on the progress stored with it; the worker picks.
            K::WaitingForReconnect => &[
                K::Scheduled,
                K::Initialized,
                K::Uploading,
                K::Processing,
                K::Uncertain,
                K::Failed,
                K::Missed,
                K::Cancelled,
            ],
            // awaiting_approval → awaiting_approval: edited while it waits (a new revision).
            K::AwaitingApproval => &[K::AwaitingApproval, K::Scheduled, K::Rejected, K::Cancelled],
            // rejected → scheduled: edited once the account no longer requires approval.
            K::Rejected => &[K::AwaitingApproval, K::Scheduled, K::Cancelled],
            // published → published records public post ids that TikTok reports after the
            // publish completed; nothing leaves a final state.
            K::Published => &[K::Published],
            K::InboxDelivered | K::Failed | K::Missed | K::Cancelled => &[],
        }
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a post cannot move from {from} to {to}")]
pub struct IllegalTransition {
    pub from: StateKind,
    pub to: StateKind,
}

impl PostState {
    /// The state's kind.
    #[must_use]
    pub const fn kind(&self) -> StateKind {
        match self {
            Self::Scheduled => StateKind::Scheduled,
            Self::Preflighted => StateKind::Preflighted,
            Self::CreatorChecked => StateKind::CreatorChecked,
            Self::Initialized => StateKind::Initialized,
            Self::Uploading => StateKind::Uploading,
            Self::Processing => StateKind::Processing,
            Self::Published => StateKind::Published,
            Self::InboxDelivered => StateKind::InboxDelivered,
            Self::Failed { .. } => StateKind::Failed,
            Self::Deferred { .. } => StateKind::Deferred,
            Self::WaitingForReconnect { .. } => StateKind::WaitingForReconnect,
            Self::Missed => StateKind::Missed,
            Self::Cancelled => StateKind::Cancelled,
            Self::Uncertain => StateKind::Uncertain,
            Self::AwaitingApproval => StateKind::AwaitingApproval,
            Self::Rejected => StateKind::Rejected,
        }
    }

    /// Whether the post can still change.
    #[must_use]
    pub const fn is_final(&self) -> bool {
        self.kind().is_final()
    }

    /// Judges a move.
    ///
    /// # Errors
    /// [`IllegalTransition`] when the table does not allow `self → to`.
    pub fn check_transition(&self, to: &Self) -> Result<(), IllegalTransition> {
        let (from_kind, to_kind) = (self.kind(), to.kind());
        let illegal = Err(IllegalTransition {
            from: from_kind,
            to: to_kind,
        });
        if !from_kind.successors().contains(&to_kind) {
            return illegal;
        }
        if let Self::WaitingForReconnect { publish_started } = *to
            && publish_started != from_kind.tiktok_may_have_it()
        {
            return illegal;
        }
        if let Self::WaitingForReconnect { publish_started } = *self {
            let resumes_publish = to_kind.tiktok_may_have_it();
            let gives_up = to_kind == StateKind::Failed;
            if !gives_up && resumes_publish != publish_started {
                return illegal;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn state_of(kind: StateKind) -> PostState {
        match kind {
            StateKind::Scheduled => PostState::Scheduled,
            StateKind::Preflighted => PostState::Preflighted,
            StateKind::CreatorChecked => PostState::CreatorChecked,
            StateKind::Initialized => PostState::Initialized,
            StateKind::Uploading => PostState::Uploading,
            StateKind::Processing => PostState::Processing,
            StateKind::Published => PostState::Published,
            StateKind::InboxDelivered => PostState::InboxDelivered,
            StateKind::Failed => PostState::Failed {
                action: RequiredAction::FixInput,
                who: Actor::User,
            },
            StateKind::Deferred => PostState::Deferred {
                until: Timestamp::constant(1_767_225_600, 0),
                why: DeferReason::DailyPostCap,
            },
            StateKind::WaitingForReconnect => PostState::WaitingForReconnect {
                publish_started: false,
            },
            StateKind::Missed => PostState::Missed,
            StateKind::Cancelled => PostState::Cancelled,
            StateKind::Uncertain => PostState::Uncertain,
            StateKind::AwaitingApproval => PostState::AwaitingApproval,
            StateKind::Rejected => PostState::Rejected,
        }
    }

    fn all_states() -> Vec<PostState> {
        let mut states: Vec<PostState> = StateKind::ALL.into_iter().map(state_of).collect();
        states.push(PostState::WaitingForReconnect {
            publish_started: true,
        });
        states
    }

    fn any_state() -> impl Strategy<Value = PostState> {
        proptest::sample::select(all_states())
    }

    #[rstest]
    #[case::happy_path_direct(&[StateKind::Scheduled, StateKind::Preflighted, StateKind::CreatorChecked, StateKind::Initialized, StateKind::Uploading, StateKind::Uploading, StateKind::Processing, StateKind::Published])]
    #[case::pull_from_url_skips_upload(&[StateKind::Scheduled, StateKind::Preflighted, StateKind::CreatorChecked, StateKind::Initialized, StateKind::Processing, StateKind::InboxDelivered])]
    #[case::deferred_by_the_cap_then_retried(&[StateKind::Scheduled, StateKind::Preflighted, StateKind::CreatorChecked, StateKind::Deferred, StateKind::Scheduled, StateKind::Preflighted])]
    #[case::upload_url_expired_then_reinit(&[StateKind::Initialized, StateKind::Uploading, StateKind::Initialized, StateKind::Uploading])]
    #[case::failed_pull_reinitialized(&[StateKind::Initialized, StateKind::Processing, StateKind::Initialized, StateKind::Processing, StateKind::Published, StateKind::Published])]
    #[case::approved_edited_and_approved_again(&[StateKind::AwaitingApproval, StateKind::Scheduled, StateKind::Preflighted, StateKind::AwaitingApproval, StateKind::AwaitingApproval, StateKind::Scheduled, StateKind::Preflighted, StateKind::CreatorChecked, StateKind::Initialized])]
    #[case::rejected_then_resubmitted(&[StateKind::AwaitingApproval, StateKind::Rejected, StateKind::AwaitingApproval, StateKind::Scheduled])]
    #[case::lost_init_answer_resolved_by_status(&[StateKind::CreatorChecked, StateKind::Uncertain, StateKind::Processing, StateKind::Published])]
    fn the_documented_paths_are_legal(#[case] path: &[StateKind]) {
        for pair in path.windows(2) {
            let [from, to] = pair else { unreachable!() };
            assert!(
                state_of(*from).check_transition(&state_of(*to)).is_ok(),
                "{from} → {to} refused"
            );
        }
    }

    #[rstest]
    #[case::before_init_resumes_from_scheduled(
        PostState::Scheduled,
        false,
        PostState::Scheduled,
        true
    )]
    #[case::before_init_cannot_jump_to_processing(
        PostState::Preflighted,
        false,
        PostState::Processing,
        false
    )]
    #[case::after_init_resumes_processing(PostState::Processing, true, PostState::Processing, true)]
    #[case::after_init_cannot_restart(PostState::Uploading, true, PostState::Scheduled, false)]
    #[case::after_init_cannot_be_cancelled(PostState::Uploading, true, PostState::Cancelled, false)]
    fn a_post_waiting_for_reconnect_resumes_where_its_progress_allows(
        #[case] before: PostState,
        #[case] publish_started: bool,
        #[case] after: PostState,
        #[case] legal: bool,
    ) {
        let waiting = PostState::WaitingForReconnect { publish_started };
        assert!(before.check_transition(&waiting).is_ok());
        assert!(
            before
                .check_transition(&PostState::WaitingForReconnect {
                    publish_started: !publish_started
                })
                .is_err(),
            "entering with the wrong progress flag must be refused"
        );
        assert_eq!(waiting.check_transition(&after).is_ok(), legal);
    }

    #[rstest]
    #[case::published_twice(StateKind::Published, StateKind::Processing)]
    #[case::skip_preflight(StateKind::Scheduled, StateKind::Initialized)]
    #[case::reschedule_after_init(StateKind::Initialized, StateKind::Scheduled)]
    #[case::defer_after_init(StateKind::Uploading, StateKind::Deferred)]
    #[case::cancel_while_uncertain(StateKind::Uncertain, StateKind::Cancelled)]
    #[case::cancel_while_processing(StateKind::Processing, StateKind::Cancelled)]
    #[case::published_without_processing(StateKind::Uploading, StateKind::Published)]
    #[case::revive_missed(StateKind::Missed, StateKind::Scheduled)]
    #[case::approval_after_init(StateKind::Initialized, StateKind::AwaitingApproval)]
    #[case::approval_while_deferred(StateKind::Deferred, StateKind::AwaitingApproval)]
    #[case::rejected_straight_to_tiktok(StateKind::Rejected, StateKind::Preflighted)]
    #[case::awaiting_picked_by_a_worker(StateKind::AwaitingApproval, StateKind::Preflighted)]
    #[case::reject_an_approved_post(StateKind::Scheduled, StateKind::Rejected)]
    fn moves_that_could_publish_twice_or_skip_a_check_are_refused(
        #[case] from: StateKind,
        #[case] to: StateKind,
    ) {
        assert_eq!(
            state_of(from).check_transition(&state_of(to)),
            Err(IllegalTransition { from, to })
        );
    }

    #[test]
    fn an_editable_post_can_still_be_sent_for_approval_or_scheduled_and_tiktok_holds_nothing() {
        for kind in StateKind::ALL {
            if kind.is_editable() {
                assert!(!kind.tiktok_may_have_it(), "{kind}");
                assert!(
                    kind.successors().contains(&StateKind::AwaitingApproval),
                    "{kind}"
                );
            }
        }
    }

    #[test]
    fn state_names_round_trip() {
        for kind in StateKind::ALL {
            assert_eq!(StateKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_value(state_of(kind)).unwrap();
            assert_eq!(json["state"], kind.as_str());
            assert_eq!(
                serde_json::from_value::<PostState>(json).unwrap(),
                state_of(kind)
            );
        }
    }

    proptest! {
        #[test]
        fn the_transition_function_never_allows_more_than_the_table(from in any_state(), to in any_state()) {
            let allowed = from.check_transition(&to).is_ok();
            if allowed {
                prop_assert!(from.kind().successors().contains(&to.kind()));
            }
            if from.is_final() {
                let records_late_post_ids = from.kind() == StateKind::Published && to.kind() == StateKind::Published;
                prop_assert!(!allowed || records_late_post_ids, "left final state {:?}", from);
            }
        }

        #[test]
        fn once_tiktok_may_hold_a_publish_a_walk_never_starts_a_new_one_before_init(
            choices in proptest::collection::vec(any::<prop::sample::Index>(), 1..40)
        ) {
            // Random walk over legal moves: after TikTok may hold a publish, the walk never
            // returns to a state from which preflight would start over (scheduled, deferred,
            // preflighted, creator_checked).
            let mut current = PostState::Scheduled;
            let mut tiktok_involved = false;
            for choice in choices {
                let next: Vec<PostState> = all_states()
                    .into_iter()
                    .filter(|to| current.check_transition(to).is_ok())
                    .collect();
                if next.is_empty() { break; }
                current = *choice.get(&next);
                if tiktok_involved {
                    prop_assert!(!matches!(current.kind(), StateKind::Scheduled | StateKind::Deferred | StateKind::Preflighted | StateKind::CreatorChecked | StateKind::Cancelled | StateKind::Missed | StateKind::AwaitingApproval | StateKind::Rejected),
                        "restarted to {:?} after TikTok was involved", current);
                }
                tiktok_involved |= current.kind().tiktok_may_have_it();
            }
        }
    }
}
