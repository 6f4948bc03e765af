//! The screens' pages, style sheet and scripts, embedded in the binary: no CDN, no build step.
//! Pages load only from this origin (`Content-Security-Policy: default-src 'self'`), and no
//! page may be framed by another site.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The manager's dashboard (`/`).
pub const DASHBOARD: &str = include_str!("assets/dashboard.html");
/// The pickup board (`/board`).
pub const BOARD: &str = include_str!("assets/board.html");
/// The bar's tablet (`/bar/<station>`).
pub const BAR: &str = include_str!("assets/bar.html");

/// Files under `/web/`: name, content type, body.
const FILES: &[(&str, &str, &str)] = &[
    (
        "milo.css",
        "text/css; charset=utf-8",
        include_str!("assets/milo.css"),
    ),
    ("common.js", JS, include_str!("assets/common.js")),
    ("board.js", JS, include_str!("assets/board.js")),
    ("bar.js", JS, include_str!("assets/bar.js")),
    ("dashboard.js", JS, include_str!("assets/dashboard.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

fn with_type(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// One of the pages.
pub fn page(html: &'static str) -> Response {
    with_type("text/html; charset=utf-8", html)
}

/// `GET /web/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => with_type(content_type, body),
        None => crate::http::error(StatusCode::NOT_FOUND, format!("no file {name:?}")),
    }
}
