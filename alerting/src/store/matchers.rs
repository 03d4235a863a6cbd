//! What a timeline entry must be to match a route or a silence: stored with each silence, read from
//! the configuration for routes.

use serde::{Deserialize, Serialize};

use super::TimelineEntry;

/// What an entry must be to match; every list that is not empty must contain the entry's value
/// (grids: a prefix of its grid code). Routes and silences match with it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Matchers {
    /// Case categories (`illegal_parking`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Grid code prefixes (`110105` takes the whole district).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grids: Vec<String>,
    /// Camera ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<String>,
    /// Urgencies (`normal`, `urgent`, `critical`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urgencies: Vec<String>,
    /// Timeline actions (`report`, `verify`, `dispatch`, ..., `supervise`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

impl Matchers {
    /// Whether `entry` matches.
    pub fn matches(&self, entry: &TimelineEntry) -> bool {
        let listed = |values: &[String], value: &str| values.is_empty() || values.iter().any(|v| v == value);
        listed(&self.categories, entry.category.as_str())
            && (self.grids.is_empty() || self.grids.iter().any(|prefix| entry.grid.starts_with(prefix.as_str())))
            && listed(&self.cameras, &entry.camera)
            && listed(&self.urgencies, entry.urgency.as_str())
            && listed(&self.actions, entry.action.as_str())
    }

    /// Whether nothing is listed (everything matches).
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
            && self.grids.is_empty()
            && self.cameras.is_empty()
            && self.urgencies.is_empty()
            && self.actions.is_empty()
    }
}
