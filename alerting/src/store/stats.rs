//! The command center's figures (GB/T 30428's 综合评价): cases opened and closed in a window, open and
//! overdue at its end, how long filing, dispatch and closing took, and how often departments finished
//! on time or had work sent back — computed in SQL on either database.
//!
//! Each case keeps the moments that count (reported, first filed, first dispatched, finished) and how
//! long from its report each step took, kept by a trigger on its timeline (migrations 19 and 20); each
//! moment has an index that carries what its figures read. Each figure is one query that reads one
//! such index over the window and groups by the keys asked for (a day is the day of the moment that
//! counts; open at the end counts at `until`); a request's queries run two at a time. The medians and
//! 90th percentiles are nearest-rank percentiles: PostgreSQL's `percentile_disc`; SQLite 3.46 (the
//! version sqlx bundles) has no percentile aggregate, so it gathers each group's durations with
//! `json_group_array` and the nearest rank is picked here ([`nearest_rank`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use sqlx::{Database, QueryBuilder};

use super::{Pool, ReadScope, Store, with_pool};
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

/// One (group, figure) row of a figure's query.
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

/// The figures, each read by its own query from its moment's covering index (migration 20).
#[derive(Clone, Copy, Debug)]
enum Figure {
    /// Cases reported in the window.
    Opened,
    /// Cases first filed in the window, with the seconds from report to filing.
    Filed,
    /// Cases first dispatched in the window, with the seconds from report to dispatch.
    Dispatched,
    /// Cases closed or voided in the window, with the seconds from report to finish; flagged if never
    /// supervised (on time), reworked if ever sent back.
    Finished,
    /// Cases reported before `until` and not finished at all; flagged if overdue at `until`.
    OpenUnfinished,
    /// Cases reported before `until` and finished at or after it; flagged if overdue at `until`. They
    /// were reported at most the longest lifetime of a finished case before `until`: the query reads
    /// that stretch of reports, not every finish since.
    OpenFinishedLater,
}

impl Figure {
    const ALL: [Self; 6] =
        [Self::Opened, Self::Filed, Self::Dispatched, Self::Finished, Self::OpenUnfinished, Self::OpenFinishedLater];

    /// The index whose columns hold everything the figure reads.
    fn index(self) -> &'static str {
        match self {
            Self::Opened | Self::OpenFinishedLater => "cases_by_opened",
            Self::Filed => "cases_by_filed",
            Self::Dispatched => "cases_by_dispatched",
            Self::Finished | Self::OpenUnfinished => "cases_by_finished",
        }
    }

    /// The moment a case counts at (for the day key): a column, or `until` for the open ones.
    fn moment(self) -> Option<&'static str> {
        match self {
            Self::Opened => Some("opened_at"),
            Self::Filed => Some("filed_at"),
            Self::Dispatched => Some("dispatched_at"),
            Self::Finished => Some("finished_at"),
            Self::OpenUnfinished | Self::OpenFinishedLater => None,
        }
    }

    /// The measure's name (an SQL expression), its duration column, its first flag (`None`: overdue at
    /// `until`, which is bound where the query is written) and its second.
    fn columns(self) -> (&'static str, Option<&'static str>, Option<&'static str>, &'static str) {
        match self {
            Self::Opened => ("'opened'", None, Some("0"), "0"),
            Self::Filed => ("'filed'", Some("to_filing_s"), Some("0"), "0"),
            Self::Dispatched => ("'dispatched'", Some("to_dispatch_s"), Some("0"), "0"),
            Self::Finished => (
                "CASE WHEN status = 'voided' THEN 'voided' ELSE 'closed' END",
                Some("to_finish_s"),
                Some("CASE WHEN supervised THEN 0 ELSE 1 END"),
                "CASE WHEN reopened THEN 1 ELSE 0 END",
            ),
            Self::OpenUnfinished | Self::OpenFinishedLater => ("'open_at_end'", None, None, "0"),
        }
    }
}

/// The SQL that differs between the two databases.
#[derive(Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn city_day(self, at: &str, offset_minutes: i32) -> String {
        match self {
            Self::Sqlite => format!("date({at}, '{offset_minutes:+} minutes')"),
            Self::Postgres => {
                format!("to_char(({at} AT TIME ZONE 'UTC') + make_interval(mins => {offset_minutes}), 'YYYY-MM-DD')")
            }
        }
    }

    /// The p50, p90 and durations columns of a figure with durations in `column`, or without.
    fn percentiles(self, column: Option<&str>) -> String {
        let none = "CAST(NULL AS DOUBLE PRECISION) AS p50, CAST(NULL AS DOUBLE PRECISION) AS p90, CAST(NULL AS TEXT) AS durations";
        match (self, column) {
            (_, None) => none.to_owned(),
            (Self::Sqlite, Some(s)) => format!(
                "CAST(NULL AS DOUBLE PRECISION) AS p50, CAST(NULL AS DOUBLE PRECISION) AS p90, json_group_array({s}) FILTER (WHERE {s} IS NOT NULL) AS durations"
            ),
            (Self::Postgres, Some(s)) => format!(
                "percentile_disc(0.5) WITHIN GROUP (ORDER BY {s}) AS p50,
                 percentile_disc(0.9) WITHIN GROUP (ORDER BY {s}) AS p90, CAST(NULL AS TEXT) AS durations"
            ),
        }
    }

    /// Names the index a figure reads (SQLite's planner otherwise picks the grid's index for a street,
    /// and fetches every row of it); PostgreSQL chooses well by itself.
    fn index_hint(self, figure: Figure) -> String {
        match self {
            Self::Sqlite => format!(" INDEXED BY {}", figure.index()),
            Self::Postgres => String::new(),
        }
    }
}

/// How many of a request's figure queries run at once: the figures of a month take tens of milliseconds
/// each, and running two at once keeps the pool's other connections for the rest of the API.
const FIGURES_AT_ONCE: usize = 2;

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
        let earliest_open = self.longest_lifetime().await?.map(|longest| query.until - longest);
        let figures: Vec<Figure> = Figure::ALL
            .into_iter()
            .filter(|figure| !matches!(figure, Figure::OpenFinishedLater) || earliest_open.is_some())
            .collect();
        let of: Vec<Option<&Department>> = if query.group_by.contains(&StatsGroup::Department) {
            departments.iter().map(Some).collect()
        } else {
            vec![None]
        };
        // Without a finished case the bound is never read: that figure is left out above.
        let window = Window { query, earliest_open: earliest_open.unwrap_or(query.until) };
        let mut queries = Vec::new();
        for department in of {
            for &figure in &figures {
                queries.push(self.figure(window, scope, department, figure));
            }
        }
        let answers: Vec<Vec<FigureRow>> =
            stream::iter(queries).buffer_unordered(FIGURES_AT_ONCE).try_collect().await?;
        fold(answers.into_iter().flatten())
    }

    /// The longest a finished case took from report to finish (a second more, for the rounding of the
    /// kept seconds), from its index; `None` while no case has finished.
    async fn longest_lifetime(&self) -> Result<Option<chrono::Duration>> {
        let sql = "SELECT MAX(to_finish_s) FROM cases WHERE to_finish_s IS NOT NULL";
        let seconds: Option<f64> = with_pool!(self, |pool| sqlx::query_scalar(sql).fetch_one(pool).await?);
        Ok(seconds.map(|s| chrono::Duration::milliseconds((s * 1000.0).ceil() as i64) + chrono::Duration::seconds(1)))
    }

    async fn figure(
        &self,
        query: Window<'_>,
        scope: &ReadScope,
        department: Option<&Department>,
        figure: Figure,
    ) -> Result<Vec<FigureRow>> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut sql = QueryBuilder::new("");
                build(&mut sql, Dialect::Sqlite, query, scope, department, figure);
                Ok(sql.build_query_as::<FigureRow>().fetch_all(pool).await?)
            }
            Pool::Postgres(pool) => {
                let mut sql = QueryBuilder::new("");
                build(&mut sql, Dialect::Postgres, query, scope, department, figure);
                // PostgreSQL judges a month's figures costly enough to compile (JIT): 115 of 392 ms at 1 M
                // cases (EXPLAIN ANALYZE), more than the compiled code saved; each window's bounds get
                // their own plan rather than a cached generic one; and a month's durations are sorted
                // for their percentiles in memory (the default 4 MB spilled them to disk).
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true),
                            set_config('work_mem', '32MB', true)",
                )
                .execute(&mut *tx)
                .await?;
                let rows = sql.build_query_as::<FigureRow>().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok(rows)
            }
        }
    }
}

/// A query's window, and the earliest report a case open at its end and finished since can have.
#[derive(Clone, Copy)]
struct Window<'a> {
    query: &'a StatsQuery,
    earliest_open: DateTime<Utc>,
}

/// Writes the query of one figure of one scope (and department) into `sql`: one row per group.
fn build<'args, DB>(
    sql: &mut QueryBuilder<'args, DB>,
    dialect: Dialect,
    Window { query, earliest_open }: Window<'_>,
    scope: &ReadScope,
    department: Option<&Department>,
    figure: Figure,
) where
    DB: Database,
    String: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
{
    sql.push("SELECT ");
    for (n, group) in [query.group_by.first(), query.group_by.get(1)].into_iter().enumerate() {
        match (group, department) {
            (Some(StatsGroup::Department), Some(department)) => {
                sql.push_bind(department.id.clone());
            }
            (Some(StatsGroup::Day), _) => match figure.moment() {
                Some(moment) => {
                    sql.push(dialect.city_day(moment, query.utc_offset_minutes));
                }
                None => {
                    let until = query.until + chrono::Duration::minutes(query.utc_offset_minutes.into());
                    sql.push_bind(until.format("%Y-%m-%d").to_string());
                }
            },
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
    let (measure, duration, flagged, reworked) = figure.columns();
    sql.push(format!("{measure} AS measure, COUNT(*) AS count, "));
    match flagged {
        Some(flagged) => {
            sql.push(format!("COALESCE(SUM({flagged}), 0)"));
        }
        None => {
            sql.push("COALESCE(SUM(CASE WHEN deadline_at < ").push_bind(query.until).push(" THEN 1 ELSE 0 END), 0)");
        }
    }
    sql.push(format!(
        " AS flagged, COALESCE(SUM({reworked}), 0) AS reworked, {} FROM cases{} WHERE ",
        dialect.percentiles(duration),
        dialect.index_hint(figure),
    ));
    match figure.moment() {
        Some(moment) => {
            sql.push(format!("{moment} >= ")).push_bind(query.since);
            sql.push(format!(" AND {moment} < ")).push_bind(query.until);
        }
        None => {
            if matches!(figure, Figure::OpenUnfinished) {
                sql.push("finished_at IS NULL");
            } else {
                sql.push("finished_at >= ").push_bind(query.until);
                sql.push(" AND opened_at >= ").push_bind(earliest_open);
            }
            sql.push(" AND opened_at < ").push_bind(query.until);
        }
    }
    if let Some(grid) = &query.grid {
        sql.push(" AND grid >= ").push_bind(grid.clone());
        sql.push(" AND grid < ").push_bind(format!("{grid}:"));
    }
    scope.push_condition(sql);
    if let Some(department) = department {
        ReadScope::of_department(department).push_condition(sql);
    }
    sql.push(" GROUP BY 1, 2, 3");
}

/// The nearest-rank `p` percentile of `sorted` (the smallest value with at least `p` of the values at or
/// below it), as PostgreSQL's `percentile_disc`.
fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

/// The query's (group, figure) rows folded into one [`StatsRow`] per group.
fn fold(figures: impl IntoIterator<Item = FigureRow>) -> Result<Vec<StatsRow>> {
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
            _ => {
                row.open_at_end += figure.count;
                row.overdue_at_end += figure.flagged;
            }
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
