//! The HTTP client shared by every endpoint: timeouts, headers and the one way a request
//! becomes an answer or a transport failure.
//!
//! It must never log a token, a client secret or an upload URL's query string: only the
//! endpoint path, the status and TikTok's `log_id` are logged.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use clock::SharedClock;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::config::{ConfigError, TikTokConfig};
use crate::failure::TikTokFailure;
use crate::wire::AccessToken;

/// `Content-Type` the posting docs ask for.
const JSON_UTF8: &str = "application/json; charset=UTF-8";

/// A typed client for Login Kit and the Content Posting API. Cheap to clone.
#[derive(Clone)]
pub struct TikTokClient {
    pub(crate) http: reqwest::Client,
    pub(crate) config: Arc<TikTokConfig>,
    pub(crate) clock: SharedClock,
}

impl fmt::Debug for TikTokClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TikTokClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// An HTTP answer, read completely.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

impl TikTokClient {
    /// Builds a client. `clock` is used for back-off waits between upload retries.
    ///
    /// # Errors
    /// [`ConfigError::HttpClient`] when the HTTP stack cannot start (for example a host
    /// without CA certificates).
    pub fn new(config: TikTokConfig, clock: SharedClock) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tokpost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ConfigError::HttpClient(error_text(&error)))?;
        Ok(Self {
            http,
            config: Arc::new(config),
            clock,
        })
    }

    /// The configuration this client was built with.
    #[must_use]
    pub fn config(&self) -> &TikTokConfig {
        &self.config
    }

    /// `POST`s JSON (or nothing) with a bearer token to an API path.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        token: &AccessToken,
        body: Option<&impl serde::Serialize>,
    ) -> Result<Answer, TikTokFailure> {
        let url = self.api_url(path)?;
        let mut request = self
            .http
            .post(url)
            .bearer_auth(token.expose_secret())
            .header(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(path, request, self.config.request_timeout).await
    }

    /// `POST`s a form (the OAuth endpoints).
    pub(crate) async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, TikTokFailure> {
        let url = self.api_url(path)?;
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CACHE_CONTROL, "no-cache")
            .form(form);
        self.send(path, request, self.config.request_timeout).await
    }

    pub(crate) async fn send(
        &self,
        label: &str,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<Answer, TikTokFailure> {
        let response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(TikTokFailure::from_transport)?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(TikTokFailure::from_transport)?;
        tracing::debug!(endpoint = label, status, "TikTok answered");
        Ok(Answer { status, body })
    }

    fn api_url(&self, path: &str) -> Result<url::Url, TikTokFailure> {
        self.config
            .api_url(path)
            .map_err(|error| TikTokFailure::from_configuration(&error))
    }
}

pub(crate) fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
