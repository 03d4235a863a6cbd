//! Rules: from detections to violations.
//!
//! - [`Zone`]: a normalised polygon of a camera with a kind that decides the case category;
//! - [`Tracker`]: follows objects across frames by box overlap and knows how long each has stood still;
//! - [`ParkingRule`]: a vehicle whose bottom-centre stays still inside a `no_parking` zone for
//!   `min_dwell` is a [`CameraViolation`];
//! - [`SensorRules`]: thresholds (with duration and hysteresis) and states on sensor readings; a
//!   condition that holds long enough is a [`SensorViolation`].

mod parking;
mod sensor;
mod stage;
mod tracker;
mod violation;
mod zone;

pub use parking::{ParkingRule, ParkingRuleConfig};
pub use sensor::{Condition, SensorRule, SensorRules};
pub use stage::RulesStage;
pub use tracker::{Track, Tracker, TrackerConfig};
pub use violation::{CameraViolation, Category, SensorViolation, Violation};
pub use zone::{Zone, ZoneKind};
