//! `GET /api/v1/cases/export`: every case of a filter as a CSV or XLSX file, for the monthly report.
//!
//! The list's filters, without pages: the cases are read a thousand at a time, newest first, up to
//! [`MAX_ROWS`]; a filter that matches more is refused with a message that says so, rather than cut.
//! Times are the city's, to the second. The XLSX file is written by `rust_xlsxwriter`.

use axum::{
    Extension,
    extract::{Query, State, rejection::QueryRejection},
    response::Response,
};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;

use super::{
    cases::check_filter,
    download::{attachment, csv_bytes},
    error::ApiError,
    state::ApiState,
};
use crate::{
    cases::Principal,
    store::{Case, CaseFilter},
};

/// The most cases one export holds.
pub const MAX_ROWS: usize = 100_000;
/// Cases read per query.
const PAGE: u32 = 1000;

/// The query of `GET /api/v1/cases/export`: the list's filters and the file format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Exact status.
    pub status: Option<String>,
    /// `true`: only open cases; `false`: only finished ones.
    pub open: Option<bool>,
    /// Exact category.
    pub category: Option<String>,
    /// Grid code or a prefix of one.
    pub grid: Option<String>,
    /// Exact camera id.
    pub camera: Option<String>,
    /// Exact zone id.
    pub zone: Option<String>,
    /// Opened at or after.
    pub since: Option<DateTime<Utc>>,
    /// Opened before.
    pub until: Option<DateTime<Utc>>,
    /// Licence plate, or the start of one.
    pub plate: Option<String>,
    /// `csv` (default) or `xlsx`.
    pub format: Option<String>,
}

/// The file's columns, in order.
const COLUMNS: [&str; 16] = [
    "id",
    "code",
    "category",
    "grid",
    "status",
    "urgency",
    "source",
    "camera",
    "zone",
    "plate",
    "opened",
    "deadline",
    "supervised",
    "void_reason",
    "longitude",
    "latitude",
];

/// A cell of the file.
enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

/// `GET /api/v1/cases/export?...&format=csv|xlsx`: the cases the filters match (within the caller's
/// read scope), newest first, as a file to download.
#[utoipa::path(get, path = "/api/v1/cases/export", tag = "cases", params(ExportQuery), responses((status = 200, description = "text/csv, or the XLSX workbook"), (status = 400, description = "a bad filter, named, or more than 100,000 cases", body = super::error::ErrorBody), (status = 401, description = "no or an unknown token", body = super::error::ErrorBody)))]
pub async fn cases(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let xlsx = match query.format.as_deref() {
        None | Some("csv") => false,
        Some("xlsx") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("format: '{other}' is not csv or xlsx"))),
    };
    let mut filter = CaseFilter {
        status: query.status,
        open: query.open,
        category: query.category,
        grid: query.grid,
        camera: query.camera,
        zone: query.zone,
        since: query.since,
        until: query.until,
        plate: query.plate,
        before: None,
        limit: PAGE,
    };
    check_filter(&filter)?;
    let scope = state.read_scope(&who);
    let mut found: Vec<Case> = Vec::new();
    loop {
        let page = state.store.list_cases_in(&filter, &scope).await?;
        let last = page.last().map(|case| case.id);
        let full = page.len() == PAGE as usize;
        found.extend(page);
        if found.len() > MAX_ROWS {
            return Err(ApiError::BadRequest(format!(
                "since, until: the filter matches more than {MAX_ROWS} cases; export a shorter window"
            )));
        }
        match last {
            Some(id) if full => filter.before = Some(id),
            _ => break,
        }
    }
    let offset = state.policy.calendar().utc_offset();
    let rows: Vec<[Cell; 16]> = found.iter().map(|case| row(case, offset)).collect();
    let stamp = state.clock.now().with_timezone(&offset).format("%Y%m%d-%H%M");
    Ok(if xlsx {
        let body = to_xlsx(&rows).map_err(crate::Error::from)?;
        let kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        attachment(kind, &format!("sharpeyes-cases-{stamp}.xlsx"), body)
    } else {
        attachment("text/csv; charset=utf-8", &format!("sharpeyes-cases-{stamp}.csv"), to_csv(&rows))
    })
}

/// A case's cells, in [`COLUMNS`]' order.
fn row(case: &Case, offset: FixedOffset) -> [Cell; 16] {
    let time = |at: DateTime<Utc>| Cell::Text(at.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S").to_string());
    let text = |value: &str| Cell::Text(value.to_owned());
    let optional = |value: Option<&str>| value.map_or(Cell::Empty, text);
    let number = |value: Option<f64>| value.map_or(Cell::Empty, Cell::Number);
    [
        Cell::Number(case.id as f64),
        text(&case.code),
        text(case.category.as_str()),
        text(&case.grid),
        text(case.status.as_str()),
        text(case.urgency.as_str()),
        text(&case.source),
        text(&case.camera),
        text(&case.zone),
        optional(case.plate.as_deref()),
        time(case.opened_at),
        case.deadline_at.map_or(Cell::Empty, time),
        text(if case.supervised { "yes" } else { "no" }),
        optional(case.void_reason.as_deref()),
        number(case.longitude),
        number(case.latitude),
    ]
}

fn to_csv(rows: &[[Cell; 16]]) -> Vec<u8> {
    let records = rows.iter().map(|row| {
        row.iter().map(|cell| match cell {
            Cell::Text(text) => text.clone(),
            Cell::Number(n) => n.to_string(),
            Cell::Empty => String::new(),
        })
    });
    csv_bytes(COLUMNS, records)
}

fn to_xlsx(rows: &[[Cell; 16]]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet().set_name("cases")?;
    for (col, name) in COLUMNS.iter().enumerate() {
        sheet.write_string(0, col as u16, *name)?;
    }
    for (n, row) in rows.iter().enumerate() {
        let at = n as u32 + 1;
        for (col, cell) in row.iter().enumerate() {
            match cell {
                Cell::Text(text) => sheet.write_string(at, col as u16, text)?,
                Cell::Number(number) => sheet.write_number(at, col as u16, *number)?,
                Cell::Empty => continue,
            };
        }
    }
    workbook.save_to_buffer()
}
