use std::sync::Arc;

use geo::{Coord, Intersects, LineString, Point, Polygon};
use serde::{Deserialize, Serialize};

use super::Category;

/// What a zone watches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// A zone of one camera: a polygon in normalised image coordinates (0..=1, origin top-left).
#[derive(Clone, Debug)]
pub struct Zone {
    /// Zone id, unique within its camera.
    pub id: Arc<str>,
    /// What the zone watches for.
    pub kind: ZoneKind,
    /// The polygon's corners as configured, for drawing.
    pub points: Vec<[f64; 2]>,
    polygon: Polygon<f64>,
}

impl Zone {
    /// A zone from its corners (at least three, normalised).
    pub fn new(id: impl Into<Arc<str>>, kind: ZoneKind, points: Vec<[f64; 2]>) -> Self {
        let ring: Vec<Coord<f64>> = points.iter().map(|&[x, y]| Coord { x, y }).collect();
        let polygon = Polygon::new(LineString::from(ring), Vec::new());
        Self { id: id.into(), kind, points, polygon }
    }

    /// Whether the normalised point lies inside the zone or on its border.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        self.polygon.intersects(&Point::new(x, y))
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
