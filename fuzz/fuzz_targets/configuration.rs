//! Configuration text: parsed and validated, or a list of problems with key paths, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports)]
#[path = "../../src/config/mod.rs"]
mod config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(problems) = config::Config::parse(text) {
        assert!(!problems.is_empty(), "a refusal names at least one problem");
    }
});
