//! Model manifests: a manifest or an error, never a panic.
//! The work is `entry_points::manifest`, which the stable smoke test (`tests/fuzz_smoke.rs`) runs too.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target compiles every entry point and uses one.
#[allow(dead_code)]
#[path = "../entry_points.rs"]
mod entry_points;

fuzz_target!(|data: &[u8]| {
    entry_points::manifest(data);
});
