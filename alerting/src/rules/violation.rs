use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sharpeyes_inference::BBox;
use sharpeyes_ingest::{
    Frame,
    mqtt::{Receipt, SensorReading},
};

/// The kind of problem a case is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 私搭乱建, code 0101.
    IllegalConstruction,
    /// 暴露垃圾, code 0102.
    Litter,
    /// 机动车乱停放, code 0505.
    IllegalParking,
    /// A manhole cover open or displaced (a component case, 公用设施 井盖).
    ManholeCover,
    /// 乱堆物料, code 0507: materials or rubbish piled where they must not be (a large object left).
    Stacking,
}

impl std::fmt::Display for Category {
    /// The snake_case name, as stored and served.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 5] =
        [Self::IllegalConstruction, Self::Litter, Self::IllegalParking, Self::ManholeCover, Self::Stacking];

    /// The snake_case name used in the API and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IllegalConstruction => "illegal_construction",
            Self::Litter => "litter",
            Self::IllegalParking => "illegal_parking",
            Self::ManholeCover => "manhole_cover",
            Self::Stacking => "stacking",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// A confirmed rule violation, from a camera or a sensor, or a camera seeing one end: what the case
/// engine files.
#[derive(Clone, Debug)]
pub enum Violation {
    /// An object that broke a camera zone's rule (boxed: it carries its frames and is many times the
    /// size of the others).
    Camera(Box<CameraViolation>),
    /// A sensor reading that broke a sensor rule.
    Sensor(SensorViolation),
    /// An object left that the camera sees gone: its case's timeline says so.
    Cleared(ObjectCleared),
}

impl From<CameraViolation> for Violation {
    fn from(violation: CameraViolation) -> Self {
        Self::Camera(Box::new(violation))
    }
}

impl Violation {
    /// The case category.
    pub const fn category(&self) -> Category {
        match self {
            Self::Camera(v) => v.category,
            Self::Sensor(v) => v.category,
            Self::Cleared(v) => v.category,
        }
    }

    /// The camera or device it came from.
    pub fn source_id(&self) -> &str {
        match self {
            Self::Camera(v) => &v.camera,
            Self::Sensor(v) => &v.device,
            Self::Cleared(v) => &v.camera,
        }
    }

    /// An id derived from what the violation is — source, zone or rule, category, track and times — so
    /// that every copy of it (a message sent again after a lost acknowledgement, a spooled one sent
    /// after a restart) has the same id, and a center files it once: 32 hex digits of a SHA-256.
    pub fn stable_id(&self) -> String {
        use sha2::Digest;
        let key = match self {
            Self::Camera(v) => format!(
                "camera\n{}\n{}\n{}\n{}\n{}\n{}",
                v.camera,
                v.zone,
                v.category.as_str(),
                v.track_id,
                v.first_seen.timestamp_micros(),
                v.confirmed_at.timestamp_micros()
            ),
            Self::Sensor(v) => format!(
                "sensor\n{}\n{}\n{}\n{}\n{}",
                v.device,
                v.rule,
                v.category.as_str(),
                v.since.timestamp_micros(),
                v.confirmed_at.timestamp_micros()
            ),
            Self::Cleared(v) => format!(
                "cleared\n{}\n{}\n{}\n{}\n{}",
                v.camera,
                v.zone,
                v.category.as_str(),
                v.track_id,
                v.seen_at.timestamp_micros()
            ),
        };
        hex::encode(&sha2::Sha256::digest(key.as_bytes())[..16])
    }

    /// Drops the receipt of the message that brought the violation (acknowledging it once no other
    /// clone holds it).
    pub fn take_receipt(&mut self) -> Option<Receipt> {
        match self {
            Self::Camera(v) => v.receipt.take(),
            Self::Sensor(v) => v.receipt.take(),
            Self::Cleared(v) => v.receipt.take(),
        }
    }
}

/// A sensor whose readings broke a rule (long enough, past its threshold).
#[derive(Clone, Debug)]
pub struct SensorViolation {
    /// Device id.
    pub device: Arc<str>,
    /// The rule it broke.
    pub rule: Arc<str>,
    /// Case category of the rule.
    pub category: Category,
    /// The device's grid.
    pub grid: String,
    /// `[longitude, latitude]` of the device, when known.
    pub location: Option<[f64; 2]>,
    /// The reading that confirmed the violation.
    pub reading: SensorReading,
    /// When the condition began to hold.
    pub since: DateTime<Utc>,
    /// When it had held long enough.
    pub confirmed_at: DateTime<Utc>,
    /// The receipt of the message that confirmed it, acknowledged once the violation is filed (none
    /// when the clock confirmed it).
    pub receipt: Option<Receipt>,
}

/// A confirmed camera violation: one object that broke a zone's rule.
#[derive(Clone, Debug)]
pub struct CameraViolation {
    /// Camera id.
    pub camera: Arc<str>,
    /// Zone id within the camera.
    pub zone: Arc<str>,
    /// The zone's polygon (normalised), for the evidence image.
    pub zone_points: Vec<[f64; 2]>,
    /// Case category.
    pub category: Category,
    /// Tracker id of the object (unique per camera and process run).
    pub track_id: u64,
    /// Detector class of the object.
    pub class: Arc<str>,
    /// Detector score of the latest sighting.
    pub score: f32,
    /// The object's box in the confirming frame.
    pub bbox: BBox,
    /// Boxes of every object of the rule standing in the zone in the confirming frame (for evidence).
    pub zone_boxes: Vec<BBox>,
    /// When the object was first seen standing where it was confirmed.
    pub first_seen: DateTime<Utc>,
    /// When the rule confirmed the violation (capture time of `frame`).
    pub confirmed_at: DateTime<Utc>,
    /// The confirming frame.
    pub frame: Frame,
    /// The earlier view, kept as a second evidence image: for a dwell rule the frame in which the object
    /// was first seen standing in the zone, for a scene change the reference view.
    pub before: Option<Frame>,
    /// Every object the detector found in the confirming frame, of any class: a verified case's frame
    /// goes into the labelled dataset with all of them labelled, not only the case's object (an
    /// unlabelled car beside the parked truck would teach a model that cars are background). Empty for
    /// rules that do not use the detector (scene change, objects left).
    pub frame_objects: Vec<FrameObject>,
    /// The receipt of the message that brought the violation from an edge node, acknowledged once the
    /// violation is filed (none when this process's own rules confirmed it).
    pub receipt: Option<Receipt>,
}

/// An object the detector found in a frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameObject {
    /// Detector class.
    pub class: String,
    /// Its box in the frame's pixels.
    pub bbox: BBox,
}

/// An object left (a static-object violation) that the camera sees gone: the place where it stood
/// matches the old background again.
#[derive(Clone, Debug)]
pub struct ObjectCleared {
    /// Camera id.
    pub camera: Arc<str>,
    /// Zone id within the camera.
    pub zone: Arc<str>,
    /// The zone's polygon (normalised), for the evidence image.
    pub zone_points: Vec<[f64; 2]>,
    /// Category of the violation it ends.
    pub category: Category,
    /// Id of the violation's object (the blob).
    pub track_id: u64,
    /// Where the object stood.
    pub bbox: BBox,
    /// When it was seen gone (capture time of `frame`).
    pub seen_at: DateTime<Utc>,
    /// The frame that shows the place bare.
    pub frame: Frame,
    /// Whether the case is to be reported handled (`report_handled`) when it is being handled.
    pub report_handled: bool,
    /// The receipt of the message that brought it from an edge node.
    pub receipt: Option<Receipt>,
}

/// A kept (compact) frame with its pixels again, as a violation's before-picture; `None`, with a
/// warning naming the camera, when its key-frame does not decode (the violation goes on without it).
pub(super) fn before_picture(frame: &Frame) -> Option<Frame> {
    frame
        .with_pixels()
        .inspect_err(|error| tracing::warn!(camera = %frame.camera, %error, "before-picture left out"))
        .ok()
}
