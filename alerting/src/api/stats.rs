//! `GET /api/v1/stats`: the command center's figures of a window (see [`crate::store::StatsRow`]),
//! grouped by day, category, grid or department, as JSON or as CSV for the monthly report.

use axum::{
    Extension, Json,
    extract::{Query, State, rejection::QueryRejection},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{
    cases::check_grid_prefix,
    download::{attachment, csv_bytes},
    error::{ApiError, ErrorBody},
    state::ApiState,
};
use crate::{
    cases::Principal,
    store::{StatsGroup, StatsQuery, StatsRow},
};

/// The window when the query names none.
const DEFAULT_DAYS: i64 = 30;
/// The longest window one query may cover.
const MAX_DAYS: i64 = 366;

/// The query of `GET /api/v1/stats`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    /// Window start (default: 30 days before `until`).
    pub since: Option<DateTime<Utc>>,
    /// Window end, exclusive (default: now); open and overdue cases are counted at this moment.
    pub until: Option<DateTime<Utc>>,
    /// Only cases whose grid code starts with these digits (a district, street, community or cell).
    pub grid: Option<String>,
    /// One or two of `day`, `category`, `grid`, `department`, comma-separated (default `category`).
    pub group_by: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// The figures of a window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatsReport {
    /// Window start.
    pub since: DateTime<Utc>,
    /// Window end (exclusive).
    pub until: DateTime<Utc>,
    /// What each row's `key` holds, in order.
    pub group_by: Vec<StatsGroup>,
    /// One row per group, in key order.
    pub rows: Vec<StatsRow>,
}

/// `GET /api/v1/stats?since=&until=&grid=&group_by=&format=`: per group the cases opened, filed,
/// dispatched, closed and voided in the window, open and overdue at its end, median and 90th
/// percentile seconds from report to filing, dispatch and closing, the on-time rate (按期处置率) and the
/// re-opened rate (返工率) of the cases closed; within the caller's read scope. `format=csv` gives the
/// same rows as a CSV file.
#[utoipa::path(get, path = "/api/v1/stats", tag = "cases", params(StatsParams), responses((status = 200, body = StatsReport, description = "JSON, or text/csv with format=csv"), (status = 400, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn report(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    params: Result<Query<StatsParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let until = params.until.unwrap_or_else(|| state.clock.now());
    let since = params.since.unwrap_or(until - TimeDelta::days(DEFAULT_DAYS));
    if since >= until {
        return Err(ApiError::BadRequest("since: not before until".into()));
    }
    if until - since > TimeDelta::days(MAX_DAYS) {
        return Err(ApiError::BadRequest(format!("since, until: the window is over {MAX_DAYS} days")));
    }
    if let Some(grid) = &params.grid {
        check_grid_prefix(grid)?;
    }
    let group_by = parse_groups(params.group_by.as_deref().unwrap_or("category"))?;
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("format: '{other}' is not json or csv"))),
    };
    let query = StatsQuery {
        since,
        until,
        grid: params.grid,
        group_by: group_by.clone(),
        utc_offset_minutes: state.policy.calendar().utc_offset().local_minus_utc() / 60,
    };
    let rows = state.store.case_stats(&query, &state.read_scope(&who), state.whistles.departments()).await?;
    let report = StatsReport { since, until, group_by, rows };
    if csv {
        let name = format!("sharpeyes-stats-{}.csv", until.format("%Y%m%d"));
        return Ok(attachment("text/csv; charset=utf-8", &name, to_csv(&report)));
    }
    Ok(Json(report).into_response())
}

/// `day,category` into groups: one or two, known, not twice.
fn parse_groups(text: &str) -> Result<Vec<StatsGroup>, ApiError> {
    let mut groups = Vec::new();
    for part in text.split(',') {
        let group = match part.trim() {
            "day" => StatsGroup::Day,
            "category" => StatsGroup::Category,
            "grid" => StatsGroup::Grid,
            "department" => StatsGroup::Department,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "group_by: '{other}' is not one of day, category, grid, department"
                )));
            }
        };
        if groups.contains(&group) {
            return Err(ApiError::BadRequest(format!("group_by: '{}' is named twice", part.trim())));
        }
        groups.push(group);
    }
    if groups.len() > 2 {
        return Err(ApiError::BadRequest("group_by: at most two keys".into()));
    }
    Ok(groups)
}

/// The report's rows as CSV: one column per key, then the figures (empty where there is none).
fn to_csv(report: &StatsReport) -> Vec<u8> {
    let keys = report.group_by.iter().map(|g| match g {
        StatsGroup::Day => "day",
        StatsGroup::Category => "category",
        StatsGroup::Grid => "grid",
        StatsGroup::Department => "department",
    });
    let figures = [
        "opened",
        "filed",
        "dispatched",
        "closed",
        "voided",
        "open_at_end",
        "overdue_at_end",
        "to_filing_p50_s",
        "to_filing_p90_s",
        "to_dispatch_p50_s",
        "to_dispatch_p90_s",
        "to_close_p50_s",
        "to_close_p90_s",
        "on_time_rate",
        "reopened_rate",
    ];
    let number = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
    let records = report.rows.iter().map(|row| {
        let counts =
            [row.opened, row.filed, row.dispatched, row.closed, row.voided, row.open_at_end, row.overdue_at_end];
        let measured = [
            row.to_filing_p50_s,
            row.to_filing_p90_s,
            row.to_dispatch_p50_s,
            row.to_dispatch_p90_s,
            row.to_close_p50_s,
            row.to_close_p90_s,
            row.on_time_rate,
            row.reopened_rate,
        ];
        row.key.iter().cloned().chain(counts.map(|n| n.to_string())).chain(measured.map(number))
    });
    csv_bytes(keys.chain(figures), records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_known_at_most_two_and_not_repeated() {
        assert_eq!(parse_groups("day,category").unwrap(), vec![StatsGroup::Day, StatsGroup::Category]);
        assert_eq!(parse_groups("department").unwrap(), vec![StatsGroup::Department]);
        for bad in ["week", "day,day", "day,grid,category", ""] {
            assert!(parse_groups(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn csv_has_a_column_per_key_and_figure_and_blanks_for_none() {
        let row = StatsRow {
            key: vec!["2026-12-01".into(), "illegal_parking".into()],
            opened: 3,
            closed: 1,
            to_close_p50_s: Some(7200.0),
            on_time_rate: Some(1.0),
            ..StatsRow::default()
        };
        let report = StatsReport {
            since: Utc::now(),
            until: Utc::now(),
            group_by: vec![StatsGroup::Day, StatsGroup::Category],
            rows: vec![row],
        };
        let text = String::from_utf8(to_csv(&report)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("day,category,opened,filed,dispatched,closed"), "{text}");
        assert_eq!(lines[1], "2026-12-01,illegal_parking,3,0,0,1,0,0,0,,,,,7200.000,,1.000,");
    }
}
