//! One row read into the plan of a `POST /v1/posts` request: its cells checked (every one that
//! cannot be read is reported), its time made an instant, its kind named or implied, and the
//! idempotency key it derives.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Row, detail};
use crate::error::ErrorDetail;

/// A post's kind, as a row names or implies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Video,
    Photo,
}

impl Kind {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Photo => "photo",
        }
    }

    /// What a URL's file extension says, if anything.
    pub(crate) fn of_url(url: &str) -> Option<Self> {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        let extension = path.rsplit_once('.').map(|(_, e)| e)?;
        match extension {
            "mp4" | "mov" | "webm" | "mkv" | "m4v" => Some(Self::Video),
            "jpg" | "jpeg" | "png" | "webp" => Some(Self::Photo),
            _ => None,
        }
    }
}

/// How a row names its media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MediaRefs {
    Ids(Vec<String>),
    Urls(Vec<String>),
}

impl MediaRefs {
    /// The column the row used, which errors about its media name.
    pub(crate) const fn column(&self) -> &'static str {
        match self {
            Self::Ids(_) => "media_id",
            Self::Urls(_) => "media_url",
        }
    }
}

/// One row read into what the request needs; the account and media are still as the row names
/// them, the rest of the request is in `fields` (the names `POST /v1/posts` takes).
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) account: String,
    pub(crate) media: MediaRefs,
    /// Named by the `kind` column or implied by the texts; `None`: the media decide.
    pub(crate) kind: Option<Kind>,
    pub(crate) caption: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) cover_timestamp_ms: Option<u64>,
    pub(crate) cover_index: Option<u64>,
    pub(crate) source: Option<String>,
    pub(crate) scheduled_at: Option<Timestamp>,
    pub(crate) fields: Map<String, Value>,
    pub(crate) idempotency_key: Option<String>,
    /// The columns the row filled (a switch only when on).
    pub(crate) filled: Vec<String>,
}

/// Columns only one kind of post has.
const VIDEO_ONLY: [&str; 5] = [
    "caption",
    "allow_duet",
    "allow_stitch",
    "cover_timestamp_ms",
    "source",
];
const PHOTO_ONLY: [&str; 3] = ["title", "description", "cover_index"];

/// What a switched-off toggle reads.
const FALSE: [&str; 5] = ["false", "no", "n", "0", "off"];

fn flag(row: &Row, column: &str, problems: &mut Vec<ErrorDetail>) -> bool {
    let Some(text) = row.cells.get(column) else {
        return false;
    };
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "on" | "x" => true,
        off if FALSE.contains(&off) => false,
        _ => {
            problems.push(detail(
                "malformed",
                column,
                format!("{column} is true or false (yes/no, 1/0, on/off, x); it reads “{text}”"),
                Some(json!("true or false")),
                Some(json!(text)),
            ));
            false
        }
    }
}

fn number(row: &Row, column: &str, problems: &mut Vec<ErrorDetail>) -> Option<u64> {
    let text = row.cells.get(column)?;
    text.parse().map_or_else(
        |_| {
            problems.push(detail(
                "malformed",
                column,
                format!("{column} is a whole number; it reads “{text}”"),
                Some(json!("a whole number")),
                Some(json!(text)),
            ));
            None
        },
        Some,
    )
}

/// The row's `scheduled_at` as an instant (see the module's doc), `None` when empty.
pub(crate) fn schedule(
    row: &Row,
    default_zone: Option<&TimeZone>,
    problems: &mut Vec<ErrorDetail>,
) -> Option<Timestamp> {
    let zone = match row.cells.get("time_zone") {
        Some(name) => match TimeZone::get(name) {
            Ok(zone) => Some(zone),
            Err(_) => {
                problems.push(detail(
                    "malformed",
                    "time_zone",
                    format!("“{name}” is not an IANA time zone such as Europe/Berlin"),
                    Some(json!("an IANA time zone name")),
                    Some(json!(name)),
                ));
                return None;
            }
        },
        None => default_zone.cloned(),
    };
    let text = row.cells.get("scheduled_at")?;
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    let Ok(civil) = text.replacen(' ', "T", 1).parse::<DateTime>() else {
        problems.push(detail(
            "malformed",
            "scheduled_at",
            format!("“{text}” is not a time: RFC 3339 with an offset (2026-12-01T18:00:00+01:00), or a local 2026-12-01 18:00 with a time_zone"),
            Some(json!("an RFC 3339 time with an offset, or a local date and time with a time zone")),
            Some(json!(text)),
        ));
        return None;
    };
    let Some(zone) = zone else {
        problems.push(detail(
            "time_zone_needed",
            "scheduled_at",
            format!("“{text}” has no offset: add one (+01:00) or a time_zone column"),
            Some(json!("an offset or a time_zone")),
            Some(json!(text)),
        ));
        return None;
    };
    match zone.to_ambiguous_zoned(civil).unambiguous() {
        Ok(zoned) => Some(zoned.timestamp()),
        Err(_) => {
            problems.push(detail(
                "ambiguous_time",
                "scheduled_at",
                format!(
                    "“{text}” does not exist or happens twice in {} (a clock change): give an offset",
                    zone.iana_name().unwrap_or("this zone")
                ),
                None,
                Some(json!(text)),
            ));
            None
        }
    }
}

/// Reads one row. Every cell that cannot be read is reported, not just the first.
///
/// # Errors
/// The row's problems (with those the file's reading found).
pub(crate) fn plan(row: &Row, default_zone: Option<&TimeZone>) -> Result<Plan, Vec<ErrorDetail>> {
    let mut problems = row.problems.clone();
    let text = |column: &str| row.cells.get(column).cloned();
    let account = text("account");
    if account.is_none() {
        problems.push(detail(
            "required",
            "account",
            "account is required: an account id, or the creator's @username or name",
            None,
            None,
        ));
    }
    let split = |cell: &str| -> Vec<String> {
        cell.split('|')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let media = match (text("media_id"), text("media_url")) {
        (Some(ids), None) => Some(MediaRefs::Ids(split(&ids))),
        (None, Some(urls)) => Some(MediaRefs::Urls(split(&urls))),
        (Some(_), Some(_)) => {
            problems.push(detail(
                "malformed",
                "media_url",
                "either media_id or media_url, not both",
                None,
                None,
            ));
            None
        }
        (None, None) => {
            problems.push(detail(
                "required",
                "media_id",
                "media_id (an uploaded media id) or media_url (on a verified prefix) is required",
                None,
                None,
            ));
            None
        }
    };
    let kind = match text("kind").map(|k| k.to_ascii_lowercase()).as_deref() {
        Some("video") => Some(Kind::Video),
        Some("photo" | "photos") => Some(Kind::Photo),
        Some(other) => {
            problems.push(detail(
                "malformed",
                "kind",
                format!("kind is video or photo; it reads “{other}”"),
                Some(json!(["video", "photo"])),
                Some(json!(other)),
            ));
            None
        }
        None => {
            let several = match &media {
                Some(MediaRefs::Ids(items) | MediaRefs::Urls(items)) => items.len() > 1,
                None => false,
            };
            if text("title").is_some() || text("description").is_some() || several {
                Some(Kind::Photo)
            } else if text("caption").is_some() {
                Some(Kind::Video)
            } else {
                None
            }
        }
    };
    let mut fields = Map::new();
    for column in ["privacy_level", "mode"] {
        if let Some(value) = text(column) {
            fields.insert(column.to_owned(), json!(value));
        }
    }
    for (column, request) in [
        ("allow_comment", "disable_comment"),
        ("allow_duet", "disable_duet"),
        ("allow_stitch", "disable_stitch"),
    ] {
        let allowed = flag(row, column, &mut problems);
        fields.insert(request.to_owned(), json!(!allowed));
    }
    for column in [
        "brand_organic",
        "brand_content",
        "is_aigc",
        "auto_add_music",
    ] {
        let on = flag(row, column, &mut problems);
        fields.insert(column.to_owned(), json!(on));
    }
    if row.cells.contains_key("commercial_disclosure") {
        let on = flag(row, "commercial_disclosure", &mut problems);
        fields.insert("commercial_disclosure".to_owned(), json!(on));
    }
    let cover_timestamp_ms = number(row, "cover_timestamp_ms", &mut problems);
    let cover_index = number(row, "cover_index", &mut problems);
    let scheduled_at = schedule(row, default_zone, &mut problems);
    match (account, media) {
        (Some(account), Some(media)) if problems.is_empty() => Ok(Plan {
            account,
            media,
            kind,
            caption: text("caption"),
            title: text("title"),
            description: text("description"),
            cover_timestamp_ms,
            cover_index,
            source: text("source"),
            scheduled_at,
            fields,
            idempotency_key: text("idempotency_key"),
            filled: row
                .cells
                .iter()
                .filter(|(_, value)| !FALSE.contains(&value.to_ascii_lowercase().as_str()))
                .map(|(column, _)| column.clone())
                .collect(),
        }),
        _ => Err(problems),
    }
}

impl Plan {
    /// The `POST /v1/posts` body for this row, with the account and media as resolved.
    ///
    /// # Errors
    /// Texts of the other kind (a caption on a photo post, a title on a video).
    pub(crate) fn request(
        &self,
        account_id: &str,
        kind: Kind,
        media_ids: &[String],
    ) -> Result<Map<String, Value>, ErrorDetail> {
        let mut request = self.fields.clone();
        request.insert("account_id".to_owned(), json!(account_id));
        if let Some(at) = self.scheduled_at {
            request.insert("scheduled_at".to_owned(), json!(at.to_string()));
        }
        let (other, what) = match kind {
            Kind::Video => (&PHOTO_ONLY[..], "photo posts"),
            Kind::Photo => (&VIDEO_ONLY[..], "videos"),
        };
        if let Some(column) = other.iter().find(|c| self.filled.iter().any(|f| f == *c)) {
            return Err(detail(
                "malformed",
                column,
                format!(
                    "{column} is for {what}; this row is a {} post",
                    kind.as_str()
                ),
                None,
                None,
            ));
        }
        match kind {
            Kind::Video => {
                if media_ids.len() != 1 {
                    return Err(detail(
                        "malformed",
                        self.media.column(),
                        "a video post has exactly one video",
                        Some(json!(1)),
                        Some(json!(media_ids.len())),
                    ));
                }
                let mut video = Map::new();
                video.insert("media_id".to_owned(), json!(media_ids.first()));
                video.insert(
                    "caption".to_owned(),
                    json!(self.caption.clone().unwrap_or_default()),
                );
                if let Some(ms) = self.cover_timestamp_ms {
                    video.insert("cover_timestamp_ms".to_owned(), json!(ms));
                }
                if let Some(source) = &self.source {
                    video.insert("source".to_owned(), json!(source));
                }
                request.insert("video".to_owned(), Value::Object(video));
            }
            Kind::Photo => {
                // Duet and stitch do not exist on photo posts (the request refuses them).
                request.remove("disable_duet");
                request.remove("disable_stitch");
                let mut photos = Map::new();
                photos.insert("media_ids".to_owned(), json!(media_ids));
                photos.insert(
                    "title".to_owned(),
                    json!(self.title.clone().unwrap_or_default()),
                );
                photos.insert(
                    "description".to_owned(),
                    json!(self.description.clone().unwrap_or_default()),
                );
                if let Some(index) = self.cover_index {
                    photos.insert("cover_index".to_owned(), json!(index));
                }
                request.insert("photos".to_owned(), Value::Object(photos));
            }
        }
        Ok(request)
    }
}

/// The idempotency key of a row without one of its own: `import:` and the hex SHA-256 of its
/// request (keys sorted, the account and media as ids, the time as an instant), so the same
/// row imported again names the same post.
pub(crate) fn derived_key(request: &Map<String, Value>) -> String {
    let canonical: BTreeMap<&String, &Value> = request.iter().collect();
    let text = serde_json::to_string(&canonical).unwrap_or_default();
    format!("import:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// A request field path (`video.caption`, `content.media[2]`, `disable_duet`) as the row names
/// it (`caption`, `media_id`, `allow_duet`).
pub(crate) fn row_field(path: &str, media_column: &str) -> String {
    let path = path.trim();
    let head = path.split('[').next().unwrap_or(path);
    match head {
        "account_id" => "account",
        "video.media_id" | "photos.media_ids" | "content.media" | "content" | "url" => media_column,
        "video.caption" | "content.caption" => "caption",
        "photos.title" | "content.title" => "title",
        "photos.description" | "content.description" => "description",
        "photos.cover_index" | "content.cover_index" => "cover_index",
        "video.cover_timestamp_ms" => "cover_timestamp_ms",
        "video.source" => "source",
        "video" | "photos" => "kind",
        "disable_comment" => "allow_comment",
        "disable_duet" | "interactions" => "allow_duet",
        "disable_stitch" => "allow_stitch",
        other => other,
    }
    .to_owned()
}

/// A sample file with every column, for people to start from.
pub const SAMPLE_CSV: &str = "account,kind,media_id,media_url,caption,title,description,privacy_level,scheduled_at,time_zone,allow_comment,allow_duet,allow_stitch,commercial_disclosure,brand_organic,brand_content,is_aigc,mode,idempotency_key\n\
@ada.public,video,0190f3c2-0000-7000-8000-000000000001,,\"Launch day, finally 🚀 #tokpost\",,,PUBLIC_TO_EVERYONE,2026-12-01 18:00,Europe/Berlin,yes,yes,no,no,,,no,direct,\n\
Ada (public),photo,,https://media.example.com/tokpost/a.jpg|https://media.example.com/tokpost/b.jpg,,Behind the scenes,\"Two photos,\nwith a line break\",FOLLOWER_OF_CREATOR,2026-12-02T09:30:00+01:00,,yes,,,yes,yes,,no,direct,launch-photos-1\n";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

    use super::*;
    use crate::import::{Format, parse};
    use rstest::rstest;

    fn row(cells: &[(&str, &str)]) -> Row {
        Row {
            number: 1,
            cells: cells
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Row::default()
        }
    }

    #[test]
    fn every_unreadable_cell_of_a_row_is_reported() {
        let problems = plan(
            &row(&[
                ("allow_comment", "maybe"),
                ("cover_index", "first"),
                ("kind", "reel"),
                ("scheduled_at", "tomorrow"),
            ]),
            None,
        )
        .unwrap_err();
        let fields: Vec<_> = problems.iter().filter_map(|p| p.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "account",
                "media_id",
                "kind",
                "allow_comment",
                "cover_index",
                "scheduled_at"
            ]
        );
    }

    #[rstest]
    #[case::offset("2026-12-01T18:00:00+01:00", None, None, Some("2026-12-01T17:00:00Z"))]
    #[case::local_in_row_zone(
        "2026-07-01 18:00",
        Some("Europe/Berlin"),
        None,
        Some("2026-07-01T16:00:00Z")
    )]
    #[case::local_in_default_zone(
        "2026-12-01T18:00",
        None,
        Some("America/New_York"),
        Some("2026-12-01T23:00:00Z")
    )]
    #[case::local_without_zone("2026-12-01 18:00", None, None, None)]
    #[case::dst_gap("2026-03-29 02:30", Some("Europe/Berlin"), None, None)]
    #[case::bad_zone("2026-12-01 18:00", Some("Mars/Olympus"), None, None)]
    fn times_are_instants_or_local_times_in_a_zone(
        #[case] text: &str,
        #[case] zone: Option<&str>,
        #[case] default: Option<&str>,
        #[case] expected: Option<&str>,
    ) {
        let mut cells = vec![("scheduled_at", text)];
        if let Some(zone) = zone {
            cells.push(("time_zone", zone));
        }
        let default = default.map(|name| TimeZone::get(name).unwrap());
        let mut problems = Vec::new();
        let at = schedule(&row(&cells), default.as_ref(), &mut problems);
        assert_eq!(
            at.map(|t| t.to_string()).as_deref(),
            expected,
            "{problems:?}"
        );
        assert_eq!(problems.is_empty(), expected.is_some());
    }

    #[test]
    fn a_row_becomes_the_request_post_takes_and_its_key_is_stable() {
        let plan = plan(
            &row(&[
                ("account", "@ada"),
                ("media_url", "https://x/a.jpg | https://x/b.jpg"),
                ("description", "two"),
                ("allow_comment", "yes"),
                ("privacy_level", "SELF_ONLY"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(plan.kind, Some(Kind::Photo), "a description means photos");
        assert_eq!(
            plan.media,
            MediaRefs::Urls(vec!["https://x/a.jpg".into(), "https://x/b.jpg".into()])
        );
        let request = plan
            .request("acc", Kind::Photo, &["m1".into(), "m2".into()])
            .unwrap();
        assert_eq!(request["disable_comment"], false);
        assert!(request.get("disable_duet").is_none(), "no duets on photos");
        assert_eq!(request["photos"]["media_ids"], json!(["m1", "m2"]));
        assert!(request.get("scheduled_at").is_none());
        let key = derived_key(&request);
        assert!(key.starts_with("import:") && key.len() == 7 + 64, "{key}");
        assert_eq!(key, derived_key(&request.clone()));
        let mut other = request.clone();
        other.insert("privacy_level".into(), json!("PUBLIC_TO_EVERYONE"));
        assert_ne!(key, derived_key(&other));
        let video = plan
            .request("acc", Kind::Video, &["m1".into()])
            .unwrap_err();
        assert_eq!(video.field.as_deref(), Some("description"));
    }

    #[rstest]
    #[case("video.caption", "caption")]
    #[case("photos.media_ids[2]", "media_url")]
    #[case("content.media[0]", "media_url")]
    #[case("disable_duet", "allow_duet")]
    #[case("privacy_level", "privacy_level")]
    #[case("account_id", "account")]
    fn request_paths_are_named_as_the_row_names_them(#[case] path: &str, #[case] column: &str) {
        assert_eq!(row_field(path, "media_url"), column);
    }

    #[test]
    fn the_sample_file_reads_as_two_rows_with_every_column_known() {
        let parsed = parse(SAMPLE_CSV.as_bytes(), Format::Csv).unwrap();
        assert_eq!(parsed.rows.len(), 2);
        assert!(parsed.rows.iter().all(|r| r.problems.is_empty()));
        assert!(parse(SAMPLE_CSV.as_bytes(), Format::Csv).is_ok());
        let photo = plan(&parsed.rows[1], None).unwrap();
        assert_eq!(photo.kind, Some(Kind::Photo));
        assert_eq!(
            photo.description.as_deref(),
            Some("Two photos,\nwith a line break")
        );
    }

    #[rstest]
    #[case("https://m.example.com/v.MP4?sig=1", Some(Kind::Video))]
    #[case("https://m.example.com/p.jpeg", Some(Kind::Photo))]
    #[case("https://m.example.com/file", None)]
    fn a_urls_extension_suggests_its_kind(#[case] url: &str, #[case] kind: Option<Kind>) {
        assert_eq!(Kind::of_url(url), kind);
    }
}
