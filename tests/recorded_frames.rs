//! The analysis from recorded frames instead of an RTSP camera (the `CameraFeed` seam): a street with
//! a parked truck and a parked car, photographed every 5 s for 3 minutes, goes through the real
//! detector, the dwell rule and the case engine (on a simulated clock) and becomes exactly one case of
//! two objects, each confirmed at the exact frame where it had stood for the rule's two minutes — no
//! RTSP server, no waiting in real time.

mod common;

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, TimeDelta};
use common::*;
use sharpeyes_alerting::{
    AlertingMetrics,
    calendar::{self, WorkCalendar},
    cases::{deadlines::DeadlinePolicy, duplicates::DuplicateRule, evidence::EvidenceStore, taxonomy::Taxonomy},
    casework::{CameraSite, CameraSites, CaseEngine, CaseOutcome, EngineSettings},
    clock::ManualClock,
    rules::{
        CameraViews, DwellRuleConfig, RuleSettings, RulesStage, SceneChangeConfig, StaticObjectConfig, TrackerConfig,
        Violation, Zone, ZoneKind,
    },
    store::Store,
};
use sharpeyes_inference::{Detector, DetectorOptions, InferenceMetrics, InferenceStage};
use sharpeyes_ingest::{
    Frame, FrameQueue,
    camera::{CameraFeed, RecordedCamera},
};

const EVERY_S: i64 = 5;
const FRAMES: i64 = 37;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_vehicles_in_recorded_frames_are_one_case_confirmed_after_exactly_the_dwell() {
    let photo = image::open(media("images/000000009769.jpg")).unwrap().to_rgb8();
    let (width, height) = photo.dimensions();
    let pixels = Bytes::from(photo.into_raw());
    let t0 = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+08:00").unwrap().to_utc();
    let frames = (0..FRAMES)
        .map(|i| Frame::from_rgb("truck".into(), t0 + TimeDelta::seconds(EVERY_S * i), width, height, pixels.clone()))
        .collect();

    // Recording → frame queue (room for every frame) → detector → rules → violations.
    let queue = FrameQueue::new(FRAMES as usize);
    let camera: Box<dyn CameraFeed> = Box::new(RecordedCamera::new("truck", frames, queue.clone()));
    let status = camera.status();
    let (_stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let feed = camera.spawn(stop_rx).unwrap();
    let detector =
        Detector::from_manifest_file(&root().join("models/yolox_nano.toml"), DetectorOptions::default()).unwrap();
    let (detections_tx, detections_rx) = crossbeam_channel::bounded(FRAMES as usize);
    let (_reload_tx, reload_rx) = crossbeam_channel::unbounded();
    let metrics = InferenceMetrics::register(&prometheus::Registry::new()).unwrap();
    let inference = InferenceStage::new(detector, queue.clone(), detections_tx, reload_rx, metrics, Duration::ZERO)
        .spawn()
        .unwrap();
    let offset = FixedOffset::east_opt(8 * 3600).unwrap();
    let zone = Zone::new("np", ZoneKind::NoParking, vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
    let dwell = DwellRuleConfig {
        min_dwell: TimeDelta::minutes(2),
        classes: ["car", "truck", "bus", "motorcycle"].map(String::from).to_vec(),
        min_score: 0.3,
        min_presence: 0.6,
        tracker: TrackerConfig::default(),
        utc_offset: offset,
        repeat: TimeDelta::hours(1),
    };
    let scene = SceneChangeConfig {
        persist: TimeDelta::hours(2),
        min_changed: 0.25,
        block_similarity: 0.5,
        utc_offset: offset,
    };
    let zones = HashMap::from([(Arc::from("truck"), vec![zone])]);
    let settings = RuleSettings {
        dwell: vec![(ZoneKind::NoParking, dwell)],
        scene,
        static_objects: Arc::new(StaticObjectConfig { kinds: Vec::new(), ..StaticObjectConfig::default() }),
    };
    let views = Arc::new(CameraViews::new(zones.clone()));
    let (violations_tx, mut violations_rx) = tokio::sync::mpsc::channel(FRAMES as usize);
    let (_updates_tx, updates_rx) = crossbeam_channel::unbounded();
    let rules = RulesStage::new(settings, &zones, detections_rx, violations_tx, updates_rx, views).spawn().unwrap();

    // The recording ends; the stages drain in order and the violations channel closes.
    feed.join().unwrap();
    queue.close();
    inference.join().unwrap();
    rules.join().unwrap();
    let mut violations = Vec::new();
    while let Some(violation) = violations_rx.recv().await {
        violations.push(violation);
    }
    let fed = status.snapshot();
    assert_eq!((fed.frames, fed.frames_dropped), (FRAMES as u64, 0), "every recorded frame was handed on");
    let seen: Vec<_> = violations
        .iter()
        .map(|v| match v {
            Violation::Camera(v) => {
                (v.class.to_string(), v.bbox.to_array().map(f32::round), v.first_seen, v.confirmed_at)
            }
            Violation::Sensor(_) | Violation::Cleared(_) => panic!("only the dwell rule watches this camera"),
        })
        .collect();
    println!("{seen:?}");
    assert_eq!(seen.len(), 2, "two vehicles stand in the photo, one violation each within the repeat interval");
    for (class, _, first_seen, confirmed_at) in &seen {
        assert!(["car", "truck"].contains(&class.as_str()), "{class}");
        assert_eq!(*first_seen, t0, "seen standing from the first frame");
        assert_eq!(*confirmed_at, t0 + TimeDelta::minutes(2), "confirmed at the frame two minutes later");
    }
    let Violation::Camera(violation) = &violations[0] else { unreachable!() };

    // The case engine files it at the recording's time.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    let clock = ManualClock::starting_at(violation.confirmed_at);
    let settings = EngineSettings {
        policy: DeadlinePolicy::new(Taxonomy::shipped(), WorkCalendar::from_toml(calendar::SHIPPED).unwrap()),
        cooldown: TimeDelta::minutes(10),
        duplicates: DuplicateRule::default(),
        shared: false,
        clock: Arc::new(clock),
    };
    let sites = CameraSites::from_iter([("truck", CameraSite { grid: "110105001001001".into(), location: None })]);
    let metrics = AlertingMetrics::register(&prometheus::Registry::new()).unwrap();
    let mut engine =
        CaseEngine::start(store.clone(), EvidenceStore::new(dir.path()), sites, metrics, settings).await.unwrap();
    let CaseOutcome::Opened(id) = engine.handle(violations.remove(0)).await.unwrap() else {
        panic!("the first vehicle opens a case");
    };
    assert_eq!(engine.handle(violations.remove(0)).await.unwrap(), CaseOutcome::Added(id), "one case per zone");
    let detail = store.case_detail(id).await.unwrap().unwrap();
    assert_eq!((detail.case.code.as_str(), detail.case.opened_at), ("0505", t0 + TimeDelta::minutes(2)));
    assert_eq!(detail.objects.len(), 2);
    assert_eq!(detail.evidence.len(), 3, "the confirming and first-seen frames, then the second vehicle's");
    assert_eq!(detail.evidence[1].captured_at, t0, "the first-seen evidence is the first frame");
    store.close().await;
}
