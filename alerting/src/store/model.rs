use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    cases::{
        taxonomy::Urgency,
        timeline::{Actor, Step},
        workflow::Status,
    },
    rules::Category,
};

/// A case as listed by the API.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Case {
    /// Case id.
    pub id: i64,
    /// Taxonomy code (`0505`).
    pub code: String,
    /// Category (`illegal_parking`).
    pub category: Category,
    /// Camera id.
    pub camera: String,
    /// Zone id within the camera.
    pub zone: String,
    /// 15-digit grid code.
    pub grid: String,
    /// Workflow status (`reported`, `filed`, ...).
    pub status: Status,
    /// `normal`, `urgent` or `critical`.
    pub urgency: Urgency,
    /// When it must be handled (working time from filing); none before it is filed or while suspended.
    pub deadline_at: Option<DateTime<Utc>>,
    /// The working time (seconds) it had left when it was suspended: its deadline clock runs on from
    /// this when it is resumed. None while the clock runs.
    pub deadline_left_s: Option<i64>,
    /// It went overdue and is supervised (督办).
    pub supervised: bool,
    /// The handler asked for more time and the dispatcher has not answered.
    pub extension_requested: bool,
    /// Where the case came from (`camera`, `sensor`).
    pub source: String,
    /// The sensor that reported it (empty for camera cases).
    pub device: String,
    /// What a sensor reported (the rule, the reading, the location), as JSON.
    #[serde(serialize_with = "raw_json")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<String>,
    /// Distinct objects in the case.
    pub object_count: i64,
    /// Where it is (the camera's or sensor's position), when known.
    pub longitude: Option<f64>,
    /// Where it is, when known.
    pub latitude: Option<f64>,
    /// The open case this one reports again (same category, nearby, shortly after), if any.
    pub duplicate_of: Option<i64>,
    /// When the first object was first seen standing there.
    pub first_seen_at: DateTime<Utc>,
    /// When the rule first confirmed the violation.
    pub confirmed_at: DateTime<Utc>,
    /// When the case was opened.
    pub opened_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Who acknowledged the case and owns it (a token's name); empty while nobody does.
    pub owner: String,
    /// When the owner acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was handed over last (escalation counts from here, else from `opened_at`).
    pub alerted_at: Option<DateTime<Utc>>,
    /// Escalation steps taken because nobody acknowledged it.
    pub escalation_level: i64,
    /// The vehicle's licence plate (parking cases), the best reading so far; none when unread or erased.
    pub plate: Option<String>,
    /// Confidence of the plate reading, 0..1.
    pub plate_score: Option<f64>,
    /// Index of the evidence image holding the plate's crop.
    pub plate_evidence: Option<i64>,
    /// Why it was voided (`false_detection`, `not_a_violation`, `duplicate`, `other`), if it was with one.
    pub void_reason: Option<String>,
}

/// One object of a case.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CaseObject {
    /// Position in the case (0 = the object that opened it).
    #[serde(rename = "index")]
    pub idx: i64,
    /// Detector class.
    pub class: String,
    /// Detector score.
    pub score: f64,
    /// Box left edge in frame pixels.
    pub x1: f64,
    /// Box top edge.
    pub y1: f64,
    /// Box right edge.
    pub x2: f64,
    /// Box bottom edge.
    pub y2: f64,
    /// When the object was first seen standing there.
    pub first_seen_at: DateTime<Utc>,
    /// When the rule confirmed it.
    pub confirmed_at: DateTime<Utc>,
}

/// An evidence image of a case.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EvidenceInfo {
    /// Position in the case: served at `/api/v1/cases/{id}/evidence/{index}`.
    #[serde(rename = "index")]
    pub idx: i64,
    /// SHA-256 of the JPEG (its content address under the data directory).
    pub sha256: String,
    /// Image width.
    pub width: i64,
    /// Image height.
    pub height: i64,
    /// Capture time of the frame.
    pub captured_at: DateTime<Utc>,
}

/// A case with its objects and evidence.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CaseDetail {
    /// The case.
    #[serde(flatten)]
    pub case: Case,
    /// Its objects.
    pub objects: Vec<CaseObject>,
    /// Its evidence images.
    pub evidence: Vec<EvidenceInfo>,
    /// Its timeline, oldest first.
    pub events: Vec<CaseEvent>,
    /// Departments called to it, and whether they reported in.
    pub whistles: Vec<super::Whistle>,
    /// Departments of the directory that handle its category in its grid (filled by the API).
    pub responsible: Vec<String>,
    /// Earlier cases of the same plate (repeat offences), newest first.
    pub same_plate: Vec<PlateCase>,
}

/// An earlier case of the same plate.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PlateCase {
    /// Case id.
    pub id: i64,
    /// Taxonomy code.
    pub code: String,
    /// Camera id.
    pub camera: String,
    /// Workflow status.
    pub status: Status,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
}

/// One step of a case's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CaseEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a token's name, or the source that reported the case.
    pub actor: String,
    /// In which role (a person's), or `system`, or the reporting source (`camera`, `sensor`, `citizen`).
    #[schema(value_type = String)]
    pub role: Actor,
    /// What: `report`, `verify`, `dispatch`, ..., `acknowledge`, `escalate`, `remind`.
    #[schema(value_type = String)]
    pub action: Step,
    /// Status before (none for the report that opened the case).
    pub from_status: Option<Status>,
    /// Status after.
    pub to_status: Status,
    /// The note given with the action.
    pub note: String,
}

/// What a new case is made of.
#[derive(Clone, Debug)]
pub struct NewCase {
    /// Taxonomy code.
    pub code: String,
    /// Category.
    pub category: Category,
    /// Camera id.
    pub camera: String,
    /// Zone id.
    pub zone: String,
    /// Grid code.
    pub grid: String,
    /// Initial status.
    pub status: Status,
    /// Urgency (`normal`, `urgent`, `critical`).
    pub urgency: Urgency,
    /// Source (`camera`, `sensor`).
    pub source: String,
    /// Sensor id (empty for cameras).
    pub device: String,
    /// JSON detail of a sensor report.
    pub detail: Option<String>,
    /// `[longitude, latitude]` of the camera or sensor, when known.
    pub location: Option<[f64; 2]>,
    /// The open case this one duplicates.
    pub duplicate_of: Option<i64>,
    /// First sighting.
    pub first_seen_at: DateTime<Utc>,
    /// Confirmation.
    pub confirmed_at: DateTime<Utc>,
    /// Opening time.
    pub opened_at: DateTime<Utc>,
    /// The stable id of the relayed violation that opened it, recorded with the case so that a copy
    /// of the violation delivered again files nothing (none for a violation of this process).
    pub violation: Option<String>,
}

/// An object to add to a case.
#[derive(Clone, Debug)]
pub struct NewObject {
    /// Detector class.
    pub class: String,
    /// Detector score.
    pub score: f32,
    /// `[x1, y1, x2, y2]` in frame pixels.
    pub bbox: [f32; 4],
    /// First sighting.
    pub first_seen_at: DateTime<Utc>,
    /// Confirmation.
    pub confirmed_at: DateTime<Utc>,
}

/// An evidence image already written under the data directory.
#[derive(Clone, Debug)]
pub struct NewEvidence {
    /// SHA-256 of the JPEG.
    pub sha256: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Capture time of the frame.
    pub captured_at: DateTime<Utc>,
}

/// Filters of the case list; all optional.
#[derive(Clone, Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    /// Exact status.
    pub status: Option<String>,
    /// `true`: only cases still open (not closed, evaluated or voided); `false`: only those finished.
    pub open: Option<bool>,
    /// Exact category.
    pub category: Option<String>,
    /// Grid code or a prefix of one (district, street, community).
    pub grid: Option<String>,
    /// Exact camera id.
    pub camera: Option<String>,
    /// Exact zone id.
    pub zone: Option<String>,
    /// Opened at or after.
    pub since: Option<DateTime<Utc>>,
    /// Opened before.
    pub until: Option<DateTime<Utc>>,
    /// Licence plate, or the start of one (`苏E` finds every plate of 苏E).
    pub plate: Option<String>,
    /// Only cases with a smaller id: the next page starts before the last id of the previous one.
    pub before: Option<i64>,
    /// At most this many (1..=1000, default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

const fn default_limit() -> u32 {
    100
}

impl Default for CaseFilter {
    fn default() -> Self {
        Self {
            status: None,
            open: None,
            category: None,
            grid: None,
            camera: None,
            zone: None,
            since: None,
            until: None,
            plate: None,
            before: None,
            limit: default_limit(),
        }
    }
}

/// Writes stored JSON text as JSON (not as a string); text that is not JSON is written as a string.
fn raw_json<S: serde::Serializer>(text: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match text.as_deref().map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(value)) => serde::Serialize::serialize(&value, serializer),
        _ => serde::Serialize::serialize(text, serializer),
    }
}
