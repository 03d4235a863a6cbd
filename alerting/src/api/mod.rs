//! The HTTP API (axum): cases, cameras, notifications, health and metrics, and the dashboard at `/`.
//!
//! Everything under `/api/` needs `Authorization: Bearer <token>`, checked against the SHA-256 digests
//! of `[[auth.tokens]]`; `/healthz`, `/readyz`, `/metrics` and the dashboard's static files are open.

mod auth;
mod camera_admin;
mod cameras;
mod cases;
mod changes;
mod config;
mod dashboard;
mod dataset;
mod deliveries;
mod download;
mod edge_reads;
mod error;
mod export;
mod grids;
pub mod health;
mod map;
mod me;
mod open311;
mod openapi;
mod parked;
mod quality;
mod rule_admin;
mod sensors;
pub mod server;
mod shown_config;
mod silences;
mod state;
mod stats;
mod stream;
mod stream_limit;
mod zone_keeper;
mod zones;

use std::sync::Arc;

pub use auth::{ApiToken, Authenticator};
use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{delete, get, post, put},
};
pub use cases::{AcknowledgeRequest, ActionRequest, HandOverRequest, ReportInRequest, WhistleRequest};
pub use changes::{CameraChange, CameraChanges, ChangeRefusal, ChangeRequest, RuleChange, RuleChanges};
pub use config::AuthConfig;
pub use edge_reads::EdgeReads;
pub use error::{ApiError, ErrorBody};
pub use map::config::{MapConfig, MapSettings, SensorPlace};
pub use open311::{Open311Config, Open311Settings, PublicBlur};
pub use openapi::ApiDoc;
pub use silences::SilenceRequest;
pub use state::{ApiState, CameraReads, ConfigView};
pub use stream_limit::StreamLimit;
pub use zone_keeper::{EntryZones, ZoneKeeper};

/// Largest request body the JSON endpoints take (a 413 beyond it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole API.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/cases", get(cases::list))
        .route("/cases/{id}", get(cases::detail))
        .route("/cases/{id}/actions", post(cases::act))
        .route("/cases/{id}/acknowledge", post(cases::acknowledge))
        .route("/cases/{id}/hand_over", post(cases::hand_over))
        .route("/cases/{id}/whistles", post(cases::whistle))
        .route("/cases/{id}/whistles/{whistle}/report", post(cases::report_in))
        .route("/cases/{id}/evidence/{index}", get(cases::evidence))
        .route("/cases/export", get(export::cases))
        .route("/me", get(me::me))
        .route("/cameras", get(cameras::list).post(camera_admin::add))
        .route("/cameras/{id}", put(camera_admin::replace).delete(camera_admin::remove))
        .route("/rules/{rule}", put(rule_admin::set).delete(rule_admin::reset))
        .route("/cameras/{id}/view", get(cameras::view))
        .route("/cameras/{id}/frame", get(cameras::frame))
        .route("/config", get(shown_config::show))
        .route("/cameras/{id}/zones", get(zones::get).put(zones::put).delete(zones::reset))
        .route("/cameras/{id}/zones/preview", post(zones::preview))
        .route("/cameras/{id}/zones/{zone}", put(zones::put_one).delete(zones::remove_one))
        .route("/grids", get(grids::tree))
        .route("/map", get(map::view))
        .route("/dataset", get(dataset::export))
        .route("/sensors", get(sensors::list))
        .route("/stream", get(stream::stream))
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/{id}/retry", post(deliveries::retry))
        .route("/silences", get(silences::list).post(silences::create))
        .route("/silences/{id}", delete(silences::expire))
        .route("/audit", get(silences::audit))
        .route("/quality", get(quality::report))
        .route("/stats", get(stats::report))
        .route("/parked", get(parked::list))
        .route("/parked/retry", post(parked::retry))
        .route("/openapi.json", get(openapi::document))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(state.auth.clone(), auth::require_token));
    let open311 = open311::router(&state);
    Router::new()
        .route("/", get(dashboard::index))
        .route("/wall", get(dashboard::wall))
        .route("/dashboard/{script}", get(dashboard::script))
        .route("/dashboard/app.css", get(dashboard::style))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/api/v1", api)
        .nest("/open311/v2", open311)
        .layer(middleware::from_fn(error::json_error_bodies))
        .layer(middleware::map_response(no_sniffing))
        .with_state(state)
}

/// What an edge node serves the centers (with `/healthz` and `/metrics`, which the caller adds): the
/// reads of the cameras it runs — their list, a camera's view and latest frame, a zone preview — for
/// the tokens of `[auth]`, as the whole API checks them.
pub fn edge_router(reads: CameraReads, auth: Arc<Authenticator>) -> Router {
    let api = Router::new()
        .route("/cameras", get(cameras::list))
        .route("/cameras/{id}/view", get(cameras::view))
        .route("/cameras/{id}/frame", get(cameras::frame))
        .route("/cameras/{id}/zones/preview", post(zones::preview))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(auth, auth::require_token))
        .with_state(reads);
    Router::new()
        .nest("/api/v1", api)
        .layer(middleware::from_fn(error::json_error_bodies))
        .layer(middleware::map_response(no_sniffing))
}

/// Every answer says what it is and browsers must not guess otherwise (a JSON error or an evidence
/// image is never run as a script or a page).
async fn no_sniffing(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .insert(axum::http::header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
    response
}
