use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use sharpeyes_inference::{BBox, Detection, FrameDetections};
use sharpeyes_ingest::Frame;

use super::violation::before_picture;
use super::{CameraViolation, FrameObject, Tracker, TrackerConfig, Zone, ZoneKind};

/// Settings of a dwell rule (one per zone kind); a zone may narrow them (see [`Zone`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DwellRuleConfig {
    /// How long an object must stand still in the zone.
    pub min_dwell: TimeDelta,
    /// Detector classes that count (vehicles for parking, litter classes for dumping ...).
    pub classes: Vec<String>,
    /// Least detector score of an object.
    pub min_score: f32,
    /// Least share of frames a standing object must be seen in (see [`super::Track::presence`]).
    pub min_presence: f32,
    /// Tracking of objects across frames.
    pub tracker: TrackerConfig,
    /// The city's offset from UTC: zone schedules are in local time.
    pub utc_offset: FixedOffset,
    /// A standing object is reported again this often while it stays (the case engine adds nothing
    /// for an object its open case has; after a closed case's cooldown, the repeat opens a new case).
    pub repeat: TimeDelta,
}

impl Default for DwellRuleConfig {
    fn default() -> Self {
        Self {
            min_dwell: TimeDelta::seconds(300),
            classes: ["car", "truck", "bus", "motorcycle"].map(String::from).to_vec(),
            min_score: 0.3,
            min_presence: 0.6,
            tracker: TrackerConfig::default(),
            utc_offset: FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset"),
            repeat: TimeDelta::seconds(60),
        }
    }
}

/// The dwell rule of one camera for one zone kind: an object of the rule's classes whose box's
/// bottom-centre stays still inside a zone of that kind for `min_dwell` yields a [`CameraViolation`]
/// per zone, repeated every `repeat` while it stays (never one per frame): a parked vehicle in a `no_parking` zone, litter left in a
/// `no_dumping` zone, a structure in a `construction_watch` zone (with a site-trained model's classes).
/// Each zone may narrow the classes, raise the score, bound the box area, mask out parts of itself
/// and be active only at some hours.
#[derive(Debug)]
pub struct DwellRule {
    config: DwellRuleConfig,
    zones: Vec<Zone>,
    tracker: Tracker,
    /// When each `(track id, zone index)` pair was last reported.
    reported: HashMap<(u64, usize), DateTime<Utc>>,
    /// The frame in which each track standing in a zone was first seen there (first-seen evidence),
    /// kept compact: its pixels are decoded again only when the track becomes a violation.
    first_frames: HashMap<u64, Frame>,
}

impl DwellRule {
    /// The rule for the camera's zones of `kind`.
    pub fn new(kind: ZoneKind, config: DwellRuleConfig, zones: &[Zone]) -> Self {
        let zones: Vec<Zone> = zones.iter().filter(|z| z.kind == kind).cloned().collect();
        Self {
            tracker: Tracker::new(config.tracker),
            config,
            zones,
            reported: HashMap::new(),
            first_frames: HashMap::new(),
        }
    }

    /// Replaces the rule's settings (a re-read `[rules.*]` section and class mapping) from the next
    /// frame: the objects it follows keep their tracks and the time they have stood.
    pub fn set_config(&mut self, config: DwellRuleConfig) {
        self.tracker.set_config(config.tracker);
        self.config = config;
    }

    /// The zone kind the rule watches, when it watches any zone.
    pub fn kind(&self) -> Option<ZoneKind> {
        self.zones.first().map(|zone| zone.kind)
    }

    /// Whether the camera has any zone this rule watches, with classes to look for.
    pub fn is_active(&self) -> bool {
        !self.zones.is_empty() && (!self.config.classes.is_empty() || self.zones.iter().any(|z| z.classes.is_some()))
    }

    /// Whether `detection` is one the rule follows anywhere (the tracker follows these).
    fn followed(&self, detection: &Detection) -> bool {
        let class_listed = |classes: &[String]| classes.iter().any(|c| **c == *detection.class);
        let least_score = self.zones.iter().map(|z| z.min_score.unwrap_or(self.config.min_score)).fold(1.0, f32::min);
        detection.score >= least_score
            && (class_listed(&self.config.classes)
                || self.zones.iter().any(|z| z.classes.as_deref().is_some_and(class_listed)))
    }

    /// Whether an object of `class` with `score` and `bbox` (pixels of a `width` × `height` frame)
    /// counts in `zone`: a class and score the zone follows, an area within its bounds, its
    /// bottom-centre inside the zone and outside its masks.
    fn counts(
        config: &DwellRuleConfig,
        zone: &Zone,
        class: &str,
        score: f32,
        bbox: &BBox,
        (width, height): (f64, f64),
    ) -> bool {
        let classes = zone.classes.as_deref().unwrap_or(&config.classes);
        let (x, y) = bbox.bottom_center();
        classes.iter().any(|c| c == class)
            && score >= zone.min_score.unwrap_or(config.min_score)
            && zone.area_fits(f64::from(bbox.area()) / (width * height))
            && zone.watches(f64::from(x) / width, f64::from(y) / height)
    }

    /// The detections of `analysed` that count in each zone active at its time, by zone id.
    pub fn counted<'a>(&self, analysed: &'a FrameDetections) -> Vec<(Arc<str>, &'a Detection)> {
        let frame = &analysed.frame;
        let size = (f64::from(frame.width), f64::from(frame.height));
        self.zones
            .iter()
            .filter(|zone| zone.is_active_at(frame.captured_at, self.config.utc_offset))
            .flat_map(|zone| {
                analysed
                    .detections
                    .iter()
                    .filter(|d| Self::counts(&self.config, zone, &d.class, d.score, &d.bbox, size))
                    .map(|d| (zone.id.clone(), d))
            })
            .collect()
    }

    /// Feeds one analysed frame; returns the violations it confirms.
    pub fn observe(&mut self, analysed: &FrameDetections) -> Vec<CameraViolation> {
        let frame = &analysed.frame;
        let at = frame.captured_at;
        let objects: Vec<&Detection> = analysed.detections.iter().filter(|d| self.followed(d)).collect();
        let assigned = self.tracker.update(&objects, at);
        let live: HashSet<u64> = self.tracker.tracks().iter().map(|t| t.id).collect();
        self.reported.retain(|(track, _), _| live.contains(track));
        self.first_frames.retain(|track, _| live.contains(track));

        let (width, height) = (f64::from(frame.width), f64::from(frame.height));
        let anchor = |bbox: &BBox| {
            let (x, y) = bbox.bottom_center();
            (f64::from(x) / width, f64::from(y) / height)
        };
        // A track that (re)starts standing inside a zone keeps this frame as its first-seen picture.
        for &t in &assigned {
            let track = &self.tracker.tracks()[t];
            let (x, y) = anchor(&track.anchor);
            if track.stationary_since == at && self.zones.iter().any(|zone| zone.watches(x, y)) {
                self.first_frames.insert(track.id, frame.compact());
            }
        }
        let mut violations = Vec::new();
        for (z, zone) in self.zones.iter().enumerate() {
            if !zone.is_active_at(at, self.config.utc_offset) {
                continue;
            }
            let config = &self.config;
            let counts =
                |class: &str, score: f32, bbox: &BBox| Self::counts(config, zone, class, score, bbox, (width, height));
            let zone_boxes: Vec<BBox> =
                objects.iter().filter(|d| counts(&d.class, d.score, &d.bbox)).map(|d| d.bbox).collect();
            for &t in &assigned {
                let track = &self.tracker.tracks()[t];
                let (x, y) = anchor(&track.anchor);
                let standing = track.stationary_for() >= zone.min_dwell.unwrap_or(self.config.min_dwell)
                    && track.presence() >= self.config.min_presence
                    && counts(&track.class, track.score, &track.bbox)
                    && zone.watches(x, y);
                let due = self.reported.get(&(track.id, z)).is_none_or(|last| at - *last >= self.config.repeat);
                if standing && due {
                    self.reported.insert((track.id, z), at);
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
                        before: self.first_frames.get(&track.id).and_then(before_picture),
                        frame_objects: analysed
                            .detections
                            .iter()
                            .map(|d| FrameObject { class: d.class.to_string(), bbox: d.bbox })
                            .collect(),
                        receipt: None,
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

    /// 2023-11-14 22:13:20 UTC, 06:13:20 the next morning at +08:00.
    fn frame_at(seconds: i64, detections: Vec<Detection>) -> FrameDetections {
        let at = DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap();
        let frame = Frame::from_rgb("cam".into(), at, 100, 100, Bytes::from(vec![0; 100 * 100 * 3]));
        FrameDetections { frame, detections }
    }

    fn vehicle(class: &str, x: f32, y: f32) -> Detection {
        Detection { class_id: 2, class: class.into(), score: 0.8, bbox: BBox::new(x, y, x + 20.0, y + 10.0) }
    }

    fn rule(min_dwell_s: i64) -> DwellRule {
        let config = DwellRuleConfig { min_dwell: TimeDelta::seconds(min_dwell_s), ..Default::default() };
        let lower_half = Zone::new("curb", ZoneKind::NoParking, vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]);
        DwellRule::new(ZoneKind::NoParking, config, &[lower_half])
    }

    #[test]
    fn a_zone_with_its_own_dwell_time_confirms_after_it_not_after_the_rules() {
        let config = DwellRuleConfig { min_dwell: TimeDelta::seconds(4), ..Default::default() };
        let mut bay = Zone::new("bay", ZoneKind::NoParking, vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]);
        bay.min_dwell = Some(TimeDelta::seconds(20));
        let mut rule = DwellRule::new(ZoneKind::NoParking, config, &[bay]);
        let confirmed: Vec<i64> = (0..40)
            .step_by(2)
            .filter(|s| !rule.observe(&frame_at(*s, vec![vehicle("car", 10.0, 60.0)])).is_empty())
            .collect();
        assert_eq!(confirmed, [20], "the zone's 20 s, not the rule's 4 s");
    }

    #[test]
    fn counted_objects_are_those_of_the_rules_classes_standing_in_a_zone() {
        let rule = rule(4);
        // A car standing in the lower half, a car in the upper half, a person in the lower half.
        let analysed =
            frame_at(0, vec![vehicle("car", 10.0, 60.0), vehicle("car", 10.0, 10.0), vehicle("person", 50.0, 60.0)]);
        let counted: Vec<(String, f32)> =
            rule.counted(&analysed).iter().map(|(zone, d)| (zone.to_string(), d.bbox.y1)).collect();
        assert_eq!(counted, [("curb".to_owned(), 60.0)]);
    }

    #[test]
    fn a_parked_vehicle_is_reported_once_per_repeat_however_long_it_stays() {
        let mut rule = rule(4);
        let mut reported = Vec::new();
        for s in (0..150).step_by(2) {
            reported.extend(rule.observe(&frame_at(s, vec![vehicle("truck", 10.0, 70.0), vehicle("car", 50.0, 70.0)])));
        }
        assert_eq!(reported.len(), 6, "per vehicle: at 4 s, then every 60 s (64, 124), not per frame");
        let truck: Vec<i64> = reported
            .iter()
            .filter(|v| &*v.class == "truck")
            .map(|v| (v.confirmed_at - v.first_seen).num_seconds())
            .collect();
        assert_eq!(truck, [4, 64, 124]);
        let first_seen = reported[0].before.as_ref().expect("the first-seen frame");
        assert_eq!(first_seen.captured_at, reported[0].first_seen, "the frame in which it stopped");
        assert!(reported.iter().all(|v| v.track_id == reported[0].track_id || v.track_id == reported[1].track_id));
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

#[cfg(test)]
mod zone_settings {
    use bytes::Bytes;
    use chrono::{DateTime, NaiveTime};
    use sharpeyes_ingest::Frame;

    use super::*;

    fn frame_at(seconds: i64, detections: Vec<Detection>) -> FrameDetections {
        // 2026-11-23 10:00:00 at +08:00.
        let at = DateTime::from_timestamp(1_795_831_200 + seconds, 0).unwrap();
        let frame = Frame::from_rgb("cam".into(), at, 100, 100, Bytes::from(vec![0; 100 * 100 * 3]));
        FrameDetections { frame, detections }
    }

    fn object(class: &str, score: f32, x: f32, y: f32, size: f32) -> Detection {
        Detection { class_id: 0, class: class.into(), score, bbox: BBox::new(x, y, x + size, y + size) }
    }

    fn full(kind: ZoneKind) -> Zone {
        Zone::new("z", kind, vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    }

    /// How many violations 40 s of the same detections every 2 s give under `zone`.
    fn violations(kind: ZoneKind, classes: &[&str], zone: Zone, detections: Vec<Detection>) -> Vec<CameraViolation> {
        let config = DwellRuleConfig {
            min_dwell: TimeDelta::seconds(10),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        let mut rule = DwellRule::new(kind, config, &[zone]);
        (0..40).step_by(2).flat_map(|s| rule.observe(&frame_at(s, detections.clone()))).collect()
    }

    #[test]
    fn litter_left_in_a_no_dumping_zone_is_a_litter_case() {
        let found = violations(
            ZoneKind::NoDumping,
            &["bottle", "suitcase"],
            full(ZoneKind::NoDumping),
            vec![object("suitcase", 0.6, 10.0, 60.0, 12.0), object("car", 0.9, 50.0, 60.0, 20.0)],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].category, &*found[0].class), (crate::rules::Category::Litter, "suitcase"));
        let parking = DwellRule::new(ZoneKind::NoParking, DwellRuleConfig::default(), &[full(ZoneKind::NoDumping)]);
        assert!(!parking.is_active(), "a parking rule ignores no_dumping zones");
    }

    #[test]
    fn a_zone_narrows_classes_and_score_and_bounds_the_area() {
        let things = vec![
            object("bottle", 0.5, 5.0, 5.0, 4.0),
            object("bottle", 0.9, 40.0, 40.0, 30.0),
            object("cup", 0.9, 70.0, 10.0, 5.0),
        ];
        let mut zone = full(ZoneKind::NoDumping);
        zone.classes = Some(vec!["bottle".into()]);
        zone.min_score = Some(0.7);
        let found = violations(ZoneKind::NoDumping, &["bottle", "cup"], zone.clone(), things.clone());
        assert_eq!(found.iter().map(|v| v.score).collect::<Vec<_>>(), [0.9], "only the confident bottle");
        // Boxes of 0.16 % and 9 % of the frame: keep those between 1 % and 5 %.
        zone.min_score = None;
        zone.classes = None;
        zone.min_area = 0.01;
        zone.max_area = 0.05;
        let found = violations(ZoneKind::NoDumping, &["bottle", "cup"], zone, things);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn masked_parts_and_inactive_hours_are_ignored() {
        let car = vec![object("car", 0.9, 10.0, 60.0, 20.0)];
        let mut masked = full(ZoneKind::NoParking);
        masked.add_mask(vec![[0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [0.0, 1.0]]);
        assert!(
            violations(ZoneKind::NoParking, &["car"], masked, car.clone()).is_empty(),
            "the car stands in the mask"
        );
        let time = |text| NaiveTime::parse_from_str(text, "%H:%M").unwrap();
        let mut night = full(ZoneKind::NoParking);
        night.active = Some((time("20:00"), time("07:00")));
        assert!(
            violations(ZoneKind::NoParking, &["car"], night, car.clone()).is_empty(),
            "10:00 is outside 20:00–07:00"
        );
        let mut day = full(ZoneKind::NoParking);
        day.active = Some((time("07:00"), time("20:00")));
        assert_eq!(violations(ZoneKind::NoParking, &["car"], day, car).len(), 1);
    }
}
