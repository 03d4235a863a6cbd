//! `GET /api/v1/deliveries`, `POST /api/v1/deliveries/{id}/retry`: the notification outbox.

use axum::{
    Extension, Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use serde::Deserialize;

use super::{
    auth::admin_only,
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::{
    cases::Principal,
    store::{Delivery, DeliveryState, ReadScope},
};

/// Most deliveries per page.
const MAX_LIMIT: i64 = 500;

/// The query of `GET /api/v1/deliveries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `pending`, `delivered`, `dead` or `silenced`; all when absent.
    pub state: Option<DeliveryState>,
    /// Only ids below this (the next page: the last id of the previous one).
    pub before: Option<i64>,
    /// Page size, 1..=500 (default 100).
    pub limit: Option<i64>,
}

/// `GET /api/v1/deliveries`: deliveries newest first, with their attempts and last error.
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "notifications", params(DeliveryQuery), responses((status = 200, body = Vec<Delivery>), (status = 400, body = ErrorBody), (status = 403, description = "a token that reads only some cases", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    query: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    // Deliveries carry every case's timeline entries: only readers of every case see them.
    if state.read_scope(&who) != ReadScope::All {
        return Err(ApiError::Forbidden(format!(
            "this {} token reads only some cases, not the outbox",
            who.role.as_str()
        )));
    }
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit: {limit} is outside 1..={MAX_LIMIT}")));
    }
    Ok(Json(state.store.deliveries(query.state, query.before, limit).await?))
}

/// `POST /api/v1/deliveries/{id}/retry` (admin): a dead delivery is sent again from its first attempt.
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/retry", tag = "notifications", params(("id" = i64, Path, description = "delivery id")), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, description = "not dead", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn retry(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin_only(&who, "retry deliveries")?;
    let now = state.clock.now();
    if !state.store.revive_delivery(id, now).await? {
        return Err(ApiError::Conflict(format!("delivery {id} is not dead")));
    }
    state.store.audit(&who, "delivery.retry", &format!("delivery {id}"), "", now).await?;
    Ok(Json(serde_json::json!({ "id": id, "state": "pending" })))
}
