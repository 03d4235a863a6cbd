//! Cases as service requests: `requests` (filters in the query, pages), `requests/{id}` and
//! `tokens/{token}`, each in the staff view or, for readers without a token, the public one.

use std::collections::HashMap;

use axum::{
    Extension,
    extract::{Path, RawQuery, State},
    http::HeaderMap,
};
use chrono::TimeDelta;
use serde::Serialize;

use super::{
    access::{Reader, first_public_image},
    format::{Format, Open311Error, Reply, city_time, parse_time, public_base},
};
use crate::{
    api::{
        error::{ApiError, excerpt},
        state::ApiState,
    },
    rules::Category,
    store::{RequestFilter, RequestRow},
};

/// Most ids one `service_request_id` list may name.
const MAX_REQUEST_IDS: usize = 200;
/// Most requests in one page, and the page size when none is asked for.
const MAX_PAGE_SIZE: u32 = 1000;
/// The longest window of `start_date`..`end_date`, and the window when neither is given (the spec's).
const WINDOW_DAYS: i64 = 90;

/// A case as an Open311 service request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceRequest {
    /// The case id.
    pub service_request_id: String,
    /// `open` or `closed`.
    pub status: &'static str,
    /// The workflow status; for staff also the latest note.
    pub status_notes: String,
    /// The category's standard name.
    pub service_name: String,
    /// The category.
    pub service_code: String,
    /// What the citizen wrote, or what kind of device saw it (staff: which one).
    pub description: String,
    /// The departments responsible for the category in the grid, by name.
    pub agency_responsible: String,
    /// The time limit the responsible department works to.
    pub service_notice: String,
    /// When it was reported, city time.
    pub requested_datetime: String,
    /// Last change, city time.
    pub updated_datetime: String,
    /// The deadline, once filed.
    pub expected_datetime: Option<String>,
    /// The address the citizen gave, if any.
    pub address: Option<String>,
    /// The grid cell the citizen named as the address, if any.
    pub address_id: Option<String>,
    /// Not used in Chinese addresses.
    pub zipcode: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub long: Option<f64>,
    /// The first evidence image, an absolute URL (the public view's is blurred).
    pub media_url: Option<String>,
    /// The 15-digit grid (an extension).
    pub grid: String,
    /// Where it came from: `camera`, `sensor` or `citizen` (an extension).
    pub source: String,
    /// The vehicle's licence plate (an extension of the staff view; parking cases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
}

/// A token of a posted request and the request it became (requests are created at once, so a
/// request's token is its id).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenAnswer {
    /// The request.
    pub service_request_id: String,
    /// The token asked about.
    pub token: String,
}

/// `row` as `reader` may see it.
fn request_of(row: RequestRow, state: &ApiState, reader: &Reader, base: &str) -> ServiceRequest {
    let RequestRow { case, latest_note, evidence_count } = row;
    let public = reader.is_public();
    let offset = state.policy.calendar().utc_offset();
    let detail: serde_json::Value =
        case.detail.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let description = match (case.source.as_str(), public) {
        ("citizen", _) => detail["description"].as_str().unwrap_or_default().to_owned(),
        ("sensor", true) => "reported by a city sensor".to_owned(),
        ("sensor", false) => format!("sensor {} ({})", case.device, case.zone),
        (_, true) => "seen by a city camera".to_owned(),
        (_, false) => format!("camera {}, zone {}", case.camera, case.zone),
    };
    let entry = state.policy.taxonomy().entry(case.category);
    let responsible = state.whistles.responsible(case.category.as_str(), &case.grid);
    let hours = entry.time_limit(case.urgency).num_minutes() as f64 / 60.0;
    let media =
        if public { first_public_image(state, &case, evidence_count) } else { (evidence_count > 0).then_some(0) };
    ServiceRequest {
        service_request_id: case.id.to_string(),
        status: if case.status.is_open() { "open" } else { "closed" },
        status_notes: match latest_note {
            Some(note) if !public && !note.is_empty() => format!("{}: {note}", case.status),
            _ => case.status.to_string(),
        },
        service_name: entry.name.clone(),
        service_code: case.category.to_string(),
        description,
        agency_responsible: responsible.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", "),
        service_notice: format!("处置时限 {hours} 工作小时 (handled within {hours} working hours of filing)"),
        requested_datetime: city_time(case.opened_at, offset),
        updated_datetime: city_time(case.updated_at, offset),
        expected_datetime: case.deadline_at.map(|at| city_time(at, offset)),
        address: detail["address_string"].as_str().map(str::to_owned),
        address_id: detail["address_id"].as_str().map(str::to_owned),
        zipcode: None,
        lat: case.latitude,
        long: case.longitude,
        media_url: media.map(|index| format!("{base}/open311/v2/media/{}/{index}.jpg", case.id)),
        grid: case.grid,
        source: case.source,
        plate: if public { None } else { case.plate },
    }
}

/// The query parameters, the last of each name counting.
fn parameters(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// The comma-separated list of `name` (Open311 allows `a,b`), blanks dropped.
fn list<'a>(parameters: &'a HashMap<String, String>, name: &str) -> Vec<&'a str> {
    parameters
        .get(name)
        .map(|value| value.split(',').map(str::trim).filter(|item| !item.is_empty()).collect())
        .unwrap_or_default()
}

/// A whole number of `name` in `range`, or `default`.
fn number(
    parameters: &HashMap<String, String>,
    name: &str,
    range: std::ops::RangeInclusive<u32>,
    default: u32,
) -> Result<u32, ApiError> {
    match parameters.get(name) {
        None => Ok(default),
        Some(text) => text.trim().parse().ok().filter(|value| range.contains(value)).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name}: '{}' is not a whole number in {}..={}",
                excerpt(text),
                range.start(),
                range.end()
            ))
        }),
    }
}

/// The filter of a `requests` query: the ids when `service_request_id` is given (the other filters
/// then do not apply, as the spec has it), else categories, statuses and the date window (the last
/// 90 days by default, at most 90 days), and the page.
fn filter_of(parameters: &HashMap<String, String>, state: &ApiState) -> Result<RequestFilter, ApiError> {
    let page_size = number(parameters, "page_size", 1..=MAX_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let page = number(parameters, "page", 1..=1_000_000, 1)?;
    let mut filter =
        RequestFilter { offset: (page - 1).saturating_mul(page_size), limit: page_size, ..RequestFilter::default() };
    let ids = list(parameters, "service_request_id");
    if !ids.is_empty() {
        for (index, id) in ids.iter().enumerate() {
            let id: i64 = id.parse().map_err(|_| {
                ApiError::BadRequest(format!("service_request_id[{index}]: '{}' is not a request id", excerpt(id)))
            })?;
            if !filter.ids.contains(&id) {
                filter.ids.push(id);
            }
        }
        if filter.ids.len() > MAX_REQUEST_IDS {
            return Err(ApiError::BadRequest(format!(
                "service_request_id: more than {MAX_REQUEST_IDS} different ids; ask in pages"
            )));
        }
        return Ok(filter);
    }
    for code in list(parameters, "service_code") {
        let category = Category::parse(code).ok_or_else(|| {
            ApiError::BadRequest(format!("service_code: '{}' is not a service (see services.json)", excerpt(code)))
        })?;
        filter.categories.push(category.as_str().to_owned());
    }
    let statuses = list(parameters, "status");
    for status in &statuses {
        if !matches!(*status, "open" | "closed") {
            return Err(ApiError::BadRequest(format!("status: '{}' is neither open nor closed", excerpt(status))));
        }
    }
    filter.open = match (statuses.contains(&"open"), statuses.contains(&"closed")) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    let offset = state.policy.calendar().utc_offset();
    let time = |name: &str| parameters.get(name).map(|text| parse_time(name, text, offset)).transpose();
    let window = TimeDelta::days(WINDOW_DAYS);
    let (since, until) = match (time("start_date")?, time("end_date")?) {
        (Some(start), Some(end)) => (start, end),
        (Some(start), None) => (start, start + window),
        (None, Some(end)) => (end - window, end),
        (None, None) => {
            let now = state.clock.now();
            (now - window, now + TimeDelta::seconds(1))
        }
    };
    if until <= since {
        return Err(ApiError::BadRequest("end_date: not after start_date".into()));
    }
    if until - since > window + TimeDelta::seconds(1) {
        return Err(ApiError::BadRequest(format!(
            "start_date/end_date: the window spans more than {WINDOW_DAYS} days"
        )));
    }
    filter.since = Some(since);
    filter.until = Some(until);
    Ok(filter)
}

/// `GET /open311/v2/requests.{json,xml}`: the cases the filters select, newest first, one page.
/// Filters: `service_request_id` (comma list; the others then ignored), `service_code` and `status`
/// (comma lists), `start_date`/`end_date` (the last 90 days by default, 90 days at most), `page`
/// (from 1) and `page_size` (1..=1000, default 1000).
#[utoipa::path(get, path = "/open311/v2/requests.json", tag = "open311", params(
    ("service_request_id" = Option<String>, Query, description = "comma-separated ids"),
    ("service_code" = Option<String>, Query, description = "comma-separated services"),
    ("status" = Option<String>, Query, description = "open, closed, or both"),
    ("start_date" = Option<String>, Query, description = "W3C datetime or date"),
    ("end_date" = Option<String>, Query, description = "W3C datetime or date"),
    ("page" = Option<u32>, Query, description = "from 1"),
    ("page_size" = Option<u32>, Query, description = "1..=1000"),
), responses((status = 200, body = Vec<ServiceRequest>), (status = 400, description = "`[{\"code\": 400, \"description\": ...}]`, the field named")))]
pub async fn requests(
    State(state): State<ApiState>,
    Extension(reader): Extension<Reader>,
    format: Format,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Reply, Open311Error> {
    let fail = |error: ApiError| Open311Error::new(format, error);
    let filter = filter_of(&parameters(query.as_deref()), &state).map_err(fail)?;
    let rows = state.store.service_requests(&filter, &reader.scope(&state)).await.map_err(|e| fail(e.into()))?;
    let base = public_base(&state, &headers);
    let requests: Vec<ServiceRequest> = rows.into_iter().map(|row| request_of(row, &state, &reader, &base)).collect();
    Ok(Reply::new(format, "service_requests", &requests))
}

/// The request `id` as `reader` may see it; 404 when there is none (or it is out of their scope).
pub(super) async fn one(state: &ApiState, reader: &Reader, id: i64) -> Result<RequestRow, ApiError> {
    let filter = RequestFilter { ids: vec![id], limit: 1, ..RequestFilter::default() };
    let mut rows = state.store.service_requests(&filter, &reader.scope(state)).await?;
    rows.pop().ok_or_else(|| ApiError::NotFound(format!("no request {id}")))
}

/// The id of `name` (`42` of `42.json`), or a 404 naming it.
fn id_of(name: &str, what: &str) -> Result<i64, ApiError> {
    name.parse().map_err(|_| ApiError::NotFound(format!("no {what} '{}'", excerpt(name))))
}

/// `GET /open311/v2/requests/{id}.{json,xml}`: one case as a service request (a list of one, as
/// Open311 has it).
#[utoipa::path(get, path = "/open311/v2/requests/{id}.json", tag = "open311", params(("id" = i64, Path, description = "case id")), responses((status = 200, body = Vec<ServiceRequest>), (status = 404, description = "no such request")))]
pub async fn request(
    State(state): State<ApiState>,
    Extension(reader): Extension<Reader>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<Reply, Open311Error> {
    let (name, format) = Format::of_file(&file)?;
    let fail = |error: ApiError| Open311Error::new(format, error);
    let row = one(&state, &reader, id_of(name, "request").map_err(fail)?).await.map_err(fail)?;
    let request = request_of(row, &state, &reader, &public_base(&state, &headers));
    Ok(Reply::new(format, "service_requests", &[request]))
}

/// `GET /open311/v2/tokens/{token}.{json,xml}`: the request a posted report's token became.
#[utoipa::path(get, path = "/open311/v2/tokens/{token}.json", tag = "open311", params(("token" = String, Path, description = "the token of a posted report")), responses((status = 200, body = Vec<TokenAnswer>), (status = 404, description = "no such token")))]
pub async fn token(
    State(state): State<ApiState>,
    Extension(reader): Extension<Reader>,
    Path(file): Path<String>,
) -> Result<Reply, Open311Error> {
    let (name, format) = Format::of_file(&file)?;
    let fail = |error: ApiError| Open311Error::new(format, error);
    let id = id_of(name, "token").map_err(fail)?;
    one(&state, &reader, id).await.map_err(|error| match error {
        ApiError::NotFound(_) => fail(ApiError::NotFound(format!("no token '{}'", excerpt(name)))),
        other => fail(other),
    })?;
    let answer = TokenAnswer { service_request_id: id.to_string(), token: name.to_owned() };
    Ok(Reply::new(format, "service_requests", &[answer]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_lists_drop_blanks() {
        let parameters = parameters(Some("status=open,closed&service_code=litter,%20illegal_parking,"));
        assert_eq!(list(&parameters, "status"), ["open", "closed"]);
        assert_eq!(list(&parameters, "service_code"), ["litter", "illegal_parking"]);
        assert!(list(&parameters, "page").is_empty());
    }
}
