//! The case store, the same checks on SQLite and on PostgreSQL (the local server at 127.0.0.1:5432, a
//! fresh database per run): camera cases with objects and evidence, list filters, the workflow's
//! transactions and deadlines, overdue cases, open cases after a restart, and timestamps that come
//! back as they went in.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sharpeyes_alerting::{
    calendar::WorkCalendar,
    cases::{
        Principal, Role,
        deadlines::DeadlinePolicy,
        duplicates::DuplicateRule,
        evidence::{EvidenceStore, encode_jpeg},
        quality::VoidReason,
        taxonomy::{Taxonomy, Urgency},
        whistles::Department,
        workflow::{Action, Status},
    },
    casework::plates::erase_expired_plates,
    rules::Category,
    store::{
        ActionOutcome, CaseFilter, DeliveryState, NewCase, NewDelivery, NewEvidence, NewObject, OwnershipOutcome,
        PlaceKey, ReadScope, RequestFilter, StatsGroup, StatsQuery, StatsRow, Store,
    },
};
use sqlx::{Connection, Executor, PgConnection};

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap() + TimeDelta::minutes(minute) + TimeDelta::microseconds(123_456)
}

fn camera_case(camera: &str, grid: &str, minute: i64) -> NewCase {
    NewCase {
        code: "0505".into(),
        category: Category::IllegalParking,
        camera: camera.into(),
        zone: "np-1".into(),
        grid: grid.into(),
        status: Status::Reported,
        urgency: Urgency::Normal,
        source: "camera".into(),
        device: String::new(),
        detail: None,
        location: None,
        duplicate_of: None,
        first_seen_at: at(minute - 5),
        confirmed_at: at(minute),
        opened_at: at(minute),
        violation: None,
    }
}

fn object(x: f32, minute: i64) -> NewObject {
    NewObject {
        class: "car".into(),
        score: 0.875,
        bbox: [x, 10.0, x + 50.0, 60.5],
        first_seen_at: at(minute - 5),
        confirmed_at: at(minute),
    }
}

fn evidence(n: u8, minute: i64) -> NewEvidence {
    NewEvidence { sha256: format!("{n:02x}").repeat(32), width: 640, height: 480, captured_at: at(minute) }
}

/// A new, empty PostgreSQL database `sharpeyes_<label>_<pid>`: the admin connection that drops it
/// afterwards, its name and its URL.
async fn fresh_database(label: &str) -> (PgConnection, String, String) {
    let name = format!("sharpeyes_{label}_{}", std::process::id());
    let mut admin =
        PgConnection::connect(ADMIN_URL).await.expect("PostgreSQL at 127.0.0.1:5432 (scripts/setup.sh starts it)");
    admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.unwrap();
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    (admin, name, url)
}

/// A policy with working time every day 09:00–17:00 in the city (+08:00: 01:00–09:00 UTC).
fn policy() -> DeadlinePolicy {
    let calendar =
        WorkCalendar::from_toml("utc_offset = \"+08:00\"\nworking_hours = [[\"09:00\", \"17:00\"]]\nweekend = []")
            .unwrap();
    DeadlinePolicy::new(Taxonomy::shipped(), calendar)
}

/// How many cases are in an open status.
async fn open_cases(store: &Store) -> usize {
    let all = store.list_cases(&CaseFilter { limit: 1000, ..CaseFilter::default() }).await.unwrap();
    all.iter().filter(|case| case.status.is_open()).count()
}

async fn exercise(store: &Store) {
    // Cases in two grids of one street, and one in another street.
    let first = store
        .insert_case(&camera_case("cam-1", "110105001001001", 0), Some(&object(0.0, 0)), &[evidence(1, 0)])
        .await
        .unwrap();
    let second = store
        .insert_case(&camera_case("cam-2", "110105001002001", 10), Some(&object(5.0, 10)), &[evidence(2, 10)])
        .await
        .unwrap();
    let third = store
        .insert_case(&camera_case("cam-3", "110105002001001", 20), Some(&object(9.0, 20)), &[evidence(3, 20)])
        .await
        .unwrap();
    assert!(first < second && second < third);
    store.add_object(first, &object(100.0, 3), &evidence(4, 3), None, at(3)).await.unwrap();

    let detail = store.case_detail(first).await.unwrap().unwrap();
    assert_eq!(detail.case.object_count, 2);
    assert_eq!(detail.objects.len(), 2);
    assert_eq!((detail.objects[1].idx, detail.objects[1].x1, detail.objects[1].y2), (1, 100.0, 60.5));
    assert_eq!(detail.objects[0].score, 0.875);
    assert_eq!(detail.evidence.iter().map(|e| e.idx).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(detail.case.first_seen_at, at(-5), "timestamps round-trip to the microsecond");
    assert_eq!(detail.case.updated_at, at(3));
    assert_eq!(detail.events.len(), 1);
    assert_eq!((detail.events[0].action.as_str(), detail.events[0].actor.as_str()), ("report", "camera:cam-1"));
    assert_eq!(store.evidence(first, 1).await.unwrap().unwrap().sha256, "04".repeat(32));
    assert!(store.evidence(first, 2).await.unwrap().is_none());
    assert!(store.evidence(second, 1).await.unwrap().is_none(), "evidence is found through its own case only");

    // Filters.
    let ids = |cases: Vec<sharpeyes_alerting::store::Case>| cases.iter().map(|c| c.id).collect::<Vec<_>>();
    let street = CaseFilter { grid: Some("110105001".into()), ..CaseFilter::default() };
    assert_eq!(ids(store.list_cases(&street).await.unwrap()), [second, first], "newest first, by grid prefix");
    let wildcard = CaseFilter { grid: Some("%".into()), ..CaseFilter::default() };
    assert!(store.list_cases(&wildcard).await.unwrap().is_empty(), "'%' is no pattern: no code starts with it");
    let window = CaseFilter { since: Some(at(5)), until: Some(at(20)), ..CaseFilter::default() };
    assert_eq!(ids(store.list_cases(&window).await.unwrap()), [second]);
    let camera = CaseFilter { camera: Some("cam-3".into()), limit: 1, ..CaseFilter::default() };
    assert_eq!(ids(store.list_cases(&camera).await.unwrap()), [third]);

    // The workflow: refused steps change nothing; accepted ones move the case and set its deadline.
    let policy = policy();
    let operator = Principal::new("desk", Role::Operator);
    let handler = Principal::new("office", Role::Handler);
    let refused = store.apply_action(first, &handler, Action::Verify, "", at(30), &policy).await.unwrap();
    assert!(matches!(refused, ActionOutcome::Refused(_)), "{refused:?}");
    let ActionOutcome::Applied(filed) =
        store.apply_action(first, &operator, Action::Verify, "ok", at(30), &policy).await.unwrap()
    else {
        panic!("verify refused")
    };
    assert_eq!(filed.case.status, Status::Filed);
    // Filed at 09:30 city time; illegal parking, normal urgency: 2 working hours.
    assert_eq!(filed.case.deadline_at, Some(at(150)));
    assert_eq!(filed.events.last().unwrap().note, "ok");
    assert!(matches!(
        store.apply_action(999_999, &operator, Action::Verify, "", at(30), &policy).await.unwrap(),
        ActionOutcome::NotFound
    ));

    // Overdue: the filed case once its deadline passed; not before, and not once supervised.
    assert!(store.overdue_cases(at(149), 10).await.unwrap().is_empty());
    assert_eq!(store.overdue_cases(at(151), 10).await.unwrap(), [first]);
    let clock = Principal::new("deadline-clock", Role::Admin);
    store.apply_action(first, &clock, Action::Supervise, "late", at(151), &policy).await.unwrap();
    assert!(store.overdue_cases(at(151), 10).await.unwrap().is_empty());

    // A place's state, as the engine reads it before filing: its open case with its objects' boxes in
    // order; a voided case is not open, and its place cools from when it was voided.
    store
        .apply_action_for(third, &operator, Action::Void, Some(VoidReason::FalseDetection), "a shadow", at(31), &policy)
        .await
        .unwrap();
    // The labelled-data export: the verified case (a positive) and the false detection (a hard
    // negative), each with its kept frame and first object; the undecided case is left out.
    let objects = r#"[{"class":"car","bbox":{"x1":0.0,"y1":10.0,"x2":50.0,"y2":60.5}}]"#;
    for case in [first, second, third] {
        store.insert_case_frame(case, &evidence(10 + case as u8, 0), objects).await.unwrap();
    }
    let labelled = store.labelled_cases(at(-100), at(100)).await.unwrap();
    let decisions: Vec<(i64, bool, f64)> = labelled.iter().map(|c| (c.id, c.verified, c.x1)).collect();
    assert_eq!(decisions, [(first, true, 0.0), (third, false, 9.0)]);
    assert_eq!((labelled[0].width, labelled[0].class.as_str()), (640, "car"), "{labelled:?}");
    assert_eq!(labelled[0].objects.as_deref(), Some(objects), "the frame's objects are kept with it");
    assert!(store.labelled_cases(at(25), at(100)).await.unwrap().is_empty(), "opened before the window");
    // The map's filter: open cases only, or finished ones only.
    for (open, expected) in [(true, vec![second, first]), (false, vec![third])] {
        let filter = CaseFilter { open: Some(open), ..CaseFilter::default() };
        assert_eq!(ids(store.list_cases(&filter).await.unwrap()), expected, "open = {open}");
    }
    let place = |camera| PlaceKey { source: "camera", id: camera, zone: "np-1", category: "illegal_parking" };
    let state = store.place_state(place("cam-1"), at(0)).await.unwrap();
    assert_eq!(state.open, Some((first, vec![[0.0, 10.0, 50.0, 60.5], [100.0, 10.0, 150.0, 60.5]])));
    let state = store.place_state(place("cam-3"), at(30)).await.unwrap();
    assert_eq!((state.open, state.finished_at), (None, Some(at(31))));
    assert_eq!(store.place_state(place("cam-3"), at(32)).await.unwrap().finished_at, None, "cooled down");
    let operator = operator.clone();
    store.ping().await.unwrap();

    // Duplicates: the earliest open case of the category within the radius and window, not itself a
    // duplicate; a voided one, another category, a farther one or an older one is not.
    let rule = DuplicateRule { radius_m: 50.0, window: TimeDelta::minutes(30) };
    let at_place = |camera: &str, location: [f64; 2], minute: i64| NewCase {
        location: Some(location),
        ..camera_case(camera, "110105001001001", minute)
    };
    let here = [116.45, 39.91];
    let near = store.insert_case(&at_place("cam-4", [116.4502, 39.9101], 40), None, &[]).await.unwrap();
    store.insert_case(&at_place("cam-5", [116.4510, 39.9100], 41), None, &[]).await.unwrap(); // ~85 m away
    let nearby = |minute: i64| store.nearby_open_case("illegal_parking", here, at(minute), &rule);
    assert_eq!(nearby(30).await.unwrap(), Some(near));
    assert_eq!(nearby(45).await.unwrap(), None, "opened before the window");
    assert_eq!(store.nearby_open_case("litter", here, at(30), &rule).await.unwrap(), None);
    let linked = store
        .insert_case(&NewCase { duplicate_of: Some(near), ..at_place("cam-6", here, 42) }, None, &[])
        .await
        .unwrap();
    let linked = store.case_detail(linked).await.unwrap().unwrap();
    assert_eq!((linked.case.duplicate_of, linked.case.longitude), (Some(near), Some(116.45)));
    assert_eq!(linked.events[0].note, format!("duplicate of case {near}"));
    store.apply_action(near, &operator, Action::Void, "", at(43), &policy).await.unwrap();
    assert_eq!(nearby(30).await.unwrap(), None, "a voided case takes no duplicates, nor does a duplicate");

    // Cases per grid cell for the grid tree: open, supervised, all.
    let counts: Vec<(String, i64, i64, i64)> =
        store.grid_counts().await.unwrap().into_iter().map(|c| (c.grid, c.open, c.supervised, c.total)).collect();
    assert_eq!(
        counts,
        [
            ("110105001001001".to_owned(), 3, 1, 4),
            ("110105001002001".to_owned(), 1, 0, 1),
            ("110105002001001".to_owned(), 0, 0, 1)
        ]
    );

    // The outbox: every timeline entry is routed once into deliveries, which are due, attempted,
    // retried, dead and revived.
    let unrouted = store.unrouted_entries(1000).await.unwrap();
    assert_eq!(unrouted.len() as i64, store.latest_entry_id().await.unwrap(), "every entry is waiting");
    let first = &unrouted[0];
    assert_eq!((first.action.as_str(), first.code.as_str()), ("report", "0505"));
    let delivery = |receiver: &str| NewDelivery {
        receiver: receiver.into(),
        body: format!("{{\"to\": \"{receiver}\"}}"),
        muted: None,
        group: None,
    };
    store.route_entry(first, &[delivery("ops"), delivery("police")], at(50)).await.unwrap();
    store.route_entry(first, &[delivery("ops")], at(50)).await.unwrap();
    assert_eq!(store.unrouted_entries(1000).await.unwrap().len(), unrouted.len() - 1);
    let due = store.due_deliveries(at(50), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.receiver.as_str()).collect::<Vec<_>>(), ["ops", "police"], "routed once");
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(at(50)));
    store.record_attempt(due[0].id, Ok(()), None, at(51)).await.unwrap();
    store.record_attempt(due[1].id, Err("503"), Some(at(55)), at(51)).await.unwrap();
    assert!(store.due_deliveries(at(54), 10).await.unwrap().is_empty(), "the retry waits");
    assert_eq!(store.due_deliveries(at(55), 10).await.unwrap()[0].attempts, 1);
    store.record_attempt(due[1].id, Err("timed out"), None, at(56)).await.unwrap();
    let dead = store.deliveries(Some(DeliveryState::Dead), None, 10).await.unwrap();
    assert_eq!((dead.len(), dead[0].attempts, dead[0].last_error.as_str()), (1, 2, "timed out"));
    let delivered = store.deliveries(Some(DeliveryState::Delivered), None, 10).await.unwrap();
    assert_eq!(delivered[0].delivered_at, Some(at(51)));
    assert_eq!(store.deliveries(None, Some(dead[0].id), 10).await.unwrap().len(), 1, "paged by id");
    assert!(store.revive_delivery(dead[0].id, at(60)).await.unwrap());
    assert!(!store.revive_delivery(delivered[0].id, at(60)).await.unwrap(), "only dead ones");
    assert_eq!(store.due_deliveries(at(60), 10).await.unwrap()[0].attempts, 0);
    let after = store.entries_after(first.id, 1000).await.unwrap();
    assert_eq!(after.len(), unrouted.len() - 1);

    // Grouping: held deliveries of one group leave as one delivery carrying every entry.
    let held = |entry: &sharpeyes_alerting::store::TimelineEntry| NewDelivery {
        receiver: "desk".into(),
        body: serde_json::json!({ "receiver": "desk", "entry": entry }).to_string(),
        muted: None,
        group: Some("grid=110105001001001".into()),
    };
    store.route_entry(&unrouted[1], &[held(&unrouted[1])], at(61)).await.unwrap();
    store.route_entry(&unrouted[2], &[held(&unrouted[2])], at(62)).await.unwrap();
    let groups = store.held_groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!((groups[0].first_held, groups[0].last_flush), (at(61), None));
    assert!(store.due_deliveries(at(70), 100).await.unwrap().iter().all(|d| d.receiver != "desk"), "held back");
    let (carrier, entries) = store.flush_group("desk", "grid=110105001001001", at(63)).await.unwrap().unwrap();
    assert_eq!(entries, 2);
    let sent = store.due_deliveries(at(63), 100).await.unwrap().into_iter().find(|d| d.id == carrier).unwrap();
    let body: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(body["entries"].as_array().unwrap().len(), 2);
    assert_eq!(body["entry"]["id"], unrouted[2].id, "the latest entry heads the batch");
    assert!(store.held_groups().await.unwrap().is_empty());
    let merged = store.deliveries(Some(DeliveryState::Merged), None, 10).await.unwrap();
    assert_eq!(merged.len(), 1);
    store.route_entry(&unrouted[3], &[held(&unrouted[3])], at(64)).await.unwrap();
    assert_eq!(store.held_groups().await.unwrap()[0].last_flush, Some(at(63)), "the group's last sending");

    // Reminders: open cases whose receivers were last told long enough ago.
    assert!(store.quiet_open_cases(at(40), 100).await.unwrap().is_empty(), "nobody was told before minute 50");
    let quiet = store.quiet_open_cases(at(100), 100).await.unwrap();
    let told = quiet.first().expect("open cases with deliveries");
    assert!(quiet.iter().all(|q| q.last_told <= at(100)));
    store.remind(told.case_id, &told.receiver, "still open".into(), at(101)).await.unwrap();
    let latest = store.latest_entry_of(told.case_id).await.unwrap().unwrap();
    assert_eq!((latest.action.as_str(), latest.actor), ("remind", format!("reminder:{}", told.receiver)));

    // Acknowledgement, hand-over and escalation.
    let id = store.insert_case(&camera_case("cam-ack", "110105001001001", 70), None, &[]).await.unwrap();
    let (a, b) = (Principal::new("desk-a", Role::Operator), Principal::new("desk-b", Role::Dispatcher));
    let waiting = || async { store.unacknowledged_cases(1000).await.unwrap().into_iter().find(|c| c.id == id) };
    let case = waiting().await.expect("nobody acknowledged it");
    assert_eq!((case.since, case.escalation_level), (at(70), 0));
    assert!(store.escalate(&case, TimeDelta::minutes(5), at(75)).await.unwrap());
    assert!(!store.escalate(&case, TimeDelta::minutes(5), at(75)).await.unwrap(), "each step once");
    assert_eq!(store.hand_over(id, &a, "desk-b", "", at(76)).await.unwrap(), OwnershipOutcome::Unowned);
    assert_eq!(store.acknowledge(id, &a, "", at(76)).await.unwrap(), OwnershipOutcome::Done);
    assert!(waiting().await.is_none(), "acknowledged");
    assert_eq!(store.acknowledge(id, &b, "", at(77)).await.unwrap(), OwnershipOutcome::OwnedBy("desk-a".into()));
    assert_eq!(
        store.hand_over(id, &b, "desk-a", "", at(77)).await.unwrap(),
        OwnershipOutcome::OwnedBy("desk-a".into())
    );
    assert_eq!(store.hand_over(id, &a, "desk-b", "shift ends", at(78)).await.unwrap(), OwnershipOutcome::Done);
    let case = waiting().await.expect("the new owner has not acknowledged it");
    assert_eq!((case.since, case.escalation_level), (at(78), 0), "escalation counts again from the hand-over");
    let detail = store.case_detail(id).await.unwrap().unwrap();
    assert_eq!((detail.case.owner.as_str(), detail.case.acknowledged_at), ("desk-b", None));
    let steps: Vec<(&str, &str)> = detail.events.iter().map(|e| (e.action.as_str(), e.actor.as_str())).collect();
    assert_eq!(
        steps[1..],
        [("escalate", "escalation:1"), ("acknowledge", "desk-a"), ("hand_over", "desk-a")],
        "{steps:?}"
    );
    let admin = Principal::new("admin", Role::Admin);
    assert!(matches!(
        store.apply_action(id, &admin, Action::Void, "", at(79), &policy).await.unwrap(),
        ActionOutcome::Applied(_)
    ));
    assert!(waiting().await.is_none(), "finished cases do not escalate");
    assert_eq!(store.acknowledge(id, &b, "", at(80)).await.unwrap(), OwnershipOutcome::Finished(Status::Voided));

    // Suspension stops the deadline clock: filed at 09:30 (due 11:30), suspended at 10:30 with one
    // working hour left, never overdue while suspended, resumed the next day at 09:00: due at 10:00.
    let id = store.insert_case(&camera_case("cam-pause", "110105001001001", 20), None, &[]).await.unwrap();
    let dispatcher = Principal::new("desk-d", Role::Dispatcher);
    store.apply_action(id, &operator, Action::Verify, "", at(30), &policy).await.unwrap();
    let ActionOutcome::Applied(suspended) =
        store.apply_action(id, &dispatcher, Action::Suspend, "waiting for the owner", at(90), &policy).await.unwrap()
    else {
        panic!("suspend refused")
    };
    assert_eq!((suspended.case.deadline_at, suspended.case.deadline_left_s), (None, Some(3600)));
    assert!(!store.overdue_cases(at(2000), 10).await.unwrap().contains(&id), "a suspended case is never overdue");
    let ActionOutcome::Applied(resumed) =
        store.apply_action(id, &dispatcher, Action::Resume, "", at(1440), &policy).await.unwrap()
    else {
        panic!("resume refused")
    };
    assert_eq!((resumed.case.deadline_at, resumed.case.deadline_left_s), (Some(at(1500)), None));
    assert!(store.overdue_cases(at(1499), 10).await.unwrap().is_empty());
    assert_eq!(store.overdue_cases(at(1501), 10).await.unwrap(), [id]);
}

/// What centers sharing a database rely on: relayed violations recorded once by id, a place's state
/// read from the database, and (with `other`, a second process on PostgreSQL) one leader and one filer
/// per place at a time.
async fn exercise_cluster(store: &Store, other: Option<&Store>) {
    let admin = Principal::new("admin", Role::Admin);
    let place = PlaceKey { source: "camera", id: "cam-relay", zone: "np-1", category: "illegal_parking" };
    assert_eq!(store.place_state(place, at(0)).await.unwrap(), Default::default());
    let case = NewCase { violation: Some("v-open".into()), ..camera_case("cam-relay", "110105001001001", 90) };
    let id = store.insert_case(&case, Some(&object(10.0, 90)), &[evidence(9, 90)]).await.unwrap();
    assert_eq!(store.filed_violation("v-open").await.unwrap(), Some(id));
    assert_eq!(store.filed_violation("v-other").await.unwrap(), None);
    assert!(store.insert_case(&case, None, &[]).await.is_err(), "a violation id opens one case");
    store.add_object(id, &object(200.0, 91), &evidence(10, 91), Some("v-added"), at(91)).await.unwrap();
    assert_eq!(store.filed_violation("v-added").await.unwrap(), Some(id));
    store.attribute_violation("v-seen", id, at(92)).await.unwrap();
    store.attribute_violation("v-seen", id, at(93)).await.unwrap();
    assert_eq!(store.filed_violation("v-seen").await.unwrap(), Some(id));
    let state = store.place_state(place, at(0)).await.unwrap();
    let (open, boxes) = state.open.expect("the place's open case");
    assert_eq!((open, boxes.len(), boxes[1][0]), (id, 2, 200.0));
    assert!(matches!(
        store.apply_action(id, &admin, Action::Void, "", at(95), &policy()).await.unwrap(),
        ActionOutcome::Applied(_)
    ));
    let state = store.place_state(place, at(0)).await.unwrap();
    assert_eq!((state.open, state.finished_at), (None, Some(at(95))));
    assert_eq!(store.place_state(place, at(96)).await.unwrap().finished_at, None, "finished before `since`");

    let Some(other) = other else {
        assert!(store.try_lead().await.unwrap().is_some(), "one process on SQLite always leads");
        return;
    };
    let mut leader = store.try_lead().await.unwrap().expect("nobody leads yet");
    assert!(other.try_lead().await.unwrap().is_none(), "one leader at a time");
    assert!(leader.is_held().await);
    drop(leader);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while other.try_lead().await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the lead is free once its holder is gone");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let lock = store.lock_place(place).await.unwrap();
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(300), other.lock_place(place)).await;
    assert!(waiting.is_err(), "a second filer waits for the place");
    lock.release().await;
    let second = tokio::time::timeout(std::time::Duration::from_secs(5), other.lock_place(place)).await;
    second.expect("the place is free once released").unwrap().release().await;
}

/// Plates: a better reading replaces a worse one (timeline and crop recorded), a later case of the same
/// plate lists the earlier one, the list filters by plate and prefix, and a finished case's plate is
/// erased after retention, with its crop no longer in use.
async fn exercise_plates(store: &Store) {
    let admin = Principal::new("admin", Role::Admin);
    let first = store.insert_case(&camera_case("cam-plate", "110105001001001", 200), None, &[]).await.unwrap();
    assert!(store.record_plate(first, "苏EB1234", 0.7, &evidence(20, 200), at(200)).await.unwrap());
    assert!(!store.record_plate(first, "苏EB1235", 0.6, &evidence(21, 200), at(201)).await.unwrap(), "worse");
    assert!(store.record_plate(first, "苏ED1234", 0.9, &evidence(22, 202), at(202)).await.unwrap(), "better");
    let detail = store.case_detail(first).await.unwrap().unwrap();
    assert_eq!((detail.case.plate.as_deref(), detail.case.plate_score), (Some("苏ED1234"), Some(0.9)));
    assert_eq!(detail.case.plate_evidence, Some(1));
    assert_eq!(detail.evidence.len(), 2, "one crop per recorded reading");
    let notes: Vec<&str> =
        detail.events.iter().filter(|e| e.action.as_str() == "plate_read").map(|e| e.note.as_str()).collect();
    assert_eq!(notes.len(), 2);
    assert!(notes[1].contains("苏ED1234") && notes[1].contains("better than 苏EB1234"), "{notes:?}");

    let second = store.insert_case(&camera_case("cam-plate-2", "110105001001001", 210), None, &[]).await.unwrap();
    store.record_plate(second, "苏ED1234", 0.8, &evidence(23, 210), at(210)).await.unwrap();
    let detail = store.case_detail(second).await.unwrap().unwrap();
    assert_eq!(detail.same_plate.iter().map(|c| c.id).collect::<Vec<_>>(), [first]);
    for (plate, found) in [("苏ED1234", 2), ("苏E", 2), ("苏EB", 0), ("京", 0)] {
        let filter = CaseFilter { plate: Some(plate.into()), ..CaseFilter::default() };
        assert_eq!(store.list_cases(&filter).await.unwrap().len(), found, "?plate={plate}");
    }

    store.apply_action(first, &admin, Action::Void, "", at(220), &policy()).await.unwrap();
    let erased = store.erase_plates(at(230), 30, at(231)).await.unwrap();
    assert_eq!(erased.iter().map(|e| e.case_id).collect::<Vec<_>>(), [first], "only the finished case");
    assert_eq!(erased[0].crop_sha256.as_deref(), Some(evidence(22, 0).sha256.as_str()));
    assert!(!store.evidence_in_use(&evidence(22, 0).sha256).await.unwrap());
    assert!(store.evidence_in_use(&evidence(23, 0).sha256).await.unwrap(), "the open case's crop stays");
    let detail = store.case_detail(first).await.unwrap().unwrap();
    assert_eq!((detail.case.plate, detail.case.plate_score), (None, None));
    assert!(detail.events.iter().any(|e| e.action.as_str() == "plate_erased"));
    assert!(store.erase_plates(at(230), 30, at(232)).await.unwrap().is_empty(), "erased once");
}

/// Cases as Open311 requests: every filter runs in the query (categories, open or finished, the time
/// window, ids, the reader's scope) and pages count the filtered cases; each row has its latest note
/// and its number of evidence images.
async fn exercise_requests(store: &Store) {
    let admin = Principal::new("admin", Role::Admin);
    let case = |category: Category, grid: &str, minute: i64| NewCase {
        category,
        code: if category == Category::Litter { "0102".into() } else { "0505".into() },
        ..camera_case("cam-requests", grid, minute)
    };
    let cell = "110105001001001";
    let a = store.insert_case(&case(Category::IllegalParking, cell, 0), None, &[evidence(30, 0)]).await.unwrap();
    let b = store.insert_case(&case(Category::Litter, cell, 10), None, &[]).await.unwrap();
    let c = store.insert_case(&case(Category::IllegalParking, cell, 20), None, &[]).await.unwrap();
    let d = store.insert_case(&case(Category::ManholeCover, "110105001001002", 30), None, &[]).await.unwrap();
    let e = store.insert_case(&case(Category::IllegalParking, cell, 40), None, &[]).await.unwrap();
    let false_detection = Some(VoidReason::FalseDetection);
    store
        .apply_action_for(c, &admin, Action::Void, false_detection, "gone when checked", at(50), &policy())
        .await
        .unwrap();
    store.apply_action(a, &admin, Action::Verify, "", at(3), &policy()).await.unwrap();

    let page = |filter: RequestFilter, scope: ReadScope| async move {
        let rows = store.service_requests(&RequestFilter { limit: 100, ..filter }, &scope).await.unwrap();
        rows.iter().map(|row| row.case.id).collect::<Vec<_>>()
    };
    let all = RequestFilter::default;
    assert_eq!(page(all(), ReadScope::All).await, [e, d, c, b, a]);
    let parking_and_manholes = vec!["illegal_parking".to_owned(), "manhole_cover".to_owned()];
    assert_eq!(page(RequestFilter { categories: parking_and_manholes, ..all() }, ReadScope::All).await, [e, d, c, a]);
    assert_eq!(page(RequestFilter { open: Some(false), ..all() }, ReadScope::All).await, [c]);
    assert_eq!(page(RequestFilter { open: Some(true), ..all() }, ReadScope::All).await, [e, d, b, a]);
    let window = RequestFilter { since: Some(at(10)), until: Some(at(30)), ..all() };
    assert_eq!(page(window, ReadScope::All).await, [c, b], "since inclusive, until exclusive");
    assert_eq!(page(RequestFilter { ids: vec![a, c], ..all() }, ReadScope::All).await, [c, a]);
    let litter_desk =
        ReadScope::Department { id: "sanitation".into(), categories: vec!["litter".into()], grids: vec![cell.into()] };
    assert_eq!(page(all(), litter_desk).await, [b]);
    let second_page = RequestFilter { offset: 1, limit: 2, ..all() };
    let rows = store.service_requests(&second_page, &ReadScope::All).await.unwrap();
    assert_eq!(rows.iter().map(|row| row.case.id).collect::<Vec<_>>(), [d, c], "a page of the filtered cases");
    assert_eq!(rows[1].latest_note.as_deref(), Some("gone when checked"));
    let first = store.service_requests(&RequestFilter { ids: vec![a], limit: 1, ..all() }, &ReadScope::All).await;
    assert_eq!(first.unwrap()[0].evidence_count, 1);

    // What became of them, for the quality figures.
    let outcomes = store.camera_case_outcomes(at(0), at(41)).await.unwrap();
    assert_eq!(outcomes.len(), 5);
    let of = |category: &str, minute: i64| {
        outcomes.iter().find(|o| o.category == category && o.opened_at == at(minute)).unwrap()
    };
    assert_eq!(of("illegal_parking", 0).verified_at, Some(at(3)));
    assert_eq!(of("illegal_parking", 20).void_reason.as_deref(), Some("false_detection"));
    assert_eq!(of("litter", 10).verified_at, None);
    assert_eq!(store.camera_case_outcomes(at(1), at(20)).await.unwrap().len(), 1, "the window counts");
    let detail = store.case_detail(c).await.unwrap().unwrap();
    assert_eq!(detail.case.void_reason.as_deref(), Some("false_detection"));
}

/// Scripted cases with known timings, and each figure of the statistics checked.
async fn exercise_stats(store: &Store) {
    let admin = Principal::new("admin", Role::Admin);
    let (cell_a, cell_b) = ("110105001001001", "110105001002001");
    let case = |category: Category, grid: &str, minute: i64| NewCase {
        category,
        code: if category == Category::Litter { "0102".into() } else { "0505".into() },
        ..camera_case("cam-stats", grid, minute)
    };
    let act = |id: i64, steps: Vec<(Action, i64)>| {
        let admin = &admin;
        async move {
            for (action, minute) in steps {
                let reason = (action == Action::Void).then_some(VoidReason::FalseDetection);
                let outcome = store.apply_action_for(id, admin, action, reason, "", at(minute), &policy()).await;
                assert!(matches!(outcome.unwrap(), ActionOutcome::Applied(_)), "{action:?} at {minute} on {id}");
            }
        }
    };
    use Action::*;
    // Parking in cell A: filed after 10 min, dispatched after 20, closed after 60.
    let a = store.insert_case(&case(Category::IllegalParking, cell_a, 0), None, &[]).await.unwrap();
    act(a, vec![(Verify, 10), (Dispatch, 20), (Accept, 25), (ReportHandled, 40), (Close, 60)]).await;
    // Parking in cell A, sent back once by the inspector: filed after 30, dispatched after 60, closed after 120.
    let b = store.insert_case(&case(Category::IllegalParking, cell_a, 30), None, &[]).await.unwrap();
    let steps = vec![(Verify, 60), (Dispatch, 90), (Accept, 95), (ReportHandled, 100), (Reopen, 110)];
    act(b, steps).await;
    act(b, vec![(ReportHandled, 120), (Close, 150)]).await;
    // Litter in cell B, filed after 2 min and left open (its 4 working hours run out at minute 302).
    let c = store.insert_case(&case(Category::Litter, cell_b, 60), None, &[]).await.unwrap();
    act(c, vec![(Verify, 62)]).await;
    // Parking in cell B, voided.
    let d = store.insert_case(&case(Category::IllegalParking, cell_b, 70), None, &[]).await.unwrap();
    act(d, vec![(Void, 75)]).await;
    // Parking reported the evening before the window, supervised (overdue), closed inside the window.
    let e = store.insert_case(&case(Category::IllegalParking, cell_a, -600), None, &[]).await.unwrap();
    act(
        e,
        vec![(Verify, -590), (Dispatch, -580), (Accept, -570), (Supervise, 121), (ReportHandled, 190), (Close, 200)],
    )
    .await;
    // Litter in cell A at 17:00 UTC: already the next day in the city (+08:00).
    store.insert_case(&case(Category::Litter, cell_a, 960), None, &[]).await.unwrap();
    // Closed before the window: never counted.
    let g = store.insert_case(&case(Category::IllegalParking, cell_a, -900), None, &[]).await.unwrap();
    act(g, vec![(Void, -890)]).await;

    let query = |until: i64, group_by: Vec<StatsGroup>| StatsQuery {
        since: at(0),
        until: at(until),
        grid: None,
        group_by,
        utc_offset_minutes: 480,
    };
    let stats = |query: StatsQuery, scope: ReadScope| async move {
        let department = |id: &str, category: &str, grid: &str| Department {
            id: id.into(),
            name: String::new(),
            categories: vec![category.into()],
            grids: vec![grid.into()],
        };
        let departments =
            [department("traffic", "illegal_parking", "110105"), department("sanitation", "litter", "110105001002")];
        store.case_stats(&query, &scope, &departments).await.unwrap()
    };
    let by_category = stats(query(1000, vec![StatsGroup::Category]), ReadScope::All).await;
    let keys: Vec<Vec<String>> = by_category.iter().map(|row| row.key.clone()).collect();
    assert_eq!(keys, [vec!["illegal_parking".to_owned()], vec!["litter".to_owned()]]);
    let parking = &by_category[0];
    let expected = StatsRow {
        key: vec!["illegal_parking".into()],
        opened: 3,
        filed: 2,
        dispatched: 2,
        closed: 3,
        voided: 1,
        open_at_end: 0,
        overdue_at_end: 0,
        to_filing_p50_s: Some(600.0),
        to_filing_p90_s: Some(1800.0),
        to_dispatch_p50_s: Some(1200.0),
        to_dispatch_p90_s: Some(3600.0),
        to_close_p50_s: Some(7200.0),
        to_close_p90_s: Some(48000.0),
        on_time_rate: Some(2.0 / 3.0),
        reopened_rate: Some(1.0 / 3.0),
    };
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 0.01,
        (a, b) => a == b,
    };
    let same = |got: &StatsRow, want: &StatsRow| {
        let counts = |r: &StatsRow| {
            (r.key.clone(), r.opened, r.filed, r.dispatched, r.closed, r.voided, r.open_at_end, r.overdue_at_end)
        };
        let measured = |r: &StatsRow| {
            [
                r.to_filing_p50_s,
                r.to_filing_p90_s,
                r.to_dispatch_p50_s,
                r.to_dispatch_p90_s,
                r.to_close_p50_s,
                r.to_close_p90_s,
                r.on_time_rate,
                r.reopened_rate,
            ]
        };
        counts(got) == counts(want) && measured(got).into_iter().zip(measured(want)).all(|(a, b)| close(a, b))
    };
    assert!(same(parking, &expected), "{parking:?}");
    let litter = &by_category[1];
    let expected_litter = StatsRow {
        key: vec!["litter".into()],
        opened: 2,
        filed: 1,
        open_at_end: 2,
        overdue_at_end: 1,
        to_filing_p50_s: Some(120.0),
        to_filing_p90_s: Some(120.0),
        ..StatsRow::default()
    };
    assert!(same(litter, &expected_litter), "{litter:?}");

    // Open and overdue are counted at `until`: before the litter case's deadline it is not overdue,
    // and before the parking cases closed they were open.
    let earlier = stats(query(100, vec![StatsGroup::Category]), ReadScope::All).await;
    assert_eq!((earlier[0].open_at_end, earlier[0].closed, earlier[0].voided), (2, 1, 1), "{:?}", earlier[0]);
    assert_eq!((earlier[1].open_at_end, earlier[1].overdue_at_end), (1, 0), "{:?}", earlier[1]);

    // Days are the city's: the litter case reported at 17:00 UTC falls on the next day.
    let by_day = stats(query(1000, vec![StatsGroup::Day, StatsGroup::Category]), ReadScope::All).await;
    let opened: Vec<(Vec<String>, i64)> = by_day.iter().map(|row| (row.key.clone(), row.opened)).collect();
    let key = |day: &str, category: &str| vec![day.to_owned(), category.to_owned()];
    assert_eq!(
        opened,
        [(key("2026-11-23", "illegal_parking"), 3), (key("2026-11-23", "litter"), 1), (key("2026-11-24", "litter"), 1)],
        "open at the end counts on until's day (2026-11-24 in the city)"
    );
    assert_eq!(by_day[2].open_at_end, 2);

    // Departments: each counts the cases of its categories in its grids.
    let by_department = stats(query(1000, vec![StatsGroup::Department]), ReadScope::All).await;
    let rows: Vec<(Vec<String>, i64, i64)> =
        by_department.iter().map(|row| (row.key.clone(), row.opened, row.closed)).collect();
    assert_eq!(rows, [(vec!["sanitation".to_owned()], 1, 0), (vec!["traffic".to_owned()], 3, 3)]);

    // A grid prefix and a reader's scope narrow the cases.
    let in_b = StatsQuery { grid: Some("110105001002".into()), ..query(1000, vec![StatsGroup::Grid]) };
    let rows = stats(in_b, ReadScope::All).await;
    let rows: Vec<(Vec<String>, i64, i64)> = rows.iter().map(|row| (row.key.clone(), row.opened, row.voided)).collect();
    assert_eq!(rows, [(vec![cell_b.to_owned()], 2, 1)]);
    let sanitation = ReadScope::Department {
        id: "sanitation".into(),
        categories: vec!["litter".into()],
        grids: vec!["110105001002".into()],
    };
    let scoped = stats(query(1000, vec![StatsGroup::Category]), sanitation).await;
    assert_eq!(scoped.len(), 1);
    assert_eq!((scoped[0].key.clone(), scoped[0].opened), (vec!["litter".to_owned()], 1));
}

/// Camera zones, cameras and rule sections set through the API: kept, replaced by a second set,
/// forgotten on reset, each change in the audit log.
async fn exercise_zones(store: &Store) {
    let admin = Principal::new("ops", Role::Admin);
    assert_eq!(store.camera_zones("gate").await.unwrap(), None);
    assert!(!store.reset_camera_zones("gate", &admin, at(0)).await.unwrap(), "nothing to reset");
    store.set_camera_zones("gate", r#"[{"id":"a"}]"#, &admin, at(1)).await.unwrap();
    store.set_camera_zones("lane", r#"[{"id":"l"}]"#, &admin, at(1)).await.unwrap();
    store.set_camera_zones("gate", r#"[{"id":"b"}]"#, &admin, at(2)).await.unwrap();
    let kept = store.camera_zones("gate").await.unwrap().unwrap();
    assert_eq!((kept.zones.as_str(), kept.changed_at, kept.changed_by.as_str()), (r#"[{"id":"b"}]"#, at(2), "ops"));
    let all: Vec<String> = store.all_camera_zones().await.unwrap().into_iter().map(|z| z.camera).collect();
    assert_eq!(all, ["gate", "lane"]);
    assert!(store.reset_camera_zones("gate", &admin, at(3)).await.unwrap());
    assert_eq!(store.camera_zones("gate").await.unwrap(), None);
    let audit: Vec<String> = store.audit_log(10).await.unwrap().into_iter().map(|a| a.action).collect();
    assert_eq!(audit, ["zones.reset", "zones.set", "zones.set", "zones.set"]);

    // Cameras set through the API: kept per camera, a removal kept as such; the camera's settings carry
    // its zones, so the zones an admin kept for it before are forgotten.
    assert!(store.stored_cameras().await.unwrap().is_empty());
    store.set_camera("dock", Some(r#"{"id":"dock"}"#), "shown dock", "camera.add", &admin, at(4)).await.unwrap();
    store
        .set_camera("lane", Some(r#"{"id":"lane","grid":"x"}"#), "shown lane", "camera.change", &admin, at(5))
        .await
        .unwrap();
    store.set_camera("dock", None, "shown dock", "camera.remove", &admin, at(6)).await.unwrap();
    let kept: Vec<(String, Option<String>, DateTime<Utc>)> =
        store.stored_cameras().await.unwrap().into_iter().map(|c| (c.camera, c.settings, c.changed_at)).collect();
    assert_eq!(
        kept,
        [("dock".to_owned(), None, at(6)), ("lane".to_owned(), Some(r#"{"id":"lane","grid":"x"}"#.to_owned()), at(5))]
    );
    assert_eq!(store.camera_zones("lane").await.unwrap(), None, "the camera's settings carry its zones now");
    let audit = store.audit_log(3).await.unwrap();
    let audit: Vec<(&str, &str, &str)> =
        audit.iter().map(|a| (a.action.as_str(), a.target.as_str(), a.detail.as_str())).collect();
    assert_eq!(
        audit,
        [
            ("camera.remove", "camera dock", "shown dock"),
            ("camera.change", "camera lane", "shown lane"),
            ("camera.add", "camera dock", "shown dock")
        ]
    );

    // A dwell rule's section set through the API: replaced by a second set, forgotten on reset.
    assert!(store.stored_rules().await.unwrap().is_empty());
    assert!(!store.reset_rule("litter", &admin, at(7)).await.unwrap(), "nothing to reset");
    store.set_rule("litter", r#"{"min_dwell_s":60}"#, &admin, at(7)).await.unwrap();
    store.set_rule("litter", r#"{"min_dwell_s":90}"#, &admin, at(8)).await.unwrap();
    let kept = store.stored_rules().await.unwrap();
    assert_eq!(
        kept.iter().map(|r| (r.rule.as_str(), r.settings.as_str(), r.changed_at)).collect::<Vec<_>>(),
        [("litter", r#"{"min_dwell_s":90}"#, at(8))]
    );
    assert!(store.reset_rule("litter", &admin, at(9)).await.unwrap());
    assert!(store.stored_rules().await.unwrap().is_empty());
    let audit: Vec<String> = store.audit_log(3).await.unwrap().into_iter().map(|a| a.action).collect();
    assert_eq!(audit, ["rules.reset", "rules.set", "rules.set"]);
}

#[tokio::test]
async fn zones_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    exercise_zones(&store).await;
    store.close().await;
}

#[tokio::test]
async fn zones_on_postgres() {
    let (mut admin, name, url) = fresh_database("zones").await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(&url), dir.path()).await.unwrap();
    exercise_zones(&store).await;
    store.close().await;
    admin.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
}

#[tokio::test]
async fn stats_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    exercise_stats(&store).await;
    store.close().await;
}

#[tokio::test]
async fn stats_on_postgres() {
    let (mut admin, name, url) = fresh_database("stats").await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(&url), dir.path()).await.unwrap();
    exercise_stats(&store).await;
    store.close().await;
    admin.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
}

#[tokio::test]
async fn requests_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    exercise_requests(&store).await;
    store.close().await;
}

#[tokio::test]
async fn requests_on_postgres() {
    let (mut admin, name, url) = fresh_database("requests").await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(&url), dir.path()).await.unwrap();
    exercise_requests(&store).await;
    store.close().await;
    admin.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
}

#[tokio::test]
async fn the_store_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    exercise(&store).await;
    store.close().await;
    // Reopening runs no migration twice and finds the cases.
    let store = Store::open(None, dir.path()).await.unwrap();
    assert_eq!(open_cases(&store).await, 5);
    exercise_cluster(&store, None).await;
    exercise_plates(&store).await;
    store.close().await;

    // A status the code does not know (written by a newer version, or by hand) is an error naming it.
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("sharpeyes.db").display())).await;
    let raw = raw.unwrap();
    sqlx::query("UPDATE cases SET status = 'lost_in_space' WHERE id = 1").execute(&raw).await.unwrap();
    raw.close().await;
    let store = Store::open(None, dir.path()).await.unwrap();
    let error = store.case_detail(1).await.err().expect("an unknown status does not decode").to_string();
    assert!(error.contains("'lost_in_space' is not a known Status"), "{error}");
}

#[tokio::test]
async fn the_store_on_postgres() {
    let (mut admin, name, url) = fresh_database("store").await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(&url), dir.path()).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    exercise(&store).await;
    store.close().await;
    let store = Store::open(Some(&url), dir.path()).await.unwrap();
    assert_eq!(open_cases(&store).await, 5);
    let other = Store::open(Some(&url), dir.path()).await.unwrap();
    exercise_cluster(&store, Some(&other)).await;
    exercise_plates(&store).await;
    other.close().await;
    store.close().await;
    admin.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
}

/// The retention pass: a finished case's plate text goes, and its crop file with it, once the case is
/// older than the retention; an open case's plate and crop stay.
#[tokio::test]
async fn expired_plates_are_erased_with_their_crop_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    let files = EvidenceStore::new(dir.path());
    let mut crops = Vec::new();
    for shade in [40u8, 200] {
        let jpeg = encode_jpeg(&image::RgbImage::from_pixel(64, 20, image::Rgb([shade, shade, shade]))).unwrap();
        crops.push(NewEvidence { sha256: files.save(&jpeg).unwrap(), width: 64, height: 20, captured_at: at(0) });
    }
    let finished = store.insert_case(&camera_case("cam-a", "110105001001001", 0), None, &[]).await.unwrap();
    let open = store.insert_case(&camera_case("cam-b", "110105001001001", 0), None, &[]).await.unwrap();
    store.record_plate(finished, "京A12345", 0.9, &crops[0], at(1)).await.unwrap();
    store.record_plate(open, "京A67890", 0.9, &crops[1], at(1)).await.unwrap();
    let admin = Principal::new("admin", Role::Admin);
    store.apply_action(finished, &admin, Action::Void, "", at(2), &policy()).await.unwrap();

    // Within the retention nothing goes.
    assert_eq!(erase_expired_plates(&store, &files, 30, at(60 * 24 * 29)).await.unwrap(), 0);
    assert!(files.path_of(&crops[0].sha256).unwrap().exists());
    // After it the finished case's plate and crop go, the open case keeps both.
    assert_eq!(erase_expired_plates(&store, &files, 30, at(60 * 24 * 31)).await.unwrap(), 1);
    assert!(!files.path_of(&crops[0].sha256).unwrap().exists(), "the crop file is deleted");
    assert!(files.path_of(&crops[1].sha256).unwrap().exists());
    assert_eq!(store.case_detail(finished).await.unwrap().unwrap().case.plate, None);
    assert_eq!(store.case_detail(open).await.unwrap().unwrap().case.plate.as_deref(), Some("京A67890"));
    store.close().await;
}

/// The version of the migration that keeps each case's moments (filed, dispatched, finished, reopened).
const MOMENTS_MIGRATION: i64 = 20261202000019;

/// Two cases and their timelines as a database before [`MOMENTS_MIGRATION`] held them: case 1 verified
/// after 10 minutes, dispatched after 20 (and again after 25), sent back and closed after an hour; case
/// 2 voided after 5 minutes.
const CASES_BEFORE_MOMENTS: &str = "
INSERT INTO cases (id, code, category, camera, zone, grid, status, urgency, source, device, object_count,
    first_seen_at, confirmed_at, opened_at, updated_at) VALUES
  (1, '0505', 'illegal_parking', 'cam-1', 'np', '110105001001001', 'closed', 'normal', 'camera', '', 1,
   '2026-06-01T08:00:00+00:00', '2026-06-01T08:00:00+00:00', '2026-06-01T08:00:00+00:00', '2026-06-01T09:00:00+00:00'),
  (2, '0505', 'illegal_parking', 'cam-1', 'np', '110105001001001', 'voided', 'normal', 'camera', '', 1,
   '2026-06-01T10:00:00+00:00', '2026-06-01T10:00:00+00:00', '2026-06-01T10:00:00+00:00', '2026-06-01T10:05:00+00:00');
INSERT INTO case_events (case_id, at, actor, role, action, from_status, to_status) VALUES
  (1, '2026-06-01T08:10:00+00:00', 'op', 'operator', 'verify', 'reported', 'filed'),
  (1, '2026-06-01T08:20:00+00:00', 'di', 'dispatcher', 'dispatch', 'filed', 'dispatched'),
  (1, '2026-06-01T08:25:00+00:00', 'di', 'dispatcher', 'dispatch', 'returned', 'dispatched'),
  (1, '2026-06-01T08:40:00+00:00', 'in', 'inspector', 'reopen', 'feedback', 'handling'),
  (1, '2026-06-01T09:00:00+00:00', 'in', 'inspector', 'close', 'feedback', 'closed'),
  (2, '2026-06-01T10:05:00+00:00', 'op', 'operator', 'void', 'reported', 'voided');";

/// The migrations of `dialect` before [`MOMENTS_MIGRATION`].
async fn migrations_before_moments(dialect: &str) -> sqlx::migrate::Migrator {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dialect);
    let mut migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    let before: Vec<_> = migrator.migrations.iter().filter(|m| m.version < MOMENTS_MIGRATION).cloned().collect();
    assert!(before.len() < migrator.migrations.len(), "migration {MOMENTS_MIGRATION} is among them");
    migrator.migrations = std::borrow::Cow::Owned(before);
    migrator
}

/// The cases of [`CASES_BEFORE_MOMENTS`], counted after the store brought the database up to date.
async fn exercise_moments_of_earlier_cases(store: &Store) {
    let query = StatsQuery {
        since: Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
        until: Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).unwrap(),
        grid: None,
        group_by: vec![StatsGroup::Category],
        utc_offset_minutes: 0,
    };
    let rows = store.case_stats(&query, &ReadScope::All, &[]).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    assert_eq!((row.opened, row.filed, row.dispatched, row.closed, row.voided), (2, 1, 1, 1, 1), "{row:#?}");
    assert_eq!(row.open_at_end, 0, "{row:#?}");
    assert_eq!(row.to_filing_p50_s, Some(600.0), "{row:#?}");
    assert_eq!(row.to_dispatch_p50_s, Some(1200.0), "the first dispatch counts: {row:#?}");
    assert_eq!(row.to_close_p50_s, Some(3600.0), "{row:#?}");
    assert_eq!(row.reopened_rate, Some(1.0), "{row:#?}");
    assert_eq!(row.on_time_rate, Some(1.0), "{row:#?}");
}

#[tokio::test]
async fn cases_from_before_the_moments_migration_are_counted_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let options =
        sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("sharpeyes.db")).create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    migrations_before_moments("sqlite").await.run(&pool).await.unwrap();
    sqlx::raw_sql(CASES_BEFORE_MOMENTS).execute(&pool).await.unwrap();
    pool.close().await;
    let store = Store::open(None, dir.path()).await.unwrap();
    exercise_moments_of_earlier_cases(&store).await;
    store.close().await;
}

#[tokio::test]
async fn cases_from_before_the_moments_migration_are_counted_on_postgres() {
    let (mut admin, name, url) = fresh_database("moments").await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    migrations_before_moments("postgres").await.run(&pool).await.unwrap();
    sqlx::raw_sql(CASES_BEFORE_MOMENTS).execute(&pool).await.unwrap();
    pool.close().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(&url), dir.path()).await.unwrap();
    exercise_moments_of_earlier_cases(&store).await;
    store.close().await;
    admin.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
}
