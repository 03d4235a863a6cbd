//! Escalation of unacknowledged cases on a timetable: a case nobody has acknowledged `after_s` after
//! it opened (or was handed over) takes the step, an `escalate` entry in its timeline (actor
//! `escalation:<step>`) that goes to the step's receivers besides those of the routing tree. Steps are
//! taken in order, each once; an acknowledgement stops them, a hand-over starts them again.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sharpeyes_ingest::units::Seconds;
use tracing::warn;

use crate::{
    AlertingMetrics, Result,
    cases::timeline::Step,
    store::{Store, TimelineEntry, Unacknowledged},
};

/// Unacknowledged cases looked at per pass.
const PASS_LIMIT: i64 = 10_000;

/// One step of the timetable (`[[notify.escalation]]`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// Seconds without acknowledgement, counted from the case's opening or last hand-over.
    pub after_s: Seconds,
    /// Receiver ids told when the step is taken.
    pub receivers: Vec<String>,
}

/// The escalation timetable.
#[derive(Clone, Debug, Default)]
pub struct Escalation {
    steps: Vec<EscalationStep>,
}

impl Escalation {
    /// The timetable of `steps` (validated in ascending `after_s` by the configuration check).
    pub fn new(steps: Vec<EscalationStep>) -> Self {
        Self { steps }
    }

    /// The receivers of the step an `escalate` entry records (none for other entries).
    pub fn receivers_of(&self, entry: &TimelineEntry) -> &[String] {
        let step = (entry.action == Step::Escalate)
            .then(|| entry.actor.strip_prefix("escalation:")?.parse::<usize>().ok())
            .flatten();
        step.and_then(|n| self.steps.get(n.checked_sub(1)?)).map_or(&[], |step| &step.receivers)
    }

    /// How long the case has waited, when its next step is due at `now`.
    pub fn due(&self, case: &Unacknowledged, now: DateTime<Utc>) -> Option<TimeDelta> {
        let step = self.steps.get(usize::try_from(case.escalation_level).ok()?)?;
        let waited = now - case.since;
        (waited >= step.after_s.time_delta()).then_some(waited)
    }

    /// Takes every step due at `now`; returns the ids of the cases escalated.
    pub async fn pass(&self, store: &Store, metrics: &AlertingMetrics, now: DateTime<Utc>) -> Result<Vec<i64>> {
        if self.steps.is_empty() {
            return Ok(Vec::new());
        }
        let mut escalated = Vec::new();
        for case in store.unacknowledged_cases(PASS_LIMIT).await? {
            let Some(waited) = self.due(&case, now) else {
                continue;
            };
            if store.escalate(&case, waited, now).await? {
                warn!(
                    case = case.id,
                    step = case.escalation_level + 1,
                    waited_s = waited.num_seconds(),
                    "case not acknowledged; escalated"
                );
                metrics.cases_escalated_total.with_label_values(&[&(case.escalation_level + 1).to_string()]).inc();
                escalated.push(case.id);
            }
        }
        Ok(escalated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timetable() -> Escalation {
        Escalation::new(vec![
            EscalationStep { after_s: Seconds::new(300.0), receivers: vec!["chief".into()] },
            EscalationStep { after_s: Seconds::new(900.0), receivers: vec!["district".into()] },
        ])
    }

    #[test]
    fn steps_fall_due_in_order_from_the_alert() {
        let since = Utc::now();
        let case = |level| Unacknowledged { id: 1, since, escalation_level: level };
        let escalation = timetable();
        assert_eq!(escalation.due(&case(0), since + TimeDelta::seconds(299)), None);
        assert_eq!(escalation.due(&case(0), since + TimeDelta::seconds(300)), Some(TimeDelta::seconds(300)));
        assert_eq!(escalation.due(&case(1), since + TimeDelta::seconds(600)), None, "the second step waits");
        assert!(escalation.due(&case(1), since + TimeDelta::seconds(901)).is_some());
        assert_eq!(escalation.due(&case(2), since + TimeDelta::days(9)), None, "every step taken");
    }
}
