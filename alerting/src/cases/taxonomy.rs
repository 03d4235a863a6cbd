//! Case categories and their codes (GB/T 30428.2 / CJ/T 214-2007 event and component classes as city
//! platforms use them), with each category's default urgency and time limits, from
//! `config/taxonomy.toml`.

use std::collections::{BTreeMap, HashMap};

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::rules::Category;

/// The taxonomy shipped in `config/taxonomy.toml`, used when the configuration names none.
pub const SHIPPED: &str = include_str!("../../../config/taxonomy.toml");

/// Whether a category is an event (事件: something happening) or a component (部件: a piece of city
/// furniture in a bad state). The two have separate code lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// 事件.
    Event,
    /// 部件.
    Component,
}

/// How urgent a case is (一般 / 紧急 / 特急); it sets the time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// 一般.
    Normal,
    /// 紧急.
    Urgent,
    /// 特急.
    Critical,
}

impl std::fmt::Display for Urgency {
    /// The snake_case name, as stored and served.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Urgency {
    /// Every urgency, least urgent first.
    pub const ALL: [Self; 3] = [Self::Normal, Self::Urgent, Self::Critical];

    /// The snake_case name used in the API and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Urgent => "urgent",
            Self::Critical => "critical",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == name)
    }
}

/// A category's entry, as written under `[categories.<name>]`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaxonomyEntry {
    /// Event or component.
    pub kind: ItemKind,
    /// Standard code: four digits (major and minor class).
    pub code: String,
    /// Standard Chinese name.
    pub name: String,
    /// Urgency of a new case.
    pub urgency: Urgency,
    /// Working hours from filing to handled, per urgency; every urgency needs one.
    pub time_limit_hours: BTreeMap<Urgency, f64>,
    /// A camera case whose detections score at least this is filed without an operator's check; below
    /// it (or without it) the case waits for an operator to verify or void it.
    #[serde(default)]
    pub auto_file_score: Option<f32>,
    /// What a citizen reporting this category may be asked (Open311's service attributes).
    #[serde(default)]
    pub questions: Vec<Question>,
}

/// A question a citizen's report may answer (an Open311 service attribute).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Its code, as reports send it (`attribute[<code>]`).
    pub code: String,
    /// The question, as the citizen reads it.
    pub description: String,
    /// `string`, `number`, `text` or `singlevaluelist`.
    pub datatype: QuestionType,
    /// Whether a report must answer it.
    #[serde(default)]
    pub required: bool,
    /// The answers a `singlevaluelist` allows.
    #[serde(default)]
    pub values: Vec<Answer>,
}

/// The kind of answer a question takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// A short text.
    String,
    /// A number.
    Number,
    /// A longer text.
    Text,
    /// One of `values`.
    Singlevaluelist,
}

/// One allowed answer of a `singlevaluelist` question.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// What a report sends.
    pub key: String,
    /// What the citizen reads.
    pub name: String,
}

impl Question {
    /// Checks `answer`, naming what is wrong.
    pub fn check(&self, answer: &str) -> Result<(), String> {
        match self.datatype {
            QuestionType::Number if answer.trim().parse::<f64>().is_err() => Err(format!("'{answer}' is not a number")),
            QuestionType::Singlevaluelist if !self.values.iter().any(|value| value.key == answer) => {
                let keys: Vec<&str> = self.values.iter().map(|value| value.key.as_str()).collect();
                Err(format!("'{answer}' is not one of {}", keys.join(", ")))
            }
            _ => Ok(()),
        }
    }
}

impl TaxonomyEntry {
    /// The time limit (working time) of a case of this category at `urgency`.
    pub fn time_limit(&self, urgency: Urgency) -> TimeDelta {
        let hours = self.time_limit_hours.get(&urgency).copied().unwrap_or_default();
        TimeDelta::seconds((hours * 3600.0).round() as i64)
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TaxonomyFile {
    categories: BTreeMap<String, TaxonomyEntry>,
}

/// Every category's entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Taxonomy {
    entries: HashMap<Category, TaxonomyEntry>,
}

impl Taxonomy {
    /// The shipped taxonomy.
    pub fn shipped() -> Self {
        Self::from_toml(SHIPPED).expect("the shipped taxonomy is valid (a unit test checks it)")
    }

    /// Parses `taxonomy.toml` text; every problem is reported with its key.
    pub fn from_toml(text: &str) -> Result<Self, Vec<String>> {
        let file: TaxonomyFile = toml::from_str(text).map_err(|err| vec![err.to_string()])?;
        let mut problems = Vec::new();
        let mut entries = HashMap::new();
        for (name, entry) in file.categories {
            let key = format!("categories.{name}");
            let Some(category) = Category::parse(&name) else {
                let known: Vec<_> = Category::ALL.iter().map(|c| c.as_str()).collect();
                problems.push(format!("{key}: unknown category (known: {})", known.join(", ")));
                continue;
            };
            if entry.code.len() != 4 || !entry.code.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(format!("{key}.code: '{}' is not a four-digit code", entry.code));
            }
            for urgency in Urgency::ALL {
                match entry.time_limit_hours.get(&urgency) {
                    Some(hours) if hours.is_finite() && *hours > 0.0 => {}
                    Some(hours) => problems
                        .push(format!("{key}.time_limit_hours.{}: {hours} is not a positive number", urgency.as_str())),
                    None => problems.push(format!("{key}.time_limit_hours.{}: missing", urgency.as_str())),
                }
            }
            if let Some(score) = entry.auto_file_score.filter(|s| !(0.0..=1.0).contains(s)) {
                problems.push(format!("{key}.auto_file_score: {score} is not between 0 and 1"));
            }
            for (index, question) in entry.questions.iter().enumerate() {
                let at = format!("{key}.questions[{index}]");
                if question.code.is_empty() || !question.code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    problems.push(format!("{at}.code: '{}' is not a code of letters, digits and _", question.code));
                }
                if (question.datatype == QuestionType::Singlevaluelist) == question.values.is_empty() {
                    problems.push(format!("{at}.values: a singlevaluelist needs values, other types none"));
                }
            }
            entries.insert(category, entry);
        }
        for category in Category::ALL {
            if !entries.contains_key(&category) {
                problems.push(format!("categories.{}: missing", category.as_str()));
            }
        }
        if problems.is_empty() { Ok(Self { entries }) } else { Err(problems) }
    }

    /// The entry of a category.
    pub fn entry(&self, category: Category) -> &TaxonomyEntry {
        self.entries.get(&category).expect("a taxonomy has every category (checked when it is loaded)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_taxonomy_follows_the_standard_catalogue() {
        let taxonomy = Taxonomy::shipped();
        assert_eq!(taxonomy.entry(Category::IllegalParking).code, "0505");
        assert_eq!(taxonomy.entry(Category::Litter).code, "0102");
        assert_eq!(taxonomy.entry(Category::IllegalConstruction).code, "0101");
        assert_eq!(taxonomy.entry(Category::ManholeCover).kind, ItemKind::Component);
        let parking = taxonomy.entry(Category::IllegalParking);
        assert!(parking.time_limit(Urgency::Critical) < parking.time_limit(Urgency::Normal));
    }

    #[test]
    fn problems_name_their_key() {
        let text = SHIPPED.replacen("code = \"0505\"", "code = \"55\"", 1).replacen(
            "critical = 0.5",
            "critical = -1",
            1,
        ) + "\n[categories.graffiti]\nkind = \"event\"\ncode = \"0999\"\nname = \"x\"\nurgency = \"normal\"\ntime_limit_hours = { normal = 1.0 }\n";
        let problems = Taxonomy::from_toml(&text).unwrap_err().join("\n");
        for expected in [
            "categories.illegal_parking.code: '55'",
            "categories.illegal_parking.time_limit_hours.critical: -1",
            "categories.graffiti: unknown category",
        ] {
            assert!(problems.contains(expected), "{expected} missing from:\n{problems}");
        }
        let missing = Taxonomy::from_toml("[categories]\n").unwrap_err().join("\n");
        assert!(missing.contains("categories.litter: missing"), "{missing}");
    }
}
