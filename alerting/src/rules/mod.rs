//! Rules: from detections to violations.
//!
//! - [`Zone`]: a normalised polygon of a camera with a kind that decides the case category;
//! - [`Tracker`]: follows objects across frames by box overlap and knows how long each has stood still;
//! - [`DwellRule`]: an object of the rule's classes whose bottom-centre stays still inside a zone of
//!   its kind for `min_dwell` is a [`CameraViolation`]: a parked vehicle (`no_parking`), litter
//!   (`no_dumping`), a structure seen by a site-trained model (`construction_watch`);
//! - [`SceneChangeRule`]: a lasting change of structure (not of lighting) in a `construction_watch`
//!   zone, against the zone's reference view, is a [`CameraViolation`] with before and after pictures;
//! - [`StaticObjectRule`]: something left in a `no_dumping` zone — new, now still, and not a person
//!   or a vehicle — is a [`CameraViolation`] (`litter`, or `stacking` when large), found without a
//!   litter model by comparing each part of the zone with a long-term and a short-term background;
//! - [`SensorRules`]: thresholds (with duration and hysteresis) and states on sensor readings; a
//!   condition that holds long enough is a [`SensorViolation`];
//! - [`RulesStage`] runs the camera rules on the detector's output, [`SensorStage`] the sensor rules
//!   on MQTT ingest's messages;
//! - [`config`](ZoneConfig): the rules' and zones' configuration sections, validated and built;
//! - [`CameraViews`]: each camera's zones and latest analysed frame, for the dashboard's tuning view;
//! - [`ZoneEditor`]: a running camera's zones changed (through the API) without touching its stream;
//! - [`wire`]: a violation as bytes, with its frames: what an edge node sends a center, and what the
//!   case engine parks when it cannot file it.

mod config;
mod dwell;
mod editor;
mod patch;
mod scene;
mod sensor;
mod sensor_stage;
mod stage;
mod static_object;
mod tracker;
mod views;
mod violation;
pub mod wire;
mod zone;

pub use config::{DwellConfig, RulesConfig, SceneChangeSettings, SensorRuleConfig, StaticObjectSettings, ZoneConfig};
pub use dwell::{DwellRule, DwellRuleConfig};
pub use editor::{CountedObject, PreviewCase, RulesStopped, ZoneCount, ZoneEditor, ZonePreview};
pub use scene::{SCENE_CHANGE_CLASS, SceneChangeConfig, SceneChangeRule};
pub use sensor::{Condition, SensorRule, SensorRules};
pub use sensor_stage::SensorStage;
pub use stage::{CameraRules, RuleSettings, RulesStage, RulesUpdate};
pub use static_object::{STATIC_OBJECT_CLASS, StaticObjectConfig, StaticObjectRule};
pub use tracker::{Track, Tracker, TrackerConfig};
pub use views::{CameraViews, RECENT_FRAMES};
pub use violation::{CameraViolation, Category, FrameObject, ObjectCleared, SensorViolation, Violation};
pub use zone::{Zone, ZoneKind};
