//! Events as messages for people: what happened, who must act, and a link to the place to do
//! it. One [`Alert`] per event, then shaped for each channel: Slack's `text` (mrkdwn), Discord's
//! `content` (markdown, no mentions), Telegram's `sendMessage` (plain text) and an email.
//!
//! Everything a message quotes from a person (a caption, a comment, a name) is escaped for the
//! channel, so a caption cannot ping `@everyone` or forge a link.

use jiff::Timestamp;
use serde_json::{Value, json};
use tokpost_store::{ChannelFormat, WebhookEventType};

/// Discord refuses `content` longer than this.
const DISCORD_LIMIT: usize = 2_000;
/// Telegram refuses a `text` longer than this.
const TELEGRAM_LIMIT: usize = 4_096;
/// Slack truncates `text` beyond about this.
const SLACK_LIMIT: usize = 3_000;

/// An event told to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// One line: what happened, to which post or account.
    pub title: String,
    /// The facts after the title (a reason, a comment, a digest's posts).
    pub lines: Vec<String>,
    /// Who must act, and what they do; "Nobody" when nothing is needed.
    pub who_must_act: String,
    /// Where to act: a label and an absolute URL.
    pub link: (String, String),
}

/// The alert for a stored event (`{id, type, created_at, workspace_id, data}`), its links built
/// on `base` (the dashboard's public URL, ending in `/`).
#[must_use]
pub fn alert(event_type: WebhookEventType, payload: &Value, base: &url::Url) -> Alert {
    let data = payload.get("data").unwrap_or(&Value::Null);
    let text = |pointer: &str| data.pointer(pointer).and_then(Value::as_str);
    let account = text("/account/display_name")
        .filter(|name| !name.trim().is_empty())
        .map_or_else(|| "an account".to_owned(), str::to_owned);
    let post_id = text("/post/id").unwrap_or_default();
    let excerpt = text("/post/excerpt")
        .filter(|excerpt| !excerpt.trim().is_empty())
        .map_or_else(|| "a post".to_owned(), |excerpt| format!("“{excerpt}”"));
    let at = |pointer: &str| {
        text(pointer)
            .and_then(|at| at.parse::<Timestamp>().ok())
            .map_or_else(|| "its time".to_owned(), when)
    };
    let link = |label: &str, path: &str| (label.to_owned(), join(base, path));
    let post_link = || link("Open the post", &format!("posts/{post_id}"));
    match event_type {
        WebhookEventType::PostFailed => {
            let who = text("/failure/who").unwrap_or("user");
            let action = match text("/failure/action") {
                Some("reconnect") => "reconnect the account, then retry the post",
                Some("retry_later") => "retry the post later",
                _ => "change the post and retry it",
            };
            Alert {
                title: format!("Post failed: {excerpt} for {account}"),
                lines: text("/failure/reason")
                    .map(|reason| vec![format!("Why: {reason}")])
                    .unwrap_or_default(),
                who_must_act: match who {
                    "creator" => format!("The TikTok creator of {account}: {action}."),
                    "operator" => format!(
                        "Whoever runs tokpost (the TikTok app's settings): {action} once it is fixed."
                    ),
                    "tiktok" => "Nobody can fix it now: TikTok must recover. Retry the post later."
                        .to_owned(),
                    _ => format!("The post's author or an owner: {action}."),
                },
                link: post_link(),
            }
        }
        WebhookEventType::PostDeferred => {
            let until = at("/deferred/until");
            let (why, who) = match text("/deferred/why") {
                Some("daily_post_cap") => (
                    "the creator's daily post cap on TikTok is reached",
                    format!("Nobody: it goes out at {until}."),
                ),
                Some("pending_inbox_shares") => (
                    "the creator has too many drafts waiting in their TikTok inbox",
                    format!(
                        "The TikTok creator of {account}: post or delete the drafts in the TikTok app's inbox; tokpost tries again at {until}."
                    ),
                ),
                Some("active_creator_cap") => (
                    "the TikTok app reached its daily number of creators",
                    format!(
                        "Nobody, unless it keeps happening: whoever runs tokpost can ask TikTok for a higher cap. It goes out at {until}."
                    ),
                ),
                Some("rate_limited") => (
                    "TikTok is limiting requests for this account",
                    format!("Nobody: it goes out at {until}."),
                ),
                _ => (
                    "TikTok failed on its side",
                    format!("Nobody: tokpost tries again at {until}."),
                ),
            };
            Alert {
                title: format!("Post delayed: {excerpt} for {account}"),
                lines: vec![format!("Why: {why}.")],
                who_must_act: who,
                link: post_link(),
            }
        }
        WebhookEventType::PostMissed => Alert {
            title: format!("Post missed: {excerpt} for {account}"),
            lines: vec![format!(
                "It was due at {} while tokpost was not running, and the grace period passed.",
                at("/post/scheduled_at")
            )],
            who_must_act: "The post's author or an owner: retry it now or give it a new time."
                .to_owned(),
            link: post_link(),
        },
        WebhookEventType::PostPublished => Alert {
            title: format!("Published on TikTok: {excerpt} for {account}"),
            lines: Vec::new(),
            who_must_act: "Nobody.".to_owned(),
            link: post_link(),
        },
        WebhookEventType::AccountNeedsReconnect => Alert {
            title: format!("{account} must be connected again"),
            lines: text("/why")
                .map(|why| vec![format!("Why: {}.", why.replace('_', " "))])
                .unwrap_or_default(),
            who_must_act: format!(
                "An owner, with the TikTok creator of {account} signing in: reconnect it. Its posts wait until then."
            ),
            link: link("Open accounts", "accounts"),
        },
        WebhookEventType::AccountRefreshTokenExpiring => {
            let end = at("/account/refresh_token_expires_at");
            Alert {
                title: format!("The TikTok sign-in of {account} ends at {end}"),
                lines: vec![
                    "After that tokpost cannot post for it until it is connected again.".to_owned(),
                ],
                who_must_act: format!(
                    "An owner, with the TikTok creator of {account} signing in: reconnect it before {end}."
                ),
                link: link("Open accounts", "accounts"),
            }
        }
        WebhookEventType::PostAwaitingApproval => Alert {
            title: format!("Awaiting approval: {excerpt} for {account}"),
            lines: vec![format!("Scheduled for {}.", at("/post/scheduled_at"))],
            who_must_act: "A reviewer or an owner: approve or reject it.".to_owned(),
            link: link("Review the post", &format!("posts/{post_id}")),
        },
        WebhookEventType::PostApproved => Alert {
            title: format!("Approved: {excerpt} for {account}"),
            lines: Vec::new(),
            who_must_act: format!("Nobody: it goes out at {}.", at("/post/scheduled_at")),
            link: post_link(),
        },
        WebhookEventType::PostRejected => Alert {
            title: format!("Rejected: {excerpt} for {account}"),
            lines: text("/message")
                .map(|comment| vec![format!("Comment: {comment}")])
                .unwrap_or_default(),
            who_must_act: "The post's author: edit it (it goes back for approval) or cancel it."
                .to_owned(),
            link: link("Edit the post", &format!("posts/{post_id}/edit")),
        },
        WebhookEventType::DigestDaily => digest(data, base),
    }
}

fn digest(data: &Value, base: &url::Url) -> Alert {
    let count = |key: &str| data.get(key).and_then(Value::as_i64).unwrap_or(0);
    let day = data
        .pointer("/window/day")
        .and_then(Value::as_str)
        .unwrap_or("the last day");
    let mut lines = vec![format!(
        "{} published, {} failed, {} missed, {} delayed; {} awaiting approval now.",
        count("published"),
        count("failed"),
        count("missed"),
        count("deferred"),
        count("awaiting_approval"),
    )];
    let posts = data.get("posts").and_then(Value::as_array);
    for post in posts.into_iter().flatten() {
        let name = post
            .pointer("/account/display_name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let at = post
            .get("published_at")
            .and_then(Value::as_str)
            .and_then(|at| at.parse::<Timestamp>().ok())
            .map_or_else(String::new, when);
        let id = post.get("id").and_then(Value::as_str).unwrap_or_default();
        lines.push(format!(
            "- {name}, {at}: {}",
            join(base, &format!("posts/{id}"))
        ));
    }
    let shown = posts.map_or(0, Vec::len);
    let more = usize::try_from(count("published")).unwrap_or(0);
    if more > shown {
        lines.push(format!("… and {} more.", more - shown));
    }
    let needs_someone = count("failed") + count("missed") > 0;
    Alert {
        title: format!("tokpost daily digest for {day}"),
        lines,
        who_must_act: if needs_someone {
            "Whoever each failed or missed post names: open them from the posts page.".to_owned()
        } else if count("awaiting_approval") > 0 {
            "A reviewer or an owner: posts wait for approval.".to_owned()
        } else {
            "Nobody.".to_owned()
        },
        link: (
            "Open posts".to_owned(),
            join(
                base,
                if needs_someone {
                    "posts?state=failed"
                } else {
                    "posts"
                },
            ),
        ),
    }
}

/// An instant as people read it in a message that reaches several time zones.
fn when(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn join(base: &url::Url, path: &str) -> String {
    base.join(path)
        .map_or_else(|_| format!("{base}{path}"), |url| url.to_string())
}

/// The request body for a chat format. `None` for [`ChannelFormat::Tokpost`] (the event itself
/// is sent) and [`ChannelFormat::Email`] (see [`email`]).
#[must_use]
pub fn chat_body(format: ChannelFormat, alert: &Alert, chat_id: Option<&str>) -> Option<Vec<u8>> {
    let body = match format {
        ChannelFormat::Slack => {
            let escape = |text: &str| {
                text.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            };
            let mut text = format!("*{}*", escape(&alert.title));
            for line in &alert.lines {
                text.push('\n');
                text.push_str(&escape(line));
            }
            text.push_str(&format!(
                "\n*Who must act:* {}\n<{}|{}>",
                escape(&alert.who_must_act),
                alert.link.1,
                escape(&alert.link.0)
            ));
            json!({ "text": truncate(&text, SLACK_LIMIT) })
        }
        ChannelFormat::Discord => {
            let mut text = format!("**{}**", discord_escape(&alert.title));
            for line in &alert.lines {
                text.push('\n');
                text.push_str(&discord_escape(line));
            }
            text.push_str(&format!(
                "\n**Who must act:** {}\n[{}](<{}>)",
                discord_escape(&alert.who_must_act),
                discord_escape(&alert.link.0),
                alert.link.1
            ));
            json!({
                "content": truncate(&text, DISCORD_LIMIT),
                "allowed_mentions": {"parse": []},
            })
        }
        ChannelFormat::Telegram => json!({
            "chat_id": chat_id.unwrap_or_default(),
            "text": truncate(&plain(alert), TELEGRAM_LIMIT),
            "link_preview_options": {"is_disabled": true},
        }),
        ChannelFormat::Tokpost | ChannelFormat::Email => return None,
    };
    serde_json::to_vec(&body).ok()
}

/// An email's subject and plain-text body, with a line saying why the person receives it.
#[must_use]
pub fn email(alert: &Alert, base: &url::Url) -> (String, String) {
    let subject = format!("[tokpost] {}", alert.title);
    let body = format!(
        "{}\n\n--\nYou receive this because of the alerts chosen in tokpost. Change them at {}",
        plain(alert),
        join(base, "me")
    );
    (subject, body)
}

/// The alert as plain text.
fn plain(alert: &Alert) -> String {
    let mut text = alert.title.clone();
    for line in &alert.lines {
        text.push('\n');
        text.push_str(line);
    }
    text.push_str(&format!(
        "\nWho must act: {}\n{}: {}",
        alert.who_must_act, alert.link.0, alert.link.1
    ));
    text
}

/// Markdown that Discord would read in a person's words, made literal.
fn discord_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '[' | ']' | '(' | ')' | '#' | '@' | '<'
        ) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// At most `limit` characters, the cut marked.
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> url::Url {
        url::Url::parse("https://tokpost.example.com/").unwrap()
    }

    fn failed() -> Value {
        json!({
            "type": "post.failed",
            "data": {
                "post": {"id": "0191a0b0-0000-7000-8000-000000000001", "excerpt": "Hello <@everyone> *bold*",
                         "scheduled_at": "2026-12-07T10:00:00Z"},
                "account": {"display_name": "ada.public"},
                "failure": {"who": "creator", "action": "reconnect", "reason": "the token was revoked"},
            },
        })
    }

    #[test]
    fn a_failure_says_who_must_act_and_links_to_the_post() {
        let alert = alert(WebhookEventType::PostFailed, &failed(), &base());
        assert!(alert.title.ends_with("for ada.public"), "{alert:?}");
        assert!(
            alert
                .who_must_act
                .starts_with("The TikTok creator of ada.public: reconnect"),
            "{alert:?}"
        );
        assert_eq!(
            alert.link.1,
            "https://tokpost.example.com/posts/0191a0b0-0000-7000-8000-000000000001"
        );
        assert_eq!(alert.lines, vec!["Why: the token was revoked".to_owned()]);
    }

    #[test]
    fn chat_bodies_escape_what_people_wrote() {
        let alert = alert(WebhookEventType::PostFailed, &failed(), &base());
        let slack: Value =
            serde_json::from_slice(&chat_body(ChannelFormat::Slack, &alert, None).unwrap())
                .unwrap();
        let text = slack["text"].as_str().unwrap();
        assert!(text.contains("&lt;@everyone&gt;"), "{text}");
        assert!(
            text.contains("<https://tokpost.example.com/posts/"),
            "{text}"
        );
        let discord: Value =
            serde_json::from_slice(&chat_body(ChannelFormat::Discord, &alert, None).unwrap())
                .unwrap();
        let content = discord["content"].as_str().unwrap();
        assert!(content.contains(r"\<\@everyone\>"), "{content}");
        assert!(content.contains(r"\*bold\*"), "{content}");
        assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
        let telegram: Value = serde_json::from_slice(
            &chat_body(ChannelFormat::Telegram, &alert, Some("-100123")).unwrap(),
        )
        .unwrap();
        assert_eq!(telegram["chat_id"], "-100123");
        assert!(
            telegram["text"]
                .as_str()
                .unwrap()
                .contains("Who must act: The TikTok creator")
        );
        assert!(chat_body(ChannelFormat::Tokpost, &alert, None).is_none());
    }

    #[test]
    fn long_messages_are_cut_to_the_channels_limit() {
        let mut payload = failed();
        payload["data"]["failure"]["reason"] = json!("x".repeat(5_000));
        let alert = alert(WebhookEventType::PostFailed, &payload, &base());
        let discord: Value =
            serde_json::from_slice(&chat_body(ChannelFormat::Discord, &alert, None).unwrap())
                .unwrap();
        assert_eq!(
            discord["content"].as_str().unwrap().chars().count(),
            DISCORD_LIMIT
        );
        let telegram: Value =
            serde_json::from_slice(&chat_body(ChannelFormat::Telegram, &alert, Some("1")).unwrap())
                .unwrap();
        assert_eq!(
            telegram["text"].as_str().unwrap().chars().count(),
            TELEGRAM_LIMIT
        );
    }

    #[test]
    fn every_event_type_has_a_message_with_a_link_and_someone_named() {
        for event_type in WebhookEventType::ALL {
            let alert = alert(event_type, &json!({"data": {}}), &base());
            assert!(!alert.title.is_empty(), "{event_type:?}");
            assert!(!alert.who_must_act.is_empty(), "{event_type:?}");
            assert!(
                alert.link.1.starts_with("https://tokpost.example.com/"),
                "{event_type:?}: {alert:?}"
            );
        }
    }

    #[test]
    fn a_digest_counts_and_lists_the_published_posts() {
        let payload = json!({"data": {
            "window": {"day": "2026-12-06"},
            "published": 3, "failed": 1, "missed": 0, "deferred": 2, "awaiting_approval": 4,
            "posts": [{"id": "p1", "account": {"display_name": "ada.public"}, "published_at": "2026-12-06T09:30:00Z"}],
        }});
        let alert = alert(WebhookEventType::DigestDaily, &payload, &base());
        assert_eq!(alert.title, "tokpost daily digest for 2026-12-06");
        assert_eq!(
            alert.lines[0],
            "3 published, 1 failed, 0 missed, 2 delayed; 4 awaiting approval now."
        );
        assert_eq!(
            alert.lines[1],
            "- ada.public, 2026-12-06 09:30 UTC: https://tokpost.example.com/posts/p1"
        );
        assert_eq!(alert.lines[2], "… and 2 more.");
        assert!(alert.who_must_act.starts_with("Whoever each failed"));
        let (subject, body) = email(&alert, &base());
        assert_eq!(subject, "[tokpost] tokpost daily digest for 2026-12-06");
        assert!(body.ends_with("https://tokpost.example.com/me"), "{body}");
    }
}
