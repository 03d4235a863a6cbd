use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveTime, TimeDelta, Utc};
use geo::{Coord, Intersects, LineString, Point, Polygon};
use serde::{Deserialize, Serialize};

use super::Category;

/// What a zone watches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKind {
    /// Vehicles must not stay: illegal parking.
    NoParking,
    /// Nothing may be left: litter.
    NoDumping,
    /// Nothing may be built: illegal construction.
    ConstructionWatch,
}

impl ZoneKind {
    /// The case category a violation in this zone belongs to.
    pub const fn category(self) -> Category {
        match self {
            Self::NoParking => Category::IllegalParking,
            Self::NoDumping => Category::Litter,
            Self::ConstructionWatch => Category::IllegalConstruction,
        }
    }
}

/// A zone of one camera: a polygon in normalised image coordinates (0..=1, origin top-left), with the
/// settings by which it narrows its rule.
#[derive(Clone, Debug)]
pub struct Zone {
    /// Zone id, unique within its camera.
    pub id: Arc<str>,
    /// What the zone watches for.
    pub kind: ZoneKind,
    /// The polygon's corners as configured, for drawing.
    pub points: Vec<[f64; 2]>,
    /// Detector classes counted here instead of the rule's.
    pub classes: Option<Vec<String>>,
    /// Least detector score here instead of the rule's.
    pub min_score: Option<f32>,
    /// Least box area, as a share of the frame (0 = no bound).
    pub min_area: f64,
    /// Largest box area, as a share of the frame (1 = no bound).
    pub max_area: f64,
    /// How long an object stands still here before it is a violation, instead of the rule's.
    pub min_dwell: Option<TimeDelta>,
    /// Daily local-time window `[from, to)` in which the zone is watched (`None`: always); it may run
    /// past midnight.
    pub active: Option<(NaiveTime, NaiveTime)>,
    polygon: Polygon<f64>,
    masks: Vec<Polygon<f64>>,
}

fn polygon(points: &[[f64; 2]]) -> Polygon<f64> {
    let ring: Vec<Coord<f64>> = points.iter().map(|&[x, y]| Coord { x, y }).collect();
    Polygon::new(LineString::from(ring), Vec::new())
}

impl Zone {
    /// A zone from its corners (at least three, normalised), with no narrowing settings.
    pub fn new(id: impl Into<Arc<str>>, kind: ZoneKind, points: Vec<[f64; 2]>) -> Self {
        let polygon = polygon(&points);
        Self {
            id: id.into(),
            kind,
            points,
            classes: None,
            min_score: None,
            min_dwell: None,
            min_area: 0.0,
            max_area: 1.0,
            active: None,
            polygon,
            masks: Vec::new(),
        }
    }

    /// Excludes a part of the zone (a tree, a legal bay, a shop's own forecourt).
    pub fn add_mask(&mut self, points: Vec<[f64; 2]>) {
        self.masks.push(polygon(&points));
    }

    /// The corners of each mask, normalised (for drawing).
    pub fn mask_points(&self) -> Vec<Vec<[f64; 2]>> {
        self.masks.iter().map(|mask| mask.exterior().coords().map(|c| [c.x, c.y]).collect()).collect()
    }

    /// The zone's bounding box, normalised and clamped to the frame: `[left, top, right, bottom]`.
    pub fn bounds(&self) -> [f64; 4] {
        let xs = self.points.iter().map(|p| p[0].clamp(0.0, 1.0));
        let ys = self.points.iter().map(|p| p[1].clamp(0.0, 1.0));
        let (left, right) = (xs.clone().fold(1.0, f64::min), xs.fold(0.0, f64::max));
        let (top, bottom) = (ys.clone().fold(1.0, f64::min), ys.fold(0.0, f64::max));
        [left, top, right, bottom]
    }

    /// Whether the normalised point lies inside the zone or on its border.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        self.polygon.intersects(&Point::new(x, y))
    }

    /// Whether the normalised point is inside the zone and outside every mask.
    pub fn watches(&self, x: f64, y: f64) -> bool {
        let point = Point::new(x, y);
        self.polygon.intersects(&point) && !self.masks.iter().any(|mask| mask.intersects(&point))
    }

    /// Whether a box of this share of the frame is within the zone's area bounds.
    pub fn area_fits(&self, share: f64) -> bool {
        self.min_area <= share && share <= self.max_area
    }

    /// Whether the zone is watched at `at` (its schedule read in the city's time, `offset`).
    pub fn is_active_at(&self, at: DateTime<Utc>, offset: FixedOffset) -> bool {
        self.active.is_none_or(|window| crate::calendar::in_window(at, offset, window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_border_of_a_full_frame_zone_counts_as_inside() {
        let full = Zone::new("all", ZoneKind::NoParking, vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
        assert!(full.contains(0.5, 1.0), "a vehicle touching the bottom edge");
        assert!(full.contains(0.0, 0.0));
        assert!(!full.contains(1.01, 0.5));
    }

    #[test]
    fn lower_half_zone() {
        let zone = Zone::new("curb", ZoneKind::NoParking, vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]);
        assert!(zone.contains(0.3, 0.8));
        assert!(!zone.contains(0.3, 0.2));
        assert_eq!(zone.kind.category(), Category::IllegalParking);
    }
}
