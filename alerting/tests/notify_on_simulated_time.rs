//! Grouping, reminders and escalation on a simulated clock: the notifier over a real SQLite store,
//! delivering signed webhooks to a real HTTP receiver on loopback; time moves only when the test moves
//! it, so every boundary (one second before, one second after) is checked exactly, without sleeping.
//! A camera's maintenance window mutes its entries while it lasts, and only its own.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use serde_json::Value;
use sharpeyes_alerting::{
    AlertingMetrics,
    calendar::{self, WorkCalendar},
    cases::{
        Principal, Role,
        deadlines::DeadlinePolicy,
        taxonomy::{Taxonomy, Urgency},
        timeline::Step,
        workflow::{Action, Status},
    },
    clock::ManualClock,
    notify::{Escalation, EscalationStep, Mutes, Notifier, Receiver, RetryPolicy, Route, Webhook},
    rules::Category,
    store::{NewCase, Store},
};
use sharpeyes_ingest::units::Seconds;

/// What the receiver was sent, in order.
type Taken = Arc<Mutex<Vec<Value>>>;

/// An HTTP receiver on loopback that answers 200 to every POST and keeps its JSON body.
async fn start_receiver() -> (reqwest::Url, Taken) {
    let taken: Taken = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|State(taken): State<Taken>, Json(body): Json<Value>| async move {
                taken.lock().unwrap().push(body);
            }),
        )
        .with_state(taken.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/hook").parse().unwrap(), taken)
}

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T09:00:00+08:00").unwrap().to_utc()
}

/// A notifier on `clock` sending along `route` (TOML of `[notify.route]`) to the receiver "desk".
async fn notifier(store: &Store, clock: &ManualClock, route: &str, url: reqwest::Url) -> Notifier {
    notifier_with_maintenance(store, clock, route, url, HashMap::new()).await
}

/// [`notifier`] with daily maintenance windows (local time, UTC+8) by camera.
async fn notifier_with_maintenance(
    store: &Store,
    clock: &ManualClock,
    route: &str,
    url: reqwest::Url,
    maintenance: HashMap<String, Vec<(chrono::NaiveTime, chrono::NaiveTime)>>,
) -> Notifier {
    let route: Route = toml::from_str(route).unwrap();
    let mutes = Mutes { maintenance: maintenance.into(), utc_offset: FixedOffset::east_opt(8 * 3600).unwrap() };
    let webhook = Webhook { url, secret: "k".into(), timeout: Duration::from_secs(5) };
    let receivers = HashMap::from([("desk".to_owned(), Receiver::Webhook(webhook))]);
    let retry = RetryPolicy { max_attempts: 3, min_delay: Duration::from_secs(1), max_delay: Duration::from_secs(5) };
    let metrics = AlertingMetrics::register(&prometheus::Registry::new()).unwrap();
    Notifier::new(store.clone(), (route, mutes), receivers, retry, metrics).with_clock(Arc::new(clock.clone()))
}

/// A sensor case opened now in `grid`.
async fn open_case(store: &Store, clock: &ManualClock, device: &str, grid: &str) -> i64 {
    open_case_from(store, clock, "", device, grid).await
}

/// A case opened now in `grid` by `camera` (a sensor's when `camera` is empty, then by `device`).
async fn open_case_from(store: &Store, clock: &ManualClock, camera: &str, device: &str, grid: &str) -> i64 {
    use chrono::TimeZone;
    let now = sharpeyes_alerting::clock::Clock::now(clock);
    let case = NewCase {
        code: "0101".into(),
        category: Category::ManholeCover,
        camera: camera.into(),
        zone: "cover".into(),
        grid: grid.into(),
        status: Status::Reported,
        urgency: Urgency::Urgent,
        source: if camera.is_empty() { "sensor" } else { "camera" }.into(),
        device: device.into(),
        detail: None,
        location: None,
        duplicate_of: None,
        first_seen_at: Utc.timestamp_opt(now.timestamp() - 5, 0).unwrap(),
        confirmed_at: now,
        opened_at: now,
        violation: None,
    };
    store.insert_case(&case, None, &[]).await.unwrap()
}

/// Runs two notifier rounds (a round routes what the one before wrote, such as reminders); the
/// receiver has answered when a round returns.
async fn rounds(notifier: &Notifier) {
    for _ in 0..2 {
        notifier.round().await.unwrap();
    }
}

fn devices_of(body: &Value) -> Vec<String> {
    body["entries"].as_array().unwrap().iter().map(|e| e["device"].as_str().unwrap().to_owned()).collect()
}

const G1: &str = "110105001001001";
const G2: &str = "110105001002001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_waits_then_leaves_as_one_delivery_and_no_sooner_than_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    let clock = ManualClock::starting_at(start_time());
    let (url, taken) = start_receiver().await;
    let route = "receivers = [\"desk\"]\ngroup_by = [\"grid\"]\ngroup_wait_s = 30\ngroup_interval_s = 300\n";
    let notifier = notifier(&store, &clock, route, url).await;
    let sent = || taken.lock().unwrap().clone();

    open_case(&store, &clock, "mh-a", G1).await;
    rounds(&notifier).await;
    clock.advance(TimeDelta::seconds(10));
    open_case(&store, &clock, "mh-b", G1).await;
    open_case(&store, &clock, "mh-d", G2).await;
    rounds(&notifier).await;
    clock.advance(TimeDelta::seconds(19));
    rounds(&notifier).await;
    assert!(sent().is_empty(), "29 s into the 30 s wait nothing leaves: {:?}", sent());

    clock.advance(TimeDelta::seconds(1));
    rounds(&notifier).await;
    assert_eq!(sent().len(), 1, "the first group's wait is over, the second's is not: {:?}", sent());
    assert_eq!(
        (sent()[0]["group"].as_str().unwrap(), devices_of(&sent()[0])),
        (format!("grid={G1}").as_str(), vec!["mh-a".to_owned(), "mh-b".to_owned()])
    );
    clock.advance(TimeDelta::seconds(10));
    rounds(&notifier).await;
    assert_eq!(devices_of(&sent()[1]), ["mh-d"], "the second group 30 s after its first entry");

    // A later entry of the first group waits for the group's interval since its last batch.
    open_case(&store, &clock, "mh-e", G1).await;
    clock.advance(TimeDelta::seconds(289));
    rounds(&notifier).await;
    assert_eq!(sent().len(), 2, "299 s after the last batch: {:?}", sent());
    clock.advance(TimeDelta::seconds(1));
    rounds(&notifier).await;
    assert_eq!(sent().len(), 3);
    assert_eq!(devices_of(&sent()[2]), ["mh-e"]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_are_reminded_of_open_cases_on_the_interval_until_they_finish() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    let clock = ManualClock::starting_at(start_time());
    let (url, taken) = start_receiver().await;
    let notifier = notifier(&store, &clock, "receivers = [\"desk\"]\nrepeat_interval_s = 600\n", url).await;
    let actions = || -> Vec<String> {
        taken.lock().unwrap().iter().map(|b| b["entry"]["action"].as_str().unwrap().to_owned()).collect()
    };

    let case = open_case(&store, &clock, "mh-open", G1).await;
    rounds(&notifier).await;
    assert_eq!(actions(), ["report"]);
    clock.advance(TimeDelta::seconds(599));
    rounds(&notifier).await;
    assert_eq!(actions(), ["report"], "599 s after the receiver was told");
    clock.advance(TimeDelta::seconds(1));
    rounds(&notifier).await;
    assert_eq!(actions(), ["report", "remind"]);
    clock.advance(TimeDelta::seconds(600));
    rounds(&notifier).await;
    assert_eq!(actions(), ["report", "remind", "remind"], "again one interval after the reminder");

    // Voided: told once of the void, never reminded again.
    let policy = DeadlinePolicy::new(Taxonomy::shipped(), WorkCalendar::from_toml(calendar::SHIPPED).unwrap());
    let admin = Principal::new("admin", Role::Admin);
    let now = sharpeyes_alerting::clock::Clock::now(&clock);
    store.apply_action(case, &admin, Action::Void, "cover put back", now, &policy).await.unwrap();
    rounds(&notifier).await;
    clock.advance(TimeDelta::seconds(3600));
    rounds(&notifier).await;
    assert_eq!(actions(), ["report", "remind", "remind", "void"]);
    let detail = store.case_detail(case).await.unwrap().unwrap();
    assert!(detail.events.iter().any(|e| e.action == Step::Remind && e.actor == "reminder:desk"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_cases_escalate_step_by_step_and_acknowledged_ones_stop() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    let clock = ManualClock::starting_at(start_time());
    let metrics = AlertingMetrics::register(&prometheus::Registry::new()).unwrap();
    let escalation = Escalation::new(vec![
        EscalationStep { after_s: Seconds::new(300.0), receivers: vec!["chief".into()] },
        EscalationStep { after_s: Seconds::new(900.0), receivers: vec!["district".into()] },
    ]);
    let ignored = open_case(&store, &clock, "mh-1", G1).await;
    let acked = open_case(&store, &clock, "mh-2", G1).await;
    let at = |s: i64| start_time() + TimeDelta::seconds(s);
    store.acknowledge(acked, &Principal::new("desk", Role::Operator), "on it", at(10)).await.unwrap();

    assert!(escalation.pass(&store, &metrics, at(299)).await.unwrap().is_empty(), "one second early");
    assert_eq!(escalation.pass(&store, &metrics, at(300)).await.unwrap(), [ignored]);
    assert!(escalation.pass(&store, &metrics, at(899)).await.unwrap().is_empty(), "each step once");
    assert_eq!(escalation.pass(&store, &metrics, at(900)).await.unwrap(), [ignored]);
    assert!(escalation.pass(&store, &metrics, at(86_400)).await.unwrap().is_empty(), "every step taken");
    let steps: Vec<String> = store
        .case_detail(ignored)
        .await
        .unwrap()
        .unwrap()
        .events
        .iter()
        .filter(|e| e.action == Step::Escalate)
        .map(|e| e.actor.clone())
        .collect();
    assert_eq!(steps, ["escalation:1", "escalation:2"]);
    let acked = store.case_detail(acked).await.unwrap().unwrap();
    assert!(acked.events.iter().all(|e| e.action != Step::Escalate), "acknowledged at once: never escalated");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_in_its_maintenance_window_is_muted_and_no_other_and_not_after_the_window() {
    use chrono::NaiveTime;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    // 09:00 local; cam-9 is serviced daily 08:30–09:30.
    let clock = ManualClock::starting_at(start_time());
    let (url, taken) = start_receiver().await;
    let window = (NaiveTime::from_hms_opt(8, 30, 0).unwrap(), NaiveTime::from_hms_opt(9, 30, 0).unwrap());
    let maintenance = HashMap::from([("cam-9".to_owned(), vec![window])]);
    let notifier = notifier_with_maintenance(&store, &clock, "receivers = [\"desk\"]\n", url, maintenance).await;
    let cameras_sent = || -> Vec<String> {
        taken.lock().unwrap().iter().map(|b| b["entry"]["camera"].as_str().unwrap().to_owned()).collect()
    };

    let serviced = open_case_from(&store, &clock, "cam-9", "", G1).await;
    open_case_from(&store, &clock, "cam-1", "", G1).await;
    rounds(&notifier).await;
    assert_eq!(cameras_sent(), ["cam-1"], "cam-9 is in its window");
    let muted = store.deliveries(None, None, 100).await.unwrap();
    let muted = muted.iter().find(|d| d.case_id == serviced).expect("the muted entry is recorded");
    assert_eq!(muted.state, "silenced");
    assert!(muted.last_error.contains("maintenance window"), "{}", muted.last_error);

    // 09:30 local: the window has ended; cam-9's next entry goes out.
    clock.advance(TimeDelta::minutes(30));
    open_case_from(&store, &clock, "cam-9", "", G2).await;
    rounds(&notifier).await;
    assert_eq!(cameras_sent(), ["cam-1", "cam-9"]);
    store.close().await;
}
