//! The TikTok wire format, as typed values (tiktok-api.md §2–§9).
//!
//! Values here are parsed at the edge: enums for every closed set TikTok documents, newtypes for
//! ids and secrets, and an `Unknown` variant wherever TikTok is known to send undocumented
//! values. Nothing here talks to the network or decides what to do with an answer.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::upload::ChunkPlan;

macro_rules! secret_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a token received from TikTok or loaded from storage.
            #[must_use]
            pub fn new(token: impl Into<String>) -> Self {
                Self(SecretString::from(token.into()))
            }

            /// The token itself, for storing it encrypted or sending it to TikTok.
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }
    };
}

secret_newtype!(
    /// A user access token (`act.…`). `Debug` never shows it.
    AccessToken
);
secret_newtype!(
    /// A user refresh token (`rft.…`). `Debug` never shows it.
    RefreshToken
);

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id received from TikTok or loaded from storage.
            #[must_use]
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as TikTok spells it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_newtype!(
    /// A user's id scoped to this app.
    OpenId
);
id_newtype!(
    /// The id of one publish (`v_pub_file~v2-1.…`, `p_pub_url~v2.…`), at most 64 characters.
    PublishId
);

/// The upload URL TikTok hands out at init. It carries an upload token in its query string,
/// so `Debug` shows only scheme, host and path. It is used verbatim.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UploadUrl(Url);

impl UploadUrl {
    /// Wraps an upload URL (for example one stored before a crash).
    #[must_use]
    pub fn new(url: Url) -> Self {
        Self(url)
    }

    /// The full URL, query string included.
    #[must_use]
    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for UploadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UploadUrl({}://{}{}?[REDACTED])",
            self.0.scheme(),
            self.0.host_str().unwrap_or(""),
            self.0.path()
        )
    }
}

/// A public TikTok post id: a 19-digit number, larger than 2^53. Status fetch sends it as a
/// JSON number, webhooks as a JSON string; both are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PublicPostId(pub u64);

impl fmt::Display for PublicPostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for PublicPostId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberOrString;
        impl Visitor<'_> for NumberOrString {
            type Value = PublicPostId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative 64-bit post id, as a number or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(PublicPostId(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(PublicPostId)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.trim()
                    .parse()
                    .map(PublicPostId)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(NumberOrString)
    }
}

/// An OAuth scope. Unknown scopes are kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `user.info.basic`
    UserInfoBasic,
    /// `user.info.profile`
    UserInfoProfile,
    /// `user.info.stats`
    UserInfoStats,
    /// `video.list`
    VideoList,
    /// `video.publish`: Direct Post.
    VideoPublish,
    /// `video.upload`: inbox drafts.
    VideoUpload,
    /// Any scope this client does not know.
    Other(String),
}

impl Scope {
    /// The scope as TikTok spells it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::UserInfoBasic => "user.info.basic",
            Self::UserInfoProfile => "user.info.profile",
            Self::UserInfoStats => "user.info.stats",
            Self::VideoList => "video.list",
            Self::VideoPublish => "video.publish",
            Self::VideoUpload => "video.upload",
            Self::Other(other) => other,
        }
    }

    /// Parses one scope name.
    #[must_use]
    pub fn parse(name: &str) -> Self {
        match name {
            "user.info.basic" => Self::UserInfoBasic,
            "user.info.profile" => Self::UserInfoProfile,
            "user.info.stats" => Self::UserInfoStats,
            "video.list" => Self::VideoList,
            "video.publish" => Self::VideoPublish,
            "video.upload" => Self::VideoUpload,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Parses TikTok's comma-separated scope list (`scope` of the token answer, `scopes` of the
    /// callback). Blanks around names and empty items are ignored.
    #[must_use]
    pub fn parse_list(list: &str) -> Vec<Self> {
        list.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(Self::parse)
            .collect()
    }

    /// Joins scopes the way the consent page wants them: comma-separated, no spaces.
    #[must_use]
    pub fn join(scopes: &[Self]) -> String {
        scopes
            .iter()
            .map(Self::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may see a post. There is deliberately no default: the user must choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrivacyLevel {
    /// `PUBLIC_TO_EVERYONE` (public accounts only).
    PublicToEveryone,
    /// `MUTUAL_FOLLOW_FRIENDS`
    MutualFollowFriends,
    /// `FOLLOWER_OF_CREATOR` (private accounts only).
    FollowerOfCreator,
    /// `SELF_ONLY`
    SelfOnly,
}

impl PrivacyLevel {
    /// Every level, in the order the docs list them.
    pub const ALL: [Self; 4] = [
        Self::PublicToEveryone,
        Self::MutualFollowFriends,
        Self::FollowerOfCreator,
        Self::SelfOnly,
    ];

    /// The level as TikTok spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PublicToEveryone => "PUBLIC_TO_EVERYONE",
            Self::MutualFollowFriends => "MUTUAL_FOLLOW_FRIENDS",
            Self::FollowerOfCreator => "FOLLOWER_OF_CREATOR",
            Self::SelfOnly => "SELF_ONLY",
        }
    }

    /// Parses a level as TikTok spells it.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == value)
    }
}

/// How a photo post is delivered (`post_mode` of content init).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PostMode {
    /// Posted directly to the profile (`video.publish`).
    DirectPost,
    /// Sent to the user's inbox as a draft (`video.upload`).
    MediaUpload,
}

/// Where TikTok gets the media from (`source_info.source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Source {
    /// We `PUT` the bytes to `upload_url`.
    FileUpload,
    /// TikTok downloads from a verified URL.
    PullFromUrl,
}

/// The state of one publish (status fetch `data.status`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PublishStatus {
    /// `PROCESSING_UPLOAD`: upload in progress.
    ProcessingUpload,
    /// `PROCESSING_DOWNLOAD`: TikTok is pulling the media.
    ProcessingDownload,
    /// `SEND_TO_USER_INBOX`: the draft reached the inbox; the user has not posted it yet.
    SendToUserInbox,
    /// `PUBLISH_COMPLETE`: posted.
    PublishComplete,
    /// `FAILED`: see `fail_reason`.
    Failed,
    /// A status TikTok does not document (`PROCESSING_AUDIT` has been seen). Never final.
    Unknown(String),
}

impl PublishStatus {
    /// Parses a status as TikTok spells it.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        match value {
            "PROCESSING_UPLOAD" => Self::ProcessingUpload,
            "PROCESSING_DOWNLOAD" => Self::ProcessingDownload,
            "SEND_TO_USER_INBOX" => Self::SendToUserInbox,
            "PUBLISH_COMPLETE" => Self::PublishComplete,
            "FAILED" => Self::Failed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The status as TikTok spells it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::ProcessingUpload => "PROCESSING_UPLOAD",
            Self::ProcessingDownload => "PROCESSING_DOWNLOAD",
            Self::SendToUserInbox => "SEND_TO_USER_INBOX",
            Self::PublishComplete => "PUBLISH_COMPLETE",
            Self::Failed => "FAILED",
            Self::Unknown(other) => other,
        }
    }

    /// Whether TikTok will not change this status any more. `SEND_TO_USER_INBOX` is not final
    /// (the user may still post the draft) and unknown statuses never are.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(self, Self::PublishComplete | Self::Failed)
    }
}

impl<'de> Deserialize<'de> for PublishStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self::parse(&s))
    }
}

/// What the token endpoint granted (authorization code or refresh).
///
/// Lifetimes are TikTok's seconds, as durations: the caller turns them into instants with its
/// own clock. Nothing here assumes 24 h or 2 h.
#[derive(Clone, Debug)]
pub struct TokenGrant {
    /// The bearer token for API calls.
    pub access_token: AccessToken,
    /// How long `access_token` stays valid from now (`expires_in`).
    pub expires_in: Duration,
    /// The refresh token. May differ from the one sent (rotation): always store this one.
    pub refresh_token: RefreshToken,
    /// How long `refresh_token` stays valid from now (`refresh_expires_in`).
    pub refresh_expires_in: Duration,
    /// The user, scoped to this app.
    pub open_id: OpenId,
    /// The scopes actually granted, which may be fewer than requested.
    pub scopes: Vec<Scope>,
}

impl TokenGrant {
    /// Whether the user granted `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &Scope) -> bool {
        self.scopes.contains(scope)
    }
}

/// The token endpoint's success body, exactly as sent.
#[derive(Deserialize)]
pub(crate) struct TokenGrantWire {
    pub(crate) access_token: String,
    pub(crate) expires_in: u64,
    pub(crate) open_id: String,
    pub(crate) refresh_expires_in: u64,
    pub(crate) refresh_token: String,
    #[serde(default)]
    pub(crate) scope: String,
}

impl From<TokenGrantWire> for TokenGrant {
    fn from(wire: TokenGrantWire) -> Self {
        Self {
            access_token: AccessToken::new(wire.access_token),
            expires_in: Duration::from_secs(wire.expires_in),
            refresh_token: RefreshToken::new(wire.refresh_token),
            refresh_expires_in: Duration::from_secs(wire.refresh_expires_in),
            open_id: OpenId::new(wire.open_id),
            scopes: Scope::parse_list(&wire.scope),
        }
    }
}

/// The creator's current posting options (creator info `data`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CreatorInfo {
    /// Avatar URL, valid for about two hours.
    #[serde(default)]
    pub creator_avatar_url: String,
    /// The handle.
    #[serde(default)]
    pub creator_username: String,
    /// The nickname the posting UI must show.
    #[serde(default)]
    pub creator_nickname: String,
    /// The levels this creator may use now, in TikTok's order. Levels this client does not
    /// know are kept in [`CreatorInfo::unrecognised_privacy_options`] instead.
    #[serde(default, deserialize_with = "known_privacy_levels")]
    pub privacy_level_options: Vec<PrivacyLevel>,
    /// Raw option values that are not one of the four documented levels.
    #[serde(skip)]
    pub unrecognised_privacy_options: Vec<String>,
    /// Comments are off for this creator.
    #[serde(default)]
    pub comment_disabled: bool,
    /// Duets are off (private account or setting).
    #[serde(default)]
    pub duet_disabled: bool,
    /// Stitches are off (private account or setting).
    #[serde(default)]
    pub stitch_disabled: bool,
    /// The longest video this creator may post, in seconds; `None` if TikTok left it out.
    #[serde(default)]
    pub max_video_post_duration_sec: Option<u32>,
}

impl CreatorInfo {
    /// Decodes creator info, keeping unknown privacy options aside instead of failing.
    pub(crate) fn from_data(data: serde_json::Value) -> Result<Self, serde_json::Error> {
        let raw_options: Vec<String> = data
            .get("privacy_level_options")
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut info: Self = serde_json::from_value(data)?;
        info.unrecognised_privacy_options = raw_options
            .into_iter()
            .filter(|option| PrivacyLevel::parse(option).is_none())
            .collect();
        Ok(info)
    }

    /// Whether `level` is offered to this creator right now.
    #[must_use]
    pub fn offers(&self, level: PrivacyLevel) -> bool {
        self.privacy_level_options.contains(&level)
    }
}

fn known_privacy_levels<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<PrivacyLevel>, D::Error> {
    let raw = Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(raw
        .iter()
        .filter_map(|value| PrivacyLevel::parse(value))
        .collect())
}

/// `post_info` of a Direct Post video init (tiktok-api.md §4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VideoPostInfo {
    /// Required, and must be one of the creator's current options.
    pub privacy_level: PrivacyLevel,
    /// The caption (max 2200 UTF-16 units; checked by the caller's preflight).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Forbid duets.
    pub disable_duet: bool,
    /// Forbid stitches.
    pub disable_stitch: bool,
    /// Forbid comments.
    pub disable_comment: bool,
    /// Frame used as cover, in milliseconds; first frame when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_cover_timestamp_ms: Option<u32>,
    /// Paid partnership. Always sent (documented as required), `false` unless chosen.
    pub brand_content_toggle: bool,
    /// Promotes the creator's own business.
    pub brand_organic_toggle: bool,
    /// AI-generated content label. Sent only when set, as older servers may not know it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_aigc: bool,
}

impl VideoPostInfo {
    /// Post info with the given privacy, no caption and every toggle off.
    #[must_use]
    pub fn new(privacy_level: PrivacyLevel) -> Self {
        Self {
            privacy_level,
            title: None,
            disable_duet: false,
            disable_stitch: false,
            disable_comment: false,
            video_cover_timestamp_ms: None,
            brand_content_toggle: false,
            brand_organic_toggle: false,
            is_aigc: false,
        }
    }
}

/// Where a video comes from (`source_info` of video and inbox init).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoSource {
    /// We upload the file in the chunks of this plan.
    FileUpload(ChunkPlan),
    /// TikTok pulls the video from this URL (on a verified domain or prefix).
    PullFromUrl(Url),
}

impl Serialize for VideoSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct FileUploadWire {
            source: Source,
            video_size: u64,
            chunk_size: u64,
            total_chunk_count: u64,
        }
        #[derive(Serialize)]
        struct PullWire<'a> {
            source: Source,
            video_url: &'a str,
        }
        match self {
            Self::FileUpload(plan) => FileUploadWire {
                source: Source::FileUpload,
                video_size: plan.video_size(),
                chunk_size: plan.chunk_size(),
                total_chunk_count: plan.total_chunk_count(),
            }
            .serialize(serializer),
            Self::PullFromUrl(url) => PullWire {
                source: Source::PullFromUrl,
                video_url: url.as_str(),
            }
            .serialize(serializer),
        }
    }
}

/// The body of `POST /v2/post/publish/video/init/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectVideoInit {
    /// Caption, privacy and toggles.
    pub post_info: VideoPostInfo,
    /// Upload or pull.
    pub source_info: VideoSource,
}

/// The body of `POST /v2/post/publish/inbox/video/init/`: only the source is documented.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InboxVideoInit {
    /// Upload or pull.
    pub source_info: VideoSource,
}

/// The settings only a Direct Post photo carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectPhotoSettings {
    /// Required for Direct Post.
    pub privacy_level: PrivacyLevel,
    /// Forbid comments.
    pub disable_comment: bool,
    /// Let TikTok add recommended music.
    pub auto_add_music: bool,
    /// Paid partnership (always sent).
    pub brand_content_toggle: bool,
    /// Own business (always sent).
    pub brand_organic_toggle: bool,
}

/// How a photo post is delivered, with the settings that mode allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhotoMode {
    /// `DIRECT_POST` with its settings.
    DirectPost(DirectPhotoSettings),
    /// `MEDIA_UPLOAD`: an inbox draft; the user sets privacy in the app.
    MediaUpload,
}

/// The body of `POST /v2/post/publish/content/init/` for photos (tiktok-api.md §7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoInit {
    /// Direct or inbox, with the mode's settings.
    pub mode: PhotoMode,
    /// Title, at most 90 UTF-16 units.
    pub title: Option<String>,
    /// Description, at most 4000 UTF-16 units; hashtags go here.
    pub description: Option<String>,
    /// Up to 35 https URLs on verified domains or prefixes.
    pub photo_images: Vec<Url>,
    /// 0-based index of the cover in `photo_images`.
    pub photo_cover_index: u32,
}

impl Serialize for PhotoInit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct PostInfoWire<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            title: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            description: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            privacy_level: Option<PrivacyLevel>,
            #[serde(skip_serializing_if = "Option::is_none")]
            disable_comment: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            auto_add_music: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            brand_content_toggle: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            brand_organic_toggle: Option<bool>,
        }
        #[derive(Serialize)]
        struct SourceInfoWire<'a> {
            source: Source,
            photo_images: Vec<&'a str>,
            photo_cover_index: u32,
        }
        #[derive(Serialize)]
        struct PhotoInitWire<'a> {
            media_type: &'static str,
            post_mode: PostMode,
            post_info: PostInfoWire<'a>,
            source_info: SourceInfoWire<'a>,
        }
        let direct = match &self.mode {
            PhotoMode::DirectPost(settings) => Some(settings),
            PhotoMode::MediaUpload => None,
        };
        PhotoInitWire {
            media_type: "PHOTO",
            post_mode: if direct.is_some() {
                PostMode::DirectPost
            } else {
                PostMode::MediaUpload
            },
            post_info: PostInfoWire {
                title: self.title.as_deref(),
                description: self.description.as_deref(),
                privacy_level: direct.map(|d| d.privacy_level),
                disable_comment: direct.map(|d| d.disable_comment),
                auto_add_music: direct.map(|d| d.auto_add_music),
                brand_content_toggle: direct.map(|d| d.brand_content_toggle),
                brand_organic_toggle: direct.map(|d| d.brand_organic_toggle),
            },
            source_info: SourceInfoWire {
                source: Source::PullFromUrl,
                photo_images: self.photo_images.iter().map(Url::as_str).collect(),
                photo_cover_index: self.photo_cover_index,
            },
        }
        .serialize(serializer)
    }
}

/// What an init answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishInit {
    /// Store this before uploading a byte: it is how a restarted worker finds the publish.
    pub publish_id: PublishId,
    /// Present for `FILE_UPLOAD`; valid for one hour.
    pub upload_url: Option<UploadUrl>,
}

#[derive(Deserialize)]
pub(crate) struct PublishInitWire {
    pub(crate) publish_id: PublishId,
    #[serde(default)]
    pub(crate) upload_url: Option<Url>,
}

/// What status fetch answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishStatusReport {
    /// The state; unknown values are kept and never final.
    pub status: PublishStatus,
    /// Set when `FAILED`; see [`crate::failure::TikTokFailure::from_fail_reason`].
    pub fail_reason: Option<String>,
    /// Public post ids (several for an inbox draft posted more than once); often late, and
    /// never for private posts.
    pub public_post_ids: Vec<PublicPostId>,
    /// Bytes received so far (file upload).
    pub uploaded_bytes: Option<u64>,
    /// Bytes pulled so far (pull from URL).
    pub downloaded_bytes: Option<u64>,
    /// The response body, verbatim, for support and for turning a failure into a
    /// [`crate::failure::TikTokFailure`].
    pub raw_body: String,
}

#[derive(Deserialize)]
pub(crate) struct PublishStatusWire {
    pub(crate) status: PublishStatus,
    #[serde(default)]
    pub(crate) fail_reason: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(crate) publicaly_available_post_id: Vec<PublicPostId>,
    #[serde(default)]
    pub(crate) uploaded_bytes: Option<u64>,
    #[serde(default)]
    pub(crate) downloaded_bytes: Option<u64>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<PublicPostId>, D::Error> {
    Ok(Option::<Vec<PublicPostId>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_post_ids_above_two_to_the_53_survive_as_number_and_as_string() {
        let from_number: PublicPostId = serde_json::from_str("7678907398077074696").unwrap();
        let from_string: PublicPostId = serde_json::from_str("\"7602997517160123666\"").unwrap();
        assert_eq!(from_number, PublicPostId(7_678_907_398_077_074_696));
        assert_eq!(from_string, PublicPostId(7_602_997_517_160_123_666));
        assert!(serde_json::from_str::<PublicPostId>("-1").is_err());
        assert!(serde_json::from_str::<PublicPostId>("\"abc\"").is_err());
    }

    #[test]
    fn scope_lists_are_comma_separated_and_unknown_scopes_are_kept() {
        let scopes = Scope::parse_list("user.info.basic, video.publish,,research.data");
        assert_eq!(
            scopes,
            vec![
                Scope::UserInfoBasic,
                Scope::VideoPublish,
                Scope::Other("research.data".into())
            ]
        );
        assert_eq!(
            Scope::join(&scopes),
            "user.info.basic,video.publish,research.data"
        );
    }

    #[test]
    fn unknown_statuses_are_kept_and_never_final() {
        let status: PublishStatus = serde_json::from_str("\"PROCESSING_AUDIT\"").unwrap();
        assert_eq!(status, PublishStatus::Unknown("PROCESSING_AUDIT".into()));
        assert!(!status.is_final());
        assert!(PublishStatus::Failed.is_final());
        assert!(PublishStatus::PublishComplete.is_final());
        assert!(!PublishStatus::SendToUserInbox.is_final());
    }

    #[test]
    fn upload_url_debug_hides_the_upload_token() {
        let url = UploadUrl::new(
            Url::parse("https://open-upload.tiktokapis.com/video/?upload_id=1&upload_token=SECRET")
                .unwrap(),
        );
        let shown = format!("{url:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("open-upload.tiktokapis.com/video/"),
            "{shown}"
        );
    }
}
