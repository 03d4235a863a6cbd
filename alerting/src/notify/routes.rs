//! The routing tree: which receivers hear of which timeline entries.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use sharpeyes_ingest::{Problem, units::Seconds};

use crate::store::{Matchers, TimelineEntry};

/// What a grouped route batches its entries by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupLabel {
    /// The case category.
    Category,
    /// The grid cell.
    Grid,
    /// The camera (empty for sensor and citizen cases).
    Camera,
    /// The urgency.
    Urgency,
    /// The case itself: every entry of one case in one batch.
    Case,
}

/// How a route batches entries for its receivers (Alertmanager's `group_by`, `group_wait`,
/// `group_interval`): the first entry of a new group waits `wait` for others to join it; once sent, a
/// group sends what joined it at most every `interval`.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouping {
    /// The labels whose values make the group key.
    pub by: Vec<GroupLabel>,
    /// Wait before the first batch of a new group.
    pub wait: TimeDelta,
    /// Least time between two batches of a group.
    pub interval: TimeDelta,
}

impl Grouping {
    /// The group `entry` belongs to: `grid=110105001001001,category=litter`.
    pub fn key(&self, entry: &TimelineEntry) -> String {
        let value = |label: GroupLabel| match label {
            GroupLabel::Category => format!("category={}", entry.category),
            GroupLabel::Grid => format!("grid={}", entry.grid),
            GroupLabel::Camera => format!("camera={}", entry.camera),
            GroupLabel::Urgency => format!("urgency={}", entry.urgency),
            GroupLabel::Case => format!("case={}", entry.case_id),
        };
        self.by.iter().map(|&label| value(label)).collect::<Vec<_>>().join(",")
    }

    /// When a group whose oldest waiting entry came at `first_held`, last sent at `last_flush`, is due.
    pub fn due(&self, first_held: DateTime<Utc>, last_flush: Option<DateTime<Utc>>) -> DateTime<Utc> {
        match last_flush {
            Some(flushed) => (flushed + self.interval).max(first_held),
            None => first_held + self.wait,
        }
    }
}

/// Where a routed entry goes: a receiver, and the grouping of the route that named it (none: at once).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Receiver id.
    pub receiver: String,
    /// The route's grouping.
    pub grouping: Option<Grouping>,
    /// How often the receiver is reminded of the case while it stays open (none: never).
    pub repeat: Option<TimeDelta>,
}

/// Grouping settings as written on a route; a child takes its parent's where it gives none.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
struct GroupSettings {
    by: Option<Vec<GroupLabel>>,
    wait_s: Option<Seconds>,
    interval_s: Option<Seconds>,
    repeat_s: Option<Seconds>,
}

/// Alertmanager's defaults.
const DEFAULT_GROUP_WAIT: Seconds = Seconds::new(30.0);
const DEFAULT_GROUP_INTERVAL: Seconds = Seconds::new(300.0);

impl GroupSettings {
    fn under(&self, parent: &GroupSettings) -> GroupSettings {
        GroupSettings {
            by: self.by.clone().or_else(|| parent.by.clone()),
            wait_s: self.wait_s.or(parent.wait_s),
            interval_s: self.interval_s.or(parent.interval_s),
            repeat_s: self.repeat_s.or(parent.repeat_s),
        }
    }

    fn repeat(&self) -> Option<TimeDelta> {
        self.repeat_s.map(Seconds::time_delta)
    }

    fn grouping(&self) -> Option<Grouping> {
        let by = self.by.clone().filter(|by| !by.is_empty())?;
        Some(Grouping {
            by,
            wait: self.wait_s.unwrap_or(DEFAULT_GROUP_WAIT).time_delta(),
            interval: self.interval_s.unwrap_or(DEFAULT_GROUP_INTERVAL).time_delta(),
        })
    }
}

/// A node of the routing tree (Alertmanager's model). An entry enters at the root and goes down into
/// the first child that matches it — and into later matching siblings while the matching child says
/// `continue` — to the deepest nodes that match; a node whose children take nothing sends it to its own
/// receivers. The root matches everything.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
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
    /// Labels to batch entries by (`group_by = ["grid", "category"]`); none or empty: each entry is
    /// sent at once. Children inherit it, and the two times below.
    #[serde(default)]
    pub group_by: Option<Vec<GroupLabel>>,
    /// Seconds a new group waits for more entries (default 30).
    #[serde(default)]
    pub group_wait_s: Option<Seconds>,
    /// Least seconds between two batches of a group (default 300).
    #[serde(default)]
    pub group_interval_s: Option<Seconds>,
    /// Seconds after which a receiver is reminded of a case still open (`remind` entries); inherited;
    /// none: no reminders.
    #[serde(default)]
    pub repeat_interval_s: Option<Seconds>,
}

impl Route {
    /// The receivers of `entry`, each once, in the order the tree names them.
    pub fn receivers_of(&self, entry: &TimelineEntry) -> Vec<String> {
        self.targets(entry).into_iter().map(|target| target.receiver).collect()
    }

    /// The receivers of `entry` with the grouping of the route that names each (the first one that does).
    pub fn targets(&self, entry: &TimelineEntry) -> Vec<Target> {
        let mut targets = Vec::new();
        self.walk(entry, &GroupSettings::default(), &mut targets);
        targets
    }

    /// How the tree sends `entry` to `receiver`, if it sends it there at all.
    pub fn target_of(&self, entry: &TimelineEntry, receiver: &str) -> Option<Target> {
        self.targets(entry).into_iter().find(|target| target.receiver == receiver)
    }

    fn settings(&self) -> GroupSettings {
        GroupSettings {
            by: self.group_by.clone(),
            wait_s: self.group_wait_s,
            interval_s: self.group_interval_s,
            repeat_s: self.repeat_interval_s,
        }
    }

    fn walk(&self, entry: &TimelineEntry, inherited: &GroupSettings, targets: &mut Vec<Target>) -> bool {
        if !self.matchers.matches(entry) {
            return false;
        }
        let settings = self.settings().under(inherited);
        let mut taken = false;
        for child in &self.routes {
            if child.walk(entry, &settings, targets) {
                taken = true;
                if !child.continue_matching {
                    break;
                }
            }
        }
        if !taken {
            for receiver in &self.receivers {
                if !targets.iter().any(|t| t.receiver == *receiver) {
                    targets.push(Target {
                        receiver: receiver.clone(),
                        grouping: settings.grouping(),
                        repeat: settings.repeat(),
                    });
                }
            }
        }
        true
    }

    /// Group and reminder times that are not positive, as problems at their key paths.
    pub fn bad_group_times(&self, path: &str) -> Vec<Problem> {
        let times = [
            ("group_wait_s", self.group_wait_s),
            ("group_interval_s", self.group_interval_s),
            ("repeat_interval_s", self.repeat_interval_s),
        ];
        let mut bad: Vec<Problem> =
            times.into_iter().filter_map(|(key, seconds)| seconds?.check_positive(&format!("{path}.{key}"))).collect();
        for (i, child) in self.routes.iter().enumerate() {
            bad.extend(child.bad_group_times(&format!("{path}.routes[{i}]")));
        }
        bad
    }

    /// The shortest reminder interval anywhere in the tree, if any route sets one.
    pub fn shortest_repeat(&self) -> Option<TimeDelta> {
        let own = self.repeat_interval_s.map(Seconds::time_delta);
        self.routes.iter().filter_map(Route::shortest_repeat).chain(own).min()
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
pub(crate) mod tests {
    use chrono::Utc;

    use super::*;
    use crate::{
        cases::{
            taxonomy::Urgency,
            timeline::{Actor, Step},
            workflow::Status,
        },
        rules::Category,
    };

    /// A report of a case of `category` in `grid`, or another step (`action`), as the outbox reads it.
    pub(crate) fn entry(category: &str, grid: &str, urgency: &str, action: &str) -> TimelineEntry {
        TimelineEntry {
            id: 1,
            case_id: 1,
            at: Utc::now(),
            actor: "camera:cam-1".into(),
            role: Actor::Camera,
            action: Step::parse(action).expect("a timeline step"),
            from_status: None,
            to_status: Status::Reported,
            note: String::new(),
            code: "0505".into(),
            category: Category::parse(category).expect("a category"),
            camera: "cam-1".into(),
            zone: "curb".into(),
            grid: grid.into(),
            urgency: Urgency::parse(urgency).expect("an urgency"),
            source: "camera".into(),
            device: String::new(),
            plate: None,
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
    fn groupings_are_inherited_and_keyed_by_their_labels() {
        let tree: Route = toml::from_str(
            r#"
receivers = ["command-center"]
group_by = ["grid", "category"]
group_wait_s = 10
repeat_interval_s = 3600
[[routes]]
match = { categories = ["litter"] }
receivers = ["sanitation"]
group_interval_s = 60
repeat_interval_s = 600
[[routes]]
match = { urgencies = ["urgent"] }
receivers = ["duty-phone"]
group_by = []
"#,
        )
        .unwrap();
        let litter = entry("litter", "110105001001001", "normal", "report");
        let targets = tree.targets(&litter);
        let grouping = targets[0].grouping.clone().expect("inherited group_by");
        assert_eq!(
            (targets[0].receiver.as_str(), grouping.key(&litter)),
            ("sanitation", "grid=110105001001001,category=litter".to_owned())
        );
        assert_eq!((grouping.wait, grouping.interval), (TimeDelta::seconds(10), TimeDelta::seconds(60)));
        assert_eq!(targets[0].repeat, Some(TimeDelta::seconds(600)));
        assert_eq!(tree.shortest_repeat(), Some(TimeDelta::seconds(600)));
        let root = tree.targets(&entry("illegal_parking", "110105001001001", "normal", "report"));
        assert_eq!(root[0].grouping.as_ref().unwrap().interval, TimeDelta::seconds(300), "Alertmanager's default");
        assert_eq!(root[0].repeat, Some(TimeDelta::hours(1)));
        let urgent = tree.targets(&entry("illegal_parking", "110105001001001", "urgent", "report"));
        assert_eq!(
            (urgent[0].receiver.as_str(), urgent[0].grouping.clone()),
            ("duty-phone", None),
            "group_by = [] sends at once"
        );

        let t0 = Utc::now();
        assert_eq!(grouping.due(t0, None), t0 + TimeDelta::seconds(10), "a new group waits");
        let flushed = t0 - TimeDelta::seconds(5);
        assert_eq!(grouping.due(t0, Some(flushed)), flushed + TimeDelta::seconds(60), "then every interval");
        let long_ago = t0 - TimeDelta::hours(1);
        assert_eq!(grouping.due(t0, Some(long_ago)), t0, "a quiet group sends its next entry at once");
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
