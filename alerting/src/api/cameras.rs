use axum::{Json, extract::State};
use sharpeyes_ingest::camera::StatusSnapshot;

use super::ApiState;

/// `GET /api/v1/cameras`: every camera's status (URLs with credentials redacted).
pub async fn list(State(state): State<ApiState>) -> Json<Vec<StatusSnapshot>> {
    Json(state.cameras.iter().map(|camera| camera.snapshot()).collect())
}
