use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, RwLock},
};

use sharpeyes_inference::FrameDetections;

use super::Zone;

/// Analysed frames of each camera whose detections are kept for previewing a zone change (their
/// outlines only: a few hundred bytes each); 150 is five minutes of key-frames 2 s apart.
pub const RECENT_FRAMES: usize = 150;

/// What each camera's rules look at: its zones, and its latest analysed frame with the detector's
/// findings (what the dashboard's tuning view draws). The latest frame is kept compact (its encoded
/// key-frame, decoded again when it is looked at) where it can be, else as its scaled RGB pixels; the
/// [`RECENT_FRAMES`] before it are kept as outlines with their detections.
#[derive(Debug, Default)]
pub struct CameraViews {
    zones: RwLock<HashMap<Arc<str>, Vec<Zone>>>,
    latest: Mutex<HashMap<Arc<str>, FrameDetections>>,
    recent: Mutex<HashMap<Arc<str>, VecDeque<FrameDetections>>>,
}

impl CameraViews {
    /// The views of cameras with these zones (cameras without zones may be left out).
    pub fn new(zones: HashMap<Arc<str>, Vec<Zone>>) -> Self {
        Self { zones: RwLock::new(zones), latest: Mutex::default(), recent: Mutex::default() }
    }

    /// Keeps `analysed` as its camera's latest view (compact: a frame that can be decoded again keeps
    /// its encoded key-frame instead of its pixels).
    pub fn record(&self, analysed: &FrameDetections) {
        let compact = FrameDetections { frame: analysed.frame.compact(), detections: analysed.detections.clone() };
        let mut latest = self.latest.lock().expect("camera views lock");
        latest.insert(analysed.frame.camera.clone(), compact);
        drop(latest);
        let outline = FrameDetections { frame: analysed.frame.outline(), detections: analysed.detections.clone() };
        let mut recent = self.recent.lock().expect("camera views lock");
        let frames = recent.entry(analysed.frame.camera.clone()).or_default();
        if frames.len() == RECENT_FRAMES {
            frames.pop_front();
        }
        frames.push_back(outline);
    }

    /// The camera's recent analysed frames, oldest first, as outlines with their detections.
    pub fn recent(&self, camera: &str) -> Vec<FrameDetections> {
        self.recent
            .lock()
            .expect("camera views lock")
            .get(camera)
            .map(|frames| frames.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The camera's latest analysed frame, if one came yet; it may be compact (see
    /// [`sharpeyes_ingest::Frame::with_pixels`]).
    pub fn latest(&self, camera: &str) -> Option<FrameDetections> {
        self.latest.lock().expect("camera views lock").get(camera).cloned()
    }

    /// The camera's zones (empty for a camera without any).
    pub fn zones(&self, camera: &str) -> Vec<Zone> {
        self.zones.read().expect("camera views lock").get(camera).cloned().unwrap_or_default()
    }

    /// Replaces the camera's zones (a change through the API).
    pub fn set_zones(&self, camera: Arc<str>, zones: Vec<Zone>) {
        self.zones.write().expect("camera views lock").insert(camera, zones);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use chrono::Utc;
    use sharpeyes_ingest::Frame;

    use super::*;
    use crate::rules::ZoneKind;

    fn analysed(camera: &str, width: u32) -> FrameDetections {
        let rgb = Bytes::from(vec![0; (width * 2 * 3) as usize]);
        FrameDetections { frame: Frame::from_rgb(camera.into(), Utc::now(), width, 2, rgb), detections: Vec::new() }
    }

    #[test]
    fn keeps_the_latest_frame_of_each_camera() {
        let zone = Zone::new("curb", ZoneKind::NoParking, vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0]]);
        let views = CameraViews::new(HashMap::from([(Arc::from("a"), vec![zone])]));
        assert!(views.latest("a").is_none());
        views.record(&analysed("a", 4));
        views.record(&analysed("b", 6));
        views.record(&analysed("a", 8));
        assert_eq!(views.latest("a").map(|v| v.frame.width), Some(8));
        assert_eq!(views.latest("b").map(|v| v.frame.width), Some(6));
        let recent: Vec<u32> = views.recent("a").iter().map(|v| v.frame.width).collect();
        assert_eq!(recent, [4, 8], "oldest first");
        assert!(views.recent("a").iter().all(|v| v.frame.rgb.is_empty()), "outlines, not pictures");
        for _ in 0..RECENT_FRAMES {
            views.record(&analysed("a", 2));
        }
        assert_eq!(views.recent("a").len(), RECENT_FRAMES);
        assert!(views.recent("a").iter().all(|v| v.frame.width == 2), "the oldest went first");
        assert_eq!(views.zones("a")[0].id.as_ref(), "curb");
        assert!(views.zones("b").is_empty());
        views.set_zones(Arc::from("b"), views.zones("a"));
        assert_eq!(views.zones("b")[0].id.as_ref(), "curb");
    }
}
