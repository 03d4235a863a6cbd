//! `POST /open311/v2/requests.{json,xml}`: a citizen report, placed by `lat`/`long`, by a grid cell
//! code in `address_id` (or the extension `grid`), or by the grid cell its `address_string` names; with
//! a photo in `media` (the detector suggests the category) or a link in `media_url` (kept with the
//! report, not fetched: the service does not reach out to addresses a client names), and answers to
//! the service's questions as `attribute[<code>]`. The token comes as a bearer header or as `api_key`
//! in the query or the form.

use std::collections::HashMap;

use axum::{
    extract::{FromRequest, Multipart, Request, State},
    http::{StatusCode, header},
};
use serde::Serialize;

use super::{
    access::NO_TOKEN,
    format::{Format, Open311Error, Reply},
};
use crate::{
    api::{
        auth,
        error::{ApiError, excerpt},
        state::ApiState,
    },
    cases::grids::{GridLevel, cell_at},
    casework::citizen::{CitizenReport, PhotoError, Suggestion, decode_photo},
    rules::Category,
};

/// Largest citizen report (form fields and photo), in bytes.
pub const MAX_REPORT_BYTES: usize = 10 * 1024 * 1024;
/// Photos decoded and analysed at once (each may take up to 176 MB while it is decoded).
static PHOTO_DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
/// Longest `address_string`, in bytes.
const MAX_ADDRESS_BYTES: usize = 500;
/// Longest value of any other text field (names, e-mail, codes), in bytes.
const MAX_FIELD_BYTES: usize = 200;
/// Longest description, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 4000;
/// Longest `media_url`, in bytes.
const MAX_URL_BYTES: usize = 2000;

/// The answer to a posted report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostedRequest {
    /// The new case's id.
    pub service_request_id: String,
    /// Its token (the request is created at once, so the token is the id; `tokens/{token}` finds it).
    pub token: String,
    /// What the detector made of the photo.
    pub service_notice: String,
    /// Not used.
    pub account_id: Option<String>,
    /// The category the detector suggests from the photo, if any (an extension).
    pub suggested_service_code: Option<String>,
}

/// The fields of a posted report, from a multipart or URL-encoded form.
#[derive(Debug, Default)]
struct ReportForm {
    fields: HashMap<String, String>,
    photo: Option<Vec<u8>>,
}

impl ReportForm {
    async fn read(request: Request) -> Result<Self, ApiError> {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if content_type.starts_with("multipart/form-data") {
            let mut multipart =
                Multipart::from_request(request, &()).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
            let mut form = Self::default();
            while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
                let name = field.name().unwrap_or_default().to_owned();
                if name == "media" {
                    form.photo = Some(field.bytes().await.map_err(multipart_error)?.to_vec());
                } else {
                    form.fields.insert(name, field.text().await.map_err(multipart_error)?);
                }
            }
            Ok(form)
        } else {
            let axum::Form(fields) = axum::Form::<HashMap<String, String>>::from_request(request, &())
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
            Ok(Self { fields, photo: None })
        }
    }

    fn number(&self, name: &str, range: std::ops::RangeInclusive<f64>) -> Result<Option<f64>, ApiError> {
        let Some(text) = self.fields.get(name) else {
            return Ok(None);
        };
        match text.trim().parse::<f64>() {
            Ok(value) if range.contains(&value) => Ok(Some(value)),
            _ => Err(ApiError::BadRequest(format!("{name}: '{text}' is not a number in {range:?}"))),
        }
    }
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!("a report takes at most {} MiB", MAX_REPORT_BYTES / (1024 * 1024)))
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large() } else { ApiError::BadRequest(error.body_text()) }
}

/// Where a report is: its grid cell and, when it came with one, its location.
struct Place {
    grid: String,
    location: Option<[f64; 2]>,
}

/// Places a report by `lat`/`long` (the mapped cell there, else the `grid` it names), by the grid cell
/// code in `address_id` or `grid`, or by the grid cell whose name its `address_string` holds, else in
/// `[open311] unplaced_grid`.
fn place_of(form: &ReportForm, state: &ApiState) -> Result<Place, ApiError> {
    let latitude = form.number("lat", -90.0..=90.0)?;
    let longitude = form.number("long", -180.0..=180.0)?;
    let named_cell = |field: &str| -> Result<Option<String>, ApiError> {
        match form.fields.get(field).map(|code| code.trim()).filter(|code| !code.is_empty()) {
            None => Ok(None),
            Some(code) if GridLevel::of(code) != Some(GridLevel::Cell) => {
                Err(ApiError::BadRequest(format!("{field}: '{}' is not a 15-digit grid code", excerpt(code))))
            }
            Some(code) if !state.grids.iter().any(|grid| grid.code == code) => {
                Err(ApiError::BadRequest(format!("{field}: '{code}' is not a configured grid cell")))
            }
            Some(code) => Ok(Some(code.to_owned())),
        }
    };
    let named = match named_cell("address_id")? {
        Some(code) => Some(code),
        None => named_cell("grid")?,
    };
    match (latitude, longitude) {
        (Some(latitude), Some(longitude)) => {
            let location = [longitude, latitude];
            let grid = cell_at(&state.grids, location).map(|cell| cell.code.clone()).or(named).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "lat/long: ({latitude}, {longitude}) is in no mapped grid cell; send address_id with the 15-digit grid code"
                ))
            })?;
            return Ok(Place { grid, location: Some(location) });
        }
        (Some(_), None) => return Err(ApiError::BadRequest("long: required with lat".into())),
        (None, Some(_)) => return Err(ApiError::BadRequest("lat: required with long".into())),
        (None, None) => {}
    }
    if let Some(grid) = named {
        return Ok(Place { grid, location: None });
    }
    let Some(address) = form.fields.get("address_string").map(|text| text.trim()).filter(|text| !text.is_empty())
    else {
        return Err(ApiError::BadRequest(
            "lat/long: required, or address_string or address_id (a 15-digit grid code) instead".into(),
        ));
    };
    let named_in_address = state
        .grids
        .iter()
        .filter(|grid| GridLevel::of(&grid.code) == Some(GridLevel::Cell) && !grid.name.is_empty())
        .filter(|grid| address.contains(grid.name.as_str()))
        .max_by_key(|grid| grid.name.chars().count());
    match (named_in_address, &state.open311.config.unplaced_grid) {
        (Some(grid), _) => Ok(Place { grid: grid.code.clone(), location: None }),
        (None, Some(grid)) => Ok(Place { grid: grid.clone(), location: None }),
        (None, None) => Err(ApiError::BadRequest(format!(
            "address_string: '{}' names no grid cell; send lat/long or address_id (a 15-digit grid code)",
            excerpt(address)
        ))),
    }
}

/// The answers to the service's questions (`attribute[<code>]`), checked against them: an unknown
/// question, an answer the question does not allow, or a required one missing is refused by name.
fn answers_of(
    form: &ReportForm,
    category: Category,
    state: &ApiState,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let questions = &state.policy.taxonomy().entry(category).questions;
    let mut answers = serde_json::Map::new();
    for (name, value) in &form.fields {
        let Some(code) = name.strip_prefix("attribute[").and_then(|rest| rest.strip_suffix(']')) else {
            continue;
        };
        let question = questions.iter().find(|question| question.code == code).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "attribute[{}]: {} asks no such question (see services/{}.json)",
                excerpt(code),
                category.as_str(),
                category.as_str()
            ))
        })?;
        question
            .check(value.trim())
            .map_err(|message| ApiError::BadRequest(format!("attribute[{code}]: {message}")))?;
        answers.insert(code.to_owned(), value.trim().into());
    }
    if let Some(missing) = questions.iter().find(|question| question.required && !answers.contains_key(&question.code))
    {
        return Err(ApiError::BadRequest(format!("attribute[{}]: required for {}", missing.code, category.as_str())));
    }
    Ok(answers)
}

/// The token of a report: its bearer header or query `api_key`, else the form's `api_key`.
async fn reporter(state: &ApiState, request: Request) -> Result<(crate::cases::Principal, ReportForm), ApiError> {
    let peer = auth::peer_of(&request);
    let presented = auth::presented_token(&request)?;
    let early = match &presented {
        Some(token) => Some(state.auth.admit(token, peer)?),
        None => None,
    };
    let announced = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if early.is_some() && announced.is_some_and(|length| length > MAX_REPORT_BYTES) {
        return Err(too_large());
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let is_form = content_type.starts_with("multipart/form-data")
        || content_type.starts_with("application/x-www-form-urlencoded");
    if early.is_none() && !is_form {
        // Not a form, so no api_key can be in it.
        return Err(ApiError::Unauthorized(NO_TOKEN));
    }
    let form = ReportForm::read(request).await?;
    let who = match early {
        Some(who) => who,
        None => {
            let key = form.fields.get("api_key").ok_or(ApiError::Unauthorized(NO_TOKEN))?;
            state.auth.admit(key.trim(), peer)?
        }
    };
    Ok((who, form))
}

/// `POST /open311/v2/requests.{json,xml}` (reporter, operator, admin): a citizen report, as a
/// multipart form with the photo in `media` or a URL-encoded form without one. Fields: `service_code`
/// (optional with a photo the detector can read); `lat` and `long`, or `address_id` (a 15-digit grid
/// code), or `address_string` naming a grid cell; `description`; `media_url`; `attribute[<code>]`;
/// `api_key`. Names, e-mail addresses and phone numbers are not stored.
#[utoipa::path(post, path = "/open311/v2/requests.json", tag = "open311", request_body(content_type = "multipart/form-data", description = "service_code, lat, long, address_string, address_id, description, media_url, attribute[code], api_key; the photo in `media`"), responses((status = 200, body = Vec<PostedRequest>), (status = 400, description = "a bad field, named"), (status = 401, description = "no or an unknown token"), (status = 403, description = "the role may not report"), (status = 413, description = "larger than 10 MiB, or a photo larger than 8192x8192")))]
pub async fn post_request(
    State(state): State<ApiState>,
    format: Format,
    request: Request,
) -> Result<Reply, Open311Error> {
    let fail = |error: ApiError| Open311Error::new(format, error);
    let (who, mut form) = reporter(&state, request).await.map_err(fail)?;
    if !who.role.may_report() {
        return Err(fail(ApiError::Forbidden(format!("a {} may not file reports", who.role.as_str()))));
    }
    for (name, value) in &form.fields {
        let longest = match name.as_str() {
            "description" => MAX_DESCRIPTION_BYTES,
            "address_string" => MAX_ADDRESS_BYTES,
            "media_url" => MAX_URL_BYTES,
            _ => MAX_FIELD_BYTES,
        };
        if value.len() > longest {
            return Err(fail(ApiError::BadRequest(format!("{}: longer than {longest} bytes", excerpt(name)))));
        }
    }
    let media_url = match form.fields.get("media_url").map(|url| url.trim()).filter(|url| !url.is_empty()) {
        Some(link) => match url::Url::parse(link) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Some(link.to_owned()),
            _ => {
                return Err(fail(ApiError::BadRequest(format!(
                    "media_url: '{}' is not an http(s) URL",
                    excerpt(link)
                ))));
            }
        },
        None => None,
    };
    let place = place_of(&form, &state).map_err(fail)?;
    let given = match form.fields.get("service_code").map(|code| code.trim()).filter(|code| !code.is_empty()) {
        Some(code) => Some(Category::parse(code).ok_or_else(|| {
            fail(ApiError::BadRequest(format!(
                "service_code: '{}' is not a service (see services.json)",
                excerpt(code)
            )))
        })?),
        None => None,
    };
    // A named service's answers are checked before the photo is analysed; a suggested one's after.
    let given_answers = given.map(|category| answers_of(&form, category, &state)).transpose().map_err(fail)?;
    let (photo, suggestion) = match form.photo.take() {
        Some(bytes) => analyse(&state, bytes).await.map_err(fail)?,
        None => (None, None),
    };
    let category = given.or(suggestion.as_ref().map(|s| s.category)).ok_or_else(|| {
        fail(ApiError::BadRequest(
            "service_code: required (no photo, or nothing in the photo that the detectors know)".into(),
        ))
    })?;
    let answers = match given_answers {
        Some(answers) => answers,
        None => answers_of(&form, category, &state).map_err(fail)?,
    };
    let notice = match &suggestion {
        Some(s) => format!("the detector suggests {} ({} {:.2})", s.category.as_str(), s.class, s.score),
        None if photo.is_some() => "the detector found nothing it knows in the photo".to_owned(),
        None => "no photo".to_owned(),
    };
    let detail = serde_json::json!({
        "description": form.fields.get("description").cloned().unwrap_or_default(),
        "address_string": form.fields.get("address_string"),
        "address_id": form.fields.get("address_id"),
        "media_url": media_url,
        "attributes": answers,
        "service_code": given.map(Category::as_str),
        "suggestion": suggestion,
    });
    let report = CitizenReport {
        category,
        grid: place.grid,
        location: place.location,
        detail,
        channel: who.name.to_string(),
        photo,
        suggestion: suggestion.clone(),
        received_at: state.clock.now(),
    };
    let id = state.citizens.file(report).await.map_err(|e| fail(e.into()))?;
    let posted = PostedRequest {
        service_request_id: id.to_string(),
        token: id.to_string(),
        service_notice: notice,
        account_id: None,
        suggested_service_code: suggestion.map(|s| s.category.as_str().to_owned()),
    };
    Ok(Reply::new(format, "service_requests", &[posted]))
}

/// Decodes the photo and, when a detector is loaded, asks it for a category.
async fn analyse(state: &ApiState, bytes: Vec<u8>) -> Result<(Option<image::RgbImage>, Option<Suggestion>), ApiError> {
    let analyser = state.photos.clone();
    // A decoded photo may take up to MAX_PHOTO_PIXELS × 4 bytes: photos beyond these wait their turn.
    let _turn = PHOTO_DECODES.acquire().await.expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let photo = decode_photo(&bytes).map_err(|error| match error {
            PhotoError::TooLarge { .. } => ApiError::PayloadTooLarge(format!("media: {error}")),
            PhotoError::Unreadable(_) => ApiError::BadRequest(format!("media: {error}")),
        })?;
        let suggestion = match &analyser {
            Some(analyser) => match analyser.detect(&photo) {
                Ok(detections) => analyser.suggest(&detections),
                Err(error) => {
                    tracing::warn!(error = %error, "the detector failed on a citizen photo");
                    None
                }
            },
            None => None,
        };
        Ok((Some(photo), suggestion))
    })
    .await
    .expect("photo analysis does not panic")
}
