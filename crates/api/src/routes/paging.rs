//! What every listing shares: its query parsed into a clear refusal, a page size of 1–200, and a
//! `next_cursor` of `<unix ms>.<id>` (the sort key of the page's last item).

use std::str::FromStr;

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use jiff::Timestamp;
use tokpost_core::{ValidationError, ValidationProblem};

use crate::error::ApiError;

/// Largest page of a listing.
pub(crate) const MAX_PAGE: u32 = 200;
/// Page size when none is asked for.
pub(crate) const DEFAULT_PAGE: u32 = 50;

fn malformed(field: &str, expected: &'static str) -> ApiError {
    ApiError::Validation(ValidationError::new(
        field,
        ValidationProblem::Malformed { expected },
    ))
}

/// The query, or a 400 saying what in it is not understood.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(query)| query)
        .map_err(|rejection| ApiError::MalformedBody {
            code: "invalid_query",
            path: None,
            message: rejection.body_text(),
        })
}

/// `limit`: 1–200, 50 when absent.
pub(crate) fn limit(text: Option<&str>) -> Result<u32, ApiError> {
    let Some(text) = text else {
        return Ok(DEFAULT_PAGE);
    };
    match text.trim().parse::<u32>() {
        Ok(limit) if (1..=MAX_PAGE).contains(&limit) => Ok(limit),
        Ok(limit) => Err(ApiError::Validation(ValidationError::new(
            "limit",
            ValidationProblem::OutOfRange {
                limit: u64::from(MAX_PAGE) + 1,
                measured: u64::from(limit),
            },
        ))),
        Err(_) => Err(malformed("limit", "a whole number from 1 to 200")),
    }
}

/// `cursor`: the `next_cursor` of a previous page.
pub(crate) fn cursor<T: FromStr>(text: Option<&str>) -> Result<Option<(Timestamp, T)>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let bad = || malformed("cursor", "a next_cursor value from a previous page");
    let (millis, id) = text.split_once('.').ok_or_else(bad)?;
    let millis: i64 = millis.parse().map_err(|_| bad())?;
    let at = Timestamp::from_millisecond(millis).map_err(|_| bad())?;
    let id = id.parse().map_err(|_| bad())?;
    Ok(Some((at, id)))
}

/// The cursor after a page of `limit` whose last item sorts at `(at, id)`; `None` on a short
/// (so the last) page.
pub(crate) fn next_cursor<T: std::fmt::Display>(
    len: usize,
    limit: u32,
    last: Option<(Timestamp, T)>,
) -> Option<String> {
    (len == limit as usize)
        .then_some(last)
        .flatten()
        .map(|(at, id)| format!("{}.{id}", at.as_millisecond()))
}
