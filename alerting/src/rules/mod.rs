//! Rules: from detections to violations.
//!
//! - [`Zone`]: a normalised polygon of a camera with a kind that decides the case category;
//! - [`Tracker`]: follows objects across frames by box overlap and knows how long each has stood still;
//! - [`ParkingRule`]: a vehicle whose bottom-centre stays still inside a `no_parking` zone for
//!   `min_dwell` is a [`Violation`].

mod parking;
mod stage;
mod tracker;
mod violation;
mod zone;

pub use parking::{ParkingRule, ParkingRuleConfig};
pub use stage::RulesStage;
pub use tracker::{Track, Tracker, TrackerConfig};
pub use violation::{Category, Violation};
pub use zone::{Zone, ZoneKind};
