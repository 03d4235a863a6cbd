use std::{collections::BTreeMap, sync::Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{SensorEvent, SensorReading};

/// The latest reading of each sensor, for the API.
#[derive(Debug, Default)]
pub struct SensorBoard {
    latest: Mutex<BTreeMap<String, SensorSnapshot>>,
}

/// A sensor's latest reading.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SensorSnapshot {
    /// Device id.
    pub device: String,
    /// Grid code.
    pub grid: String,
    /// `[longitude, latitude]`, when known.
    pub location: Option<[f64; 2]>,
    /// When it was measured.
    pub at: DateTime<Utc>,
    /// The reading (with its `kind`).
    pub reading: SensorReading,
    /// Valid messages received from the device since start.
    pub messages: u64,
}

impl SensorBoard {
    /// Records an event, keeping the newer of two readings by measurement time.
    pub fn record(&self, event: &SensorEvent) {
        let mut latest = self.latest.lock().unwrap_or_else(|poison| poison.into_inner());
        // Looked up by reference first: a known device (nearly every message) costs no allocation.
        if !latest.contains_key(&*event.device) {
            let snapshot = SensorSnapshot {
                device: event.device.to_string(),
                grid: event.grid.to_string(),
                location: event.location,
                at: event.at,
                reading: event.reading.clone(),
                messages: 0,
            };
            latest.insert(event.device.to_string(), snapshot);
        }
        let entry = latest.get_mut(&*event.device).expect("inserted above");
        entry.messages += 1;
        if event.at >= entry.at {
            entry.at = event.at;
            entry.reading = event.reading.clone();
        }
    }

    /// Every sensor heard from, by device id.
    pub fn snapshot(&self) -> Vec<SensorSnapshot> {
        self.latest.lock().unwrap_or_else(|poison| poison.into_inner()).values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seconds: i64, occupied: bool) -> SensorEvent {
        SensorEvent {
            device: "bay-1".into(),
            grid: "110105001001001".into(),
            location: None,
            at: DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap(),
            reading: SensorReading::ParkingSpace { occupied },
        }
    }

    #[test]
    fn the_newest_measurement_wins_even_when_it_arrives_first() {
        let board = SensorBoard::default();
        board.record(&event(10, true));
        board.record(&event(5, false));
        let snapshot = board.snapshot();
        assert_eq!(snapshot.len(), 1);
        assert_eq!(snapshot[0].reading, SensorReading::ParkingSpace { occupied: true });
        assert_eq!(snapshot[0].messages, 2);
    }
}
