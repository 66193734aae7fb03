//! What the composer shows of the creator (TikTok's Point 1): who is posting, their options
//! right now, and whether they can post at all. Read fresh from `creator_info` on every render.

use serde_json::Value;

/// One privacy option as the dropdown shows it.
#[derive(Debug, Clone)]
pub(crate) struct PrivacyOption {
    pub(crate) value: String,
    pub(crate) label: String,
}

/// The creator's answer that shapes the form.
#[derive(Debug, Clone, Default)]
pub(crate) struct CreatorView {
    pub(crate) nickname: String,
    pub(crate) username: String,
    pub(crate) avatar_url: Option<String>,
    pub(crate) privacy_options: Vec<PrivacyOption>,
    pub(crate) comment_disabled: bool,
    pub(crate) duet_disabled: bool,
    pub(crate) stitch_disabled: bool,
    pub(crate) max_duration_sec: Option<u64>,
}

/// TikTok's privacy options in the words of its own app; an option tokpost does not know is
/// shown as TikTok named it.
pub(crate) fn privacy_label(option: &str) -> String {
    match option {
        "PUBLIC_TO_EVERYONE" => "Everyone",
        "MUTUAL_FOLLOW_FRIENDS" => "Friends (followers you follow back)",
        "FOLLOWER_OF_CREATOR" => "Followers",
        "SELF_ONLY" => "Only me",
        other => other,
    }
    .to_owned()
}

impl CreatorView {
    /// Reads the API's `creator-info` answer (TikTok's `data` keys).
    pub(crate) fn from_answer(body: &Value) -> Self {
        let flag = |key: &str| body.get(key).and_then(Value::as_bool).unwrap_or(false);
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            nickname: text("creator_nickname"),
            username: text("creator_username"),
            // Only our own origin's pictures: a TikTok CDN address would be an external request.
            avatar_url: Some(text("creator_avatar_url")).filter(|url| url.starts_with('/')),
            privacy_options: body
                .get("privacy_level_options")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|value| PrivacyOption {
                    value: value.to_owned(),
                    label: privacy_label(value),
                })
                .collect(),
            comment_disabled: flag("comment_disabled"),
            duet_disabled: flag("duet_disabled"),
            stitch_disabled: flag("stitch_disabled"),
            max_duration_sec: body
                .get("max_video_post_duration_sec")
                .and_then(Value::as_u64),
        }
    }

    /// The creator's longest video, in milliseconds.
    pub(crate) fn max_duration_ms(&self) -> Option<u64> {
        self.max_duration_sec.map(|secs| secs.saturating_mul(1000))
    }

    /// The name the person knows the creator by.
    pub(crate) fn display(&self) -> &str {
        if self.nickname.is_empty() {
            &self.username
        } else {
            &self.nickname
        }
    }
}

/// Why the creator cannot post now, from TikTok's `creator_info` error code (Point 1b).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CannotPost {
    /// `spam_risk_too_many_posts`: the creator's daily cap, counted by TikTok across apps.
    DailyCap,
    /// `spam_risk_user_banned_from_posting`.
    Banned,
    /// `reached_active_user_cap`: the app's creators in 24 hours.
    ActiveCreatorCap,
}

impl CannotPost {
    /// The cap code TikTok answered `creator_info` with, if it is one of these.
    pub(crate) fn from_error(body: &Value) -> Option<Self> {
        match body.pointer("/error/tiktok/code").and_then(Value::as_str)? {
            "spam_risk_too_many_posts" => Some(Self::DailyCap),
            "spam_risk_user_banned_from_posting" => Some(Self::Banned),
            "reached_active_user_cap" => Some(Self::ActiveCreatorCap),
            _ => None,
        }
    }

    /// What the person reads: why, and to try again later.
    pub(crate) fn explain(self, creator: &str) -> String {
        match self {
            Self::DailyCap => format!(
                "{creator} has reached TikTok's limit of posts for today, so publishing is stopped. Please try again later."
            ),
            Self::Banned => format!(
                "TikTok does not allow {creator} to post right now, so publishing is stopped. Please try again later."
            ),
            Self::ActiveCreatorCap => "This TikTok app has reached its limit of creators posting in 24 hours, so publishing is stopped. Please try again later.".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case("spam_risk_too_many_posts", Some(CannotPost::DailyCap))]
    #[case("spam_risk_user_banned_from_posting", Some(CannotPost::Banned))]
    #[case("reached_active_user_cap", Some(CannotPost::ActiveCreatorCap))]
    #[case("access_token_invalid", None)]
    fn a_cap_answer_stops_publishing_and_others_do_not_pass_for_one(
        #[case] code: &str,
        #[case] expected: Option<CannotPost>,
    ) {
        let body = json!({"error": {"code": "tiktok_refused", "tiktok": {"code": code}}});
        assert_eq!(CannotPost::from_error(&body), expected);
        if let Some(reason) = expected {
            assert!(reason.explain("Ada").contains("try again later"));
        }
    }

    #[test]
    fn the_creator_is_read_from_tiktoks_keys_and_a_foreign_avatar_is_left_out() {
        let view = CreatorView::from_answer(&json!({
            "creator_nickname": "Ada", "creator_username": "ada.public",
            "creator_avatar_url": "https://p16.tiktokcdn.example/a.jpg",
            "privacy_level_options": ["PUBLIC_TO_EVERYONE", "SELF_ONLY", "NEW_ONE"],
            "duet_disabled": true, "max_video_post_duration_sec": 600,
        }));
        assert_eq!(view.display(), "Ada");
        assert_eq!(view.avatar_url, None);
        let labels: Vec<_> = view
            .privacy_options
            .iter()
            .map(|o| o.label.as_str())
            .collect();
        assert_eq!(labels, ["Everyone", "Only me", "NEW_ONE"]);
        assert!(view.duet_disabled && !view.comment_disabled);
        assert_eq!(view.max_duration_sec, Some(600));
    }
}
