//! The operator dashboard and the wall screen: two pages, their scripts and one style sheet, compiled
//! into the binary so that they work offline. The pages hold no data; the scripts sign in with a token
//! and read `/api/v1` like any other client.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::state::ApiState;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const WALL_HTML: &str = include_str!("dashboard/wall.html");
const COMMON_JS: &str = include_str!("dashboard/common.js");
const MAP_JS: &str = include_str!("dashboard/map.js");
const APP_JS: &str = include_str!("dashboard/app.js");
const TUNING_JS: &str = include_str!("dashboard/tuning.js");
const WALL_JS: &str = include_str!("dashboard/wall.js");
const APP_CSS: &str = include_str!("dashboard/app.css");

/// Only the dashboard's own files, images from the API as `blob:` URLs, and the map's tiles from the
/// site's own tile server when `[map] tiles` names one.
fn content_security_policy(state: &ApiState) -> HeaderValue {
    let tiles = state.map.config.tile_origin().map(|origin| format!(" {origin}")).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; img-src 'self' blob:{tiles}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

fn asset(state: &ApiState, content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_SECURITY_POLICY, content_security_policy(state)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the dashboard page.
pub async fn index(State(state): State<ApiState>) -> Response {
    asset(&state, "text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /wall`: the wall screen of a command center (map, trends, newest cases in turn).
pub async fn wall(State(state): State<ApiState>) -> Response {
    asset(&state, "text/html; charset=utf-8", WALL_HTML)
}

/// `GET /dashboard/{script}.js`: what both pages share (`common`), the map (`map`), the dashboard
/// (`app`, its tuning view `tuning`) and the wall (`wall`).
pub async fn script(State(state): State<ApiState>, axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let body = match name.as_str() {
        "common.js" => COMMON_JS,
        "map.js" => MAP_JS,
        "app.js" => APP_JS,
        "tuning.js" => TUNING_JS,
        "wall.js" => WALL_JS,
        _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
    };
    asset(&state, "text/javascript; charset=utf-8", body)
}

/// `GET /dashboard/app.css`.
pub async fn style(State(state): State<ApiState>) -> Response {
    asset(&state, "text/css; charset=utf-8", APP_CSS)
}
