//! Open311 report photos (any bytes a citizen app uploads): decoded within the side and memory limits
//! or refused, never a panic and never an allocation past the limits (libFuzzer's -rss_limit_mb).
//! The work is `entry_points::open311_photo`, which the stable smoke test (`tests/fuzz_smoke.rs`) runs too.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each target compiles every entry point and uses one.
#[allow(dead_code)]
#[path = "../entry_points.rs"]
mod entry_points;

fuzz_target!(|data: &[u8]| {
    entry_points::open311_photo(data);
});
