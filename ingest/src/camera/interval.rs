//! `analyse_every_s`: which key-frames of a camera are analysed when it need not be looked at on
//! every one (parking needs a look every few seconds, not every key-frame).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// Picks the key-frames nearest to one every `every`: the first one, then each whose time since the
/// last one taken is within half a key-frame spacing of `every`, or beyond it. The spacing is learned
/// from the key-frames seen (a moving average), so the interval is honoured to the nearest key-frame
/// whatever the camera's GOP. A key-frame not taken is never decoded.
#[derive(Debug)]
pub struct AnalysisInterval {
    every: Option<TimeDelta>,
    last_taken: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    spacing: TimeDelta,
}

impl AnalysisInterval {
    /// Every key-frame when `every` is `None`.
    pub fn new(every: Option<Duration>) -> Self {
        Self {
            every: every.and_then(|every| TimeDelta::from_std(every).ok()),
            last_taken: None,
            last_seen: None,
            spacing: TimeDelta::zero(),
        }
    }

    /// Whether the key-frame captured at `at` is analysed.
    pub fn take(&mut self, at: DateTime<Utc>) -> bool {
        let Some(every) = self.every else { return true };
        if let Some(gap) = self.last_seen.map(|seen| at - seen).filter(|gap| *gap > TimeDelta::zero()) {
            self.spacing = moving_average(self.spacing, gap);
        }
        self.last_seen = Some(at);
        let take = self.last_taken.is_none_or(|last| (at - last) + self.spacing / 2 >= every);
        if take {
            self.last_taken = Some(at);
        }
        take
    }
}

/// A moving average of the gaps between frames, three quarters the old average and one the new gap
/// (the first gap as it is): the key-frame spacing here, the analysis pace in the camera's status.
pub(super) fn moving_average(average: TimeDelta, gap: TimeDelta) -> TimeDelta {
    if average.is_zero() { gap } else { (average * 3 + gap) / 4 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seconds (from the first) of the key-frames taken out of one every `gop` seconds for `for_s`.
    fn taken(every: Option<f64>, gop: f64, for_s: f64) -> Vec<f64> {
        let start = DateTime::parse_from_rfc3339("2026-11-30T08:00:00Z").unwrap().to_utc();
        let mut interval = AnalysisInterval::new(every.map(Duration::from_secs_f64));
        let count = (for_s / gop) as usize;
        (0..count)
            .map(|n| n as f64 * gop)
            .filter(|s| interval.take(start + TimeDelta::milliseconds((s * 1000.0) as i64)))
            .collect()
    }

    #[test]
    fn the_interval_is_honoured_to_the_nearest_key_frame() {
        assert_eq!(taken(None, 2.0, 10.0), [0.0, 2.0, 4.0, 6.0, 8.0], "no interval: every key-frame");
        assert_eq!(taken(Some(5.5), 2.0, 20.0), [0.0, 6.0, 12.0, 18.0], "6 s is nearest to 5.5 s");
        assert_eq!(taken(Some(4.9), 2.0, 14.0), [0.0, 4.0, 8.0, 12.0], "4 s is nearest to 4.9 s");
        assert_eq!(taken(Some(10.0), 1.0, 31.0), [0.0, 10.0, 20.0, 30.0]);
        assert_eq!(taken(Some(1.0), 2.0, 8.0), [0.0, 2.0, 4.0, 6.0], "shorter than the GOP: every key-frame");
    }
}
