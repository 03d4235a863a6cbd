use axum::{
    Extension, Json,
    extract::{Path, State},
    http::{HeaderMap, Method, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use image::RgbImage;
use serde::Serialize;
use sharpeyes_ingest::camera::StatusSnapshot;

use super::{
    error::{ApiError, ErrorBody},
    state::{CameraReads, may_watch},
};
use crate::{
    cases::{Principal, evidence::encode_jpeg},
    rules::{Zone, ZoneKind},
};

/// `GET /api/v1/cameras`: every camera's status (URLs with credentials redacted). On a center, as
/// each edge reports its own, with the edge's name in `node`; the cameras of an edge that does not
/// answer are listed with state `unreachable` and the reason in `last_error`.
#[utoipa::path(get, path = "/api/v1/cameras", tag = "cameras", responses((status = 200, body = Vec<StatusSnapshot>), (status = 403, description = "a reporter", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn list(
    State(reads): State<CameraReads>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    may_watch(&who)?;
    if let Some(edges) = &reads.edges {
        return Ok(Json(edges.cameras(&headers).await).into_response());
    }
    let cameras: Vec<StatusSnapshot> = reads.cameras.statuses().iter().map(|camera| camera.snapshot()).collect();
    Ok(Json(cameras).into_response())
}

/// A camera's zones and what the detector found in its latest analysed frame.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CameraView {
    /// Camera id.
    pub id: String,
    /// Its zones as configured (normalised coordinates).
    pub zones: Vec<ZoneView>,
    /// The latest analysed frame, if one came yet (its picture is at `.../frame`).
    pub frame: Option<FrameInfo>,
    /// What the detector found in it, boxes in the frame's pixels.
    pub detections: Vec<DetectionView>,
}

/// A zone as the tuning view draws it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ZoneView {
    /// Zone id.
    pub id: String,
    /// What it watches for.
    pub kind: ZoneKind,
    /// Corners, normalised.
    pub polygon: Vec<[f64; 2]>,
    /// Parts left out, normalised.
    pub masks: Vec<Vec<[f64; 2]>>,
    /// Detector classes counted here instead of the rule's.
    pub classes: Option<Vec<String>>,
    /// Least detector score here instead of the rule's.
    pub min_score: Option<f32>,
    /// Least box area as a share of the frame.
    pub min_area: f64,
    /// Largest box area as a share of the frame.
    pub max_area: f64,
    /// Seconds an object stands still here before it is a violation, instead of the rule's.
    pub min_dwell_s: Option<f64>,
    /// The daily watch window `[from, to]` in local time, if it has one.
    pub active: Option<[String; 2]>,
}

impl From<&Zone> for ZoneView {
    fn from(zone: &Zone) -> Self {
        Self {
            id: zone.id.to_string(),
            kind: zone.kind,
            polygon: zone.points.clone(),
            masks: zone.mask_points(),
            classes: zone.classes.clone(),
            min_score: zone.min_score,
            min_area: zone.min_area,
            max_area: zone.max_area,
            min_dwell_s: zone.min_dwell.map(|dwell| dwell.as_seconds_f64()),
            active: zone.active.map(|(from, to)| [from.format("%H:%M").to_string(), to.format("%H:%M").to_string()]),
        }
    }
}

/// The size and time of an analysed frame.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FrameInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// When it was captured.
    pub captured_at: DateTime<Utc>,
}

/// One detection of the latest frame.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DetectionView {
    /// Class name.
    pub class: String,
    /// Score.
    pub score: f32,
    /// `[x1, y1, x2, y2]` in pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

fn known(reads: &CameraReads, id: &str) -> Result<(), ApiError> {
    match reads.cameras.get(id).is_some() {
        true => Ok(()),
        false => Err(ApiError::NotFound(format!("no camera '{id}'"))),
    }
}

/// `GET /api/v1/cameras/{id}/view`: the camera's zones and its latest detections (the tuning view);
/// on a center, as the edge that runs the camera answers.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/view", tag = "cameras", params(("id" = String, Path, description = "camera id")), responses((status = 200, body = CameraView), (status = 403, description = "a reporter", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "a center without the relay key: it forwards nothing", body = ErrorBody), (status = 502, description = "a center: the edge that runs the camera did not answer", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn view(
    State(reads): State<CameraReads>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    may_watch(&who)?;
    if let Some(edges) = &reads.edges {
        return edges.camera(&id, &["view"], Method::GET, &headers, None).await;
    }
    known(&reads, &id)?;
    let latest = reads.views.latest(&id);
    let view = CameraView {
        zones: reads.views.zones(&id).iter().map(ZoneView::from).collect(),
        frame: latest.as_ref().map(|analysed| FrameInfo {
            width: analysed.frame.width,
            height: analysed.frame.height,
            captured_at: analysed.frame.captured_at,
        }),
        detections: latest
            .iter()
            .flat_map(|analysed| &analysed.detections)
            .map(|d| DetectionView {
                class: d.class.to_string(),
                score: d.score,
                bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
            })
            .collect(),
        id,
    };
    Ok(Json(view).into_response())
}

/// `GET /api/v1/cameras/{id}/frame`: the latest analysed frame as a JPEG (404 before the first); on
/// a center, as the edge that runs the camera answers.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/frame", tag = "cameras", params(("id" = String, Path, description = "camera id")), responses((status = 200, description = "the JPEG", content_type = "image/jpeg", body = Vec<u8>), (status = 403, description = "a reporter", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "a center without the relay key: it forwards nothing", body = ErrorBody), (status = 502, description = "a center: the edge that runs the camera did not answer", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn frame(
    State(reads): State<CameraReads>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    may_watch(&who)?;
    if let Some(edges) = &reads.edges {
        return edges.camera(&id, &["frame"], Method::GET, &headers, None).await;
    }
    known(&reads, &id)?;
    let analysed =
        reads.views.latest(&id).ok_or_else(|| ApiError::NotFound(format!("camera '{id}' has no frame yet")))?;
    let camera = id.clone();
    let jpeg = tokio::task::spawn_blocking(move || {
        let frame = analysed.frame.with_pixels().map_err(|error| crate::Error::FrameDecode { camera, error })?;
        let image =
            RgbImage::from_raw(frame.width, frame.height, frame.rgb.to_vec()).expect("a frame holds its pixels");
        encode_jpeg(&image).map_err(|source| crate::Error::Preview { camera: id, source })
    })
    .await
    .expect("decoding and encoding a frame do not panic")?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], jpeg).into_response())
}
