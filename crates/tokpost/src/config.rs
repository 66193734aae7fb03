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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
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
    /// Insights: how TikTok's counts are read and how long they are kept.
    pub insights: InsightsConfig,
    /// Autofix: the ffmpeg that fixes media and its bounds.
    pub fix: FixConfig,
}

mod redacted;
mod sections;

pub use redacted::Secret;
use redacted::render_toml;
use sections::MAX_PREPARE_AHEAD_SECS;
pub use sections::*;

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
            insights: InsightsConfig::default(),
            fix: FixConfig::default(),
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
        self.insights.retention()?;
        self.fix
            .settings(&self.data_dir, self.http.max_upload_bytes)?;
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

    /// How this process runs the pipeline, publishing by `publishing` (see
    /// [`Config::publish_policy_for`]).
    ///
    /// # Errors
    /// An insights retention shorter than a post is followed; fix bounds of zero.
    pub fn pipeline_config(
        &self,
        publishing: tokpost_pipeline::PublishPolicy,
    ) -> Result<tokpost_pipeline::PipelineConfig, ConfigError> {
        let defaults = tokpost_pipeline::PipelineConfig::default();
        Ok(tokpost_pipeline::PipelineConfig {
            worker: self.workers.settings(),
            publishing,
            workers: self.workers.count,
            retention: tokpost_pipeline::janitor::Retention {
                stats: self.insights.retention()?,
                ..defaults.retention
            },
            insights: self.insights.settings(),
            fix: self
                .fix
                .settings(&self.data_dir, self.http.max_upload_bytes)?,
            ..defaults
        })
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
                "insights__",
                "fix__",
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

#[cfg(test)]
mod tests;
