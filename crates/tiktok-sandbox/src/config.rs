//! The sandbox's configuration: one typed tree with a ready-to-run demo as its default.
//!
//! Every field has a default, so a TOML file only needs the parts it changes. Secrets (the apps'
//! client secrets) are wrapped in [`ClientSecret`], whose `Debug` output is redacted.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The whole sandbox configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// The developer apps (client key/secret pairs) the sandbox knows.
    pub apps: Vec<AppConfig>,
    /// The TikTok accounts users can log in as.
    pub creators: Vec<CreatorConfig>,
    /// Token lifetimes and refresh-token rotation.
    pub tokens: TokenPolicy,
    /// How long an authorization code can be exchanged, in seconds (UNCONFIRMED in the docs;
    /// third-party code reports minutes).
    pub auth_code_ttl_secs: u64,
    /// HTTP status of flat OAuth errors (production behaviour is unconfirmed: OSS reports 200).
    pub oauth_error_status: OAuthErrorStatus,
    /// The spelling of the invalid-parameter code: real responses say `invalid_params`, the
    /// per-endpoint doc tables say `invalid_param`.
    pub invalid_params_code: String,
    /// What "MB" means in the chunk rules (UNCONFIRMED: the docs' examples use MiB).
    pub chunk_unit: ChunkUnit,
    /// Whether PULL_FROM_URL may use plain `http://` URLs on a loopback host (and URL-prefix
    /// properties on an IP address). TikTok requires https and a host name; tests serve media
    /// from `http://127.0.0.1:PORT/`, so they switch this on. Off by default.
    pub allow_insecure_loopback_pull: bool,
    /// How long a started pull may take before it fails, in seconds (TikTok: one hour).
    pub pull_timeout_secs: u64,
    /// How long an `upload_url` accepts bytes, in seconds (TikTok: one hour).
    pub upload_window_secs: u64,
    /// How the progress `Content-Range` of upload answers reports the received bytes
    /// (UNCONFIRMED in the docs).
    pub upload_progress_style: ProgressStyle,
    /// Time from the last byte to the end of processing.
    pub processing_delay: Delay,
    /// Time from the end of processing to a public post id (public posts only).
    pub moderation_delay: Delay,
    /// Per-token, per-minute request limits.
    pub rate_limits: RateLimits,
    /// Pending (not yet acted on) inbox shares allowed per creator in a rolling 24 h.
    pub pending_inbox_share_cap: u32,
    /// Distinct creators an unaudited app may post for in a rolling 24 h.
    pub unaudited_active_creator_cap: u32,
    /// Distinct creators an audited app may post for in a rolling 24 h (`None`: unlimited).
    pub audited_active_creator_cap: Option<u32>,
    /// Whether creator info still carries `data` alongside its HTTP-200 cap errors
    /// (UNCONFIRMED; empty by default).
    pub cap_errors_include_data: bool,
    /// Disk space the sandbox may hold for media still arriving (files live in a private
    /// temporary directory and are deleted once processing is decided). An init that would
    /// exceed it answers `internal_error` (HTTP 500), as an overloaded TikTok might.
    pub media_disk_budget_bytes: u64,
    /// How many publishes are remembered; the oldest finished ones are forgotten first.
    pub max_retained_publishes: usize,
    /// Webhook delivery behaviour (the URL is per app).
    pub webhooks: WebhookPolicy,
    /// Faults active from the start.
    pub faults: Vec<crate::faults::FaultRule>,
    /// Seed of the random source (ids, delays, probabilities), so runs are reproducible.
    pub seed: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            apps: vec![AppConfig::default()],
            creators: CreatorConfig::demo_set(),
            tokens: TokenPolicy::long_standing(),
            auth_code_ttl_secs: 300,
            oauth_error_status: OAuthErrorStatus::Http200,
            invalid_params_code: "invalid_params".to_owned(),
            chunk_unit: ChunkUnit::Mebibyte,
            allow_insecure_loopback_pull: false,
            pull_timeout_secs: 3600,
            upload_window_secs: 3600,
            upload_progress_style: ProgressStyle::LastByteIndex,
            processing_delay: Delay::Uniform {
                min_ms: 5_000,
                max_ms: 30_000,
            },
            moderation_delay: Delay::Sometimes {
                usually: Box::new(Delay::Uniform {
                    min_ms: 10_000,
                    max_ms: 60_000,
                }),
                rarely: Box::new(Delay::Uniform {
                    min_ms: 3_600_000,
                    max_ms: 4 * 3_600_000,
                }),
                rare_probability: 0.05,
            },
            rate_limits: RateLimits::default(),
            pending_inbox_share_cap: 5,
            unaudited_active_creator_cap: 5,
            audited_active_creator_cap: None,
            cap_errors_include_data: false,
            media_disk_budget_bytes: 16 * 1024 * 1024 * 1024,
            max_retained_publishes: 10_000,
            webhooks: WebhookPolicy::default(),
            faults: Vec::new(),
            seed: 7,
        }
    }
}

impl SandboxConfig {
    /// The app with this client key.
    #[must_use]
    pub fn app(&self, client_key: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|app| app.client_key == client_key)
    }

    /// The creator with this `open_id` or username.
    #[must_use]
    pub fn creator(&self, open_id_or_username: &str) -> Option<&CreatorConfig> {
        self.creators
            .iter()
            .find(|c| c.open_id == open_id_or_username || c.username == open_id_or_username)
    }
}

/// A developer app registered with TikTok.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// TikTok's name for the client id.
    pub client_key: String,
    /// Signs webhooks and authenticates token calls.
    pub client_secret: ClientSecret,
    /// Whether the app passed TikTok's audit (unaudited: private accounts, SELF_ONLY only).
    pub audited: bool,
    /// Registered redirect URIs. A port of `*` matches any port (TikTok's desktop rule) and a
    /// path of `/*` matches any path (a sandbox convenience for ephemeral test servers).
    pub redirect_uris: Vec<String>,
    /// Verified URL-prefix properties (`https://host/path/`).
    pub verified_url_prefixes: Vec<String>,
    /// Verified domain properties (cover the domain and its subdomains).
    pub verified_domains: Vec<String>,
    /// Where the app's webhooks are delivered (`None`: no webhooks).
    pub webhook_url: Option<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            client_key: "sbxdemo0000000001".to_owned(),
            client_secret: ClientSecret::new("sandbox-demo-client-secret"),
            audited: true,
            redirect_uris: vec![
                "http://127.0.0.1:*/*".to_owned(),
                "http://localhost:*/*".to_owned(),
            ],
            verified_url_prefixes: vec!["https://media.example.com/tokpost/".to_owned()],
            verified_domains: vec!["cdn.example.org".to_owned()],
            webhook_url: None,
        }
    }
}

/// A client secret whose `Debug` output never shows the value.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for signing and comparison only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Default for ClientSecret {
    fn default() -> Self {
        Self::new("sandbox-demo-client-secret")
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// A TikTok account of the sandbox.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreatorConfig {
    /// The user id scoped to the app.
    pub open_id: String,
    /// The handle (`creator_username`).
    pub username: String,
    /// The display name (`creator_nickname`).
    pub nickname: String,
    /// `creator_avatar_url`.
    pub avatar_url: String,
    /// Private accounts get the follower-only privacy options and forced duet/stitch off.
    pub private_account: bool,
    /// The comment setting is "No one".
    pub comment_disabled: bool,
    /// The Duet setting is "No one".
    pub duet_disabled: bool,
    /// The Stitch setting is "No one".
    pub stitch_disabled: bool,
    /// 180, 300 or 600 seconds.
    pub max_video_post_duration_sec: u32,
    /// Banned from posting by trust & safety.
    pub banned: bool,
    /// Direct posts allowed per rolling 24 h, across all apps.
    pub daily_post_cap: u32,
    /// Whether public post ids ever appear for this creator.
    pub public_post_ids: PublicPostIds,
    /// The creator's TikTok app is older than 31.8 (photo MEDIA_UPLOAD fails).
    pub outdated_app: bool,
}

impl Default for CreatorConfig {
    fn default() -> Self {
        Self {
            open_id: "-000sandboxDefaultCreator0000000000".to_owned(),
            username: "sandbox.creator".to_owned(),
            nickname: "Sandbox Creator".to_owned(),
            avatar_url: "https://p16-sandbox.example.com/avatar/default.jpeg".to_owned(),
            private_account: false,
            comment_disabled: false,
            duet_disabled: false,
            stitch_disabled: false,
            max_video_post_duration_sec: 600,
            banned: false,
            daily_post_cap: 15,
            public_post_ids: PublicPostIds::Delayed,
            outdated_app: false,
        }
    }
}

impl CreatorConfig {
    /// The demo accounts: public, private, banned, limited and one whose public ids never come.
    #[must_use]
    pub fn demo_set() -> Vec<Self> {
        let avatar = |name: &str| format!("https://p16-sandbox.example.com/avatar/{name}.jpeg");
        vec![
            Self {
                open_id: "-000Ada_PublicCreator_7QzsQ6fwsK_A1C".to_owned(),
                username: "ada.public".to_owned(),
                nickname: "Ada (public)".to_owned(),
                avatar_url: avatar("ada"),
                ..Self::default()
            },
            Self {
                open_id: "-000Bo_PrivateCreator_Kq9LmPw2Xy_B2D".to_owned(),
                username: "bo.private".to_owned(),
                nickname: "Bo (private)".to_owned(),
                avatar_url: avatar("bo"),
                private_account: true,
                max_video_post_duration_sec: 300,
                ..Self::default()
            },
            Self {
                open_id: "-000Cy_BannedCreator_Zt4RvNs8Hj_C3E".to_owned(),
                username: "cy.banned".to_owned(),
                nickname: "Cy (banned)".to_owned(),
                avatar_url: avatar("cy"),
                banned: true,
                ..Self::default()
            },
            Self {
                open_id: "-000Di_LimitedCreator_Wm5TbGc1Qe_D4F".to_owned(),
                username: "di.limited".to_owned(),
                nickname: "Di (2 posts a day, no comments)".to_owned(),
                avatar_url: avatar("di"),
                comment_disabled: true,
                duet_disabled: true,
                stitch_disabled: true,
                max_video_post_duration_sec: 180,
                daily_post_cap: 2,
                outdated_app: true,
                ..Self::default()
            },
            Self {
                open_id: "-000Ed_NoPublicIds_Hy7UcJd3Rf_E5G".to_owned(),
                username: "ed.quiet".to_owned(),
                nickname: "Ed (public ids never arrive)".to_owned(),
                avatar_url: avatar("ed"),
                public_post_ids: PublicPostIds::Never,
                ..Self::default()
            },
        ]
    }
}

/// Whether `publicaly_available_post_id` is ever filled for a creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicPostIds {
    /// After moderation (see [`SandboxConfig::moderation_delay`]).
    Delayed,
    /// Never reported by status fetch or the webhook (observed for some accounts); the Display
    /// API still lists the public post, so only a match by caption and time finds it.
    Never,
}

/// Token lifetimes and refresh-token rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenPolicy {
    /// `expires_in` of access tokens.
    pub access_token_ttl_secs: u64,
    /// `refresh_expires_in` at first issuance; a refresh never extends it (the docs' wording
    /// suggests a fixed end date).
    pub refresh_token_ttl_secs: u64,
    /// What a refresh does to the refresh token.
    pub rotation: Rotation,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self::long_standing()
    }
}

impl TokenPolicy {
    /// The long-standing documentation: 24 h / 365 d, the refresh token "may change".
    #[must_use]
    pub fn long_standing() -> Self {
        Self {
            access_token_ttl_secs: 86_400,
            refresh_token_ttl_secs: 31_536_000,
            rotation: Rotation::Sometimes { probability: 0.5 },
        }
    }

    /// The newer (Nov 2026) documentation: 2 h / 180 d, always rotated, the old one dies.
    #[must_use]
    pub fn always_rotating() -> Self {
        Self {
            access_token_ttl_secs: 7_200,
            refresh_token_ttl_secs: 15_552_000,
            rotation: Rotation::Always,
        }
    }
}

/// Refresh-token rotation.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Rotation {
    /// The same refresh token comes back.
    Never,
    /// With this probability a new refresh token comes back and the old one dies.
    Sometimes {
        /// Chance of a rotation on each refresh, 0.0 to 1.0.
        probability: f64,
    },
    /// A new refresh token every time; the old one dies.
    Always,
}

/// HTTP status of flat OAuth errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorStatus {
    /// Always 200 (what several integrations report).
    Http200,
    /// 400 (401 for `invalid_client`, 5xx for server errors).
    Http4xx,
}

/// The unit of "MB" in the chunk rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkUnit {
    /// 1 MB = 1,048,576 bytes.
    Mebibyte,
    /// 1 MB = 1,000,000 bytes.
    Megabyte,
}

impl ChunkUnit {
    /// Bytes in one "MB".
    #[must_use]
    pub fn bytes(self) -> u64 {
        match self {
            Self::Mebibyte => 1_048_576,
            Self::Megabyte => 1_000_000,
        }
    }
}

/// How the progress header of upload answers reports what was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressStyle {
    /// `bytes 0-{received - 1}/{total}` (HTTP's inclusive range); `bytes */{total}` before the
    /// first byte.
    LastByteIndex,
    /// `bytes 0-{received}/{total}` (the docs' literal `{UPLOADED_BYTES}`).
    Count,
}

/// A random duration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delay {
    /// Always this long.
    Fixed {
        /// Milliseconds.
        ms: u64,
    },
    /// Uniform between the two bounds (inclusive).
    Uniform {
        /// Milliseconds.
        min_ms: u64,
        /// Milliseconds.
        max_ms: u64,
    },
    /// Usually one distribution, with `rare_probability` another (e.g. moderation that
    /// sometimes takes hours).
    Sometimes {
        /// The common case.
        usually: Box<Delay>,
        /// The rare case.
        rarely: Box<Delay>,
        /// Chance of the rare case, 0.0 to 1.0.
        rare_probability: f64,
    },
}

/// Per-token, per-minute request limits (`None`: unlimited).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Creator info query (documented: 20).
    pub creator_info: Option<u32>,
    /// Direct-post video init (documented: 6).
    pub video_init: Option<u32>,
    /// Inbox video init (documented: 6).
    pub inbox_init: Option<u32>,
    /// Photo content init (documented: 6).
    pub content_init: Option<u32>,
    /// Status fetch (documented: 30).
    pub status: Option<u32>,
    /// Cancel (undocumented).
    pub cancel: Option<u32>,
    /// User info (documented: 600).
    pub user_info: Option<u32>,
    /// Video list (documented: 600).
    pub video_list: Option<u32>,
    /// Video query (documented: 600).
    pub video_query: Option<u32>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            creator_info: Some(20),
            video_init: Some(6),
            inbox_init: Some(6),
            content_init: Some(6),
            status: Some(30),
            cancel: None,
            user_info: Some(600),
            video_list: Some(600),
            video_query: Some(600),
        }
    }
}

/// Webhook delivery behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookPolicy {
    /// Attempts before an event is dropped.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled on every further one.
    pub first_retry_after_ms: u64,
    /// Chance that a delivered event is delivered a second time (at-least-once delivery).
    pub duplicate_probability: f64,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_retry_after_ms: 1_000,
            duplicate_probability: 0.05,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_config_overrides_only_what_it_names() {
        let config: SandboxConfig = partial(
            r#"{"tokens":{"access_token_ttl_secs":7200,"rotation":{"mode":"always"}},
                "oauth_error_status":"http4xx",
                "processing_delay":{"kind":"fixed","ms":10}}"#,
        );
        assert_eq!(config.tokens.access_token_ttl_secs, 7200);
        assert_eq!(config.tokens.refresh_token_ttl_secs, 31_536_000);
        assert_eq!(config.tokens.rotation, Rotation::Always);
        assert_eq!(config.oauth_error_status, OAuthErrorStatus::Http4xx);
        assert_eq!(config.processing_delay, Delay::Fixed { ms: 10 });
        assert_eq!(config.creators.len(), 5);
    }

    #[test]
    fn the_client_secret_never_shows_in_debug_output() {
        let config = SandboxConfig::default();
        let printed = format!("{config:?}");
        assert!(!printed.contains("sandbox-demo-client-secret"));
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn the_demo_creators_cover_public_private_banned_and_limited_accounts() {
        let creators = CreatorConfig::demo_set();
        assert!(creators.iter().any(|c| !c.private_account && !c.banned));
        assert!(creators.iter().any(|c| c.private_account));
        assert!(creators.iter().any(|c| c.banned));
        assert!(creators.iter().any(|c| c.daily_post_cap < 15));
        assert!(
            creators
                .iter()
                .any(|c| c.public_post_ids == PublicPostIds::Never)
        );
        let durations: Vec<u32> = creators
            .iter()
            .map(|c| c.max_video_post_duration_sec)
            .collect();
        for expected in [180, 300, 600] {
            assert!(durations.contains(&expected));
        }
    }

    #[test]
    fn the_commented_example_file_parses_into_the_config() {
        use figment::Figment;
        use figment::providers::{Format, Toml};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox.example.toml");
        let config: SandboxConfig = Figment::new().merge(Toml::file(path)).extract().unwrap();
        assert_eq!(config.creators.len(), 3);
        assert_eq!(config.apps[0].redirect_uris.len(), 2);
        assert_eq!(
            config.tokens.rotation,
            Rotation::Sometimes { probability: 0.5 }
        );
        assert_eq!(config.faults.len(), 1);
        assert_eq!(config.rate_limits.cancel, None);
    }

    fn partial(json: &str) -> SandboxConfig {
        serde_json::from_str(json).unwrap()
    }
}
