//! `POST /api/v1/cameras`, `PUT` and `DELETE /api/v1/cameras/{id}` (admin): cameras added, changed and
//! removed at runtime. The handlers hand each change to what runs this node's cameras ([`CameraChanges`],
//! served by the binary, which validates a camera as `check-config` validates the file, keeps it in the
//! database and starts or stops its stream) and answer with the camera as it now runs. No other camera
//! is touched; the cases of a removed camera stay and can be worked to the end.

use axum::{
    Extension, Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
};
use serde_json::Value;

use super::{
    auth::admin_only,
    changes::{CameraChange, CameraChanges},
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::cases::Principal;

/// The keeper of this node's cameras (409 on a node without one). On a center the keeper keeps the
/// change and publishes it to the edge that owns the camera.
fn changes(state: &ApiState) -> Result<&CameraChanges, ApiError> {
    state.camera_changes.as_ref().ok_or_else(|| {
        ApiError::Conflict("this node analyses no cameras (role center): change cameras on the node that does".into())
    })
}

/// `POST /api/v1/cameras` (admin): adds a camera, its body a `[[cameras]]` entry with the TOML file's
/// keys (zones included). Its stream starts at once; no other camera is touched.
#[utoipa::path(post, path = "/api/v1/cameras", tag = "cameras", request_body(content = Object, description = "a `[[cameras]]` entry: `id`, `url`, `grid` or `location`, `zones`, …, as in config/reference.toml"), responses(
    (status = 201, description = "the camera as it now runs, secrets replaced by `***`, with `source` (`api`), `changed_at` and `changed_by`", body = Object),
    (status = 400, description = "an invalid camera, each problem by key path (`zones[0].polygon`)", body = ErrorBody),
    (status = 403, description = "not an admin", body = ErrorBody),
    (status = 409, description = "a camera of that id runs already, or its stream could not start", body = ErrorBody),
    (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn add(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin_only(&who, "add a camera")?;
    let changes = changes(&state)?;
    let Json(camera) = body?;
    Ok((StatusCode::CREATED, Json(changes.ask(CameraChange::Add(camera), who).await?)))
}

/// `PUT /api/v1/cameras/{id}` (admin): replaces the camera's entry (the body's `id`, when given, must be
/// the path's). The stream reconnects only when its stream settings changed; a new grid or place, new
/// maintenance windows or new zones apply without it.
#[utoipa::path(put, path = "/api/v1/cameras/{id}", tag = "cameras", params(("id" = String, Path, description = "camera id")),
    request_body(content = Object, description = "the camera's whole `[[cameras]]` entry"), responses(
    (status = 200, description = "the camera as it now runs, as for POST", body = Object),
    (status = 400, description = "an invalid camera, each problem by key path", body = ErrorBody),
    (status = 403, description = "not an admin", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, description = "the service is stopping, or the stream could not start", body = ErrorBody),
    (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn replace(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    admin_only(&who, "change a camera")?;
    let changes = changes(&state)?;
    let Json(mut camera) = body?;
    named_by_path(&mut camera, "camera's [[cameras]]", &id)?;
    Ok(Json(changes.ask(CameraChange::Replace { id, camera }, who).await?))
}

/// `DELETE /api/v1/cameras/{id}` (admin): stops the camera and keeps it removed (across restarts, and
/// when the file still has it). Its cases stay and can be worked to the end.
#[utoipa::path(delete, path = "/api/v1/cameras/{id}", tag = "cameras", params(("id" = String, Path, description = "camera id")), responses(
    (status = 200, description = "the camera as it ran, with `source` (`api`), `changed_at` and `changed_by` of its removal", body = Object),
    (status = 403, description = "not an admin", body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, description = "the service is stopping, or the stream could not start", body = ErrorBody),
    (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn remove(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin_only(&who, "remove a camera")?;
    let changes = changes(&state)?;
    Ok(Json(changes.ask(CameraChange::Remove { id }, who).await?))
}

/// Gives `entry` (a request body, the `what` entry) the path's `id`, or refuses it when it is not an
/// object or names another id.
pub(super) fn named_by_path(entry: &mut Value, what: &str, id: &str) -> Result<(), ApiError> {
    let Some(fields) = entry.as_object_mut() else {
        return Err(ApiError::BadRequest(format!("the body must be a {what} entry (a JSON object)")));
    };
    match fields.get("id") {
        None => {
            fields.insert("id".into(), Value::String(id.to_owned()));
            Ok(())
        }
        Some(Value::String(given)) if given == id => Ok(()),
        Some(given) => Err(ApiError::BadRequest(format!("id: {given} is not the path's '{id}'"))),
    }
}
