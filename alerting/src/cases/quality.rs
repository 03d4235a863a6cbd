//! How well each camera zone's alarms hold up: operators void a camera case with a reason, and the
//! figures per camera, zone and category — cases, verified, voided by reason, precision and the median
//! time to verify — come from those decisions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a case was voided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoidReason {
    /// The detector saw something that is not there (a shadow, a sign taken for a car).
    FalseDetection,
    /// What it saw is there, but is not a violation (a permitted vehicle, a delivery).
    NotAViolation,
    /// Another case reports the same thing.
    Duplicate,
    /// Anything else (the note says what).
    Other,
}

impl VoidReason {
    /// Every reason.
    pub const ALL: [Self; 4] = [Self::FalseDetection, Self::NotAViolation, Self::Duplicate, Self::Other];

    /// The snake_case name, as stored and served.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FalseDetection => "false_detection",
            Self::NotAViolation => "not_a_violation",
            Self::Duplicate => "duplicate",
            Self::Other => "other",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == name)
    }
}

/// What became of one camera case, as the quality figures count it.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct CaseOutcome {
    /// Camera id.
    pub camera: String,
    /// Zone id.
    pub zone: String,
    /// Category.
    pub category: String,
    /// Why it was voided, if it was.
    pub void_reason: Option<String>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When an operator verified it, if one did.
    pub verified_at: Option<DateTime<Utc>>,
}

/// The figures of one camera zone and category.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ZoneQuality {
    /// Camera id.
    pub camera: String,
    /// Zone id.
    pub zone: String,
    /// Category.
    pub category: String,
    /// Cases opened.
    pub cases: u64,
    /// Cases an operator verified.
    pub verified: u64,
    /// Cases voided, by reason (every reason listed).
    pub voided: BTreeMap<String, u64>,
    /// verified / (verified + false_detection); none before either happened.
    pub precision: Option<f64>,
    /// Median seconds from opening to verification; none before a verification.
    pub median_verify_s: Option<f64>,
}

/// The figures per camera, zone and category of `outcomes`, worst precision first (zones without one
/// last), then by camera and zone.
pub fn zone_quality(outcomes: &[CaseOutcome]) -> Vec<ZoneQuality> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<&CaseOutcome>> = BTreeMap::new();
    for outcome in outcomes {
        groups.entry((&outcome.camera, &outcome.zone, &outcome.category)).or_default().push(outcome);
    }
    let mut figures: Vec<ZoneQuality> = groups
        .into_iter()
        .map(|((camera, zone, category), cases)| {
            let mut voided: BTreeMap<String, u64> =
                VoidReason::ALL.iter().map(|r| (r.as_str().to_owned(), 0)).collect();
            for reason in cases.iter().filter_map(|case| case.void_reason.as_deref()) {
                *voided.entry(reason.to_owned()).or_default() += 1;
            }
            let mut waits: Vec<f64> = cases
                .iter()
                .filter_map(|case| Some((case.verified_at? - case.opened_at).num_milliseconds() as f64 / 1000.0))
                .collect();
            waits.sort_by(f64::total_cmp);
            let verified = waits.len() as u64;
            let false_detections = voided[VoidReason::FalseDetection.as_str()];
            let judged = verified + false_detections;
            ZoneQuality {
                camera: camera.to_owned(),
                zone: zone.to_owned(),
                category: category.to_owned(),
                cases: cases.len() as u64,
                verified,
                voided,
                precision: (judged > 0).then(|| verified as f64 / judged as f64),
                median_verify_s: median(&waits),
            }
        })
        .collect();
    figures.sort_by(|a, b| match (a.precision, b.precision) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    figures
}

/// The median of sorted `values`.
fn median(values: &[f64]) -> Option<f64> {
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn outcome(zone: &str, reason: Option<VoidReason>, verified_after_s: Option<i64>) -> CaseOutcome {
        let opened_at = DateTime::parse_from_rfc3339("2026-12-01T01:00:00Z").unwrap().with_timezone(&Utc);
        CaseOutcome {
            camera: "gate".into(),
            zone: zone.into(),
            category: "illegal_parking".into(),
            void_reason: reason.map(|r| r.as_str().to_owned()),
            opened_at,
            verified_at: verified_after_s.map(|s| opened_at + TimeDelta::seconds(s)),
        }
    }

    #[test]
    fn precision_counts_verified_against_false_detections_and_the_worst_zone_comes_first() {
        let outcomes = [
            outcome("kerb", None, Some(30)),
            outcome("kerb", None, Some(90)),
            outcome("kerb", Some(VoidReason::NotAViolation), None),
            outcome("kerb", None, None),
            outcome("corner", None, Some(60)),
            outcome("corner", Some(VoidReason::FalseDetection), None),
            outcome("corner", Some(VoidReason::FalseDetection), None),
            outcome("new", None, None),
        ];
        let figures = zone_quality(&outcomes);
        let zones: Vec<&str> = figures.iter().map(|f| f.zone.as_str()).collect();
        assert_eq!(zones, ["corner", "kerb", "new"], "worst first, unjudged last");
        let corner = &figures[0];
        assert_eq!((corner.cases, corner.verified), (3, 1));
        assert_eq!(corner.voided["false_detection"], 2);
        assert_eq!(corner.precision, Some(1.0 / 3.0));
        assert_eq!(corner.median_verify_s, Some(60.0));
        let kerb = &figures[1];
        assert_eq!(kerb.precision, Some(1.0), "not a violation is no false detection");
        assert_eq!(kerb.voided["not_a_violation"], 1);
        assert_eq!(kerb.median_verify_s, Some(60.0), "the median of 30 and 90");
        assert_eq!((figures[2].precision, figures[2].median_verify_s), (None, None));
    }
}
