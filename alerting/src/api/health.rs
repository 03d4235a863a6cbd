use axum::{extract::State, http::header, response::IntoResponse};
use prometheus::{Encoder, TextEncoder};

use super::{ApiError, ApiState};

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
pub async fn readyz(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ready")
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let mut body = Vec::new();
    // Encoding gathered metrics into a Vec cannot fail.
    let _ = TextEncoder::new().encode(&state.registry.gather(), &mut body);
    ([(header::CONTENT_TYPE, TextEncoder::new().format_type().to_owned())], body)
}
