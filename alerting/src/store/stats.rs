//! The command center's figures (GB/T 30428's 综合评价): cases opened and closed in a window, open and
//! overdue at its end, how long filing, dispatch and closing took, and how often departments finished
//! on time or had work sent back — each computed by one SQL query on either database.
//!
//! The query starts from what happened in the window: the cases reported in it (the index on
//! `opened_at`) and the filing, dispatch, voiding and closing events in it (the index on
//! `case_events (action, at)`), each joined to its case; the cases open at its end are the open ones (by
//! status) and those finished since (a window far in the past walks every later closing). Each case
//! gives one row per figure it counts for, placed at the moment that counts (opened: when reported;
//! filing, dispatch, closing: when that step first happened; open at the end: `until`); rows are
//! grouped by the keys asked for, and the medians and 90th percentiles are nearest-rank percentiles
//! over window functions (`ROW_NUMBER` within each group), which both SQLite and PostgreSQL run.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Database, QueryBuilder};

use super::{Pool, ReadScope, Store, finished_statuses, with_pool};
use crate::{Result, cases::whistles::Department};

/// What the figures are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsGroup {
    /// The city's calendar day of the moment that counts (see the module's description).
    Day,
    /// The case's category.
    Category,
    /// The case's grid cell.
    Grid,
    /// The departments responsible (a case counts for each department whose categories and grids hold it).
    Department,
}

/// The window and grouping of a statistics query.
#[derive(Clone, Debug)]
pub struct StatsQuery {
    /// Window start (inclusive).
    pub since: DateTime<Utc>,
    /// Window end (exclusive); open and overdue are counted at this moment.
    pub until: DateTime<Utc>,
    /// Only cases whose grid code starts with this.
    pub grid: Option<String>,
    /// Up to two keys, e.g. day and category.
    pub group_by: Vec<StatsGroup>,
    /// The city's offset from UTC in minutes, for calendar days.
    pub utc_offset_minutes: i32,
}

/// The figures of one group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatsRow {
    /// The group's key, one value per `group_by` entry in its order (a day as `YYYY-MM-DD`).
    pub key: Vec<String>,
    /// Cases reported in the window.
    pub opened: i64,
    /// Cases filed (verified) in the window.
    pub filed: i64,
    /// Cases dispatched (first dispatch) in the window.
    pub dispatched: i64,
    /// Cases closed in the window.
    pub closed: i64,
    /// Cases voided in the window.
    pub voided: i64,
    /// Cases open at `until` (reported before it, neither closed nor voided by then).
    pub open_at_end: i64,
    /// Of those, cases past their deadline at `until`.
    pub overdue_at_end: i64,
    /// Median seconds from report to filing, over the cases filed in the window.
    pub to_filing_p50_s: Option<f64>,
    /// 90th percentile of the same.
    pub to_filing_p90_s: Option<f64>,
    /// Median seconds from report to first dispatch, over the cases dispatched in the window.
    pub to_dispatch_p50_s: Option<f64>,
    /// 90th percentile of the same.
    pub to_dispatch_p90_s: Option<f64>,
    /// Median seconds from report to closing, over the cases closed in the window.
    pub to_close_p50_s: Option<f64>,
    /// 90th percentile of the same.
    pub to_close_p90_s: Option<f64>,
    /// 按期处置率: the share of the cases closed in the window that never went overdue (never supervised).
    pub on_time_rate: Option<f64>,
    /// 返工率: the share of the cases closed in the window that an inspector sent back at least once.
    pub reopened_rate: Option<f64>,
}

/// One (group, figure) row of the query.
#[derive(sqlx::FromRow)]
struct FigureRow {
    k1: Option<String>,
    k2: Option<String>,
    measure: String,
    count: i64,
    flagged: i64,
    reworked: i64,
    p50: Option<f64>,
    p90: Option<f64>,
}

/// The SQL that differs between the two databases.
#[derive(Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn seconds_between(self, later: &str, earlier: &str) -> String {
        match self {
            Self::Sqlite => format!("((julianday({later}) - julianday({earlier})) * 86400.0)"),
            Self::Postgres => format!("CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"),
        }
    }

    fn city_day(self, at: &str, offset_minutes: i32) -> String {
        match self {
            Self::Sqlite => format!("date({at}, '{offset_minutes:+} minutes')"),
            Self::Postgres => {
                format!("to_char(({at} AT TIME ZONE 'UTC') + make_interval(mins => {offset_minutes}), 'YYYY-MM-DD')")
            }
        }
    }
}

impl Store {
    /// The figures of `query` over the cases of `scope`, one row per group, in key order. Grouped by
    /// department, each of `departments` counts the cases of its categories in its grids (within
    /// `scope` too), its id the key.
    pub async fn case_stats(
        &self,
        query: &StatsQuery,
        scope: &ReadScope,
        departments: &[Department],
    ) -> Result<Vec<StatsRow>> {
        let mut figures = Vec::new();
        if query.group_by.contains(&StatsGroup::Department) {
            for department in departments {
                figures.extend(self.figures(query, scope, Some(department)).await?);
            }
        } else {
            figures = self.figures(query, scope, None).await?;
        }
        Ok(fold(figures))
    }

    async fn figures(
        &self,
        query: &StatsQuery,
        scope: &ReadScope,
        department: Option<&Department>,
    ) -> Result<Vec<FigureRow>> {
        with_pool!(self, |pool| {
            let dialect = match &self.pool {
                Pool::Sqlite(_) => Dialect::Sqlite,
                Pool::Postgres(_) => Dialect::Postgres,
            };
            let mut sql = QueryBuilder::new("");
            build(&mut sql, dialect, query, scope, department);
            Ok(sql.build_query_as::<FigureRow>().fetch_all(pool).await?)
        })
    }
}

/// Writes the query of one scope (and department) into `sql`.
fn build<'args, DB>(
    sql: &mut QueryBuilder<'args, DB>,
    dialect: Dialect,
    query: &StatsQuery,
    scope: &ReadScope,
    department: Option<&Department>,
) where
    DB: Database,
    String: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    let cases_within = |sql: &mut QueryBuilder<'args, DB>| {
        if let Some(grid) = &query.grid {
            sql.push(" AND grid >= ").push_bind(grid.clone());
            sql.push(" AND grid < ").push_bind(format!("{grid}:"));
        }
        scope.push_condition(sql);
        if let Some(department) = department {
            ReadScope::of_department(department).push_condition(sql);
        }
    };
    let none = "CAST(NULL AS DOUBLE PRECISION)";
    // One row per (case, figure): the moment that places it, seconds for the durations, and two flags.
    // Opened: the cases reported in the window (the index on opened_at).
    sql.push(format!(
        "WITH m AS (SELECT category, grid, 'opened' AS measure, opened_at AS at, {none} AS s, 0 AS flagged,
           0 AS reworked FROM cases WHERE opened_at >= "
    ));
    sql.push_bind(query.since).push(" AND opened_at < ").push_bind(query.until);
    cases_within(sql);
    // Filed, dispatched (the first dispatch), voided, closed: that step's events in the window (the index
    // on case_events (action, at)), each with its case. A case is verified, voided and closed once.
    let steps = [
        ("filed", "verify", "0, 0", ""),
        (
            "dispatched",
            "dispatch",
            "0, 0",
            " AND NOT EXISTS (SELECT 1 FROM case_events p WHERE p.case_id = d.case_id AND p.action = 'dispatch' AND p.at < d.at)",
        ),
        ("voided", "void", "0, 0", ""),
        (
            "closed",
            "close",
            "CASE WHEN supervised THEN 0 ELSE 1 END, CASE WHEN EXISTS (SELECT 1 FROM case_events r
               WHERE r.case_id = cases.id AND r.action = 'reopen') THEN 1 ELSE 0 END",
            "",
        ),
    ];
    for (measure, action, flags, first) in steps {
        sql.push(format!(
            " UNION ALL SELECT category, grid, '{measure}', step_at, {}, {flags}
             FROM (SELECT case_id AS step_case, at AS step_at FROM case_events d WHERE d.action = '{action}'
               AND d.at >= ",
            dialect.seconds_between("step_at", "opened_at"),
        ));
        sql.push_bind(query.since).push(" AND d.at < ").push_bind(query.until);
        sql.push(format!("{first}) steps JOIN cases ON cases.id = steps.step_case WHERE 1 = 1"));
        cases_within(sql);
    }
    // Open at the end: reported before it and not finished by then — open now, or finished since.
    let open_at_end = |sql: &mut QueryBuilder<'args, DB>| {
        sql.push(" UNION ALL SELECT category, grid, 'open_at_end', ");
        sql.push_bind(query.until);
        sql.push(format!(", {none}, CASE WHEN deadline_at < "));
        sql.push_bind(query.until);
        sql.push(" THEN 1 ELSE 0 END, 0");
    };
    open_at_end(sql);
    sql.push(concat!(" FROM cases WHERE status NOT IN ", finished_statuses!(), " AND opened_at < "));
    sql.push_bind(query.until);
    cases_within(sql);
    open_at_end(sql);
    sql.push(" FROM (SELECT case_id AS step_case FROM case_events d WHERE d.action IN ('close', 'void') AND d.at >= ");
    sql.push_bind(query.until);
    sql.push(") steps JOIN cases ON cases.id = steps.step_case WHERE opened_at < ");
    sql.push_bind(query.until);
    cases_within(sql);
    sql.push("), k AS (SELECT ");
    for (n, group) in [query.group_by.first(), query.group_by.get(1)].into_iter().enumerate() {
        match (group, department) {
            (Some(StatsGroup::Department), Some(department)) => {
                sql.push_bind(department.id.clone());
            }
            (Some(StatsGroup::Day), _) => {
                sql.push(dialect.city_day("at", query.utc_offset_minutes));
            }
            (Some(StatsGroup::Category), _) => {
                sql.push("category");
            }
            (Some(StatsGroup::Grid), _) => {
                sql.push("grid");
            }
            (None, _) | (Some(StatsGroup::Department), None) => {
                sql.push("CAST(NULL AS TEXT)");
            }
        }
        sql.push(format!(" AS k{}, ", n + 1));
    }
    sql.push(
        "measure, s, flagged, reworked FROM m),
         r AS (SELECT k1, k2, measure, s, flagged, reworked,
           ROW_NUMBER() OVER (PARTITION BY k1, k2, measure ORDER BY s) AS n,
           COUNT(*) OVER (PARTITION BY k1, k2, measure) AS total FROM k)
         SELECT k1, k2, measure, COUNT(*) AS count, SUM(flagged) AS flagged, SUM(reworked) AS reworked,
           MIN(CASE WHEN n >= 0.5 * total THEN s END) AS p50, MIN(CASE WHEN n >= 0.9 * total THEN s END) AS p90
         FROM r GROUP BY k1, k2, measure ORDER BY k1, k2",
    );
}

/// The query's (group, figure) rows folded into one [`StatsRow`] per group.
fn fold(figures: Vec<FigureRow>) -> Vec<StatsRow> {
    let mut rows: BTreeMap<Vec<String>, StatsRow> = BTreeMap::new();
    for figure in figures {
        let key: Vec<String> = [figure.k1, figure.k2].into_iter().flatten().collect();
        let row = rows.entry(key.clone()).or_insert_with(|| StatsRow { key, ..StatsRow::default() });
        let share = |part: i64| (figure.count > 0).then(|| part as f64 / figure.count as f64);
        match figure.measure.as_str() {
            "opened" => row.opened = figure.count,
            "filed" => (row.filed, row.to_filing_p50_s, row.to_filing_p90_s) = (figure.count, figure.p50, figure.p90),
            "dispatched" => {
                (row.dispatched, row.to_dispatch_p50_s, row.to_dispatch_p90_s) = (figure.count, figure.p50, figure.p90)
            }
            "voided" => row.voided = figure.count,
            "closed" => {
                (row.closed, row.to_close_p50_s, row.to_close_p90_s) = (figure.count, figure.p50, figure.p90);
                (row.on_time_rate, row.reopened_rate) = (share(figure.flagged), share(figure.reworked));
            }
            _ => (row.open_at_end, row.overdue_at_end) = (figure.count, figure.flagged),
        }
    }
    rows.into_values().collect()
}
