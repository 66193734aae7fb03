//! The embedded assets: served from the binary, cached by name.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// JavaScript, as the browser must be told it is.
const JS: &str = "text/javascript; charset=utf-8";

/// Every asset: its name under `/assets/`, content type and bytes.
pub(crate) const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/style.css"),
    ),
    ("app.js", JS, include_bytes!("../assets/app.js")),
    ("compose.js", JS, include_bytes!("../assets/compose.js")),
    ("upload.js", JS, include_bytes!("../assets/upload.js")),
    ("fix.js", JS, include_bytes!("../assets/fix.js")),
    ("photos.js", JS, include_bytes!("../assets/photos.js")),
    ("preview.js", JS, include_bytes!("../assets/preview.js")),
    ("status.js", JS, include_bytes!("../assets/status.js")),
    ("calendar.js", JS, include_bytes!("../assets/calendar.js")),
    ("import.js", JS, include_bytes!("../assets/import.js")),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../assets/icon.svg"),
    ),
];

pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
