//! The two answer shapes TikTok uses: the v2 envelope `{data, error{code,message,log_id}}` for
//! resource APIs and the flat `{error, error_description, log_id}` object for OAuth, plus the
//! raw answers fault injection needs (an empty 5xx, a connection dropped mid-body).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::config::OAuthErrorStatus;

/// Every `error.code` the sandbox sends on the v2 endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    InvalidParams,
    AccessTokenInvalid,
    ScopeNotAuthorized,
    ScopePermissionMissed,
    RateLimitExceeded,
    SpamRiskTooManyPosts,
    SpamRiskUserBannedFromPosting,
    SpamRiskTooManyPendingShare,
    ReachedActiveUserCap,
    UnauditedClientCanOnlyPostToPrivateAccounts,
    UrlOwnershipUnverified,
    PrivacyLevelOptionMismatch,
    AppVersionCheckFailed,
    InvalidPublishId,
    TokenNotAuthorizedForSpecifiedPublishId,
    PublishNotCancellable,
    InternalError,
    /// A code forced by fault injection, sent verbatim.
    Injected(String),
}

impl ErrorCode {
    pub(crate) fn as_wire(&self, invalid_params_spelling: &str) -> String {
        let fixed = match self {
            Self::InvalidParams => invalid_params_spelling,
            Self::AccessTokenInvalid => "access_token_invalid",
            Self::ScopeNotAuthorized => "scope_not_authorized",
            Self::ScopePermissionMissed => "scope_permission_missed",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::SpamRiskTooManyPosts => "spam_risk_too_many_posts",
            Self::SpamRiskUserBannedFromPosting => "spam_risk_user_banned_from_posting",
            Self::SpamRiskTooManyPendingShare => "spam_risk_too_many_pending_share",
            Self::ReachedActiveUserCap => "reached_active_user_cap",
            Self::UnauditedClientCanOnlyPostToPrivateAccounts => {
                "unaudited_client_can_only_post_to_private_accounts"
            }
            Self::UrlOwnershipUnverified => "url_ownership_unverified",
            Self::PrivacyLevelOptionMismatch => "privacy_level_option_mismatch",
            Self::AppVersionCheckFailed => "app_version_check_failed",
            Self::InvalidPublishId => "invalid_publish_id",
            Self::TokenNotAuthorizedForSpecifiedPublishId => {
                "token_not_authorized_for_specified_publish_id"
            }
            Self::PublishNotCancellable => "publish_not_cancellable",
            Self::InternalError => "internal_error",
            Self::Injected(code) => code,
        };
        fixed.to_owned()
    }

    /// The documented HTTP status (§14.1); creator info overrides its cap errors to 200.
    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidParams
            | Self::ScopePermissionMissed
            | Self::AppVersionCheckFailed
            | Self::InvalidPublishId
            | Self::TokenNotAuthorizedForSpecifiedPublishId
            | Self::PublishNotCancellable => StatusCode::BAD_REQUEST,
            Self::AccessTokenInvalid | Self::ScopeNotAuthorized => StatusCode::UNAUTHORIZED,
            Self::RateLimitExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::SpamRiskTooManyPosts
            | Self::SpamRiskUserBannedFromPosting
            | Self::SpamRiskTooManyPendingShare
            | Self::ReachedActiveUserCap
            | Self::UnauditedClientCanOnlyPostToPrivateAccounts
            | Self::UrlOwnershipUnverified
            | Self::PrivacyLevelOptionMismatch => StatusCode::FORBIDDEN,
            Self::InternalError | Self::Injected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A failed v2 call: what goes into `error` and the HTTP status.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) code: ErrorCode,
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    /// `data` to send beside the error (creator info's cap errors may carry it).
    pub(crate) data: Value,
}

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = code.status();
        Self {
            code,
            status,
            message: message.into(),
            data: json!({}),
        }
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }

    pub(crate) fn token_invalid() -> Self {
        Self::new(
            ErrorCode::AccessTokenInvalid,
            "The access token is invalid or not found in the request.",
        )
    }

    pub(crate) fn scope_missing(scope: &str) -> Self {
        Self::new(
            ErrorCode::ScopeNotAuthorized,
            format!(
                "The user did not authorize the scope required for completing this request: {scope}."
            ),
        )
    }

    pub(crate) fn rate_limited() -> Self {
        Self::new(
            ErrorCode::RateLimitExceeded,
            "The API rate limit was exceeded. Please try again later.",
        )
    }
}

/// Renders v2 envelopes; knows the configured spelling of `invalid_params`.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub(crate) invalid_params_spelling: String,
}

impl Envelope {
    pub(crate) fn ok(&self, data: Option<Value>, log_id: String) -> Response {
        let mut body = json!({ "error": { "code": "ok", "message": "", "log_id": log_id } });
        if let (Some(data), Some(object)) = (data, body.as_object_mut()) {
            object.insert("data".to_owned(), data);
        }
        (StatusCode::OK, axum::Json(body)).into_response()
    }

    pub(crate) fn error(&self, error: ApiError, log_id: String) -> Response {
        let body = json!({
            "data": error.data,
            "error": {
                "code": error.code.as_wire(&self.invalid_params_spelling),
                "message": error.message,
                "log_id": log_id,
            }
        });
        (error.status, axum::Json(body)).into_response()
    }
}

/// The OAuth `error` values (RFC 6749 names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OAuthErrorKind {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    /// A value forced by fault injection, sent verbatim.
    Injected(String),
}

/// A flat OAuth error.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub(crate) kind: OAuthErrorKind,
    pub(crate) description: String,
    /// Only set by fault injection, which names its own status.
    pub(crate) forced_status: Option<StatusCode>,
}

impl OAuthError {
    pub(crate) fn new(kind: OAuthErrorKind, description: impl Into<String>) -> Self {
        Self {
            kind,
            description: description.into(),
            forced_status: None,
        }
    }

    pub(crate) fn render(self, policy: OAuthErrorStatus, log_id: &str) -> Response {
        let (error, natural_status) = match &self.kind {
            OAuthErrorKind::InvalidRequest => {
                ("invalid_request".to_owned(), StatusCode::BAD_REQUEST)
            }
            OAuthErrorKind::InvalidClient => {
                ("invalid_client".to_owned(), StatusCode::UNAUTHORIZED)
            }
            OAuthErrorKind::InvalidGrant => ("invalid_grant".to_owned(), StatusCode::BAD_REQUEST),
            OAuthErrorKind::UnsupportedGrantType => {
                ("unsupported_grant_type".to_owned(), StatusCode::BAD_REQUEST)
            }
            OAuthErrorKind::Injected(error) => (error.clone(), StatusCode::BAD_REQUEST),
        };
        let status = self.forced_status.unwrap_or(match policy {
            OAuthErrorStatus::Http200 => StatusCode::OK,
            OAuthErrorStatus::Http4xx => natural_status,
        });
        let body =
            json!({ "error": error, "error_description": self.description, "log_id": log_id });
        with_logid_header((status, axum::Json(body)).into_response(), log_id)
    }
}

/// Adds the `x-tt-logid` header TikTok puts on token responses.
pub(crate) fn with_logid_header(mut response: Response, log_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(log_id) {
        response.headers_mut().insert("x-tt-logid", value);
    }
    response
}

/// A gateway-style 5xx with no body at all.
pub(crate) fn bare_5xx(status: StatusCode) -> Response {
    let status = if status.is_server_error() {
        status
    } else {
        StatusCode::BAD_GATEWAY
    };
    (status, Body::empty()).into_response()
}

/// Announces a JSON body, sends its first bytes, then fails the body stream, which makes the
/// HTTP server abort the connection: the client sees a truncated answer or a reset.
pub(crate) fn dropped_connection() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"data\":{")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox fault: connection dropped",
        )),
    ];
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
    response
}
