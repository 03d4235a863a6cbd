use axum::{extract::State, http::header, response::IntoResponse};
use prometheus::{Encoder, TextEncoder};

use super::{
    error::{ApiError, ErrorBody},
    state::ApiState,
};

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "the process runs", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()), responses((status = 200, description = "the database answers", body = String), (status = 500, description = "the database does not answer", body = ErrorBody)))]
pub async fn readyz(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ready")
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health", security(()), responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    registry_metrics(State(state.registry)).await
}

/// `GET /metrics` of a process without the case API (an edge node): `registry` in Prometheus text format.
pub async fn registry_metrics(State(registry): State<prometheus::Registry>) -> impl IntoResponse {
    let mut body = Vec::new();
    // Encoding gathered metrics into a Vec cannot fail.
    let _ = TextEncoder::new().encode(&registry.gather(), &mut body);
    ([(header::CONTENT_TYPE, TextEncoder::new().format_type().to_owned())], body)
}
