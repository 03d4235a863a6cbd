//! One JSON schema per sensor kind. Unknown fields, wrong types and out-of-range values are refused,
//! each with a [`Rejection`] that says which.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a sensor measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// Manhole cover: tilt and open state.
    ManholeCover,
    /// Smoke detector.
    Smoke,
    /// Water level (flooding, drains).
    WaterLevel,
    /// Noise level.
    Noise,
    /// Parking bay occupancy.
    ParkingSpace,
    /// Any single value.
    Generic,
}

impl SensorKind {
    /// Every kind.
    pub const ALL: [Self; 6] =
        [Self::ManholeCover, Self::Smoke, Self::WaterLevel, Self::Noise, Self::ParkingSpace, Self::Generic];

    /// The snake_case name used in topics and configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ManholeCover => "manhole_cover",
            Self::Smoke => "smoke",
            Self::WaterLevel => "water_level",
            Self::Noise => "noise",
            Self::ParkingSpace => "parking_space",
            Self::Generic => "generic",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// A validated reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SensorReading {
    /// Manhole cover.
    ManholeCover {
        /// Tilt from level, degrees (0..=180).
        tilt_deg: f64,
        /// Whether the cover is off its frame.
        open: bool,
    },
    /// Smoke detector.
    Smoke {
        /// Whether it alarms.
        alarm: bool,
        /// Light obscuration, percent per metre (0..=100), when reported.
        obscuration_pct: Option<f64>,
    },
    /// Water level.
    WaterLevel {
        /// Centimetres above the reference (-1000..=10000).
        level_cm: f64,
    },
    /// Noise.
    Noise {
        /// Sound level, dB(A) (0..=200).
        db: f64,
    },
    /// Parking bay.
    ParkingSpace {
        /// Whether a vehicle stands in the bay.
        occupied: bool,
    },
    /// A single value.
    Generic {
        /// The value (finite).
        value: f64,
        /// Its unit, when given.
        unit: Option<String>,
    },
}

/// The value of one field of a reading, for rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue {
    /// A yes/no field (`open`, `alarm`, `occupied`).
    Bool(bool),
    /// A measured number (`tilt_deg`, `level_cm`, `db`, ...).
    Number(f64),
}

impl SensorKind {
    /// The fields a rule may test on this kind, and whether each is a yes/no field.
    pub const fn fields(self) -> &'static [(&'static str, bool)] {
        match self {
            Self::ManholeCover => &[("tilt_deg", false), ("open", true)],
            Self::Smoke => &[("alarm", true), ("obscuration_pct", false)],
            Self::WaterLevel => &[("level_cm", false)],
            Self::Noise => &[("db", false)],
            Self::ParkingSpace => &[("occupied", true)],
            Self::Generic => &[("value", false)],
        }
    }
}

impl SensorReading {
    /// The named field (see [`SensorKind::fields`]); `None` when this reading has no such field or
    /// did not report it.
    pub fn field(&self, name: &str) -> Option<FieldValue> {
        use FieldValue::{Bool, Number};
        match (self, name) {
            (Self::ManholeCover { tilt_deg, .. }, "tilt_deg") => Some(Number(*tilt_deg)),
            (Self::ManholeCover { open, .. }, "open") => Some(Bool(*open)),
            (Self::Smoke { alarm, .. }, "alarm") => Some(Bool(*alarm)),
            (Self::Smoke { obscuration_pct, .. }, "obscuration_pct") => obscuration_pct.map(Number),
            (Self::WaterLevel { level_cm }, "level_cm") => Some(Number(*level_cm)),
            (Self::Noise { db }, "db") => Some(Number(*db)),
            (Self::ParkingSpace { occupied }, "occupied") => Some(Bool(*occupied)),
            (Self::Generic { value, .. }, "value") => Some(Number(*value)),
            _ => None,
        }
    }

    /// The kind of sensor that sends this reading.
    pub const fn kind(&self) -> SensorKind {
        match self {
            Self::ManholeCover { .. } => SensorKind::ManholeCover,
            Self::Smoke { .. } => SensorKind::Smoke,
            Self::WaterLevel { .. } => SensorKind::WaterLevel,
            Self::Noise { .. } => SensorKind::Noise,
            Self::ParkingSpace { .. } => SensorKind::ParkingSpace,
            Self::Generic { .. } => SensorKind::Generic,
        }
    }
}

/// Why a message was refused; the `reason` label of the rejection counter.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The topic is not `{prefix}/sensors/{device_id}/{kind}`.
    #[error("topic '{0}' is not {{prefix}}/sensors/{{device_id}}/{{kind}}")]
    BadTopic(String),
    /// The payload is larger than allowed.
    #[error("payload of {size} bytes is over the {limit}-byte limit")]
    Oversized { size: usize, limit: usize },
    /// The device is not in the registry.
    #[error("device '{0}' is not registered")]
    UnknownDevice(String),
    /// The topic's kind is not the device's kind.
    #[error("device '{device}' is a {registered} sensor, the topic says {topic}")]
    KindMismatch { device: String, registered: &'static str, topic: String },
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not this kind's schema (missing or unknown field, wrong type).
    #[error("not a {kind} payload: {detail}")]
    WrongSchema { kind: &'static str, detail: String },
    /// A value outside its range.
    #[error("{field} = {value} is outside {range}")]
    OutOfRange { field: &'static str, value: f64, range: &'static str },
}

impl Rejection {
    /// Every reason label, for metrics.
    pub const REASONS: [&'static str; 7] =
        ["bad_topic", "oversized", "unknown_device", "kind_mismatch", "not_json", "wrong_schema", "out_of_range"];

    /// The bounded label of this rejection.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::BadTopic(_) => "bad_topic",
            Self::Oversized { .. } => "oversized",
            Self::UnknownDevice(_) => "unknown_device",
            Self::KindMismatch { .. } => "kind_mismatch",
            Self::NotJson(_) => "not_json",
            Self::WrongSchema { .. } => "wrong_schema",
            Self::OutOfRange { .. } => "out_of_range",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManholeCover {
    tilt_deg: f64,
    open: bool,
    ts: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Smoke {
    alarm: bool,
    obscuration_pct: Option<f64>,
    ts: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaterLevel {
    level_cm: f64,
    ts: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Noise {
    db: f64,
    ts: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParkingSpace {
    occupied: bool,
    ts: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generic {
    value: f64,
    unit: Option<String>,
    ts: Option<DateTime<Utc>>,
}

fn in_range(field: &'static str, value: f64, low: f64, high: f64, range: &'static str) -> Result<(), Rejection> {
    if value.is_finite() && (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(Rejection::OutOfRange { field, value, range })
    }
}

/// Validates a payload of `kind`; returns the reading and the sensor's own timestamp, if it sent one.
pub fn validate(kind: SensorKind, payload: &[u8]) -> Result<(SensorReading, Option<DateTime<Utc>>), Rejection> {
    // One pass straight into the kind's struct; serde_json tells a syntax error (not JSON) from JSON
    // that does not fit the schema.
    fn parse<T: for<'de> Deserialize<'de>>(kind: SensorKind, payload: &[u8]) -> Result<T, Rejection> {
        serde_json::from_slice::<T>(payload).map_err(|err| match err.classify() {
            serde_json::error::Category::Data => {
                Rejection::WrongSchema { kind: kind.as_str(), detail: err.to_string() }
            }
            _ => Rejection::NotJson(err.to_string()),
        })
    }
    Ok(match kind {
        SensorKind::ManholeCover => {
            let p: ManholeCover = parse(kind, payload)?;
            in_range("tilt_deg", p.tilt_deg, 0.0, 180.0, "0..=180")?;
            (SensorReading::ManholeCover { tilt_deg: p.tilt_deg, open: p.open }, p.ts)
        }
        SensorKind::Smoke => {
            let p: Smoke = parse(kind, payload)?;
            if let Some(value) = p.obscuration_pct {
                in_range("obscuration_pct", value, 0.0, 100.0, "0..=100")?;
            }
            (SensorReading::Smoke { alarm: p.alarm, obscuration_pct: p.obscuration_pct }, p.ts)
        }
        SensorKind::WaterLevel => {
            let p: WaterLevel = parse(kind, payload)?;
            in_range("level_cm", p.level_cm, -1000.0, 10000.0, "-1000..=10000")?;
            (SensorReading::WaterLevel { level_cm: p.level_cm }, p.ts)
        }
        SensorKind::Noise => {
            let p: Noise = parse(kind, payload)?;
            in_range("db", p.db, 0.0, 200.0, "0..=200")?;
            (SensorReading::Noise { db: p.db }, p.ts)
        }
        SensorKind::ParkingSpace => {
            let p: ParkingSpace = parse(kind, payload)?;
            (SensorReading::ParkingSpace { occupied: p.occupied }, p.ts)
        }
        SensorKind::Generic => {
            let p: Generic = parse(kind, payload)?;
            in_range("value", p.value, f64::MIN, f64::MAX, "finite numbers")?;
            (SensorReading::Generic { value: p.value, unit: p.unit }, p.ts)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_payloads_of_every_kind() {
        let cases: [(SensorKind, &str); 6] = [
            (SensorKind::ManholeCover, r#"{"tilt_deg": 12.5, "open": true}"#),
            (SensorKind::Smoke, r#"{"alarm": false, "obscuration_pct": 1.5, "ts": "2026-11-23T10:00:00Z"}"#),
            (SensorKind::WaterLevel, r#"{"level_cm": -20}"#),
            (SensorKind::Noise, r#"{"db": 71.2}"#),
            (SensorKind::ParkingSpace, r#"{"occupied": true}"#),
            (SensorKind::Generic, r#"{"value": 3.0, "unit": "ppm"}"#),
        ];
        for (kind, payload) in cases {
            validate(kind, payload.as_bytes()).unwrap_or_else(|err| panic!("{kind:?}: {err}"));
        }
        let (reading, ts) = validate(SensorKind::ManholeCover, br#"{"tilt_deg": 30, "open": true}"#).unwrap();
        assert_eq!(reading, SensorReading::ManholeCover { tilt_deg: 30.0, open: true });
        assert!(ts.is_none());
    }

    #[test]
    fn each_kind_of_bad_payload_has_its_reason() {
        let reason = |kind, payload: &str| validate(kind, payload.as_bytes()).unwrap_err().reason();
        assert_eq!(reason(SensorKind::Noise, "loud"), "not_json");
        assert_eq!(reason(SensorKind::Noise, r#"{"decibels": 3}"#), "wrong_schema");
        assert_eq!(reason(SensorKind::Noise, r#"{"db": 3, "extra": 1}"#), "wrong_schema");
        assert_eq!(reason(SensorKind::ParkingSpace, r#"{"occupied": "yes"}"#), "wrong_schema");
        assert_eq!(reason(SensorKind::Noise, r#"{"db": 900}"#), "out_of_range");
        assert_eq!(reason(SensorKind::ManholeCover, r#"{"tilt_deg": -1, "open": false}"#), "out_of_range");
        let err = validate(SensorKind::WaterLevel, br#"{"level_cm": 20000}"#).unwrap_err().to_string();
        assert!(err.contains("level_cm") && err.contains("20000"), "{err}");
    }

    #[test]
    fn every_listed_field_is_readable_with_its_type() {
        let readings = [
            SensorReading::ManholeCover { tilt_deg: 1.0, open: true },
            SensorReading::Smoke { alarm: false, obscuration_pct: Some(2.0) },
            SensorReading::WaterLevel { level_cm: 3.0 },
            SensorReading::Noise { db: 4.0 },
            SensorReading::ParkingSpace { occupied: true },
            SensorReading::Generic { value: 5.0, unit: None },
        ];
        for reading in readings {
            for (name, is_bool) in reading.kind().fields() {
                let value = reading.field(name).unwrap_or_else(|| panic!("{reading:?} has no {name}"));
                assert_eq!(matches!(value, FieldValue::Bool(_)), *is_bool, "{name}");
            }
            assert_eq!(reading.field("colour"), None);
        }
    }
}
