//! Workflow actions on stored cases: each applied in one transaction that checks the case's current
//! state, moves it, sets its deadline and appends the step to its timeline.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{CaseDetail, CaseEvent, Store};
use crate::{
    Result,
    api::Principal,
    cases::{
        deadlines::DeadlinePolicy,
        taxonomy::Urgency,
        workflow::{Action, Refusal, Status, Workflow},
    },
    rules::Category,
};

/// How many times an action is retried when another one changed the case in between.
const ATTEMPTS: usize = 3;

/// What became of an action.
#[derive(Debug)]
pub enum ActionOutcome {
    /// Applied; the case as it is now.
    Applied(Box<CaseDetail>),
    /// The workflow refused it.
    Refused(Refusal),
    /// No such case.
    NotFound,
}

#[derive(sqlx::FromRow)]
struct CaseState {
    status: String,
    category: String,
    urgency: String,
    deadline_at: Option<DateTime<Utc>>,
    supervised: bool,
    extension_requested: bool,
}

impl Store {
    /// `who` takes `action` on case `id` at `now`, with a note for the timeline.
    pub async fn apply_action(
        &self,
        id: i64,
        who: &Principal,
        action: Action,
        note: &str,
        now: DateTime<Utc>,
        policy: &DeadlinePolicy,
    ) -> Result<ActionOutcome> {
        for _ in 0..ATTEMPTS {
            let mut tx = self.pool.begin().await?;
            let Some(state) = sqlx::query_as::<_, CaseState>(
                "SELECT status, category, urgency, deadline_at, supervised, extension_requested FROM cases WHERE id = ?",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            else {
                return Ok(ActionOutcome::NotFound);
            };
            let (Some(status), Some(category)) = (Status::parse(&state.status), Category::parse(&state.category))
            else {
                return Err(crate::Error::Corrupt(format!(
                    "case {id}: status '{}', category '{}'",
                    state.status, state.category
                )));
            };
            let before =
                Workflow { status, supervised: state.supervised, extension_requested: state.extension_requested };
            let after = match before.apply(who.role, action) {
                Ok(after) => after,
                Err(refusal) => return Ok(ActionOutcome::Refused(refusal)),
            };
            let urgency = Urgency::parse(&state.urgency).unwrap_or(Urgency::Normal);
            let deadline = policy.after(action, category, urgency, now, state.deadline_at);
            // The row changes only if nobody moved the case since it was read.
            let changed = sqlx::query(
                "UPDATE cases SET status = ?, supervised = ?, extension_requested = ?, deadline_at = ?, updated_at = ?
                 WHERE id = ? AND status = ? AND supervised = ? AND extension_requested = ?",
            )
            .bind(after.status.as_str())
            .bind(after.supervised)
            .bind(after.extension_requested)
            .bind(deadline)
            .bind(now)
            .bind(id)
            .bind(&state.status)
            .bind(state.supervised)
            .bind(state.extension_requested)
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                continue;
            }
            let event = CaseEvent {
                at: now,
                actor: who.name.to_string(),
                role: who.role.as_str().into(),
                action: action.as_str().into(),
                from_status: state.status,
                to_status: after.status.as_str().into(),
                note: note.into(),
            };
            insert_event(&mut tx, id, &event).await?;
            tx.commit().await?;
            let detail = self.case_detail(id).await?.ok_or(crate::Error::Corrupt(format!("case {id} vanished")))?;
            return Ok(ActionOutcome::Applied(Box::new(detail)));
        }
        Err(crate::Error::Contended(format!("case {id} kept changing under '{}'", action.as_str())))
    }

    /// Open, unsupervised cases whose deadline is before `now`, oldest deadline first.
    pub async fn overdue_cases(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM cases WHERE supervised = FALSE AND deadline_at IS NOT NULL AND deadline_at < ?
               AND status NOT IN ('closed', 'evaluated', 'voided') ORDER BY deadline_at LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Appends one step to a case's timeline.
pub(super) async fn insert_event(tx: &mut SqliteConnection, case_id: i64, event: &CaseEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO case_events (case_id, at, actor, role, action, from_status, to_status, note)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(case_id)
    .bind(event.at)
    .bind(&event.actor)
    .bind(&event.role)
    .bind(&event.action)
    .bind(&event.from_status)
    .bind(&event.to_status)
    .bind(&event.note)
    .execute(tx)
    .await?;
    Ok(())
}
