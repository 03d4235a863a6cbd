//! Evidence images through Open311, by request and index: staff get the image as stored; the public
//! view gets only the first `[open311] public_media` images (never a plate crop), blurred by
//! [`super::blur`].

use axum::{
    Extension,
    extract::{Path, State},
    http::header,
    response::IntoResponse,
};

use super::{
    access::{Reader, first_public_image},
    format::{Format, Open311Error},
    requests::one,
};
use crate::api::{
    error::{ApiError, excerpt},
    state::ApiState,
};

/// `GET /open311/v2/media/{id}/{index}.jpg`: an evidence image of a request (staff: as stored; the
/// public: one `public_media` allows, its text blurred).
#[utoipa::path(get, path = "/open311/v2/media/{id}/{index}.jpg", tag = "open311", params(("id" = i64, Path, description = "request id"), ("index" = String, Path, description = "`<index>.jpg`")), responses((status = 200, content_type = "image/jpeg"), (status = 404, description = "no such image, or not one the public may see")))]
pub async fn media(
    State(state): State<ApiState>,
    Extension(reader): Extension<Reader>,
    Path((id, file)): Path<(i64, String)>,
) -> Result<impl IntoResponse, Open311Error> {
    let not_found = || {
        Open311Error::new(Format::Json, ApiError::NotFound(format!("no image '{}' of request {id}", excerpt(&file))))
    };
    let index: i64 = file.strip_suffix(".jpg").and_then(|index| index.parse().ok()).ok_or_else(not_found)?;
    let row = one(&state, &reader, id).await.map_err(Open311Error::json)?;
    if reader.is_public() {
        let allowed = first_public_image(&state, &row.case, row.evidence_count).is_some()
            && index < i64::from(state.open311.config.public_media)
            && row.case.plate_evidence != Some(index);
        if !allowed {
            return Err(not_found());
        }
    }
    let info = state.store.evidence(id, index).await?.ok_or_else(not_found)?;
    let path = state.evidence.path_of(&info.sha256).ok_or_else(not_found)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|source| ApiError::Internal(crate::Error::Io { path: path.clone(), source }))?;
    let bytes = if reader.is_public() {
        let blur = state.open311.blur.clone().ok_or_else(not_found)?;
        let sha256 = info.sha256.clone();
        tokio::task::spawn_blocking(move || blur.blurred(&sha256, &bytes))
            .await
            .expect("blurring does not panic")
            .map_err(|message| ApiError::Internal(crate::Error::Plate(message)))?
            .as_ref()
            .clone()
    } else {
        bytes
    };
    let cache = if reader.is_public() { "public, max-age=300" } else { "no-store" };
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, cache)], bytes))
}
