//! JSON the API and the cluster take from outside: the request bodies of the case API, and the
//! violation messages centers take from the broker. Parsed or refused, never a panic.
//! The work is `entry_points::api_json`, which the stable smoke test (`tests/fuzz_smoke.rs`) runs too.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target compiles every entry point and uses one.
#[allow(dead_code)]
#[path = "../entry_points.rs"]
mod entry_points;

fuzz_target!(|data: &[u8]| {
    entry_points::api_json(data);
});
