//! MQTT sensor payloads of every kind: a reading or a named rejection, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sharpeyes_ingest::mqtt::{SensorKind, schema::validate};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else { return };
    let kind = SensorKind::ALL[usize::from(selector) % SensorKind::ALL.len()];
    if let Ok((reading, _)) = validate(kind, payload) {
        // What is accepted serialises (the API and the wire carry it).
        serde_json::to_string(&reading).expect("a reading serialises");
    }
});
