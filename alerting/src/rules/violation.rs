use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sharpeyes_inference::BBox;
use sharpeyes_ingest::Frame;

/// The kind of problem a case is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 私搭乱建, code 0101.
    IllegalConstruction,
    /// 暴露垃圾, code 0102.
    Litter,
    /// 机动车乱停放, code 0505.
    IllegalParking,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 3] = [Self::IllegalConstruction, Self::Litter, Self::IllegalParking];

    /// The snake_case name used in the API and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IllegalConstruction => "illegal_construction",
            Self::Litter => "litter",
            Self::IllegalParking => "illegal_parking",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// A confirmed rule violation: one object that broke a zone's rule.
#[derive(Clone, Debug)]
pub struct Violation {
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
}
