//! The failure catalog: every way TikTok (or the road to it) says no, as data in one place.
//!
//! Two layers (error-catalog.md): the 25 *published* patterns with their published category and
//! action ("Reconnect", "Fix input", "Retry later"), kept in the reference's own words; and
//! tokpost's finer decision for each entry: who acts, what the service does by itself, and the
//! retry policy. Codes TikTok documents beyond the 25 (publish ids, OAuth errors, fail reasons)
//! and failures that carry no TikTok code at all are here too, under stable tokpost-side ids:
//!
//! | id | when |
//! |---|---|
//! | `video_too_long` | published pattern 14 ("video duration"): longer than the creator may post; found by preflight |
//! | `file_too_large` | published pattern 15 ("file size"): over TikTok's size limit; found by preflight |
//! | `http_429` | published pattern 20: HTTP 429 without a usable `error.code` |
//! | `http_5xx` | any 5xx without a usable `error.code` (gateway errors) |
//! | `malformed_response` | a body that is not what the endpoint documents (not JSON, missing fields) |
//! | `transport_timeout` | the request did not finish within its timeout |
//! | `transport_connect` | no connection (DNS, TCP, TLS) |
//! | `transport_interrupted` | the connection dropped mid-request or mid-response |
//! | `upload_url_expired` | chunk `PUT` answered 403: the one-hour upload URL is dead |
//! | `upload_not_found` | chunk `PUT` answered 404: no upload task behind the URL |
//! | `upload_rejected` | chunk `PUT` answered 400: malformed headers or length mismatch |
//! | `upload_range_mismatch` | chunk `PUT` answered 416 and re-syncing did not help |
//!
//! This module only describes failures; it never performs IO and never decides by matching
//! message text. The CLI (`tokpost errors list|explain`) renders it; entries serialise to JSON.

use serde::Serialize;

/// The published category (the first seven) or tokpost's category for codes beyond the 25.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Category {
    /// Tokens and permissions.
    Authentication,
    /// Account restrictions and caps.
    Spam,
    /// The media itself.
    #[serde(rename = "Video Format")]
    VideoFormat,
    /// Getting the media to TikTok.
    Media,
    /// Request rate.
    #[serde(rename = "Rate Limit")]
    RateLimit,
    /// The app's standing with TikTok.
    #[serde(rename = "App Status")]
    AppStatus,
    /// TikTok's side, or a request TikTok could not take.
    Server,
    /// A publish's own life cycle (ids, cancel). Not a published category.
    Publish,
    /// The road to TikTok (timeouts, dropped connections). Not a published category.
    Network,
}

impl Category {
    /// The category in the reference's words.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Authentication => "Authentication",
            Self::Spam => "Spam",
            Self::VideoFormat => "Video Format",
            Self::Media => "Media",
            Self::RateLimit => "Rate Limit",
            Self::AppStatus => "App Status",
            Self::Server => "Server",
            Self::Publish => "Publish",
            Self::Network => "Network",
        }
    }
}

/// The published action vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Action {
    /// The account must be connected again.
    Reconnect,
    /// Something about the post, media or settings must change.
    #[serde(rename = "Fix input")]
    FixInput,
    /// Trying again later can work.
    #[serde(rename = "Retry later")]
    RetryLater,
}

impl Action {
    /// The action in the reference's words.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Reconnect => "Reconnect",
            Self::FixInput => "Fix input",
            Self::RetryLater => "Retry later",
        }
    }
}

/// Who must act for the failure to go away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhoActs {
    /// The tokpost user (reconnects, edits the post).
    User,
    /// The TikTok account holder, inside TikTok.
    Creator,
    /// Whoever runs the tokpost installation and its TikTok app.
    Operator,
    /// tokpost's developers: the request itself was wrong.
    Developer,
    /// Nobody: time fixes it (windows, TikTok recovering).
    Time,
    /// tokpost itself, automatically.
    Service,
}

impl WhoActs {
    /// A short human label.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Creator => "creator",
            Self::Operator => "operator",
            Self::Developer => "developer",
            Self::Time => "nobody (time)",
            Self::Service => "service",
        }
    }
}

/// Where a failure shows up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Occurrence {
    /// `error.code` of the v2 envelope.
    ApiError,
    /// `data.fail_reason` of status fetch, or a failure webhook's `reason`.
    FailReason,
    /// `error` of an OAuth answer or of the authorization callback.
    OauthError,
    /// Only an HTTP status (no usable code), or a malformed body.
    HttpStatus,
    /// No HTTP answer at all.
    Transport,
    /// Found by tokpost before TikTok is asked.
    Preflight,
}

/// The span of a rate window to wait out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryWindow {
    /// TikTok's per-token sliding minute.
    PerMinute,
    /// A rolling 24-hour cap.
    #[serde(rename = "rolling_24h")]
    Rolling24Hours,
}

/// When resending can succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum RetryPolicy {
    /// The same request fails the same way until someone changes something.
    Never,
    /// Resend once after refreshing the access token.
    AfterRefresh,
    /// Resend once the window has moved on.
    AfterWindow {
        /// The window to wait out.
        window: RetryWindow,
    },
    /// Transient: exponential back-off with jitter, inside a bounded retry budget.
    Backoff,
}

/// One catalog entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    /// Stable identifier: the canonical TikTok code, or a tokpost-side id (`http_429`).
    pub id: &'static str,
    /// Every spelling TikTok sends for this failure, aliases included. Empty for tokpost ids.
    pub codes: &'static [&'static str],
    /// Where it shows up.
    pub occurs: &'static [Occurrence],
    /// The number (1–25) in the published reference, if it is one of those patterns.
    pub published_pattern: Option<u8>,
    /// The category (published words for the 25).
    pub category: Category,
    /// The action (published words for the 25); `None` when nothing is left to do.
    pub action: Option<Action>,
    /// What it means, in one line.
    pub meaning: &'static str,
    /// Who must act, first actor first.
    pub who_acts: &'static [WhoActs],
    /// What tokpost does by itself.
    pub service_action: &'static str,
    /// One sentence for the user.
    pub how_to_fix: &'static str,
    /// When resending can succeed.
    pub retry: RetryPolicy,
}

impl CatalogEntry {
    /// Whether `code` is this entry's id or one of its TikTok spellings.
    #[must_use]
    pub fn answers_to(&self, code: &str) -> bool {
        self.id == code || self.codes.contains(&code)
    }
}

/// The classification of one failure: a catalog entry, or a code nobody documented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "entry", rename_all = "snake_case")]
pub enum Classification {
    /// A documented failure.
    Known(&'static CatalogEntry),
    /// A code (or answer) this catalog does not know. Kept verbatim on the failure; retried
    /// only within the transient budget, never more.
    Unknown,
}

impl Classification {
    /// The entry's id, or `unknown`.
    #[must_use]
    pub fn id(&self) -> &'static str {
        match self {
            Self::Known(entry) => entry.id,
            Self::Unknown => "unknown",
        }
    }

    /// The catalog entry, if known.
    #[must_use]
    pub fn entry(&self) -> Option<&'static CatalogEntry> {
        match self {
            Self::Known(entry) => Some(entry),
            Self::Unknown => None,
        }
    }

    /// The retry policy; unknown failures get bounded back-off (error-catalog.md).
    #[must_use]
    pub fn retry_policy(&self) -> RetryPolicy {
        match self {
            Self::Known(entry) => entry.retry,
            Self::Unknown => RetryPolicy::Backoff,
        }
    }

    /// Whether this is a transient failure worth retrying with back-off.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.retry_policy() == RetryPolicy::Backoff
    }
}

/// Stable tokpost-side ids for failures without a TikTok code.
pub mod ids {
    /// Published pattern 14: the video is longer than the creator may post.
    pub const VIDEO_TOO_LONG: &str = "video_too_long";
    /// Published pattern 15: the file is over TikTok's size limit.
    pub const FILE_TOO_LARGE: &str = "file_too_large";
    /// Published pattern 20: HTTP 429 without a usable code.
    pub const HTTP_429: &str = "http_429";
    /// A 5xx answer without a usable code.
    pub const HTTP_5XX: &str = "http_5xx";
    /// A body that is not what the endpoint documents.
    pub const MALFORMED_RESPONSE: &str = "malformed_response";
    /// The request timed out.
    pub const TRANSPORT_TIMEOUT: &str = "transport_timeout";
    /// No connection could be made (DNS, TCP, TLS).
    pub const TRANSPORT_CONNECT: &str = "transport_connect";
    /// The connection dropped mid-exchange.
    pub const TRANSPORT_INTERRUPTED: &str = "transport_interrupted";
    /// Chunk `PUT` 403: the upload URL expired.
    pub const UPLOAD_URL_EXPIRED: &str = "upload_url_expired";
    /// Chunk `PUT` 404: no upload task.
    pub const UPLOAD_NOT_FOUND: &str = "upload_not_found";
    /// Chunk `PUT` 400: malformed headers or length mismatch.
    pub const UPLOAD_REJECTED: &str = "upload_rejected";
    /// Chunk `PUT` 416 that re-syncing could not fix.
    pub const UPLOAD_RANGE_MISMATCH: &str = "upload_range_mismatch";
}

/// Finds an entry by its id or any TikTok spelling (`invalid_param`, `internal`, …).
#[must_use]
pub fn lookup(code: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|entry| entry.answers_to(code))
}

/// Classifies a code: its entry, or [`Classification::Unknown`].
#[must_use]
pub fn classify(code: &str) -> Classification {
    lookup(code).map_or(Classification::Unknown, Classification::Known)
}

/// The entries of the published reference, in its order (1–25).
pub fn published() -> impl Iterator<Item = &'static CatalogEntry> {
    (1..=25u8).filter_map(|n| CATALOG.iter().find(|e| e.published_pattern == Some(n)))
}

/// Classifies an entry that must exist because its id is a constant of this module.
pub(crate) fn known(id: &str) -> Classification {
    classify(id)
}

use Occurrence::{ApiError, FailReason, HttpStatus, OauthError, Preflight, Transport};
use WhoActs::{Creator, Developer, Operator, Service, Time, User};

const NEVER: RetryPolicy = RetryPolicy::Never;
const BACKOFF: RetryPolicy = RetryPolicy::Backoff;
const AFTER_DAY: RetryPolicy = RetryPolicy::AfterWindow {
    window: RetryWindow::Rolling24Hours,
};
const AFTER_MINUTE: RetryPolicy = RetryPolicy::AfterWindow {
    window: RetryWindow::PerMinute,
};

/// Every known failure. The published 25 first, in the reference's order.
pub static CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        id: "access_token_invalid",
        codes: &["access_token_invalid"],
        occurs: &[ApiError],
        published_pattern: Some(1),
        category: Category::Authentication,
        action: Some(Action::Reconnect),
        meaning: "token rejected (expired, revoked, malformed)",
        who_acts: &[Service, User],
        service_action: "refreshes the access token once (single-flight per account) and resends; if the refresh fails with invalid_grant the account is marked needs-reconnect",
        how_to_fix: "Usually nothing: tokpost refreshes the token; if it keeps failing, reconnect the TikTok account.",
        retry: RetryPolicy::AfterRefresh,
    },
    CatalogEntry {
        id: "scope_not_authorized",
        codes: &["scope_not_authorized"],
        occurs: &[ApiError],
        published_pattern: Some(2),
        category: Category::Authentication,
        action: Some(Action::Reconnect),
        meaning: "token lacks a scope this call needs",
        who_acts: &[User],
        service_action: "marks the account needs-reconnect naming the missing scope; never resends",
        how_to_fix: "Reconnect the TikTok account and grant every permission tokpost asks for (video.publish, video.upload).",
        retry: NEVER,
    },
    CatalogEntry {
        id: "scope_permission_missed",
        codes: &["scope_permission_missed"],
        occurs: &[ApiError],
        published_pattern: Some(3),
        category: Category::Authentication,
        action: Some(Action::Reconnect),
        meaning: "an extra permission is needed for the request",
        who_acts: &[User],
        service_action: "marks the account needs-reconnect naming the missing scope; never resends",
        how_to_fix: "Reconnect the TikTok account and grant the additional permission.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "spam_risk_user_banned_from_posting",
        codes: &["spam_risk_user_banned_from_posting"],
        occurs: &[ApiError, FailReason],
        published_pattern: Some(4),
        category: Category::Spam,
        action: Some(Action::FixInput),
        meaning: "the creator account is restricted from posting",
        who_acts: &[Creator],
        service_action: "stops posting for this account, flags it and tells the user",
        how_to_fix: "The creator must resolve the posting restriction with TikTok; nothing can be posted until then.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "spam_risk_text",
        codes: &["spam_risk_text"],
        occurs: &[FailReason],
        published_pattern: Some(5),
        category: Category::Spam,
        action: Some(Action::FixInput),
        meaning: "caption judged spammy (repetition, promo wording, links, hashtags)",
        who_acts: &[User],
        service_action: "never resends the same caption; marks the post failed and says what looked spammy",
        how_to_fix: "Rewrite the caption with fewer hashtags, links and mentions and no promotional or repeated wording.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "spam_risk_too_many_posts",
        codes: &["spam_risk_too_many_posts"],
        occurs: &[ApiError, FailReason],
        published_pattern: Some(6),
        category: Category::Spam,
        action: Some(Action::FixInput),
        meaning: "creator hit the daily posting cap (shared by all apps)",
        who_acts: &[Time],
        service_action: "records the creator's cap as reached and defers the post until the rolling 24 h window frees a slot",
        how_to_fix: "Wait: the account has used today's posting allowance, which every app shares; the post goes out when a slot frees.",
        retry: AFTER_DAY,
    },
    CatalogEntry {
        id: "spam_risk_too_many_pending_share",
        codes: &["spam_risk_too_many_pending_share"],
        occurs: &[ApiError],
        published_pattern: Some(7),
        category: Category::Spam,
        action: Some(Action::FixInput),
        meaning: "too many pending inbox shares for this user",
        who_acts: &[Creator, Time],
        service_action: "defers inbox posts until a pending share clears or the 24 h window passes",
        how_to_fix: "Open TikTok and post or delete the drafts waiting in the inbox.",
        retry: AFTER_DAY,
    },
    CatalogEntry {
        id: "spam_risk",
        codes: &["spam_risk"],
        occurs: &[FailReason],
        published_pattern: Some(8),
        category: Category::Spam,
        action: Some(Action::FixInput),
        meaning: "post blocked as risky or automated",
        who_acts: &[User],
        service_action: "never resends the same post; marks it failed",
        how_to_fix: "Change the post (caption, media, timing) so it does not look automated, then schedule it again.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "reached_active_user_cap",
        codes: &["reached_active_user_cap"],
        occurs: &[ApiError],
        published_pattern: Some(9),
        category: Category::Spam,
        action: Some(Action::FixInput),
        meaning: "the app hit its daily quota of active posting users",
        who_acts: &[Operator, Time],
        service_action: "stops starting new creators app-wide for the window; never disconnects the account",
        how_to_fix: "Wait for the next 24 h window, or ask TikTok for a larger active-user quota for the app.",
        retry: AFTER_DAY,
    },
    CatalogEntry {
        id: "file_format_check_failed",
        codes: &["file_format_check_failed"],
        occurs: &[FailReason],
        published_pattern: Some(10),
        category: Category::VideoFormat,
        action: Some(Action::FixInput),
        meaning: "container/codec not accepted",
        who_acts: &[User],
        service_action: "caught in preflight where the probe can tell; otherwise the post fails with this reason",
        how_to_fix: "Re-encode as MP4 with H.264 (WebM and MOV with H.264, H.265, VP8 or VP9 also work).",
        retry: NEVER,
    },
    CatalogEntry {
        id: "duration_check_failed",
        codes: &["duration_check_failed"],
        occurs: &[FailReason],
        published_pattern: Some(11),
        category: Category::VideoFormat,
        action: Some(Action::FixInput),
        meaning: "duration outside the limits",
        who_acts: &[User],
        service_action: "caught in preflight against the creator's maximum duration; otherwise the post fails",
        how_to_fix: "Trim the video to within the account's maximum duration (at most 10 minutes).",
        retry: NEVER,
    },
    CatalogEntry {
        id: "frame_rate_check_failed",
        codes: &["frame_rate_check_failed"],
        occurs: &[FailReason],
        published_pattern: Some(12),
        category: Category::VideoFormat,
        action: Some(Action::FixInput),
        meaning: "frame rate outside the limits",
        who_acts: &[User],
        service_action: "caught in preflight with the measured frame rate; otherwise the post fails",
        how_to_fix: "Re-encode the video at a frame rate between 23 and 60 fps.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "picture_size_check_failed",
        codes: &["picture_size_check_failed"],
        occurs: &[FailReason],
        published_pattern: Some(13),
        category: Category::VideoFormat,
        action: Some(Action::FixInput),
        meaning: "resolution too low or otherwise invalid",
        who_acts: &[User],
        service_action: "caught in preflight with the measured resolution; otherwise the post fails",
        how_to_fix: "Use a resolution with each side between 360 and 4096 px (photos at most 1080p).",
        retry: NEVER,
    },
    CatalogEntry {
        id: ids::VIDEO_TOO_LONG,
        codes: &[],
        occurs: &[Preflight],
        published_pattern: Some(14),
        category: Category::VideoFormat,
        action: Some(Action::FixInput),
        meaning: "video too long for the chosen publishing path (the \"video duration\" pattern)",
        who_acts: &[User],
        service_action: "refused in preflight with the measured duration and the creator's limit",
        how_to_fix: "Shorten the video or split it into parts.",
        retry: NEVER,
    },
    CatalogEntry {
        id: ids::FILE_TOO_LARGE,
        codes: &[],
        occurs: &[Preflight],
        published_pattern: Some(15),
        category: Category::VideoFormat,
        action: Some(Action::FixInput),
        meaning: "file over the size limit (the \"file size\" pattern)",
        who_acts: &[User],
        service_action: "refused in preflight with the measured size and the limit (4 GB video, 20 MB per photo)",
        how_to_fix: "Compress the file or lower its bitrate.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "video_pull_failed",
        codes: &["video_pull_failed"],
        occurs: &[FailReason],
        published_pattern: Some(16),
        category: Category::Media,
        action: Some(Action::RetryLater),
        meaning: "TikTok could not download the video URL",
        who_acts: &[Operator, Time],
        service_action: "retries with a fresh init while the URL is reachable, within the retry budget",
        how_to_fix: "Make sure the video URL is public https, does not redirect and serves the whole file within an hour.",
        retry: BACKOFF,
    },
    CatalogEntry {
        id: "photo_pull_failed",
        codes: &["photo_pull_failed"],
        occurs: &[FailReason],
        published_pattern: Some(17),
        category: Category::Media,
        action: Some(Action::RetryLater),
        meaning: "TikTok could not download a photo URL",
        who_acts: &[Operator, Time],
        service_action: "retries with a fresh init while the URLs are reachable, within the retry budget",
        how_to_fix: "Make sure every photo URL is public https, does not redirect and answers quickly.",
        retry: BACKOFF,
    },
    CatalogEntry {
        id: "invalid_file_upload",
        codes: &["invalid_file_upload"],
        occurs: &[ApiError],
        published_pattern: Some(18),
        category: Category::Media,
        action: Some(Action::FixInput),
        meaning: "uploaded file does not match TikTok's specs",
        who_acts: &[User],
        service_action: "marks the post failed; never resends the same file",
        how_to_fix: "Re-export the file so it matches TikTok's media requirements.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "rate_limit_exceeded",
        codes: &["rate_limit_exceeded"],
        occurs: &[ApiError],
        published_pattern: Some(19),
        category: Category::RateLimit,
        action: Some(Action::RetryLater),
        meaning: "per-token request limit hit",
        who_acts: &[Time],
        service_action: "waits out the per-token minute (at least 10 s for the init endpoints), then resends",
        how_to_fix: "Nothing: tokpost slows down and retries on its own.",
        retry: AFTER_MINUTE,
    },
    CatalogEntry {
        id: ids::HTTP_429,
        codes: &[],
        occurs: &[HttpStatus],
        published_pattern: Some(20),
        category: Category::RateLimit,
        action: Some(Action::RetryLater),
        meaning: "too many requests in a short window (HTTP 429 without a usable code)",
        who_acts: &[Time],
        service_action: "waits out the per-token minute, then resends",
        how_to_fix: "Nothing: tokpost slows down and retries on its own.",
        retry: AFTER_MINUTE,
    },
    CatalogEntry {
        id: "unaudited_client_can_only_post_to_private_accounts",
        codes: &["unaudited_client_can_only_post_to_private_accounts"],
        occurs: &[ApiError],
        published_pattern: Some(21),
        category: Category::AppStatus,
        action: Some(Action::FixInput),
        meaning: "app not audited: private accounts and SELF_ONLY only",
        who_acts: &[Operator],
        service_action: "caught in preflight when the app is configured as unaudited; otherwise the post fails",
        how_to_fix: "Until TikTok audits the app, post only as SELF_ONLY to private accounts, or get the app audited.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "url_ownership_unverified",
        codes: &["url_ownership_unverified"],
        occurs: &[ApiError],
        published_pattern: Some(22),
        category: Category::AppStatus,
        action: Some(Action::FixInput),
        meaning: "the pull URL's domain/prefix is not verified for the app",
        who_acts: &[Operator],
        service_action: "caught in preflight from the configured verified prefixes; otherwise the post fails",
        how_to_fix: "Verify the media URL's domain or prefix as a URL property of the app in TikTok's developer portal, or upload the file instead.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "privacy_level_option_mismatch",
        codes: &["privacy_level_option_mismatch"],
        occurs: &[ApiError],
        published_pattern: Some(23),
        category: Category::AppStatus,
        action: Some(Action::FixInput),
        meaning: "privacy level missing or not offered to this creator",
        who_acts: &[User],
        service_action: "re-queries creator info; never picks a privacy level on the user's behalf",
        how_to_fix: "Choose one of the privacy levels TikTok currently offers this account.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "internal_error",
        codes: &["internal_error", "internal"],
        occurs: &[ApiError, FailReason],
        published_pattern: Some(24),
        category: Category::Server,
        action: Some(Action::RetryLater),
        meaning: "TikTok-side failure; keep the raw response",
        who_acts: &[Time],
        service_action: "exponential back-off with jitter within the retry budget; resumes the same publish and never re-inits one that may exist",
        how_to_fix: "Nothing: tokpost retries; if it persists, report the log_id to TikTok.",
        retry: BACKOFF,
    },
    CatalogEntry {
        id: "invalid_params",
        codes: &["invalid_params", "invalid_param"],
        occurs: &[ApiError],
        published_pattern: Some(25),
        category: Category::Server,
        action: Some(Action::FixInput),
        meaning: "a request field is invalid; the message says which",
        who_acts: &[Developer],
        service_action: "logs TikTok's message and treats it as a bug in the request; never resends",
        how_to_fix: "Report it with TikTok's message: tokpost sent a field TikTok rejected.",
        retry: NEVER,
    },
    // ---- Codes the API documents beyond the 25 (tiktok-api.md §14, §15, §2.6) ----
    CatalogEntry {
        id: "invalid_publish_id",
        codes: &["invalid_publish_id"],
        occurs: &[ApiError],
        published_pattern: None,
        category: Category::Publish,
        action: Some(Action::FixInput),
        meaning: "TikTok knows no publish with this id",
        who_acts: &[Developer],
        service_action: "stops tracking the publish and marks the post failed",
        how_to_fix: "Schedule the post again; report it if it happens repeatedly.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "token_not_authorized_for_specified_publish_id",
        codes: &["token_not_authorized_for_specified_publish_id"],
        occurs: &[ApiError],
        published_pattern: None,
        category: Category::Publish,
        action: Some(Action::FixInput),
        meaning: "the publish belongs to another user or app",
        who_acts: &[Developer],
        service_action: "stops tracking the publish with this token; never resends",
        how_to_fix: "Check that the post is tracked under the TikTok account that created it.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "publish_not_cancellable",
        codes: &["publish_not_cancellable"],
        occurs: &[ApiError],
        published_pattern: None,
        category: Category::Publish,
        action: None,
        meaning: "the publish is already final and cannot be cancelled",
        who_acts: &[Service],
        service_action: "reads the publish status and records whatever final state it reached",
        how_to_fix: "Nothing to do: the post already finished; delete it in TikTok if it should not be there.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "app_version_check_failed",
        codes: &["app_version_check_failed"],
        occurs: &[ApiError],
        published_pattern: None,
        category: Category::Publish,
        action: Some(Action::FixInput),
        meaning: "the creator's TikTok app is older than 31.8, too old for inbox photo drafts",
        who_acts: &[Creator],
        service_action: "marks the post failed; it can be retried once the app is updated",
        how_to_fix: "Update the TikTok app on the phone to version 31.8 or newer, then retry the post.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "publish_cancelled",
        codes: &["publish_cancelled"],
        occurs: &[FailReason],
        published_pattern: None,
        category: Category::Publish,
        action: None,
        meaning: "the publish was cancelled through the cancel endpoint",
        who_acts: &[User],
        service_action: "records the post as cancelled (final)",
        how_to_fix: "Nothing to do; schedule the post again if the cancel was a mistake.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "auth_removed",
        codes: &["auth_removed"],
        occurs: &[FailReason],
        published_pattern: None,
        category: Category::Authentication,
        action: Some(Action::Reconnect),
        meaning: "the user removed the app's access during upload or processing",
        who_acts: &[User],
        service_action: "marks the account disconnected; its posts wait for a reconnect",
        how_to_fix: "Reconnect the TikTok account.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "invalid_grant",
        codes: &["invalid_grant"],
        occurs: &[OauthError],
        published_pattern: None,
        category: Category::Authentication,
        action: Some(Action::Reconnect),
        meaning: "the code or refresh token is expired, used, revoked or rotated away",
        who_acts: &[User],
        service_action: "marks the account needs-reconnect; its posts wait rather than fail",
        how_to_fix: "Reconnect the TikTok account (a password change or revoked access ends the old grant).",
        retry: NEVER,
    },
    CatalogEntry {
        id: "invalid_client",
        codes: &["invalid_client"],
        occurs: &[OauthError],
        published_pattern: None,
        category: Category::AppStatus,
        action: Some(Action::FixInput),
        meaning: "the client key or client secret is wrong",
        who_acts: &[Operator],
        service_action: "stops token calls for the app and reports the configuration error",
        how_to_fix: "Check the TikTok client key and client secret in tokpost's configuration.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "invalid_request",
        codes: &["invalid_request"],
        occurs: &[OauthError],
        published_pattern: None,
        category: Category::AppStatus,
        action: Some(Action::FixInput),
        meaning: "a parameter is missing or malformed (redirect URI mismatch, bad PKCE)",
        who_acts: &[Operator, Developer],
        service_action: "reports TikTok's description; never resends",
        how_to_fix: "Check that the redirect URI matches one registered for the app exactly, then connect again.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "invalid_scope",
        codes: &["invalid_scope"],
        occurs: &[OauthError],
        published_pattern: None,
        category: Category::AppStatus,
        action: Some(Action::FixInput),
        meaning: "a requested scope is unknown or not approved for the app",
        who_acts: &[Operator],
        service_action: "reports the scope problem; never resends",
        how_to_fix: "Request only scopes the app is approved for in TikTok's developer portal.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "access_denied",
        codes: &["access_denied"],
        occurs: &[OauthError],
        published_pattern: None,
        category: Category::Authentication,
        action: Some(Action::Reconnect),
        meaning: "the user refused or is not eligible on the consent page",
        who_acts: &[User],
        service_action: "leaves the account unconnected",
        how_to_fix: "Connect again and accept the permissions on TikTok's page.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "unauthorized_client",
        codes: &["unauthorized_client"],
        occurs: &[OauthError],
        published_pattern: None,
        category: Category::AppStatus,
        action: Some(Action::FixInput),
        meaning: "this grant is not allowed for the app",
        who_acts: &[Operator],
        service_action: "reports the configuration error; never resends",
        how_to_fix: "Enable Login Kit (and the needed products) for the app in TikTok's developer portal.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "unsupported_grant_type",
        codes: &["unsupported_grant_type", "unsupported_response_type"],
        occurs: &[OauthError],
        published_pattern: None,
        category: Category::AppStatus,
        action: Some(Action::FixInput),
        meaning: "wrong grant_type or response_type in the request",
        who_acts: &[Developer],
        service_action: "reports it as a bug in the request; never resends",
        how_to_fix: "Report it: tokpost sent an OAuth request TikTok does not support.",
        retry: NEVER,
    },
    CatalogEntry {
        id: "server_error",
        codes: &["server_error"],
        occurs: &[OauthError],
        published_pattern: None,
        category: Category::Server,
        action: Some(Action::RetryLater),
        meaning: "TikTok's OAuth service failed internally",
        who_acts: &[Time],
        service_action: "retries with exponential back-off within the retry budget",
        how_to_fix: "Nothing: tokpost retries; if it persists, report the log_id to TikTok.",
        retry: BACKOFF,
    },
    CatalogEntry {
        id: "temporarily_unavailable",
        codes: &["temporarily_unavailable"],
        occurs: &[OauthError],
        published_pattern: None,
        category: Category::Server,
        action: Some(Action::RetryLater),
        meaning: "TikTok's OAuth service is overloaded",
        who_acts: &[Time],
        service_action: "retries with exponential back-off within the retry budget",
        how_to_fix: "Nothing: tokpost retries later.",
        retry: BACKOFF,
    },
    // ---- Failures without a TikTok code (tokpost-side ids) ----
    CatalogEntry {
        id: ids::HTTP_5XX,
        codes: &[],
        occurs: &[HttpStatus],
        published_pattern: None,
        category: Category::Server,
        action: Some(Action::RetryLater),
        meaning: "TikTok or a gateway answered 5xx without a usable error code",
        who_acts: &[Time],
        service_action: "exponential back-off with jitter within the retry budget; never re-inits a publish that may exist",
        how_to_fix: "Nothing: tokpost retries; if it persists, TikTok may be having an outage.",
        retry: BACKOFF,
    },
    CatalogEntry {
        id: ids::MALFORMED_RESPONSE,
        codes: &[],
        occurs: &[HttpStatus],
        published_pattern: None,
        category: Category::Server,
        action: Some(Action::RetryLater),
        meaning: "the answer was not what the endpoint documents (not JSON, missing fields)",
        who_acts: &[Time, Developer],
        service_action: "keeps the raw body and retries within the transient budget",
        how_to_fix: "Nothing at first; if it persists, report the raw response: TikTok may have changed its API.",
        retry: BACKOFF,
    },
    CatalogEntry {
        id: ids::TRANSPORT_TIMEOUT,
        codes: &[],
        occurs: &[Transport],
        published_pattern: None,
        category: Category::Network,
        action: Some(Action::RetryLater),
        meaning: "the request did not finish within its timeout",
        who_acts: &[Time],
        service_action: "retries with back-off; checks status before re-sending anything that may have taken effect",
        how_to_fix: "Nothing: tokpost retries; check the network if it keeps happening.",
        retry: BACKOFF,
    },
    CatalogEntry {
        id: ids::TRANSPORT_CONNECT,
        codes: &[],
        occurs: &[Transport],
        published_pattern: None,
        category: Category::Network,
        action: Some(Action::RetryLater),
        meaning: "no connection to TikTok could be made (DNS, TCP or TLS)",
        who_acts: &[Time, Operator],
        service_action: "retries with back-off within the retry budget",
        how_to_fix: "Check the machine's network, DNS and CA certificates; tokpost retries meanwhile.",
        retry: BACKOFF,
    },
    CatalogEntry {
        id: ids::TRANSPORT_INTERRUPTED,
        codes: &[],
        occurs: &[Transport],
        published_pattern: None,
        category: Category::Network,
        action: Some(Action::RetryLater),
        meaning: "the connection dropped mid-request or mid-response",
        who_acts: &[Time],
        service_action: "retries the same request (uploads: the same chunk) with back-off",
        how_to_fix: "Nothing: tokpost retries; check the network if it keeps happening.",
        retry: BACKOFF,
    },
    CatalogEntry {
        id: ids::UPLOAD_URL_EXPIRED,
        codes: &[],
        occurs: &[HttpStatus],
        published_pattern: None,
        category: Category::Media,
        action: Some(Action::RetryLater),
        meaning: "the one-hour upload URL expired (chunk PUT answered 403)",
        who_acts: &[Service],
        service_action: "starts over with a new init, since nothing was published with the old one",
        how_to_fix: "Nothing: tokpost starts the upload again; a very slow connection may need a smaller file.",
        retry: NEVER,
    },
    CatalogEntry {
        id: ids::UPLOAD_NOT_FOUND,
        codes: &[],
        occurs: &[HttpStatus],
        published_pattern: None,
        category: Category::Media,
        action: Some(Action::RetryLater),
        meaning: "TikTok has no upload task behind this URL (chunk PUT answered 404)",
        who_acts: &[Service],
        service_action: "starts over with a new init",
        how_to_fix: "Nothing: tokpost starts the upload again.",
        retry: NEVER,
    },
    CatalogEntry {
        id: ids::UPLOAD_REJECTED,
        codes: &[],
        occurs: &[HttpStatus],
        published_pattern: None,
        category: Category::Media,
        action: Some(Action::FixInput),
        meaning: "TikTok rejected a chunk's headers or length (chunk PUT answered 400)",
        who_acts: &[Developer],
        service_action: "stops the upload and keeps the raw answer; never resends the same chunk",
        how_to_fix: "Report it: tokpost sent a chunk TikTok could not accept (the file may also have changed on disk).",
        retry: NEVER,
    },
    CatalogEntry {
        id: ids::UPLOAD_RANGE_MISMATCH,
        codes: &[],
        occurs: &[HttpStatus],
        published_pattern: None,
        category: Category::Media,
        action: Some(Action::RetryLater),
        meaning: "TikTok's upload progress disagrees with ours (416) and re-syncing did not help",
        who_acts: &[Service],
        service_action: "re-syncs from TikTok's progress header; after repeated mismatches starts over with a new init",
        how_to_fix: "Nothing: tokpost re-syncs or restarts the upload.",
        retry: BACKOFF,
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_and_codes_are_unique_across_the_catalog() {
        let mut seen = HashSet::new();
        for entry in CATALOG {
            assert!(seen.insert(entry.id), "duplicate id {}", entry.id);
            for code in entry.codes {
                if *code != entry.id {
                    assert!(seen.insert(code), "duplicate code {code}");
                }
            }
        }
    }

    #[test]
    fn every_entry_names_who_acts_and_where_it_occurs() {
        for entry in CATALOG {
            assert!(!entry.who_acts.is_empty(), "{}", entry.id);
            assert!(!entry.occurs.is_empty(), "{}", entry.id);
            assert!(!entry.meaning.is_empty() && !entry.how_to_fix.is_empty());
            if !entry.codes.is_empty() {
                assert!(
                    entry.codes.contains(&entry.id),
                    "{} not among its codes",
                    entry.id
                );
            }
        }
    }

    #[test]
    fn unknown_codes_classify_as_unknown_with_bounded_backoff() {
        let classification = classify("some_new_code_2027");
        assert_eq!(classification, Classification::Unknown);
        assert_eq!(classification.retry_policy(), RetryPolicy::Backoff);
        assert!(classification.is_transient());
    }
}
