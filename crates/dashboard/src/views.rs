//! The API's JSON answers turned into what the templates show: health checks with a colour,
//! times in the user's zone, a failure's one fixing action.

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::Deserialize;
use serde_json::Value;

/// A check's colour: fine, needs attention soon, blocks publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Green,
    Amber,
    Red,
}

impl Level {
    /// The CSS class and the word screen readers get (the colour is never the only signal).
    pub(crate) fn class(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Amber => "amber",
            Self::Red => "red",
        }
    }

    pub(crate) fn word(self) -> &'static str {
        match self {
            Self::Green => "OK",
            Self::Amber => "Attention",
            Self::Red => "Blocked",
        }
    }
}

/// One line of an account's health checklist.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) label: &'static str,
    pub(crate) level: Level,
    pub(crate) detail: String,
}

/// Whose app tokpost posts as, and whether TikTok audited it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AppAudit {
    /// The pipeline's policy: the app passed TikTok's audit.
    pub(crate) audited: bool,
    /// The app is the built-in sandbox's, running in this process.
    pub(crate) builtin_sandbox: bool,
}

impl AppAudit {
    /// What the process runs with.
    pub(crate) fn of(app: &tokpost_api::AppState) -> Self {
        Self {
            audited: app.pipeline.publisher().policy().audited,
            builtin_sandbox: app.settings.builtin_sandbox,
        }
    }

    /// The "Audit" line of the checklists.
    pub(crate) fn check(self) -> Check {
        let (level, detail) = match (self.builtin_sandbox, self.audited) {
            (true, true) => (
                Level::Green,
                "the built-in sandbox's app is audited: posts can be public here (your own \
                 TikTok app starts unaudited until TikTok's review)",
            ),
            (true, false) => (
                Level::Amber,
                "the built-in sandbox's app is not audited: posts are private (SELF_ONLY)",
            ),
            (false, true) => (Level::Green, "the app is audited: posts can be public"),
            (false, false) => (
                Level::Amber,
                "the app is not audited: posts are private (SELF_ONLY) until TikTok audits it",
            ),
        };
        Check {
            label: "Audit",
            level,
            detail: detail.to_owned(),
        }
    }
}

/// An account as `GET /v1/accounts/{id}` answers it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AccountJson {
    pub(crate) id: String,
    pub(crate) display_name: String,
    pub(crate) avatar_url: Option<String>,
    pub(crate) status: String,
    pub(crate) reconnect_reason: Option<String>,
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    pub(crate) access_token_expires_at: Timestamp,
    pub(crate) refresh_token_expires_at: Timestamp,
    pub(crate) health: Option<HealthJson>,
}

/// The API's health block of an account.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HealthJson {
    #[serde(default)]
    pub(crate) scopes_needed: Vec<String>,
    #[serde(default)]
    pub(crate) scopes_missing: Vec<String>,
    pub(crate) posts_last_24h: u64,
    pub(crate) daily_post_cap: u32,
    pub(crate) next_slot_at: Option<Timestamp>,
    #[serde(default)]
    pub(crate) pending_inbox_shares: u64,
    pub(crate) creator_info: Option<Value>,
    /// The last post of the past 30 days published or delivered to the inbox.
    #[serde(default)]
    pub(crate) last_published_at: Option<Timestamp>,
    /// The last failed post of the past 30 days: `post_id`, `at` and its `state`.
    #[serde(default)]
    pub(crate) last_failure: Option<Value>,
    #[serde(default)]
    pub(crate) advice: Vec<String>,
}

/// What the accounts page shows of one account.
#[derive(Debug, Clone)]
pub(crate) struct AccountCard {
    pub(crate) id: String,
    pub(crate) nickname: String,
    pub(crate) username: String,
    pub(crate) avatar_url: Option<String>,
    pub(crate) needs_reconnect: bool,
    pub(crate) checks: Vec<Check>,
    pub(crate) advice: Vec<String>,
}

/// The latest published and failed post of an account, for the checklist.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcomes {
    pub(crate) last_success: Option<Timestamp>,
    pub(crate) last_failure: Option<(Timestamp, String)>,
}

impl Outcomes {
    /// The last success and failure the API's health block names: the failure with what to
    /// do about it, in words.
    pub(crate) fn of(health: Option<&HealthJson>) -> Self {
        let Some(health) = health else {
            return Self::default();
        };
        let last_failure = health.last_failure.as_ref().and_then(|failure| {
            let at = failure.get("at")?.as_str()?.parse().ok()?;
            let action = failure
                .get("state")
                .and_then(|state| state.get("action"))
                .and_then(Value::as_str)
                .map(|action| action.replace('_', " "))
                .unwrap_or_default();
            Some((at, action))
        });
        Self {
            last_success: health.last_published_at,
            last_failure,
        }
    }
}

/// A refresh token this close to expiry means asking the creator to reconnect soon.
const REFRESH_SOON: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Times as the user reads them: in their zone, to the minute.
/// The string at `pointer` in an API answer; empty when it is absent.
pub(crate) fn text_at(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// An instant an API answer gives as RFC 3339, shown in `zone` like [`when`]; empty when the
/// answer holds none.
pub(crate) fn when_text(text: &str, zone: &TimeZone) -> String {
    text.parse::<Timestamp>()
        .map(|at| when(at, zone))
        .unwrap_or_default()
}

pub(crate) fn when(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The instant a wall time the person chose means in their zone. A time the clocks skip that day
/// is refused (rather than silently shifted); one they live twice means the first.
pub(crate) fn wall_instant(wall: DateTime, zone: &TimeZone) -> Result<Timestamp, String> {
    let ambiguous = zone.to_ambiguous_zoned(wall);
    if let AmbiguousOffset::Gap { .. } = ambiguous.offset() {
        return Err(format!(
            "{} does not exist on {} in {} (the clocks go forward); pick another time",
            wall.time().strftime("%H:%M"),
            wall.date(),
            zone.iana_name().unwrap_or("your time zone")
        ));
    }
    ambiguous
        .earlier()
        .map(|zoned| zoned.timestamp())
        .map_err(|_| format!("{wall} cannot be expressed as an instant"))
}

fn expiry_level(expires: Timestamp, now: Timestamp, warn: Duration) -> Level {
    if expires <= now {
        Level::Red
    } else if expires <= clock::add(now, warn) {
        Level::Amber
    } else {
        Level::Green
    }
}

/// The checklist of one account at `now`.
pub(crate) fn account_card(
    account: AccountJson,
    outcomes: &Outcomes,
    audit: Option<AppAudit>,
    now: Timestamp,
    zone: &TimeZone,
) -> AccountCard {
    let connected = account.status == "connected";
    let mut checks = vec![Check {
        label: "Connected",
        level: if connected { Level::Green } else { Level::Red },
        detail: match (&account.reconnect_reason, connected) {
            (_, true) => "yes".to_owned(),
            (Some(why), false) => format!("{}: {why}", account.status.replace('_', " ")),
            (None, false) => account.status.replace('_', " "),
        },
    }];
    checks.push(Check {
        label: "Access token",
        level: if connected {
            expiry_level(account.access_token_expires_at, now, Duration::ZERO)
        } else {
            Level::Red
        },
        detail: format!(
            "valid until {} (renewed automatically)",
            when(account.access_token_expires_at, zone)
        ),
    });
    checks.push(Check {
        label: "Refresh token",
        level: expiry_level(account.refresh_token_expires_at, now, REFRESH_SOON),
        detail: format!("expires {}", when(account.refresh_token_expires_at, zone)),
    });
    let health = account.health.as_ref();
    let missing = health.map(|h| h.scopes_missing.clone()).unwrap_or_default();
    let needed = health.map(|h| h.scopes_needed.clone()).unwrap_or_default();
    checks.push(Check {
        label: "Scopes",
        level: if missing.is_empty() {
            Level::Green
        } else {
            Level::Red
        },
        detail: if missing.is_empty() {
            format!("granted: {}", account.scopes.join(", "))
        } else {
            format!(
                "missing {} of the needed {}",
                missing.join(", "),
                needed.join(", ")
            )
        },
    });
    checks.push(match audit {
        Some(audit) => audit.check(),
        None => Check {
            label: "Audit",
            level: Level::Amber,
            detail: "unknown to the dashboard".to_owned(),
        },
    });
    if let Some(health) = health {
        let cap = u64::from(health.daily_post_cap);
        let level = if health.posts_last_24h >= cap {
            Level::Red
        } else if health.posts_last_24h.saturating_add(2) >= cap {
            Level::Amber
        } else {
            Level::Green
        };
        let next = health
            .next_slot_at
            .map(|at| format!("; next slot frees {}", when(at, zone)))
            .unwrap_or_default();
        checks.push(Check {
            label: "Posts in the last 24 h",
            level,
            detail: format!("{} of {cap}{next}", health.posts_last_24h),
        });
        checks.push(Check {
            label: "Pending inbox shares",
            level: if health.pending_inbox_shares >= 5 {
                Level::Red
            } else if health.pending_inbox_shares > 0 {
                Level::Amber
            } else {
                Level::Green
            },
            detail: health.pending_inbox_shares.to_string(),
        });
    }
    checks.push(Check {
        label: "Last success",
        level: Level::Green,
        detail: outcomes
            .last_success
            .map_or_else(|| "none yet".to_owned(), |at| when(at, zone)),
    });
    checks.push(match &outcomes.last_failure {
        Some((at, action)) => Check {
            label: "Last failure",
            level: Level::Amber,
            detail: format!("{}: {action}", when(*at, zone)),
        },
        None => Check {
            label: "Last failure",
            level: Level::Green,
            detail: "none".to_owned(),
        },
    });
    let creator = health.and_then(|h| h.creator_info.as_ref());
    let text = |key: &str| {
        creator
            .and_then(|c| c.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    AccountCard {
        nickname: text("creator_nickname").unwrap_or_else(|| account.display_name.clone()),
        username: text("creator_username").unwrap_or_default(),
        avatar_url: account
            .avatar_url
            .clone()
            .filter(|url| url.starts_with('/')),
        needs_reconnect: !connected
            || !missing.is_empty()
            || expiry_level(account.refresh_token_expires_at, now, REFRESH_SOON) != Level::Green,
        advice: health.map(|h| h.advice.clone()).unwrap_or_default(),
        id: account.id,
        checks,
    }
}

/// A post as the API answers it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PostJson {
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) state: String,
    #[serde(default)]
    pub(crate) state_detail: Value,
    #[serde(default)]
    pub(crate) spec: Value,
    pub(crate) scheduled_at: Timestamp,
    pub(crate) publish_id: Option<String>,
    /// The version of its content and time.
    #[serde(default)]
    pub(crate) revision: u32,
    pub(crate) events: Option<Vec<EventJson>>,
    pub(crate) failure: Option<Value>,
    /// Who wrote it: `{kind, id, name}`.
    #[serde(default)]
    pub(crate) created_by: Option<ActorJson>,
}

/// Who did something, as the API names them.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ActorJson {
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) id: Option<String>,
    pub(crate) name: String,
}

impl ActorJson {
    /// The principal it names.
    pub(crate) fn principal(&self) -> Option<tokpost_core::Principal> {
        let id = match &self.id {
            Some(id) => Some(id.parse().ok()?),
            None => None,
        };
        tokpost_core::Principal::from_parts(&self.kind, id)
    }
}

/// One event of a post's history.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EventJson {
    pub(crate) sequence: u32,
    pub(crate) at: Timestamp,
    pub(crate) kind: String,
    pub(crate) state: String,
    pub(crate) message: String,
    pub(crate) native_response: Option<Value>,
    pub(crate) by: Option<ActorJson>,
}

/// The words a post's text is known by: a video's caption or a photo post's title.
pub(crate) fn post_text(spec: &Value) -> String {
    fn find(value: &Value) -> Option<&str> {
        match value {
            Value::Object(map) => ["caption", "title"]
                .iter()
                .find_map(|key| {
                    map.get(*key)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                })
                .or_else(|| map.values().find_map(find)),
            Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    find(spec).unwrap_or("(no caption)").to_owned()
}

/// The one thing that fixes a failed post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fix {
    Reconnect,
    ReplaceMedia,
    EditCaption,
    Retry,
}

impl Fix {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Reconnect => "Reconnect the account",
            Self::ReplaceMedia => "Replace the media",
            Self::EditCaption => "Edit the caption",
            Self::Retry => "Retry",
        }
    }
}

/// A failure in plain words: what happened, how to fix it, and the fixing action.
#[derive(Debug, Clone)]
pub(crate) struct Explanation {
    pub(crate) meaning: String,
    pub(crate) how_to_fix: String,
    pub(crate) who: String,
    pub(crate) fix: Fix,
}

/// Explains the API's `failure` block of a post.
pub(crate) fn explain(failure: &Value) -> Explanation {
    let text = |pointer: &str| {
        failure
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let action = text("/action");
    let category = text("/classification/category");
    let id = text("/classification/id");
    let fix = match action.as_str() {
        "reconnect" => Fix::Reconnect,
        "fix_input" if id.contains("caption") || id.contains("title") || category == "Spam" => {
            Fix::EditCaption
        }
        "fix_input" => Fix::ReplaceMedia,
        _ => Fix::Retry,
    };
    let meaning = Some(text("/classification/meaning"))
        .filter(|s| !s.is_empty())
        .or_else(|| Some(text("/reason")).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "The post failed.".to_owned());
    Explanation {
        meaning,
        how_to_fix: text("/classification/how_to_fix"),
        who: text("/who").replace('_', " "),
        fix,
    }
}

/// An event's kind as a history line shows it before the message: nothing when the message
/// already begins with it ("approved" before "approved revision 2" would say it twice).
pub(crate) fn kind_unless_said(kind: &str, message: &str) -> String {
    let kind = kind.replace('_', " ");
    if message.to_lowercase().starts_with(&kind.to_lowercase()) {
        String::new()
    } else {
        kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case(json!({"action": "reconnect"}), Fix::Reconnect)]
    #[case(json!({"action": "fix_input", "classification": {"id": "caption_too_long", "category": "Publish"}}), Fix::EditCaption)]
    #[case(json!({"action": "fix_input", "classification": {"id": "video_too_long", "category": "Video Format"}}), Fix::ReplaceMedia)]
    #[case(json!({"action": "retry_later"}), Fix::Retry)]
    #[case(json!("not an object"), Fix::Retry)]
    fn a_failure_names_the_one_action_that_fixes_it(#[case] failure: Value, #[case] fix: Fix) {
        assert_eq!(explain(&failure).fix, fix);
    }

    #[test]
    fn a_caption_is_found_wherever_the_spec_keeps_it() {
        let spec = json!({"content": {"video": {"media_id": "m", "caption": "hello #tag"}}});
        assert_eq!(post_text(&spec), "hello #tag");
        assert_eq!(post_text(&json!({})), "(no caption)");
    }

    #[rstest]
    #[case(0, Level::Red)]
    #[case(3_600, Level::Amber)]
    #[case(30 * 86_400, Level::Green)]
    fn a_refresh_token_turns_amber_a_week_before_it_expires(
        #[case] left: u64,
        #[case] level: Level,
    ) {
        let now = Timestamp::from_second(2_000_000_000).unwrap();
        assert_eq!(
            expiry_level(
                clock::add(now, Duration::from_secs(left)),
                now,
                REFRESH_SOON
            ),
            level
        );
    }

    #[test]
    fn the_outcomes_on_a_card_are_the_health_blocks_last_success_and_failure() {
        let health: HealthJson = serde_json::from_value(json!({
            "posts_last_24h": 0,
            "daily_post_cap": 15,
            "next_slot_at": null,
            "creator_info": null,
            "last_published_at": "2026-12-01T10:00:00Z",
            "last_failure": {
                "post_id": "0193a1b2-0000-7000-8000-000000000000",
                "at": "2026-12-02T11:30:00Z",
                "state": {"state": "failed", "action": "retry_later", "who": "tiktok"}
            }
        }))
        .unwrap();
        let outcomes = Outcomes::of(Some(&health));
        assert_eq!(
            outcomes.last_success,
            Some("2026-12-01T10:00:00Z".parse().unwrap())
        );
        assert_eq!(
            outcomes.last_failure,
            Some((
                "2026-12-02T11:30:00Z".parse().unwrap(),
                "retry later".to_owned()
            ))
        );
        let none = Outcomes::of(None);
        assert_eq!((none.last_success, none.last_failure), (None, None));
    }

    #[test]
    fn a_kind_the_message_already_says_is_not_said_twice() {
        assert_eq!(kind_unless_said("approved", "approved revision 2"), "");
        assert_eq!(kind_unless_said("comment", "Looks good"), "comment");
        assert_eq!(
            kind_unless_said("state_changed", "State changed: moved"),
            ""
        );
    }
}
