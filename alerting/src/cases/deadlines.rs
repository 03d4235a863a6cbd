//! When a case is due: its category's time limit at its urgency (`config/taxonomy.toml`), counted in
//! working time on the city's calendar (`config/calendar.toml`).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    taxonomy::{Taxonomy, Urgency},
    workflow::Action,
};
use crate::{calendar::WorkCalendar, rules::Category};

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

    /// A case's deadline after `action` at `now`, given the one it had. The clock starts when the case
    /// is filed (verified, or taken up again after a suspension), stops while it is suspended, and an
    /// extension grants one more time limit from the later of now and the old deadline; other actions
    /// keep the deadline.
    pub fn after(
        &self,
        action: Action,
        category: Category,
        urgency: Urgency,
        now: DateTime<Utc>,
        current: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let limit = self.taxonomy.entry(category).time_limit(urgency);
        match action {
            Action::Verify | Action::Resume => self.calendar.add_working_time(now, limit),
            Action::GrantExtension => self.calendar.add_working_time(current.map_or(now, |due| due.max(now)), limit),
            Action::Suspend => None,
            _ => current,
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
        // Monday 2026-11-23 10:00 in the city (02:00 UTC); illegal parking, normal: 2 working hours.
        let monday = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let due = policy.after(Action::Verify, Category::IllegalParking, Urgency::Normal, monday, None);
        assert_eq!(due, Some(Utc.with_ymd_and_hms(2026, 11, 23, 4, 0, 0).unwrap()));
        let same = policy.after(Action::Dispatch, Category::IllegalParking, Urgency::Normal, monday, due);
        assert_eq!(same, due);
        let extended = policy.after(Action::GrantExtension, Category::IllegalParking, Urgency::Normal, monday, due);
        assert_eq!(extended, Some(Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap()));
        assert_eq!(policy.after(Action::Suspend, Category::IllegalParking, Urgency::Normal, monday, due), None);
        let urgent = policy.after(Action::Verify, Category::IllegalParking, Urgency::Critical, monday, None);
        assert_eq!(urgent, Some(Utc.with_ymd_and_hms(2026, 11, 23, 2, 30, 0).unwrap()));
    }
}
