use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::header,
    response::IntoResponse,
};

use super::{ApiError, ApiState};
use crate::store::{Case, CaseDetail, CaseFilter};

/// `GET /api/v1/cases`: cases matching the query's filters, newest first.
pub async fn list(
    State(state): State<ApiState>,
    filter: Result<Query<CaseFilter>, QueryRejection>,
) -> Result<Json<Vec<Case>>, ApiError> {
    let Query(filter) = filter.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    Ok(Json(state.store.list_cases(&filter).await?))
}

/// `GET /api/v1/cases/{id}`: a case with its objects and evidence list.
pub async fn detail(State(state): State<ApiState>, Path(id): Path<i64>) -> Result<Json<CaseDetail>, ApiError> {
    state.store.case_detail(id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no case {id}")))
}

/// `GET /api/v1/cases/{id}/evidence/{index}`: an evidence JPEG, found through its case only.
pub async fn evidence(
    State(state): State<ApiState>,
    Path((id, index)): Path<(i64, i64)>,
) -> Result<impl IntoResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("no evidence {index} for case {id}"));
    let info = state.store.evidence(id, index).await?.ok_or_else(not_found)?;
    let path = state.evidence.path_of(&info.sha256).ok_or_else(not_found)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|source| ApiError::Internal(crate::Error::Io { path: path.clone(), source }))?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=86400, immutable")], bytes))
}
