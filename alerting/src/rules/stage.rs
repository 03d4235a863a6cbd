use std::{collections::HashMap, sync::Arc, thread::JoinHandle};

use crossbeam_channel::Receiver;
use sharpeyes_inference::FrameDetections;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{CameraViews, CameraViolation, DwellRule, SceneChangeRule, Violation, ZoneKind};

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
            dwell: dwell.into_iter().filter(DwellRule::is_active).collect(),
            scene: scene.is_active().then_some(scene),
        }
    }

    /// Whether any rule watches a zone.
    pub fn is_active(&self) -> bool {
        !self.dwell.is_empty() || self.scene.is_some()
    }

    fn observe(&mut self, analysed: &FrameDetections) -> Vec<CameraViolation> {
        let mut violations: Vec<CameraViolation> =
            self.dwell.iter_mut().flat_map(|rule| rule.observe(analysed)).collect();
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
    vehicle_classes_rx: Receiver<Vec<String>>,
    views: Arc<CameraViews>,
}

impl RulesStage {
    /// The stage with the rules of each camera. New vehicle classes (a reloaded class mapping)
    /// arriving on `vehicle_classes_rx` apply to the parking rules from the next frame. Every analysed
    /// frame becomes its camera's latest view in `views`.
    pub fn new(
        rules: HashMap<Arc<str>, CameraRules>,
        detections_rx: Receiver<FrameDetections>,
        violations_tx: mpsc::Sender<Violation>,
        vehicle_classes_rx: Receiver<Vec<String>>,
        views: Arc<CameraViews>,
    ) -> Self {
        Self { rules, detections_rx, violations_tx, vehicle_classes_rx, views }
    }

    /// Runs on its own thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("rules".into()).spawn(move || self.run())
    }

    fn run(mut self) {
        for analysed in &self.detections_rx {
            while let Ok(classes) = self.vehicle_classes_rx.try_recv() {
                info!(classes = ?classes, "vehicle classes reloaded");
                self.rules
                    .values_mut()
                    .flat_map(|rules| rules.dwell.iter_mut())
                    .filter(|rule| rule.kind() == Some(ZoneKind::NoParking))
                    .for_each(|rule| rule.set_classes(classes.clone()));
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
