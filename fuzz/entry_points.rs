//! What each fuzz target does with one input, shared by the cargo-fuzz targets (`fuzz_targets/`,
//! libFuzzer on nightly: `scripts/fuzz.sh`) and the stable smoke run every `make test` does
//! (`tests/fuzz_smoke.rs`). Each parses or refuses its input and says which (the smoke run checks
//! that its inputs reach both); a panic is the failure found.

// The binary's configuration module, compiled in (the binary has no library to link).
#[allow(dead_code, unused_imports)]
#[path = "../src/config/mod.rs"]
mod config;

use sharpeyes_alerting::{api, casework::citizen::decode_photo, rules::wire};
use sharpeyes_ingest::mqtt::{SensorKind, schema::validate};

/// MQTT sensor payloads of every kind (the first byte picks the kind): a reading or a named
/// rejection; what is accepted serialises (the API and the wire carry it).
pub fn sensor_payload(data: &[u8]) -> bool {
    let Some((&selector, payload)) = data.split_first() else { return false };
    let kind = SensorKind::ALL[usize::from(selector) % SensorKind::ALL.len()];
    let Ok((reading, _)) = validate(kind, payload) else { return false };
    serde_json::to_string(&reading).expect("a reading serialises");
    true
}

/// Configuration text: parsed and validated, or a list of problems with key paths.
pub fn configuration(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    match config::Config::parse(text) {
        Ok(_) => true,
        Err(problems) => {
            assert!(!problems.is_empty(), "a refusal names at least one problem");
            false
        }
    }
}

/// Model manifests: a manifest or an error.
pub fn manifest(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    sharpeyes_inference::Manifest::parse(text, std::path::Path::new("/models/fuzz.toml")).is_ok()
}

/// Open311 report photos (any bytes a citizen app uploads): decoded within the side and memory limits
/// or refused.
pub fn open311_photo(data: &[u8]) -> bool {
    let Ok(image) = decode_photo(data) else { return false };
    assert!(image.width() > 0 && image.height() > 0);
    true
}

/// JSON the API and the cluster take from outside: the case API's request bodies, and the violation
/// messages centers take from the broker (an accepted message's id matches its content).
pub fn api_json(data: &[u8]) -> bool {
    let accepted = [
        serde_json::from_slice::<api::ActionRequest>(data).is_ok(),
        serde_json::from_slice::<api::AcknowledgeRequest>(data).is_ok(),
        serde_json::from_slice::<api::HandOverRequest>(data).is_ok(),
        serde_json::from_slice::<api::WhistleRequest>(data).is_ok(),
        serde_json::from_slice::<api::ReportInRequest>(data).is_ok(),
        serde_json::from_slice::<api::SilenceRequest>(data).is_ok(),
    ];
    let Ok((violation, message)) = wire::decode(data) else { return accepted.contains(&true) };
    assert_eq!(violation.stable_id(), message.id, "an accepted message's id matches its content");
    true
}
