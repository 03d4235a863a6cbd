//! The operator dashboard: one page, its script and its style sheet, compiled into the binary so that
//! it works offline. The page itself holds no data; the script signs in with a token and reads
//! `/api/v1` like any other client.

use axum::{
    http::{HeaderValue, header},
    response::IntoResponse,
};

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const APP_CSS: &str = include_str!("dashboard/app.css");

/// Only the dashboard's own files; images from the API come as `blob:` URLs.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
}

/// `GET /`: the dashboard page.
pub async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /dashboard/app.js`.
pub async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /dashboard/app.css`.
pub async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}
