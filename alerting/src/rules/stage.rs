use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    thread::JoinHandle,
};

use crossbeam_channel::Receiver;
use sharpeyes_inference::FrameDetections;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{
    CameraViews, DwellRule, DwellRuleConfig, SceneChangeConfig, SceneChangeRule, StaticObjectConfig, StaticObjectRule,
    Violation, Zone, ZoneKind,
};

/// Every rule of one camera: a dwell rule per zone kind it has, the scene-change analyser of its
/// `construction_watch` zones and the static-object rule of its `no_dumping` zones.
#[derive(Debug, Default)]
pub struct CameraRules {
    /// Dwell rules (parking, litter, construction by a site-trained model's classes).
    pub dwell: Vec<DwellRule>,
    /// Scene change in `construction_watch` zones.
    pub scene: Option<SceneChangeRule>,
    /// Objects left in `no_dumping` zones (and the other kinds configured).
    pub static_objects: Option<StaticObjectRule>,
}

impl CameraRules {
    /// The active rules among `dwell`, `scene` and `static_objects`.
    pub fn new(dwell: Vec<DwellRule>, scene: SceneChangeRule, static_objects: StaticObjectRule) -> Self {
        Self {
            // A rule with zones but no classes yet is kept: a reloaded class mapping can switch it on.
            dwell: dwell.into_iter().filter(|rule| rule.kind().is_some()).collect(),
            scene: scene.is_active().then_some(scene),
            static_objects: static_objects.is_active().then_some(static_objects),
        }
    }

    /// Whether any rule has a zone to watch (some may still wait for classes).
    pub fn watches_any_zone(&self) -> bool {
        !self.dwell.is_empty() || self.scene.is_some() || self.static_objects.is_some()
    }

    /// Gives the dwell rule of `kind`'s zones the settings `config` (a re-read configuration).
    fn set_dwell(&mut self, kind: ZoneKind, config: &DwellRuleConfig) {
        self.dwell.iter_mut().filter(|rule| rule.kind() == Some(kind)).for_each(|rule| rule.set_config(config.clone()));
    }

    fn observe(&mut self, analysed: &FrameDetections) -> Vec<Violation> {
        let mut violations: Vec<Violation> = self
            .dwell
            .iter_mut()
            .filter(|rule| rule.is_active())
            .flat_map(|rule| rule.observe(analysed))
            .map(Violation::from)
            .collect();
        if let Some(scene) = &mut self.scene {
            violations.extend(scene.observe(analysed).into_iter().map(Violation::from));
        }
        if let Some(static_objects) = &mut self.static_objects {
            violations.extend(static_objects.observe(analysed));
        }
        violations
    }
}

/// The settings every camera's rules are built from: a dwell rule per zone kind, the scene-change
/// analyser of `construction_watch` zones and the static-object rule.
#[derive(Clone, Debug)]
pub struct RuleSettings {
    /// The dwell rule of each zone kind.
    pub dwell: Vec<(ZoneKind, DwellRuleConfig)>,
    /// Scene change in `construction_watch` zones.
    pub scene: SceneChangeConfig,
    /// Objects left in the zones of its kinds.
    pub static_objects: Arc<StaticObjectConfig>,
}

impl RuleSettings {
    /// The rules of a camera with `zones`.
    pub fn camera_rules(&self, zones: &[Zone]) -> CameraRules {
        let dwell = self.dwell.iter().map(|(kind, rule)| DwellRule::new(*kind, rule.clone(), zones)).collect();
        CameraRules::new(
            dwell,
            SceneChangeRule::new(self.scene, zones),
            StaticObjectRule::new(self.static_objects.clone(), zones),
        )
    }

    /// Makes `config` the dwell rule of `kind`'s zones.
    fn set_dwell(&mut self, kind: ZoneKind, config: &DwellRuleConfig) {
        self.dwell.iter_mut().filter(|(of, _)| *of == kind).for_each(|(_, rule)| *rule = config.clone());
    }
}

/// A change to the running rules, applied before the next analysed frame.
#[derive(Clone, Debug)]
pub enum RulesUpdate {
    /// Each zone kind's dwell rule (SIGHUP: the re-read `[rules.*]` sections and class mapping): standing
    /// objects keep their time; a rule that had no classes starts watching.
    Dwell(Vec<(ZoneKind, DwellRuleConfig)>),
    /// A camera's new zones (`PUT /api/v1/cameras/{id}/zones`): its rules are built again, so their
    /// dwell timers start again; the other cameras' rules are untouched.
    Zones(Arc<str>, Vec<Zone>),
}

/// The rules thread: runs each camera's rules on its analysed frames and sends the violations to the
/// case engine. Sending blocks when the engine is behind (violations are never dropped). Stops when
/// the detections channel closes, which closes `violations_tx`.
pub struct RulesStage {
    settings: Arc<RwLock<RuleSettings>>,
    rules: HashMap<Arc<str>, CameraRules>,
    detections_rx: Receiver<FrameDetections>,
    violations_tx: mpsc::Sender<Violation>,
    updates_rx: Receiver<RulesUpdate>,
    views: Arc<CameraViews>,
}

impl RulesStage {
    /// The stage with the rules `settings` builds for each camera's `zones`. Updates arriving on
    /// `updates_rx` apply from the next frame. Every analysed frame becomes its camera's latest view
    /// in `views`.
    pub fn new(
        settings: RuleSettings,
        zones: &HashMap<Arc<str>, Vec<Zone>>,
        detections_rx: Receiver<FrameDetections>,
        violations_tx: mpsc::Sender<Violation>,
        updates_rx: Receiver<RulesUpdate>,
        views: Arc<CameraViews>,
    ) -> Self {
        let rules = zones
            .iter()
            .map(|(camera, zones)| (camera.clone(), settings.camera_rules(zones)))
            .filter(|(_, rules)| rules.watches_any_zone())
            .collect();
        Self { settings: Arc::new(RwLock::new(settings)), rules, detections_rx, violations_tx, updates_rx, views }
    }

    /// The settings in force, which previews of zone changes build their rules with (updates change
    /// them).
    pub fn settings(&self) -> Arc<RwLock<RuleSettings>> {
        self.settings.clone()
    }

    /// Runs on its own thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("rules".into()).spawn(move || self.run())
    }

    fn apply(&mut self, update: RulesUpdate) {
        match update {
            RulesUpdate::Dwell(rules) => {
                for (kind, config) in &rules {
                    info!(
                        rule = kind.category().as_str(),
                        classes = ?config.classes,
                        min_dwell_s = config.min_dwell.as_seconds_f64(),
                        min_score = config.min_score,
                        "dwell rule reloaded"
                    );
                    self.settings.write().expect("rule settings lock").set_dwell(*kind, config);
                    self.rules.values_mut().for_each(|rules| rules.set_dwell(*kind, config));
                }
            }
            RulesUpdate::Zones(camera, zones) => {
                let rules = self.settings.read().expect("rule settings lock").camera_rules(&zones);
                info!(camera = %camera, zones = zones.len(), "zones changed: the camera's rules start again");
                if rules.watches_any_zone() {
                    self.rules.insert(camera, rules);
                } else {
                    self.rules.remove(&camera);
                }
            }
        }
    }

    fn run(mut self) {
        let (detections, updates) = (self.detections_rx.clone(), self.updates_rx.clone());
        for analysed in &detections {
            while let Ok(update) = updates.try_recv() {
                self.apply(update);
            }
            self.views.record(&analysed);
            let Some(rules) = self.rules.get_mut(&analysed.frame.camera) else {
                continue;
            };
            for violation in rules.observe(&analysed) {
                if self.violations_tx.blocking_send(violation).is_err() {
                    warn!("the case engine stopped; rules stop");
                    return;
                }
            }
        }
        info!("rules drained and stopped");
    }
}
