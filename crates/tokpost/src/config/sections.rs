//! The tables of the configuration below its top level (`[http]`, `[tiktok]`, `[insights]`, …):
//! each with its meaning, its defaults where it has its own, and the settings it hands to the
//! crate that uses it.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use url::Url;

use super::{ConfigError, Secret, absolute_http_url};

/// The organisation's OpenID Connect provider people may sign in with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The issuer exactly as the provider names itself (`https://login.example.com/realms/acme`).
    /// Empty: no single sign-on.
    pub issuer: String,
    /// The client id registered at the provider, whose redirect URI is
    /// `<public_base_url>sign-in/oidc/callback`.
    pub client_id: String,
    /// The client's secret. Secret: redacted when printed.
    pub client_secret: Secret,
    /// The sign-in button's words.
    pub label: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            label: "Sign in with single sign-on".to_owned(),
        }
    }
}

impl OidcConfig {
    /// The provider, when one is configured.
    ///
    /// # Errors
    /// An issuer that is not an http(s) URL, or one set without its client id and secret.
    pub fn provider(
        &self,
        public_base_url: &Url,
    ) -> Result<Option<tokpost_api::people::oidc::Oidc>, ConfigError> {
        let issuer = self.issuer.trim();
        if issuer.is_empty() {
            if !self.client_id.trim().is_empty() || self.client_secret.is_set() {
                return Err(ConfigError::Inconsistent {
                    field: "oidc.issuer",
                    problem: "a client id or secret is set without the issuer".to_owned(),
                });
            }
            return Ok(None);
        }
        absolute_http_url("oidc.issuer", issuer)?;
        let Some(secret) = self.client_secret.get() else {
            return Err(ConfigError::Inconsistent {
                field: "oidc.client_secret",
                problem: "the issuer is set: its client secret must be too".to_owned(),
            });
        };
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::Inconsistent {
                field: "oidc.client_id",
                problem: "the issuer is set: its client id must be too".to_owned(),
            });
        }
        let label = if self.label.trim().is_empty() {
            OidcConfig::default().label
        } else {
            self.label.trim().to_owned()
        };
        tokpost_api::people::oidc::Oidc::new(
            tokpost_api::people::oidc::OidcSettings {
                issuer: issuer.to_owned(),
                client_id: self.client_id.trim().to_owned(),
                client_secret: secret.clone(),
                label,
            },
            public_base_url,
        )
        .map(Some)
        .map_err(|problem| ConfigError::Inconsistent {
            field: "oidc",
            problem,
        })
    }
}

/// The SMTP server email goes out through.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// `smtp://host:25`, `smtp://user:password@host:587?tls=required` (STARTTLS) or
    /// `smtps://user:password@host:465`. Secret (it may carry a password). Empty: no email;
    /// links are shown to whoever makes them instead.
    pub smtp_url: Secret,
    /// The sender: `tokpost <tokpost@example.com>` or a bare address.
    pub from: String,
}

impl EmailConfig {
    /// The mailer, when an SMTP server is configured.
    ///
    /// # Errors
    /// A URL or sender that cannot be used.
    pub fn mailer(&self) -> Result<Option<tokpost_pipeline::mail::Mailer>, ConfigError> {
        let Some(url) = self.smtp_url.get() else {
            return Ok(None);
        };
        let settings = tokpost_pipeline::mail::MailSettings {
            smtp_url: url.clone(),
            from: if self.from.trim().is_empty() {
                "tokpost <tokpost@localhost>".to_owned()
            } else {
                self.from.trim().to_owned()
            },
        };
        tokpost_pipeline::mail::Mailer::new(&settings)
            .map(Some)
            .map_err(|error| ConfigError::Inconsistent {
                field: "email",
                problem: error.to_string(),
            })
    }
}

/// Where uploaded media are kept (every process of one installation must agree), and the
/// signed URLs TikTok pulls uploaded media from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// `local` (a directory: one machine, or a mount all share) or `s3` (S3-compatible object
    /// storage, for several machines).
    pub backend: MediaBackend,
    /// The directory of the `local` backend; empty means `<data_dir>/media`.
    pub dir: String,
    /// The https prefix (verified for the app with TikTok) under which `tokpost serve` answers
    /// signed pull URLs at `/media/pull/`, directly or behind a reverse proxy. Empty: uploaded
    /// media go to TikTok by FILE_UPLOAD only (photos, which TikTok only pulls, must then be
    /// registered by URL).
    pub pull_base_url: String,
    /// How long a signed pull URL stays valid, in seconds (TikTok may download for an hour).
    pub pull_url_lifetime_secs: u64,
    /// The secret that signs pull URLs (at least 32 characters). Empty: generated on first start
    /// into `<data_dir>/media-signing.key` (mode 0600). Every process of an installation must
    /// use the same one: workers sign, `tokpost serve` checks.
    pub signing_key: Secret,
    /// The `s3` backend's bucket.
    pub s3: S3Settings,
}

/// The media store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaBackend {
    Local,
    S3,
}

/// An S3-compatible bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The endpoint URL (`https://s3.eu-central-1.amazonaws.com`, a MinIO or R2 address).
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// A folder inside the bucket every object lives under; empty: the bucket's root.
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Allow a plain `http://` endpoint (a private network); off by default.
    pub allow_http: bool,
    /// Size of every multipart part but the last, in bytes (at least 5 MiB).
    pub part_size_bytes: usize,
    /// Parts uploading at once (memory per upload: about part size × (this + 1)).
    pub parts_in_flight: usize,
}

/// The HTTP API and dashboard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address the API and dashboard listen on.
    pub listen: SocketAddr,
    /// The URL users and TikTok reach tokpost at; the OAuth redirect URI and links are built
    /// from it. Empty means `http://<listen>/`.
    pub public_base_url: String,
    /// The largest media upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Requests served at once; one more is answered 503 `overloaded` at once.
    pub max_requests_in_flight: usize,
    /// The longest a request may take, in seconds (uploads, imports and media transfers take
    /// as long as their bytes).
    pub request_timeout_secs: u64,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>`. Secret: redacted when
    /// printed.
    pub metrics_token: Secret,
}

impl HttpConfig {
    /// The request limits of the process.
    #[must_use]
    pub fn limits(&self) -> tokpost_api::limits::Limits {
        tokpost_api::limits::Limits {
            max_in_flight: self.max_requests_in_flight,
            timeout: std::time::Duration::from_secs(self.request_timeout_secs),
        }
    }
}

/// The TikTok app tokpost acts as.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TikTokSettings {
    /// The app's client key. Empty (with an empty secret) runs against the built-in sandbox.
    pub client_key: String,
    /// The app's client secret.
    pub client_secret: Secret,
    /// The redirect URI registered for the app; empty means
    /// `<public_base_url>v1/oauth/tiktok/callback`.
    pub redirect_uri: String,
    /// Base URL of the Content Posting and OAuth API (TikTok's, a TikTok-compatible server's,
    /// or the sandbox's).
    pub api_base_url: String,
    /// Base URL of the authorization (consent) page.
    pub authorize_base_url: String,
    /// Whether TikTok has audited the app. Unaudited apps may post only `SELF_ONLY` to
    /// private accounts, and for at most 5 creators a day.
    pub audited: bool,
    /// Whether the app is registered as a desktop app (TikTok then requires PKCE with its hex
    /// S256 challenge).
    pub desktop_app: bool,
    /// URL prefixes verified for the app in TikTok's developer portal; PULL_FROM_URL media must
    /// start with one of them.
    pub verified_url_prefixes: Vec<String>,
    /// Posts per creator per rolling 24 h before TikTok says `spam_risk_too_many_posts`
    /// ("typically around 15", shared by every app); lowered per creator when TikTok says so
    /// earlier.
    pub daily_post_cap: u32,
    /// Whole-request timeout for API calls, in seconds.
    pub request_timeout_secs: u64,
    /// Scopes asked for beside posting's, for insights: any of `user.info.profile`,
    /// `user.info.stats`, `video.list`. Empty when the TikTok app may not ask for them (an
    /// app TikTok has not granted a scope fails every connect with `invalid_scope`).
    pub insight_scopes: Vec<String>,
}

/// The longest `publishing.prepare_ahead_secs`.
pub(super) const MAX_PREPARE_AHEAD_SECS: u64 = 3_600;

/// Publishing policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishingConfig {
    /// A post that fell due while tokpost was down is still published if it is at most this
    /// late, in seconds; later than that it is marked `missed` and the user is told.
    pub late_grace_secs: u64,
    /// How many seconds before its time a post is prepared (preflight, token, creator info), so
    /// that at its time only the init is left and a problem shows ahead; 0 prepares nothing
    /// ahead. At most an hour: creator info older than that is not worth checking against.
    pub prepare_ahead_secs: u64,
    /// Seconds from init (or the end of the upload) to the first status check. Later checks
    /// wait half the time TikTok has been processing, between this and the maximum.
    pub status_check_first_secs: u64,
    /// The longest gap between two status checks of a post TikTok is still processing or
    /// moderating, in seconds.
    pub status_check_max_secs: u64,
}

/// Outbound webhooks and alerts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Address ranges (CIDR, e.g. `10.20.0.0/16` or `127.0.0.1/32`) inside the operator's
    /// network that webhook endpoints may reach. Empty (the default): public addresses only,
    /// since any workspace can register an endpoint.
    pub allow_internal: Vec<String>,
    /// The hour (0–23, in `digest_time_zone`) at which yesterday's daily digest goes out.
    pub digest_hour: u8,
    /// The time zone (IANA name, `Europe/Berlin`) whose calendar days digests cover.
    pub digest_time_zone: String,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_internal: Vec::new(),
            digest_hour: 8,
            digest_time_zone: "UTC".to_owned(),
        }
    }
}

impl WebhooksConfig {
    /// When the daily digest goes out.
    ///
    /// # Errors
    /// An hour past 23 or a time zone jiff does not know.
    pub fn digest(
        &self,
    ) -> Result<tokpost_pipeline::webhooks::digest::DigestSettings, ConfigError> {
        let hour = i8::try_from(self.digest_hour)
            .ok()
            .filter(|hour| (0..24).contains(hour))
            .ok_or_else(|| ConfigError::Inconsistent {
                field: "webhooks.digest_hour",
                problem: format!(
                    "must be an hour from 0 to 23 (measured {})",
                    self.digest_hour
                ),
            })?;
        let time_zone = jiff::tz::TimeZone::get(self.digest_time_zone.trim()).map_err(|_| {
            ConfigError::Inconsistent {
                field: "webhooks.digest_time_zone",
                problem: format!(
                    "`{}` is not a time zone name like UTC or Europe/Berlin",
                    self.digest_time_zone
                ),
            }
        })?;
        Ok(tokpost_pipeline::webhooks::digest::DigestSettings { time_zone, hour })
    }

    /// What the formats for people need: links on `public_base_url`, email through `mailer`.
    ///
    /// # Errors
    /// See [`Self::digest`].
    pub fn messages(
        &self,
        public_base_url: url::Url,
        mailer: Option<tokpost_pipeline::mail::Mailer>,
    ) -> Result<tokpost_pipeline::webhooks::MessageSettings, ConfigError> {
        Ok(tokpost_pipeline::webhooks::MessageSettings {
            public_base_url,
            mailer,
            digest: self.digest()?,
        })
    }

    /// Where outbound webhooks may go.
    ///
    /// # Errors
    /// A range that is not CIDR (validation refuses it first).
    pub fn address_policy(
        &self,
    ) -> Result<tokpost_pipeline::webhooks::address::AddressPolicy, ConfigError> {
        let ranges = self
            .allow_internal
            .iter()
            .map(|range| {
                range
                    .trim()
                    .parse()
                    .map_err(|error| ConfigError::Inconsistent {
                        field: "webhooks.allow_internal",
                        problem: format!(
                            "`{range}` is not an address range like 10.0.0.0/8 ({error})"
                        ),
                    })
            })
            .collect::<Result<Vec<ipnet::IpNet>, ConfigError>>()?;
        Ok(tokpost_pipeline::webhooks::address::AddressPolicy::allowing(ranges))
    }
}

/// The background workers of this process (`tokpost serve` and `tokpost worker`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    /// Concurrent workers in this process; each serves up to 8 creator accounts at a time.
    pub count: usize,
    /// How long a claimed job stays with its worker without a heartbeat, in seconds; a worker
    /// that dies loses its jobs to the others after this long.
    pub lease_secs: u64,
    /// How often a running job's lease is extended, in seconds (well below `lease_secs`).
    pub heartbeat_secs: u64,
    /// The first retry delay after a transient failure, in seconds; it doubles per attempt.
    pub retry_first_backoff_secs: u64,
    /// The longest retry delay, in seconds.
    pub retry_max_backoff_secs: u64,
}

impl WorkersConfig {
    /// The worker loop's settings.
    #[must_use]
    pub fn settings(&self) -> tokpost_pipeline::WorkerSettings {
        tokpost_pipeline::WorkerSettings {
            lease: std::time::Duration::from_secs(self.lease_secs),
            heartbeat_every: std::time::Duration::from_secs(self.heartbeat_secs),
            first_backoff: std::time::Duration::from_secs(self.retry_first_backoff_secs),
            max_backoff: std::time::Duration::from_secs(self.retry_max_backoff_secs),
            ..tokpost_pipeline::WorkerSettings::default()
        }
    }
}

/// Insights: how TikTok's counts are read and how long tokpost keeps them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsightsConfig {
    /// Days each post's series and each creator's counts are kept (a post is followed for its
    /// first 90 days, so at least 90).
    pub retention_days: u64,
    /// Whom TikTok's 600 requests a minute per Display endpoint are counted for: `token` (each
    /// creator's own window) or `app` (one window for the whole app).
    pub rate_limit: InsightsRateLimit,
}

/// Whom the Display API's limit is counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsightsRateLimit {
    /// Each creator's token has its own window.
    Token,
    /// One window for the whole app.
    App,
}

/// Days a post is followed after it went live.
const FOLLOWED_DAYS: u64 = tokpost_core::insights::TRACKED_FOR.as_secs() / 86_400;

impl Default for InsightsConfig {
    fn default() -> Self {
        Self {
            retention_days: 730,
            rate_limit: InsightsRateLimit::Token,
        }
    }
}

impl InsightsConfig {
    /// How long snapshots are kept.
    ///
    /// # Errors
    /// Fewer days than a post is followed.
    pub fn retention(&self) -> Result<std::time::Duration, ConfigError> {
        if self.retention_days < FOLLOWED_DAYS {
            return Err(ConfigError::Inconsistent {
                field: "insights.retention_days",
                problem: format!(
                    "{} days would delete a post's counts while it is still followed (its first {FOLLOWED_DAYS} days); give at least {FOLLOWED_DAYS}",
                    self.retention_days
                ),
            });
        }
        Ok(std::time::Duration::from_secs(
            self.retention_days.saturating_mul(86_400),
        ))
    }

    /// The pipeline's settings for reading counts.
    #[must_use]
    pub fn settings(&self) -> tokpost_pipeline::insights::InsightSettings {
        tokpost_pipeline::insights::InsightSettings {
            limit_per_app: self.rate_limit == InsightsRateLimit::App,
        }
    }
}

/// Autofix (`POST /v1/media/{id}/fix` and `tokpost fix`): the ffmpeg that fixes media and its
/// bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixConfig {
    /// ffmpeg's path; empty: `ffmpeg` on `PATH`. Without ffmpeg, fixing is unavailable (the
    /// API says so) and everything else works.
    pub ffmpeg: String,
    /// The longest one ffmpeg run may take, in seconds; its process group is killed then.
    pub timeout_secs: u64,
    /// Fixes running at once in one process (each ffmpeg uses every core it can).
    pub max_running: usize,
}

impl Default for FixConfig {
    fn default() -> Self {
        Self {
            ffmpeg: String::new(),
            timeout_secs: tokpost_fix::DEFAULT_TIMEOUT.as_secs(),
            max_running: 1,
        }
    }
}

impl FixConfig {
    /// The pipeline's settings for fixing: files under `<data_dir>/fix` while a fix runs, a
    /// result no larger than an upload may be.
    ///
    /// # Errors
    /// A timeout or a number of fixes at once of zero.
    pub fn settings(
        &self,
        data_dir: &std::path::Path,
        max_upload_bytes: u64,
    ) -> Result<tokpost_pipeline::media_fix::FixSettings, ConfigError> {
        if self.timeout_secs == 0 {
            return Err(ConfigError::Inconsistent {
                field: "fix.timeout_secs",
                problem: "0 s would stop every fix at once; give the longest a fix may run, in seconds (default 1800)".to_owned(),
            });
        }
        if self.max_running == 0 {
            return Err(ConfigError::Inconsistent {
                field: "fix.max_running",
                problem: "0 would never run a fix; give at least 1".to_owned(),
            });
        }
        let ffmpeg = self.ffmpeg.trim();
        Ok(tokpost_pipeline::media_fix::FixSettings {
            ffmpeg: (!ffmpeg.is_empty()).then(|| std::path::PathBuf::from(ffmpeg)),
            timeout: std::time::Duration::from_secs(self.timeout_secs),
            max_running: self.max_running,
            max_output_bytes: max_upload_bytes,
            work_dir: Some(data_dir.join("fix")),
        })
    }
}
