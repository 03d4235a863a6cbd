use axum::{Json, extract::State};
use sharpeyes_ingest::mqtt::SensorSnapshot;

use super::ApiState;

/// `GET /api/v1/sensors`: the latest valid reading of every sensor heard from.
pub async fn list(State(state): State<ApiState>) -> Json<Vec<SensorSnapshot>> {
    Json(state.sensors.snapshot())
}
