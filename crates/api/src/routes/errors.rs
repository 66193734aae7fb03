//! The failure catalog: every way TikTok says no, what it means, who acts, what tokpost does.

use axum::Json;
use axum::extract::Path;
use serde_json::Value;

use crate::error::{ApiError, ErrorBody};

/// Every failure tokpost recognises.
#[utoipa::path(get, path = "/v1/errors", tag = "errors",
    responses((status = 200, description = "The whole catalog", body = [Object])))]
pub(crate) async fn list() -> Result<Json<Value>, ApiError> {
    Ok(Json(to_json(&tiktok::catalog::CATALOG)))
}

/// One failure, by TikTok's code (any spelling) or tokpost's id.
#[utoipa::path(get, path = "/v1/errors/{code}", tag = "errors",
    params(("code" = String, Path, description = "A TikTok error code or fail reason")),
    responses(
        (status = 200, description = "The catalog entry", body = Object),
        (status = 404, description = "tokpost does not know this code", body = ErrorBody),
    ))]
pub(crate) async fn get(Path(code): Path<String>) -> Result<Json<Value>, ApiError> {
    tiktok::catalog::lookup(code.trim())
        .map(|entry| Json(to_json(entry)))
        .ok_or(ApiError::NotFound("catalog entry"))
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    // The catalog is static data of plain strings and enums; encoding cannot fail.
    serde_json::to_value(value).unwrap_or(Value::Null)
}
