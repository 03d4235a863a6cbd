//! Model manifests: a manifest or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = sharpeyes_inference::Manifest::parse(text, std::path::Path::new("/models/fuzz.toml"));
});
