//! MQTT sensor payloads of every kind: a reading or a named rejection, never a panic.
//! The work is `entry_points::sensor_payload`, which the stable smoke test (`tests/fuzz_smoke.rs`) runs too.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target compiles every entry point and uses one.
#[allow(dead_code)]
#[path = "../entry_points.rs"]
mod entry_points;

fuzz_target!(|data: &[u8]| {
    entry_points::sensor_payload(data);
});
