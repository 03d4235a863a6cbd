//! `/api/v1/silences` (create, list, expire) and `/api/v1/audit`.

use axum::{
    Extension, Json,
    extract::{Path, State, rejection::JsonRejection},
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::{
    auth::admin_only,
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::{
    cases::Principal,
    store::Matchers,
    store::{AuditRecord, Silence},
};

/// Longest silence.
const MAX_SILENCE: TimeDelta = TimeDelta::days(31);
/// Longest comment, in bytes.
const MAX_COMMENT_BYTES: usize = 1000;

/// The body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// What to mute (at least one list).
    pub matchers: Matchers,
    /// From when (default: now).
    pub starts_at: Option<DateTime<Utc>>,
    /// Until when (at most 31 days after the start).
    pub ends_at: DateTime<Utc>,
    /// Why (required).
    pub comment: String,
}

/// Who may mute notifications.
fn may_silence(who: &Principal) -> Result<(), ApiError> {
    match who.role.may_silence() {
        true => Ok(()),
        false => Err(ApiError::Forbidden(format!("{} may not silence notifications", who.role.as_str()))),
    }
}

/// `POST /api/v1/silences` (operator, dispatcher, admin): a time-bounded mute, audited.
#[utoipa::path(post, path = "/api/v1/silences", tag = "notifications", request_body = SilenceRequest, responses((status = 200, body = Silence), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn create(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    body: Result<Json<SilenceRequest>, JsonRejection>,
) -> Result<Json<Silence>, ApiError> {
    may_silence(&who)?;
    let Json(request) = body?;
    let now = state.clock.now();
    let starts_at = request.starts_at.unwrap_or(now);
    if let Some(problem) = request.matchers.problem("matchers") {
        return Err(ApiError::BadRequest(problem));
    }
    if request.ends_at <= starts_at.max(now) {
        return Err(ApiError::BadRequest("ends_at: must be after starts_at and in the future".into()));
    }
    if request.ends_at - starts_at > MAX_SILENCE {
        return Err(ApiError::BadRequest(format!("ends_at: a silence lasts at most {} days", MAX_SILENCE.num_days())));
    }
    if request.comment.trim().is_empty() || request.comment.len() > MAX_COMMENT_BYTES {
        return Err(ApiError::BadRequest(format!("comment: required, at most {MAX_COMMENT_BYTES} bytes")));
    }
    let window = (starts_at, request.ends_at);
    let id = state.store.create_silence(&request.matchers, window, &request.comment, &who, now).await?;
    let silence = state.store.silences(now).await?.into_iter().find(|s| s.id == id);
    silence.map(Json).ok_or_else(|| ApiError::Internal(crate::Error::Corrupt(format!("silence {id} vanished"))))
}

/// `GET /api/v1/silences`: silences that have not ended, newest first.
#[utoipa::path(get, path = "/api/v1/silences", tag = "notifications", responses((status = 200, body = Vec<Silence>), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<Vec<Silence>>, ApiError> {
    Ok(Json(state.store.silences(state.clock.now()).await?))
}

/// `DELETE /api/v1/silences/{id}` (operator, dispatcher, admin): ends it now, audited.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "notifications", params(("id" = i64, Path, description = "silence id")), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn expire(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    may_silence(&who)?;
    if !state.store.expire_silence(id, &who, state.clock.now()).await? {
        return Err(ApiError::NotFound(format!("no active silence {id}")));
    }
    Ok(Json(serde_json::json!({ "id": id, "expired": true })))
}

/// `GET /api/v1/audit` (admin): the latest 500 API writes besides case actions (those are in each
/// case's timeline).
#[utoipa::path(get, path = "/api/v1/audit", tag = "notifications", responses((status = 200, body = Vec<AuditRecord>), (status = 403, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn audit(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    admin_only(&who, "read the audit log")?;
    Ok(Json(state.store.audit_log(500).await?))
}
