//! `GET /api/v1/parked`, `POST /api/v1/parked/retry` (admin): violations the case engine could not
//! file (an evidence image that could not be written), kept with their frames and filed again until
//! it works.

use axum::{Extension, Json, extract::State};

use super::{
    auth::admin_only,
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::{cases::Principal, store::ParkedViolation};

/// Most parked violations listed.
const LIST_LIMIT: i64 = 500;

/// `GET /api/v1/parked` (admin): the parked violations, oldest first, with why the last attempt
/// failed and when the next one is.
#[utoipa::path(get, path = "/api/v1/parked", tag = "cases", responses((status = 200, body = Vec<ParkedViolation>), (status = 403, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Vec<ParkedViolation>>, ApiError> {
    admin_only(&who, "list parked violations")?;
    Ok(Json(state.store.parked_violations(LIST_LIMIT).await?))
}

/// `POST /api/v1/parked/retry` (admin): every parked violation is filed again within seconds (after
/// the cause, say a full disk, was dealt with).
#[utoipa::path(post, path = "/api/v1/parked/retry", tag = "cases", responses((status = 200, description = "`{\"due\": n}`: how many will be tried", body = Object), (status = 403, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn retry(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin_only(&who, "retry parked violations")?;
    let now = state.clock.now();
    let due = state.store.retry_parked_violations(now).await?;
    state.store.audit(&who, "parked.retry", &format!("{due} parked violations"), "", now).await?;
    Ok(Json(serde_json::json!({ "due": due })))
}
