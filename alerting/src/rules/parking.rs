use std::{collections::HashSet, sync::Arc};

use chrono::TimeDelta;
use sharpeyes_inference::{BBox, Detection, FrameDetections};

use super::{CameraViolation, Tracker, TrackerConfig, Zone, ZoneKind};

/// Settings of the illegal-parking rule.
#[derive(Clone, Debug, PartialEq)]
pub struct ParkingRuleConfig {
    /// How long a vehicle must stand still in a `no_parking` zone.
    pub min_dwell: TimeDelta,
    /// Detector classes that count as vehicles.
    pub classes: Vec<String>,
    /// Least detector score of a vehicle.
    pub min_score: f32,
    /// Least share of frames a standing vehicle must be seen in (see [`super::Track::presence`]).
    pub min_presence: f32,
    /// Tracking of vehicles across frames.
    pub tracker: TrackerConfig,
}

impl Default for ParkingRuleConfig {
    fn default() -> Self {
        Self {
            min_dwell: TimeDelta::seconds(300),
            classes: ["car", "truck", "bus", "motorcycle"].map(String::from).to_vec(),
            min_score: 0.3,
            min_presence: 0.6,
            tracker: TrackerConfig::default(),
        }
    }
}

/// The illegal-parking rule of one camera: a vehicle whose box's bottom-centre stays still inside a
/// `no_parking` zone for `min_dwell` yields one [`CameraViolation`] per zone (never one per frame).
#[derive(Debug)]
pub struct ParkingRule {
    config: ParkingRuleConfig,
    zones: Vec<Zone>,
    tracker: Tracker,
    /// `(track id, zone index)` pairs already reported.
    reported: HashSet<(u64, usize)>,
}

impl ParkingRule {
    /// The rule for a camera's zones (only `no_parking` zones are watched).
    pub fn new(config: ParkingRuleConfig, zones: &[Zone]) -> Self {
        let zones: Vec<Zone> = zones.iter().filter(|z| z.kind == ZoneKind::NoParking).cloned().collect();
        Self { tracker: Tracker::new(config.tracker), config, zones, reported: HashSet::new() }
    }

    /// Replaces the detector classes that count as vehicles (a reloaded class mapping).
    pub fn set_classes(&mut self, classes: Vec<String>) {
        self.config.classes = classes;
    }

    /// Whether the camera has any zone this rule watches.
    pub fn is_active(&self) -> bool {
        !self.zones.is_empty()
    }

    /// Feeds one analysed frame; returns the violations it confirms.
    pub fn observe(&mut self, analysed: &FrameDetections) -> Vec<CameraViolation> {
        let frame = &analysed.frame;
        let at = frame.captured_at;
        let vehicles: Vec<&Detection> = analysed
            .detections
            .iter()
            .filter(|d| d.score >= self.config.min_score && self.config.classes.iter().any(|c| **c == *d.class))
            .collect();
        let assigned = self.tracker.update(&vehicles, at);
        let live: HashSet<u64> = self.tracker.tracks().iter().map(|t| t.id).collect();
        self.reported.retain(|(track, _)| live.contains(track));

        let (width, height) = (f64::from(frame.width), f64::from(frame.height));
        let inside = |zone: &Zone, bbox: &BBox| {
            let (x, y) = bbox.bottom_center();
            zone.contains(f64::from(x) / width, f64::from(y) / height)
        };
        let mut violations = Vec::new();
        for (z, zone) in self.zones.iter().enumerate() {
            let zone_boxes: Vec<BBox> = vehicles.iter().map(|d| d.bbox).filter(|b| inside(zone, b)).collect();
            for &t in &assigned {
                let track = &self.tracker.tracks()[t];
                let parked = track.stationary_for() >= self.config.min_dwell
                    && track.presence() >= self.config.min_presence
                    && inside(zone, &track.bbox)
                    && inside(zone, &track.anchor);
                if parked && self.reported.insert((track.id, z)) {
                    violations.push(CameraViolation {
                        camera: frame.camera.clone(),
                        zone: zone.id.clone(),
                        zone_points: zone.points.clone(),
                        category: zone.kind.category(),
                        track_id: track.id,
                        class: Arc::clone(&track.class),
                        score: track.score,
                        bbox: track.bbox,
                        zone_boxes: zone_boxes.clone(),
                        first_seen: track.stationary_since,
                        confirmed_at: at,
                        frame: frame.clone(),
                    });
                }
            }
        }
        violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use chrono::DateTime;
    use sharpeyes_ingest::Frame;

    fn frame_at(seconds: i64, detections: Vec<Detection>) -> FrameDetections {
        let at = DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap();
        let frame = Frame::from_rgb("cam".into(), at, 100, 100, Bytes::from(vec![0; 100 * 100 * 3]));
        FrameDetections { frame, detections }
    }

    fn vehicle(class: &str, x: f32, y: f32) -> Detection {
        Detection { class_id: 2, class: class.into(), score: 0.8, bbox: BBox::new(x, y, x + 20.0, y + 10.0) }
    }

    fn rule(min_dwell_s: i64) -> ParkingRule {
        let config = ParkingRuleConfig { min_dwell: TimeDelta::seconds(min_dwell_s), ..Default::default() };
        let lower_half = Zone::new("curb", ZoneKind::NoParking, vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]);
        ParkingRule::new(config, &[lower_half])
    }

    #[test]
    fn a_parked_vehicle_is_reported_once_however_long_it_stays() {
        let mut rule = rule(4);
        let mut reported = Vec::new();
        for s in (0..60).step_by(2) {
            reported.extend(rule.observe(&frame_at(s, vec![vehicle("truck", 10.0, 70.0), vehicle("car", 50.0, 70.0)])));
        }
        assert_eq!(reported.len(), 2, "one violation per vehicle, not per frame");
        assert!(reported.iter().all(|v| v.confirmed_at - v.first_seen >= TimeDelta::seconds(4)));
        assert_eq!(reported[0].zone_boxes.len(), 2);
    }

    #[test]
    fn vehicles_outside_the_zone_moving_or_of_other_classes_are_ignored() {
        let mut rule = rule(4);
        let mut reported = Vec::new();
        for s in 0..30 {
            let detections = vec![
                vehicle("car", 10.0, 10.0),                // parked, but outside the zone
                vehicle("car", (s * 7 % 80) as f32, 60.0), // driving through
                vehicle("person", 40.0, 80.0),             // not a vehicle
            ];
            reported.extend(rule.observe(&frame_at(s, detections)));
        }
        assert!(reported.is_empty(), "{reported:?}");
    }

    #[test]
    fn a_vehicle_that_leaves_and_returns_is_reported_again() {
        let mut rule = rule(4);
        let mut count = 0;
        for s in (0..10).step_by(2) {
            count += rule.observe(&frame_at(s, vec![vehicle("car", 10.0, 70.0)])).len();
        }
        count += rule.observe(&frame_at(40, vec![])).len();
        for s in (42..52).step_by(2) {
            count += rule.observe(&frame_at(s, vec![vehicle("car", 10.0, 70.0)])).len();
        }
        assert_eq!(count, 2);
    }
}
