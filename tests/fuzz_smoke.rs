//! Fuzzing on the stable toolchain, in every `make test` (and so in CI): each fuzz target's entry point
//! (`fuzz/entry_points.rs`, the very code libFuzzer runs in `scripts/fuzz.sh`) over its seeds — the
//! project's own valid inputs — and over inputs proptest makes from them: bit flips, inserted and
//! deleted bytes, spliced-in tokens that parsers trip on, truncations, and plain random bytes. A panic
//! fails the test with the (shrunk) input that caused it. Each run checks that its inputs reached both
//! outcomes, accepted and refused, so that a generator that never gets past the first byte cannot pass.
//!
//! Each target gets 30,000 generated inputs (photos, whose decoding costs milliseconds, 3,000), about
//! 30 s for all five; `FUZZ_SMOKE_SCALE` multiplies them (`FUZZ_SMOKE_SCALE=10` for a longer run).

// Every entry point is compiled; each test uses one.
#[allow(dead_code)]
#[path = "../fuzz/entry_points.rs"]
mod entry_points;

mod common;

use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};

/// Tokens that sit at the edges of what the parsers take.
const TOKENS: [&[u8]; 14] = [
    b"\"",
    b"{",
    b"}]",
    b"[[",
    b"\\u0000",
    b"-1",
    b"1e309",
    b"NaN",
    b"99999999999999999999",
    b"null",
    b"\xff\xfe",
    b"=",
    b"\n[x]\n",
    "永".as_bytes(),
];

/// One change to an input.
#[derive(Clone, Debug)]
enum Edit {
    FlipBit(usize),
    Insert(usize, u8),
    Delete(usize, usize),
    Splice(usize, usize),
    Truncate(usize),
}

fn apply(mut input: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let at = |position: usize, len: usize| if len == 0 { 0 } else { position % (len + 1) };
        match *edit {
            Edit::FlipBit(position) if !input.is_empty() => {
                let index = position % input.len();
                input[index] ^= 1 << (position % 8);
            }
            Edit::FlipBit(_) => {}
            Edit::Insert(position, byte) => {
                let index = at(position, input.len());
                input.insert(index, byte);
            }
            Edit::Delete(position, count) => {
                let start = at(position, input.len()).min(input.len());
                let end = (start + count).min(input.len());
                input.drain(start..end);
            }
            Edit::Splice(position, token) => {
                let index = at(position, input.len());
                input.splice(index..index, TOKENS[token % TOKENS.len()].iter().copied());
            }
            Edit::Truncate(position) => {
                let keep = at(position, input.len());
                input.truncate(keep);
            }
        }
    }
    input
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::FlipBit),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Insert(p, b)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Edit::Delete(p, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(p, t)| Edit::Splice(p, t)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// Inputs made from `seeds`: mostly a seed with a few edits, sometimes random bytes.
fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let mutated = (proptest::sample::select(seeds), proptest::collection::vec(edit(), 0..6))
        .prop_map(|(seed, edits)| apply(seed, &edits));
    prop_oneof![6 => mutated, 1 => proptest::collection::vec(any::<u8>(), 0..256)]
}

/// Generated inputs per cheap target.
const CASES: u32 = 30_000;

fn scaled(cases: u32) -> u32 {
    let scale: f64 = std::env::var("FUZZ_SMOKE_SCALE").ok().and_then(|n| n.parse().ok()).unwrap_or(1.0);
    (f64::from(cases) * scale).max(1.0) as u32
}

/// Runs `target` over `seeds` and over generated inputs; fails on a panic, or when the inputs never
/// reached one of the two outcomes.
fn smoke(name: &str, seeds: Vec<Vec<u8>>, cases: u32, target: fn(&[u8]) -> bool) {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    for (index, seed) in seeds.iter().enumerate() {
        assert!(target(seed), "{name}: seed {index} is refused; a seed must be a valid input");
    }
    let outcomes = std::cell::Cell::new([0u32; 2]);
    let mut runner = TestRunner::new(Config { cases: scaled(cases), failure_persistence: None, ..Config::default() });
    let started = std::time::Instant::now();
    let result = runner.run(&inputs(seeds), |input| {
        let accepted = std::panic::catch_unwind(|| target(&input))
            .map_err(|_| TestCaseError::fail(format!("{name} panicked on {} bytes: {:?}", input.len(), input)))?;
        let mut counts = outcomes.get();
        counts[usize::from(accepted)] += 1;
        outcomes.set(counts);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{name}: {failure}");
    }
    let [refused, accepted] = outcomes.get();
    println!(
        "{name}: {} inputs in {:.1} s, {accepted} accepted, {refused} refused, 0 panics",
        refused + accepted,
        started.elapsed().as_secs_f64()
    );
    assert!(accepted > 0 && refused > 0, "{name}: the inputs reached one outcome only ({accepted} accepted)");
}

fn files(dir: &str, extension: &str) -> Vec<Vec<u8>> {
    let dir = common::root().join(dir);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    paths.sort();
    paths.iter().map(|path| std::fs::read(path).unwrap()).collect()
}

#[test]
fn sensor_payloads() {
    let seeds = vec![
        b"\x00{\"open\": true, \"tilt_deg\": 30.0, \"ts\": \"2026-11-23T10:00:00Z\"}".to_vec(),
        b"\x02{\"level_cm\": 120.5}".to_vec(),
    ];
    smoke("sensor_payload", seeds, CASES, entry_points::sensor_payload);
}

#[test]
fn configurations() {
    let seeds = ["config/demo.toml", "config/reference.toml"]
        .iter()
        .map(|path| std::fs::read(common::root().join(path)).unwrap())
        .collect();
    smoke("configuration", seeds, CASES, entry_points::configuration);
}

#[test]
fn model_manifests() {
    // The detectors' manifests (the plate reader's, models/plate_*.toml, have another format).
    let seeds = files("models", "toml")
        .into_iter()
        .filter(|text| String::from_utf8_lossy(text).contains("family = "))
        .collect();
    smoke("manifest", seeds, CASES, entry_points::manifest);
}

#[test]
fn open311_photos() {
    let seeds = ["media/images/000000009769.jpg", "media/images/000000000285.jpg"]
        .iter()
        .map(|path| std::fs::read(common::root().join(path)).unwrap())
        .collect();
    smoke("open311_photo", seeds, CASES / 10, entry_points::open311_photo);
}

#[test]
fn api_json_bodies() {
    let seeds = vec![
        br#"{"action": "dispatch", "note": "to the street office"}"#.to_vec(),
        br#"{"matchers": {"camera": "cam-01"}, "starts_at": "2026-11-24T00:00:00Z", "ends_at": "2026-11-25T00:00:00Z", "comment": "x"}"#.to_vec(),
        br#"{"level": "urgent", "departments": ["water"], "note": "x"}"#.to_vec(),
        br#"{"to": "desk-2", "note": "night shift"}"#.to_vec(),
    ];
    smoke("api_json", seeds, CASES, entry_points::api_json);
}
