//! `[cases]` and `[[departments]]`: the taxonomy and calendar files, cooldown, duplicates, whistle
//! times and the department directory as the configuration file writes them — validated with every
//! problem's key path, and built into the [`DeadlinePolicy`] and the [`WhistlePolicy`].

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use sharpeyes_ingest::{Problem, positive, units::Seconds};

use super::{
    deadlines::DeadlinePolicy,
    grids::{Area, Grid, GridLevel},
    taxonomy::{self, Taxonomy},
    whistles::{Department, WhistleLevel, WhistlePolicy},
};
use crate::{
    calendar::{self, WorkCalendar},
    rules::Category,
};

/// `[[departments]]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DepartmentConfig {
    /// Unique id, as whistles and report-ins name it.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Case categories it handles.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Grid code prefixes it serves (6 digits: a district; 9: a street; 12: a community; 15: a grid).
    #[serde(default)]
    pub grids: Vec<String>,
}

/// `[cases.whistles]`: minutes a called department has to report in, per level.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WhistleTimes {
    /// 一般.
    #[serde(default = "default_ordinary_minutes")]
    pub ordinary_minutes: f64,
    /// 重大.
    #[serde(default = "default_major_minutes")]
    pub major_minutes: f64,
    /// 紧急.
    #[serde(default = "default_urgent_minutes")]
    pub urgent_minutes: f64,
}

const fn default_ordinary_minutes() -> f64 {
    240.0
}
const fn default_major_minutes() -> f64 {
    120.0
}
const fn default_urgent_minutes() -> f64 {
    30.0
}

impl Default for WhistleTimes {
    fn default() -> Self {
        Self {
            ordinary_minutes: default_ordinary_minutes(),
            major_minutes: default_major_minutes(),
            urgent_minutes: default_urgent_minutes(),
        }
    }
}

impl CasesConfig {
    /// The directory of `departments` and the whistle report-in times.
    pub fn whistle_policy(&self, departments: &[DepartmentConfig]) -> WhistlePolicy {
        let departments = departments
            .iter()
            .map(|d| Department {
                id: d.id.clone(),
                name: d.name.clone(),
                categories: d.categories.iter().map(|c| c.as_str().to_owned()).collect(),
                grids: d.grids.clone(),
            })
            .collect();
        let times = &self.whistles;
        let minutes = |m: f64| std::time::Duration::from_secs_f64(m.max(0.0) * 60.0);
        WhistlePolicy::new(
            departments,
            HashMap::from([
                (WhistleLevel::Ordinary, minutes(times.ordinary_minutes)),
                (WhistleLevel::Major, minutes(times.major_minutes)),
                (WhistleLevel::Urgent, minutes(times.urgent_minutes)),
            ]),
        )
    }
}

/// `[cases]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct CasesConfig {
    /// Categories, codes, urgencies and time limits; the shipped `config/taxonomy.toml` when absent.
    pub taxonomy: Option<PathBuf>,
    /// Working hours and holidays for deadlines; the shipped `config/calendar.toml` when absent.
    pub calendar: Option<PathBuf>,
    /// GeoJSON FeatureCollection of grid areas (`properties.code`, `properties.name`): adds the grids it
    /// maps and places cameras and sensors that name no grid by their location.
    pub grid_polygons: Option<PathBuf>,
    /// Seconds after a place's case closes before violations there open a new case.
    #[serde(default = "default_cooldown_s")]
    pub cooldown_s: Seconds,
    /// Seconds between two looks for cases past their deadline.
    #[serde(default = "default_supervise_every_s")]
    pub supervise_every_s: Seconds,
    /// `[cases.whistles]`.
    #[serde(default)]
    pub whistles: WhistleTimes,
    /// A new case this close (metres) to an open case of its category is linked as its duplicate.
    #[serde(default = "default_duplicate_radius_m")]
    pub duplicate_radius_m: f64,
    /// ... when that case was reported at most this many seconds before.
    #[serde(default = "default_duplicate_window_s")]
    pub duplicate_window_s: Seconds,
}

fn default_duplicate_radius_m() -> f64 {
    50.0
}
const fn default_duplicate_window_s() -> Seconds {
    Seconds::new(1800.0)
}

const fn default_cooldown_s() -> Seconds {
    Seconds::new(600.0)
}
const fn default_supervise_every_s() -> Seconds {
    Seconds::new(30.0)
}

impl Default for CasesConfig {
    fn default() -> Self {
        Self {
            taxonomy: None,
            calendar: None,
            grid_polygons: None,
            cooldown_s: default_cooldown_s(),
            supervise_every_s: default_supervise_every_s(),
            whistles: WhistleTimes::default(),
            duplicate_radius_m: default_duplicate_radius_m(),
            duplicate_window_s: default_duplicate_window_s(),
        }
    }
}

impl CasesConfig {
    /// The taxonomy and calendar (the configured files, or the shipped ones); every problem is named by
    /// its key and file.
    pub fn deadline_policy(&self) -> Result<DeadlinePolicy, Vec<Problem>> {
        fn load<T>(
            key: &str,
            path: Option<&Path>,
            shipped: &str,
            parse: fn(&str) -> Result<T, Vec<String>>,
        ) -> Result<T, Vec<Problem>> {
            let (text, label) = match path {
                Some(path) => (
                    std::fs::read_to_string(path).map_err(|err| {
                        vec![Problem { path: key.into(), message: format!("cannot read '{}': {err}", path.display()) }]
                    })?,
                    format!("{key} ({})", path.display()),
                ),
                None => (shipped.to_owned(), format!("{key} (shipped)")),
            };
            parse(&text).map_err(|messages| {
                messages.into_iter().map(|message| Problem { path: label.clone(), message }).collect()
            })
        }
        let taxonomy = load("cases.taxonomy", self.taxonomy.as_deref(), taxonomy::SHIPPED, Taxonomy::from_toml);
        let calendar = load("cases.calendar", self.calendar.as_deref(), calendar::SHIPPED, WorkCalendar::from_toml);
        match (taxonomy, calendar) {
            (Ok(taxonomy), Ok(calendar)) => Ok(DeadlinePolicy::new(taxonomy, calendar)),
            (taxonomy, calendar) => Err(taxonomy.err().into_iter().chain(calendar.err()).flatten().collect()),
        }
    }
}

impl CasesConfig {
    /// Every problem of `[cases]`, by key path: times, the taxonomy and calendar files, the duplicate
    /// rule and the whistle times.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        problems.extend(self.cooldown_s.check_not_negative("cases.cooldown_s"));
        if !(self.supervise_every_s.get() >= 1.0) {
            let every = self.supervise_every_s.get();
            problems.push(Problem::at("cases.supervise_every_s", format!("{every} is under 1 second")));
        }
        if let Err(list) = self.deadline_policy() {
            problems.extend(list);
        }
        if !positive(self.duplicate_radius_m) {
            problems.push(Problem::at("cases.duplicate_radius_m", "must be positive"));
        }
        problems.extend(self.duplicate_window_s.check_positive("cases.duplicate_window_s"));
        let times = &self.whistles;
        for (key, minutes) in [
            ("ordinary_minutes", times.ordinary_minutes),
            ("major_minutes", times.major_minutes),
            ("urgent_minutes", times.urgent_minutes),
        ] {
            if !positive(minutes) {
                problems.push(Problem::at(format!("cases.whistles.{key}"), "must be positive"));
            }
        }
        problems
    }
}

impl DepartmentConfig {
    /// Every problem of `[[departments]]`, by key path: ids listed once, grid code prefixes.
    pub fn validate_all(departments: &[DepartmentConfig]) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut ids = HashSet::new();
        for (i, department) in departments.iter().enumerate() {
            if !ids.insert(department.id.as_str()) {
                problems
                    .push(Problem::at(format!("departments[{i}].id"), format!("'{}' is listed twice", department.id)));
            }
            for (k, grid) in department.grids.iter().enumerate() {
                if grid.is_empty() || grid.len() > 15 || !grid.bytes().all(|b| b.is_ascii_digit()) {
                    problems.push(Problem::at(
                        format!("departments[{i}].grids[{k}]"),
                        format!("'{grid}' is not a grid code prefix (1 to 15 digits)"),
                    ));
                }
            }
        }
        problems
    }
}

/// `[[grids]]`: a grid of any level.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct GridConfig {
    /// 6 digits (区), 9 (街道), 12 (社区) or 15 (网格: 6 admin + 3 street + 3 community + 3 grid).
    pub code: String,
    /// Name of the grid.
    #[serde(default)]
    pub name: String,
    /// Its area, from `cases.grid_polygons`.
    #[serde(skip)]
    pub area: Option<Area>,
}

impl GridConfig {
    /// Every problem of `[[grids]]`, by key path: codes of a grid level, listed once.
    pub fn validate_all(grids: &[GridConfig]) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut codes = HashSet::new();
        for (i, grid) in grids.iter().enumerate() {
            if GridLevel::of(&grid.code).is_none() {
                problems.push(Problem::at(
                    format!("grids[{i}].code"),
                    format!(
                        "'{}' is not a grid code: 6 digits (区), 9 (街道), 12 (社区) or 15 (网格: 6 admin + 3 street + 3 community + 3 grid)",
                        grid.code
                    ),
                ));
            }
            if !codes.insert(grid.code.as_str()) {
                problems.push(Problem::at(format!("grids[{i}].code"), format!("'{}' is listed twice", grid.code)));
            }
        }
        problems
    }

    /// The grid it configures.
    pub fn grid(&self) -> Grid {
        Grid { code: self.code.clone(), name: self.name.clone(), area: self.area.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_problems_are_named_by_their_key_path() {
        let grid = |code: &str| GridConfig { code: code.into(), name: String::new(), area: None };
        let grids = [grid("110105"), grid("11010500"), grid("110105")];
        let problems: Vec<String> = GridConfig::validate_all(&grids).iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("grids[1].code") && problems[0].contains("'11010500' is not a grid code"));
        assert!(problems[1].starts_with("grids[2].code") && problems[1].contains("'110105' is listed twice"));
        assert_eq!(grids[0].grid().code, "110105");
    }
}
