//! Fault injection: rules that force an error, a `fail_reason`, latency, a dropped connection
//! or a body-less 5xx on one endpoint, optionally for one creator, once, N times, always or with
//! a probability. Rules come from the configuration and from `POST /sandbox/admin/faults`.
//!
//! How each effect behaves:
//! - `error`: the endpoint answers with that code and HTTP status (v2 envelope, flat OAuth
//!   object on `token`/`revoke`, bare status on `upload`; on `pull` the download fails).
//! - `fail_reason`: on an init endpoint or `pull`, the publish it creates ends `FAILED` with that
//!   reason once processing is over (on other endpoints it does nothing).
//! - `latency`: the answer is delayed by real time (it models the network, not TikTok's clock).
//! - `drop_connection`: the server sends the headers and a few bytes, then aborts the
//!   connection. With `after_processing: false` nothing happened on the server (for `upload`,
//!   half the chunk was read and discarded); with `true` the request took effect and only the
//!   answer was lost (an init whose `publish_id` never reached the client, a stored chunk).
//! - `http_5xx_without_body`: a gateway-style answer with that status and no body.

use serde::{Deserialize, Serialize};

/// The endpoint a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultEndpoint {
    /// `POST /v2/post/publish/creator_info/query/`
    CreatorInfo,
    /// `POST /v2/post/publish/video/init/`
    VideoInit,
    /// `POST /v2/post/publish/inbox/video/init/`
    InboxInit,
    /// `POST /v2/post/publish/content/init/`
    ContentInit,
    /// `POST /v2/post/publish/status/fetch/`
    Status,
    /// `POST /v2/post/publish/cancel/`
    Cancel,
    /// `PUT upload_url`
    Upload,
    /// `POST /v2/oauth/token/`
    Token,
    /// `POST /v2/oauth/revoke/`
    Revoke,
    /// The sandbox's own download of a PULL_FROM_URL media URL.
    Pull,
    /// `GET /v2/user/info/`
    UserInfo,
    /// `POST /v2/video/list/`
    VideoList,
    /// `POST /v2/video/query/`
    VideoQuery,
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultEffect {
    /// Answer with this error code (an OAuth `error` value on token/revoke).
    Error {
        /// `error.code` (or OAuth `error`).
        code: String,
        /// HTTP status of the answer.
        http_status: u16,
        /// `error.message` (or `error_description`); a generic text when absent.
        #[serde(default)]
        message: Option<String>,
    },
    /// The publish ends `FAILED` with this reason.
    FailReason {
        /// A `fail_reason` value (§15).
        fail_reason: String,
    },
    /// Delay the answer.
    Latency {
        /// Milliseconds of real time.
        ms: u64,
    },
    /// Abort the connection mid-answer.
    DropConnection {
        /// Whether the request takes effect before the connection is dropped.
        #[serde(default)]
        after_processing: bool,
    },
    /// A 5xx with no body.
    #[serde(rename = "http_5xx_without_body")]
    Http5xxWithoutBody {
        /// The status (a non-5xx value becomes 502).
        http_status: u16,
    },
}

/// How often a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultTimes {
    /// The next matching request only.
    Once,
    /// The next `n` matching requests.
    Times {
        /// How many.
        n: u32,
    },
    /// Every matching request, each with this probability.
    Probability {
        /// 0.0 to 1.0.
        p: f64,
    },
    /// Every matching request.
    Always,
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The endpoint it applies to.
    pub endpoint: FaultEndpoint,
    /// Only requests for this creator (`open_id` or username); all creators when absent.
    #[serde(default)]
    pub creator: Option<String>,
    /// What happens.
    pub effect: FaultEffect,
    /// How often.
    pub times: FaultTimes,
}

/// A rule as listed by the admin API, with its id and how often it fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveFault {
    /// Id to delete it by.
    pub id: u64,
    /// The rule.
    #[serde(flatten)]
    pub rule: FaultRule,
    /// How many requests it affected.
    pub fired: u32,
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FaultDecision {
    pub(crate) latency_ms: u64,
    /// The first answer-replacing effect (error, drop, bare 5xx) that fired.
    pub(crate) action: Option<FaultEffect>,
    pub(crate) fail_reason: Option<String>,
}

/// The rule set.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    rules: Vec<ActiveFault>,
    next_id: u64,
}

impl FaultBook {
    pub(crate) fn add(&mut self, rule: FaultRule) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.rules.push(ActiveFault { id, rule, fired: 0 });
        id
    }

    pub(crate) fn list(&self) -> Vec<ActiveFault> {
        self.rules.clone()
    }

    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|fault| fault.id != id);
        self.rules.len() != before
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Fires every matching rule for one request. `creator` is the `(open_id, username)` the
    /// request acts for, when known; rules naming a creator never match an unknown one.
    /// `roll` draws a number in `[0, 1)` for probabilistic rules.
    pub(crate) fn decide(
        &mut self,
        endpoint: FaultEndpoint,
        creator: Option<(&str, &str)>,
        mut roll: impl FnMut() -> f64,
    ) -> FaultDecision {
        let mut decision = FaultDecision::default();
        for fault in &mut self.rules {
            let rule = &fault.rule;
            if rule.endpoint != endpoint {
                continue;
            }
            if let Some(wanted) = &rule.creator {
                match creator {
                    Some((open_id, username)) if wanted == open_id || wanted == username => {}
                    _ => continue,
                }
            }
            let slot_taken = match &rule.effect {
                FaultEffect::FailReason { .. } => decision.fail_reason.is_some(),
                FaultEffect::Latency { .. } => false,
                _ => decision.action.is_some(),
            };
            if slot_taken {
                continue;
            }
            let fires = match rule.times {
                FaultTimes::Once => fault.fired == 0,
                FaultTimes::Times { n } => fault.fired < n,
                FaultTimes::Probability { p } => roll() < p,
                FaultTimes::Always => true,
            };
            if !fires {
                continue;
            }
            fault.fired = fault.fired.saturating_add(1);
            match &rule.effect {
                FaultEffect::Latency { ms } => {
                    decision.latency_ms = decision.latency_ms.saturating_add(*ms);
                }
                FaultEffect::FailReason { fail_reason } => {
                    decision.fail_reason = Some(fail_reason.clone());
                }
                other => decision.action = Some(other.clone()),
            }
        }
        self.rules.retain(|fault| match fault.rule.times {
            FaultTimes::Once => fault.fired == 0,
            FaultTimes::Times { n } => fault.fired < n,
            FaultTimes::Probability { .. } | FaultTimes::Always => true,
        });
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_rule(times: FaultTimes, creator: Option<&str>) -> FaultRule {
        FaultRule {
            endpoint: FaultEndpoint::VideoInit,
            creator: creator.map(str::to_owned),
            effect: FaultEffect::Error {
                code: "internal_error".to_owned(),
                http_status: 500,
                message: None,
            },
            times,
        }
    }

    #[test]
    fn a_once_rule_fires_on_the_next_matching_request_only() {
        let mut book = FaultBook::default();
        book.add(error_rule(FaultTimes::Once, None));
        assert!(
            book.decide(FaultEndpoint::Status, None, || 0.0)
                .action
                .is_none()
        );
        assert!(
            book.decide(FaultEndpoint::VideoInit, None, || 0.0)
                .action
                .is_some()
        );
        assert!(
            book.decide(FaultEndpoint::VideoInit, None, || 0.0)
                .action
                .is_none()
        );
        assert!(book.list().is_empty());
    }

    #[test]
    fn an_n_times_rule_fires_n_times() {
        let mut book = FaultBook::default();
        book.add(error_rule(FaultTimes::Times { n: 3 }, None));
        let fired = (0..5)
            .filter(|_| {
                book.decide(FaultEndpoint::VideoInit, None, || 0.0)
                    .action
                    .is_some()
            })
            .count();
        assert_eq!(fired, 3);
    }

    #[test]
    fn a_creator_rule_ignores_other_and_unknown_creators() {
        let mut book = FaultBook::default();
        book.add(error_rule(FaultTimes::Always, Some("ada.public")));
        assert!(
            book.decide(FaultEndpoint::VideoInit, None, || 0.0)
                .action
                .is_none()
        );
        assert!(
            book.decide(
                FaultEndpoint::VideoInit,
                Some(("-000x", "bo.private")),
                || 0.0
            )
            .action
            .is_none()
        );
        assert!(
            book.decide(
                FaultEndpoint::VideoInit,
                Some(("-000y", "ada.public")),
                || 0.0
            )
            .action
            .is_some()
        );
    }

    #[test]
    fn a_probability_rule_fires_when_the_roll_is_below_p() {
        let mut book = FaultBook::default();
        book.add(error_rule(FaultTimes::Probability { p: 0.3 }, None));
        assert!(
            book.decide(FaultEndpoint::VideoInit, None, || 0.5)
                .action
                .is_none()
        );
        assert!(
            book.decide(FaultEndpoint::VideoInit, None, || 0.1)
                .action
                .is_some()
        );
    }

    #[test]
    fn latency_adds_up_and_does_not_block_an_answer_replacing_rule() {
        let mut book = FaultBook::default();
        for _ in 0..2 {
            book.add(FaultRule {
                endpoint: FaultEndpoint::Upload,
                creator: None,
                effect: FaultEffect::Latency { ms: 5 },
                times: FaultTimes::Always,
            });
        }
        book.add(FaultRule {
            endpoint: FaultEndpoint::Upload,
            creator: None,
            effect: FaultEffect::DropConnection {
                after_processing: true,
            },
            times: FaultTimes::Once,
        });
        let decision = book.decide(FaultEndpoint::Upload, None, || 0.0);
        assert_eq!(decision.latency_ms, 10);
        assert_eq!(
            decision.action,
            Some(FaultEffect::DropConnection {
                after_processing: true
            })
        );
    }

    #[test]
    fn rules_round_trip_through_the_admin_json() {
        let json = r#"{"endpoint":"upload","creator":"ada.public",
            "effect":{"kind":"http_5xx_without_body","http_status":503},
            "times":{"kind":"times","n":2}}"#;
        let rule: FaultRule = serde_json::from_str(json).unwrap();
        let back: FaultRule = serde_json::from_str(&serde_json::to_string(&rule).unwrap()).unwrap();
        assert_eq!(rule, back);
    }
}
