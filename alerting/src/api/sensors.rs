use axum::{Json, extract::State};
use sharpeyes_ingest::mqtt::SensorSnapshot;

use super::{error::ErrorBody, state::ApiState};

/// `GET /api/v1/sensors`: the latest valid reading of every sensor heard from.
#[utoipa::path(get, path = "/api/v1/sensors", tag = "sensors", responses((status = 200, body = Vec<SensorSnapshot>), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn list(State(state): State<ApiState>) -> Json<Vec<SensorSnapshot>> {
    Json(state.sensors.snapshot())
}
