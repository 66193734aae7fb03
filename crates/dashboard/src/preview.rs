//! A stored post shown as it will go out, without script: the video at its cover frame or the
//! photos with their cover, the caption (or title and description), the label TikTok adds, who
//! can view it and what viewers may do. The post page and the review link's page show it
//! (`templates/_preview.html`); the composer has its own live preview (`assets/preview.js`),
//! with the same words.

use serde_json::Value;

/// What `_preview.html` shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Preview {
    /// The creator it goes out as.
    pub(crate) account: String,
    /// The video's address (with its cover frame as a media fragment), for a video post.
    pub(crate) video: Option<String>,
    /// The photos' addresses in order, each with whether it is the cover.
    pub(crate) photos: Vec<(String, bool)>,
    pub(crate) title: String,
    /// The caption, or a photo post's description.
    pub(crate) text: String,
    /// The label TikTok puts on the post ("Paid partnership", "Promotional content"), if any.
    pub(crate) label: &'static str,
    pub(crate) aigc: bool,
    pub(crate) privacy: &'static str,
    pub(crate) interactions: String,
    pub(crate) delivery: &'static str,
}

/// TikTok's words for a privacy level, as the composer shows them.
fn privacy_words(level: &str) -> &'static str {
    match level {
        "PUBLIC_TO_EVERYONE" => "Everyone",
        "MUTUAL_FOLLOW_FRIENDS" => "Friends",
        "FOLLOWER_OF_CREATOR" => "Followers",
        "SELF_ONLY" => "Only me",
        _ => "not chosen",
    }
}

impl Preview {
    /// The preview of a post's `spec` (the API's JSON), its media addressed by `media_src`.
    pub(crate) fn of(spec: &Value, account: &str, media_src: impl Fn(&str) -> String) -> Self {
        let text = |value: &Value, key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let flag = |key: &str| spec.get(key).and_then(Value::as_bool) == Some(true);
        let content = spec.get("content").cloned().unwrap_or(Value::Null);
        let mut preview = Self {
            account: account.to_owned(),
            privacy: privacy_words(spec.get("privacy").and_then(Value::as_str).unwrap_or("")),
            aigc: flag("is_aigc"),
            label: if flag("brand_content") {
                "Paid partnership"
            } else if flag("brand_organic") {
                "Promotional content"
            } else {
                ""
            },
            delivery: if spec.get("mode").and_then(Value::as_str) == Some("inbox") {
                "Sent to the creator's TikTok inbox as a draft to finish there"
            } else {
                "Posted to the profile"
            },
            ..Self::default()
        };
        match content.get("kind").and_then(Value::as_str) {
            Some("video") => {
                let media = text(&content, "media");
                let cover = content
                    .get("cover_timestamp_ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                // A media fragment shows the chosen cover frame before it plays.
                preview.video = Some(format!(
                    "{}#t={}.{:03}",
                    media_src(&media),
                    cover / 1000,
                    cover % 1000
                ));
                preview.text = text(&content, "caption");
            }
            Some("photos") => {
                let cover = content
                    .get("cover_index")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                preview.photos = content
                    .get("media")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .enumerate()
                    .map(|(index, id)| (media_src(id), index as u64 == cover))
                    .collect();
                preview.title = text(&content, "title");
                preview.text = text(&content, "description");
            }
            _ => {}
        }
        let interactions = spec.get("interactions").cloned().unwrap_or(Value::Null);
        let allowed = |key: &str| interactions.get(key).and_then(Value::as_bool) == Some(false);
        let mut may = Vec::new();
        if allowed("disable_comment") {
            may.push("comment");
        }
        if preview.video.is_some() {
            if allowed("disable_duet") {
                may.push("duet");
            }
            if allowed("disable_stitch") {
                may.push("stitch");
            }
        }
        preview.interactions = match may.as_slice() {
            [] => "nothing (comments, duets and stitches off)".to_owned(),
            [one] => (*one).to_owned(),
            [first @ .., last] => format!("{} and {last}", first.join(", ")),
        };
        if flag("auto_add_music") {
            preview.interactions.push_str("; TikTok adds music");
        }
        preview
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_video_shows_its_cover_frame_caption_label_and_choices() {
        let spec = json!({
            "content": {"kind": "video", "media": "m1", "caption": "Launch day", "cover_timestamp_ms": 1250},
            "privacy": "FOLLOWER_OF_CREATOR",
            "interactions": {"disable_comment": false, "disable_duet": true, "disable_stitch": false},
            "brand_content": true, "brand_organic": true, "is_aigc": false,
            "auto_add_music": false, "mode": "direct", "source": "file_upload"
        });
        let preview = Preview::of(&spec, "Ada", |id| format!("/m/{id}"));
        assert_eq!(preview.video.as_deref(), Some("/m/m1#t=1.250"));
        assert_eq!(preview.text, "Launch day");
        assert_eq!(preview.label, "Paid partnership");
        assert_eq!(preview.privacy, "Followers");
        assert_eq!(preview.interactions, "comment and stitch");
        assert_eq!(preview.delivery, "Posted to the profile");
    }

    #[test]
    fn photos_show_in_order_with_their_cover() {
        let spec = json!({
            "content": {"kind": "photos", "media": ["a", "b", "c"], "cover_index": 1, "title": "T", "description": "D"},
            "privacy": "SELF_ONLY",
            "interactions": {"disable_comment": true, "disable_duet": true, "disable_stitch": true},
            "brand_content": false, "brand_organic": true, "is_aigc": true,
            "auto_add_music": true, "mode": "inbox", "source": "pull_from_url"
        });
        let preview = Preview::of(&spec, "Ada", |id| format!("/m/{id}"));
        assert_eq!(
            preview.photos,
            vec![
                ("/m/a".to_owned(), false),
                ("/m/b".to_owned(), true),
                ("/m/c".to_owned(), false)
            ]
        );
        assert_eq!((preview.title.as_str(), preview.text.as_str()), ("T", "D"));
        assert_eq!(preview.label, "Promotional content");
        assert!(preview.aigc);
        assert_eq!(preview.privacy, "Only me");
        assert_eq!(
            preview.interactions,
            "nothing (comments, duets and stitches off); TikTok adds music"
        );
        assert!(preview.delivery.contains("inbox"));
    }
}
