//! Where TikTok lives and how long we wait for it.
//!
//! Base URLs are configuration so that the same client talks to the real TikTok, to tokpost's
//! sandbox, or to any TikTok-compatible server. This module holds no policy and performs no IO.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// The production API host (tiktok-api.md §0).
pub const PRODUCTION_API_BASE_URL: &str = "https://open.tiktokapis.com/";
/// The production host of the consent page (tiktok-api.md §0).
pub const PRODUCTION_AUTHORIZE_BASE_URL: &str = "https://www.tiktok.com/";

/// Everything the client needs to reach TikTok on behalf of one app.
///
/// `Debug` never shows the client secret.
#[derive(Clone)]
pub struct TikTokConfig {
    /// Base of every API path (`v2/...` is joined onto it).
    pub api_base_url: Url,
    /// Base of the consent page (`v2/auth/authorize/` is joined onto it).
    pub authorize_base_url: Url,
    /// The app's client key (TikTok's name for the OAuth client id).
    pub client_key: String,
    /// The app's client secret.
    pub client_secret: SecretString,
    /// The redirect URI registered for the app; sent verbatim.
    pub redirect_uri: String,
    /// Whole-request limit for API calls (token, posting, status).
    pub request_timeout: Duration,
    /// Whole-request limit for one chunk `PUT`: chunks are up to 128 MB, so this is longer.
    pub upload_chunk_timeout: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
}

impl TikTokConfig {
    /// A configuration for the real TikTok with conservative timeouts.
    ///
    /// # Errors
    /// Never in practice: the production URLs are constants (a unit test parses them), but
    /// they are parsed rather than asserted so that nothing here can panic.
    pub fn production(
        client_key: impl Into<String>,
        client_secret: SecretString,
        redirect_uri: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            api_base_url: base_url(PRODUCTION_API_BASE_URL)?,
            authorize_base_url: base_url(PRODUCTION_AUTHORIZE_BASE_URL)?,
            client_key: client_key.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            request_timeout: Duration::from_secs(30),
            upload_chunk_timeout: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(10),
        })
    }

    /// The same configuration pointed at another TikTok-compatible server (the sandbox, a mock).
    ///
    /// The paths of both URLs are kept: `http://127.0.0.1:8080/tiktok` joins as
    /// `http://127.0.0.1:8080/tiktok/v2/...`.
    #[must_use]
    pub fn with_base_urls(mut self, api_base_url: Url, authorize_base_url: Url) -> Self {
        self.api_base_url = with_trailing_slash(api_base_url);
        self.authorize_base_url = with_trailing_slash(authorize_base_url);
        self
    }

    /// The absolute URL of an API path such as `v2/oauth/token/`.
    pub(crate) fn api_url(&self, path: &str) -> Result<Url, ConfigError> {
        join(&self.api_base_url, path)
    }

    /// The absolute URL of the consent page.
    pub(crate) fn authorize_url(&self) -> Result<Url, ConfigError> {
        join(&self.authorize_base_url, "v2/auth/authorize/")
    }
}

fn join(base: &Url, path: &str) -> Result<Url, ConfigError> {
    with_trailing_slash(base.clone())
        .join(path)
        .map_err(|source| ConfigError::BaseUrl {
            base: base.to_string(),
            source,
        })
}

/// `Url::join` replaces the last path segment unless the base ends with `/`; a base URL
/// written without it must still keep its whole path.
fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

fn base_url(constant: &str) -> Result<Url, ConfigError> {
    Url::parse(constant).map_err(|source| ConfigError::BaseUrl {
        base: constant.to_owned(),
        source,
    })
}

impl fmt::Debug for TikTokConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TikTokConfig")
            .field("api_base_url", &self.api_base_url.as_str())
            .field("authorize_base_url", &self.authorize_base_url.as_str())
            .field("client_key", &self.client_key)
            .field("client_secret", &"[REDACTED]")
            .field("redirect_uri", &self.redirect_uri)
            .field("request_timeout", &self.request_timeout)
            .field("upload_chunk_timeout", &self.upload_chunk_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Why a client could not be built or a URL could not be formed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The HTTP stack refused to start, typically because the host has no CA certificates
    /// (reqwest 0.13 reads the operating system's trust store).
    #[error("the HTTP client could not be built (is a CA certificate bundle installed?): {0}")]
    HttpClient(String),
    /// A base URL cannot carry paths (for example `mailto:`).
    #[error("the base URL {base} cannot be joined with an API path: {source}")]
    BaseUrl {
        /// The offending base URL.
        base: String,
        /// Why joining failed.
        source: url::ParseError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_base_urls_parse() {
        let config =
            TikTokConfig::production("key", SecretString::from("s"), "https://x/cb").unwrap();
        assert_eq!(
            config.api_url("v2/oauth/token/").unwrap().as_str(),
            "https://open.tiktokapis.com/v2/oauth/token/"
        );
        assert_eq!(
            config.authorize_url().unwrap().as_str(),
            "https://www.tiktok.com/v2/auth/authorize/"
        );
    }

    #[test]
    fn a_base_url_with_a_path_keeps_its_path_with_or_without_a_trailing_slash() {
        let config = TikTokConfig::production("key", SecretString::from("s"), "https://x/cb")
            .unwrap()
            .with_base_urls(
                Url::parse("http://127.0.0.1:9/tiktok").unwrap(),
                Url::parse("http://127.0.0.1:9/consent/").unwrap(),
            );
        assert_eq!(
            config
                .api_url("v2/post/publish/status/fetch/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/tiktok/v2/post/publish/status/fetch/"
        );
        assert_eq!(
            config.authorize_url().unwrap().as_str(),
            "http://127.0.0.1:9/consent/v2/auth/authorize/"
        );
    }
}
