//! The case engine on a simulated clock over a real SQLite store: a place whose case was closed
//! through the store (as the API closes it) takes no new case until the cooldown has passed — checked
//! one second before and at the boundary, without sleeping, and without telling the engine anything
//! but the violations. A category's `auto_file_score` files confident cases at once and leaves the
//! others to an operator.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta};
use sharpeyes_alerting::{
    AlertingMetrics,
    calendar::{self, WorkCalendar},
    cases::{
        Principal, Role,
        deadlines::DeadlinePolicy,
        duplicates::DuplicateRule,
        evidence::EvidenceStore,
        taxonomy::{self, Taxonomy},
        workflow::{Action, Status},
    },
    casework::{CameraSite, CameraSites, CaseEngine, CaseOutcome, EngineSettings},
    clock::{Clock, ManualClock},
    rules::{CameraViolation, Category, Violation},
    store::Store,
};
use sharpeyes_inference::BBox;
use sharpeyes_ingest::Frame;

fn policy() -> DeadlinePolicy {
    DeadlinePolicy::new(Taxonomy::shipped(), WorkCalendar::from_toml(calendar::SHIPPED).unwrap())
}

/// A car standing at `x` in zone `np` of `cam-1`, confirmed now.
fn parked_car(clock: &ManualClock, x: f32) -> Violation {
    scored_car(clock, "cam-1", x, 0.5)
}

/// A car standing at `x` in zone `np` of `camera`, detected with `score`, confirmed now.
fn scored_car(clock: &ManualClock, camera: &str, x: f32, score: f32) -> Violation {
    let now = clock.now();
    let frame = Frame::from_rgb(camera.into(), now, 64, 48, Bytes::from(vec![90u8; 64 * 48 * 3]));
    Violation::from(CameraViolation {
        camera: camera.into(),
        zone: "np".into(),
        zone_points: vec![[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]],
        category: Category::IllegalParking,
        track_id: x as u64,
        class: Arc::from("car"),
        score,
        bbox: BBox::new(x, 30.0, x + 10.0, 40.0),
        zone_boxes: Vec::new(),
        first_seen: now - TimeDelta::minutes(5),
        confirmed_at: now,
        frame,
        before: None,
        frame_objects: Vec::new(),
        receipt: None,
    })
}

#[tokio::test]
async fn a_closed_place_cools_down_for_exactly_the_cooldown_on_the_engines_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    let start = DateTime::parse_from_rfc3339("2026-11-24T09:00:00+08:00").unwrap().to_utc();
    let clock = ManualClock::starting_at(start);
    let settings = EngineSettings {
        policy: policy(),
        cooldown: TimeDelta::minutes(10),
        duplicates: DuplicateRule::default(),
        shared: false,
        clock: Arc::new(clock.clone()),
    };
    let sites = CameraSites::from_iter([("cam-1", CameraSite { grid: "110105001001001".into(), location: None })]);
    let metrics = AlertingMetrics::register(&prometheus::Registry::new()).unwrap();
    let mut engine =
        CaseEngine::start(store.clone(), EvidenceStore::new(dir.path()), sites, metrics, settings).await.unwrap();

    let CaseOutcome::Opened(first) = engine.handle(parked_car(&clock, 5.0)).await.unwrap() else {
        panic!("the first car opens a case");
    };
    assert_eq!(engine.handle(parked_car(&clock, 5.0)).await.unwrap(), CaseOutcome::AlreadyKnown(first));
    assert_eq!(engine.handle(parked_car(&clock, 40.0)).await.unwrap(), CaseOutcome::Added(first));

    // Voided through the store, as the API does it: the engine is told nothing.
    clock.advance(TimeDelta::minutes(1));
    let admin = Principal::new("desk", Role::Admin);
    store.apply_action(first, &admin, Action::Void, "a shadow", clock.now(), &policy()).await.unwrap();

    clock.advance(TimeDelta::minutes(10) - TimeDelta::seconds(1));
    assert_eq!(engine.handle(parked_car(&clock, 5.0)).await.unwrap(), CaseOutcome::CoolingDown, "9:59 after");
    clock.advance(TimeDelta::seconds(1));
    let CaseOutcome::Opened(second) = engine.handle(parked_car(&clock, 5.0)).await.unwrap() else {
        panic!("after the cooldown the car opens a new case");
    };
    assert_ne!(second, first);
    let case = store.case_detail(second).await.unwrap().unwrap().case;
    assert_eq!(case.opened_at, clock.now(), "the case is opened at the engine's time");
    store.close().await;
}

#[tokio::test]
async fn a_confident_detection_is_filed_at_once_and_a_doubtful_one_waits_for_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    let start = DateTime::parse_from_rfc3339("2026-11-24T09:00:00+08:00").unwrap().to_utc();
    let clock = ManualClock::starting_at(start);
    let text = taxonomy::SHIPPED
        .replace("[categories.illegal_parking]\n", "[categories.illegal_parking]\nauto_file_score = 0.8\n");
    assert_ne!(text, taxonomy::SHIPPED, "the score was set");
    let policy =
        DeadlinePolicy::new(Taxonomy::from_toml(&text).unwrap(), WorkCalendar::from_toml(calendar::SHIPPED).unwrap());
    let settings = EngineSettings {
        policy,
        cooldown: TimeDelta::minutes(10),
        duplicates: DuplicateRule::default(),
        shared: false,
        clock: Arc::new(clock.clone()),
    };
    let site = || CameraSite { grid: "110105001001001".into(), location: None };
    let sites = CameraSites::from_iter([("cam-1", site()), ("cam-2", site()), ("cam-3", site())]);
    let metrics = AlertingMetrics::register(&prometheus::Registry::new()).unwrap();
    let mut engine =
        CaseEngine::start(store.clone(), EvidenceStore::new(dir.path()), sites, metrics, settings).await.unwrap();

    let mut opened = Vec::new();
    for (camera, score) in [("cam-1", 0.93), ("cam-2", 0.8), ("cam-3", 0.79)] {
        match engine.handle(scored_car(&clock, camera, 5.0, score)).await.unwrap() {
            CaseOutcome::Opened(id) => opened.push(id),
            other => panic!("{camera}: {other:?}"),
        }
    }
    let [confident, at_the_score, doubtful] = opened[..] else { unreachable!() };

    for id in [confident, at_the_score] {
        let detail = store.case_detail(id).await.unwrap().unwrap();
        assert_eq!(detail.case.status, Status::Filed, "case {id} is filed without an operator");
        assert!(detail.case.deadline_at.is_some(), "its deadline clock runs from filing");
        let filing = detail.events.iter().find(|event| event.to_status == Status::Filed).expect("a filing step");
        assert!(filing.note.contains("auto_file_score"), "the timeline says why: {}", filing.note);
    }
    let detail = store.case_detail(doubtful).await.unwrap().unwrap();
    assert_eq!(detail.case.status, Status::Reported, "below the score an operator verifies it");
    assert!(detail.case.deadline_at.is_none());
    store.close().await;
}
