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
        self.post_json_to(path, path, token, body).await
    }

    /// `GET`s an API path (with its query) with a bearer token; `label` names the endpoint in
    /// metrics and logs.
    pub(crate) async fn get_json(
        &self,
        label: &str,
        path: &str,
        token: &AccessToken,
    ) -> Result<Answer, TikTokFailure> {
        let url = self.api_url(path)?;
        let request = self.http.get(url).bearer_auth(token.expose_secret());
        self.send(label, request, self.config.request_timeout).await
    }

    /// `POST`s JSON (or nothing) with a bearer token to an API path with a query; `label`
    /// names the endpoint in metrics and logs.
    pub(crate) async fn post_json_to(
        &self,
        label: &str,
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
        self.send(label, request, self.config.request_timeout).await
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
        let started = self.clock.now();
        let answer = match request.timeout(timeout).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                response.text().await.map(|body| Answer { status, body })
            }
            Err(error) => Err(error),
        };
        match answer {
            Ok(answer) => {
                record_call(
                    label,
                    &answer.status.to_string(),
                    &answer_code(&answer.body),
                    started,
                    self.clock.now(),
                );
                tracing::debug!(endpoint = label, status = answer.status, "TikTok answered");
                Ok(answer)
            }
            Err(error) => {
                let failure = TikTokFailure::from_transport(error);
                record_call(
                    label,
                    "transport",
                    failure.classification().id(),
                    started,
                    self.clock.now(),
                );
                Err(failure)
            }
        }
    }

    fn api_url(&self, path: &str) -> Result<url::Url, TikTokFailure> {
        self.config
            .api_url(path)
            .map_err(|error| TikTokFailure::from_configuration(&error))
    }
}

/// Records one call to TikTok for the process's metrics recorder, if one is installed:
/// `tokpost_tiktok_calls_total` by endpoint, HTTP status (`transport` when no answer came) and
/// TikTok's code, and `tokpost_tiktok_call_duration_seconds` by endpoint. The endpoint is a
/// fixed path or name, never a URL (an upload URL carries a signature).
pub(crate) fn record_call(
    endpoint: &str,
    status: &str,
    code: &str,
    started: jiff::Timestamp,
    finished: jiff::Timestamp,
) {
    metrics::counter!(
        "tokpost_tiktok_calls_total",
        "endpoint" => endpoint.to_owned(),
        "status" => status.to_owned(),
        "code" => code.to_owned(),
    )
    .increment(1);
    let seconds = finished.duration_since(started).as_secs_f64().max(0.0);
    metrics::histogram!(
        "tokpost_tiktok_call_duration_seconds",
        "endpoint" => endpoint.to_owned(),
    )
    .record(seconds);
}

/// TikTok's code in an answer body (`error.code` of the v2 envelope, `error` of an OAuth body),
/// `none` when the body has none (an upload's empty answer). Bounded, as it becomes a label.
pub(crate) fn answer_code(body: &str) -> String {
    const MAX_LABEL_CHARS: usize = 64;
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            let error = value.get("error")?;
            error
                .get("code")
                .and_then(serde_json::Value::as_str)
                .or_else(|| error.as_str())
                .map(|code| code.chars().take(MAX_LABEL_CHARS).collect())
        })
        .unwrap_or_else(|| "none".to_owned())
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
