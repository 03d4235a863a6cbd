//! Acknowledgement, ownership and escalation in the store, each also a step of the case's timeline
//! (`acknowledge`, `hand_over`, `escalate`).

use chrono::{DateTime, TimeDelta, Utc};

use super::{BeginWrite, CaseEvent, Pool, Store, finished_statuses, insert_event, status_kept_step, with_pool};
use crate::{
    Result,
    cases::{
        Principal, Role,
        timeline::{Actor, Step},
        workflow::Status,
    },
};

/// What became of an acknowledgement or a hand-over.
#[derive(Debug, PartialEq, Eq)]
pub enum OwnershipOutcome {
    /// Done.
    Done,
    /// Someone else owns the case (their name): only they (or an admin) may hand it on.
    OwnedBy(String),
    /// Nobody owns the case, so there is nothing to hand over: acknowledge it first.
    Unowned,
    /// The case is finished (its status).
    Finished(Status),
    /// No such case.
    NotFound,
}

/// An open case nobody acknowledged: when its alert began and how far it has escalated.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Unacknowledged {
    /// Case id.
    pub id: i64,
    /// Its opening or last hand-over.
    pub since: DateTime<Utc>,
    /// Steps taken so far.
    pub escalation_level: i64,
}

#[derive(sqlx::FromRow)]
struct OwnerRow {
    status: Status,
    owner: String,
}

impl Store {
    /// The status and owner of an open case, or why there is no open case to own.
    async fn open_case_owner(&self, id: i64) -> Result<Result<OwnerRow, OwnershipOutcome>> {
        let row: Option<OwnerRow> =
            with_pool!(self, |pool| sqlx::query_as("SELECT status, owner FROM cases WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?);
        Ok(match row {
            None => Err(OwnershipOutcome::NotFound),
            Some(row) if !row.status.is_open() => Err(OwnershipOutcome::Finished(row.status)),
            Some(row) => Ok(row),
        })
    }

    /// `who` acknowledges the case and owns it from now on; escalation stops. Acknowledging a case
    /// one already owns again changes nothing but is not refused.
    pub async fn acknowledge(
        &self,
        id: i64,
        who: &Principal,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<OwnershipOutcome> {
        let row = match self.open_case_owner(id).await? {
            Ok(row) => row,
            Err(outcome) => return Ok(outcome),
        };
        if !row.owner.is_empty() && *row.owner != *who.name {
            return Ok(OwnershipOutcome::OwnedBy(row.owner));
        }
        let event = status_kept_step(
            now,
            who.name.to_string(),
            Actor::Person(who.role),
            Step::Acknowledge,
            row.status,
            note.into(),
        );
        self.change_owner(id, &row.owner, &who.name, Some(now), &event).await
    }

    /// The owner (or an admin) hands the case to `to`, who must acknowledge it in turn: escalation
    /// starts again from now.
    pub async fn hand_over(
        &self,
        id: i64,
        who: &Principal,
        to: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<OwnershipOutcome> {
        let row = match self.open_case_owner(id).await? {
            Ok(row) => row,
            Err(outcome) => return Ok(outcome),
        };
        if row.owner.is_empty() {
            return Ok(OwnershipOutcome::Unowned);
        }
        if *row.owner != *who.name && who.role != Role::Admin {
            return Ok(OwnershipOutcome::OwnedBy(row.owner));
        }
        let note = if note.is_empty() { format!("to {to}") } else { format!("to {to}: {note}") };
        let event =
            status_kept_step(now, who.name.to_string(), Actor::Person(who.role), Step::HandOver, row.status, note);
        self.change_owner(id, &row.owner, to, None, &event).await
    }

    /// Sets the owner (acknowledged at `acknowledged`, or waiting for `owner` to acknowledge), if the
    /// owner is still `expected`; appends `event`.
    async fn change_owner(
        &self,
        id: i64,
        expected: &str,
        owner: &str,
        acknowledged: Option<DateTime<Utc>>,
        event: &CaseEvent,
    ) -> Result<OwnershipOutcome> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE cases SET owner = $1, acknowledged_at = $2,
                        alerted_at = CASE WHEN $2 IS NULL THEN $3 ELSE alerted_at END,
                        escalation_level = CASE WHEN $2 IS NULL THEN 0 ELSE escalation_level END
                  WHERE id = $4 AND owner = $5",
            )
            .bind(owner)
            .bind(acknowledged)
            .bind(event.at)
            .bind(id)
            .bind(expected)
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                // Someone else took it in between.
                return Ok(OwnershipOutcome::OwnedBy(
                    sqlx::query_scalar("SELECT owner FROM cases WHERE id = $1").bind(id).fetch_one(&mut *tx).await?,
                ));
            }
            insert_event!(tx, id, event);
            tx.commit().await?;
            self.timeline_grew();
            Ok(OwnershipOutcome::Done)
        })
    }

    /// Open cases nobody has acknowledged (oldest first, at most `limit`).
    pub async fn unacknowledged_cases(&self, limit: i64) -> Result<Vec<Unacknowledged>> {
        with_pool!(self, |pool| Ok(sqlx::query_as(concat!(
            "SELECT id, COALESCE(alerted_at, opened_at) AS since, escalation_level FROM cases
              WHERE acknowledged_at IS NULL AND status NOT IN ",
            finished_statuses!(),
            " ORDER BY id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(pool)
        .await?))
    }

    /// Takes escalation step `level + 1` of a case still unacknowledged at `level`; the step's entry
    /// (actor `escalation:<step>`) is routed to the step's receivers. False when it was acknowledged or
    /// escalated in between.
    pub async fn escalate(&self, case: &Unacknowledged, waited: TimeDelta, now: DateTime<Utc>) -> Result<bool> {
        let next = case.escalation_level + 1;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE cases SET escalation_level = $1
                  WHERE id = $2 AND escalation_level = $3 AND acknowledged_at IS NULL",
            )
            .bind(next)
            .bind(case.id)
            .bind(case.escalation_level)
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                return Ok(false);
            }
            let status: Status =
                sqlx::query_scalar("SELECT status FROM cases WHERE id = $1").bind(case.id).fetch_one(&mut *tx).await?;
            let note = format!("step {next}: not acknowledged for {} min", waited.num_minutes());
            let event =
                status_kept_step(now, format!("escalation:{next}"), Actor::System, Step::Escalate, status, note);
            insert_event!(tx, case.id, &event);
            tx.commit().await?;
            self.timeline_grew();
            Ok(true)
        })
    }
}
