use std::{collections::HashMap, sync::Arc, thread::JoinHandle};

use crossbeam_channel::Receiver;
use sharpeyes_inference::FrameDetections;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{CameraViews, CameraViolation, Category, DwellRule, SceneChangeRule, Violation};

/// Every rule of one camera: a dwell rule per zone kind it has, and the scene-change analyser of its
/// `construction_watch` zones.
#[derive(Debug, Default)]
pub struct CameraRules {
    /// Dwell rules (parking, litter, construction by a site-trained model's classes).
    pub dwell: Vec<DwellRule>,
    /// Scene change in `construction_watch` zones.
    pub scene: Option<SceneChangeRule>,
}

impl CameraRules {
    /// The active rules among `dwell` and `scene`.
    pub fn new(dwell: Vec<DwellRule>, scene: SceneChangeRule) -> Self {
        Self {
            // A rule with zones but no classes yet is kept: a reloaded class mapping can switch it on.
            dwell: dwell.into_iter().filter(|rule| rule.kind().is_some()).collect(),
            scene: scene.is_active().then_some(scene),
        }
    }

    /// Whether any rule has a zone to watch (some may still wait for classes).
    pub fn watches_any_zone(&self) -> bool {
        !self.dwell.is_empty() || self.scene.is_some()
    }

    /// Gives each dwell rule of `category`'s zones the classes `classes` (a reloaded class mapping).
    fn set_classes(&mut self, category: Category, classes: &[String]) {
        self.dwell
            .iter_mut()
            .filter(|rule| rule.kind().is_some_and(|kind| kind.category() == category))
            .for_each(|rule| rule.set_classes(classes.to_vec()));
    }

    fn observe(&mut self, analysed: &FrameDetections) -> Vec<CameraViolation> {
        let mut violations: Vec<CameraViolation> =
            self.dwell.iter_mut().filter(|rule| rule.is_active()).flat_map(|rule| rule.observe(analysed)).collect();
        if let Some(scene) = &mut self.scene {
            violations.extend(scene.observe(analysed));
        }
        violations
    }
}

/// The rules thread: runs each camera's rules on its analysed frames and sends the violations to the
/// case engine. Sending blocks when the engine is behind (violations are never dropped). Stops when
/// the detections channel closes, which closes `violations_tx`.
pub struct RulesStage {
    rules: HashMap<Arc<str>, CameraRules>,
    detections_rx: Receiver<FrameDetections>,
    violations_tx: mpsc::Sender<Violation>,
    classes_rx: Receiver<ClassMapping>,
    views: Arc<CameraViews>,
}

/// The detector classes each camera category follows (parking, litter, construction), as a reloaded
/// configuration or manifest maps them.
pub type ClassMapping = Vec<(Category, Vec<String>)>;

impl RulesStage {
    /// The stage with the rules of each camera. A class mapping arriving on `classes_rx` (SIGHUP)
    /// applies to the rules of each category from the next frame — a rule that had no classes starts
    /// watching. Every analysed frame becomes its camera's latest view in `views`.
    pub fn new(
        rules: HashMap<Arc<str>, CameraRules>,
        detections_rx: Receiver<FrameDetections>,
        violations_tx: mpsc::Sender<Violation>,
        classes_rx: Receiver<ClassMapping>,
        views: Arc<CameraViews>,
    ) -> Self {
        Self { rules, detections_rx, violations_tx, classes_rx, views }
    }

    /// Runs on its own thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("rules".into()).spawn(move || self.run())
    }

    fn run(mut self) {
        for analysed in &self.detections_rx {
            while let Ok(mapping) = self.classes_rx.try_recv() {
                for (category, classes) in &mapping {
                    info!(category = category.as_str(), classes = ?classes, "classes reloaded");
                    self.rules.values_mut().for_each(|rules| rules.set_classes(*category, classes));
                }
            }
            self.views.record(&analysed);
            let Some(rules) = self.rules.get_mut(&analysed.frame.camera) else {
                continue;
            };
            for violation in rules.observe(&analysed) {
                if self.violations_tx.blocking_send(Violation::Camera(violation)).is_err() {
                    warn!("the case engine stopped; rules stop");
                    return;
                }
            }
        }
        info!("rules drained and stopped");
    }
}
