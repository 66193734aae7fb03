//! The HTTP API called in-process (no socket): the dashboard reuses every rule the API applies
//! (parsing, preflight, workspace scoping, OAuth states) instead of repeating them.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tower::ServiceExt;

use crate::error::PageError;

/// The largest API answer the dashboard reads (a post's history with native responses).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// An answer of the API: its status and JSON body (`Null` when the body is not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Answer {
    /// The status a page shows for this refusal: the API's own when the request was at fault
    /// (4xx), 502 when the API failed behind the page.
    pub(crate) fn page_status(&self) -> StatusCode {
        if self.status.is_client_error() {
            self.status
        } else {
            StatusCode::BAD_GATEWAY
        }
    }

    /// The API's own message of a refusal (`error.message`), for showing to the user.
    pub(crate) fn error_message(&self) -> String {
        self.body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map_or_else(
                || format!("the API answered {}", self.status),
                str::to_owned,
            )
    }
}

/// The API router, built once and cloned per call.
#[derive(Debug, Clone)]
pub(crate) struct InProcessApi {
    router: Router,
}

impl InProcessApi {
    pub(crate) fn new(router: Router) -> Self {
        Self { router }
    }

    /// Calls `method path` with the session's credential (none for the routes that take
    /// none: signing in, an invitation, a reset) and an optional body.
    pub(crate) async fn call(
        &self,
        key: Option<&SecretString>,
        method: Method,
        path: &str,
        body: Option<(&'static str, Body)>,
    ) -> Result<Answer, PageError> {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header(
                header::AUTHORIZATION,
                format!("Bearer {}", key.expose_secret()),
            );
        }
        let request = match body {
            Some((content_type, body)) => builder
                .header(header::CONTENT_TYPE, content_type)
                .body(body),
            None => builder.body(Body::empty()),
        }
        .map_err(|_| PageError::Internal("an API request could not be formed"))?;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|_| PageError::Internal("the API did not answer"))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|_| PageError::Internal("the API's answer could not be read"))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// `GET path`, the JSON body on success.
    pub(crate) async fn get(&self, key: &SecretString, path: &str) -> Result<Value, PageError> {
        let answer = self.call(Some(key), Method::GET, path, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(PageError::NotFound);
        }
        if answer.status == StatusCode::FORBIDDEN {
            return Err(PageError::NotAllowed(answer.error_message()));
        }
        if !answer.status.is_success() {
            return Err(PageError::Api(answer.error_message()));
        }
        Ok(answer.body)
    }

    /// `POST path` with a JSON body.
    pub(crate) async fn post_json(
        &self,
        key: &SecretString,
        path: &str,
        json: &Value,
    ) -> Result<Answer, PageError> {
        self.send_json(key, Method::POST, path, json).await
    }

    /// `method path` with a JSON body.
    pub(crate) async fn send_json(
        &self,
        key: &SecretString,
        method: Method,
        path: &str,
        json: &Value,
    ) -> Result<Answer, PageError> {
        let body = Body::from(json.to_string());
        self.call(Some(key), method, path, Some(("application/json", body)))
            .await
    }

    /// `POST path` with a JSON body and no credential (signing in, invitations, resets).
    pub(crate) async fn post_json_signed_out(
        &self,
        path: &str,
        json: &Value,
    ) -> Result<Answer, PageError> {
        let body = Body::from(json.to_string());
        self.call(None, Method::POST, path, Some(("application/json", body)))
            .await
    }
}
