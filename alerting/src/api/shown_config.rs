//! `GET /api/v1/config` (admin): the configuration this node runs with, every default filled in, no
//! secret (see the binary's `config::shown`), the cameras in force (the API's changes included), and
//! per camera where its settings and zones come from
//! and whether this node analyses it.

use std::collections::HashSet;

use axum::{Extension, Json, extract::State};
use serde_json::{Value, json};

use super::{auth::admin_only, error::ApiError, state::ApiState, zones::ZoneSource};
use crate::cases::Principal;

/// `GET /api/v1/config` (admin only).
#[utoipa::path(get, path = "/api/v1/config", tag = "meta", responses(
    (status = 200, description = "the configuration with the keys of the TOML file, every default filled in and every \
        secret replaced by `***`; each of `cameras` (those in force: the API's changes included) also has `source` \
        (`file`, or `api` with `changed_at` and `changed_by`), `analysed_here`, `zones_source` \
        (`file` or `api`) and, for `api`, `zones_changed_at` and `zones_changed_by`, its `zones` those in force", body = Object),
    (status = 403, description = "not an admin", body = super::error::ErrorBody),
    (status = 401, description = "no or an unknown token", body = super::error::ErrorBody)))]
pub async fn show(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    admin_only(&who, "read the configuration")?;
    let mut config = (state.config)();
    let analysed: HashSet<String> = state.cameras.statuses().iter().map(|status| status.id().to_owned()).collect();
    if let Some(cameras) = config.get_mut("cameras").and_then(Value::as_array_mut) {
        for camera in cameras {
            let Some(id) = camera.get("id").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            if camera.get("source").is_none() {
                camera["source"] = json!("file");
            }
            camera["analysed_here"] = json!(analysed.contains(&id));
            let Some(from_file) = state.zones.entry_zones(&id) else {
                continue;
            };
            let in_force = super::zones::effective(&state, &id, from_file).await?;
            camera["zones_source"] = json!(in_force.source);
            if in_force.source == ZoneSource::Api {
                camera["zones_changed_at"] = json!(in_force.changed_at);
                camera["zones_changed_by"] = json!(in_force.changed_by);
            }
            camera["zones"] = json!(in_force.zones);
        }
    }
    Ok(Json(config))
}
