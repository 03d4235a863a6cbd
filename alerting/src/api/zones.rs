//! `/api/v1/cameras/{id}/zones`: a running camera's zones, changed by an admin without a restart and
//! without touching the camera's stream; validated as `check-config` validates the file, audited, and
//! kept in the database so that they outlive a restart. `DELETE` goes back to the file's zones.
//!
//! On a center the zones are kept in the shared database the same way and published to the edge that
//! runs the camera (see [`crate::cluster::SettingsBroadcast`]); a preview is replayed there, on the
//! frames the edge holds (see [`super::edge_reads`]).

use axum::{
    Extension, Json,
    body::Bytes,
    extract::{Path, State, rejection::JsonRejection},
    http::{HeaderMap, Method},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sharpeyes_ingest::Problem;

use super::{
    auth::admin_only,
    error::{ApiError, ErrorBody},
    state::{ApiState, CameraReads, may_watch},
};
use crate::{
    cases::Principal,
    rules::{ZoneConfig, ZonePreview},
};

/// Where a camera's zones come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    /// The configuration file.
    File,
    /// An admin, through this API (kept in the database).
    Api,
}

/// A camera's zones and where they come from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CameraZones {
    /// Camera id.
    pub camera: String,
    /// `file` or `api`.
    pub source: ZoneSource,
    /// When an admin set them (`api` only).
    pub changed_at: Option<DateTime<Utc>>,
    /// The token that set them (`api` only).
    pub changed_by: Option<String>,
    /// The zones, with the keys of `[[cameras.zones]]`.
    #[schema(value_type = Vec<super::cameras::ZoneView>)]
    pub zones: Vec<ZoneConfig>,
}

/// The zones of camera `id`'s own entry (404 for a camera not in force).
fn camera_of(state: &ApiState, id: &str) -> Result<Vec<ZoneConfig>, ApiError> {
    state.zones.entry_zones(id).ok_or_else(|| ApiError::NotFound(format!("no camera '{id}'")))
}

/// The zones `id` runs with: the database's when an admin set them, else the file's.
pub(super) async fn effective(state: &ApiState, id: &str, from_file: Vec<ZoneConfig>) -> Result<CameraZones, ApiError> {
    let camera = id.to_owned();
    let Some(stored) = state.store.camera_zones(id).await? else {
        return Ok(CameraZones {
            camera,
            source: ZoneSource::File,
            changed_at: None,
            changed_by: None,
            zones: from_file,
        });
    };
    let zones = serde_json::from_str(&stored.zones)
        .map_err(|error| crate::Error::Corrupt(format!("camera {id}: kept zones do not read: {error}")))?;
    Ok(CameraZones {
        camera,
        source: ZoneSource::Api,
        changed_at: Some(stored.changed_at),
        changed_by: Some(stored.changed_by),
        zones,
    })
}

/// `GET /api/v1/cameras/{id}/zones` (roles that see cameras).
#[utoipa::path(get, path = "/api/v1/cameras/{id}/zones", tag = "cameras", params(("id" = String, Path, description = "camera id")), responses(
    (status = 200, body = CameraZones),
    (status = 403, description = "a reporter", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn get(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<CameraZones>, ApiError> {
    state.check_may_watch(&who)?;
    let from_file = camera_of(&state, &id)?;
    Ok(Json(effective(&state, &id, from_file).await?))
}

/// The zones of a request body, or a 400 naming every problem by key path.
fn validated(body: Result<Json<Vec<ZoneConfig>>, JsonRejection>) -> Result<Vec<ZoneConfig>, ApiError> {
    let Json(zones) = body?;
    let problems = ZoneConfig::validate_list(&zones, "");
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(Problem::list(&problems, "; ")));
    }
    Ok(zones)
}

/// `POST /api/v1/cameras/{id}/zones/preview` (roles that see cameras): what a draft of the camera's
/// zones would have done on its recent analysed frames (up to 150): per zone the frames with an object
/// that counts, the objects that count in the latest frame, the violations the dwell rules would have
/// confirmed. Changes nothing. On a center, the edge that runs the camera replays them.
#[utoipa::path(post, path = "/api/v1/cameras/{id}/zones/preview", tag = "cameras", params(("id" = String, Path, description = "camera id")),
    request_body = Vec<super::cameras::ZoneView>,
    responses(
        (status = 200, body = ZonePreview),
        (status = 400, description = "invalid zones, each problem by key path", body = ErrorBody),
        (status = 403, description = "a reporter", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "a center without the relay key: it forwards nothing", body = ErrorBody), (status = 502, description = "a center: the edge that runs the camera did not answer", body = ErrorBody),
        (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn preview(
    State(reads): State<CameraReads>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Vec<ZoneConfig>>, JsonRejection>,
) -> Result<Response, ApiError> {
    may_watch(&who)?;
    if let Some(edges) = &reads.edges {
        let draft = Bytes::from(serde_json::to_vec(&validated(body)?).expect("zone settings serialise"));
        return edges.camera(&id, &["zones", "preview"], Method::POST, &headers, Some(draft)).await;
    }
    let editor = reads
        .zones
        .filter(|editor| editor.file_zones(&id).is_some())
        .ok_or_else(|| ApiError::NotFound(format!("no camera '{id}'")))?;
    let zones = validated(body)?;
    let preview =
        tokio::task::spawn_blocking(move || editor.preview(&id, &zones)).await.expect("a zone preview does not panic");
    Ok(Json(preview).into_response())
}

/// `PUT /api/v1/cameras/{id}/zones` (admin): replaces the camera's zones. The rules watch them from
/// the camera's next analysed frame (its dwell timers start again); the stream is not touched; open
/// cases of a zone that went stay open. Every problem is named by its key path (`zones[0].polygon`).
#[utoipa::path(put, path = "/api/v1/cameras/{id}/zones", tag = "cameras", params(("id" = String, Path, description = "camera id")),
    request_body = Vec<super::cameras::ZoneView>,
    responses(
        (status = 200, body = CameraZones),
        (status = 400, description = "invalid zones, each problem by key path", body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn put(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<Vec<ZoneConfig>>, JsonRejection>,
) -> Result<Json<CameraZones>, ApiError> {
    admin_only(&who, "change a camera's zones")?;
    camera_of(&state, &id)?;
    let zones = validated(body)?;
    Ok(Json(keep_and_apply(&state, &who, id, zones).await?))
}

/// Keeps `zones` as camera `id`'s (audited) and hands them to its rules.
async fn keep_and_apply(
    state: &ApiState,
    who: &Principal,
    id: String,
    zones: Vec<ZoneConfig>,
) -> Result<CameraZones, ApiError> {
    let json = serde_json::to_string(&zones).expect("zone settings serialise");
    let now = state.clock.now();
    state.store.set_camera_zones(&id, &json, who, now).await?;
    state.zones.apply(&id, &zones).map_err(|stopped| ApiError::Conflict(stopped.to_string()))?;
    Ok(CameraZones {
        camera: id,
        source: ZoneSource::Api,
        changed_at: Some(now),
        changed_by: Some(who.name.to_string()),
        zones,
    })
}

/// `PUT /api/v1/cameras/{id}/zones/{zone}` (admin): sets one zone of the camera (its body a
/// `[[cameras.zones]]` entry; its `id`, when given, must be the path's), adding it when the camera has
/// no zone of that id; the other zones stay as they are in force. Validated with them, as `PUT
/// /api/v1/cameras/{id}/zones` validates the whole list (problems by key path, `zones[2].polygon`).
#[utoipa::path(put, path = "/api/v1/cameras/{id}/zones/{zone}", tag = "cameras", params(("id" = String, Path, description = "camera id"), ("zone" = String, Path, description = "zone id")),
    request_body = super::cameras::ZoneView,
    responses(
        (status = 200, description = "all the camera's zones, now in force", body = CameraZones),
        (status = 400, description = "an invalid zone, each problem by key path", body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn put_one(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path((id, zone)): Path<(String, String)>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<CameraZones>, ApiError> {
    admin_only(&who, "change a camera's zones")?;
    let from_file = camera_of(&state, &id)?;
    let Json(mut entry) = body?;
    super::camera_admin::named_by_path(&mut entry, "zone's [[cameras.zones]]", &zone)?;
    let mut zones = effective(&state, &id, from_file).await?.zones;
    let at = zones.iter().position(|z| z.id == zone).unwrap_or(zones.len());
    let entry: ZoneConfig =
        serde_json::from_value(entry).map_err(|error| ApiError::BadRequest(format!("zones[{at}]: {error}")))?;
    match zones.get_mut(at) {
        Some(known) => *known = entry,
        None => zones.push(entry),
    }
    let zones = validated(Ok(Json(zones)))?;
    Ok(Json(keep_and_apply(&state, &who, id, zones).await?))
}

/// `DELETE /api/v1/cameras/{id}/zones/{zone}` (admin): removes one zone of the camera, the others staying
/// as they are in force; the zone's open cases stay open and workable.
#[utoipa::path(delete, path = "/api/v1/cameras/{id}/zones/{zone}", tag = "cameras", params(("id" = String, Path, description = "camera id"), ("zone" = String, Path, description = "zone id")),
    responses(
        (status = 200, description = "the camera's remaining zones, now in force", body = CameraZones),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 404, description = "no such camera, or no such zone on it", body = ErrorBody),
        (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn remove_one(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path((id, zone)): Path<(String, String)>,
) -> Result<Json<CameraZones>, ApiError> {
    admin_only(&who, "change a camera's zones")?;
    let from_file = camera_of(&state, &id)?;
    let mut zones = effective(&state, &id, from_file).await?.zones;
    let before = zones.len();
    zones.retain(|z| z.id != zone);
    if zones.len() == before {
        return Err(ApiError::NotFound(format!("camera '{id}' has no zone '{zone}'")));
    }
    Ok(Json(keep_and_apply(&state, &who, id, zones).await?))
}

/// `DELETE /api/v1/cameras/{id}/zones` (admin): the camera goes back to the configuration file's zones.
#[utoipa::path(delete, path = "/api/v1/cameras/{id}/zones", tag = "cameras", params(("id" = String, Path, description = "camera id")), responses(
    (status = 200, description = "the file's zones, now in force", body = CameraZones),
    (status = 403, description = "not an admin", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, description = "the camera already runs with the file's zones", body = ErrorBody),
    (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn reset(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<CameraZones>, ApiError> {
    admin_only(&who, "change a camera's zones")?;
    let from_file = camera_of(&state, &id)?;
    if !state.store.reset_camera_zones(&id, &who, state.clock.now()).await? {
        return Err(ApiError::Conflict(format!("camera '{id}' already runs with the configuration file's zones")));
    }
    state.zones.reset(&id, &from_file).map_err(|stopped| ApiError::Conflict(stopped.to_string()))?;
    Ok(Json(CameraZones { camera: id, source: ZoneSource::File, changed_at: None, changed_by: None, zones: from_file }))
}
