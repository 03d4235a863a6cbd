//! Changing a running camera's zones: the tuning view shows them at once, and the camera's rules
//! watch them from its next analysed frame. The camera's stream is not touched (no reconnect), and
//! no other camera's rules are. Before saving, a draft is previewed: the dwell rules built from it
//! replay the camera's recent analysed frames.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use chrono::{DateTime, Utc};
use crossbeam_channel::Sender;
use serde::Serialize;

use super::{CameraViews, RuleSettings, RulesUpdate, ZoneConfig};

/// The rules stage has stopped (the service is shutting down): the change was not applied.
#[derive(Debug, thiserror::Error)]
#[error("the rules have stopped: the zones were not applied")]
pub struct RulesStopped;

/// Hands zone changes to the running rules; cloned into the API.
#[derive(Clone, Debug)]
pub struct ZoneEditor {
    views: Arc<CameraViews>,
    updates: Sender<RulesUpdate>,
    from_file: Arc<RwLock<HashMap<String, Vec<ZoneConfig>>>>,
    settings: Arc<RwLock<RuleSettings>>,
}

impl ZoneEditor {
    /// The editor of the cameras of `from_file` (each camera this node analyses, with its zones as the
    /// configuration file gives them), sending to the rules stage on `updates`; previews build rules
    /// with `settings`, the rules stage's settings in force ([`super::RulesStage::settings`]).
    pub fn new(
        views: Arc<CameraViews>,
        updates: Sender<RulesUpdate>,
        from_file: HashMap<String, Vec<ZoneConfig>>,
        settings: Arc<RwLock<RuleSettings>>,
    ) -> Self {
        Self { views, updates, from_file: Arc::new(RwLock::new(from_file)), settings }
    }

    /// What `zones` (validated) would have done on `camera`'s recent analysed frames: the dwell rules
    /// built from them replay the frames' detections. Scene change is not previewed (it compares
    /// pictures, which the recent frames do not keep).
    pub fn preview(&self, camera: &str, zones: &[ZoneConfig]) -> ZonePreview {
        let built: Vec<_> = zones.iter().map(ZoneConfig::build).collect();
        let mut rules = self.settings.read().expect("rule settings lock").camera_rules(&built);
        let recent = self.views.recent(camera);
        let mut preview = ZonePreview {
            frames: recent.len(),
            from: recent.first().map(|analysed| analysed.frame.captured_at),
            until: recent.last().map(|analysed| analysed.frame.captured_at),
            zones: zones.iter().map(|zone| ZoneCount { zone: zone.id.clone(), frames: 0 }).collect(),
            latest: Vec::new(),
            cases: Vec::new(),
        };
        for (n, analysed) in recent.iter().enumerate() {
            let counted: Vec<_> = rules.dwell.iter().flat_map(|rule| rule.counted(analysed)).collect();
            for count in &mut preview.zones {
                count.frames += usize::from(counted.iter().any(|(zone, _)| **zone == *count.zone));
            }
            if n + 1 == recent.len() {
                preview.latest = counted
                    .iter()
                    .map(|(zone, d)| CountedObject {
                        zone: zone.to_string(),
                        class: d.class.to_string(),
                        score: d.score,
                        bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
                    })
                    .collect();
            }
            for violation in rules.dwell.iter_mut().flat_map(|rule| rule.observe(analysed)) {
                preview.cases.push(PreviewCase {
                    zone: violation.zone.to_string(),
                    category: violation.category.as_str().to_owned(),
                    class: violation.class.to_string(),
                    score: violation.score,
                    bbox: [violation.bbox.x1, violation.bbox.y1, violation.bbox.x2, violation.bbox.y2],
                    first_seen: violation.first_seen,
                    confirmed_at: violation.confirmed_at,
                });
            }
        }
        preview
    }

    /// The zones of `camera`'s own entry (the configuration file's, or as the API added it); `None`
    /// for a camera this node does not analyse.
    pub fn file_zones(&self, camera: &str) -> Option<Vec<ZoneConfig>> {
        self.from_file.read().expect("file zones lock").get(camera).cloned()
    }

    /// Records `zones` as the zones of `camera`'s own entry (in the file, or as the API added it),
    /// what resetting its zones goes back to; a camera new on this node starts being known. Its
    /// running zones are not changed: [`Self::apply`] does that.
    pub fn add_camera(&self, camera: &str, zones: Vec<ZoneConfig>) {
        self.from_file.write().expect("file zones lock").insert(camera.to_owned(), zones);
    }

    /// Forgets `camera` (removed from this node): its rules stop watching it.
    pub fn remove_camera(&self, camera: &str) -> Result<(), RulesStopped> {
        self.from_file.write().expect("file zones lock").remove(camera);
        self.apply(camera, &[])
    }

    /// Makes `zones` (validated by [`ZoneConfig::validate_list`]) `camera`'s zones.
    pub fn apply(&self, camera: &str, zones: &[ZoneConfig]) -> Result<(), RulesStopped> {
        let camera: Arc<str> = Arc::from(camera);
        let built: Vec<_> = zones.iter().map(ZoneConfig::build).collect();
        self.updates.send(RulesUpdate::Zones(camera.clone(), built.clone())).map_err(|_| RulesStopped)?;
        self.views.set_zones(camera, built);
        Ok(())
    }
}

/// What a draft of a camera's zones would have done on its recent analysed frames.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ZonePreview {
    /// Recent analysed frames replayed.
    pub frames: usize,
    /// The oldest one's time.
    pub from: Option<DateTime<Utc>>,
    /// The latest one's time.
    pub until: Option<DateTime<Utc>>,
    /// Per draft zone, how many of those frames had an object that counts in it.
    pub zones: Vec<ZoneCount>,
    /// The objects that count in the latest frame, by zone.
    pub latest: Vec<CountedObject>,
    /// What the dwell rules would have confirmed: each would have opened a case (or joined the open
    /// one of its place).
    pub cases: Vec<PreviewCase>,
}

/// Frames with an object that counts in a zone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ZoneCount {
    /// Zone id.
    pub zone: String,
    /// Frames.
    pub frames: usize,
}

/// An object that counts in a zone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountedObject {
    /// Zone id.
    pub zone: String,
    /// Detector class.
    pub class: String,
    /// Detector score.
    pub score: f32,
    /// `[x1, y1, x2, y2]` in the frame's pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

/// A violation the draft would have confirmed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewCase {
    /// Zone id.
    pub zone: String,
    /// Case category.
    pub category: String,
    /// Detector class of the object.
    pub class: String,
    /// Its score.
    pub score: f32,
    /// Its box, `[x1, y1, x2, y2]` in pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// When it started standing still.
    pub first_seen: DateTime<Utc>,
    /// When the dwell rule confirmed it.
    pub confirmed_at: DateTime<Utc>,
}
