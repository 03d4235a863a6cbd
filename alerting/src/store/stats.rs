//! The command center's figures (GB/T 30428's 综合评价): cases opened and closed in a window, open and
//! overdue at its end, how long filing, dispatch and closing took, and how often departments finished
//! on time or had work sent back — each computed by one SQL query on either database.
//!
//! The query reads the cases themselves: each case keeps the moments that count (reported, first
//! filed, first dispatched, finished), each with an index, kept by a trigger on its timeline
//! (migration 19). A case gives one row per figure it counts for, placed at the moment that counts
//! (opened: when reported; filing, dispatch, closing: when that step first happened; open at the end:
//! `until`); rows are grouped by the keys asked for. The medians and 90th percentiles are nearest-rank
//! percentiles: PostgreSQL's `percentile_disc`; SQLite 3.46 (the version sqlx bundles) has no
//! percentile aggregate, so it gathers each group's durations with `json_group_array` and the
//! nearest rank is picked here ([`nearest_rank`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Database, QueryBuilder};

use super::{Pool, ReadScope, Store};
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
    /// SQLite: the group's durations as a JSON array, for [`nearest_rank`].
    durations: Option<String>,
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
            // Julian days carry about 10 µs of rounding error: the seconds are given to the millisecond.
            Self::Sqlite => format!("ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"),
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

    /// The p50, p90 and durations columns of the final select (see the module's description).
    fn percentiles(self) -> &'static str {
        match self {
            Self::Sqlite => {
                "CAST(NULL AS DOUBLE PRECISION) AS p50, CAST(NULL AS DOUBLE PRECISION) AS p90,
                 json_group_array(s) FILTER (WHERE s IS NOT NULL) AS durations"
            }
            Self::Postgres => {
                "percentile_disc(0.5) WITHIN GROUP (ORDER BY s) AS p50,
                 percentile_disc(0.9) WITHIN GROUP (ORDER BY s) AS p90, CAST(NULL AS TEXT) AS durations"
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
        fold(figures)
    }

    async fn figures(
        &self,
        query: &StatsQuery,
        scope: &ReadScope,
        department: Option<&Department>,
    ) -> Result<Vec<FigureRow>> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut sql = QueryBuilder::new("");
                build(&mut sql, Dialect::Sqlite, query, scope, department);
                Ok(sql.build_query_as::<FigureRow>().fetch_all(pool).await?)
            }
            Pool::Postgres(pool) => {
                let mut sql = QueryBuilder::new("");
                build(&mut sql, Dialect::Postgres, query, scope, department);
                // PostgreSQL judges a month's figures costly enough to compile (JIT): 115 of 392 ms at 1 M
                // cases (EXPLAIN ANALYZE), more than the compiled code saved.
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
                let rows = sql.build_query_as::<FigureRow>().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok(rows)
            }
        }
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
    // One row per (case, figure): the figure, seconds for the durations, and two flags; each branch
    // reads its moment's index.
    let in_window = |sql: &mut QueryBuilder<'args, DB>, moment: &str| {
        sql.push(format!(" FROM cases WHERE {moment} >= ")).push_bind(query.since);
        sql.push(format!(" AND {moment} < ")).push_bind(query.until);
        cases_within(sql);
    };
    sql.push(format!(
        "WITH m AS (SELECT category, grid, opened_at AS at, 'opened' AS measure, {none} AS s, 0 AS flagged,
           0 AS reworked"
    ));
    in_window(sql, "opened_at");
    for (measure, moment) in [("filed", "filed_at"), ("dispatched", "dispatched_at")] {
        let seconds = dialect.seconds_between(moment, "opened_at");
        sql.push(format!(" UNION ALL SELECT category, grid, {moment}, '{measure}', {seconds}, 0, 0"));
        in_window(sql, moment);
    }
    // Finished: closed (on time if never supervised; reworked if ever sent back) or voided.
    sql.push(format!(
        " UNION ALL SELECT category, grid, finished_at, CASE WHEN status = 'voided' THEN 'voided' ELSE 'closed' END,
           {}, CASE WHEN supervised THEN 0 ELSE 1 END, CASE WHEN reopened THEN 1 ELSE 0 END",
        dialect.seconds_between("finished_at", "opened_at"),
    ));
    in_window(sql, "finished_at");
    // Open at the end: reported before it and not finished by then — not finished at all, or since.
    for finished_since in [false, true] {
        sql.push(" UNION ALL SELECT category, grid, ");
        sql.push_bind(query.until);
        sql.push(format!(", 'open_at_end', {none}, CASE WHEN deadline_at < "));
        sql.push_bind(query.until);
        sql.push(" THEN 1 ELSE 0 END, 0 FROM cases WHERE ");
        if finished_since {
            sql.push("finished_at >= ").push_bind(query.until);
        } else {
            sql.push("finished_at IS NULL");
        }
        sql.push(" AND opened_at < ").push_bind(query.until);
        cases_within(sql);
    }
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
    sql.push(format!(
        "measure, s, flagged, reworked FROM m)
         SELECT k1, k2, measure, COUNT(*) AS count, SUM(flagged) AS flagged, SUM(reworked) AS reworked, {}
         FROM k GROUP BY k1, k2, measure ORDER BY k1, k2",
        dialect.percentiles(),
    ));
}

/// The nearest-rank `p` percentile of `sorted` (the smallest value with at least `p` of the values at or
/// below it), as PostgreSQL's `percentile_disc`.
fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

/// The query's (group, figure) rows folded into one [`StatsRow`] per group.
fn fold(figures: Vec<FigureRow>) -> Result<Vec<StatsRow>> {
    let mut rows: BTreeMap<Vec<String>, StatsRow> = BTreeMap::new();
    for mut figure in figures {
        if let Some(durations) = figure.durations.take() {
            let mut durations: Vec<f64> = serde_json::from_str(&durations)
                .map_err(|e| crate::Error::Corrupt(format!("statistics: durations of {}: {e}", figure.measure)))?;
            durations.sort_by(f64::total_cmp);
            (figure.p50, figure.p90) = (nearest_rank(&durations, 0.5), nearest_rank(&durations, 0.9));
        }
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
    Ok(rows.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn the_nearest_rank_is_the_smallest_value_with_that_share_at_or_below_it() {
        let values = [60.0, 120.0, 120.0, 600.0, 3600.0];
        assert_eq!(nearest_rank(&values, 0.5), Some(120.0), "rank ceil(2.5) = 3");
        assert_eq!(nearest_rank(&values, 0.9), Some(3600.0), "rank ceil(4.5) = 5");
        assert_eq!(nearest_rank(&values[..4], 0.5), Some(120.0), "rank 2 exactly");
        assert_eq!(nearest_rank(&values[..1], 0.9), Some(60.0));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }
}
