//! Case engine and store throughput.
//!
//! 1. Violations/s through the case engine: the same objects seen again at places with an open case
//!    (the path nearly every violation takes: a parked car is confirmed once, then stays), new objects
//!    added to open cases (evidence JPEG drawn and stored), and new cases — against the 20,000/s target.
//! 2. Case inserts, workflow actions and list queries on SQLite and PostgreSQL (a fresh database on
//!    the local server), with the ratio between the two.
//!
//! `cargo bench --bench case_engine`; prints figures, asserts nothing about speed.

use std::{
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use sharpeyes_alerting::{
    AlertingMetrics,
    cases::{
        Principal, Role,
        deadlines::DeadlinePolicy,
        duplicates::DuplicateRule,
        evidence::EvidenceStore,
        taxonomy::Urgency,
        workflow::{Action, Status},
    },
    casework::{CameraSite, CaseEngine, CaseOutcome, EngineSettings},
    rules::{CameraViolation, Category, Violation},
    store::{CaseFilter, NewCase, NewEvidence, NewObject, Store},
};
use sharpeyes_inference::BBox;
use sharpeyes_ingest::Frame;

const TARGET_VIOLATIONS_PER_S: f64 = 20_000.0;
const PLACES: usize = 100;
const REPEATS: usize = 200_000;
const NEW_OBJECTS: usize = 300;
const STORE_CASES: usize = 2_000;
const LIST_QUERIES: usize = 300;

fn violation(place: usize, object: usize, frame: &Frame) -> Violation {
    let x = (object % 20) as f32 * 30.0;
    Violation::from(CameraViolation {
        camera: format!("cam-{place:03}").into(),
        zone: "np".into(),
        zone_points: vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]],
        category: Category::IllegalParking,
        track_id: object as u64,
        class: Arc::from("car"),
        score: 0.8,
        bbox: BBox::new(x, 300.0, x + 25.0, 330.0),
        zone_boxes: Vec::new(),
        first_seen: Utc::now() - TimeDelta::minutes(5),
        confirmed_at: Utc::now(),
        frame: frame.clone(),
        before: None,
        frame_objects: Vec::new(),
        receipt: None,
    })
}

/// The shipped taxonomy and calendar.
fn shipped_policy() -> DeadlinePolicy {
    use sharpeyes_alerting::{calendar, cases::taxonomy::Taxonomy};
    DeadlinePolicy::new(Taxonomy::shipped(), calendar::WorkCalendar::from_toml(calendar::SHIPPED).unwrap())
}

fn per_second(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

async fn engine_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    let metrics = AlertingMetrics::register(&prometheus::Registry::new()).unwrap();
    let sites = (0..PLACES)
        .map(|p| {
            (Arc::from(format!("cam-{p:03}").as_str()), CameraSite { grid: "110105001001001".into(), location: None })
        })
        .collect();
    let settings = EngineSettings {
        policy: shipped_policy(),
        cooldown: TimeDelta::minutes(10),
        duplicates: DuplicateRule::default(),
        shared: false,
        clock: sharpeyes_alerting::clock::system(),
    };
    let mut engine = CaseEngine::start(store, EvidenceStore::new(dir.path()), sites, metrics, settings).await.unwrap();
    let frame = Frame::from_rgb("cam".into(), Utc::now(), 640, 480, Bytes::from(vec![90u8; 640 * 480 * 3]));

    let started = Instant::now();
    for place in 0..PLACES {
        assert!(matches!(engine.handle(violation(place, 0, &frame)).await.unwrap(), CaseOutcome::Opened(_)));
    }
    let opened = per_second(PLACES, started.elapsed());

    let started = Instant::now();
    for i in 0..REPEATS {
        let outcome = engine.handle(violation(i % PLACES, 0, &frame)).await.unwrap();
        assert!(matches!(outcome, CaseOutcome::AlreadyKnown(_)), "{outcome:?}");
    }
    let repeats = per_second(REPEATS, started.elapsed());

    let started = Instant::now();
    for i in 0..NEW_OBJECTS {
        let outcome = engine.handle(violation(i % PLACES, 1 + i / PLACES, &frame)).await.unwrap();
        assert!(matches!(outcome, CaseOutcome::Added(_)), "{outcome:?}");
    }
    let added = per_second(NEW_OBJECTS, started.elapsed());

    println!("case engine (SQLite, 640x480 evidence), {PLACES} places:");
    println!(
        "  known objects seen again   {repeats:>10.0} violations/s  ({:.2}x the {TARGET_VIOLATIONS_PER_S:.0}/s target)",
        repeats / TARGET_VIOLATIONS_PER_S
    );
    println!("  new object into open case  {added:>10.0} violations/s  (evidence drawn, JPEG-encoded, stored)");
    println!("  new case                   {opened:>10.0} violations/s  (evidence + case row + timeline)");
}

fn new_case(i: usize) -> NewCase {
    let at = Utc::now();
    NewCase {
        code: "0505".into(),
        category: Category::IllegalParking,
        camera: format!("cam-{:03}", i % 100),
        zone: "np".into(),
        grid: format!("110105001{:03}001", i % 50),
        status: Status::Reported,
        urgency: Urgency::Normal,
        source: "camera".into(),
        device: String::new(),
        detail: None,
        location: None,
        duplicate_of: None,
        first_seen_at: at,
        confirmed_at: at,
        opened_at: at,
        violation: None,
    }
}

struct StoreFigures {
    inserts: f64,
    actions: f64,
    list_p50_ms: f64,
    list_p99_ms: f64,
}

async fn store_figures(store: &Store) -> StoreFigures {
    let object = NewObject {
        class: "car".into(),
        score: 0.8,
        bbox: [1.0, 2.0, 3.0, 4.0],
        first_seen_at: Utc::now(),
        confirmed_at: Utc::now(),
    };
    let evidence = NewEvidence { sha256: "ab".repeat(32), width: 640, height: 480, captured_at: Utc::now() };
    let started = Instant::now();
    let mut ids = Vec::with_capacity(STORE_CASES);
    for i in 0..STORE_CASES {
        ids.push(store.insert_case(&new_case(i), Some(&object), std::slice::from_ref(&evidence)).await.unwrap());
    }
    let inserts = per_second(STORE_CASES, started.elapsed());
    let operator = Principal::new("bench", Role::Operator);
    let policy = shipped_policy();
    let started = Instant::now();
    for id in &ids {
        store.apply_action(*id, &operator, Action::Verify, "", Utc::now(), &policy).await.unwrap();
    }
    let actions = per_second(ids.len(), started.elapsed());
    let mut latencies = Vec::with_capacity(LIST_QUERIES);
    for i in 0..LIST_QUERIES {
        let filter = CaseFilter { grid: Some(format!("110105001{:03}", i % 50)), ..CaseFilter::default() };
        let started = Instant::now();
        store.list_cases(&filter).await.unwrap();
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    StoreFigures { inserts, actions, list_p50_ms: at(0.5), list_p99_ms: at(0.99) }
}

fn psql(command: &str) {
    let status = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c", command])
        .status()
        .expect("psql");
    assert!(status.success(), "psql -c {command:?}");
}

async fn store_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = store_figures(&Store::open(None, dir.path()).await.unwrap()).await;
    let name = format!("sharpeyes_bench_{}", std::process::id());
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let postgres = Store::open(Some(&format!("postgres://postgres@127.0.0.1:5432/{name}")), dir.path()).await.unwrap();
    let pg = store_figures(&postgres).await;
    postgres.close().await;
    psql(&format!("DROP DATABASE {name}"));

    println!("case store, {STORE_CASES} camera cases (case + object + evidence + timeline per insert), one writer:");
    println!("  {:<34} {:>12} {:>12} {:>8}", "", "SQLite", "PostgreSQL", "PG/SQLite");
    let row = |what: &str, a: f64, b: f64| println!("  {what:<34} {a:>12.0} {b:>12.0} {:>8.2}", b / a);
    row("inserts/s", sqlite.inserts, pg.inserts);
    row("workflow actions/s (verify)", sqlite.actions, pg.actions);
    let ms = |what: &str, a: f64, b: f64| println!("  {what:<34} {a:>12.2} {b:>12.2} {:>8.2}", b / a);
    ms("list by grid prefix p50 ms", sqlite.list_p50_ms, pg.list_p50_ms);
    ms("list by grid prefix p99 ms", sqlite.list_p99_ms, pg.list_p99_ms);
}

/// Analysed frames/s through the dwell rules: 100 cameras, each frame with five parked vehicles and
/// three passing, every camera's rule keeping its own tracks.
fn rules_throughput() {
    use sharpeyes_alerting::rules::{DwellRule, DwellRuleConfig, Zone, ZoneKind};
    use sharpeyes_inference::{Detection, FrameDetections};
    const CAMERAS: usize = 100;
    const ROUNDS: usize = 300;
    let zone = Zone::new("np", ZoneKind::NoParking, vec![[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]]);
    let config = DwellRuleConfig { min_dwell: TimeDelta::seconds(20), ..Default::default() };
    let mut rules: Vec<DwellRule> = (0..CAMERAS)
        .map(|_| DwellRule::new(ZoneKind::NoParking, config.clone(), std::slice::from_ref(&zone)))
        .collect();
    let start = Utc::now();
    let frames: Vec<Frame> = (0..ROUNDS)
        .map(|round| {
            let at = start + TimeDelta::seconds(2 * round as i64);
            Frame::from_rgb("cam".into(), at, 640, 480, Bytes::from(vec![0u8; 640 * 480 * 3]))
        })
        .collect();
    let detections = |round: usize| -> Vec<Detection> {
        let parked = (0..5).map(|i| (i as f32 * 120.0 + 10.0, 300.0));
        let passing = (0..3).map(|i| (((round * 37 + i * 200) % 600) as f32, 250.0 + i as f32 * 60.0));
        parked
            .chain(passing)
            .map(|(x, y)| Detection {
                class_id: 2,
                class: "car".into(),
                score: 0.8,
                bbox: BBox::new(x, y, x + 80.0, y + 50.0),
            })
            .collect()
    };
    let started = Instant::now();
    let mut violations = 0;
    for (round, frame) in frames.iter().enumerate() {
        let analysed = FrameDetections { frame: frame.clone(), detections: detections(round) };
        for rule in &mut rules {
            violations += rule.observe(&analysed).len();
        }
    }
    let took = started.elapsed();
    println!("dwell rules, {CAMERAS} cameras x {ROUNDS} key-frames, 8 vehicles a frame (5 parked, 3 passing):");
    println!(
        "  {:>10.0} frames/s  {:>10.0} detections/s  ({violations} violations: one per parked vehicle per camera)",
        per_second(CAMERAS * ROUNDS, took),
        per_second(CAMERAS * ROUNDS * 8, took)
    );
}

#[tokio::main]
async fn main() {
    rules_throughput();
    engine_throughput().await;
    store_comparison().await;
}
