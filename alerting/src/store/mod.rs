//! Cases in the database (SQLite under `server.data_dir`), schema by sqlx migrations.
//!
//! Every query binds its parameters; no SQL is ever assembled from input.

mod actions;
mod model;

use std::path::Path;

use chrono::{DateTime, Utc};
use sqlx::{
    QueryBuilder, Sqlite, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use actions::ActionOutcome;
pub use model::{Case, CaseDetail, CaseEvent, CaseFilter, CaseObject, EvidenceInfo, NewCase, NewEvidence, NewObject};

use crate::{Error, Result};

/// Statuses after which a case is no longer open.
pub const FINAL_STATUSES: [&str; 3] = ["closed", "evaluated", "voided"];

/// The case database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
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
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Stores a new case with its first object and evidence image (a camera case) or none (a sensor
    /// case), atomically; returns its id.
    pub async fn insert_case(
        &self,
        case: &NewCase,
        object: Option<&NewObject>,
        evidence: Option<&NewEvidence>,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO cases (code, category, camera, zone, grid, status, urgency, source, device, detail, object_count,
                                first_seen_at, confirmed_at, opened_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        .bind(case.opened_at)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(object) = object {
            insert_object(&mut tx, id, 0, object).await?;
        }
        if let Some(evidence) = evidence {
            insert_evidence(&mut tx, id, 0, evidence).await?;
        }
        let reporter = if case.device.is_empty() { &case.camera } else { &case.device };
        let event = CaseEvent {
            at: case.opened_at,
            actor: format!("{}:{reporter}", case.source),
            role: case.source.clone(),
            action: "report".into(),
            from_status: String::new(),
            to_status: case.status.clone(),
            note: String::new(),
        };
        actions::insert_event(&mut tx, id, &event).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Adds an object (and its evidence) to an open case, atomically.
    pub async fn add_object(
        &self,
        case_id: i64,
        object: &NewObject,
        evidence: &NewEvidence,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let (objects, images): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM case_objects WHERE case_id = ?1),
                    (SELECT COUNT(*) FROM evidence WHERE case_id = ?1)",
        )
        .bind(case_id)
        .fetch_one(&mut *tx)
        .await?;
        insert_object(&mut tx, case_id, objects, object).await?;
        insert_evidence(&mut tx, case_id, images, evidence).await?;
        sqlx::query("UPDATE cases SET object_count = ?, updated_at = ? WHERE id = ?")
            .bind(objects + 1)
            .bind(at)
            .bind(case_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Cases matching `filter`, newest first.
    pub async fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<Case>> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT * FROM cases WHERE 1 = 1");
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
        if let Some(grid) = &filter.grid {
            // A grid code prefix selects a district, street or community and everything below it.
            query.push(" AND grid LIKE ").push_bind(format!("{}%", grid.replace(['%', '_'], "")));
        }
        if let Some(since) = filter.since {
            query.push(" AND opened_at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            query.push(" AND opened_at < ").push_bind(until);
        }
        query.push(" ORDER BY id DESC LIMIT ").push_bind(filter.limit.clamp(1, 1000) as i64);
        Ok(query.build_query_as::<Case>().fetch_all(&self.pool).await?)
    }

    /// One case with its objects and evidence list.
    pub async fn case_detail(&self, id: i64) -> Result<Option<CaseDetail>> {
        let Some(case) =
            sqlx::query_as::<_, Case>("SELECT * FROM cases WHERE id = ?").bind(id).fetch_optional(&self.pool).await?
        else {
            return Ok(None);
        };
        let objects = sqlx::query_as::<_, CaseObject>("SELECT * FROM case_objects WHERE case_id = ? ORDER BY idx")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        let evidence = sqlx::query_as::<_, EvidenceInfo>("SELECT * FROM evidence WHERE case_id = ? ORDER BY idx")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        let events = sqlx::query_as::<_, CaseEvent>("SELECT * FROM case_events WHERE case_id = ? ORDER BY id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(Some(CaseDetail { case, objects, evidence, events }))
    }

    /// Evidence `index` of case `id`.
    pub async fn evidence(&self, id: i64, index: i64) -> Result<Option<EvidenceInfo>> {
        Ok(sqlx::query_as::<_, EvidenceInfo>("SELECT * FROM evidence WHERE case_id = ? AND idx = ?")
            .bind(id)
            .bind(index)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Every case not yet in a final status, with its objects (to rebuild the case engine after a restart).
    pub async fn open_cases(&self) -> Result<Vec<CaseDetail>> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT * FROM cases WHERE status NOT IN (");
        let mut list = query.separated(", ");
        for status in FINAL_STATUSES {
            list.push_bind(status);
        }
        query.push(") ORDER BY id");
        let cases = query.build_query_as::<Case>().fetch_all(&self.pool).await?;
        let mut details = Vec::with_capacity(cases.len());
        for case in cases {
            if let Some(detail) = self.case_detail(case.id).await? {
                details.push(detail);
            }
        }
        Ok(details)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for running queries.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn insert_object(tx: &mut sqlx::SqliteConnection, case_id: i64, idx: i64, object: &NewObject) -> Result<()> {
    sqlx::query(
        "INSERT INTO case_objects (case_id, idx, class, score, x1, y1, x2, y2, first_seen_at, confirmed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(case_id)
    .bind(idx)
    .bind(&object.class)
    .bind(object.score)
    .bind(object.bbox[0])
    .bind(object.bbox[1])
    .bind(object.bbox[2])
    .bind(object.bbox[3])
    .bind(object.first_seen_at)
    .bind(object.confirmed_at)
    .execute(tx)
    .await?;
    Ok(())
}

async fn insert_evidence(
    tx: &mut sqlx::SqliteConnection,
    case_id: i64,
    idx: i64,
    evidence: &NewEvidence,
) -> Result<()> {
    sqlx::query("INSERT INTO evidence (case_id, idx, sha256, width, height, captured_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(case_id)
        .bind(idx)
        .bind(&evidence.sha256)
        .bind(evidence.width)
        .bind(evidence.height)
        .bind(evidence.captured_at)
        .execute(tx)
        .await?;
    Ok(())
}
