//! The deadline clock: a case past its deadline is marked supervised (督办), and a department that did
//! not report in to a whistle by its due time is marked missed — each in the case's timeline, the log
//! and the metrics.

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::{
    AlertingMetrics, Result,
    cases::{Principal, Role, deadlines::DeadlinePolicy, workflow::Action},
    store::{ActionOutcome, Store},
};

/// Cases supervised in one pass at most; the next pass takes the rest.
const PASS_LIMIT: i64 = 500;

/// Marks every open case whose deadline passed before `now` as supervised, and every whistle call past
/// its due time as missed; returns the ids of the cases supervised.
pub async fn supervise_overdue(
    store: &Store,
    policy: &DeadlinePolicy,
    metrics: &AlertingMetrics,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let clock = Principal::new("deadline-clock", Role::Admin);
    let mut supervised = Vec::new();
    for id in store.overdue_cases(now, PASS_LIMIT).await? {
        if let ActionOutcome::Applied(detail) =
            store.apply_action(id, &clock, Action::Supervise, "past its deadline", now, policy).await?
        {
            let case = &detail.case;
            warn!(
                case = id, category = %case.category, grid = %case.grid, status = %case.status,
                deadline = ?case.deadline_at, "case overdue; supervised"
            );
            metrics.cases_supervised_total.with_label_values(&[case.category.as_str()]).inc();
            supervised.push(id);
        }
    }
    for missed in store.missed_report_ins(now, PASS_LIMIT).await? {
        if store.mark_missed(&missed, now).await? {
            warn!(
                case = missed.case_id, whistle = missed.whistle_id, department = %missed.department,
                due = %missed.due_at, "department did not report in to a whistle; escalated"
            );
            metrics.whistle_report_ins_missed_total.with_label_values(&[missed.department.as_str()]).inc();
        }
    }
    Ok(supervised)
}
