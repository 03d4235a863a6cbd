//! Cases in the database, schema by sqlx migrations: SQLite under `server.data_dir` by default, or
//! PostgreSQL (`server.database = "postgres://..."`) for scale and for several centers sharing one store.
//!
//! Both run the same SQL text (`$N` placeholders, which SQLite also reads), each with its own native
//! types (TIMESTAMPTZ, BIGINT and BOOLEAN on PostgreSQL) and its own migrations folder. Every query binds
//! its parameters; no SQL is ever assembled from input.

mod acks;
mod actions;
mod camera_settings;
mod clearances;
mod cluster;
mod columns;
mod dataset;
mod deliveries;
mod matchers;
mod model;
mod parked;
mod plates;
mod quality;
mod requests;
mod rule_settings;
mod scope;
mod silences;
mod stats;
mod whistles;
mod zones;

use std::{path::Path, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::{
    PgPool, QueryBuilder, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::sync::watch;
use tracing::info;

pub use acks::{OwnershipOutcome, Unacknowledged};
pub use actions::ActionOutcome;
pub use camera_settings::StoredCamera;
pub use cluster::{Leadership, PlaceKey, PlaceLock, PlaceState};
pub use dataset::LabelledCase;
pub use deliveries::{Delivery, DeliveryState, HeldGroup, NewDelivery, QuietCase, TimelineEntry};
pub use matchers::Matchers;
pub use model::{
    Case, CaseDetail, CaseEvent, CaseFilter, CaseObject, EvidenceInfo, NewCase, NewEvidence, NewObject, PlateCase,
};
pub use parked::{ParkedMessage, ParkedViolation};
pub use plates::ErasedPlate;
pub use requests::{RequestFilter, RequestRow};
pub use rule_settings::StoredRule;
pub use scope::ReadScope;
pub use silences::{AuditRecord, Silence};
pub use stats::{StatsGroup, StatsQuery, StatsRow};
pub use whistles::{MissedReportIn, ReportInOutcome, Whistle, WhistleCall, WhistleOutcome};
pub use zones::StoredZones;

use crate::{
    Error, Result,
    cases::{
        duplicates::{DuplicateRule, distance_m},
        grids::GridCaseCount,
        timeline::{Actor, Step},
        workflow::Status,
    },
};

/// Statuses after which a case is no longer open (the workflow's statuses that are not
/// [`crate::cases::workflow::Status::is_open`]; a unit test keeps the two and [`finished_statuses!`] equal).
pub const FINAL_STATUSES: [&str; 3] = ["closed", "evaluated", "voided"];

/// [`FINAL_STATUSES`] as an SQL list literal, for `concat!` into query text: `status NOT IN (...)`.
macro_rules! finished_statuses {
    () => {
        "('closed', 'evaluated', 'voided')"
    };
}
pub(crate) use finished_statuses;

/// How long opening a PostgreSQL connection may take before the attempt fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection pool of either database.
#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool: the same code, compiled once per database.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Appends to the audit log, on an open transaction or pool.
macro_rules! audit {
    ($executor:expr, $who:expr, $action:expr, $target:expr, $detail:expr, $now:expr) => {{
        let who: &$crate::cases::Principal = $who;
        sqlx::query("INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind($now)
            .bind(&*who.name)
            .bind(who.role.as_str())
            .bind($action)
            .bind($target)
            .bind($detail)
            .execute($executor)
            .await?;
    }};
}
pub(crate) use audit;

/// Starts a transaction that will write. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
/// a deferred transaction that reads first cannot become a writer while another connection writes,
/// and SQLite answers that with "database is locked" at once instead of waiting its busy timeout.
/// PostgreSQL needs no such care.
pub(crate) trait BeginWrite {
    /// The database.
    type Db: sqlx::Database;

    /// A transaction that will write.
    fn begin_write(&self) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;

    fn begin_write(&self) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;

    fn begin_write(&self) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send {
        self.begin()
    }
}

/// Appends one step to a case's timeline, on an open transaction.
macro_rules! insert_event {
    ($tx:expr, $case_id:expr, $event:expr) => {{
        let event: &CaseEvent = $event;
        sqlx::query(
            "INSERT INTO case_events (case_id, at, actor, role, action, from_status, to_status, note)
             VALUES ($1, $2, $3, $4, $5, COALESCE($6, ''), $7, $8)",
        )
        .bind($case_id)
        .bind(event.at)
        .bind(&event.actor)
        .bind(&event.role)
        .bind(&event.action)
        .bind(&event.from_status)
        .bind(&event.to_status)
        .bind(&event.note)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use insert_event;

/// A timeline step that leaves the case's status as it is (a whistle, an acknowledgement, an
/// escalation, a reminder).
pub(crate) fn status_kept_step(
    at: DateTime<Utc>,
    actor: impl Into<String>,
    role: Actor,
    action: Step,
    status: Status,
    note: String,
) -> CaseEvent {
    CaseEvent { at, actor: actor.into(), role, action, from_status: Some(status), to_status: status, note }
}

/// Adds object `$idx` of a case, on an open transaction.
macro_rules! insert_object {
    ($tx:expr, $case_id:expr, $idx:expr, $object:expr) => {{
        let object: &NewObject = $object;
        sqlx::query(
            "INSERT INTO case_objects (case_id, idx, class, score, x1, y1, x2, y2, first_seen_at, confirmed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind($case_id)
        .bind($idx)
        .bind(&object.class)
        .bind(f64::from(object.score))
        .bind(f64::from(object.bbox[0]))
        .bind(f64::from(object.bbox[1]))
        .bind(f64::from(object.bbox[2]))
        .bind(f64::from(object.bbox[3]))
        .bind(object.first_seen_at)
        .bind(object.confirmed_at)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Adds evidence image `$idx` of a case, on an open transaction.
macro_rules! insert_evidence {
    ($tx:expr, $case_id:expr, $idx:expr, $evidence:expr) => {{
        let evidence: &NewEvidence = $evidence;
        sqlx::query(
            "INSERT INTO evidence (case_id, idx, sha256, width, height, captured_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($case_id)
        .bind($idx)
        .bind(&evidence.sha256)
        .bind(i64::from(evidence.width))
        .bind(i64::from(evidence.height))
        .bind(evidence.captured_at)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use insert_evidence;

/// Records that a relayed violation was filed into a case, on an open transaction.
macro_rules! record_violation {
    ($tx:expr, $violation:expr, $case_id:expr, $at:expr) => {{
        sqlx::query("INSERT INTO filed_violations (id, case_id, filed_at) VALUES ($1, $2, $3)")
            .bind($violation)
            .bind($case_id)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// The case database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// Bumped after every commit that adds to a case's timeline.
    timeline: Arc<watch::Sender<u64>>,
}

impl Store {
    /// Opens the database: PostgreSQL at `database` when given, else SQLite at `data_dir/sharpeyes.db`
    /// (created if needed); brings its schema up to date either way.
    pub async fn open(database: Option<&str>, data_dir: &Path) -> Result<Self> {
        match database {
            Some(url) => Self::open_postgres(url).await,
            None => Self::open_sqlite(data_dir).await,
        }
    }

    /// Opens (creating if needed) `data_dir/sharpeyes.db` and brings its schema up to date.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|source| Error::Io { path: data_dir.into(), source })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("sharpeyes.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self::new(Pool::Sqlite(pool)))
    }

    /// Connects to PostgreSQL at `url` and brings its schema up to date (migrations take a database
    /// lock, so several sharpeyes starting together apply them once).
    pub async fn open_postgres(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new().max_connections(8).acquire_timeout(CONNECT_TIMEOUT).connect(url).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        info!("case store on PostgreSQL");
        Ok(Self::new(Pool::Postgres(pool)))
    }

    fn new(pool: Pool) -> Self {
        Self { pool, timeline: Arc::new(watch::Sender::new(0)) }
    }

    /// Changes whenever a timeline entry has been committed by this process (the notifier and the
    /// event stream wait on it instead of polling).
    pub fn timeline_changes(&self) -> watch::Receiver<u64> {
        self.timeline.subscribe()
    }

    /// Tells the waiters that the timeline grew.
    fn timeline_grew(&self) {
        self.timeline.send_modify(|count| *count += 1);
    }

    /// Which database this is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Stores a new case with its first object and evidence images (a camera case: the confirming
    /// frame, and for a scene change the view before) or none (a sensor case), and the report as the
    /// first step of its timeline, atomically; returns its id.
    pub async fn insert_case(
        &self,
        case: &NewCase,
        object: Option<&NewObject>,
        evidence: &[NewEvidence],
    ) -> Result<i64> {
        let reporter = if case.device.is_empty() { &case.camera } else { &case.device };
        let event = CaseEvent {
            at: case.opened_at,
            actor: format!("{}:{reporter}", case.source),
            role: match case.source.as_str() {
                "sensor" => Actor::Sensor,
                "citizen" => Actor::Citizen,
                _ => Actor::Camera,
            },
            action: Step::Report,
            from_status: None,
            to_status: case.status,
            note: case.duplicate_of.map_or(String::new(), |id| format!("duplicate of case {id}")),
        };
        let (longitude, latitude) = (case.location.map(|l| l[0]), case.location.map(|l| l[1]));
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO cases (code, category, camera, zone, grid, status, urgency, source, device, detail,
                                    object_count, first_seen_at, confirmed_at, opened_at, updated_at,
                                    longitude, latitude, duplicate_of)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, $17) RETURNING id",
            )
            .bind(&case.code)
            .bind(&case.category)
            .bind(&case.camera)
            .bind(&case.zone)
            .bind(&case.grid)
            .bind(&case.status)
            .bind(&case.urgency)
            .bind(&case.source)
            .bind(&case.device)
            .bind(&case.detail)
            .bind(i64::from(object.is_some()))
            .bind(case.first_seen_at)
            .bind(case.confirmed_at)
            .bind(case.opened_at)
            .bind(longitude)
            .bind(latitude)
            .bind(case.duplicate_of)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(object) = object {
                insert_object!(tx, id, 0i64, object);
            }
            for (idx, evidence) in (0i64..).zip(evidence) {
                insert_evidence!(tx, id, idx, evidence);
            }
            if let Some(violation) = &case.violation {
                record_violation!(tx, violation, id, case.opened_at);
            }
            insert_event!(tx, id, &event);
            tx.commit().await?;
            self.timeline_grew();
            Ok(id)
        })
    }

    /// Adds an object (and its evidence) to an open case, atomically, with the stable id of the relayed
    /// violation that brought it (see [`NewCase::violation`]).
    pub async fn add_object(
        &self,
        case_id: i64,
        object: &NewObject,
        evidence: &NewEvidence,
        violation: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let (objects, images): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM case_objects WHERE case_id = $1),
                        (SELECT COUNT(*) FROM evidence WHERE case_id = $1)",
            )
            .bind(case_id)
            .fetch_one(&mut *tx)
            .await?;
            insert_object!(tx, case_id, objects, object);
            insert_evidence!(tx, case_id, images, evidence);
            if let Some(violation) = violation {
                record_violation!(tx, violation, case_id, at);
            }
            sqlx::query("UPDATE cases SET object_count = $1, updated_at = $2 WHERE id = $3")
                .bind(objects + 1)
                .bind(at)
                .bind(case_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Cases matching `filter`, newest first.
    pub async fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<Case>> {
        self.list_cases_in(filter, &ReadScope::All).await
    }

    /// Cases matching `filter` within `scope`, newest first: the scope is a condition of the query, so
    /// a page is full whenever enough cases in scope match.
    pub async fn list_cases_in(&self, filter: &CaseFilter, scope: &ReadScope) -> Result<Vec<Case>> {
        with_pool!(self, |pool| {
            let mut query = QueryBuilder::new("SELECT * FROM cases WHERE 1 = 1");
            scope.push_condition(&mut query);
            for (column, value) in [
                ("status", &filter.status),
                ("category", &filter.category),
                ("camera", &filter.camera),
                ("zone", &filter.zone),
            ] {
                if let Some(value) = value {
                    query.push(format_args!(" AND {column} = ")).push_bind(value.clone());
                }
            }
            if let Some(open) = filter.open {
                query.push(if open { " AND status NOT IN " } else { " AND status IN " });
                query.push(finished_statuses!());
            }
            if let Some(grid) = &filter.grid {
                // A cell is one code; a prefix (district, street, community) is the range of codes that
                // start with it (':' follows '9'), which an index serves where LIKE would not.
                if grid.len() == 15 {
                    query.push(" AND grid = ").push_bind(grid.clone());
                } else {
                    query.push(" AND grid >= ").push_bind(grid.clone());
                    query.push(" AND grid < ").push_bind(format!("{grid}:"));
                }
            }
            if let Some(plate) = &filter.plate {
                // The API lets through plate characters only, so LIKE's wildcards cannot occur.
                query.push(" AND plate LIKE ").push_bind(format!("{plate}%"));
            }
            if let Some(since) = filter.since {
                query.push(" AND opened_at >= ").push_bind(since);
            }
            if let Some(until) = filter.until {
                query.push(" AND opened_at < ").push_bind(until);
            }
            if let Some(before) = filter.before {
                query.push(" AND id < ").push_bind(before);
            }
            query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit.clamp(1, 1000)));
            Ok(query.build_query_as::<Case>().fetch_all(pool).await?)
        })
    }

    /// One case with its objects, evidence list, timeline and whistles.
    pub async fn case_detail(&self, id: i64) -> Result<Option<CaseDetail>> {
        with_pool!(self, |pool| {
            let Some(case) =
                sqlx::query_as::<_, Case>("SELECT * FROM cases WHERE id = $1").bind(id).fetch_optional(pool).await?
            else {
                return Ok(None);
            };
            let objects = sqlx::query_as::<_, CaseObject>("SELECT * FROM case_objects WHERE case_id = $1 ORDER BY idx")
                .bind(id)
                .fetch_all(pool)
                .await?;
            let evidence = sqlx::query_as::<_, EvidenceInfo>("SELECT * FROM evidence WHERE case_id = $1 ORDER BY idx")
                .bind(id)
                .fetch_all(pool)
                .await?;
            let events = sqlx::query_as::<_, CaseEvent>(
                "SELECT at, actor, role, action, NULLIF(from_status, '') AS from_status, to_status, note
                 FROM case_events WHERE case_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            let whistles = self.whistles(id).await?;
            let same_plate = match &case.plate {
                Some(plate) => self.cases_of_plate(plate, case.id, 50).await?,
                None => Vec::new(),
            };
            Ok(Some(CaseDetail { case, objects, evidence, events, whistles, responsible: Vec::new(), same_plate }))
        })
    }

    /// Evidence `index` of case `id`.
    pub async fn evidence(&self, id: i64, index: i64) -> Result<Option<EvidenceInfo>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, EvidenceInfo>("SELECT * FROM evidence WHERE case_id = $1 AND idx = $2")
                .bind(id)
                .bind(index)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// The earliest open case of `category` opened at or after `since` within `rule.radius_m` of
    /// `location` that is not itself a duplicate.
    pub async fn nearby_open_case(
        &self,
        category: &str,
        location: [f64; 2],
        since: DateTime<Utc>,
        rule: &DuplicateRule,
    ) -> Result<Option<i64>> {
        let ([west, south], [east, north]) = rule.bounds(location);
        let candidates: Vec<(i64, f64, f64)> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT id, longitude, latitude FROM cases
                  WHERE category = $1 AND opened_at >= $2 AND duplicate_of IS NULL AND status NOT IN ",
                finished_statuses!(),
                " AND longitude BETWEEN $3 AND $4 AND latitude BETWEEN $5 AND $6
                  ORDER BY opened_at, id LIMIT 50"
            ))
            .bind(category)
            .bind(since)
            .bind(west)
            .bind(east)
            .bind(south)
            .bind(north)
            .fetch_all(pool)
            .await?
        });
        Ok(candidates
            .into_iter()
            .find(|&(_, longitude, latitude)| distance_m(location, [longitude, latitude]) <= rule.radius_m)
            .map(|(id, _, _)| id))
    }

    /// Cases per grid cell: open, supervised (open and past their deadline) and all.
    pub async fn grid_counts(&self) -> Result<Vec<GridCaseCount>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_as(concat!(
                "SELECT grid,
                        SUM(CASE WHEN status NOT IN ",
                finished_statuses!(),
                " THEN 1 ELSE 0 END) AS open,
                        SUM(CASE WHEN supervised AND status NOT IN ",
                finished_statuses!(),
                " THEN 1 ELSE 0 END) AS supervised,
                        COUNT(*) AS total
                   FROM cases GROUP BY grid ORDER BY grid"
            ))
            .fetch_all(pool)
            .await?)
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// Closes the pool, waiting for running queries.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}

#[cfg(test)]
mod tests {
    use super::FINAL_STATUSES;
    use crate::cases::workflow::Status;

    #[test]
    fn the_finished_statuses_are_the_workflow_statuses_that_are_not_open() {
        let mut not_open: Vec<&str> = Status::ALL.into_iter().filter(|s| !s.is_open()).map(Status::as_str).collect();
        not_open.sort_unstable();
        assert_eq!(not_open, FINAL_STATUSES);
        assert_eq!(format!("('{}')", FINAL_STATUSES.join("', '")), finished_statuses!());
    }
}
