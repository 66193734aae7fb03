//! One error type for every handler, one JSON shape for every rejection:
//! `{"error": {"code", "message", "field", "limit", "measured"}}` (plus `tiktok` when TikTok
//! said no). Codes are stable and meant for machines; messages are for people.
//!
//! Only a failing database answers 500 (logged once here, returned without detail) and only
//! TikTok being unavailable answers 503; whatever a request contains answers 4xx.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tiktok::TikTokFailure;
use tokpost_core::{ValidationError, ValidationProblem};
use tokpost_store::StoreError;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code (`too_long`, `not_found`, `oauth_state_replayed`, …).
    pub code: String,
    /// What happened, in words.
    pub message: String,
    /// The offending field's path in the request (`video.caption`, `privacy_level`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The limit that was broken: a number, a text, a list of allowed values or an object,
    /// depending on the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub limit: Option<Value>,
    /// What was measured, in the limit's terms (or the refused value itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub measured: Option<Value>,
    /// TikTok's answer and the failure catalog's classification, when TikTok refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tiktok: Option<Value>,
}

/// A rejected request, or a failure behind it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No key, an unknown key or a revoked key.
    #[error("a valid API key is required: Authorization: Bearer <key>")]
    Unauthorized,
    /// The resource does not exist in the caller's workspace.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A domain rule refused a value.
    #[error("{0}")]
    Validation(ValidationError),
    /// The body is not JSON, or not the JSON this route takes.
    #[error("{message}")]
    MalformedBody {
        code: &'static str,
        path: Option<String>,
        message: String,
    },
    /// The upload is larger than the configured limit.
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64, measured: Option<u64> },
    /// A request the current state does not allow, or a refusal with its own code.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
        field: Option<String>,
        limit: Option<Value>,
        measured: Option<Value>,
    },
    /// TikTok refused or could not be reached.
    #[error("TikTok: {}", .0.classification().id())]
    TikTok(Box<TikTokFailure>),
    /// The database failed.
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// A refusal with `status` and a stable `code`.
    pub(crate) fn refused(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Refused {
            status,
            code,
            message: message.into(),
            field: None,
            limit: None,
            measured: None,
        }
    }

    /// A 422 about one field.
    pub(crate) fn field(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message: message.into(),
            field: Some(field.into()),
            limit: None,
            measured: None,
        }
    }

    /// A 422 about one field, with the limit it broke and what was measured.
    pub(crate) fn unprocessable(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
        limit: Value,
        measured: Value,
    ) -> Self {
        Self::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message: message.into(),
            field: Some(field.into()),
            limit: Some(limit),
            measured: Some(measured),
        }
    }

    /// The status this error answers with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MalformedBody { .. } => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Refused { status, .. } => *status,
            Self::TikTok(failure) if failure.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            Self::TikTok(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON detail.
    #[must_use]
    pub fn detail(&self) -> ErrorDetail {
        let plain = |code: &str, message: String| ErrorDetail {
            code: code.to_owned(),
            message,
            field: None,
            limit: None,
            measured: None,
            tiktok: None,
        };
        match self {
            Self::Unauthorized => plain("unauthorized", self.to_string()),
            Self::NotFound(_) => plain("not_found", self.to_string()),
            Self::Validation(error) => validation_detail(error),
            Self::MalformedBody {
                code,
                path,
                message,
            } => ErrorDetail {
                field: path.clone(),
                ..plain(code, message.clone())
            },
            Self::TooLarge { limit, measured } => ErrorDetail {
                field: Some("body".to_owned()),
                limit: Some(json!(limit)),
                measured: measured.map(|m| json!(m)),
                ..plain(
                    "upload_too_large",
                    match measured {
                        Some(measured) => {
                            format!("the upload is {measured} bytes; the limit is {limit} bytes")
                        }
                        None => format!(
                            "the upload exceeded the limit of {limit} bytes (reading stopped there)"
                        ),
                    },
                )
            },
            Self::Refused {
                code,
                message,
                field,
                limit,
                measured,
                ..
            } => ErrorDetail {
                field: field.clone(),
                limit: limit.clone(),
                measured: measured.clone(),
                ..plain(code, message.clone())
            },
            Self::TikTok(failure) => {
                let code = if failure.is_transient() {
                    "tiktok_unavailable"
                } else {
                    "tiktok_refused"
                };
                let message = match failure.classification().entry() {
                    Some(entry) => format!("TikTok: {} {}", entry.meaning, entry.how_to_fix),
                    None => format!(
                        "TikTok answered with a failure tokpost does not know ({})",
                        failure.code.as_deref().unwrap_or("no code")
                    ),
                };
                ErrorDetail {
                    tiktok: Some(failure_json(failure)),
                    ..plain(code, message)
                }
            }
            Self::Store(_) => plain(
                "internal",
                "an internal error occurred; it was logged".to_owned(),
            ),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self::Validation(error)
    }
}

impl From<TikTokFailure> for ApiError {
    fn from(failure: TikTokFailure) -> Self {
        Self::TikTok(Box::new(failure))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Store(error) = &self {
            tracing::error!(%error, "request failed on the store");
        }
        let status = self.status();
        let body = ErrorBody {
            error: self.detail(),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// A TikTok failure as the API shows it: the catalog's classification and the native answer.
/// The native body never holds a token (the client strips them before it gets here).
pub(crate) fn failure_json(failure: &TikTokFailure) -> Value {
    let entry = failure.classification().entry();
    json!({
        "classification": failure.classification().id(),
        "category": entry.map(|e| e.category.label()),
        "action": entry.and_then(|e| e.action).map(|a| a.label()),
        "who_acts": entry.map(|e| e.who_acts.iter().map(|w| w.label()).collect::<Vec<_>>()),
        "how_to_fix": entry.map(|e| e.how_to_fix),
        "http_status": failure.http_status,
        "code": failure.code,
        "message": failure.message,
        "log_id": failure.log_id,
    })
}

fn validation_detail(error: &ValidationError) -> ErrorDetail {
    let (code, limit, measured) = match &error.problem {
        ValidationProblem::TooLong {
            limit,
            measured,
            unit,
        } => (
            "too_long",
            Some(json!({"value": limit, "unit": unit})),
            Some(json!({"value": measured, "unit": unit})),
        ),
        ValidationProblem::TooShort {
            minimum,
            measured,
            unit,
        } => (
            "too_short",
            Some(json!({"value": minimum, "unit": unit})),
            Some(json!({"value": measured, "unit": unit})),
        ),
        ValidationProblem::Missing => ("required", None, None),
        ValidationProblem::Malformed { expected } => ("malformed", Some(json!(expected)), None),
        ValidationProblem::OutOfRange { limit, measured } => {
            ("out_of_range", Some(json!(limit)), Some(json!(measured)))
        }
        ValidationProblem::Conflict { code, .. } => (*code, None, None),
    };
    ErrorDetail {
        code: code.to_owned(),
        message: error.to_string(),
        field: Some(error.field.clone()),
        limit,
        measured,
        tiktok: None,
    }
}
