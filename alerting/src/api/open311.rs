//! Open311 GeoReport v2 under `/open311/v2/` (JSON only): the categories as `services`, cases as
//! service `requests`, and `POST requests.json` for citizen reports with a photo, which the detector
//! looks at to suggest the category. Errors are Open311's `[{"code": ..., "description": ...}]`.
//!
//! Authentication as everywhere else (`Authorization: Bearer`), or Open311's `api_key` query
//! parameter. Posting takes a token of the `reporter`, `operator` or `admin` role.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Extension, Json,
    extract::{FromRequest, Multipart, Path, Query, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    auth::{self, Authenticator},
    error::{ApiError, excerpt},
    state::ApiState,
};
use crate::{
    cases::{
        Principal,
        grids::{GridLevel, cell_at},
    },
    casework::citizen::{CitizenReport, PhotoError, Suggestion, decode_photo},
    rules::Category,
    store::{Case, CaseDetail, CaseFilter},
};

/// Largest citizen report (form fields and photo), in bytes.
pub const MAX_REPORT_BYTES: usize = 10 * 1024 * 1024;
/// Photos decoded and analysed at once (each may take up to 176 MB while it is decoded).
static PHOTO_DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
/// Most ids one `service_request_id` list may name.
const MAX_REQUEST_IDS: usize = 200;
/// Longest `address_string`, in bytes.
const MAX_ADDRESS_BYTES: usize = 500;
/// Longest value of any other text field (names, e-mail, codes), in bytes.
const MAX_FIELD_BYTES: usize = 200;
/// Longest description, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 4000;
/// Most requests in one answer (Open311's usual page).
const MAX_REQUESTS: u32 = 1000;

/// An [`ApiError`] answered in Open311's error format.
#[derive(Debug)]
pub struct Open311Error(ApiError);

impl<E: Into<ApiError>> From<E> for Open311Error {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let description = self.0.to_string();
        let mut response = self.0.into_response();
        let status = response.status();
        *response.body_mut() = axum::body::Body::from(
            serde_json::json!([{ "code": status.as_u16(), "description": description }]).to_string(),
        );
        response
    }
}

type Answer<T> = Result<Json<T>, Open311Error>;

/// Middleware: the token check of [`auth::require_token_or_api_key`], its refusals in Open311's format.
pub async fn require_token(
    State(auth): State<Arc<Authenticator>>,
    request: Request,
    next: Next,
) -> Result<Response, Open311Error> {
    Ok(auth::require_token_or_api_key(State(auth), request, next).await?)
}

/// One service: a case category.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Service {
    /// The category's name (`illegal_parking`): codes alone are not unique across events and components.
    pub service_code: String,
    /// The standard Chinese name.
    pub service_name: String,
    /// Standard code, kind and urgency.
    pub description: String,
    /// No extra attributes are asked for.
    pub metadata: bool,
    /// Always `realtime`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The standard code and the English name.
    pub keywords: String,
    /// `event` or `component`.
    pub group: String,
}

/// A case as an Open311 service request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceRequest {
    /// The case id.
    pub service_request_id: String,
    /// `open` or `closed`.
    pub status: &'static str,
    /// The case's workflow status and the latest note.
    pub status_notes: String,
    /// The category's standard name.
    pub service_name: String,
    /// The category.
    pub service_code: String,
    /// What the citizen wrote, or which camera or sensor saw it.
    pub description: String,
    /// The departments responsible for the category in the grid.
    pub agency_responsible: String,
    /// When it was reported.
    pub requested_datetime: DateTime<Utc>,
    /// Last change.
    pub updated_datetime: DateTime<Utc>,
    /// The deadline, once filed.
    pub expected_datetime: Option<DateTime<Utc>>,
    /// The address the citizen gave, if any.
    pub address: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub long: Option<f64>,
    /// The first evidence image (through the case, with a token).
    pub media_url: Option<String>,
    /// The 15-digit grid (an extension).
    pub grid: String,
    /// Where it came from: `camera`, `sensor` or `citizen` (an extension).
    pub source: String,
    /// The vehicle's licence plate, when one was read (an extension; parking cases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
}

/// The answer to a posted report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostedRequest {
    /// The new case's id.
    pub service_request_id: String,
    /// What the detector made of the photo.
    pub service_notice: String,
    /// Not used.
    pub account_id: Option<String>,
    /// The category the detector suggests from the photo, if any (an extension).
    pub suggested_service_code: Option<String>,
}

/// The query of `GET /open311/v2/requests.json` (besides `api_key`, which the token check reads).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RequestQuery {
    /// Comma-separated case ids; the other filters are ignored when given.
    pub service_request_id: Option<String>,
    /// A category.
    pub service_code: Option<String>,
    /// Reported at or after.
    pub start_date: Option<DateTime<Utc>>,
    /// Reported before.
    pub end_date: Option<DateTime<Utc>>,
    /// `open` or `closed`.
    pub status: Option<String>,
}

fn service_of(category: Category, state: &ApiState) -> Service {
    let entry = state.policy.taxonomy().entry(category);
    let kind = serde_json::to_value(entry.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    Service {
        service_code: category.as_str().into(),
        service_name: entry.name.clone(),
        description: format!("{} {} ({kind}), {} by default", entry.code, entry.name, entry.urgency.as_str()),
        metadata: false,
        kind: "realtime",
        keywords: format!("{}, {}", entry.code, category.as_str().replace('_', " ")),
        group: kind,
    }
}

/// `GET /open311/v2/services.json`: every case category.
#[utoipa::path(get, path = "/open311/v2/services.json", tag = "open311", responses((status = 200, body = Vec<Service>)))]
pub async fn services(State(state): State<ApiState>) -> Json<Vec<Service>> {
    Json(Category::ALL.into_iter().map(|category| service_of(category, &state)).collect())
}

fn request_of(case: Case, state: &ApiState, latest_note: Option<String>) -> ServiceRequest {
    let open = case.status.is_open();
    let detail: serde_json::Value =
        case.detail.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let description = match case.source.as_str() {
        "citizen" => detail["description"].as_str().unwrap_or_default().to_owned(),
        "sensor" => format!("sensor {} ({})", case.device, case.zone),
        _ => format!("camera {}, zone {}", case.camera, case.zone),
    };
    let service_name = state.policy.taxonomy().entry(case.category).name.clone();
    let responsible = state.whistles.responsible(case.category.as_str(), &case.grid);
    ServiceRequest {
        service_request_id: case.id.to_string(),
        status: if open { "open" } else { "closed" },
        status_notes: match latest_note {
            Some(note) if !note.is_empty() => format!("{}: {note}", case.status),
            _ => case.status.to_string(),
        },
        service_name,
        service_code: case.category.to_string(),
        description,
        agency_responsible: responsible.iter().map(|d| d.id.as_str()).collect::<Vec<_>>().join(", "),
        requested_datetime: case.opened_at,
        updated_datetime: case.updated_at,
        expected_datetime: case.deadline_at,
        address: detail["address_string"].as_str().map(str::to_owned),
        lat: case.latitude,
        long: case.longitude,
        media_url: None,
        grid: case.grid,
        source: case.source,
        plate: case.plate,
    }
}

/// One case as a request with its latest note and its first evidence image.
fn with_media(state: &ApiState, detail: CaseDetail) -> ServiceRequest {
    let id = detail.case.id;
    let note = detail.events.last().map(|event| event.note.clone());
    let has_media = !detail.evidence.is_empty();
    let mut request = request_of(detail.case, state, note);
    request.media_url = has_media.then(|| format!("/api/v1/cases/{id}/evidence/0"));
    request
}

/// `GET /open311/v2/requests.json`: cases as service requests, newest first (at most 1000).
#[utoipa::path(get, path = "/open311/v2/requests.json", tag = "open311", params(RequestQuery), responses((status = 200, body = Vec<ServiceRequest>), (status = 400, description = "`[{\"code\": 400, \"description\": ...}]`")))]
pub async fn requests(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    query: Query<RequestQuery>,
) -> Answer<Vec<ServiceRequest>> {
    let Query(query) = query;
    let scope = state.read_scope(&who);
    if let Some(ids) = &query.service_request_id {
        let mut wanted: Vec<i64> = Vec::new();
        for (index, id) in ids.split(',').enumerate() {
            let id: i64 = id.trim().parse().map_err(|_| {
                ApiError::BadRequest(format!(
                    "service_request_id[{index}]: '{}' is not a request id",
                    excerpt(id.trim())
                ))
            })?;
            if !wanted.contains(&id) {
                wanted.push(id);
            }
            if wanted.len() > MAX_REQUEST_IDS {
                return Err(ApiError::BadRequest(format!(
                    "service_request_id: more than {MAX_REQUEST_IDS} different ids; ask in pages"
                ))
                .into());
            }
        }
        let mut found = Vec::new();
        for id in wanted {
            if !state.store.case_in_scope(id, &scope).await? {
                continue;
            }
            if let Some(detail) = state.store.case_detail(id).await? {
                found.push(with_media(&state, detail));
            }
        }
        return Ok(Json(found));
    }
    let open = match query.status.as_deref() {
        None => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(other) => return Err(ApiError::BadRequest(format!("status: '{other}' is neither open nor closed")).into()),
    };
    if let Some(code) = query.service_code.as_deref().filter(|code| Category::parse(code).is_none()) {
        return Err(ApiError::BadRequest(format!("service_code: '{code}' is not a service (see services.json)")).into());
    }
    let filter = CaseFilter {
        category: query.service_code.clone(),
        since: query.start_date,
        until: query.end_date,
        limit: MAX_REQUESTS,
        ..CaseFilter::default()
    };
    let cases = state.store.list_cases_in(&filter, &scope).await?;
    let wanted = cases.into_iter().filter(|case| open.is_none_or(|open| case.status.is_open() == open));
    Ok(Json(wanted.map(|case| request_of(case, &state, None)).collect()))
}

/// `GET /open311/v2/requests/{id}.json`: one case as a service request (a list of one, as Open311 has it).
#[utoipa::path(get, path = "/open311/v2/requests/{id}.json", tag = "open311", params(("id" = i64, Path, description = "case id")), responses((status = 200, body = Vec<ServiceRequest>), (status = 404, description = "no such request")))]
pub async fn request(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(file): Path<String>,
) -> Answer<Vec<ServiceRequest>> {
    let id: i64 = file
        .strip_suffix(".json")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ApiError::NotFound(format!("no request '{file}' (ask for <id>.json)")))?;
    if !state.store.case_in_scope(id, &state.read_scope(&who)).await? {
        return Err(ApiError::NotFound(format!("no request {id}")).into());
    }
    let detail = state.store.case_detail(id).await?.ok_or_else(|| ApiError::NotFound(format!("no request {id}")))?;
    Ok(Json(vec![with_media(&state, detail)]))
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

/// `POST /open311/v2/requests.json` (reporter, operator, admin): a citizen report, as a multipart
/// form with the photo in `media` or a URL-encoded form without one. Fields: `service_code` (optional
/// with a photo the detector can read), `lat` and `long` (required), `address_string`, `description`,
/// and `grid` (an extension, for places outside the mapped grid cells). Names, e-mail addresses and
/// phone numbers are not stored.
#[utoipa::path(post, path = "/open311/v2/requests.json", tag = "open311", request_body(content_type = "multipart/form-data", description = "service_code, lat, long, address_string, description, grid; the photo in `media`"), responses((status = 200, body = Vec<PostedRequest>), (status = 400, description = "a bad field, named"), (status = 403, description = "the role may not report"), (status = 413, description = "larger than 10 MiB, or a photo larger than 8192x8192")))]
pub async fn post_request(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    request: Request,
) -> Answer<Vec<PostedRequest>> {
    if !who.role.may_report() {
        return Err(ApiError::Forbidden(format!("a {} may not file reports", who.role.as_str())).into());
    }
    let announced = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|length| length > MAX_REPORT_BYTES) {
        return Err(too_large().into());
    }
    let form = ReportForm::read(request).await?;
    let latitude = form.number("lat", -90.0..=90.0)?.ok_or_else(|| ApiError::BadRequest("lat: required".into()))?;
    let longitude =
        form.number("long", -180.0..=180.0)?.ok_or_else(|| ApiError::BadRequest("long: required".into()))?;
    for (name, value) in &form.fields {
        let longest = match name.as_str() {
            "description" => MAX_DESCRIPTION_BYTES,
            "address_string" => MAX_ADDRESS_BYTES,
            _ => MAX_FIELD_BYTES,
        };
        if value.len() > longest {
            return Err(ApiError::BadRequest(format!("{}: longer than {longest} bytes", excerpt(name))).into());
        }
    }
    let description = form.fields.get("description").cloned().unwrap_or_default();
    let given = match form.fields.get("service_code").map(|code| code.trim()).filter(|code| !code.is_empty()) {
        Some(code) => Some(Category::parse(code).ok_or_else(|| {
            ApiError::BadRequest(format!("service_code: '{}' is not a service (see services.json)", excerpt(code)))
        })?),
        None => None,
    };
    let grid = match cell_at(&state.grids, [longitude, latitude]) {
        Some(cell) => cell.code.clone(),
        None => match form.fields.get("grid") {
            Some(code) if GridLevel::of(code) != Some(GridLevel::Cell) => {
                return Err(ApiError::BadRequest(format!("grid: '{code}' is not a 15-digit grid code")).into());
            }
            Some(code) if !state.grids.iter().any(|grid| grid.code == *code) => {
                return Err(ApiError::BadRequest(format!("grid: '{code}' is not a configured grid cell")).into());
            }
            Some(code) => code.clone(),
            None => {
                return Err(ApiError::BadRequest(format!(
                    "lat/long: ({latitude}, {longitude}) is in no mapped grid cell; send grid with the 15-digit code"
                ))
                .into());
            }
        },
    };

    let (photo, suggestion) = match form.photo {
        Some(bytes) => analyse(&state, bytes).await?,
        None => (None, None),
    };
    let category = given.or(suggestion.as_ref().map(|s| s.category)).ok_or_else(|| {
        ApiError::BadRequest(
            "service_code: required (no photo, or nothing in the photo that the detectors know)".into(),
        )
    })?;
    let notice = match &suggestion {
        Some(s) => format!("the detector suggests {} ({} {:.2})", s.category.as_str(), s.class, s.score),
        None if photo.is_some() => "the detector found nothing it knows in the photo".to_owned(),
        None => "no photo".to_owned(),
    };
    let detail = serde_json::json!({
        "description": description,
        "address_string": form.fields.get("address_string"),
        "service_code": given.map(Category::as_str),
        "suggestion": suggestion,
    });
    let report = CitizenReport {
        category,
        grid,
        location: [longitude, latitude],
        detail,
        channel: who.name.to_string(),
        photo,
        suggestion: suggestion.clone(),
        received_at: state.clock.now(),
    };
    let id = state.citizens.file(report).await?;
    Ok(Json(vec![PostedRequest {
        service_request_id: id.to_string(),
        service_notice: notice,
        account_id: None,
        suggested_service_code: suggestion.map(|s| s.category.as_str().to_owned()),
    }]))
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
