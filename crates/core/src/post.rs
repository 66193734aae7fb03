//! A post as the user scheduled it: what to publish (one video or a photo carousel), every TikTok
//! setting, when, for which account, and the publishing progress that must survive a crash
//! (`publish_id`, upload URL, acknowledged offset).
//!
//! Privacy has no default on purpose: TikTok has none and tokpost never chooses on the user's
//! behalf.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, MediaId, PostId, PublishId, WorkspaceId};
use crate::state::PostState;
use crate::text::{PhotoDescription, PhotoTitle, VideoCaption};
use crate::validation::{ValidationError, ValidationProblem};

/// Who can see the post, as TikTok names the choices. Which of them a creator may use right now
/// comes from the creator-info call; that check belongs to preflight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrivacyLevel {
    PublicToEveryone,
    MutualFollowFriends,
    FollowerOfCreator,
    SelfOnly,
}

impl PrivacyLevel {
    /// All four levels.
    pub const ALL: [Self; 4] = [
        Self::PublicToEveryone,
        Self::MutualFollowFriends,
        Self::FollowerOfCreator,
        Self::SelfOnly,
    ];

    /// TikTok's wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PublicToEveryone => "PUBLIC_TO_EVERYONE",
            Self::MutualFollowFriends => "MUTUAL_FOLLOW_FRIENDS",
            Self::FollowerOfCreator => "FOLLOWER_OF_CREATOR",
            Self::SelfOnly => "SELF_ONLY",
        }
    }

    /// Parses TikTok's wire name.
    ///
    /// # Errors
    /// Anything other than the four names (case-sensitive, as TikTok is).
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|level| level.as_str() == name)
            .ok_or_else(|| {
                ValidationError::new(
                    "privacy_level",
                    ValidationProblem::Malformed {
                        expected: "PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR or SELF_ONLY",
                    },
                )
            })
    }
}

impl fmt::Display for PrivacyLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Direct post to the profile, or a draft in the creator's inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostMode {
    Direct,
    Inbox,
}

/// How TikTok gets the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadSource {
    /// We upload the file in chunks to TikTok's upload URL.
    FileUpload,
    /// TikTok downloads from a URL on a verified domain.
    PullFromUrl,
}

/// What is being posted, with the text that goes with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PostContent {
    Video {
        media: MediaId,
        caption: VideoCaption,
        /// Frame used as the cover; TikTok falls back to the first frame.
        cover_timestamp_ms: Option<u32>,
    },
    Photos {
        media: Vec<MediaId>,
        /// 0-based index into `media`.
        cover_index: u32,
        title: PhotoTitle,
        description: PhotoDescription,
    },
}

/// TikTok's own sentence for branded content with privacy "Only me" (content-sharing
/// guidelines, Point 3b): the composer shows it and the API refuses with it.
pub const BRANDED_CONTENT_NOT_PRIVATE: &str =
    "Branded content visibility cannot be set to private.";

/// TikTok's own sentence for a disclosure switched on with neither "Your brand" nor "Branded
/// content" ticked (Point 3a).
pub const DISCLOSURE_NEEDS_A_CHOICE: &str =
    "You need to indicate if your content promotes yourself, a third party, or both.";

/// Most photos TikTok accepts in one post.
pub const MAX_PHOTOS: u64 = 35;

impl PostContent {
    /// Every media asset the post refers to, in order.
    #[must_use]
    pub fn media(&self) -> Vec<MediaId> {
        match self {
            Self::Video { media, .. } => vec![*media],
            Self::Photos { media, .. } => media.clone(),
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        let Self::Photos {
            media, cover_index, ..
        } = self
        else {
            return Ok(());
        };
        let count = media.len() as u64;
        if count == 0 {
            return Err(ValidationError::new(
                "content.media",
                ValidationProblem::TooShort {
                    minimum: 1,
                    measured: 0,
                    unit: "photos",
                },
            ));
        }
        if count > MAX_PHOTOS {
            return Err(ValidationError::new(
                "content.media",
                ValidationProblem::TooLong {
                    limit: MAX_PHOTOS,
                    measured: count,
                    unit: "photos",
                },
            ));
        }
        if u64::from(*cover_index) >= count {
            return Err(ValidationError::new(
                "content.cover_index",
                ValidationProblem::OutOfRange {
                    limit: count,
                    measured: u64::from(*cover_index),
                },
            ));
        }
        Ok(())
    }
}

/// What viewers may do with the post. Duet and stitch do not exist for photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InteractionSettings {
    pub disable_comment: bool,
    pub disable_duet: bool,
    pub disable_stitch: bool,
}

/// Everything the user decided about a post, validated as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostSpec {
    pub content: PostContent,
    pub privacy: PrivacyLevel,
    pub interactions: InteractionSettings,
    /// Paid partnership promoting a third party.
    pub brand_content: bool,
    /// Promotes the creator's own business.
    pub brand_organic: bool,
    /// Marks AI-generated content.
    pub is_aigc: bool,
    /// Photos, direct posts only: TikTok adds recommended music.
    pub auto_add_music: bool,
    pub mode: PostMode,
    pub source: UploadSource,
}

impl PostSpec {
    /// Checks the rules that hold whatever the creator's account allows (those that depend on
    /// the creator's current options are preflight's job).
    ///
    /// # Errors
    /// The first broken rule, with its field path.
    pub fn validate(self) -> Result<Self, ValidationError> {
        self.content.validate()?;
        let is_photos = matches!(self.content, PostContent::Photos { .. });
        if is_photos && self.source == UploadSource::FileUpload {
            return Err(ValidationError::new(
                "source",
                ValidationProblem::Malformed {
                    expected: "pull_from_url (TikTok accepts photos only by URL)",
                },
            ));
        }
        if is_photos && (self.interactions.disable_duet || self.interactions.disable_stitch) {
            return Err(ValidationError::new(
                "interactions",
                ValidationProblem::Malformed {
                    expected: "no duet/stitch settings on photo posts",
                },
            ));
        }
        if self.auto_add_music && (!is_photos || self.mode != PostMode::Direct) {
            return Err(ValidationError::new(
                "auto_add_music",
                ValidationProblem::Malformed {
                    expected: "auto_add_music only on direct photo posts",
                },
            ));
        }
        if self.brand_content && self.privacy == PrivacyLevel::SelfOnly {
            return Err(ValidationError::new(
                "privacy_level",
                ValidationProblem::Conflict {
                    code: "branded_content_private",
                    rule: BRANDED_CONTENT_NOT_PRIVATE,
                },
            ));
        }
        Ok(self)
    }
}

/// When a post should go out: not in the past (beyond a small tolerance for clock skew between
/// the client and us) and not absurdly far ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScheduleTime(Timestamp);

impl ScheduleTime {
    /// How far in the past a requested time may be and still mean "now".
    pub const PAST_TOLERANCE: SignedDuration = SignedDuration::from_secs(5 * 60);
    /// How far ahead a post may be scheduled.
    pub const HORIZON: SignedDuration = SignedDuration::from_hours(24 * 366);

    /// Validates a requested publishing time against `now`.
    ///
    /// # Errors
    /// More than five minutes in the past, or more than a year ahead.
    pub fn new(at: Timestamp, now: Timestamp) -> Result<Self, ValidationError> {
        let ahead = at.duration_since(now);
        if ahead < -Self::PAST_TOLERANCE {
            return Err(ValidationError::new(
                "scheduled_at",
                ValidationProblem::Malformed {
                    expected: "a time that is not in the past",
                },
            ));
        }
        if ahead > Self::HORIZON {
            return Err(ValidationError::new(
                "scheduled_at",
                ValidationProblem::Malformed {
                    expected: "a time at most a year ahead",
                },
            ));
        }
        Ok(Self(at))
    }

    /// A time read back from storage (validated when it was scheduled).
    #[must_use]
    pub const fn from_stored(at: Timestamp) -> Self {
        Self(at)
    }

    /// The instant.
    #[must_use]
    pub const fn at(self) -> Timestamp {
        self.0
    }
}

/// A client-chosen key that makes post creation idempotent per workspace: creating twice with
/// the same key returns the first post.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Longest accepted key.
    pub const MAX_LEN: u64 = 255;

    /// Validates a key (1–255 printable ASCII characters).
    ///
    /// # Errors
    /// Empty, too long, or with non-printable or non-ASCII characters.
    pub fn new(key: impl Into<String>) -> Result<Self, ValidationError> {
        let key = key.into();
        if key.is_empty() {
            return Err(ValidationError::new(
                "idempotency_key",
                ValidationProblem::Missing,
            ));
        }
        let measured = key.len() as u64;
        if measured > Self::MAX_LEN {
            return Err(ValidationError::new(
                "idempotency_key",
                ValidationProblem::TooLong {
                    limit: Self::MAX_LEN,
                    measured,
                    unit: "bytes",
                },
            ));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "idempotency_key",
                ValidationProblem::Malformed {
                    expected: "printable ASCII without spaces",
                },
            ));
        }
        Ok(Self(key))
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = ValidationError;
    fn try_from(key: String) -> Result<Self, Self::Error> {
        Self::new(key)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> Self {
        key.0
    }
}

/// What TikTok has acknowledged so far for this post. Written before the first byte is sent so
/// a restarted worker resumes instead of publishing twice.
///
/// `Debug` never shows the upload URL (see [`PublishProgress::upload_url`]).
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PublishProgress {
    pub publish_id: Option<PublishId>,
    /// Where the bytes of a file upload go: a bearer capability (whoever holds it can upload
    /// into the creator's publish for an hour), so it is sealed at rest like a token and
    /// `Debug` prints `[REDACTED]` in its place.
    pub upload_url: Option<String>,
    /// When TikTok's upload URL stops working (one hour after init).
    pub upload_url_expires_at: Option<Timestamp>,
    /// Bytes TikTok has acknowledged; the next chunk starts here.
    pub uploaded_bytes: u64,
    /// Public post ids TikTok reported once moderation finished (may arrive late).
    pub public_post_ids: Vec<String>,
}

impl fmt::Debug for PublishProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field cannot be left out (or leak) unnoticed.
        let Self {
            publish_id,
            upload_url,
            upload_url_expires_at,
            uploaded_bytes,
            public_post_ids,
        } = self;
        f.debug_struct("PublishProgress")
            .field("publish_id", publish_id)
            .field("upload_url", &upload_url.as_ref().map(|_| "[REDACTED]"))
            .field("upload_url_expires_at", upload_url_expires_at)
            .field("uploaded_bytes", uploaded_bytes)
            .field("public_post_ids", public_post_ids)
            .finish()
    }
}

/// A stored post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub id: PostId,
    pub workspace_id: WorkspaceId,
    pub account_id: AccountId,
    pub spec: PostSpec,
    pub scheduled_at: ScheduleTime,
    pub idempotency_key: Option<IdempotencyKey>,
    pub state: PostState,
    pub progress: PublishProgress,
    /// Who wrote the post; `None` for posts written before tokpost recorded it.
    pub created_by: Option<crate::people::Principal>,
    /// The version of its content and time; an approval is of one revision.
    pub revision: crate::approval::Revision,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn media(n: usize) -> Vec<MediaId> {
        (0..n)
            .map(|_| MediaId::generate(at(1_767_225_600)))
            .collect()
    }

    fn photos(count: usize, cover_index: u32) -> PostSpec {
        PostSpec {
            content: PostContent::Photos {
                media: media(count),
                cover_index,
                title: PhotoTitle::new("t").unwrap(),
                description: PhotoDescription::new("d").unwrap(),
            },
            privacy: PrivacyLevel::SelfOnly,
            interactions: InteractionSettings::default(),
            brand_content: false,
            brand_organic: false,
            is_aigc: false,
            auto_add_music: false,
            mode: PostMode::Direct,
            source: UploadSource::PullFromUrl,
        }
    }

    #[rstest]
    #[case::one_photo(1, 0, None)]
    #[case::thirty_five_photos(35, 34, None)]
    #[case::no_photos(0, 0, Some("content.media"))]
    #[case::thirty_six_photos(36, 0, Some("content.media"))]
    #[case::cover_past_the_end(3, 3, Some("content.cover_index"))]
    fn photo_posts_hold_one_to_35_photos_and_a_cover_among_them(
        #[case] count: usize,
        #[case] cover: u32,
        #[case] rejected_field: Option<&str>,
    ) {
        let result = photos(count, cover).validate();
        assert_eq!(
            result.err().map(|e| e.field),
            rejected_field.map(String::from)
        );
    }

    #[test]
    fn photos_cannot_be_file_uploads() {
        let mut spec = photos(1, 0);
        spec.source = UploadSource::FileUpload;
        assert_eq!(spec.validate().unwrap_err().field, "source");
    }

    #[test]
    fn branded_content_cannot_be_private() {
        let mut spec = photos(1, 0);
        spec.brand_content = true;
        assert_eq!(spec.validate().unwrap_err().field, "privacy_level");
    }

    #[rstest]
    #[case::now(0, true)]
    #[case::a_minute_ago_counts_as_now(-60, true)]
    #[case::an_hour_ago(-3600, false)]
    #[case::next_month(30 * 86_400, true)]
    #[case::in_two_years(2 * 366 * 86_400, false)]
    fn a_schedule_time_is_neither_past_nor_beyond_a_year(#[case] offset: i64, #[case] ok: bool) {
        let now = at(1_767_225_600);
        assert_eq!(
            ScheduleTime::new(at(1_767_225_600 + offset), now).is_ok(),
            ok
        );
    }

    #[test]
    fn privacy_levels_round_trip_through_their_wire_names() {
        for level in PrivacyLevel::ALL {
            assert_eq!(PrivacyLevel::parse(level.as_str()).unwrap(), level);
            let json = serde_json::to_string(&level).unwrap();
            assert_eq!(json, format!("\"{}\"", level.as_str()));
        }
        assert!(PrivacyLevel::parse("public").is_err());
    }

    #[test]
    fn a_post_spec_without_privacy_does_not_deserialize() {
        let mut json = serde_json::to_value(photos(1, 0)).unwrap();
        json.as_object_mut().unwrap().remove("privacy");
        assert!(serde_json::from_value::<PostSpec>(json).is_err());
    }

    #[rstest]
    #[case("abc-123", true)]
    #[case("", false)]
    #[case("has space", false)]
    #[case("ünïcode", false)]
    fn idempotency_keys_are_printable_ascii(#[case] key: &str, #[case] ok: bool) {
        assert_eq!(IdempotencyKey::new(key).is_ok(), ok);
    }

    #[test]
    fn debug_of_a_post_shows_the_progress_but_never_the_upload_url() {
        let url = "https://open-upload.tiktokapis.com/video/?upload_id=1&upload_token=SECRET-7c1e";
        let post = Post {
            id: PostId::generate(at(1_767_225_600)),
            workspace_id: WorkspaceId::generate(at(1_767_225_600)),
            account_id: AccountId::generate(at(1_767_225_600)),
            spec: photos(1, 0),
            scheduled_at: ScheduleTime::from_stored(at(1_767_229_200)),
            idempotency_key: None,
            state: PostState::Initialized,
            progress: PublishProgress {
                publish_id: Some(PublishId::new("v_pub_file~v2.123").unwrap()),
                upload_url: Some(url.to_owned()),
                upload_url_expires_at: Some(at(1_767_228_800)),
                uploaded_bytes: 65_536,
                public_post_ids: Vec::new(),
            },
            created_at: at(1_767_225_600),
            created_by: None,
            revision: crate::approval::Revision::FIRST,
            updated_at: at(1_767_225_600),
        };
        let debug = format!("{post:?}");
        assert!(
            !debug.contains("SECRET") && !debug.contains("upload_id"),
            "{debug}"
        );
        assert!(
            debug.contains("upload_url: Some(\"[REDACTED]\")"),
            "{debug}"
        );
        assert!(
            debug.contains("v_pub_file~v2.123") && debug.contains("65536"),
            "{debug}"
        );
        let none = format!("{:?}", PublishProgress::default());
        assert!(none.contains("upload_url: None"), "{none}");
    }
}
