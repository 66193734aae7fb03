//! The service's configuration: one typed tree, layered and safe to print.
//!
//! Layers, later wins: built-in defaults, a TOML file (`--config FILE`, `TOKPOST_CONFIG`, or
//! `tokpost.toml` in the working directory when it exists), `TOKPOST_…` environment variables
//! (nested keys joined by `__`: `TOKPOST_TIKTOK__CLIENT_KEY` sets `tiktok.client_key`), then
//! command-line flags. `tokpost.example.toml` at the repository root lists every key with its
//! variable and default; a test keeps the two in step.
//!
//! Secrets (`token_key`, `tiktok.client_secret`) are [`Secret`]s: their `Debug` and their
//! serialised form are redacted, so `tokpost config print` and logs cannot leak them.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// Prefix of every environment variable tokpost reads.
pub const ENV_PREFIX: &str = "TOKPOST_";

/// The file read when neither `--config` nor `TOKPOST_CONFIG` names one and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "tokpost.toml";

/// The generated pull URL signing key in the data directory.
pub const MEDIA_SIGNING_KEY_FILE: &str = "media-signing.key";

/// What `serialize` prints in place of a secret that is set.
const REDACTED: &str = "<redacted>";

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where tokpost keeps its SQLite database, the generated token key and uploaded media.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means the SQLite file `tokpost.db` in `data_dir`.
    pub database_url: String,
    /// Base64 of the 32-byte key that encrypts TikTok tokens at rest; empty means a key
    /// generated on first start into `data_dir/token.key` (mode 0600).
    pub token_key: Secret,
    /// Base64 of the previous token key while `tokpost token-key rotate` moves a configured
    /// key: it only decrypts. Empty otherwise.
    pub token_key_previous: Secret,
    /// The HTTP API and dashboard.
    pub http: HttpConfig,
    /// The TikTok app tokpost acts as.
    pub tiktok: TikTokSettings,
    /// Publishing policy.
    pub publishing: PublishingConfig,
    /// The background workers of this process.
    pub workers: WorkersConfig,
    /// Where uploaded media are kept, and how TikTok may pull them.
    pub media: MediaConfig,
    /// Outbound webhooks.
    pub webhooks: WebhooksConfig,
    /// Email (invitations, password resets); off until an SMTP server is configured.
    pub email: EmailConfig,
    /// Signing in with the organisation's OpenID Connect provider; off until configured.
    pub oidc: OidcConfig,
}

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
const MAX_PREPARE_AHEAD_SECS: u64 = 3_600;

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

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".tokpost"),
            database_url: String::new(),
            token_key: Secret::default(),
            token_key_previous: Secret::default(),
            http: HttpConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                public_base_url: String::new(),
                max_upload_bytes: 4 * 1024 * 1024 * 1024,
                max_requests_in_flight: 512,
                request_timeout_secs: 30,
                metrics_token: Secret::default(),
            },
            tiktok: TikTokSettings {
                client_key: String::new(),
                client_secret: Secret::default(),
                redirect_uri: String::new(),
                api_base_url: tiktok::config::PRODUCTION_API_BASE_URL.to_owned(),
                authorize_base_url: tiktok::config::PRODUCTION_AUTHORIZE_BASE_URL.to_owned(),
                audited: false,
                desktop_app: false,
                verified_url_prefixes: Vec::new(),
                daily_post_cap: 15,
                request_timeout_secs: 30,
                insight_scopes: tokpost_core::Scope::INSIGHTS
                    .iter()
                    .map(|scope| (*scope).to_owned())
                    .collect(),
            },
            publishing: PublishingConfig {
                late_grace_secs: 3600,
                prepare_ahead_secs: 300,
                status_check_first_secs: 5,
                status_check_max_secs: 300,
            },
            workers: WorkersConfig {
                count: 4,
                lease_secs: 300,
                heartbeat_secs: 60,
                retry_first_backoff_secs: 30,
                retry_max_backoff_secs: 3_600,
            },
            media: MediaConfig {
                backend: MediaBackend::Local,
                dir: String::new(),
                pull_base_url: String::new(),
                pull_url_lifetime_secs: 2 * 3_600,
                signing_key: Secret::default(),
                s3: S3Settings {
                    endpoint: String::new(),
                    bucket: String::new(),
                    region: String::new(),
                    prefix: String::new(),
                    access_key_id: String::new(),
                    secret_access_key: Secret::default(),
                    allow_http: false,
                    part_size_bytes: tokpost_media_store::S3Tuning::default().part_size_bytes,
                    parts_in_flight: tokpost_media_store::S3Tuning::default().parts_in_flight,
                },
            },
            webhooks: WebhooksConfig::default(),
            email: EmailConfig::default(),
            oidc: OidcConfig::default(),
        }
    }
}

/// Where the configuration comes from, beside the defaults and the environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The TOML file named on the command line or by `TOKPOST_CONFIG`.
    pub file: Option<PathBuf>,
    /// Flag overrides, applied last: `(dotted key, value)`.
    pub flags: Vec<(&'static str, String)>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A named configuration file does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value has the wrong type, a key is unknown, or a file is not valid TOML. The message
    /// names the key and the layer it came from.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// Two settings contradict each other, or a value is out of range.
    #[error("invalid configuration: {field}: {problem}")]
    Inconsistent {
        /// The dotted key.
        field: &'static str,
        /// What is wrong, with the value seen.
        problem: String,
    },
}

impl Config {
    /// Loads the layered configuration: defaults, the file, `TOKPOST_…` variables, flags.
    ///
    /// # Errors
    /// A named file that is missing, a value of the wrong type, an unknown key, or settings
    /// that contradict each other; each message names the key.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match &sources.file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.clone())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        figment = figment.merge(environment());
        for (key, value) in &sources.flags {
            figment = figment.merge(Serialized::default(key, value));
        }
        let config: Config = figment
            .extract()
            .map_err(|error| ConfigError::Invalid(describe(&error)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.email.mailer()?;
        self.webhooks.digest()?;
        self.oidc.provider(&self.public_base_url()?)?;
        let has_key = !self.tiktok.client_key.trim().is_empty();
        let has_secret = self.tiktok.client_secret.is_set();
        if has_key != has_secret {
            return Err(ConfigError::Inconsistent {
                field: if has_key {
                    "tiktok.client_secret"
                } else {
                    "tiktok.client_key"
                },
                problem: "client key and client secret must be set together (or both left \
                          empty to use the built-in sandbox)"
                    .to_owned(),
            });
        }
        if let Some(unknown) = self
            .tiktok
            .insight_scopes
            .iter()
            .find(|scope| !tokpost_core::Scope::INSIGHTS.contains(&scope.trim()))
        {
            return Err(ConfigError::Inconsistent {
                field: "tiktok.insight_scopes",
                problem: format!(
                    "`{unknown}` is not an insight scope (user.info.profile, user.info.stats, video.list)"
                ),
            });
        }
        if self.tiktok.daily_post_cap == 0 {
            return Err(ConfigError::Inconsistent {
                field: "tiktok.daily_post_cap",
                problem: "must be at least 1 (measured 0)".to_owned(),
            });
        }
        if self.http.max_requests_in_flight == 0 || self.http.request_timeout_secs == 0 {
            return Err(ConfigError::Inconsistent {
                field: if self.http.max_requests_in_flight == 0 {
                    "http.max_requests_in_flight"
                } else {
                    "http.request_timeout_secs"
                },
                problem: "must be at least 1 (measured 0)".to_owned(),
            });
        }
        if self.http.max_upload_bytes == 0 {
            return Err(ConfigError::Inconsistent {
                field: "http.max_upload_bytes",
                problem: "must be at least 1 byte (measured 0)".to_owned(),
            });
        }
        let polling = &self.publishing;
        if polling.status_check_first_secs == 0 {
            return Err(ConfigError::Inconsistent {
                field: "publishing.status_check_first_secs",
                problem: "must be at least 1 second (measured 0)".to_owned(),
            });
        }
        if polling.prepare_ahead_secs > MAX_PREPARE_AHEAD_SECS {
            return Err(ConfigError::Inconsistent {
                field: "publishing.prepare_ahead_secs",
                problem: format!(
                    "must be at most {MAX_PREPARE_AHEAD_SECS} s (measured {} s)",
                    polling.prepare_ahead_secs
                ),
            });
        }
        if polling.status_check_max_secs < polling.status_check_first_secs {
            return Err(ConfigError::Inconsistent {
                field: "publishing.status_check_max_secs",
                problem: format!(
                    "must be at least publishing.status_check_first_secs ({} s; measured {} s)",
                    polling.status_check_first_secs, polling.status_check_max_secs
                ),
            });
        }
        if self.tiktok.request_timeout_secs == 0 {
            return Err(ConfigError::Inconsistent {
                field: "tiktok.request_timeout_secs",
                problem: "must be at least 1 second (measured 0)".to_owned(),
            });
        }
        for (field, text) in [
            ("tiktok.api_base_url", &self.tiktok.api_base_url),
            ("tiktok.authorize_base_url", &self.tiktok.authorize_base_url),
        ] {
            absolute_http_url(field, text)?;
        }
        for prefix in &self.tiktok.verified_url_prefixes {
            let parsed = Url::parse(prefix).map_err(|error| ConfigError::Inconsistent {
                field: "tiktok.verified_url_prefixes",
                problem: format!("`{prefix}` is not a URL ({error})"),
            })?;
            if parsed.scheme() != "https" {
                return Err(ConfigError::Inconsistent {
                    field: "tiktok.verified_url_prefixes",
                    problem: format!(
                        "`{prefix}` must be https: TikTok only pulls media over https"
                    ),
                });
            }
        }
        self.webhooks.address_policy()?;
        let workers = &self.workers;
        if !(1..=256).contains(&workers.count) {
            return Err(ConfigError::Inconsistent {
                field: "workers.count",
                problem: format!("must be between 1 and 256 (measured {})", workers.count),
            });
        }
        if workers.heartbeat_secs == 0 || workers.heartbeat_secs >= workers.lease_secs {
            return Err(ConfigError::Inconsistent {
                field: "workers.heartbeat_secs",
                problem: format!(
                    "must be at least 1 and below workers.lease_secs ({}) so a live worker keeps its jobs (measured {})",
                    workers.lease_secs, workers.heartbeat_secs
                ),
            });
        }
        if workers.retry_first_backoff_secs == 0
            || workers.retry_first_backoff_secs > workers.retry_max_backoff_secs
        {
            return Err(ConfigError::Inconsistent {
                field: "workers.retry_first_backoff_secs",
                problem: format!(
                    "must be at least 1 and at most workers.retry_max_backoff_secs ({}) (measured {})",
                    workers.retry_max_backoff_secs, workers.retry_first_backoff_secs
                ),
            });
        }
        self.public_base_url()?;
        self.validate_media()?;
        Ok(())
    }

    fn validate_media(&self) -> Result<(), ConfigError> {
        let media = &self.media;
        if media.backend == MediaBackend::S3 {
            let s3 = &media.s3;
            for (field, value) in [
                ("media.s3.endpoint", &s3.endpoint),
                ("media.s3.bucket", &s3.bucket),
                ("media.s3.region", &s3.region),
                ("media.s3.access_key_id", &s3.access_key_id),
            ] {
                if value.trim().is_empty() {
                    return Err(ConfigError::Inconsistent {
                        field,
                        problem: "must be set when media.backend = \"s3\" (measured: empty)"
                            .to_owned(),
                    });
                }
            }
            if !s3.secret_access_key.is_set() {
                return Err(ConfigError::Inconsistent {
                    field: "media.s3.secret_access_key",
                    problem: "must be set when media.backend = \"s3\" (measured: empty); \
                              TOKPOST_MEDIA__S3__SECRET_ACCESS_KEY keeps it out of the file"
                        .to_owned(),
                });
            }
            tokpost_media_store::S3MediaStore::new(&self.s3_config()).map_err(|error| {
                ConfigError::Inconsistent {
                    field: "media.s3",
                    problem: error.to_string(),
                }
            })?;
        }
        if media.pull_url_lifetime_secs < 3_600 {
            return Err(ConfigError::Inconsistent {
                field: "media.pull_url_lifetime_secs",
                problem: format!(
                    "must be at least 3600: TikTok may download for an hour (measured {})",
                    media.pull_url_lifetime_secs
                ),
            });
        }
        if let Some(key) = media.signing_key.get()
            && key.expose_secret().len() < 32
        {
            return Err(ConfigError::Inconsistent {
                field: "media.signing_key",
                problem: format!(
                    "must be at least 32 characters (measured {})",
                    key.expose_secret().len()
                ),
            });
        }
        if let Some(base) = self.pull_base_url()? {
            let prefixes = &self.tiktok.verified_url_prefixes;
            if !self.uses_sandbox()
                && !prefixes
                    .iter()
                    .any(|prefix| base.as_url().as_str().starts_with(prefix.as_str()))
            {
                return Err(ConfigError::Inconsistent {
                    field: "media.pull_base_url",
                    problem: format!(
                        "`{}` must lie under one of tiktok.verified_url_prefixes ({}): TikTok pulls from nothing else",
                        base.as_url(),
                        if prefixes.is_empty() {
                            "none configured".to_owned()
                        } else {
                            prefixes.join(", ")
                        }
                    ),
                });
            }
        }
        Ok(())
    }

    /// The configured pull prefix, when there is one.
    ///
    /// # Errors
    /// When `media.pull_base_url` is not an https URL on a host name ending in `/`.
    pub fn pull_base_url(&self) -> Result<Option<tokpost_media_store::PullBaseUrl>, ConfigError> {
        let text = self.media.pull_base_url.trim();
        if text.is_empty() {
            return Ok(None);
        }
        tokpost_media_store::PullBaseUrl::parse(text)
            .map(Some)
            .map_err(|error| ConfigError::Inconsistent {
                field: "media.pull_base_url",
                problem: format!("`{text}`: {error}"),
            })
    }

    fn s3_config(&self) -> tokpost_media_store::S3Config {
        let s3 = &self.media.s3;
        tokpost_media_store::S3Config {
            endpoint: s3.endpoint.clone(),
            bucket: s3.bucket.clone(),
            region: s3.region.clone(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3
                .secret_access_key
                .get()
                .cloned()
                .unwrap_or_else(|| SecretString::from(String::new())),
            prefix: s3.prefix.clone(),
            allow_http: s3.allow_http,
            tuning: tokpost_media_store::S3Tuning {
                part_size_bytes: s3.part_size_bytes,
                parts_in_flight: s3.parts_in_flight,
            },
        }
    }

    /// The media store the configuration names.
    #[must_use]
    pub fn media_store_config(&self) -> tokpost_media_store::MediaStoreConfig {
        match self.media.backend {
            MediaBackend::Local => {
                let dir = if self.media.dir.trim().is_empty() {
                    self.data_dir.join("media")
                } else {
                    PathBuf::from(&self.media.dir)
                };
                tokpost_media_store::MediaStoreConfig::local(dir)
            }
            MediaBackend::S3 => tokpost_media_store::MediaStoreConfig::S3(self.s3_config()),
        }
    }

    /// The pull URL secret: configured, or `<data_dir>/media-signing.key` (generated with mode
    /// 0600 on first start, like the token key).
    ///
    /// # Errors
    /// A key file that cannot be read or created, or is readable by others.
    pub fn media_signing_key(&self) -> Result<SecretString, ConfigError> {
        if let Some(key) = self.media.signing_key.get() {
            return Ok(key.clone());
        }
        load_or_generate_secret(&self.data_dir.join(MEDIA_SIGNING_KEY_FILE))
    }

    /// The publishing policy the pipeline applies to the configured app (`tiktok.audited`).
    #[must_use]
    pub fn publish_policy(&self) -> tokpost_pipeline::PublishPolicy {
        self.publish_policy_for(self.tiktok.audited)
    }

    /// Whether the app tokpost posts as has passed TikTok's audit. With the built-in sandbox in
    /// this process, that app is the sandbox's first one (the one `serve` signs in as) and its
    /// `audited` is the truth, whatever `tiktok.audited` says about an app that is not in use;
    /// otherwise `tiktok.audited`.
    #[must_use]
    pub fn app_audited(&self, in_process_sandbox: Option<&tiktok_sandbox::SandboxConfig>) -> bool {
        match in_process_sandbox {
            Some(sandbox) => sandbox.apps.first().is_some_and(|app| app.audited),
            None => self.tiktok.audited,
        }
    }

    /// The publishing policy the pipeline applies to an app that TikTok has (`audited`) or has
    /// not audited.
    #[must_use]
    pub fn publish_policy_for(&self, audited: bool) -> tokpost_pipeline::PublishPolicy {
        let base = if audited {
            tokpost_pipeline::PublishPolicy::audited()
        } else {
            tokpost_pipeline::PublishPolicy::default()
        };
        tokpost_pipeline::PublishPolicy {
            daily_post_cap: self.tiktok.daily_post_cap,
            late_grace: std::time::Duration::from_secs(self.publishing.late_grace_secs),
            prepare_ahead: std::time::Duration::from_secs(self.publishing.prepare_ahead_secs),
            status_polling: tokpost_pipeline::StatusPolling {
                first: std::time::Duration::from_secs(self.publishing.status_check_first_secs),
                max: std::time::Duration::from_secs(self.publishing.status_check_max_secs),
                ..base.status_polling
            },
            verified_url_prefixes: self.tiktok.verified_url_prefixes.clone(),
            ..base
        }
    }

    /// Whether no TikTok app credentials are configured, so tokpost runs against its built-in
    /// sandbox.
    #[must_use]
    pub fn uses_sandbox(&self) -> bool {
        self.tiktok.client_key.trim().is_empty()
    }

    /// The database URL, defaulting to the SQLite file in the data directory.
    #[must_use]
    pub fn database_url(&self) -> String {
        if self.database_url.trim().is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tokpost.db").display()
            )
        } else {
            self.database_url.clone()
        }
    }

    /// The cipher for tokens at rest: from `token_key`, or the key file in the data directory
    /// (generated with mode 0600 on first start).
    ///
    /// # Errors
    /// A malformed configured key, or a key file that cannot be read, created, or is readable
    /// by others.
    pub fn token_cipher(&self) -> Result<tokpost_store::TokenCipher, tokpost_store::CryptoError> {
        let cipher = match self.token_key.get() {
            Some(key) => tokpost_store::TokenCipher::from_base64(key)?,
            None => tokpost_store::TokenCipher::load_or_generate(&self.data_dir)?,
        };
        match self.token_key_previous.get() {
            Some(previous) => {
                Ok(cipher.with_previous(tokpost_store::TokenCipher::from_base64(previous)?))
            }
            None => Ok(cipher),
        }
    }

    /// The public base URL, ending in `/`.
    ///
    /// # Errors
    /// When `http.public_base_url` is set but not an absolute http(s) URL.
    pub fn public_base_url(&self) -> Result<Url, ConfigError> {
        let text = if self.http.public_base_url.trim().is_empty() {
            format!("http://{}/", self.http.listen)
        } else {
            self.http.public_base_url.clone()
        };
        absolute_http_url("http.public_base_url", &text)
    }

    /// The TikTok API base URL, ending in `/`.
    ///
    /// # Errors
    /// When `tiktok.api_base_url` is not an absolute http(s) URL.
    pub fn api_base_url(&self) -> Result<Url, ConfigError> {
        absolute_http_url("tiktok.api_base_url", &self.tiktok.api_base_url)
    }

    /// The TikTok authorize page base URL, ending in `/`.
    ///
    /// # Errors
    /// When `tiktok.authorize_base_url` is not an absolute http(s) URL.
    pub fn authorize_base_url(&self) -> Result<Url, ConfigError> {
        absolute_http_url("tiktok.authorize_base_url", &self.tiktok.authorize_base_url)
    }

    /// The OAuth redirect URI: configured, or derived from the public base URL.
    ///
    /// # Errors
    /// When the public base URL is invalid.
    pub fn redirect_uri(&self) -> Result<String, ConfigError> {
        if !self.tiktok.redirect_uri.trim().is_empty() {
            return Ok(self.tiktok.redirect_uri.clone());
        }
        Ok(format!(
            "{}v1/oauth/tiktok/callback",
            self.public_base_url()?
        ))
    }

    /// The merged configuration as TOML, secrets redacted.
    ///
    /// # Errors
    /// Never for a loaded configuration; kept fallible because serialisation is.
    pub fn to_redacted_toml(&self) -> Result<String, ConfigError> {
        let value = figment::value::Value::serialize(self)
            .map_err(|error| ConfigError::Invalid(error.to_string()))?;
        let mut text = String::new();
        render_toml(&value, &mut Vec::new(), &mut text);
        Ok(text)
    }
}

/// Reads a secret file, creating it first (mode 0600, 32 random bytes as hex, never
/// overwriting) when it does not exist; refuses one that others can read.
fn load_or_generate_secret(path: &Path) -> Result<SecretString, ConfigError> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let field = "media.signing_key";
    let failed = |error: std::io::Error| ConfigError::Inconsistent {
        field,
        problem: format!("the key file {}: {error}", path.display()),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let fresh = hex::encode(rand::random::<[u8; 32]>());
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(fresh.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(failed)?;
            tracing::info!(path = %path.display(), "generated a new media URL signing key");
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(failed(error)),
    }
    let mode = std::fs::metadata(path)
        .map_err(failed)?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::Inconsistent {
            field,
            problem: format!(
                "the key file {} is readable by others (mode {mode:o}); it must be 0600",
                path.display()
            ),
        });
    }
    let text = std::fs::read_to_string(path).map_err(failed)?;
    let text = text.trim();
    if text.len() < 32 {
        return Err(ConfigError::Inconsistent {
            field,
            problem: format!(
                "the key file {} holds {} characters, at least 32 are needed",
                path.display(),
                text.len()
            ),
        });
    }
    Ok(SecretString::from(text.to_owned()))
}

/// Parses an absolute http(s) URL and makes its path end in `/`, so that joining relative
/// paths onto it keeps the last segment.
fn absolute_http_url(field: &'static str, text: &str) -> Result<Url, ConfigError> {
    let mut url = Url::parse(text).map_err(|error| ConfigError::Inconsistent {
        field,
        problem: format!("`{text}` is not an absolute URL ({error})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::Inconsistent {
            field,
            problem: format!("`{text}` must be http or https"),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `TOKPOST_…` variables that name configuration keys. Variables of the same prefix that are
/// not configuration (`TOKPOST_LOG`, `TOKPOST_CONFIG`, the sandbox command's own) are left out
/// so that they cannot trip the unknown-key check.
fn environment() -> Env {
    // figment filters before it splits nested keys, so sections still end in `__` here.
    Env::prefixed(ENV_PREFIX)
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            matches!(
                key.as_str(),
                "data_dir" | "database_url" | "token_key" | "token_key_previous"
            ) || [
                "http__",
                "tiktok__",
                "publishing__",
                "workers__",
                "media__",
                "webhooks__",
                "email__",
                "oidc__",
            ]
            .iter()
            .any(|section| key.starts_with(section))
        })
        .split("__")
}

/// figment's error with every layer's complaint, one per line, naming key and source.
fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|error| error.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Renders a figment value tree as TOML: scalars first, then one table per section.
fn render_toml(value: &figment::value::Value, path: &mut Vec<String>, out: &mut String) {
    use figment::value::Value;
    let Value::Dict(_, dict) = value else {
        return;
    };
    let (tables, scalars): (Vec<_>, Vec<_>) = dict
        .iter()
        .partition(|(_, value)| matches!(value, Value::Dict(..)));
    if !path.is_empty() && !scalars.is_empty() {
        out.push_str(&format!("\n[{}]\n", path.join(".")));
    }
    for (key, value) in scalars {
        out.push_str(&format!("{key} = {}\n", toml_scalar(value)));
    }
    for (key, value) in tables {
        path.push(key.clone());
        render_toml(value, path, out);
        path.pop();
    }
}

fn toml_scalar(value: &figment::value::Value) -> String {
    use figment::value::Value;
    match value {
        Value::String(_, text) => serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned()),
        Value::Char(_, c) => serde_json::to_string(&c.to_string()).unwrap_or_default(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, num) => num
            .to_u128()
            .map(|n| n.to_string())
            .or_else(|| num.to_i128().map(|n| n.to_string()))
            .or_else(|| num.to_f64().map(|n| n.to_string()))
            .unwrap_or_default(),
        Value::Empty(..) => "\"\"".to_owned(),
        Value::Array(_, items) => format!(
            "[{}]",
            items.iter().map(toml_scalar).collect::<Vec<_>>().join(", ")
        ),
        Value::Dict(..) => "{}".to_owned(),
    }
}

/// A configured secret: redacted in `Debug` and when serialised, exposed only on purpose.
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

impl Secret {
    /// Whether a non-empty value is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|secret| !secret.expose_secret().trim().is_empty())
    }

    /// The secret, when set.
    #[must_use]
    pub fn get(&self) -> Option<&SecretString> {
        self.0.as_ref().filter(|_| self.is_set())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { REDACTED } else { "<unset>" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.is_set() { REDACTED } else { "" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // The redacted marker is what serialising the defaults produces for a set secret; it
        // never stands for a real value.
        if text.is_empty() || text == REDACTED {
            Ok(Self(None))
        } else {
            Ok(Self(Some(SecretString::from(text))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads with `vars` set and `file` written, inside a figment jail: a private working
    /// directory and environment, so tests cannot see each other's variables.
    fn load_in_jail(
        file: Option<&str>,
        vars: &[(&str, &str)],
        flags: Vec<(&'static str, String)>,
    ) -> Result<Config, ConfigError> {
        let mut loaded = None;
        #[allow(clippy::result_large_err)] // figment's own signature
        figment::Jail::expect_with(|jail| {
            for (name, value) in vars {
                jail.set_env(name, value);
            }
            let file = match file {
                Some(text) => {
                    jail.create_file("custom.toml", text)?;
                    Some(PathBuf::from("custom.toml"))
                }
                None => None,
            };
            loaded = Some(Config::load(&Sources { file, flags }));
            Ok(())
        });
        loaded.expect("the jail ran")
    }

    fn load_with(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        load_in_jail(file, vars, Vec::new())
    }

    #[test]
    fn defaults_run_on_sqlite_in_the_data_dir_against_the_sandbox() {
        let config = load_with(None, &[]).expect("defaults load");
        assert!(config.uses_sandbox());
        assert_eq!(
            config.database_url(),
            "sqlite://.tokpost/tokpost.db?mode=rwc"
        );
        assert_eq!(
            config.redirect_uri().expect("derived"),
            "http://127.0.0.1:8080/v1/oauth/tiktok/callback"
        );
        assert_eq!(config.publishing.late_grace_secs, 3600);
        assert_eq!(config.tiktok.daily_post_cap, 15);
        assert!(!config.tiktok.audited);
    }

    #[test]
    fn environment_overrides_the_file_and_nested_keys_use_double_underscores() {
        let config = load_with(
            Some("[tiktok]\ndaily_post_cap = 12\naudited = true\n"),
            &[
                ("TOKPOST_TIKTOK__DAILY_POST_CAP", "9"),
                ("TOKPOST_PUBLISHING__LATE_GRACE_SECS", "60"),
                ("TOKPOST_LOG", "debug"),
            ],
        )
        .expect("loads");
        assert_eq!(config.tiktok.daily_post_cap, 9, "env beats file");
        assert!(config.tiktok.audited, "file beats defaults");
        assert_eq!(config.publishing.late_grace_secs, 60);
    }

    #[test]
    fn the_in_process_sandbox_app_decides_the_audit_whatever_tiktok_audited_says() {
        let unaudited = load_with(None, &[]).unwrap();
        let audited = load_with(Some("[tiktok]\naudited = true\n"), &[]).unwrap();
        let sandbox = tiktok_sandbox::SandboxConfig::default();
        assert!(
            sandbox.apps[0].audited,
            "the built-in sandbox's app is audited"
        );
        let mut unaudited_sandbox = tiktok_sandbox::SandboxConfig::default();
        unaudited_sandbox.apps[0].audited = false;
        let no_apps = tiktok_sandbox::SandboxConfig {
            apps: Vec::new(),
            ..tiktok_sandbox::SandboxConfig::default()
        };
        for (config, in_process, expected) in [
            (&unaudited, Some(&sandbox), true),
            (&audited, Some(&unaudited_sandbox), false),
            (&audited, Some(&no_apps), false),
            (&unaudited, None, false),
            (&audited, None, true),
        ] {
            let decided = config.app_audited(in_process);
            assert_eq!(decided, expected, "{:?}", in_process.map(|s| &s.apps));
            let policy = config.publish_policy_for(decided);
            assert_eq!(policy.audited, expected);
            assert_eq!(
                policy.active_creator_cap,
                (!expected).then_some(5),
                "an unaudited app serves at most 5 creators a day"
            );
        }
        assert_eq!(
            unaudited.publish_policy(),
            unaudited.publish_policy_for(false)
        );
        assert_eq!(audited.publish_policy(), audited.publish_policy_for(true));
    }

    #[test]
    fn status_checks_are_configurable_and_the_maximum_cannot_undercut_the_first() {
        let policy = load_with(
            None,
            &[
                ("TOKPOST_PUBLISHING__STATUS_CHECK_FIRST_SECS", "2"),
                ("TOKPOST_PUBLISHING__STATUS_CHECK_MAX_SECS", "10"),
            ],
        )
        .unwrap()
        .publish_policy();
        assert_eq!(
            policy.status_polling.first,
            std::time::Duration::from_secs(2)
        );
        assert_eq!(
            policy.status_polling.max,
            std::time::Duration::from_secs(10)
        );
        let error = load_with(None, &[("TOKPOST_PUBLISHING__STATUS_CHECK_MAX_SECS", "1")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("publishing.status_check_max_secs") && error.contains("measured 1 s"),
            "{error}"
        );
    }

    #[test]
    fn posts_are_prepared_five_minutes_ahead_unless_configured_and_never_over_an_hour() {
        let default = load_with(None, &[]).unwrap().publish_policy();
        assert_eq!(default.prepare_ahead, std::time::Duration::from_secs(300));
        let off = load_with(None, &[("TOKPOST_PUBLISHING__PREPARE_AHEAD_SECS", "0")])
            .unwrap()
            .publish_policy();
        assert!(off.prepare_ahead.is_zero());
        let error = load_with(None, &[("TOKPOST_PUBLISHING__PREPARE_AHEAD_SECS", "7200")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("publishing.prepare_ahead_secs")
                && error.contains("at most 3600 s")
                && error.contains("measured 7200 s"),
            "{error}"
        );
    }

    #[test]
    fn flags_override_everything() {
        let config = load_in_jail(
            None,
            &[("TOKPOST_DATA_DIR", "/from/env")],
            vec![("data_dir", "/from/flag".to_owned())],
        )
        .expect("loads");
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_named_in_the_error() {
        let error =
            load_with(Some("[tiktok]\nclient_kee = \"x\"\n"), &[]).expect_err("typo refused");
        assert!(error.to_string().contains("client_kee"), "{error}");
    }

    #[test]
    fn a_wrongly_typed_value_names_its_key() {
        let error =
            load_with(None, &[("TOKPOST_TIKTOK__DAILY_POST_CAP", "many")]).expect_err("refused");
        let message = error.to_string().to_lowercase();
        assert!(message.contains("tiktok.daily_post_cap"), "{error}");
        assert!(message.contains("environment"), "names the layer: {error}");
        assert!(message.contains("\"many\""), "names the value: {error}");
    }

    #[test]
    fn a_client_key_without_a_secret_is_refused_naming_the_missing_one() {
        let error =
            load_with(None, &[("TOKPOST_TIKTOK__CLIENT_KEY", "aw123")]).expect_err("refused");
        assert!(
            error.to_string().contains("tiktok.client_secret"),
            "{error}"
        );
    }

    #[test]
    fn pull_prefixes_must_be_https() {
        let error = load_with(
            Some("[tiktok]\nverified_url_prefixes = [\"http://media.example.com/v/\"]\n"),
            &[],
        )
        .expect_err("refused");
        assert!(error.to_string().contains("must be https"), "{error}");
    }

    #[test]
    fn a_named_file_that_does_not_exist_is_an_error_not_a_silent_default() {
        let error = Config::load(&Sources {
            file: Some(PathBuf::from("/nonexistent/tokpost.toml")),
            flags: Vec::new(),
        })
        .expect_err("refused");
        assert!(matches!(error, ConfigError::MissingFile(_)));
    }

    #[test]
    fn the_smtp_url_is_a_secret_and_a_bad_one_is_refused_at_load() {
        let config = load_with(
            None,
            &[
                (
                    "TOKPOST_EMAIL__SMTP_URL",
                    "smtps://tokpost:hunter2-mail@smtp.example.com:465",
                ),
                ("TOKPOST_EMAIL__FROM", "tokpost <tokpost@example.com>"),
            ],
        )
        .expect("loads");
        let printed = config.to_redacted_toml().expect("renders");
        let debug = format!("{config:?}");
        assert!(!printed.contains("hunter2-mail"), "{printed}");
        assert!(!debug.contains("hunter2-mail"), "{debug}");
        assert!(printed.contains("smtp_url = \"<redacted>\""), "{printed}");
        assert!(config.email.mailer().expect("usable").is_some());
        assert!(
            load_with(None, &[])
                .expect("loads")
                .email
                .mailer()
                .unwrap()
                .is_none()
        );
        let error = load_with(
            None,
            &[
                ("TOKPOST_EMAIL__SMTP_URL", "smtp://127.0.0.1:2525"),
                ("TOKPOST_EMAIL__FROM", "not an address"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("email.from is not an email address"),
            "{error}"
        );
    }

    #[test]
    fn the_sign_in_provider_is_read_from_the_environment_its_secret_redacted_and_checked_whole() {
        let config = load_with(
            None,
            &[
                (
                    "TOKPOST_OIDC__ISSUER",
                    "https://login.example.com/realms/acme",
                ),
                ("TOKPOST_OIDC__CLIENT_ID", "tokpost"),
                ("TOKPOST_OIDC__CLIENT_SECRET", "hunter2-oidc"),
                ("TOKPOST_OIDC__LABEL", "Sign in with Acme"),
                ("TOKPOST_WEBHOOKS__DIGEST_TIME_ZONE", "Europe/Berlin"),
            ],
        )
        .expect("loads");
        let printed = config.to_redacted_toml().expect("renders");
        assert!(!printed.contains("hunter2-oidc"), "{printed}");
        assert!(!format!("{config:?}").contains("hunter2-oidc"));
        let provider = config
            .oidc
            .provider(&config.public_base_url().unwrap())
            .expect("usable")
            .expect("configured");
        assert_eq!(provider.label(), "Sign in with Acme");
        assert_eq!(
            provider.redirect_uri(),
            "http://127.0.0.1:8080/sign-in/oidc/callback"
        );
        assert!(!format!("{provider:?}").contains("hunter2-oidc"));
        assert_eq!(config.webhooks.digest().unwrap().hour, 8);
        let half = load_with(
            None,
            &[("TOKPOST_OIDC__ISSUER", "https://login.example.com")],
        )
        .unwrap_err()
        .to_string();
        assert!(half.contains("oidc.client_secret"), "{half}");
        let zone = load_with(
            None,
            &[("TOKPOST_WEBHOOKS__DIGEST_TIME_ZONE", "Mars/Olympus")],
        )
        .unwrap_err()
        .to_string();
        assert!(zone.contains("webhooks.digest_time_zone"), "{zone}");
        let hour = load_with(None, &[("TOKPOST_WEBHOOKS__DIGEST_HOUR", "24")])
            .unwrap_err()
            .to_string();
        assert!(hour.contains("from 0 to 23 (measured 24)"), "{hour}");
    }

    #[test]
    fn secrets_never_show_in_debug_or_in_the_printed_configuration() {
        let config = load_with(
            None,
            &[
                ("TOKPOST_TIKTOK__CLIENT_KEY", "aw-client-key"),
                ("TOKPOST_TIKTOK__CLIENT_SECRET", "s3cr3t-client-secret"),
                ("TOKPOST_TOKEN_KEY", "c2VjcmV0LXRva2VuLWtleQ=="),
            ],
        )
        .expect("loads");
        let printed = config.to_redacted_toml().expect("renders");
        let debug = format!("{config:?}");
        for secret in ["s3cr3t-client-secret", "c2VjcmV0LXRva2VuLWtleQ=="] {
            assert!(!printed.contains(secret), "{printed}");
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(
            printed.contains("client_secret = \"<redacted>\""),
            "{printed}"
        );
        assert!(
            printed.contains("client_key = \"aw-client-key\""),
            "{printed}"
        );
        assert_eq!(
            config
                .tiktok
                .client_secret
                .get()
                .map(|s| s.expose_secret().to_owned()),
            Some("s3cr3t-client-secret".to_owned())
        );
    }

    #[test]
    fn the_printed_configuration_loads_back_to_the_same_values() {
        let config =
            load_with(Some("[tiktok]\naudited = true\ndaily_post_cap = 7\n"), &[]).expect("loads");
        let printed = config.to_redacted_toml().expect("renders");
        let reloaded = load_with(Some(&printed), &[]).expect("printed config loads");
        assert_eq!(reloaded.to_redacted_toml().expect("renders"), printed);
    }

    #[test]
    fn the_s3_backend_names_the_first_missing_setting() {
        let error = load_with(
            None,
            &[
                ("TOKPOST_MEDIA__BACKEND", "s3"),
                (
                    "TOKPOST_MEDIA__S3__ENDPOINT",
                    "https://s3.eu-central-1.amazonaws.com",
                ),
                ("TOKPOST_MEDIA__S3__BUCKET", "tokpost-media"),
                ("TOKPOST_MEDIA__S3__REGION", "eu-central-1"),
                ("TOKPOST_MEDIA__S3__ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ],
        )
        .expect_err("no secret");
        assert!(
            error.to_string().contains("media.s3.secret_access_key"),
            "{error}"
        );
    }

    #[test]
    fn an_s3_secret_from_the_environment_is_used_and_never_printed() {
        let config = load_with(
            None,
            &[
                ("TOKPOST_MEDIA__BACKEND", "s3"),
                (
                    "TOKPOST_MEDIA__S3__ENDPOINT",
                    "https://s3.eu-central-1.amazonaws.com",
                ),
                ("TOKPOST_MEDIA__S3__BUCKET", "tokpost-media"),
                ("TOKPOST_MEDIA__S3__REGION", "eu-central-1"),
                ("TOKPOST_MEDIA__S3__PREFIX", "prod/media"),
                ("TOKPOST_MEDIA__S3__ACCESS_KEY_ID", "AKIAEXAMPLE"),
                (
                    "TOKPOST_MEDIA__S3__SECRET_ACCESS_KEY",
                    "s3-secret-from-env-0123",
                ),
                ("TOKPOST_WORKERS__COUNT", "7"),
            ],
        )
        .expect("loads");
        assert_eq!(config.workers.count, 7, "workers__ variables are read");
        let tokpost_media_store::MediaStoreConfig::S3(s3) = config.media_store_config() else {
            panic!("the s3 backend was configured");
        };
        assert_eq!(s3.prefix, "prod/media");
        assert_eq!(
            s3.secret_access_key.expose_secret(),
            "s3-secret-from-env-0123"
        );
        let printed = config.to_redacted_toml().expect("renders");
        assert!(!printed.contains("s3-secret-from-env-0123"), "{printed}");
        assert!(!format!("{config:?}").contains("s3-secret-from-env-0123"));
    }

    #[rstest::rstest]
    #[case::not_https("http://media.example.com/tokpost/", "https")]
    #[case::outside_the_verified_prefix(
        "https://other.example.com/tokpost/",
        "verified_url_prefixes"
    )]
    #[case::no_trailing_slash("https://media.example.com/tokpost", "end with '/'")]
    fn the_pull_base_must_be_a_verified_https_prefix(#[case] base: &str, #[case] why: &str) {
        let error = load_with(
            Some(&format!(
                "[tiktok]\nclient_key = \"aw1\"\nclient_secret = \"s\"\nverified_url_prefixes = [\"https://media.example.com/\"]\n[media]\npull_base_url = \"{base}\"\n"
            )),
            &[],
        )
        .expect_err("refused");
        let message = error.to_string();
        assert!(message.contains("media.pull_base_url"), "{message}");
        assert!(message.contains(why), "{message}");
    }

    #[test]
    fn a_pull_base_under_a_verified_prefix_is_accepted() {
        let config = load_with(
            Some("[tiktok]\nclient_key = \"aw1\"\nclient_secret = \"s\"\nverified_url_prefixes = [\"https://media.example.com/\"]\n[media]\npull_base_url = \"https://media.example.com/tokpost/\"\n"),
            &[],
        )
        .expect("loads");
        assert_eq!(
            config.pull_base_url().unwrap().unwrap().as_url().as_str(),
            "https://media.example.com/tokpost/"
        );
    }

    #[test]
    fn the_generated_signing_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let first = config.media_signing_key().unwrap();
        let second = config.media_signing_key().unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert!(first.expose_secret().len() >= 32);
        let path = dir.path().join(MEDIA_SIGNING_KEY_FILE);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        assert!(
            config.media_signing_key().is_err(),
            "a readable key is refused"
        );
    }

    /// Every key of the configuration appears in `tokpost.example.toml` with its environment
    /// variable, so the example cannot fall behind the code.
    #[test]
    fn the_example_file_lists_every_key_with_its_variable() {
        let example = include_str!("../../../tokpost.example.toml");
        let printed = Config::default().to_redacted_toml().expect("renders");
        let mut section = String::new();
        for line in printed.lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                assert!(
                    example.contains(line),
                    "section {line} missing from the example"
                );
                continue;
            }
            let Some((key, _)) = line.split_once(" = ") else {
                continue;
            };
            let dotted = if section.is_empty() {
                key.to_owned()
            } else {
                format!("{section}.{key}")
            };
            let variable = format!("{ENV_PREFIX}{}", dotted.replace('.', "__").to_uppercase());
            assert!(
                example.contains(&format!("{key} = ")) && example.contains(&variable),
                "{dotted} (variable {variable}) missing from tokpost.example.toml"
            );
        }
        let from_example = load_with(Some(example), &[]).expect("the example loads as is");
        assert_eq!(
            from_example.to_redacted_toml().expect("renders"),
            printed,
            "the example's values are the defaults"
        );
    }
}
