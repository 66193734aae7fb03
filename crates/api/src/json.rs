//! The JSON body extractor: a body that is not JSON, or not the JSON a route takes, answers 400
//! with serde's message and the path of the offending field, never 5xx and never a plain-text
//! rejection.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest JSON body accepted (media bytes go through the upload route, not JSON).
const MAX_JSON_BYTES: usize = 1024 * 1024;

/// A JSON request body of type `T`.
#[derive(Debug, Clone)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::MalformedBody {
                code: "unreadable_body",
                path: None,
                message: rejection.body_text(),
            })?;
        if bytes.len() > MAX_JSON_BYTES {
            return Err(ApiError::TooLarge {
                limit: MAX_JSON_BYTES as u64,
                measured: Some(bytes.len() as u64),
            });
        }
        parse(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T`, naming the failing field.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let code = if inner.is_data() {
            "invalid_body"
        } else {
            "malformed_json"
        };
        ApiError::MalformedBody {
            code,
            path: (path != ".").then_some(path),
            message: inner.to_string(),
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::MalformedBody {
            code: "malformed_json",
            path: None,
            message: error.to_string(),
        })?;
    Ok(value)
}
