//! What a timeline entry must be to match a route or a silence: stored with each silence, read from
//! the configuration for routes.

use serde::{Deserialize, Serialize};

use super::TimelineEntry;
use crate::{
    cases::{taxonomy::Urgency, timeline::Step},
    rules::Category,
};

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

    /// The first thing wrong with matchers a person sent at key path `at`, by key path
    /// (`{at}.grids[0]: ...`): nothing listed (that would match everything), an empty value or an
    /// empty grid prefix (which matches every grid), a category, urgency or action that does not
    /// exist, a list or value too long.
    pub fn problem(&self, at: &str) -> Option<String> {
        const MOST_VALUES: usize = 100;
        const LONGEST_VALUE: usize = 64;
        if self.is_empty() {
            return Some(format!("{at}: at least one list is needed (this would match everything)"));
        }
        let known: [(&str, &[String], fn(&str) -> bool); 5] = [
            ("categories", &self.categories, |v| Category::parse(v).is_some()),
            ("grids", &self.grids, |v| v.len() <= 15 && v.bytes().all(|b| b.is_ascii_digit())),
            ("cameras", &self.cameras, |_| true),
            ("urgencies", &self.urgencies, |v| Urgency::parse(v).is_some()),
            ("actions", &self.actions, |v| Step::parse(v).is_some()),
        ];
        for (list, values, valid) in known {
            if values.len() > MOST_VALUES {
                return Some(format!("{at}.{list}: more than {MOST_VALUES} values"));
            }
            for (index, value) in values.iter().enumerate() {
                let problem = if value.trim().is_empty() {
                    "empty (an empty value matches everything or nothing)".to_owned()
                } else if value.chars().count() > LONGEST_VALUE {
                    format!("longer than {LONGEST_VALUE} characters")
                } else if !valid(value) {
                    format!("'{value}' is not one of the {list}")
                } else {
                    continue;
                };
                return Some(format!("{at}.{list}[{index}]: {problem}"));
            }
        }
        None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_a_person_sends_are_checked_by_key_path() {
        let problem = |json: &str| serde_json::from_str::<Matchers>(json).unwrap().problem("m");
        assert_eq!(problem(r#"{"grids": ["110105"], "categories": ["litter"]}"#), None);
        assert!(problem("{}").unwrap().starts_with("m: at least one list"));
        assert!(problem(r#"{"grids": [""]}"#).unwrap().starts_with("m.grids[0]: empty"));
        assert!(problem(r#"{"grids": ["1101x"]}"#).unwrap().starts_with("m.grids[0]: '1101x'"));
        assert!(problem(r#"{"categories": ["litter", "noise"]}"#).unwrap().starts_with("m.categories[1]: 'noise'"));
        assert!(problem(r#"{"actions": ["teleport"]}"#).unwrap().starts_with("m.actions[0]"));
        assert!(problem(&format!(r#"{{"cameras": ["{}"]}}"#, "c".repeat(65))).unwrap().contains("longer than 64"));
    }
}
