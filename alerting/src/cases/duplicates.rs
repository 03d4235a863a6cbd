//! Reports of one problem from several sources: a new case of the same category within `radius_m`
//! of an open case reported less than `window` ago (a sensor beside a camera's zone, another camera,
//! a citizen) is linked to it as a duplicate (`duplicate_of`): kept and shown, not lost, not counted
//! twice.

use chrono::TimeDelta;

/// Mean Earth radius in metres (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// When two reports are the same problem.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DuplicateRule {
    /// At most this far apart, in metres.
    pub radius_m: f64,
    /// The open case was reported at most this long before.
    pub window: TimeDelta,
}

impl Default for DuplicateRule {
    fn default() -> Self {
        Self { radius_m: 50.0, window: TimeDelta::minutes(30) }
    }
}

impl DuplicateRule {
    /// A `[longitude, latitude]` box that holds every point within `radius_m` of `at` (a cheap
    /// pre-filter for the database; [`distance_m`] decides).
    pub fn bounds(&self, [longitude, latitude]: [f64; 2]) -> ([f64; 2], [f64; 2]) {
        let dlat = (self.radius_m / EARTH_RADIUS_M).to_degrees();
        let dlon = dlat / latitude.to_radians().cos().abs().max(1e-6);
        ([longitude - dlon, latitude - dlat], [longitude + dlon, latitude + dlat])
    }
}

/// Great-circle distance in metres between two `[longitude, latitude]` points (haversine).
pub fn distance_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let (dlat, dlon) = ((b[1] - a[1]).to_radians(), (b[0] - a[0]).to_radians());
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_on_the_ground() {
        // Tian'anmen to the Forbidden City's Meridian Gate: about 880 m due north.
        let d = distance_m([116.3975, 39.9087], [116.3972, 39.9166]);
        assert!((860.0..900.0).contains(&d), "{d}");
        assert!(distance_m([116.45, 39.91], [116.45, 39.91]) < 1e-6);
        // 0.0002° of longitude at 39.9° N is about 17 m.
        let d = distance_m([116.4500, 39.91], [116.4502, 39.91]);
        assert!((16.0..18.0).contains(&d), "{d}");
    }

    #[test]
    fn the_bounds_hold_the_circle() {
        let rule = DuplicateRule::default();
        let centre = [116.45, 39.91];
        let ([west, south], [east, north]) = rule.bounds(centre);
        for point in [[west, centre[1]], [east, centre[1]], [centre[0], south], [centre[0], north]] {
            let d = distance_m(centre, point);
            assert!((49.0..=51.0).contains(&d), "{point:?}: {d}");
        }
    }
}
