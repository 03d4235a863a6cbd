//! Whistles (吹哨报到): a dispatcher calls departments to a case at one of three levels; each called
//! department must report in by a time the level sets; a missed report-in is marked, shown on the case
//! and escalated (timeline, log, metric) by the deadline clock.
//!
//! The department directory says who handles which category in which grid; only departments in it
//! can be called.

use std::{collections::HashMap, time::Duration};

use serde::{Deserialize, Serialize};

/// How loud a whistle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhistleLevel {
    /// 一般: report in within hours.
    Ordinary,
    /// 重大.
    Major,
    /// 紧急: report in within minutes.
    Urgent,
}

impl WhistleLevel {
    /// The snake_case name used in the API and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ordinary => "ordinary",
            Self::Major => "major",
            Self::Urgent => "urgent",
        }
    }
}

/// A department of the directory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Department {
    /// Id, as whistles and report-ins name it.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Case categories it handles (`illegal_parking`, ...).
    pub categories: Vec<String>,
    /// Grid code prefixes it serves (a district's 6 digits serve all of it).
    pub grids: Vec<String>,
}

/// The department directory and the report-in time of each whistle level.
#[derive(Clone, Debug, Default)]
pub struct WhistlePolicy {
    departments: Vec<Department>,
    report_in: HashMap<WhistleLevel, Duration>,
}

impl WhistlePolicy {
    /// A policy over `departments`, with the report-in time of each level.
    pub fn new(departments: Vec<Department>, report_in: HashMap<WhistleLevel, Duration>) -> Self {
        Self { departments, report_in }
    }

    /// Every department of the directory.
    pub fn departments(&self) -> &[Department] {
        &self.departments
    }

    /// Whether `id` is in the directory.
    pub fn knows(&self, id: &str) -> bool {
        self.departments.iter().any(|d| d.id == id)
    }

    /// The department `id` of the directory, if there is one.
    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// How long a department called at `level` has to report in.
    pub fn report_in(&self, level: WhistleLevel) -> Duration {
        self.report_in.get(&level).copied().unwrap_or(Duration::from_secs(3600))
    }

    /// The departments that handle `category` in `grid`.
    pub fn responsible(&self, category: &str, grid: &str) -> Vec<&Department> {
        self.departments
            .iter()
            .filter(|d| {
                d.categories.iter().any(|c| c == category) && d.grids.iter().any(|g| grid.starts_with(g.as_str()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_answers_by_category_and_grid_prefix() {
        let department = |id: &str, categories: &[&str], grids: &[&str]| Department {
            id: id.into(),
            name: id.into(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            grids: grids.iter().map(|g| g.to_string()).collect(),
        };
        let policy = WhistlePolicy::new(
            vec![
                department("chengguan", &["illegal_parking", "litter"], &["110105"]),
                department("traffic", &["illegal_parking"], &["110105001"]),
                department("water", &["manhole_cover"], &["1101"]),
            ],
            HashMap::from([(WhistleLevel::Urgent, Duration::from_secs(1800))]),
        );
        let ids = |found: Vec<&Department>| found.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(policy.responsible("illegal_parking", "110105001002003")), ["chengguan", "traffic"]);
        assert_eq!(ids(policy.responsible("illegal_parking", "110105002001001")), ["chengguan"]);
        assert_eq!(ids(policy.responsible("manhole_cover", "110108001001001")), ["water"]);
        assert!(policy.knows("water") && !policy.knows("fire"));
        assert_eq!(policy.report_in(WhistleLevel::Urgent), Duration::from_secs(1800));
    }
}
