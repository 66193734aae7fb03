//! What a page can fail with, rendered as a plain page (never a secret, never a stack).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    #[error("please sign in")]
    SignInNeeded,
    #[error("this form expired or did not come from this dashboard; reload the page and try again")]
    Forbidden,
    #[error("there is nothing here")]
    NotFound,
    /// The person's role may not do this (the API's words).
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Api(String),
    #[error("tokpost could not read its database; try again shortly")]
    Store(#[from] tokpost_store::StoreError),
    #[error("{0}")]
    Internal(&'static str),
    #[error("a page could not be rendered")]
    Render(#[from] askama::Error),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::SignInNeeded => return Redirect::to("/sign-in").into_response(),
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::NotAllowed(_) => StatusCode::FORBIDDEN,
            Self::BadInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Api(_) => StatusCode::BAD_GATEWAY,
            Self::Store(_) | Self::Internal(_) | Self::Render(_) => {
                tracing::error!(error = %self, "dashboard page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = escape(&self.to_string());
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>tokpost: {status}</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\
             <body><main id=\"main\" class=\"narrow\"><h1>{status}</h1><p role=\"alert\">{message}</p>\
             <p><a href=\"/\">Back to the dashboard</a></p></main></body></html>"
        );
        (status, Html(page)).into_response()
    }
}

/// HTML-escapes text for the hand-written error page.
fn escape(text: &str) -> String {
    text.chars()
        .fold(String::with_capacity(text.len()), |mut out, c| {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                other => out.push(other),
            }
            out
        })
}
