//! `[rules]` and `[[cameras.zones]]`: the rules' settings as the configuration file writes them,
//! validated with every problem's key path, and built into the running rules. A new zone rule adds
//! its settings here beside its own file.

use std::collections::HashSet;

use chrono::{FixedOffset, TimeDelta};
use serde::{Deserialize, Serialize};
use sharpeyes_ingest::{
    Problem,
    mqtt::SensorKind,
    units::{Score, Seconds},
};

use super::{
    Category, Condition, DwellRuleConfig, SceneChangeConfig, SensorRule, SensorRules, StaticObjectConfig,
    TrackerConfig, Zone, ZoneKind,
};

/// `[[cameras.zones]]`, also the body of `PUT /api/v1/cameras/{id}/zones` and what the database keeps of
/// a camera's zones changed through the API.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Id, unique within the camera.
    pub id: String,
    /// What the zone watches for.
    pub kind: ZoneKind,
    /// Corners in normalised image coordinates.
    pub polygon: Vec<[f64; 2]>,
    /// Detector classes counted in this zone instead of the rule's.
    pub classes: Option<Vec<String>>,
    /// Least detector score in this zone instead of the rule's.
    pub min_score: Option<Score>,
    /// Least box area as a share of the frame (0..=1).
    #[serde(default)]
    pub min_area: f64,
    /// Largest box area as a share of the frame (0..=1).
    #[serde(default = "whole_frame")]
    pub max_area: f64,
    /// Seconds an object stands still in this zone before it is a violation, instead of the rule's.
    pub min_dwell_s: Option<Seconds>,
    /// Parts of the zone not watched: polygons in normalised coordinates.
    #[serde(default)]
    pub masks: Vec<Vec<[f64; 2]>>,
    /// Daily window `["07:00", "20:00"]` (city time, `cases.calendar`'s offset) in which the zone is
    /// watched; it may run past midnight (`["20:00", "07:00"]`). Unset: always.
    pub active: Option<[String; 2]>,
}

const fn whole_frame() -> f64 {
    1.0
}

impl ZoneConfig {
    /// Every problem of a camera's zones, by key path under `at` (`cameras[1]`, or empty for a bare
    /// list): each zone's own, and ids used twice.
    pub fn validate_list(zones: &[Self], at: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut ids = HashSet::new();
        for (j, zone) in zones.iter().enumerate() {
            let path = match at {
                "" => format!("zones[{j}]"),
                at => format!("{at}.zones[{j}]"),
            };
            if !ids.insert(zone.id.as_str()) {
                problems.push(Problem::at(format!("{path}.id"), format!("'{}' is used twice in this camera", zone.id)));
            }
            problems.extend(zone.validate(&path));
        }
        problems
    }

    /// Every problem of this zone, by key path under `at` (`cameras[1].zones[0]`): its corners and
    /// its narrowing settings (classes, score, area bounds, masks and schedule).
    pub fn validate(&self, at: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut report = |path: String, message: String| problems.push(Problem { path, message });
        let at = |key: &str| format!("{at}.{key}");
        if self.polygon.len() < 3 {
            report(at("polygon"), format!("needs at least 3 corners, has {}", self.polygon.len()));
        }
        if let Some(k) = self.polygon.iter().position(|p| p.iter().any(|v| !(0.0..=1.0).contains(v))) {
            report(
                at(&format!("polygon[{k}]")),
                format!("{:?} is outside the normalised range 0..=1", self.polygon[k]),
            );
        }
        if self.classes.as_ref().is_some_and(Vec::is_empty) {
            report(at("classes"), "needs at least one class".into());
        }
        if let Some(problem) = self.min_score.and_then(|score| score.check(&at("min_score"))) {
            report(problem.path, problem.message);
        }
        if let Some(problem) = self.min_dwell_s.and_then(|dwell| dwell.check_positive(&at("min_dwell_s"))) {
            report(problem.path, problem.message);
        }
        if !(0.0..=1.0).contains(&self.min_area)
            || !(0.0..=1.0).contains(&self.max_area)
            || self.min_area > self.max_area
        {
            report(
                at("max_area"),
                format!("area bounds {}..={} must lie in 0..=1, in order", self.min_area, self.max_area),
            );
        }
        for (m, mask) in self.masks.iter().enumerate() {
            if mask.len() < 3 || mask.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
                report(at(&format!("masks[{m}]")), "needs at least 3 corners, each in 0..=1".into());
            }
        }
        if let Some(window) = &self.active
            && crate::calendar::parse_window(window).is_none()
        {
            report(at("active"), format!("{window:?} is not a window of two HH:MM times"));
        }
        problems
    }

    /// The zone the rules watch.
    pub fn build(&self) -> Zone {
        let mut zone = Zone::new(self.id.as_str(), self.kind, self.polygon.clone());
        zone.classes = self.classes.clone();
        zone.min_score = self.min_score.map(Score::get);
        zone.min_area = self.min_area;
        zone.max_area = self.max_area;
        zone.min_dwell = self.min_dwell_s.map(Seconds::time_delta);
        zone.active = self.active.as_ref().and_then(crate::calendar::parse_window);
        self.masks.iter().for_each(|mask| zone.add_mask(mask.clone()));
        zone
    }
}

/// `[rules]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RulesConfig {
    /// Seconds between two reports of a violation that lasts (a vehicle still parked, a cover still
    /// open): its open case ignores them, but once the case has closed and the cooldown passed, the
    /// next one opens a new case.
    #[serde(default = "default_repeat_s")]
    pub repeat_s: Seconds,
    /// `[rules.illegal_parking]`: vehicles standing in `no_parking` zones.
    #[serde(default)]
    pub illegal_parking: DwellConfig,
    /// `[rules.litter]`: objects left in `no_dumping` zones.
    #[serde(default = "DwellConfig::litter")]
    pub litter: DwellConfig,
    /// `[rules.illegal_construction]`: a site-trained model's classes standing in `construction_watch`
    /// zones.
    #[serde(default = "DwellConfig::construction")]
    pub illegal_construction: DwellConfig,
    /// `[rules.scene_change]`: lasting structural change in `construction_watch` zones.
    #[serde(default)]
    pub scene_change: SceneChangeSettings,
    /// `[rules.static_object]`: objects left in `no_dumping` zones, found without a litter model.
    #[serde(default)]
    pub static_object: StaticObjectSettings,
    /// `[[rules.sensor]]`: rules on sensor readings.
    #[serde(default)]
    pub sensor: Vec<SensorRuleConfig>,
}

const fn default_repeat_s() -> Seconds {
    Seconds::new(60.0)
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            repeat_s: default_repeat_s(),
            illegal_parking: DwellConfig::default(),
            litter: DwellConfig::litter(),
            illegal_construction: DwellConfig::construction(),
            scene_change: SceneChangeSettings::default(),
            static_object: StaticObjectSettings::default(),
            sensor: Vec::new(),
        }
    }
}

/// `[rules.scene_change]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SceneChangeSettings {
    /// Seconds a change must last (passing and parked vehicles must never last this long).
    #[serde(default = "default_persist_s")]
    pub persist_s: Seconds,
    /// Share of the zone's blocks (0..=1) that must have changed.
    #[serde(default = "default_min_changed")]
    pub min_changed: Score,
    /// A block whose structure correlates less than this (0..=1) with the reference view has changed.
    #[serde(default = "default_block_similarity")]
    pub block_similarity: Score,
}

const fn default_persist_s() -> Seconds {
    Seconds::new(7200.0)
}
const fn default_min_changed() -> Score {
    Score::new(0.25)
}
const fn default_block_similarity() -> Score {
    Score::new(0.5)
}

impl Default for SceneChangeSettings {
    fn default() -> Self {
        Self {
            persist_s: default_persist_s(),
            min_changed: default_min_changed(),
            block_similarity: default_block_similarity(),
        }
    }
}

/// `[rules.static_object]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticObjectSettings {
    /// Zone kinds watched: `no_dumping`, and `construction_watch` for piled materials; empty: off.
    #[serde(default = "default_static_kinds")]
    pub zone_kinds: Vec<ZoneKind>,
    /// Seconds an object must stand still, unless its zone sets `min_dwell_s`.
    #[serde(default = "default_static_dwell_s")]
    pub min_dwell_s: Seconds,
    /// Time constant of the short-term background, in seconds: how soon something new that stopped
    /// counts as standing still.
    #[serde(default = "default_short_term_s")]
    pub short_term_s: Seconds,
    /// Time constant of the long-term background, in seconds: how fast it follows slow drift.
    #[serde(default = "default_long_term_s")]
    pub long_term_s: Seconds,
    /// Least box area of an object, as a share of the frame (0..=1).
    #[serde(default = "default_static_min_area")]
    pub min_area: f64,
    /// An object larger than this share of the frame is `stacking` (0507), a smaller one `litter`.
    #[serde(default = "default_large_area")]
    pub large_area: f64,
    /// A part of the zone whose structure correlates less than this (0..=1) with a background differs.
    #[serde(default = "default_block_similarity")]
    pub similarity: Score,
    /// Detector classes whose boxes explain a change: people and vehicles are never objects left.
    #[serde(default = "default_explained_by")]
    pub explained_by: Vec<String>,
    /// Least detector score of such a box.
    #[serde(default = "default_explain_min_score")]
    pub explain_min_score: Score,
    /// Whether a case being handled is reported handled when the camera sees its object gone.
    #[serde(default)]
    pub report_handled_when_cleared: bool,
}

fn default_static_kinds() -> Vec<ZoneKind> {
    StaticObjectConfig::default().kinds
}
const fn default_static_dwell_s() -> Seconds {
    Seconds::new(300.0)
}
const fn default_short_term_s() -> Seconds {
    Seconds::new(30.0)
}
const fn default_long_term_s() -> Seconds {
    Seconds::new(600.0)
}
fn default_static_min_area() -> f64 {
    StaticObjectConfig::default().min_area
}
fn default_large_area() -> f64 {
    StaticObjectConfig::default().large_area
}
fn default_explained_by() -> Vec<String> {
    StaticObjectConfig::default().explained_by
}
const fn default_explain_min_score() -> Score {
    Score::new(0.25)
}

impl Default for StaticObjectSettings {
    fn default() -> Self {
        Self {
            zone_kinds: default_static_kinds(),
            min_dwell_s: default_static_dwell_s(),
            short_term_s: default_short_term_s(),
            long_term_s: default_long_term_s(),
            min_area: default_static_min_area(),
            large_area: default_large_area(),
            similarity: default_block_similarity(),
            explained_by: default_explained_by(),
            explain_min_score: default_explain_min_score(),
            report_handled_when_cleared: false,
        }
    }
}

impl StaticObjectSettings {
    /// Every problem of the section, by key path.
    fn validate(&self) -> Vec<Problem> {
        let at = |key: &str| format!("rules.static_object.{key}");
        let mut problems: Vec<Problem> = [
            self.min_dwell_s.check_positive(&at("min_dwell_s")),
            self.short_term_s.check_positive(&at("short_term_s")),
            self.long_term_s.check_positive(&at("long_term_s")),
            self.similarity.check(&at("similarity")),
            self.explain_min_score.check(&at("explain_min_score")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(k) = self.zone_kinds.iter().position(|kind| *kind == ZoneKind::NoParking) {
            problems.push(Problem::at(
                at(&format!("zone_kinds[{k}]")),
                "no_parking zones are the parking rule's: a vehicle is never an object left",
            ));
        }
        if !(0.0..=1.0).contains(&self.min_area) || !(0.0..=1.0).contains(&self.large_area) {
            problems.push(Problem::at(
                at("large_area"),
                format!("min_area {} and large_area {} must lie in 0..=1", self.min_area, self.large_area),
            ));
        }
        if self.explained_by.iter().any(String::is_empty) {
            problems.push(Problem::at(at("explained_by"), "a class name is empty"));
        }
        problems
    }

    /// The rule's settings, in the city's time zone.
    pub fn build(&self, utc_offset: FixedOffset) -> StaticObjectConfig {
        StaticObjectConfig {
            kinds: self.zone_kinds.clone(),
            min_dwell: self.min_dwell_s.time_delta(),
            short_term: self.short_term_s.time_delta(),
            long_term: self.long_term_s.time_delta(),
            min_area: self.min_area,
            large_area: self.large_area,
            similarity: self.similarity.get(),
            explained_by: self.explained_by.clone(),
            explain_min_score: self.explain_min_score.get(),
            report_handled_when_cleared: self.report_handled_when_cleared,
            utc_offset,
        }
    }
}

/// `[[rules.sensor]]`: `equals` makes a state rule on a yes/no field; `above` (with `clear_below`)
/// a threshold rule on a number.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SensorRuleConfig {
    /// Unique id; the cases of the rule carry it as their zone.
    pub id: String,
    /// Kind of sensor the rule applies to.
    pub kind: SensorKind,
    /// Only these devices (default: every sensor of the kind).
    pub devices: Option<Vec<String>>,
    /// Field of the reading tested (`open`, `tilt_deg`, `occupied`, `level_cm`, ...).
    pub field: String,
    /// State rule: the value of a yes/no field that breaks the rule.
    pub equals: Option<bool>,
    /// Threshold rule: breaks the rule above this.
    pub above: Option<f64>,
    /// Threshold rule: holds until the value falls below this (default: `above`).
    pub clear_below: Option<f64>,
    /// Seconds the condition must hold.
    #[serde(default)]
    pub for_s: Seconds,
    /// Category of the cases it opens.
    pub category: Category,
}

/// `[rules.illegal_parking]`, `[rules.litter]`, `[rules.illegal_construction]`: a dwell rule.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DwellConfig {
    /// Seconds an object must stand still in a zone of the rule's kind.
    #[serde(default = "default_min_dwell_s")]
    pub min_dwell_s: Seconds,
    /// Detector classes the rule follows; unset: the manifest's `categories.<category>` classes (for
    /// illegal parking, car, truck, bus and motorcycle when the manifest maps none).
    pub classes: Option<Vec<String>>,
    /// Least detector score of an object.
    #[serde(default = "default_min_score")]
    pub min_score: Score,
    /// Least share of frames a standing object must be seen in since it stopped.
    #[serde(default = "default_min_presence")]
    pub min_presence: Score,
    /// Least IoU with where an object stopped to count as still standing.
    #[serde(default = "default_stationary_iou")]
    pub stationary_iou: Score,
    /// Seconds an object may go unseen (occlusion, key-frame spacing) and keep its track.
    #[serde(default = "default_track_max_gap_s")]
    pub track_max_gap_s: Seconds,
}

const fn default_min_dwell_s() -> Seconds {
    Seconds::new(300.0)
}
const fn default_min_score() -> Score {
    Score::new(0.3)
}
const fn default_min_presence() -> Score {
    Score::new(0.6)
}
const fn default_stationary_iou() -> Score {
    Score::new(0.6)
}
const fn default_track_max_gap_s() -> Seconds {
    Seconds::new(10.0)
}

impl Default for DwellConfig {
    fn default() -> Self {
        Self {
            min_dwell_s: default_min_dwell_s(),
            classes: None,
            min_score: default_min_score(),
            min_presence: default_min_presence(),
            stationary_iou: default_stationary_iou(),
            track_max_gap_s: default_track_max_gap_s(),
        }
    }
}

impl DwellConfig {
    /// Litter when `[rules.litter]` is absent: left for ten minutes.
    pub fn litter() -> Self {
        Self { min_dwell_s: Seconds::new(600.0), ..Self::default() }
    }

    /// Construction when `[rules.illegal_construction]` is absent: standing for an hour.
    pub fn construction() -> Self {
        Self { min_dwell_s: Seconds::new(3600.0), ..Self::default() }
    }
}

impl RulesConfig {
    /// Every problem of `[rules]`, by key path; `devices` are the `[[sensors]]` ids sensor rules may name.
    pub fn validate(&self, devices: &HashSet<&str>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut report = |path: String, message: String| problems.push(Problem { path, message });
        let scene = &self.scene_change;
        let checks = [
            self.repeat_s.check_positive("rules.repeat_s"),
            scene.persist_s.check_positive("rules.scene_change.persist_s"),
            scene.min_changed.check("rules.scene_change.min_changed"),
            scene.block_similarity.check("rules.scene_change.block_similarity"),
        ];
        checks.into_iter().flatten().for_each(|problem| report(problem.path, problem.message));
        self.static_object.validate().into_iter().for_each(|problem| report(problem.path, problem.message));
        for (name, rule) in [
            ("illegal_parking", &self.illegal_parking),
            ("litter", &self.litter),
            ("illegal_construction", &self.illegal_construction),
        ] {
            let at = |key: &str| format!("rules.{name}.{key}");
            let checks = [
                rule.min_dwell_s.check_positive(&at("min_dwell_s")),
                rule.min_score.check(&at("min_score")),
                rule.min_presence.check(&at("min_presence")),
                rule.stationary_iou.check(&at("stationary_iou")),
                rule.track_max_gap_s.check_positive(&at("track_max_gap_s")),
            ];
            checks.into_iter().flatten().for_each(|problem| report(problem.path, problem.message));
            if rule.classes.as_ref().is_some_and(Vec::is_empty) {
                report(at("classes"), "needs at least one class".into());
            }
        }
        let mut rule_ids = HashSet::new();
        for (i, rule) in self.sensor.iter().enumerate() {
            let at = |key: &str| format!("rules.sensor[{i}].{key}");
            if rule.id.is_empty() || !rule_ids.insert(rule.id.as_str()) {
                report(at("id"), format!("'{}' must be non-empty and unique", rule.id));
            }
            let fields = rule.kind.fields();
            match fields.iter().find(|(name, _)| *name == rule.field) {
                None => {
                    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
                    report(
                        at("field"),
                        format!(
                            "'{}' is not a field of {} sensors ({})",
                            rule.field,
                            rule.kind.as_str(),
                            names.join(", ")
                        ),
                    );
                }
                Some((_, true)) if rule.equals.is_none() => {
                    report(at("equals"), format!("'{}' is a yes/no field: set equals = true or false", rule.field));
                }
                Some((_, false)) if rule.above.is_none() => {
                    report(at("above"), format!("'{}' is a number: set above (and clear_below)", rule.field));
                }
                _ => {}
            }
            if rule.equals.is_some() && (rule.above.is_some() || rule.clear_below.is_some()) {
                report(at("equals"), "a rule is either a state (equals) or a threshold (above, clear_below)".into());
            }
            if let (Some(above), Some(clear_below)) = (rule.above, rule.clear_below)
                && (clear_below > above || clear_below.is_nan())
            {
                report(at("clear_below"), format!("{clear_below} must not be above {above}"));
            }
            if let Some(problem) = rule.for_s.check_not_negative(&at("for_s")) {
                report(problem.path, problem.message);
            }
            for (k, device) in rule.devices.iter().flatten().enumerate() {
                if !devices.contains(device.as_str()) {
                    report(
                        format!("rules.sensor[{i}].devices[{k}]"),
                        format!("'{device}' is not one of the [[sensors]]"),
                    );
                }
            }
        }
        problems
    }

    /// How often a lasting violation is raised again.
    pub fn repeat(&self) -> TimeDelta {
        self.repeat_s.time_delta()
    }

    /// The scene change rule's settings, in the city's time zone.
    pub fn scene_change(&self, utc_offset: FixedOffset) -> SceneChangeConfig {
        let scene = &self.scene_change;
        SceneChangeConfig {
            persist: scene.persist_s.time_delta(),
            min_changed: scene.min_changed.get(),
            block_similarity: scene.block_similarity.get(),
            utc_offset,
        }
    }

    /// The sensor rules.
    pub fn sensor_rules(&self) -> SensorRules {
        let repeat = self.repeat();
        SensorRules::new(self.sensor.iter().map(|rule| rule.build(repeat)).collect())
    }

    /// The dwell rule of `config` (one of this section's) following `classes`, in the city's time zone.
    pub fn dwell_rule(&self, rule: &DwellConfig, classes: Vec<String>, utc_offset: FixedOffset) -> DwellRuleConfig {
        DwellRuleConfig {
            min_dwell: rule.min_dwell_s.time_delta(),
            classes,
            min_score: rule.min_score.get(),
            min_presence: rule.min_presence.get(),
            tracker: TrackerConfig {
                stationary_iou: rule.stationary_iou.get(),
                max_gap: rule.track_max_gap_s.time_delta(),
                ..TrackerConfig::default()
            },
            utc_offset,
            repeat: self.repeat(),
        }
    }
}

impl SensorRuleConfig {
    /// The rule, raising a lasting violation again every `repeat`.
    pub fn build(&self, repeat: TimeDelta) -> SensorRule {
        let condition = match (self.equals, self.above) {
            (Some(value), _) => Condition::State { field: self.field.clone(), value },
            (None, above) => {
                let above = above.unwrap_or(f64::INFINITY);
                Condition::Threshold {
                    field: self.field.clone(),
                    above,
                    clear_below: self.clear_below.unwrap_or(above),
                }
            }
        };
        SensorRule {
            id: self.id.as_str().into(),
            kind: self.kind,
            devices: self.devices.clone(),
            condition,
            hold: self.for_s.time_delta(),
            repeat,
            category: self.category,
        }
    }
}
