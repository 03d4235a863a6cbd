use axum::{Extension, Json, extract::State};
use sharpeyes_ingest::mqtt::SensorSnapshot;

use super::{
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::cases::Principal;

/// `GET /api/v1/sensors`: the latest valid reading of every sensor heard from.
#[utoipa::path(get, path = "/api/v1/sensors", tag = "sensors", responses((status = 200, body = Vec<SensorSnapshot>), (status = 403, description = "a reporter", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Vec<SensorSnapshot>>, ApiError> {
    state.check_may_watch(&who)?;
    Ok(Json(state.sensors.snapshot()))
}
