use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};
use sharpeyes_ingest::mqtt::{FieldValue, SensorEvent, SensorKind};

use super::{Category, SensorViolation};

/// When a sensor rule's condition holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// A yes/no field equals `value` (a state change: cover open, bay occupied, smoke alarm).
    State {
        /// The field tested.
        field: String,
        /// The value that breaks the rule.
        value: bool,
    },
    /// A number above `above`; once above, the condition holds until the number falls below
    /// `clear_below` (hysteresis: a value hovering at the threshold does not flap).
    Threshold {
        /// The field tested.
        field: String,
        /// Starts to hold above this.
        above: f64,
        /// Stops holding below this (≤ `above`).
        clear_below: f64,
    },
}

/// A rule on the readings of every sensor of one kind (or of listed devices).
#[derive(Clone, Debug, PartialEq)]
pub struct SensorRule {
    /// Rule id, unique in the configuration; cases of the rule carry it as their zone.
    pub id: Arc<str>,
    /// The kind of sensor it applies to.
    pub kind: SensorKind,
    /// Only these devices, when set.
    pub devices: Option<Vec<String>>,
    /// What breaks the rule.
    pub condition: Condition,
    /// How long the condition must hold (zero: at once).
    pub hold: TimeDelta,
    /// While the condition keeps holding, the violation is raised again this often (its open case
    /// ignores it; once that case has closed and cooled down, it opens a new one).
    pub repeat: TimeDelta,
    /// Category of the cases it opens.
    pub category: Category,
}

impl SensorRule {
    fn applies_to(&self, event: &SensorEvent) -> bool {
        event.reading.kind() == self.kind
            && self.devices.as_ref().is_none_or(|devices| devices.iter().any(|d| **d == *event.device))
    }

    /// Whether the reading breaks the rule, given whether the condition held before. `None` when
    /// the reading lacks the field (the state is left as it was).
    fn holds(&self, event: &SensorEvent, held: bool) -> Option<bool> {
        match &self.condition {
            Condition::State { field, value } => match event.reading.field(field)? {
                FieldValue::Bool(actual) => Some(actual == *value),
                FieldValue::Number(_) => None,
            },
            Condition::Threshold { field, above, clear_below } => match event.reading.field(field)? {
                FieldValue::Number(actual) => Some(if held { actual >= *clear_below } else { actual > *above }),
                FieldValue::Bool(_) => None,
            },
        }
    }
}

/// Where one rule stands for one device.
#[derive(Clone, Debug)]
struct Holding {
    since: DateTime<Utc>,
    /// The event that last confirmed the condition (for the violation's reading and place).
    latest: SensorEvent,
    /// When a violation was last raised for this holding period.
    raised: Option<DateTime<Utc>>,
}

/// Evaluates every sensor rule on the events as they come, and on the clock (a bay reports
/// "occupied" once; it is the passing time that makes it a violation). One violation per holding
/// period, raised again every `repeat` while it lasts; a new period starts only once the condition
/// has cleared.
#[derive(Debug, Default)]
pub struct SensorRules {
    rules: Vec<SensorRule>,
    holding: HashMap<(usize, Arc<str>), Holding>,
}

impl SensorRules {
    /// The evaluator of `rules`.
    pub fn new(rules: Vec<SensorRule>) -> Self {
        Self { rules, holding: HashMap::new() }
    }

    /// Whether there is any rule to evaluate.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Evaluates one event; returns the violations it confirms.
    pub fn observe(&mut self, event: &SensorEvent) -> Vec<SensorViolation> {
        let mut violations = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if !rule.applies_to(event) {
                continue;
            }
            let key = (index, event.device.clone());
            let held = self.holding.contains_key(&key);
            match rule.holds(event, held) {
                Some(true) => {
                    let holding = self.holding.entry(key).or_insert_with(|| Holding {
                        since: event.at,
                        latest: event.clone(),
                        raised: None,
                    });
                    holding.latest = event.clone();
                    violations.extend(confirm(rule, holding, event.at));
                }
                Some(false) => {
                    self.holding.remove(&key);
                }
                None => {}
            }
        }
        violations
    }

    /// Raises the violations whose condition has held for long enough by `now` without a new event.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<SensorViolation> {
        let rules = &self.rules;
        self.holding.iter_mut().filter_map(|((index, _), holding)| confirm(&rules[*index], holding, now)).collect()
    }
}

fn confirm(rule: &SensorRule, holding: &mut Holding, now: DateTime<Utc>) -> Option<SensorViolation> {
    let due = match holding.raised {
        Some(last) => now - last >= rule.repeat,
        None => now - holding.since >= rule.hold,
    };
    if !due {
        return None;
    }
    holding.raised = Some(now);
    let event = &holding.latest;
    Some(SensorViolation {
        device: event.device.clone(),
        rule: rule.id.clone(),
        category: rule.category,
        grid: event.grid.to_string(),
        location: event.location,
        reading: event.reading.clone(),
        since: holding.since,
        confirmed_at: now.max(holding.since),
        receipt: None,
    })
}

#[cfg(test)]
mod tests {
    use sharpeyes_ingest::mqtt::SensorReading;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn event(device: &str, seconds: i64, reading: SensorReading) -> SensorEvent {
        SensorEvent { device: device.into(), grid: "110105001001001".into(), location: None, at: at(seconds), reading }
    }

    fn tilt(device: &str, seconds: i64, tilt_deg: f64) -> SensorEvent {
        event(device, seconds, SensorReading::ManholeCover { tilt_deg, open: false })
    }

    fn tilt_rule(hold_s: i64) -> SensorRule {
        SensorRule {
            id: "tilt".into(),
            kind: SensorKind::ManholeCover,
            devices: None,
            condition: Condition::Threshold { field: "tilt_deg".into(), above: 15.0, clear_below: 10.0 },
            hold: TimeDelta::seconds(hold_s),
            repeat: TimeDelta::hours(1),
            category: Category::ManholeCover,
        }
    }

    #[test]
    fn a_threshold_must_hold_for_its_duration_and_fires_once() {
        let mut rules = SensorRules::new(vec![tilt_rule(30)]);
        assert!(rules.observe(&tilt("mh-1", 0, 20.0)).is_empty(), "not long enough yet");
        assert!(rules.observe(&tilt("mh-1", 20, 25.0)).is_empty());
        let fired = rules.observe(&tilt("mh-1", 31, 22.0));
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].since, fired[0].confirmed_at), (at(0), at(31)));
        assert_eq!(fired[0].reading, SensorReading::ManholeCover { tilt_deg: 22.0, open: false });
        assert!(rules.observe(&tilt("mh-1", 60, 30.0)).is_empty(), "one violation per holding period");
        assert!(rules.tick(at(600)).is_empty());
        // Still holding an hour after it was raised: raised again (once), with the period's start.
        let again = rules.tick(at(31 + 3600));
        assert_eq!(again.iter().map(|v| (v.since, v.confirmed_at)).collect::<Vec<_>>(), [(at(0), at(3631))]);
        assert!(rules.tick(at(3700)).is_empty());
    }

    #[test]
    fn hysteresis_keeps_the_condition_between_the_two_levels() {
        let mut rules = SensorRules::new(vec![tilt_rule(30)]);
        rules.observe(&tilt("mh-1", 0, 16.0));
        // 12° is below the threshold but above clear_below: still holding.
        assert!(rules.observe(&tilt("mh-1", 20, 12.0)).is_empty());
        assert_eq!(rules.observe(&tilt("mh-1", 35, 12.0)).len(), 1);
        // Below clear_below it clears; rising again starts a new period and a new violation.
        assert!(rules.observe(&tilt("mh-1", 40, 9.0)).is_empty());
        assert!(rules.observe(&tilt("mh-1", 50, 12.0)).is_empty(), "12° alone does not start a period");
        assert!(rules.observe(&tilt("mh-1", 60, 16.0)).is_empty());
        assert_eq!(rules.observe(&tilt("mh-1", 91, 16.0)).len(), 1);
    }

    #[test]
    fn a_flicker_shorter_than_the_duration_never_fires() {
        let mut rules = SensorRules::new(vec![tilt_rule(30)]);
        for second in (0..300).step_by(20) {
            let value = if (second / 20) % 2 == 0 { 20.0 } else { 5.0 };
            assert!(rules.observe(&tilt("mh-1", second, value)).is_empty(), "at {second} s");
        }
    }

    #[test]
    fn a_state_held_long_enough_fires_on_the_clock_without_new_events() {
        let bay = SensorRule {
            id: "bay-overstay".into(),
            kind: SensorKind::ParkingSpace,
            devices: Some(vec!["bay-7".into()]),
            condition: Condition::State { field: "occupied".into(), value: true },
            hold: TimeDelta::minutes(15),
            repeat: TimeDelta::hours(1),
            category: Category::IllegalParking,
        };
        let mut rules = SensorRules::new(vec![bay]);
        let occupied = |device: &str, s| event(device, s, SensorReading::ParkingSpace { occupied: true });
        assert!(rules.observe(&occupied("bay-7", 0)).is_empty());
        assert!(rules.observe(&occupied("bay-8", 0)).is_empty(), "not a device of the rule");
        assert!(rules.tick(at(14 * 60)).is_empty());
        let fired = rules.tick(at(15 * 60 + 1));
        assert_eq!(fired.len(), 1);
        assert_eq!(
            (&*fired[0].device, &*fired[0].rule, fired[0].category),
            ("bay-7", "bay-overstay", Category::IllegalParking)
        );
        assert!(rules.tick(at(16 * 60)).is_empty());
    }

    #[test]
    fn devices_are_evaluated_apart_and_a_zero_hold_fires_at_once() {
        let open = SensorRule {
            id: "open".into(),
            kind: SensorKind::ManholeCover,
            devices: None,
            condition: Condition::State { field: "open".into(), value: true },
            hold: TimeDelta::zero(),
            repeat: TimeDelta::hours(1),
            category: Category::ManholeCover,
        };
        let mut rules = SensorRules::new(vec![open, tilt_rule(30)]);
        let cover = |device: &str, s, open| event(device, s, SensorReading::ManholeCover { tilt_deg: 2.0, open });
        assert_eq!(rules.observe(&cover("mh-1", 0, true)).len(), 1);
        assert!(rules.observe(&cover("mh-2", 0, false)).is_empty());
        assert_eq!(rules.observe(&cover("mh-2", 5, true)).len(), 1);
        assert!(rules.observe(&cover("mh-1", 6, true)).is_empty());
        assert!(rules.observe(&event("x", 0, SensorReading::Noise { db: 90.0 })).is_empty(), "other kinds");
    }
}
