//! The static-object rule's cost beside the detector's (figures printed; nothing here is asserted):
//! ms per analysed frame per zone at 1080p input, on one thread, for a full-frame `no_dumping` zone and
//! a quarter-frame one, against one YOLOX-nano detection of the same frame (1 intra-op thread) and
//! against what the project did not write: OpenCV's MOG2 background subtractor run twice per frame
//! (a long-term and a short-term model, as a dual-background detector needs) on the same frame
//! (`benches/static_object_opencv.py`, one thread). The goal is at most 2 ms per frame per zone.
//!
//! Run: `make bench` (or `source .env.sh && cargo bench --bench static_object`).

use std::{path::PathBuf, process::Command, sync::Arc, time::Instant};

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use image::imageops;
use sharpeyes_alerting::rules::{StaticObjectConfig, StaticObjectRule, Zone, ZoneKind};
use sharpeyes_inference::{Detector, DetectorOptions, FrameDetections, Manifest};
use sharpeyes_ingest::Frame;

const ROUNDS: u32 = 300;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// ms per frame of `rule` on a 1080p frame, one frame every 2 s of simulated time.
fn rule_ms(zone: Zone, rgb: &Bytes) -> f64 {
    let mut rule = StaticObjectRule::new(Arc::new(StaticObjectConfig::default()), &[zone]);
    let start = Utc::now();
    let analysed = |round: u32| FrameDetections {
        frame: Frame::from_rgb(
            "bench".into(),
            start + TimeDelta::seconds(2 * i64::from(round)),
            1920,
            1080,
            rgb.clone(),
        ),
        detections: Vec::new(),
    };
    for round in 0..10 {
        rule.observe(&analysed(round));
    }
    let started = Instant::now();
    for round in 10..10 + ROUNDS {
        std::hint::black_box(rule.observe(&analysed(round)).len());
    }
    started.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS)
}

fn main() {
    let photo = image::open(root().join("media/images/000000009769.jpg")).expect("media/ (scripts/setup.sh)");
    let frame = imageops::resize(&photo.to_rgb8(), 1920, 1080, imageops::FilterType::Triangle);
    let rgb = Bytes::from(frame.as_raw().clone());
    println!("static-object rule vs detector: 1920x1080 street photo, {ROUNDS} frames, one thread");

    let whole = Zone::new("all", ZoneKind::NoDumping, vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
    let quarter = Zone::new("corner", ZoneKind::NoDumping, vec![[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]);
    let (whole_ms, quarter_ms) = (rule_ms(whole, &rgb), rule_ms(quarter, &rgb));

    let manifest = Manifest::load(&root().join("models/yolox_nano.toml")).unwrap();
    let mut detector = Detector::load(manifest, DetectorOptions::default()).unwrap();
    for _ in 0..5 {
        detector.detect(&rgb, 1920, 1080).unwrap();
    }
    let started = Instant::now();
    for _ in 0..ROUNDS / 3 {
        std::hint::black_box(detector.detect(&rgb, 1920, 1080).unwrap().len());
    }
    let detector_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS / 3);

    let opencv = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("benches/static_object_opencv.py"))
        .arg(root().join("media/images/000000009769.jpg"))
        .arg((ROUNDS / 3).to_string())
        .output()
        .expect("the project's virtualenv (scripts/setup.sh)");
    assert!(opencv.status.success(), "static_object_opencv.py: {}", String::from_utf8_lossy(&opencv.stderr));
    let opencv_ms: f64 = String::from_utf8_lossy(&opencv.stdout).trim().parse().expect("ms printed");

    println!("detector (YOLOX-nano, 1 thread)      {detector_ms:6.2} ms/frame");
    println!("OpenCV MOG2 long + short (1 thread)  {opencv_ms:6.2} ms/frame");
    for (name, ms) in [("full-frame zone", whole_ms), ("quarter-frame zone", quarter_ms)] {
        println!(
            "static-object rule, {name:<18} {ms:6.2} ms/frame   ratio to the detector {:.3}, to OpenCV MOG2 {:.3}   (goal <= 2 ms)",
            ms / detector_ms,
            ms / opencv_ms
        );
    }
}
