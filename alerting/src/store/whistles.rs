//! Whistles in the store: calls, report-ins and missed report-ins, each also a step of the case's
//! timeline.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{BeginWrite, CaseEvent, Pool, Store, insert_event, status_kept_step, with_pool};
use crate::{
    Result,
    cases::{
        Principal, Role,
        timeline::{Actor, Step},
        whistles::WhistleLevel,
        workflow::Status,
    },
};

/// A whistle blown on a case, with its calls.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Whistle {
    /// Whistle id (report-ins name it).
    pub id: i64,
    /// `ordinary`, `major` or `urgent`.
    pub level: String,
    /// Who blew it.
    pub called_by: String,
    /// Why.
    pub note: String,
    /// When.
    pub called_at: DateTime<Utc>,
    /// One call per department.
    pub calls: Vec<WhistleCall>,
}

/// One department called by a whistle.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WhistleCall {
    /// The whistle.
    #[serde(skip)]
    pub whistle_id: i64,
    /// Department id.
    pub department: String,
    /// When it must report in by.
    pub due_at: DateTime<Utc>,
    /// When it reported in.
    pub reported_at: Option<DateTime<Utc>>,
    /// Who reported for it.
    pub reported_by: Option<String>,
    /// What it reported.
    pub note: String,
    /// The due time passed without a report-in (escalated; stays so after a late report-in).
    pub missed: bool,
}

#[derive(sqlx::FromRow)]
struct WhistleRow {
    id: i64,
    level: String,
    called_by: String,
    note: String,
    called_at: DateTime<Utc>,
}

/// What became of a whistle.
#[derive(Debug, PartialEq)]
pub enum WhistleOutcome {
    /// Blown; its id.
    Called(i64),
    /// No such case.
    NotFound,
    /// The case is closed, evaluated or voided: nobody is called to it.
    Finished(Status),
}

/// What became of a report-in.
#[derive(Debug, PartialEq)]
pub enum ReportInOutcome {
    /// Recorded.
    Reported,
    /// That whistle of that case did not call that department.
    NotCalled,
    /// The department already reported in.
    AlreadyReported,
}

/// A call whose due time passed without a report-in.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct MissedReportIn {
    /// The case.
    pub case_id: i64,
    /// The whistle.
    pub whistle_id: i64,
    /// The department that did not report in.
    pub department: String,
    /// When it was due.
    pub due_at: DateTime<Utc>,
}

impl Store {
    /// `who` blows a whistle on case `case_id`, calling each `(department, due)`; the call is a step of
    /// the case's timeline.
    pub async fn blow_whistle(
        &self,
        case_id: i64,
        who: &Principal,
        level: WhistleLevel,
        calls: &[(String, DateTime<Utc>)],
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<WhistleOutcome> {
        let departments: Vec<&str> = calls.iter().map(|(department, _)| department.as_str()).collect();
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let status: Option<Status> = sqlx::query_scalar("SELECT status FROM cases WHERE id = $1")
                .bind(case_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(status) = status else {
                return Ok(WhistleOutcome::NotFound);
            };
            if !status.is_open() {
                return Ok(WhistleOutcome::Finished(status));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO whistles (case_id, level, called_by, note, called_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(case_id)
            .bind(level.as_str())
            .bind(&*who.name)
            .bind(note)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            for (department, due) in calls {
                sqlx::query("INSERT INTO whistle_calls (whistle_id, department, due_at) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(department)
                    .bind(*due)
                    .execute(&mut *tx)
                    .await?;
            }
            let event = status_kept_step(
                now,
                &*who.name,
                Actor::Person(who.role),
                Step::Whistle,
                status,
                format!("{} whistle to {}: {note}", level.as_str(), departments.join(", ")),
            );
            insert_event!(tx, case_id, &event);
            tx.commit().await?;
            self.timeline_grew();
            Ok(WhistleOutcome::Called(id))
        })
    }

    /// `who` reports in for `department`, called by whistle `whistle_id` of case `case_id`.
    pub async fn report_in(
        &self,
        case_id: i64,
        whistle_id: i64,
        department: &str,
        who: &Principal,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<ReportInOutcome> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let call: Option<(Option<DateTime<Utc>>, Status)> = sqlx::query_as(
                "SELECT c.reported_at, s.status FROM whistle_calls c
                   JOIN whistles w ON w.id = c.whistle_id JOIN cases s ON s.id = w.case_id
                  WHERE w.case_id = $1 AND c.whistle_id = $2 AND c.department = $3",
            )
            .bind(case_id)
            .bind(whistle_id)
            .bind(department)
            .fetch_optional(&mut *tx)
            .await?;
            let status = match call {
                None => return Ok(ReportInOutcome::NotCalled),
                Some((Some(_), _)) => return Ok(ReportInOutcome::AlreadyReported),
                Some((None, status)) => status,
            };
            let changed = sqlx::query(
                "UPDATE whistle_calls SET reported_at = $1, reported_by = $2, note = $3
                  WHERE whistle_id = $4 AND department = $5 AND reported_at IS NULL",
            )
            .bind(now)
            .bind(&*who.name)
            .bind(note)
            .bind(whistle_id)
            .bind(department)
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                return Ok(ReportInOutcome::AlreadyReported);
            }
            let event = status_kept_step(
                now,
                &*who.name,
                Actor::Person(who.role),
                Step::ReportIn,
                status,
                format!("{department}: {note}"),
            );
            insert_event!(tx, case_id, &event);
            tx.commit().await?;
            self.timeline_grew();
            Ok(ReportInOutcome::Reported)
        })
    }

    /// Calls past their due time with no report-in that are not yet marked missed, oldest first.
    pub async fn missed_report_ins(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<MissedReportIn>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT w.case_id, c.whistle_id, c.department, c.due_at FROM whistle_calls c
                   JOIN whistles w ON w.id = c.whistle_id
                  WHERE c.missed = FALSE AND c.reported_at IS NULL AND c.due_at < $1
                  ORDER BY c.due_at LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Marks a call missed and records it in the case's timeline; `false` when it was already marked
    /// or reported in meanwhile.
    pub async fn mark_missed(&self, missed: &MissedReportIn, now: DateTime<Utc>) -> Result<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE whistle_calls SET missed = TRUE
                  WHERE whistle_id = $1 AND department = $2 AND missed = FALSE AND reported_at IS NULL",
            )
            .bind(missed.whistle_id)
            .bind(&missed.department)
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                return Ok(false);
            }
            let status: Status = sqlx::query_scalar("SELECT status FROM cases WHERE id = $1")
                .bind(missed.case_id)
                .fetch_one(&mut *tx)
                .await?;
            let note = format!("{} did not report in by {}", missed.department, missed.due_at.to_rfc3339());
            let event =
                status_kept_step(now, "deadline-clock", Actor::Person(Role::Admin), Step::WhistleMissed, status, note);
            insert_event!(tx, missed.case_id, &event);
            tx.commit().await?;
            self.timeline_grew();
            Ok(true)
        })
    }

    /// The whistles of a case with their calls, oldest first.
    pub async fn whistles(&self, case_id: i64) -> Result<Vec<Whistle>> {
        let (rows, calls): (Vec<WhistleRow>, Vec<WhistleCall>) = with_pool!(self, |pool| {
            let rows = sqlx::query_as(
                "SELECT id, level, called_by, note, called_at FROM whistles WHERE case_id = $1 ORDER BY id",
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?;
            let calls = sqlx::query_as(
                "SELECT c.* FROM whistle_calls c JOIN whistles w ON w.id = c.whistle_id
                  WHERE w.case_id = $1 ORDER BY c.whistle_id, c.department",
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?;
            (rows, calls)
        });
        Ok(rows
            .into_iter()
            .map(|row| Whistle {
                calls: calls.iter().filter(|call| call.whistle_id == row.id).cloned().collect(),
                id: row.id,
                level: row.level,
                called_by: row.called_by,
                note: row.note,
                called_at: row.called_at,
            })
            .collect())
    }
}
