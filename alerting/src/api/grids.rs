use axum::{Json, extract::State};

use super::{
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::cases::grids::{GridNode, grid_tree};

/// `GET /api/v1/grids`: the configured grids (区 → 街道 → 社区 → 网格) ordered by code, each with its
/// level, parent and the open, supervised and total cases of the cells under it.
#[utoipa::path(get, path = "/api/v1/grids", tag = "grids", responses((status = 200, body = Vec<GridNode>), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn tree(State(state): State<ApiState>) -> Result<Json<Vec<GridNode>>, ApiError> {
    let counts = state.store.grid_counts().await?;
    Ok(Json(grid_tree(&state.grids, &counts)))
}
