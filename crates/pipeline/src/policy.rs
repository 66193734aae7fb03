//! Every decision the pipeline takes about a failure, in one place (error-catalog.md).
//!
//! The catalog in the `tiktok` crate says what a failure *is* (category, published action, who
//! acts, retry policy). This module says what tokpost *does* about it for a post at a given step:
//! back off and retry, wait out a window, refresh the token once and resend, wait for the creator
//! to reconnect, start over with a new init (only when TikTok's publish is known dead), or fail
//! the post naming who must act. It never matches on message text and never performs IO.

use std::time::Duration;

use tiktok::TikTokFailure;
use tiktok::catalog::{Action, RetryPolicy, RetryWindow, WhoActs, ids};
use tokpost_core::{Actor, DeferReason, ReconnectReason, RequiredAction};

/// How long before its time a post prepared ahead (preflighted, creator checked) can no longer
/// be rescheduled: from then on a worker may be sending its init, on a clock that may run a
/// little ahead of the caller's.
pub const PREPARED_POST_FROZEN_FOR: Duration = Duration::from_secs(10);

/// The operator's settings for publishing (configuration, not per post).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishPolicy {
    /// Whether the app passed TikTok's audit. Unaudited apps may post only `SELF_ONLY` to
    /// private accounts; anything else fails in preflight before TikTok is asked.
    pub audited: bool,
    /// Posts per creator per rolling 24 h (TikTok's figure is about 15, shared with every
    /// other app the creator uses; a lower cap is learned when TikTok says so earlier).
    pub daily_post_cap: u32,
    /// Pending inbox shares per creator per rolling 24 h.
    pub pending_inbox_cap: u32,
    /// Distinct creators the app may post for per rolling 24 h (`None`: no cap; TikTok sets 5
    /// for unaudited apps).
    pub active_creator_cap: Option<u32>,
    /// What to do with a post that would exceed a cap.
    pub over_cap: OverCap,
    /// How late a post may still go out after tokpost was down at its time; later is `missed`.
    pub late_grace: Duration,
    /// How long before its time a post is prepared (preflight, token, creator info), so that
    /// at its time only the init is left and a problem is known ahead. Zero: every step at the
    /// post's time.
    pub prepare_ahead: Duration,
    /// URL prefixes verified with TikTok for PULL_FROM_URL (anything else fails preflight).
    pub verified_url_prefixes: Vec<String>,
    /// Transient failures of one step retried before the post fails with "retry later".
    pub transient_attempts: u32,
    /// Status polling while TikTok processes the post.
    pub status_polling: StatusPolling,
    /// A failed pull or an internal TikTok failure reported by status is retried with a new
    /// init at most this many times per post.
    pub reinit_attempts: u32,
}

impl PublishPolicy {
    /// The default for an audited app (no active-creator cap).
    #[must_use]
    pub fn audited() -> Self {
        Self {
            audited: true,
            active_creator_cap: None,
            ..Self::default()
        }
    }
}

impl Default for PublishPolicy {
    /// An unaudited app, as every TikTok app starts: SELF_ONLY to private accounts, at most 5
    /// active creators a day.
    fn default() -> Self {
        Self {
            audited: false,
            daily_post_cap: 15,
            pending_inbox_cap: 5,
            active_creator_cap: Some(5),
            over_cap: OverCap::Defer,
            late_grace: Duration::from_secs(3_600),
            prepare_ahead: Duration::from_secs(300),
            verified_url_prefixes: Vec::new(),
            transient_attempts: 8,
            status_polling: StatusPolling::default(),
            reinit_attempts: 2,
        }
    }
}

/// What happens to a post that would exceed a daily cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverCap {
    /// Wait until a slot frees, then publish (the default).
    Defer,
    /// Fail the post, naming the cap.
    Fail,
}

/// How often to ask TikTok about a publish in progress: seconds at first, then minutes, for
/// hours (moderation can take hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusPolling {
    /// The first check after init or upload.
    pub first: Duration,
    /// The longest gap between checks.
    pub max: Duration,
    /// After this long without a final status the post is shown as uncertain.
    pub give_up_after: Duration,
    /// After PUBLISH_COMPLETE without public post ids, keep asking this long.
    pub post_ids_for: Duration,
}

impl Default for StatusPolling {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5),
            max: Duration::from_secs(5 * 60),
            give_up_after: Duration::from_secs(48 * 3_600),
            post_ids_for: Duration::from_secs(3 * 3_600),
        }
    }
}

impl StatusPolling {
    /// The gap before check number `checks + 1`: doubling from `first`, capped at `max`.
    #[must_use]
    pub fn delay(&self, checks: u32) -> Duration {
        self.first
            .saturating_mul(1_u32 << checks.min(20))
            .min(self.max)
    }

    /// The gap before the next check when TikTok has been processing for `elapsed`: half of
    /// it, within `first` and `max`, so checks thin out geometrically with time. Measured from
    /// time rather than from the job's claims, because a job claimed by a worker that died
    /// counts a claim without a check.
    #[must_use]
    pub fn delay_after(&self, elapsed: Duration) -> Duration {
        (elapsed / 2).clamp(self.first, self.max.max(self.first))
    }
}

/// Where in the publishing steps a failure happened; some answers mean different things at
/// different steps (a timeout on a pull init may have started a publish).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    TokenRefresh,
    CreatorInfo,
    /// An init that, if it took effect, starts nothing until bytes arrive (FILE_UPLOAD).
    InitFileUpload,
    /// An init that, if it took effect, makes TikTok fetch and publish by itself
    /// (PULL_FROM_URL video, photos).
    InitPull,
    Upload,
    StatusFetch,
    /// The FAILED status of a publish (the publish is dead).
    PublishFailed,
}

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Transient: run the step again after back-off with jitter (within the retry budget).
    Backoff,
    /// Wait out TikTok's rolling window, then resend.
    WaitWindow { window: Duration, why: DeferReason },
    /// Refresh the access token once and resend.
    RefreshAndResend,
    /// The account must be reconnected; the post waits for it, it does not fail.
    WaitForReconnect(ReconnectReason),
    /// The answer to a request that may have started a publish is lost: never resend blindly.
    Uncertain,
    /// TikTok's publish is dead and a new init can get past the failure.
    Reinit,
    /// Nothing the service can do; someone must act.
    Fail { action: RequiredAction, who: Actor },
}

/// The one decision table. `refreshed_already` is true when the request was already resent
/// once after a refresh (so `access_token_invalid` now means the account is lost).
#[must_use]
pub fn decide(failure: &TikTokFailure, step: Step, refreshed_already: bool) -> Decision {
    let classification = failure.classification();
    let id = classification.id();
    let entry = classification.entry();
    let action = entry.and_then(|entry| entry.action);

    if action == Some(Action::Reconnect) && !failure.is_transient() {
        return match id {
            "access_token_invalid" if !refreshed_already => Decision::RefreshAndResend,
            "access_token_invalid" | "invalid_grant" => {
                Decision::WaitForReconnect(ReconnectReason::RefreshTokenRejected)
            }
            "scope_not_authorized" | "scope_permission_missed" => {
                Decision::WaitForReconnect(ReconnectReason::MissingScope)
            }
            "auth_removed" | "access_denied" => {
                Decision::WaitForReconnect(ReconnectReason::AuthorizationRemoved)
            }
            _ => Decision::WaitForReconnect(ReconnectReason::RefreshTokenRejected),
        };
    }
    if id == "spam_risk_too_many_posts" {
        return Decision::WaitWindow {
            window: DAY,
            why: DeferReason::DailyPostCap,
        };
    }
    if id == "spam_risk_too_many_pending_share" {
        return Decision::WaitWindow {
            window: DAY,
            why: DeferReason::PendingInboxShares,
        };
    }
    if id == "reached_active_user_cap" {
        return Decision::WaitWindow {
            window: DAY,
            why: DeferReason::ActiveCreatorCap,
        };
    }
    if id == ids::UPLOAD_URL_EXPIRED || id == ids::UPLOAD_NOT_FOUND {
        // The upload never completed, so TikTok can never publish the old one.
        return Decision::Reinit;
    }
    match failure.retry_policy() {
        RetryPolicy::AfterWindow {
            window: RetryWindow::PerMinute,
        } => Decision::WaitWindow {
            window: MINUTE,
            why: DeferReason::RateLimited,
        },
        RetryPolicy::AfterWindow {
            window: RetryWindow::Rolling24Hours,
        } => Decision::WaitWindow {
            window: DAY,
            why: DeferReason::DailyPostCap,
        },
        RetryPolicy::Backoff if step == Step::PublishFailed => Decision::Reinit,
        RetryPolicy::Backoff if step == Step::InitPull && answer_may_be_lost(id) => {
            Decision::Uncertain
        }
        RetryPolicy::Backoff | RetryPolicy::AfterRefresh => Decision::Backoff,
        RetryPolicy::Never => Decision::Fail {
            action: required_action(action),
            who: actor(entry.map_or(&[][..], |entry| entry.who_acts)),
        },
    }
}

/// Failures after which the request may have reached TikTok and taken effect.
fn answer_may_be_lost(id: &str) -> bool {
    id == ids::TRANSPORT_TIMEOUT || id == ids::TRANSPORT_INTERRUPTED || id == ids::HTTP_5XX
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

/// The catalog's published action in the domain's words. A failure with no action left to take
/// that still ends a post (e.g. an unknown code) asks for a later retry.
#[must_use]
pub fn required_action(action: Option<Action>) -> RequiredAction {
    match action {
        Some(Action::Reconnect) => RequiredAction::Reconnect,
        Some(Action::FixInput) => RequiredAction::FixInput,
        Some(Action::RetryLater) | None => RequiredAction::RetryLater,
    }
}

/// The first human who must act, in the domain's words. A bug in tokpost's own request is the
/// operator's to report; a failure only time fixes is TikTok's.
#[must_use]
pub fn actor(who_acts: &[WhoActs]) -> Actor {
    who_acts
        .iter()
        .find_map(|who| match who {
            WhoActs::User => Some(Actor::User),
            WhoActs::Creator => Some(Actor::Creator),
            WhoActs::Operator | WhoActs::Developer => Some(Actor::Operator),
            WhoActs::Time | WhoActs::Service => None,
        })
        .unwrap_or(Actor::Tiktok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn api_error(code: &str) -> TikTokFailure {
        TikTokFailure::from_fail_reason(code, String::new())
    }

    fn tokpost_failure(id: &'static str) -> TikTokFailure {
        // The catalog answers to tokpost ids as it does to TikTok codes.
        TikTokFailure::from_fail_reason(id, String::new())
    }

    #[rstest]
    #[case::invalid_token_refreshes_once("access_token_invalid", false, Decision::RefreshAndResend)]
    #[case::invalid_token_after_a_refresh_needs_the_creator(
        "access_token_invalid",
        true,
        Decision::WaitForReconnect(ReconnectReason::RefreshTokenRejected)
    )]
    #[case::missing_scope(
        "scope_not_authorized",
        false,
        Decision::WaitForReconnect(ReconnectReason::MissingScope)
    )]
    #[case::creator_removed_the_app(
        "auth_removed",
        false,
        Decision::WaitForReconnect(ReconnectReason::AuthorizationRemoved)
    )]
    #[case::daily_cap(
        "spam_risk_too_many_posts",
        false,
        Decision::WaitWindow { window: DAY, why: DeferReason::DailyPostCap }
    )]
    #[case::pending_shares(
        "spam_risk_too_many_pending_share",
        false,
        Decision::WaitWindow { window: DAY, why: DeferReason::PendingInboxShares }
    )]
    #[case::active_creators(
        "reached_active_user_cap",
        false,
        Decision::WaitWindow { window: DAY, why: DeferReason::ActiveCreatorCap }
    )]
    #[case::rate_limited(
        "rate_limit_exceeded",
        false,
        Decision::WaitWindow { window: MINUTE, why: DeferReason::RateLimited }
    )]
    #[case::internal_error_is_transient("internal_error", false, Decision::Backoff)]
    #[case::banned_creator(
        "spam_risk_user_banned_from_posting",
        false,
        Decision::Fail { action: RequiredAction::FixInput, who: Actor::Creator }
    )]
    #[case::privacy_mismatch(
        "privacy_level_option_mismatch",
        false,
        Decision::Fail { action: RequiredAction::FixInput, who: Actor::User }
    )]
    #[case::unverified_domain(
        "url_ownership_unverified",
        false,
        Decision::Fail { action: RequiredAction::FixInput, who: Actor::Operator }
    )]
    fn catalogued_api_errors_decide_at_creator_info(
        #[case] code: &str,
        #[case] refreshed_already: bool,
        #[case] expected: Decision,
    ) {
        assert_eq!(
            decide(&api_error(code), Step::CreatorInfo, refreshed_already),
            expected,
            "{code}"
        );
    }

    #[rstest]
    #[case::file_upload_init_may_be_resent(Step::InitFileUpload, Decision::Backoff)]
    #[case::pull_init_may_have_started_a_publish(Step::InitPull, Decision::Uncertain)]
    #[case::status_fetch_is_harmless_to_repeat(Step::StatusFetch, Decision::Backoff)]
    fn a_lost_answer_is_resent_only_where_resending_cannot_publish_twice(
        #[case] step: Step,
        #[case] expected: Decision,
    ) {
        assert_eq!(
            decide(&tokpost_failure(ids::TRANSPORT_TIMEOUT), step, false),
            expected
        );
        assert_eq!(
            decide(&tokpost_failure(ids::TRANSPORT_CONNECT), step, false),
            Decision::Backoff,
            "no connection means nothing reached TikTok"
        );
    }

    #[rstest]
    #[case::pull_failed_tries_a_new_init("video_pull_failed", Decision::Reinit)]
    #[case::internal_failure_tries_a_new_init("internal_error", Decision::Reinit)]
    #[case::bad_frame_rate_fails(
        "frame_rate_check_failed",
        Decision::Fail { action: RequiredAction::FixInput, who: Actor::User }
    )]
    #[case::spammy_caption_fails(
        "spam_risk_text",
        Decision::Fail { action: RequiredAction::FixInput, who: Actor::User }
    )]
    fn a_dead_publish_is_started_again_only_when_a_new_init_can_succeed(
        #[case] reason: &str,
        #[case] expected: Decision,
    ) {
        assert_eq!(
            decide(&api_error(reason), Step::PublishFailed, false),
            expected
        );
    }

    #[test]
    fn an_expired_upload_url_starts_over_with_a_new_init() {
        assert_eq!(
            decide(
                &tokpost_failure(ids::UPLOAD_URL_EXPIRED),
                Step::Upload,
                false
            ),
            Decision::Reinit
        );
        assert_eq!(
            decide(&tokpost_failure(ids::UPLOAD_NOT_FOUND), Step::Upload, false),
            Decision::Reinit
        );
    }

    #[test]
    fn no_non_transient_catalogued_failure_is_ever_retried_as_is() {
        for entry in tiktok::catalog::CATALOG {
            let failure = api_error(entry.id);
            if failure.is_transient() {
                continue;
            }
            for step in [
                Step::TokenRefresh,
                Step::CreatorInfo,
                Step::InitFileUpload,
                Step::InitPull,
                Step::Upload,
                Step::StatusFetch,
            ] {
                let decision = decide(&failure, step, true);
                assert_ne!(decision, Decision::Backoff, "{} at {step:?}", entry.id);
            }
        }
    }

    #[test]
    fn status_polling_starts_in_seconds_and_settles_at_minutes() {
        let polling = StatusPolling::default();
        assert_eq!(polling.delay(0), Duration::from_secs(5));
        assert_eq!(polling.delay(1), Duration::from_secs(10));
        assert_eq!(polling.delay(6), Duration::from_secs(300));
        assert_eq!(polling.delay(u32::MAX), Duration::from_secs(300));
        assert_eq!(polling.delay_after(Duration::ZERO), Duration::from_secs(5));
        assert_eq!(
            polling.delay_after(Duration::from_secs(40)),
            Duration::from_secs(20)
        );
        assert_eq!(
            polling.delay_after(Duration::from_secs(7_200)),
            Duration::from_secs(300)
        );
    }
}
