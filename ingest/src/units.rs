//! Numbers of the configuration that carry a unit or a range: [`Seconds`] and [`Score`]. Each is
//! read as the file writes it (`min_dwell_s = 300`, `min_score = 0.3`), checked in one place — its
//! `check` names the key path of a bad value — and handed on as the type the code uses.
//!
//! Parsing accepts any number so that `check-config` still reports every problem of a file at once;
//! the range is checked by the component's `validate`, which calls `check`.

use std::time::Duration;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::{Problem, positive};

/// A number of seconds (`*_s` keys): finite and not negative; some keys want it above zero. The
/// default is zero seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Seconds(f64);

impl Seconds {
    /// `seconds` seconds.
    pub const fn new(seconds: f64) -> Self {
        Self(seconds)
    }

    /// The number as written.
    pub const fn get(self) -> f64 {
        self.0
    }

    /// Whether the number is finite and above zero.
    pub fn is_positive(self) -> bool {
        positive(self.0)
    }

    /// A problem at `path` unless the number is finite and above zero.
    pub fn check_positive(self, path: &str) -> Option<Problem> {
        (!self.is_positive()).then(|| Problem::at(path, "must be positive"))
    }

    /// A problem at `path` unless the number is finite and not negative.
    pub fn check_not_negative(self, path: &str) -> Option<Problem> {
        (!(self.0.is_finite() && self.0 >= 0.0)).then(|| Problem::at(path, "must be zero or positive"))
    }

    /// As a duration (a value `check` refuses counts as zero).
    pub fn duration(self) -> Duration {
        Duration::try_from_secs_f64(self.0).unwrap_or_default()
    }

    /// As a time span, to the millisecond (a value `check` refuses counts as zero).
    pub fn time_delta(self) -> TimeDelta {
        if self.0.is_finite() { TimeDelta::milliseconds((self.0 * 1000.0) as i64) } else { TimeDelta::zero() }
    }
}

/// A score, a share or an overlap in `0..=1` (`min_score`, `min_presence`, `stationary_iou`, ...).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Score(f32);

impl Score {
    /// `value` (checked by [`Score::check`]).
    pub const fn new(value: f32) -> Self {
        Self(value)
    }

    /// The value.
    pub const fn get(self) -> f32 {
        self.0
    }

    /// A problem at `path` unless the value lies in `0..=1`.
    pub fn check(self, path: &str) -> Option<Problem> {
        (!(0.0..=1.0).contains(&self.0)).then(|| Problem::at(path, format!("{} is outside 0..=1", self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_named_by_their_path_and_good_ones_convert() {
        assert_eq!(
            Seconds::new(-1.0).check_positive("rules.litter.min_dwell_s").unwrap().path,
            "rules.litter.min_dwell_s"
        );
        assert!(Seconds::new(0.0).check_positive("x").is_some());
        assert!(Seconds::new(f64::NAN).check_not_negative("x").is_some());
        assert!(Seconds::new(0.0).check_not_negative("x").is_none());
        assert_eq!(Seconds::new(1.5).duration(), Duration::from_millis(1500));
        assert_eq!(Seconds::new(1.5).time_delta(), TimeDelta::milliseconds(1500));
        assert_eq!(Seconds::new(-3.0).duration(), Duration::ZERO);
        assert_eq!(Score::new(1.5).check("detector.confidence").unwrap().message, "1.5 is outside 0..=1");
        assert!(Score::new(0.0).check("x").is_none() && Score::new(1.0).check("x").is_none());
        assert_eq!(serde_json::from_str::<Seconds>("2").unwrap(), Seconds::new(2.0), "whole numbers are seconds too");
    }
}
