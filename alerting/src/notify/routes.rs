//! The routing tree: which receivers hear of which timeline entries.

use serde::{Deserialize, Serialize};

use crate::store::TimelineEntry;

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
        listed(&self.categories, &entry.category)
            && (self.grids.is_empty() || self.grids.iter().any(|prefix| entry.grid.starts_with(prefix.as_str())))
            && listed(&self.cameras, &entry.camera)
            && listed(&self.urgencies, &entry.urgency)
            && listed(&self.actions, &entry.action)
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

/// A node of the routing tree (Alertmanager's model). An entry enters at the root and goes down into
/// the first child that matches it — and into later matching siblings while the matching child says
/// `continue` — to the deepest nodes that match; a node whose children take nothing sends it to its own
/// receivers. The root matches everything.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Route {
    /// What the node takes (`match = { categories = [...], grids = [...] }`); empty: everything.
    #[serde(default, rename = "match")]
    pub matchers: Matchers,
    /// Receiver ids.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// After matching, also try the following siblings.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Child routes, tried in order.
    #[serde(default)]
    pub routes: Vec<Route>,
}

impl Route {
    /// The receivers of `entry`, each once, in the order the tree names them.
    pub fn receivers_of(&self, entry: &TimelineEntry) -> Vec<String> {
        let mut receivers = Vec::new();
        self.walk(entry, &mut receivers);
        receivers
    }

    fn walk(&self, entry: &TimelineEntry, receivers: &mut Vec<String>) -> bool {
        if !self.matchers.matches(entry) {
            return false;
        }
        let mut taken = false;
        for child in &self.routes {
            if child.walk(entry, receivers) {
                taken = true;
                if !child.continue_matching {
                    break;
                }
            }
        }
        if !taken {
            for receiver in &self.receivers {
                if !receivers.contains(receiver) {
                    receivers.push(receiver.clone());
                }
            }
        }
        true
    }

    /// Every receiver id the tree names, with its key path (for validation).
    pub fn named_receivers(&self, path: &str) -> Vec<(String, String)> {
        let mut named: Vec<(String, String)> =
            self.receivers.iter().enumerate().map(|(i, r)| (format!("{path}.receivers[{i}]"), r.clone())).collect();
        for (i, child) in self.routes.iter().enumerate() {
            named.extend(child.named_receivers(&format!("{path}.routes[{i}]")));
        }
        named
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    pub(crate) fn entry(category: &str, grid: &str, urgency: &str, action: &str) -> TimelineEntry {
        TimelineEntry {
            id: 1,
            case_id: 1,
            at: Utc::now(),
            actor: "camera:cam-1".into(),
            role: "camera".into(),
            action: action.into(),
            from_status: String::new(),
            to_status: "reported".into(),
            note: String::new(),
            code: "0505".into(),
            category: category.into(),
            camera: "cam-1".into(),
            zone: "curb".into(),
            grid: grid.into(),
            urgency: urgency.into(),
            source: "camera".into(),
            device: String::new(),
        }
    }

    fn tree() -> Route {
        toml::from_str(
            r#"
receivers = ["command-center"]
[[routes]]
match = { categories = ["illegal_parking"] }
receivers = ["traffic-police"]
continue = true
  [[routes.routes]]
  match = { grids = ["110105002"] }
  receivers = ["street-2-office"]
[[routes]]
match = { urgencies = ["urgent", "critical"] }
receivers = ["duty-phone"]
[[routes]]
match = { grids = ["110105"], actions = ["supervise"] }
receivers = ["supervision-office"]
"#,
        )
        .unwrap()
    }

    #[test]
    fn an_entry_goes_to_the_deepest_matching_routes() {
        let tree = tree();
        let to = |category, grid, urgency, action| tree.receivers_of(&entry(category, grid, urgency, action));
        assert_eq!(to("litter", "110105001001001", "normal", "report"), ["command-center"], "no child: the root");
        assert_eq!(to("illegal_parking", "110105001001001", "normal", "report"), ["traffic-police"]);
        assert_eq!(to("illegal_parking", "110105002001001", "normal", "report"), ["street-2-office"], "deepest only");
        assert_eq!(
            to("illegal_parking", "110105001001001", "urgent", "report"),
            ["traffic-police", "duty-phone"],
            "continue: the next sibling too"
        );
        assert_eq!(to("manhole_cover", "110105001001001", "urgent", "supervise"), ["duty-phone"], "first match stops");
        assert_eq!(to("litter", "110105001001001", "normal", "supervise"), ["supervision-office"]);
        assert_eq!(to("litter", "110108001001001", "normal", "supervise"), ["command-center"], "other district");
    }

    #[test]
    fn every_named_receiver_has_its_path() {
        let named = tree().named_receivers("notify.route");
        assert_eq!(named[0], ("notify.route.receivers[0]".to_owned(), "command-center".to_owned()));
        assert!(named.contains(&("notify.route.routes[0].routes[0].receivers[0]".into(), "street-2-office".into())));
        assert_eq!(named.len(), 5);
    }
}
