//! The compose form as submitted, and the API request it becomes. The form never decides a
//! rule the API does not also enforce: it only maps the person's choices (nothing chosen means
//! nothing sent, never a default) onto `POST /v1/posts`.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::PageError;

/// What the compose form holds (the submitted values, redisplayed after a check).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ComposeForm {
    #[serde(default)]
    pub(crate) csrf: String,
    /// A random key of this compose page: publishing twice from it creates one post.
    #[serde(default)]
    pub(crate) draft_key: String,
    #[serde(default)]
    pub(crate) account_id: String,
    /// `video` or `photo`.
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) media_id: String,
    /// The photos in their order, comma-separated.
    #[serde(default)]
    pub(crate) photo_ids: String,
    #[serde(default)]
    pub(crate) cover_index: String,
    #[serde(default)]
    pub(crate) cover_timestamp_ms: String,
    #[serde(default)]
    pub(crate) caption: String,
    #[serde(default)]
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) privacy_level: String,
    pub(crate) allow_comment: Option<String>,
    pub(crate) allow_duet: Option<String>,
    pub(crate) allow_stitch: Option<String>,
    pub(crate) disclose: Option<String>,
    pub(crate) brand_organic: Option<String>,
    pub(crate) brand_content: Option<String>,
    pub(crate) is_aigc: Option<String>,
    #[serde(default)]
    pub(crate) mode: String,
    /// `now` or `later`.
    #[serde(default)]
    pub(crate) when: String,
    #[serde(default)]
    pub(crate) scheduled_at: String,
    #[serde(default)]
    pub(crate) time_zone: String,
    /// `check` or `publish`.
    #[serde(default)]
    pub(crate) intent: String,
    /// The post being edited (empty: a new post).
    #[serde(default)]
    pub(crate) edit: String,
    /// The revision of the post being edited, as it was read.
    #[serde(default)]
    pub(crate) revision: String,
}

impl ComposeForm {
    /// Whether the form composes a photo post.
    pub(crate) fn is_photo(&self) -> bool {
        self.kind == "photo"
    }

    /// The chosen photos, in order.
    pub(crate) fn photos(&self) -> Vec<String> {
        self.photo_ids
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether the person asked for a later time.
    pub(crate) fn is_later(&self) -> bool {
        self.when == "later"
    }

    /// Whether the form edits an existing post.
    pub(crate) fn is_edit(&self) -> bool {
        !self.edit.is_empty()
    }

    /// The revision saving the edit makes.
    pub(crate) fn next_revision(&self) -> u32 {
        self.revision.trim().parse::<u32>().unwrap_or(0) + 1
    }

    /// The form of a stored post (the API's JSON), to edit it: every choice as it was made,
    /// its time in the person's zone.
    pub(crate) fn of_post(post: &crate::views::PostJson, zone: &TimeZone) -> Self {
        let spec = &post.spec;
        let content = spec.get("content").cloned().unwrap_or(Value::Null);
        let text = |value: &Value, key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let on = |value: bool| value.then(|| "on".to_owned());
        let flag = |key: &str| spec.get(key).and_then(Value::as_bool) == Some(true);
        let allowed = |key: &str| {
            spec.pointer(&format!("/interactions/{key}"))
                .and_then(Value::as_bool)
                == Some(false)
        };
        let photo = content.get("kind").and_then(Value::as_str) == Some("photos");
        let photos: Vec<String> = content
            .get("media")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        Self {
            account_id: post.account_id.clone(),
            kind: if photo { "photo" } else { "video" }.to_owned(),
            media_id: if photo {
                String::new()
            } else {
                text(&content, "media")
            },
            photo_ids: photos.join(","),
            cover_index: content
                .get("cover_index")
                .map(Value::to_string)
                .unwrap_or_default(),
            cover_timestamp_ms: content
                .get("cover_timestamp_ms")
                .filter(|ms| !ms.is_null())
                .map(Value::to_string)
                .unwrap_or_default(),
            caption: text(&content, "caption"),
            title: text(&content, "title"),
            description: text(&content, "description"),
            privacy_level: text(spec, "privacy"),
            allow_comment: on(allowed("disable_comment")),
            allow_duet: on(allowed("disable_duet")),
            allow_stitch: on(allowed("disable_stitch")),
            disclose: on(flag("brand_content") || flag("brand_organic")),
            brand_organic: on(flag("brand_organic")),
            brand_content: on(flag("brand_content")),
            is_aigc: on(flag("is_aigc")),
            mode: text(spec, "mode"),
            when: "later".to_owned(),
            scheduled_at: post
                .scheduled_at
                .to_zoned(zone.clone())
                .strftime("%Y-%m-%dT%H:%M")
                .to_string(),
            time_zone: zone.iana_name().unwrap_or("UTC").to_owned(),
            edit: post.id.clone(),
            revision: post.revision.to_string(),
            ..Self::default()
        }
    }
}

/// The date and time the user typed, in their zone, as the API's RFC 3339 instant. Empty: now.
pub(crate) fn schedule_instant(text: &str, zone: &str) -> Result<Option<String>, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let civil: DateTime = text
        .parse()
        .map_err(|_| PageError::BadInput(format!("“{text}” is not a date and time")))?;
    let zone = TimeZone::get(zone.trim()).unwrap_or(TimeZone::UTC);
    let at = crate::views::wall_instant(civil, &zone).map_err(PageError::BadInput)?;
    Ok(Some(at.to_string()))
}

fn number(text: &str, field: &str) -> Result<Option<u64>, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| PageError::BadInput(format!("{field}: “{text}” is not a whole number")))
}

/// The `POST /v1/posts` request of a form.
pub(crate) fn request_from(form: &ComposeForm) -> Result<Value, PageError> {
    let disclose = form.disclose.is_some();
    let photo = form.is_photo();
    let mut request = Map::new();
    request.insert("account_id".to_owned(), json!(form.account_id));
    if photo {
        request.insert(
            "photos".to_owned(),
            json!({
                "media_ids": form.photos(),
                "cover_index": number(&form.cover_index, "cover")?.unwrap_or(0),
                "title": form.title,
                "description": form.description,
            }),
        );
    } else {
        let mut video = json!({"media_id": form.media_id.trim(), "caption": form.caption});
        if let Some(ms) = number(&form.cover_timestamp_ms, "cover frame")?
            && let Some(object) = video.as_object_mut()
        {
            object.insert("cover_timestamp_ms".to_owned(), json!(ms));
        }
        request.insert("video".to_owned(), video);
    }
    if !form.privacy_level.is_empty() {
        request.insert("privacy_level".to_owned(), json!(form.privacy_level));
    }
    request.insert(
        "disable_comment".to_owned(),
        json!(form.allow_comment.is_none()),
    );
    // Duet and stitch do not exist for photos: nothing is sent for them.
    request.insert(
        "disable_duet".to_owned(),
        json!(!photo && form.allow_duet.is_none()),
    );
    request.insert(
        "disable_stitch".to_owned(),
        json!(!photo && form.allow_stitch.is_none()),
    );
    request.insert("commercial_disclosure".to_owned(), json!(disclose));
    request.insert(
        "brand_organic".to_owned(),
        json!(disclose && form.brand_organic.is_some()),
    );
    request.insert(
        "brand_content".to_owned(),
        json!(disclose && form.brand_content.is_some()),
    );
    request.insert("is_aigc".to_owned(), json!(form.is_aigc.is_some()));
    request.insert(
        "mode".to_owned(),
        json!(if form.mode == "inbox" {
            "inbox"
        } else {
            "direct"
        }),
    );
    if form.is_later() {
        match schedule_instant(&form.scheduled_at, &form.time_zone)? {
            Some(at) => {
                request.insert("scheduled_at".to_owned(), json!(at));
            }
            None => {
                return Err(PageError::BadInput(
                    "Choose the date and time to post at, or choose “Post now”.".to_owned(),
                ));
            }
        }
    }
    let key = form.draft_key.trim();
    if !key.is_empty() {
        request.insert(
            "idempotency_key".to_owned(),
            json!(format!("compose-{key}")),
        );
    }
    Ok(Value::Object(request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("2026-12-01T18:00", "Europe/Berlin", Some("2026-12-01T17:00:00Z"))]
    #[case("2026-07-01T18:00", "Europe/Berlin", Some("2026-07-01T16:00:00Z"))]
    #[case("2026-12-01T18:00", "Not/AZone", Some("2026-12-01T18:00:00Z"))]
    // A time lived twice (the clocks go back) means the first of the two.
    #[case("2026-10-25T02:30", "Europe/Berlin", Some("2026-10-25T00:30:00Z"))]
    #[case("", "UTC", None)]
    fn a_scheduled_time_is_read_in_the_users_zone(
        #[case] text: &str,
        #[case] zone: &str,
        #[case] expected: Option<&str>,
    ) {
        assert_eq!(schedule_instant(text, zone).unwrap().as_deref(), expected);
    }

    #[test]
    fn a_time_that_is_not_one_is_refused() {
        assert!(matches!(
            schedule_instant("tomorrow-ish", "UTC"),
            Err(PageError::BadInput(_))
        ));
        // 02:30 on the spring clock change does not exist in Berlin: refused, not shifted.
        assert!(matches!(
            schedule_instant("2026-03-29T02:30", "Europe/Berlin"),
            Err(PageError::BadInput(message)) if message.contains("does not exist")
        ));
    }

    #[test]
    fn unticked_interactions_are_disabled_and_disclosure_needs_its_switch() {
        let form = ComposeForm {
            account_id: "a".to_owned(),
            allow_comment: Some("on".to_owned()),
            brand_content: Some("on".to_owned()),
            ..ComposeForm::default()
        };
        let request = request_from(&form).unwrap();
        assert_eq!(request["disable_comment"], false);
        assert_eq!(request["disable_duet"], true);
        assert_eq!(request["brand_content"], false, "disclosure switch is off");
        assert_eq!(request["commercial_disclosure"], false);
        assert!(request.get("privacy_level").is_none(), "no default privacy");
        assert!(request.get("scheduled_at").is_none(), "now");
    }

    #[test]
    fn a_photo_post_sends_its_photos_in_order_and_no_duet_or_stitch() {
        let form = ComposeForm {
            kind: "photo".to_owned(),
            photo_ids: "b, a,,c".to_owned(),
            cover_index: "2".to_owned(),
            title: "t".to_owned(),
            disclose: Some("on".to_owned()),
            brand_organic: Some("on".to_owned()),
            draft_key: "k1".to_owned(),
            ..ComposeForm::default()
        };
        let request = request_from(&form).unwrap();
        assert_eq!(request["photos"]["media_ids"], json!(["b", "a", "c"]));
        assert_eq!(request["photos"]["cover_index"], 2);
        assert!(request.get("video").is_none());
        assert_eq!(request["disable_duet"], false);
        assert_eq!(request["disable_stitch"], false);
        assert_eq!(request["brand_organic"], true);
        assert_eq!(request["idempotency_key"], "compose-k1");
    }

    #[test]
    fn later_without_a_time_is_refused_and_a_cover_frame_is_sent() {
        let later = ComposeForm {
            when: "later".to_owned(),
            ..ComposeForm::default()
        };
        assert!(matches!(request_from(&later), Err(PageError::BadInput(_))));
        let framed = ComposeForm {
            cover_timestamp_ms: "1500".to_owned(),
            ..ComposeForm::default()
        };
        assert_eq!(
            request_from(&framed).unwrap()["video"]["cover_timestamp_ms"],
            1500
        );
        let bad = ComposeForm {
            cover_timestamp_ms: "soon".to_owned(),
            ..ComposeForm::default()
        };
        assert!(matches!(request_from(&bad), Err(PageError::BadInput(_))));
    }
}
