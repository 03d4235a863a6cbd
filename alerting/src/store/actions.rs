//! Workflow actions on stored cases: each applied in one transaction that checks the case's current
//! state, moves it, sets its deadline and appends the step to its timeline.

use chrono::{DateTime, TimeDelta, Utc};

use super::{BeginWrite, CaseDetail, CaseEvent, Pool, Store, finished_statuses, insert_event, with_pool};
use crate::{
    Error, Result,
    cases::{
        Principal,
        deadlines::{DeadlineClock, DeadlinePolicy},
        quality::VoidReason,
        taxonomy::Urgency,
        timeline::{Actor, Step},
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

/// What one attempt found.
enum Attempt {
    Applied,
    Refused(Refusal),
    NotFound,
    /// Someone else moved the case between reading and writing it.
    Raced,
}

#[derive(sqlx::FromRow)]
struct CaseState {
    status: String,
    category: String,
    urgency: String,
    deadline_at: Option<DateTime<Utc>>,
    deadline_left_s: Option<i64>,
    supervised: bool,
    extension_requested: bool,
}

impl CaseState {
    fn workflow(&self, id: i64) -> Result<(Workflow, Category, Urgency)> {
        let corrupt = || Error::Corrupt(format!("case {id}: status '{}', category '{}'", self.status, self.category));
        let status = Status::parse(&self.status).ok_or_else(corrupt)?;
        let category = Category::parse(&self.category).ok_or_else(corrupt)?;
        let workflow = Workflow { status, supervised: self.supervised, extension_requested: self.extension_requested };
        Ok((workflow, category, Urgency::parse(&self.urgency).unwrap_or(Urgency::Normal)))
    }
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
        self.apply_action_for(id, who, action, None, note, now, policy).await
    }

    /// [`Store::apply_action`], recording `void_reason` with the case when it is given (a void's
    /// reason, for the quality figures).
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_action_for(
        &self,
        id: i64,
        who: &Principal,
        action: Action,
        void_reason: Option<VoidReason>,
        note: &str,
        now: DateTime<Utc>,
        policy: &DeadlinePolicy,
    ) -> Result<ActionOutcome> {
        for _ in 0..ATTEMPTS {
            let attempt = with_pool!(self, |pool| {
                let mut tx = pool.begin_write().await?;
                let state = sqlx::query_as::<_, CaseState>(
                    "SELECT status, category, urgency, deadline_at, deadline_left_s, supervised, extension_requested
                     FROM cases WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                match state {
                    None => Attempt::NotFound,
                    Some(state) => {
                        let (before, category, urgency) = state.workflow(id)?;
                        match before.apply(who.role, action) {
                            Err(refusal) => Attempt::Refused(refusal),
                            Ok(after) => {
                                let before_clock = DeadlineClock {
                                    due: state.deadline_at,
                                    left: state.deadline_left_s.map(TimeDelta::seconds),
                                };
                                let clock = policy.after(action, category, urgency, now, before_clock);
                                // The row changes only if nobody moved the case since it was read.
                                let changed = sqlx::query(
                                    "UPDATE cases SET status = $1, supervised = $2, extension_requested = $3,
                                                      deadline_at = $4, deadline_left_s = $5, updated_at = $6,
                                                      void_reason = COALESCE($11, void_reason)
                                     WHERE id = $7 AND status = $8 AND supervised = $9 AND extension_requested = $10",
                                )
                                .bind(after.status.as_str())
                                .bind(after.supervised)
                                .bind(after.extension_requested)
                                .bind(clock.due)
                                .bind(clock.left.map(|left| left.num_seconds()))
                                .bind(now)
                                .bind(id)
                                .bind(&state.status)
                                .bind(state.supervised)
                                .bind(state.extension_requested)
                                .bind(void_reason.map(VoidReason::as_str))
                                .execute(&mut *tx)
                                .await?;
                                if changed.rows_affected() == 0 {
                                    Attempt::Raced
                                } else {
                                    let event = CaseEvent {
                                        at: now,
                                        actor: who.name.to_string(),
                                        role: Actor::Person(who.role),
                                        action: Step::Action(action),
                                        from_status: Some(before.status),
                                        to_status: after.status,
                                        note: note.into(),
                                    };
                                    insert_event!(tx, id, &event);
                                    tx.commit().await?;
                                    self.timeline_grew();
                                    Attempt::Applied
                                }
                            }
                        }
                    }
                }
            });
            match attempt {
                Attempt::Applied => {
                    let detail = self.case_detail(id).await?.ok_or(Error::Corrupt(format!("case {id} vanished")))?;
                    return Ok(ActionOutcome::Applied(Box::new(detail)));
                }
                Attempt::Refused(refusal) => return Ok(ActionOutcome::Refused(refusal)),
                Attempt::NotFound => return Ok(ActionOutcome::NotFound),
                Attempt::Raced => {}
            }
        }
        Err(Error::Contended(format!("case {id} kept changing under '{}'", action.as_str())))
    }

    /// Open, unsupervised cases whose deadline is before `now`, oldest deadline first.
    pub async fn overdue_cases(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<i64>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_scalar(concat!(
                "SELECT id FROM cases WHERE supervised = FALSE AND deadline_at IS NOT NULL AND deadline_at < $1
                   AND status NOT IN ",
                finished_statuses!(),
                " ORDER BY deadline_at LIMIT $2"
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }
}
