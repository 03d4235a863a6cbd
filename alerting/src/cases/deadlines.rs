//! When a case is due: its category's time limit at its urgency (`config/taxonomy.toml`), counted in
//! working time on the city's calendar (`config/calendar.toml`).

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    taxonomy::{Taxonomy, Urgency},
    workflow::Action,
};
use crate::{calendar::WorkCalendar, rules::Category};

/// A case's deadline clock: its deadline while the clock runs, the working time it had left while it
/// is stopped (suspended).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadlineClock {
    /// When the case is due: none before it is filed and while it is suspended.
    pub due: Option<DateTime<Utc>>,
    /// The working time that was left when it was suspended (none while the clock runs).
    pub left: Option<TimeDelta>,
}

/// The taxonomy and the calendar that set deadlines.
#[derive(Clone, Debug)]
pub struct DeadlinePolicy {
    taxonomy: Arc<Taxonomy>,
    calendar: Arc<WorkCalendar>,
}

impl DeadlinePolicy {
    /// A policy over a taxonomy and a calendar.
    pub fn new(taxonomy: Taxonomy, calendar: WorkCalendar) -> Self {
        Self { taxonomy: Arc::new(taxonomy), calendar: Arc::new(calendar) }
    }

    /// The taxonomy (codes, names, urgencies).
    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// The working calendar (and the city's time).
    pub fn calendar(&self) -> &WorkCalendar {
        &self.calendar
    }

    /// A case's deadline clock after `action` at `now`, given the clock it had. The clock starts with
    /// the full time limit when the case is filed (verified); it stops when the case is suspended,
    /// keeping the working time left then (none if it was already overdue), and runs on from that when
    /// the case is resumed. An extension grants one more time limit from the later of now and the old
    /// deadline. Other actions keep the clock as it is.
    pub fn after(
        &self,
        action: Action,
        category: Category,
        urgency: Urgency,
        now: DateTime<Utc>,
        clock: DeadlineClock,
    ) -> DeadlineClock {
        let limit = self.taxonomy.entry(category).time_limit(urgency);
        let running = |due| DeadlineClock { due, left: None };
        match action {
            Action::Verify => running(self.calendar.add_working_time(now, limit)),
            Action::Resume => running(self.calendar.add_working_time(now, clock.left.unwrap_or(limit))),
            Action::GrantExtension => DeadlineClock {
                due: self.calendar.add_working_time(clock.due.map_or(now, |due| due.max(now)), limit),
                ..clock
            },
            Action::Suspend => DeadlineClock {
                due: None,
                left: Some(clock.due.map_or(limit, |due| self.calendar.working_time_between(now, due.max(now)))),
            },
            _ => clock,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn policy() -> DeadlinePolicy {
        let calendar = WorkCalendar::from_toml(
            "utc_offset = \"+08:00\"\nworking_hours = [[\"09:00\", \"17:00\"]]\nweekend = [\"sat\", \"sun\"]",
        )
        .unwrap();
        DeadlinePolicy::new(Taxonomy::shipped(), calendar)
    }

    #[test]
    fn the_clock_starts_at_filing_stops_when_suspended_and_extends() {
        let policy = policy();
        let parking = |action, now, clock| policy.after(action, Category::IllegalParking, Urgency::Normal, now, clock);
        // Monday 2026-11-23 in the city (+08:00); illegal parking, normal: 2 working hours.
        let monday = |hour: u32, minute| Utc.with_ymd_and_hms(2026, 11, 23, hour - 8, minute, 0).unwrap();
        let tuesday = |hour: u32, minute| Utc.with_ymd_and_hms(2026, 11, 24, hour - 8, minute, 0).unwrap();
        let filed = parking(Action::Verify, monday(10, 0), DeadlineClock::default());
        assert_eq!(filed, DeadlineClock { due: Some(monday(12, 0)), left: None });
        assert_eq!(parking(Action::Dispatch, monday(10, 0), filed), filed);
        assert_eq!(parking(Action::GrantExtension, monday(10, 0), filed).due, Some(monday(14, 0)));

        // Suspended at 11:00 with one working hour left, resumed the next morning at 09:30: due at 10:30,
        // not at 11:30 (a fresh limit).
        let suspended = parking(Action::Suspend, monday(11, 0), filed);
        assert_eq!(suspended, DeadlineClock { due: None, left: Some(TimeDelta::hours(1)) });
        assert_eq!(parking(Action::Dispatch, monday(11, 5), suspended), suspended, "the clock stays stopped");
        assert_eq!(
            parking(Action::Resume, tuesday(9, 30), suspended),
            DeadlineClock { due: Some(tuesday(10, 30)), left: None }
        );
        // Suspended when already overdue: nothing left, so due again the moment it is resumed.
        let late = parking(Action::Suspend, monday(13, 0), filed);
        assert_eq!(late.left, Some(TimeDelta::zero()));
        assert_eq!(parking(Action::Resume, tuesday(9, 30), late).due, Some(tuesday(9, 30)));
        // A case suspended before any deadline (none stored, as before the clock was kept) gets the full limit.
        let unknown = DeadlineClock { due: None, left: None };
        assert_eq!(parking(Action::Resume, tuesday(9, 30), unknown).due, Some(tuesday(11, 30)));

        let urgent = policy.after(Action::Verify, Category::IllegalParking, Urgency::Critical, monday(10, 0), filed);
        assert_eq!(urgent.due, Some(monday(10, 30)));
    }

    proptest::proptest! {
        /// Filed, suspended and resumed at any times over three weeks: the working time left after the
        /// resumption is exactly the working time that was left at the suspension.
        #[test]
        fn a_suspension_keeps_the_working_time_left(
            filed_minute in 0i64..20_160,
            suspended_after in 0i64..10_080,
            resumed_after in 0i64..20_160,
        ) {
            let policy = policy();
            let construction = |action, now, clock| {
                policy.after(action, Category::IllegalConstruction, Urgency::Normal, now, clock)
            };
            let filed_at = Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap() + TimeDelta::minutes(filed_minute);
            let suspended_at = filed_at + TimeDelta::minutes(suspended_after);
            let resumed_at = suspended_at + TimeDelta::minutes(resumed_after);
            let filed = construction(Action::Verify, filed_at, DeadlineClock::default());
            let left = policy.calendar().working_time_between(suspended_at, filed.due.unwrap());
            let suspended = construction(Action::Suspend, suspended_at, filed);
            proptest::prop_assert_eq!(suspended, DeadlineClock { due: None, left: Some(left) });
            let resumed = construction(Action::Resume, resumed_at, suspended);
            proptest::prop_assert_eq!(policy.calendar().working_time_between(resumed_at, resumed.due.unwrap()), left);
        }
    }
}
