//! `GET /api/v1/quality`: how well each camera zone's alarms hold up, from operators' verify and void
//! decisions; and the same decisions as counters in `/metrics`.

use axum::{
    Extension, Json,
    extract::{Query, State, rejection::QueryRejection},
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::cases::{
    Principal,
    quality::{VoidReason, ZoneQuality, zone_quality},
};

/// The window when the query names none.
const DEFAULT_DAYS: i64 = 30;

/// The query of `GET /api/v1/quality`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QualityQuery {
    /// Cases opened at or after (default: 30 days before `until`).
    pub since: Option<DateTime<Utc>>,
    /// Cases opened before (default: now).
    pub until: Option<DateTime<Utc>>,
}

/// The figures of a window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QualityReport {
    /// Cases opened at or after.
    pub since: DateTime<Utc>,
    /// Cases opened before.
    pub until: DateTime<Utc>,
    /// Per camera, zone and category, worst precision first.
    pub zones: Vec<ZoneQuality>,
}

/// `GET /api/v1/quality?since=&until=`: per camera, zone and category the cases, how many operators
/// verified, how many they voided by reason, precision = verified / (verified + false_detection) and the
/// median time to verify; worst precision first.
#[utoipa::path(get, path = "/api/v1/quality", tag = "cameras", params(QualityQuery), responses((status = 200, body = QualityReport), (status = 400, body = ErrorBody), (status = 403, description = "the role may not see cameras", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn report(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    query: Result<Query<QualityQuery>, QueryRejection>,
) -> Result<Json<QualityReport>, ApiError> {
    state.check_may_watch(&who)?;
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let until = query.until.unwrap_or_else(|| state.clock.now());
    let since = query.since.unwrap_or(until - TimeDelta::days(DEFAULT_DAYS));
    if since >= until {
        return Err(ApiError::BadRequest("since: not before until".into()));
    }
    let outcomes = state.store.camera_case_outcomes(since, until).await?;
    Ok(Json(QualityReport { since, until, zones: zone_quality(&outcomes) }))
}

/// Refuses a void of a camera case (`camera_case`) without a reason, and a reason with any other action.
pub fn check_reason(
    action: crate::cases::workflow::Action,
    reason: Option<VoidReason>,
    camera_case: bool,
) -> Result<(), ApiError> {
    use crate::cases::workflow::Action;
    match (action, reason) {
        (Action::Void, None) if camera_case => Err(ApiError::BadRequest(
            "reason: voiding a camera case takes one of false_detection, not_a_violation, duplicate, other".into(),
        )),
        (Action::Void, _) | (_, None) => Ok(()),
        (other, Some(_)) => {
            Err(ApiError::BadRequest(format!("reason: only void takes a reason, not {}", other.as_str())))
        }
    }
}
