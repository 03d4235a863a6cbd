//! The HTTP API (axum): cases, cameras, notifications, health and metrics, and the dashboard at `/`.
//!
//! Everything under `/api/` needs `Authorization: Bearer <token>`, checked against the SHA-256 digests
//! of `[[auth.tokens]]`; `/healthz`, `/readyz`, `/metrics` and the dashboard's static files are open.

mod auth;
mod cameras;
mod cases;
mod dashboard;
mod deliveries;
mod error;
mod grids;
pub mod health;
mod me;
mod open311;
mod openapi;
mod sensors;
mod silences;
mod stream;

use std::sync::Arc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{delete, get, post},
};
use sharpeyes_ingest::{camera::CameraStatus, mqtt::SensorBoard};

pub use auth::{ApiToken, Authenticator, Principal, Role};
pub use cases::{AcknowledgeRequest, ActionRequest, HandOverRequest, ReportInRequest, WhistleRequest};
pub use error::{ApiError, ErrorBody};
pub use openapi::ApiDoc;
pub use silences::SilenceRequest;

use crate::{
    cases::{
        ClosedCases,
        citizen::{CitizenIntake, PhotoAnalyser},
        deadlines::DeadlinePolicy,
        evidence::EvidenceStore,
        grids::Grid,
        whistles::WhistlePolicy,
    },
    rules::CameraViews,
    store::Store,
};

/// Largest request body the JSON endpoints take (a 413 beyond it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The case database.
    pub store: Store,
    /// Evidence files.
    pub evidence: EvidenceStore,
    /// Token check.
    pub auth: Arc<Authenticator>,
    /// Metrics served at `/metrics`.
    pub registry: prometheus::Registry,
    /// Live status of every camera.
    pub cameras: Arc<Vec<Arc<CameraStatus>>>,
    /// The latest reading of every sensor.
    pub sensors: Arc<SensorBoard>,
    /// Deadlines set by workflow actions.
    pub policy: DeadlinePolicy,
    /// Where closed cases are reported to the case engine.
    pub closed_cases: ClosedCases,
    /// The department directory and whistle report-in times.
    pub whistles: WhistlePolicy,
    /// The configured grids of every level, with their names.
    pub grids: Arc<Vec<Grid>>,
    /// Each camera's zones and latest analysed frame.
    pub views: Arc<CameraViews>,
    /// Where citizen reports become cases.
    pub citizens: CitizenIntake,
    /// The detector that suggests a category for a citizen's photo (none: reports must name one).
    pub photos: Option<Arc<PhotoAnalyser>>,
}

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
        .route("/me", get(me::me))
        .route("/cameras", get(cameras::list))
        .route("/cameras/{id}/view", get(cameras::view))
        .route("/cameras/{id}/frame", get(cameras::frame))
        .route("/grids", get(grids::tree))
        .route("/sensors", get(sensors::list))
        .route("/stream", get(stream::stream))
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/{id}/retry", post(deliveries::retry))
        .route("/silences", get(silences::list).post(silences::create))
        .route("/silences/{id}", delete(silences::expire))
        .route("/audit", get(silences::audit))
        .route("/openapi.json", get(openapi::document))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(state.auth.clone(), auth::require_token));
    let open311 = Router::new()
        .route("/services.json", get(open311::services))
        .route(
            "/requests.json",
            get(open311::requests).post(open311::post_request).layer(DefaultBodyLimit::max(open311::MAX_REPORT_BYTES)),
        )
        .route("/requests/{id}", get(open311::request))
        .route_layer(middleware::from_fn_with_state(state.auth.clone(), open311::require_token));
    Router::new()
        .route("/", get(dashboard::index))
        .route("/dashboard/app.js", get(dashboard::script))
        .route("/dashboard/app.css", get(dashboard::style))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/api/v1", api)
        .nest("/open311/v2", open311)
        .with_state(state)
}
