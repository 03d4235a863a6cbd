//! Working time for case deadlines: working hours on working days, against a holiday calendar; and
//! daily windows of local time ([`in_window`]: zone schedules, maintenance windows).
//!
//! Deadlines of grid cases count working hours (a case filed on Friday at 17:00 with four working hours
//! is due on Monday morning, and after a public holiday, not during it). A day is a working day when it
//! is not a weekend day or a holiday, or when it is one of the weekend days worked in exchange for a
//! holiday (调休). Times are local to the city (`utc_offset`).

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// The calendar shipped in `config/calendar.toml`, used when the configuration names none.
pub const SHIPPED: &str = include_str!("../../config/calendar.toml");

/// How far ahead a deadline is looked for before the calendar is taken to have no working time.
const HORIZON_DAYS: u64 = 3660;

/// The calendar as written in `config/calendar.toml`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// The city's offset from UTC, `+08:00`.
    pub utc_offset: String,
    /// Working periods of a working day, `[["08:30", "12:00"], ["13:30", "17:30"]]`.
    pub working_hours: Vec<[String; 2]>,
    /// Days of the week that are not worked: `["sat", "sun"]`.
    pub weekend: Vec<String>,
    /// Public holidays (`YYYY-MM-DD`).
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// Weekend days worked in exchange for a holiday (`YYYY-MM-DD`).
    #[serde(default)]
    pub extra_workdays: Vec<NaiveDate>,
}

/// A working-time calendar; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkCalendar {
    offset: FixedOffset,
    periods: Vec<(NaiveTime, NaiveTime)>,
    weekend: HashSet<Weekday>,
    holidays: HashSet<NaiveDate>,
    extra_workdays: HashSet<NaiveDate>,
}

impl WorkCalendar {
    /// Parses `config/calendar.toml` text; every problem is reported with its key.
    pub fn from_toml(text: &str) -> Result<Self, Vec<String>> {
        let config: CalendarConfig = toml::from_str(text).map_err(|err| vec![err.to_string()])?;
        Self::from_config(&config)
    }

    /// Checks a parsed calendar: offset, periods (in order, not overlapping), weekday names, and at least
    /// one working weekday.
    pub fn from_config(config: &CalendarConfig) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let offset = config.utc_offset.parse::<FixedOffset>().unwrap_or_else(|_| {
            problems.push(format!("utc_offset: '{}' is not an offset like +08:00", config.utc_offset));
            FixedOffset::east_opt(0).expect("zero is a valid offset")
        });
        let mut periods = Vec::new();
        for (index, [start, end]) in config.working_hours.iter().enumerate() {
            let parse = |text: &str| NaiveTime::parse_from_str(text, "%H:%M");
            match (parse(start), parse(end)) {
                (Ok(start), Ok(end)) if start < end => {
                    if periods.last().is_some_and(|&(_, previous_end)| start < previous_end) {
                        problems.push(format!("working_hours[{index}]: overlaps or precedes the period before it"));
                    }
                    periods.push((start, end));
                }
                (Ok(_), Ok(_)) => problems.push(format!("working_hours[{index}]: ends before it starts")),
                _ => {
                    problems.push(format!("working_hours[{index}]: times are written HH:MM, as [\"08:30\", \"12:00\"]"))
                }
            }
        }
        if config.working_hours.is_empty() {
            problems.push("working_hours: at least one working period is needed".into());
        }
        let mut weekend = HashSet::new();
        for (index, day) in config.weekend.iter().enumerate() {
            match day.parse::<Weekday>() {
                Ok(day) => {
                    weekend.insert(day);
                }
                Err(_) => problems.push(format!("weekend[{index}]: '{day}' is not a day of the week (mon .. sun)")),
            }
        }
        if weekend.len() == 7 {
            problems.push("weekend: every day of the week is a weekend day".into());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            offset,
            periods,
            weekend,
            holidays: config.holidays.iter().copied().collect(),
            extra_workdays: config.extra_workdays.iter().copied().collect(),
        })
    }

    /// The city's offset from UTC.
    pub fn utc_offset(&self) -> FixedOffset {
        self.offset
    }

    /// Whether `date` (local) is worked.
    pub fn is_workday(&self, date: NaiveDate) -> bool {
        self.extra_workdays.contains(&date)
            || !(self.weekend.contains(&date.weekday()) || self.holidays.contains(&date))
    }

    /// Whether `at` falls within working time (a period's start counts, its end does not).
    pub fn is_working_at(&self, at: DateTime<Utc>) -> bool {
        let local = self.local(at);
        self.is_workday(local.date())
            && self.periods.iter().any(|&(start, end)| start <= local.time() && local.time() < end)
    }

    /// The instant `working` working time after `start`: the deadline of a case filed at `start`.
    /// `None` when the calendar holds too little working time within ten years.
    pub fn add_working_time(&self, start: DateTime<Utc>, working: TimeDelta) -> Option<DateTime<Utc>> {
        let mut remaining = working.max(TimeDelta::zero());
        let mut from = self.local(start);
        for _ in 0..HORIZON_DAYS {
            let date = from.date();
            if self.is_workday(date) {
                for &(start, end) in &self.periods {
                    let (start, end) = (date.and_time(start), date.and_time(end));
                    if from >= end {
                        continue;
                    }
                    let begin = from.max(start);
                    let available = end - begin;
                    if remaining <= available {
                        return Some(self.utc(begin + remaining));
                    }
                    remaining -= available;
                }
            }
            from = date.checked_add_days(Days::new(1))?.and_time(NaiveTime::MIN);
        }
        None
    }

    /// Working time between `from` and `to` (zero when `to` is not after `from`).
    pub fn working_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        let (mut from, to) = (self.local(from), self.local(to));
        let mut total = TimeDelta::zero();
        while from < to {
            let date = from.date();
            if self.is_workday(date) {
                for &(start, end) in &self.periods {
                    let begin = from.max(date.and_time(start));
                    let finish = to.min(date.and_time(end));
                    if finish > begin {
                        total += finish - begin;
                    }
                }
            }
            let Some(next) = date.checked_add_days(Days::new(1)) else { break };
            from = next.and_time(NaiveTime::MIN);
        }
        total
    }

    fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.offset).naive_local()
    }

    fn utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        (local - self.offset).and_utc()
    }
}

/// Whether `at` falls in a daily window `[from, to)` of local time (a window may run past midnight).
pub fn in_window(at: DateTime<Utc>, offset: FixedOffset, (from, to): (NaiveTime, NaiveTime)) -> bool {
    let time = at.with_timezone(&offset).time();
    if from <= to { from <= time && time < to } else { time >= from || time < to }
}

/// `["07:00", "20:00"]` as two times.
pub fn parse_window([from, to]: &[String; 2]) -> Option<(NaiveTime, NaiveTime)> {
    let parse = |text: &str| NaiveTime::parse_from_str(text, "%H:%M").ok();
    Some((parse(from)?, parse(to)?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A calendar like the shipped one: 08:30–12:00 and 13:30–17:30 (7.5 h a day), weekends off, the
    /// 2026 National Day holiday (Oct 1–7) with Sunday Sep 27 and Saturday Oct 10 worked instead.
    fn calendar() -> WorkCalendar {
        WorkCalendar::from_toml(
            r#"
            utc_offset = "+08:00"
            working_hours = [["08:30", "12:00"], ["13:30", "17:30"]]
            weekend = ["sat", "sun"]
            holidays = ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07"]
            extra_workdays = ["2026-09-27", "2026-10-10"]
            "#,
        )
        .unwrap()
    }

    /// `YYYY-MM-DD HH:MM` in the city's time.
    fn local(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_str(&format!("{text} +0800"), "%Y-%m-%d %H:%M %z").unwrap().with_timezone(&Utc)
    }

    fn hours(hours: f64) -> TimeDelta {
        TimeDelta::seconds((hours * 3600.0) as i64)
    }

    #[test]
    fn within_a_day_the_lunch_break_does_not_count() {
        let calendar = calendar();
        assert_eq!(calendar.add_working_time(local("2026-11-23 09:00"), hours(2.0)), Some(local("2026-11-23 11:00")));
        assert_eq!(calendar.add_working_time(local("2026-11-23 11:00"), hours(2.0)), Some(local("2026-11-23 14:30")));
        // Filed during lunch: the clock starts at 13:30.
        assert_eq!(calendar.add_working_time(local("2026-11-23 12:45"), hours(1.0)), Some(local("2026-11-23 14:30")));
    }

    #[test]
    fn a_friday_evening_case_is_due_on_monday() {
        let calendar = calendar();
        // Friday 2026-11-20 17:00: half an hour left that day, 3.5 h on Monday.
        assert_eq!(calendar.add_working_time(local("2026-11-20 17:00"), hours(4.0)), Some(local("2026-11-23 12:00")));
        // Filed on Saturday night: Monday morning's hours.
        assert_eq!(calendar.add_working_time(local("2026-11-21 22:00"), hours(1.0)), Some(local("2026-11-23 09:30")));
    }

    #[test]
    fn holidays_are_skipped_and_exchange_days_worked() {
        let calendar = calendar();
        // Wednesday Sep 30 at 17:00, 2 h: half an hour on the 30th, then the holiday (Oct 1–7, and the
        // weekend Oct 3–4 inside it), so Thursday Oct 8 at 10:00.
        assert_eq!(calendar.add_working_time(local("2026-09-30 17:00"), hours(2.0)), Some(local("2026-10-08 10:00")));
        // Saturday Oct 10 is worked in exchange; Friday Oct 9 17:00 + 1 h lands on it.
        assert_eq!(calendar.add_working_time(local("2026-10-09 17:00"), hours(1.0)), Some(local("2026-10-10 09:00")));
        // Sunday Sep 27 is worked too.
        assert!(calendar.is_workday(NaiveDate::from_ymd_opt(2026, 9, 27).unwrap()));
        assert!(!calendar.is_workday(NaiveDate::from_ymd_opt(2026, 10, 5).unwrap()));
        assert!(!calendar.is_workday(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()));
    }

    #[test]
    fn three_working_days_span_a_weekend() {
        let calendar = calendar();
        // Thursday 08:30 + 22.5 h (three days of 7.5 h) = Monday 17:30.
        assert_eq!(calendar.add_working_time(local("2026-11-19 08:30"), hours(22.5)), Some(local("2026-11-23 17:30")));
    }

    #[test]
    fn bad_calendars_are_reported_by_key() {
        let problems = WorkCalendar::from_toml(
            r#"
            utc_offset = "Beijing"
            working_hours = [["13:30", "17:30"], ["08:30", "25:00"], ["10:00", "09:00"]]
            weekend = ["sat", "sunday", "caturday"]
            "#,
        )
        .unwrap_err();
        let text = problems.join("\n");
        for expected in ["utc_offset", "working_hours[1]", "working_hours[2]", "weekend[2]"] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        assert!(!text.contains("weekend[1]"), "'sunday' is a day: {text}");
        let unknown = WorkCalendar::from_toml(
            "utc_offset = \"+08:00\"\nworking_hours = [[\"08:00\", \"17:00\"]]\nweekend = []\nholiday = []",
        )
        .unwrap_err();
        assert!(unknown[0].contains("holiday"), "{unknown:?}");
    }

    #[test]
    fn the_shipped_calendar_loads() {
        let calendar = WorkCalendar::from_toml(SHIPPED).unwrap_or_else(|problems| panic!("{problems:?}"));
        assert!(!calendar.is_workday(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()));
    }

    /// For any start in 2026 and any duration up to two working weeks: the deadline lies in working
    /// time (or is the very start of a period's end minute), and the working time between start and
    /// deadline — counted minute by minute, apart from the arithmetic — is exactly the duration. The
    /// runs are counted: some must start outside working time and some must span a weekend, a holiday
    /// and an exchanged working day, or the property would hold without reaching them.
    #[test]
    fn deadlines_add_exactly_the_working_time() {
        use std::sync::Mutex;

        use proptest::test_runner::{Config, TestRunner};

        let calendar = calendar();
        let reached = Mutex::new([0usize; 4]);
        let mut runner = TestRunner::new(Config { cases: 512, ..Config::default() });
        runner
            .run(&(0i64..525_600, 0i64..4_500), |(start_minute, minutes)| {
                let start = local("2026-01-01 00:00") + TimeDelta::minutes(start_minute);
                let due = calendar.add_working_time(start, TimeDelta::minutes(minutes)).unwrap();
                prop_assert!(due >= start);
                prop_assert_eq!(calendar.working_time_between(start, due), TimeDelta::minutes(minutes));
                let counted = (0..(due - start).num_minutes())
                    .filter(|m| calendar.is_working_at(start + TimeDelta::minutes(*m)))
                    .count() as i64;
                prop_assert_eq!(counted, minutes);
                if minutes > 0 {
                    prop_assert!(
                        calendar.is_working_at(due - TimeDelta::minutes(1)),
                        "the last minute before {} is worked",
                        due
                    );
                }
                let days: Vec<NaiveDate> = start
                    .with_timezone(&calendar.offset)
                    .date_naive()
                    .iter_days()
                    .take_while(|day| *day <= due.with_timezone(&calendar.offset).date_naive())
                    .collect();
                let weekend = |day: &NaiveDate| matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
                let mut reached = reached.lock().unwrap();
                reached[0] += usize::from(!calendar.is_working_at(start));
                reached[1] += usize::from(days.iter().any(|day| weekend(day) && !calendar.is_workday(*day)));
                reached[2] += usize::from(days.iter().any(|day| !weekend(day) && !calendar.is_workday(*day)));
                reached[3] += usize::from(days.iter().any(|day| weekend(day) && calendar.is_workday(*day)));
                Ok(())
            })
            .unwrap_or_else(|failure| panic!("{failure}"));
        let reached = reached.into_inner().unwrap();
        for (count, what) in reached.iter().zip(["off-hours starts", "weekends", "holidays", "exchanged working days"])
        {
            assert!(*count > 0, "no run reached {what}: {reached:?}");
        }
    }

    #[test]
    fn windows_may_run_past_midnight() {
        let offset = FixedOffset::east_opt(8 * 3600).unwrap();
        let time = |text| NaiveTime::parse_from_str(text, "%H:%M").unwrap();
        let at = |hour| DateTime::parse_from_rfc3339(&format!("2026-11-23T{hour:02}:30:00+08:00")).unwrap().to_utc();
        assert!(in_window(at(23), offset, (time("20:00"), time("07:00"))));
        assert!(in_window(at(3), offset, (time("20:00"), time("07:00"))));
        assert!(!in_window(at(12), offset, (time("20:00"), time("07:00"))));
        assert!(in_window(at(12), offset, (time("07:00"), time("20:00"))));
        assert!(!in_window(at(20), offset, (time("07:00"), time("20:00"))), "the end is not inside");
    }
}
