//! One typed failure for everything that can go wrong talking to TikTok, and the single place
//! that turns an answer (HTTP status + body) into a value or a failure.
//!
//! TikTok signals failure in the body, not the status: the v2 envelope's `error.code` (even
//! with HTTP 200, as creator info does for posting caps) and OAuth's flat `error` field (often
//! with HTTP 200 too). So every answer is judged by its body first and by its status only when
//! the body says nothing usable. Classification is a lookup of the exact code in the
//! [`crate::catalog`]; nothing here matches on message text.
//!
//! The native answer is always kept beside the classification (status, code, message, `log_id`
//! and the raw body verbatim) for support. The one exception: a token-endpoint body that
//! carries tokens but fails to decode has the token values replaced by `[REDACTED]`, because a
//! failure is logged and stored and a token must never be.

use std::fmt;

use serde_json::Value;

use crate::catalog::{self, Classification, Occurrence, RetryPolicy, ids};

/// A failure of one exchange with TikTok, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TikTokFailure {
    /// What the catalog says about it.
    pub classification: Classification,
    /// Where it was found (API error, fail reason, OAuth error, bare HTTP status, transport).
    pub occurrence: Occurrence,
    /// The HTTP status, if an answer arrived.
    pub http_status: Option<u16>,
    /// TikTok's code verbatim (`error.code`, OAuth `error`, or the fail reason).
    pub code: Option<String>,
    /// TikTok's message (`error.message`, `error_description`), or the transport error text.
    pub message: Option<String>,
    /// TikTok's `log_id`, to quote to TikTok support.
    pub log_id: Option<String>,
    /// The response body verbatim (empty for transport failures).
    pub raw_body: String,
}

impl TikTokFailure {
    /// The catalog's classification.
    #[must_use]
    pub fn classification(&self) -> Classification {
        self.classification
    }

    /// When resending can succeed.
    #[must_use]
    pub fn retry_policy(&self) -> RetryPolicy {
        self.classification.retry_policy()
    }

    /// Whether this is transient (retry with back-off inside the budget).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.classification.is_transient()
    }

    /// The failure a `FAILED` status (or a `post.publish.failed` webhook) describes.
    /// `raw_body` is the status answer (or webhook body) verbatim.
    #[must_use]
    pub fn from_fail_reason(fail_reason: &str, raw_body: impl Into<String>) -> Self {
        Self {
            classification: catalog::classify(fail_reason),
            occurrence: Occurrence::FailReason,
            http_status: None,
            code: (!fail_reason.is_empty()).then(|| fail_reason.to_owned()),
            message: None,
            log_id: None,
            raw_body: raw_body.into(),
        }
    }

    /// The failure an authorization callback carries (`error`, `error_description`).
    #[must_use]
    pub fn from_oauth_callback(
        error: &str,
        error_description: Option<&str>,
        raw_query: &str,
    ) -> Self {
        Self {
            classification: catalog::classify(error),
            occurrence: Occurrence::OauthError,
            http_status: None,
            code: Some(error.to_owned()),
            message: error_description.map(str::to_owned),
            log_id: None,
            raw_body: raw_query.to_owned(),
        }
    }

    /// A transport failure: no HTTP answer. The error's URL is dropped first, since upload
    /// URLs carry an upload token.
    pub(crate) fn from_transport(error: reqwest::Error) -> Self {
        if error.is_builder() {
            return Self {
                classification: Classification::Unknown,
                occurrence: Occurrence::Transport,
                http_status: None,
                code: None,
                message: Some(crate::client::error_text(&error.without_url())),
                log_id: None,
                raw_body: String::new(),
            };
        }
        let id = if error.is_timeout() {
            ids::TRANSPORT_TIMEOUT
        } else if error.is_connect() {
            ids::TRANSPORT_CONNECT
        } else {
            ids::TRANSPORT_INTERRUPTED
        };
        Self {
            classification: catalog::known(id),
            occurrence: Occurrence::Transport,
            http_status: None,
            code: None,
            message: Some(crate::client::error_text(&error.without_url())),
            log_id: None,
            raw_body: String::new(),
        }
    }

    /// A request that could not even be formed (a base URL that takes no path).
    pub(crate) fn from_configuration(error: &crate::config::ConfigError) -> Self {
        Self {
            classification: Classification::Unknown,
            occurrence: Occurrence::Transport,
            http_status: None,
            code: None,
            message: Some(error.to_string()),
            log_id: None,
            raw_body: String::new(),
        }
    }

    /// A failure identified by a bare HTTP status of a chunk `PUT` (or by a tokpost id).
    pub(crate) fn from_status(id: &str, http_status: u16, raw_body: String) -> Self {
        Self {
            classification: catalog::known(id),
            occurrence: Occurrence::HttpStatus,
            http_status: Some(http_status),
            code: None,
            message: None,
            log_id: None,
            raw_body,
        }
    }

    fn malformed(http_status: u16, raw_body: String, detail: String) -> Self {
        Self {
            message: Some(detail),
            ..Self::from_status(ids::MALFORMED_RESPONSE, http_status, raw_body)
        }
    }
}

impl fmt::Display for TikTokFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let category = self
            .classification
            .entry()
            .map_or("Unknown", |entry| entry.category.label());
        write!(
            f,
            "TikTok failure {} ({category})",
            self.classification.id()
        )?;
        if let Some(code) = &self.code {
            write!(f, ": code {code}")?;
        }
        if let Some(message) = self.message.as_deref().filter(|m| !m.is_empty()) {
            write!(f, ": {message}")?;
        }
        if let Some(status) = self.http_status {
            write!(f, " [HTTP {status}]")?;
        }
        if let Some(log_id) = &self.log_id {
            write!(f, " [log_id {log_id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for TikTokFailure {}

/// The two body shapes TikTok answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnswerShape {
    /// `{data, error: {code, message, log_id}}` of the v2 resource APIs.
    Envelope,
    /// The flat OAuth object: the answer itself, or `{error, error_description, log_id}`.
    OAuth,
}

/// Judges one answer. On success returns the envelope's `data` (`Null` when absent), or the
/// whole OAuth object (`Null` for an empty body, as revoke may send).
pub(crate) fn judge(status: u16, body: &str, shape: AnswerShape) -> Result<Value, TikTokFailure> {
    let success_status = (200..300).contains(&status);
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let mut seen_code: Option<String> = None;
    let mut seen_message: Option<String> = None;
    let mut seen_log_id: Option<String> = None;

    if let Some(Value::Object(object)) = &parsed {
        match object.get("error") {
            Some(Value::Object(error)) => {
                let code = error.get("code").and_then(Value::as_str);
                seen_message = string_field(error, "message");
                seen_log_id =
                    string_field(error, "log_id").or_else(|| string_field(error, "logid"));
                match code {
                    Some("ok") if success_status => {
                        return Ok(object.get("data").cloned().unwrap_or(Value::Null));
                    }
                    Some("ok") => seen_code = Some("ok".to_owned()),
                    Some(code) => {
                        return Err(coded(
                            Occurrence::ApiError,
                            code,
                            status,
                            seen_message,
                            seen_log_id,
                            body,
                        ));
                    }
                    None => {}
                }
            }
            Some(Value::String(error)) if !error.is_empty() => {
                return Err(coded(
                    Occurrence::OauthError,
                    error,
                    status,
                    string_field(object, "error_description"),
                    string_field(object, "log_id"),
                    body,
                ));
            }
            _ => {
                if shape == AnswerShape::OAuth && success_status {
                    return Ok(parsed.unwrap_or(Value::Null));
                }
            }
        }
    } else if shape == AnswerShape::OAuth && success_status && body.trim().is_empty() {
        return Ok(Value::Null);
    }

    let mut failure = match status {
        429 => TikTokFailure::from_status(ids::HTTP_429, status, body.to_owned()),
        500..=599 => TikTokFailure::from_status(ids::HTTP_5XX, status, body.to_owned()),
        200..=299 => TikTokFailure::malformed(
            status,
            body.to_owned(),
            "the answer carries neither a result nor an error".to_owned(),
        ),
        _ => TikTokFailure {
            classification: Classification::Unknown,
            occurrence: Occurrence::HttpStatus,
            http_status: Some(status),
            code: None,
            message: None,
            log_id: None,
            raw_body: body.to_owned(),
        },
    };
    failure.code = seen_code;
    failure.message = failure.message.or(seen_message);
    failure.log_id = seen_log_id;
    Err(failure)
}

/// Decodes a successful answer into its type; a mismatch is a `malformed_response`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &str,
    value: Value,
) -> Result<T, TikTokFailure> {
    serde_json::from_value(value)
        .map_err(|error| TikTokFailure::malformed(status, body.to_owned(), error.to_string()))
}

/// Like [`decode`] for token answers: a body that fails to decode keeps its shape but loses
/// its token values.
pub(crate) fn decode_token_answer<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &str,
    value: Value,
) -> Result<T, TikTokFailure> {
    serde_json::from_value(value)
        .map_err(|error| TikTokFailure::malformed(status, redact_tokens(body), error.to_string()))
}

impl TikTokFailure {
    /// For token-endpoint failures: a success-status body that was not a usable error may be
    /// a token answer, so its token values (or, if it is not JSON, all of it) are withheld.
    pub(crate) fn without_token_values(mut self) -> Self {
        let success_status = self.http_status.is_some_and(|s| (200..300).contains(&s));
        if success_status && self.occurrence != Occurrence::OauthError {
            self.raw_body = redact_tokens(&self.raw_body);
        }
        self
    }
}

fn redact_tokens(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut object)) => {
            for key in ["access_token", "refresh_token"] {
                if let Some(value) = object.get_mut(key) {
                    *value = Value::String("[REDACTED]".to_owned());
                }
            }
            Value::Object(object).to_string()
        }
        Ok(_) => body.to_owned(),
        // Not JSON: it cannot be a token answer we could have parsed, but it might still hold
        // one; keep nothing rather than risk it.
        Err(_) => format!("[{} bytes of non-JSON withheld]", body.len()),
    }
}

fn coded(
    occurrence: Occurrence,
    code: &str,
    status: u16,
    message: Option<String>,
    log_id: Option<String>,
    body: &str,
) -> TikTokFailure {
    TikTokFailure {
        classification: catalog::classify(code),
        occurrence,
        http_status: Some(status),
        code: Some(code.to_owned()),
        message,
        log_id,
        raw_body: body.to_owned(),
    }
}

fn string_field(object: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::ok_envelope(
        200,
        r#"{"data":{"x":1},"error":{"code":"ok","message":"","log_id":"L"}}"#
    )]
    #[case::ok_without_data(200, r#"{"error":{"code":"ok","message":"","log_id":"L"}}"#)]
    fn an_ok_envelope_with_a_success_status_succeeds(#[case] status: u16, #[case] body: &str) {
        assert!(judge(status, body, AnswerShape::Envelope).is_ok());
    }

    #[rstest]
    #[case::cap_with_http_200(
        200,
        r#"{"data":{},"error":{"code":"spam_risk_too_many_posts","message":"m","log_id":"L"}}"#,
        "spam_risk_too_many_posts"
    )]
    #[case::unknown_code(
        400,
        r#"{"data":{},"error":{"code":"brand_new_code","message":"m","log_id":"L"}}"#,
        "unknown"
    )]
    #[case::not_json_502(502, "<html>Bad gateway</html>", "http_5xx")]
    #[case::empty_503(503, "", "http_5xx")]
    #[case::bare_429(429, "", "http_429")]
    #[case::garbage_200(200, "not json", "malformed_response")]
    #[case::ok_code_with_500(500, r#"{"error":{"code":"ok"}}"#, "http_5xx")]
    #[case::json_array_200(200, "[1,2]", "malformed_response")]
    #[case::oauth_shape_on_v2(
        200,
        r#"{"error":"invalid_grant","error_description":"d","log_id":"L"}"#,
        "invalid_grant"
    )]
    fn envelopes_are_judged_by_their_code_before_their_status(
        #[case] status: u16,
        #[case] body: &str,
        #[case] expected: &str,
    ) {
        let failure = judge(status, body, AnswerShape::Envelope).unwrap_err();
        assert_eq!(failure.classification.id(), expected);
        assert_eq!(failure.http_status, Some(status));
        assert_eq!(failure.raw_body, body);
    }

    #[test]
    fn a_failed_token_answer_never_keeps_the_tokens_in_its_raw_body() {
        let body =
            r#"{"access_token":"act.SECRET","refresh_token":"rft.SECRET","expires_in":"soon"}"#;
        let value = judge(200, body, AnswerShape::OAuth).unwrap();
        let failure = decode_token_answer::<crate::wire::TokenGrantWire>(200, body, value)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(failure.classification.id(), "malformed_response");
        assert!(!failure.raw_body.contains("SECRET"), "{}", failure.raw_body);
        assert!(!failure.to_string().contains("SECRET"));
    }

    #[test]
    fn display_names_the_classification_code_status_and_log_id() {
        let body = r#"{"data":{},"error":{"code":"invalid_param","message":"The chunk size is invalid","log_id":"202401011200001234567890ABCDEF1234"}}"#;
        let failure = judge(400, body, AnswerShape::Envelope).unwrap_err();
        assert_eq!(
            failure.to_string(),
            "TikTok failure invalid_params (Server): code invalid_param: The chunk size is invalid [HTTP 400] [log_id 202401011200001234567890ABCDEF1234]"
        );
    }
}
