//! Scene change in `construction_watch` zones: something new built where nothing should be.
//!
//! A general detector does not know scaffolding, a shed on a roof or a wall across a lane, but the
//! zone's view changes when one appears. Each zone keeps a reference view; every analysed frame is
//! compared with it block by block on **structure**: the correlation of each block's brightness
//! pattern with the reference's, after removing the block's mean and scaling by its spread, so that
//! lighting (day, night, a cloud: brightness and contrast) changes nothing. A block counts as changed
//! when its pattern no longer correlates, or when strong structure appears on (or vanishes from) a
//! flat surface. When at least `min_changed` of the zone's blocks stay changed for `persist` (hours in
//! practice, so passing vehicles, people and parked trucks never count), the change is one violation
//! with the reference view as the "before" evidence. The reference stays: the same structure is not
//! reported again, and when it goes the view simply matches the reference again.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use sharpeyes_inference::{BBox, FrameDetections};
use sharpeyes_ingest::Frame;

use super::violation::before_picture;
use super::{
    CameraViolation, Zone, ZoneKind,
    patch::{Samples, Structure},
};

/// Blocks across the zone's bounding box, each way.
const GRID: usize = 16;
/// Samples across a block, each way.
const SAMPLES: usize = 8;
/// A block whose brightness spreads less than this (0..255) is flat.
const FLAT: f32 = 2.0;
/// The class reported for a scene change.
pub const SCENE_CHANGE_CLASS: &str = "scene_change";

/// Settings of the scene-change analyser.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SceneChangeConfig {
    /// How long the change must last.
    pub persist: TimeDelta,
    /// Share of the zone's blocks (0..=1) that must have changed.
    pub min_changed: f32,
    /// A block whose structure correlates less than this with the reference has changed.
    pub block_similarity: f32,
    /// The city's offset from UTC, for zone schedules.
    pub utc_offset: FixedOffset,
}

impl Default for SceneChangeConfig {
    fn default() -> Self {
        Self {
            persist: TimeDelta::hours(2),
            min_changed: 0.25,
            block_similarity: 0.5,
            utc_offset: FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset"),
        }
    }
}

/// One block's structure.
#[derive(Clone, Debug)]
struct Block {
    structure: Structure<SAMPLES>,
    /// The block's box in frame pixels.
    bbox: BBox,
}

/// A zone's view: its blocks (inside the zone and outside its masks) and the frame they came from.
#[derive(Clone, Debug)]
struct View {
    frame: Frame,
    blocks: Vec<Block>,
}

#[derive(Debug)]
struct WatchedZone {
    zone: Zone,
    reference: Option<View>,
    changed_since: Option<DateTime<Utc>>,
    reported: bool,
}

/// The scene-change analyser of one camera's `construction_watch` zones.
#[derive(Debug)]
pub struct SceneChangeRule {
    config: SceneChangeConfig,
    zones: Vec<WatchedZone>,
}

impl SceneChangeRule {
    /// The analyser for the camera's `construction_watch` zones.
    pub fn new(config: SceneChangeConfig, zones: &[Zone]) -> Self {
        let zones = zones
            .iter()
            .filter(|z| z.kind == ZoneKind::ConstructionWatch)
            .map(|zone| WatchedZone { zone: zone.clone(), reference: None, changed_since: None, reported: false })
            .collect();
        Self { config, zones }
    }

    /// Whether the camera has a zone to watch.
    pub fn is_active(&self) -> bool {
        !self.zones.is_empty()
    }

    /// Compares one analysed frame with each zone's reference; returns the changes it confirms.
    pub fn observe(&mut self, analysed: &FrameDetections) -> Vec<CameraViolation> {
        let frame = &analysed.frame;
        let at = frame.captured_at;
        let mut violations = Vec::new();
        for watched in &mut self.zones {
            if !watched.zone.is_active_at(at, self.config.utc_offset) {
                continue;
            }
            let view = View::of(frame, &watched.zone);
            let Some(reference) = &watched.reference else {
                watched.reference = Some(view);
                continue;
            };
            if reference.blocks.len() != view.blocks.len() {
                // The camera's resolution changed: start again from this view.
                watched.reference = Some(view);
                watched.changed_since = None;
                continue;
            }
            let changed: Vec<&Block> = reference
                .blocks
                .iter()
                .zip(&view.blocks)
                .filter(|(before, after)| {
                    before.structure.differs(&after.structure, self.config.block_similarity, FLAT)
                })
                .map(|(_, after)| after)
                .collect();
            let share = changed.len() as f32 / view.blocks.len().max(1) as f32;
            if share < self.config.min_changed {
                watched.changed_since = None;
                watched.reported = false;
                continue;
            }
            let since = *watched.changed_since.get_or_insert(at);
            if watched.reported || at - since < self.config.persist {
                continue;
            }
            watched.reported = true;
            let bbox = changed.iter().map(|b| b.bbox).reduce(|a, b| a.union(&b)).expect("at least one block changed");
            violations.push(CameraViolation {
                camera: frame.camera.clone(),
                zone: watched.zone.id.clone(),
                zone_points: watched.zone.points.clone(),
                category: watched.zone.kind.category(),
                track_id: 0,
                class: Arc::from(SCENE_CHANGE_CLASS),
                score: share,
                bbox,
                zone_boxes: changed.iter().map(|b| b.bbox).collect(),
                first_seen: since,
                confirmed_at: at,
                frame: frame.clone(),
                before: before_picture(&reference.frame),
                frame_objects: Vec::new(),
                receipt: None,
            });
        }
        violations
    }
}

impl View {
    /// Samples the zone's bounding box of `frame` as a grid of blocks, keeping those whose centre is
    /// watched (inside the zone, outside its masks).
    fn of(frame: &Frame, zone: &Zone) -> Self {
        let (width, height) = (frame.width as f64, frame.height as f64);
        let [left, top, right, bottom] = zone.bounds();
        let (block_w, block_h) = ((right - left) / GRID as f64, (bottom - top) / GRID as f64);
        let mut blocks = Vec::new();
        for row in 0..GRID {
            for column in 0..GRID {
                let (x0, y0) = (left + column as f64 * block_w, top + row as f64 * block_h);
                if !zone.watches(x0 + block_w / 2.0, y0 + block_h / 2.0) {
                    continue;
                }
                let bbox = BBox::new(
                    (x0 * width) as f32,
                    (y0 * height) as f32,
                    ((x0 + block_w) * width) as f32,
                    ((y0 + block_h) * height) as f32,
                );
                let structure = Samples::<SAMPLES>::of(frame, &bbox).structure();
                blocks.push(Block { structure, bbox });
            }
        }
        Self { frame: frame.compact(), blocks }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    const SIZE: u32 = 320;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00+08:00").unwrap().to_utc() + TimeDelta::minutes(minute)
    }

    /// A street-like texture: a few sine gratings (walls, windows, paving) over the whole frame.
    fn texture(x: u32, y: u32) -> f32 {
        let (x, y) = (x as f32, y as f32);
        110.0 + 40.0 * (x / 7.0).sin() * (y / 11.0).cos() + 25.0 * ((x + 2.0 * y) / 23.0).sin()
    }

    fn frame(minute: i64, pixel: impl Fn(u32, u32) -> f32) -> FrameDetections {
        let mut rgb = Vec::with_capacity((SIZE * SIZE * 3) as usize);
        for y in 0..SIZE {
            for x in 0..SIZE {
                let v = pixel(x, y).clamp(0.0, 255.0) as u8;
                rgb.extend([v, v, v]);
            }
        }
        let frame = Frame::from_rgb("cam".into(), at(minute), SIZE, SIZE, Bytes::from(rgb));
        FrameDetections { frame, detections: Vec::new() }
    }

    /// A new structure: a scaffold-like lattice over the zone's left half.
    fn with_structure(x: u32, y: u32) -> f32 {
        if (40..160).contains(&x) && (40..280).contains(&y) {
            if x % 16 < 3 || y % 20 < 3 { 30.0 } else { 200.0 }
        } else {
            texture(x, y)
        }
    }

    fn rule() -> SceneChangeRule {
        let zone = Zone::new("roof", ZoneKind::ConstructionWatch, vec![[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]);
        SceneChangeRule::new(SceneChangeConfig { persist: TimeDelta::minutes(30), ..Default::default() }, &[zone])
    }

    #[test]
    fn a_new_structure_is_reported_once_after_the_persistence_time() {
        let mut rule = rule();
        assert!(rule.observe(&frame(0, texture)).is_empty(), "the first view is the reference");
        let mut found = Vec::new();
        for minute in (1..=120).step_by(2) {
            found.extend(rule.observe(&frame(minute, with_structure)).into_iter().map(|v| (minute, v)));
        }
        assert_eq!(found.len(), 1, "one violation, however long the structure stands");
        let (minute, violation) = &found[0];
        assert_eq!(*minute, 31, "confirmed once it stood for 30 minutes");
        assert_eq!(violation.category, crate::rules::Category::IllegalConstruction);
        assert_eq!(violation.first_seen, at(1));
        assert_eq!(violation.before.as_ref().unwrap().captured_at, at(0), "the reference is the before picture");
        assert!(
            violation.bbox.x1 < 60.0 && violation.bbox.x2 > 140.0,
            "changed blocks cover the lattice: {:?}",
            violation.bbox
        );
    }

    #[test]
    fn lighting_never_counts_as_change() {
        let mut rule = rule();
        rule.observe(&frame(0, texture));
        for minute in 1..200 {
            let (gain, offset) = if minute % 3 == 0 { (0.35, -10.0) } else { (1.6, 30.0) };
            let lit = move |x, y| gain * texture(x, y) + offset;
            assert!(rule.observe(&frame(minute, lit)).is_empty(), "minute {minute}: gain {gain}, offset {offset}");
        }
    }

    #[test]
    fn passing_objects_shorter_than_the_persistence_time_do_not_count() {
        let mut rule = rule();
        rule.observe(&frame(0, texture));
        for minute in 1..200 {
            // A truck (a structure) stands for 20 minutes in every 40, then leaves.
            let view = if minute % 40 < 20 { frame(minute, with_structure) } else { frame(minute, texture) };
            assert!(rule.observe(&view).is_empty(), "minute {minute}");
        }
    }

    #[test]
    fn a_creeping_shadow_uneven_light_and_sweeping_headlights_on_the_street_photo_are_no_change() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../media/images/000000009769.jpg");
        let Ok(image) = image::open(path) else {
            panic!("{path}: the shared media (scripts/setup.sh links it)");
        };
        let street = image.to_rgb8();
        let (width, height) = street.dimensions();
        let view = |minute: i64, gain: &dyn Fn(u32, u32) -> f32| {
            let rgb: Vec<u8> = street
                .as_raw()
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let pixel = (i / 3) as u32;
                    (f32::from(v) * gain(pixel % width, pixel / width)).clamp(0.0, 255.0) as u8
                })
                .collect();
            let frame = Frame::from_rgb("cam".into(), at(minute), width, height, Bytes::from(rgb));
            FrameDetections { frame, detections: Vec::new() }
        };
        let mut rule = rule();
        rule.observe(&view(0, &|_, _| 1.0));
        // A building's shadow creeping across the zone over two hours (its edge soft over 12 px),
        // each view a minute apart: every block under the edge sees it pass, none keeps it.
        for minute in 1..=120 {
            let edge = width as f32 * minute as f32 / 120.0;
            let shadow = move |x: u32, _| {
                let inside = ((edge - x as f32) / 12.0).clamp(0.0, 1.0);
                1.0 - 0.55 * inside
            };
            assert!(rule.observe(&view(minute, &shadow)).is_empty(), "shadow at minute {minute}");
        }
        // Uneven light across the zone for an hour: dim on the left, bright on the right.
        let uneven = |x: u32, _| 0.4 + 0.9 * x as f32 / width as f32;
        for minute in 121..=180 {
            assert!(rule.observe(&view(minute, &uneven)).is_empty(), "uneven light at minute {minute}");
        }
        // Headlights: a bright ellipse sweeping across the ground, a new place every minute.
        for minute in 181..=260 {
            let centre = (width as f32 * ((minute - 181) as f32 / 80.0), height as f32 * 0.75);
            let lights = move |x: u32, y: u32| {
                let (dx, dy) = ((x as f32 - centre.0) / 60.0, (y as f32 - centre.1) / 25.0);
                if dx * dx + dy * dy < 1.0 { 1.8 } else { 1.0 }
            };
            assert!(rule.observe(&view(minute, &lights)).is_empty(), "headlights at minute {minute}");
        }
    }

    #[test]
    fn the_shipped_street_photo_darkened_is_no_change_but_a_pasted_building_is() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../media/images/000000009769.jpg");
        let Ok(image) = image::open(path) else {
            panic!("{path}: the shared media (scripts/setup.sh links it)");
        };
        let street = image.to_rgb8();
        let (width, height) = street.dimensions();
        let other = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../media/images/000000006723.jpg"))
            .map(|i| i.resize_exact(width, height, image::imageops::FilterType::Triangle).to_rgb8())
            .unwrap_or_else(|_| street.clone());
        let view = |minute: i64, pixel: &dyn Fn(u32, u32) -> [u8; 3]| {
            let rgb: Vec<u8> = (0..height).flat_map(|y| (0..width).flat_map(move |x| pixel(x, y))).collect();
            let frame = Frame::from_rgb("cam".into(), at(minute), width, height, Bytes::from(rgb));
            FrameDetections { frame, detections: Vec::new() }
        };
        let original = |x, y| street.get_pixel(x, y).0;
        let dusk = |x, y| street.get_pixel(x, y).0.map(|v| (f32::from(v) * 0.45) as u8);
        let built = |x: u32, y: u32| {
            if x < width / 2 && y > height / 4 { other.get_pixel(x, y).0 } else { street.get_pixel(x, y).0 }
        };
        let mut rule = rule();
        rule.observe(&view(0, &original));
        for minute in 1..=60 {
            assert!(rule.observe(&view(minute, &dusk)).is_empty(), "dusk at minute {minute}");
        }
        let found: usize = (61..=100).map(|minute| rule.observe(&view(minute, &built)).len()).sum();
        assert_eq!(found, 1);
    }
}
