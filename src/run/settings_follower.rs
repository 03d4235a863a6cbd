//! How a node of a cluster follows the settings an admin changed on a center (see
//! [`sharpeyes_alerting::cluster::SettingsFeed`]):
//!
//! - an **edge** starts, changes or stops the cameras of its share (rendezvous hashing over the edge
//!   nodes, as at start-up) as a center set them, hands their rules the zones an admin set on a
//!   center (which win over the camera's entry's), and a dwell rule's section as a center set it;
//!   it keeps them all (see [`super::settings_cache`]) and starts with them; on SIGHUP it follows its
//!   configuration file for the cameras of its share that no center set (as `run --role all` does);
//! - a **center** keeps every camera's site and maintenance windows (for the case engine, the
//!   notifier and the map) and the configuration it shows up to date with the changes made on the
//!   other centers.
//!
//! A setting that does not validate against this node's configuration is named in the log and not
//! applied; whatever ran before runs on.

use chrono::Utc;
use crossbeam_channel::Sender;
use sharpeyes_alerting::{
    cluster::{PublishedSettings, SettingsKind, shard},
    rules::{RulesUpdate, ZoneConfig},
};
use sharpeyes_ingest::Problem;
use std::collections::{HashMap, HashSet};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{
    camera_keeper::{CameraRunner, KeptCamera, Origin, file_changes},
    rules_keeper::push_dwell_rules,
    settings_cache::SettingsCache,
};
use crate::{
    config::{CameraConfig, Config},
    reload::{Configs, RuleOverride, RuleOverrides},
};

/// Which cameras this node runs: all (a center, or an edge alone), or its share among the edges.
pub struct Share {
    /// This node's name.
    pub node: String,
    /// The edge nodes; empty: this node takes every camera.
    pub nodes: Vec<String>,
}

impl Share {
    fn owns(&self, camera: &str) -> bool {
        self.nodes.is_empty() || shard::owner(camera, &self.nodes) == Some(self.node.as_str())
    }
}

/// Applies the centers' settings (and, on an edge, the file's on SIGHUP) to this node.
pub struct SettingsFollower {
    /// The cameras in force here.
    pub runner: CameraRunner,
    /// Which of them this node runs.
    pub share: Share,
    /// The dwell rules' sections the centers set.
    pub overrides: RuleOverrides,
    /// The running rules (none on a center).
    pub rule_updates: Option<Sender<RulesUpdate>>,
    /// The zones an admin set on a center, by camera: they win over the camera's entry's.
    pub zones_set: HashMap<String, Vec<ZoneConfig>>,
    /// Where an edge keeps the centers' settings for its next start (none on a center).
    pub cache: Option<SettingsCache>,
}

impl SettingsFollower {
    /// Follows `settings` and each configuration `configs` reads again, until both end; the settings
    /// kept in the cache are applied first.
    pub async fn run(mut self, mut settings: mpsc::Receiver<PublishedSettings>, mut configs: Configs) {
        let mut config = configs.borrow_and_update().clone();
        let mut set_by_center = HashSet::new();
        for kept in self.cache.as_ref().map(SettingsCache::settings).unwrap_or_default() {
            self.apply(&config, kept, &mut set_by_center);
        }
        let (mut following, mut reading) = (true, true);
        while following || reading {
            tokio::select! {
                setting = settings.recv(), if following => match setting {
                    Some(setting) => {
                        if let Some(cache) = &mut self.cache {
                            cache.keep(&setting);
                        }
                        self.apply(&config, setting, &mut set_by_center);
                    }
                    None => following = false,
                },
                changed = configs.changed(), if reading => match changed {
                    Ok(()) => {
                        config = configs.borrow_and_update().clone();
                        self.follow_file(&config, &set_by_center);
                    }
                    Err(_) => reading = false,
                },
            }
        }
    }

    fn apply(&mut self, config: &Config, setting: PublishedSettings, set_by_center: &mut HashSet<String>) {
        match setting.kind {
            SettingsKind::Camera => {
                set_by_center.insert(setting.name.clone());
                self.camera(config, setting);
            }
            SettingsKind::Zones => self.zones(setting),
            SettingsKind::Rule => self.rule(config, setting),
        }
    }

    /// Applies a camera's settings as a center published them.
    fn camera(&self, config: &Config, setting: PublishedSettings) {
        let id = setting.name;
        let running = self.runner.get(&id);
        let Some(entry) = setting.body.settings.filter(|_| self.share.owns(&id)) else {
            if running.is_some() {
                info!(camera = %id, "camera removed on a center (or another node owns it): it stops here");
                if let Err(refused) = self.runner.stop(&id) {
                    warn!(camera = %id, error = %refused, "the camera could not be stopped");
                }
            }
            return;
        };
        let camera = match config.checked_camera(entry) {
            Ok(camera) if camera.id == id => camera,
            Ok(camera) => {
                warn!(camera = %id, named = %camera.id, "a center's settings of this camera name another id: not applied");
                return;
            }
            Err(problems) => {
                warn!(camera = %id, problems = %Problem::list(&problems, "; "), "a center's settings of this camera are invalid here: not applied");
                return;
            }
        };
        let origin = Origin::api(
            setting.body.changed_at.unwrap_or_else(Utc::now),
            setting.body.changed_by.as_deref().unwrap_or("a center"),
        );
        let zones = self.zones_of(&camera);
        let kept = KeptCamera { camera, origin };
        let applied = match &running {
            None => {
                info!(camera = %id, "camera set on a center: it starts here");
                self.runner.start(kept, &zones)
            }
            Some(old) => self.runner.replace(old, kept, &zones),
        };
        if let Err(refused) = applied {
            warn!(camera = %id, error = %refused, "a center's settings of this camera were not applied");
        }
    }

    /// The zones `camera` runs with: those an admin set on a center, else its entry's.
    fn zones_of(&self, camera: &CameraConfig) -> Vec<ZoneConfig> {
        self.zones_set.get(&camera.id).cloned().unwrap_or_else(|| camera.zones.clone())
    }

    /// Applies a camera's zones as a center published them (back to its entry's when `None`) to its
    /// rules, when this node runs it; kept for when it starts here.
    fn zones(&mut self, setting: PublishedSettings) {
        let id = setting.name;
        let set = match setting.body.settings.map(serde_json::from_value::<Vec<ZoneConfig>>).transpose() {
            Ok(set) => set,
            Err(error) => {
                warn!(camera = %id, %error, "a center's zones of this camera do not read: not applied");
                return;
            }
        };
        if let Some(zones) = &set {
            let problems = ZoneConfig::validate_list(zones, "");
            if !problems.is_empty() {
                warn!(camera = %id, problems = %Problem::list(&problems, "; "), "a center's zones of this camera are invalid: not applied");
                return;
            }
        }
        let changed = match &set {
            Some(zones) => self.zones_set.insert(id.clone(), zones.clone()).as_ref() != Some(zones),
            None => self.zones_set.remove(&id).is_some(),
        };
        let Some(running) = self.runner.get(&id).filter(|_| changed) else {
            return;
        };
        let zones = set.unwrap_or(running.camera.zones);
        info!(camera = %id, zones = zones.len(), "zones set on a center: the rules watch them from the next frame");
        if let Err(refused) = self.runner.apply_zones(&id, &zones) {
            warn!(camera = %id, error = %refused, "a center's zones of this camera were not applied");
        }
    }

    /// Applies a dwell rule's section as a center published it (nothing when it is the one in force).
    fn rule(&self, config: &Config, setting: PublishedSettings) {
        let rule = setting.name;
        let in_force = self.overrides.all().get(&rule).map(|kept| serde_json::to_value(&kept.section).ok());
        match setting.body.settings {
            None if in_force.is_none() => return,
            None => {
                info!(%rule, "rule back to the file's section on a center");
                self.overrides.remove(&rule);
            }
            Some(section) => match config.checked_rule(&rule, section) {
                None => {
                    warn!(%rule, "a center set a rule this node does not know: not applied");
                    return;
                }
                Some(Err(problems)) => {
                    warn!(%rule, problems = %Problem::list(&problems, "; "), "a center's section of this rule is invalid here: not applied");
                    return;
                }
                Some(Ok(section)) => {
                    if in_force == Some(serde_json::to_value(&section).ok()) {
                        return;
                    }
                    info!(%rule, "rule's section set on a center: the rules take it from the next frame");
                    let kept = RuleOverride {
                        section,
                        changed_at: setting.body.changed_at.unwrap_or_else(Utc::now),
                        changed_by: setting.body.changed_by.unwrap_or_else(|| "a center".into()),
                    };
                    self.overrides.set(&rule, kept);
                }
            },
        }
        if let Some(updates) = &self.rule_updates
            && let Err(refused) = push_dwell_rules(config, &self.overrides, updates)
        {
            warn!(%rule, error = %refused, "the rule's new section was not applied");
        }
    }

    /// Follows a configuration file read again for the cameras of this node's share no center set.
    fn follow_file(&self, config: &Config, set_by_center: &HashSet<String>) {
        let share: Vec<CameraConfig> = config.cameras.iter().filter(|c| self.share.owns(&c.id)).cloned().collect();
        let changes = file_changes(&self.runner.running(), &share, |id| set_by_center.contains(id));
        self.runner.apply_file(changes, |camera| self.zones_of(camera));
    }
}
