use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use sharpeyes_inference::{BBox, Detection};

/// Tuning of the [`Tracker`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerConfig {
    /// Least IoU for a detection to continue a track.
    pub match_iou: f32,
    /// A track unseen for longer than this ends (covers key-frame spacing and short occlusions).
    pub max_gap: TimeDelta,
    /// Least IoU with where the object stopped for it to count as still standing there.
    pub stationary_iou: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self { match_iou: 0.3, max_gap: TimeDelta::seconds(10), stationary_iou: 0.6 }
    }
}

/// One object followed across frames.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Id, unique within the tracker.
    pub id: u64,
    /// Class of the latest sighting.
    pub class: Arc<str>,
    /// Score of the latest sighting.
    pub score: f32,
    /// Box of the latest sighting.
    pub bbox: BBox,
    /// Where the object stopped: the box it has stayed close to since `stationary_since`.
    pub anchor: BBox,
    /// Since when the object has stood at `anchor`.
    pub stationary_since: DateTime<Utc>,
    /// When the track began.
    pub first_seen: DateTime<Utc>,
    /// The latest sighting.
    pub last_seen: DateTime<Utc>,
    /// Frames of the camera since `stationary_since`, this track's sightings included.
    pub frames_at_anchor: u32,
    /// Sightings since `stationary_since`.
    pub sightings_at_anchor: u32,
}

impl Track {
    /// How long the object has stood still, as of its latest sighting.
    pub fn stationary_for(&self) -> TimeDelta {
        self.last_seen - self.stationary_since
    }

    /// Share (0..=1) of the camera's frames since the object stopped in which it was seen.
    ///
    /// A parked vehicle is seen in nearly every frame; a "track" stitched together from different cars
    /// passing the same spot in dense traffic is seen only now and then, and is no parked vehicle.
    pub fn presence(&self) -> f32 {
        self.sightings_at_anchor as f32 / self.frames_at_anchor.max(1) as f32
    }
}

/// Follows objects across the frames of one camera by greedy IoU matching.
///
/// An object that moves away from where it stopped (IoU with its anchor below `stationary_iou`) gets a
/// new anchor and its stationary time starts again, so passing traffic never accumulates dwell time.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Self {
        Self { config, tracks: Vec::new(), next_id: 1 }
    }

    /// Follows the live tracks on with `config` from the next frame.
    pub fn set_config(&mut self, config: TrackerConfig) {
        self.config = config;
    }

    /// The live tracks.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Feeds the detections of one frame captured at `at`; returns the index (in [`Tracker::tracks`])
    /// of the track each detection now belongs to.
    pub fn update(&mut self, detections: &[&Detection], at: DateTime<Utc>) -> Vec<usize> {
        let max_gap = self.config.max_gap;
        self.tracks.retain(|track| at - track.last_seen <= max_gap);
        for track in &mut self.tracks {
            track.frames_at_anchor += 1;
        }

        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (d, detection) in detections.iter().enumerate() {
            for (t, track) in self.tracks.iter().enumerate() {
                let iou = detection.bbox.iou(&track.bbox);
                if iou >= self.config.match_iou {
                    pairs.push((iou, d, t));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));

        let mut assigned: Vec<Option<usize>> = vec![None; detections.len()];
        let mut taken = vec![false; self.tracks.len()];
        for (_, d, t) in pairs {
            if assigned[d].is_none() && !taken[t] {
                assigned[d] = Some(t);
                taken[t] = true;
                self.continue_track(t, detections[d], at);
            }
        }
        assigned
            .into_iter()
            .enumerate()
            .map(|(d, track)| track.unwrap_or_else(|| self.start_track(detections[d], at)))
            .collect()
    }

    fn continue_track(&mut self, index: usize, detection: &Detection, at: DateTime<Utc>) {
        let stationary_iou = self.config.stationary_iou;
        let track = &mut self.tracks[index];
        track.class = detection.class.clone();
        track.score = detection.score;
        track.bbox = detection.bbox;
        track.last_seen = at;
        track.sightings_at_anchor += 1;
        if detection.bbox.iou(&track.anchor) < stationary_iou {
            track.anchor = detection.bbox;
            track.stationary_since = at;
            track.frames_at_anchor = 1;
            track.sightings_at_anchor = 1;
        }
    }

    fn start_track(&mut self, detection: &Detection, at: DateTime<Utc>) -> usize {
        self.tracks.push(Track {
            id: self.next_id,
            class: detection.class.clone(),
            score: detection.score,
            bbox: detection.bbox,
            anchor: detection.bbox,
            stationary_since: at,
            first_seen: at,
            last_seen: at,
            frames_at_anchor: 1,
            sightings_at_anchor: 1,
        });
        self.next_id += 1;
        self.tracks.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn car(x: f32) -> Detection {
        Detection { class_id: 2, class: "car".into(), score: 0.9, bbox: BBox::new(x, 100.0, x + 80.0, 150.0) }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_still_object_keeps_its_track_and_accumulates_time() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let parked = car(10.0);
        for s in 0..=6 {
            tracker.update(&[&parked], at(s * 2));
        }
        assert_eq!(tracker.tracks().len(), 1);
        assert_eq!(tracker.tracks()[0].stationary_for(), TimeDelta::seconds(12));
        assert_eq!(tracker.tracks()[0].presence(), 1.0);
    }

    #[test]
    fn a_moving_object_never_accumulates_time() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for s in 0..20 {
            tracker.update(&[&car(s as f32 * 30.0)], at(s));
        }
        assert!(tracker.tracks().iter().all(|t| t.stationary_for() <= TimeDelta::seconds(1)), "{:?}", tracker.tracks());
    }

    #[test]
    fn cars_passing_the_same_spot_now_and_then_have_a_low_presence() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        // A car at x=10 in one frame out of four (others elsewhere), for 20 frames.
        for s in 0..20 {
            let spot = if s % 4 == 0 { car(10.0) } else { car(500.0 + s as f32 * 40.0) };
            tracker.update(&[&spot], at(s));
        }
        let stitched = tracker.tracks().iter().find(|t| t.bbox.x1 == 10.0).unwrap();
        assert!(stitched.stationary_for() >= TimeDelta::seconds(16), "stitched across the gaps");
        assert!(stitched.presence() < 0.3, "{}", stitched.presence());
    }

    #[test]
    fn a_track_survives_a_short_gap_and_ends_after_a_long_one() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let parked = car(10.0);
        tracker.update(&[&parked], at(0));
        tracker.update(&[], at(5));
        tracker.update(&[&parked], at(8));
        assert_eq!(tracker.tracks()[0].id, 1);
        assert_eq!(tracker.tracks()[0].stationary_for(), TimeDelta::seconds(8));
        tracker.update(&[&parked], at(30));
        assert_eq!(tracker.tracks().len(), 1);
        assert_eq!(tracker.tracks()[0].id, 2, "a gap over max_gap starts a new track");
    }

    proptest! {
        #[test]
        fn each_detection_gets_a_distinct_track(xs in prop::collection::vec(0f32..2000.0, 0..12), steps in 1usize..5) {
            let mut tracker = Tracker::new(TrackerConfig::default());
            let detections: Vec<Detection> = xs.iter().map(|&x| car(x)).collect();
            let refs: Vec<&Detection> = detections.iter().collect();
            for s in 0..steps {
                let assigned = tracker.update(&refs, at(s as i64));
                let mut unique = assigned.clone();
                unique.sort_unstable();
                unique.dedup();
                prop_assert_eq!(unique.len(), assigned.len());
                for (d, &t) in assigned.iter().enumerate() {
                    prop_assert_eq!(tracker.tracks()[t].bbox, detections[d].bbox);
                }
            }
        }
    }
}
