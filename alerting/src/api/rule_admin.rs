//! `PUT` and `DELETE /api/v1/rules/{rule}` (admin): a dwell rule's settings (`[rules.illegal_parking]`,
//! `[rules.litter]`, `[rules.illegal_construction]`: dwell time, classes, scores, tracking) changed at
//! runtime. The handlers hand each change to the binary's rules keeper ([`RuleChanges`]), which
//! validates the section as `check-config` validates the file, keeps it in the database (audited) and
//! hands the running rules their new settings from the next analysed frame, no camera touched. An
//! API-set section wins over the file's across SIGHUPs and restarts until it is deleted.

use axum::{
    Extension, Json,
    extract::{Path, State, rejection::JsonRejection},
};
use serde_json::Value;

use super::{
    auth::admin_only,
    changes::{RuleChange, RuleChanges},
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::cases::Principal;

/// The keeper of this node's rules (409 on a node that runs none).
fn changes(state: &ApiState) -> Result<&RuleChanges, ApiError> {
    state.rule_changes.as_ref().ok_or_else(|| {
        ApiError::Conflict("this node runs no camera rules (role center): change them on the node that does".into())
    })
}

/// `PUT /api/v1/rules/{rule}` (admin): replaces the rule's section by the body (the keys of
/// `[rules.<rule>]`; a key left out takes its default). Objects already standing keep their time.
#[utoipa::path(put, path = "/api/v1/rules/{rule}", tag = "rules", params(("rule" = String, Path, description = "illegal_parking, litter or illegal_construction")),
    request_body(content = Object, description = "the `[rules.<rule>]` section: `min_dwell_s`, `classes`, `min_score`, `min_presence`, `stationary_iou`, `track_max_gap_s`"), responses(
    (status = 200, description = "the section now in force, every default filled in, with `source` (`api`), `changed_at` and `changed_by`", body = Object),
    (status = 400, description = "an invalid section, each problem by key path (`min_dwell_s`)", body = ErrorBody),
    (status = 403, description = "not an admin", body = ErrorBody),
    (status = 404, description = "not a dwell rule", body = ErrorBody),
    (status = 409, description = "the detector's manifest does not read", body = ErrorBody),
    (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn set(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(rule): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    admin_only(&who, "change a rule's settings")?;
    let changes = changes(&state)?;
    let Json(section) = body?;
    Ok(Json(changes.ask(RuleChange::Set { rule, section }, who).await?))
}

/// `DELETE /api/v1/rules/{rule}` (admin): the rule goes back to the configuration file's section.
#[utoipa::path(delete, path = "/api/v1/rules/{rule}", tag = "rules", params(("rule" = String, Path, description = "illegal_parking, litter or illegal_construction")), responses(
    (status = 200, description = "the file's section, now in force, with `source` (`file`)", body = Object),
    (status = 403, description = "not an admin", body = ErrorBody),
    (status = 404, description = "not a dwell rule", body = ErrorBody),
    (status = 409, description = "the rule already runs with the file's section", body = ErrorBody),
    (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn reset(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(rule): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin_only(&who, "change a rule's settings")?;
    let changes = changes(&state)?;
    Ok(Json(changes.ask(RuleChange::Reset { rule }, who).await?))
}
