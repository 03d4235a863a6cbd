//! Grouping and reminders as the service is configured: `[notify.route]` with `group_by` makes entries
//! of one grid leave as one delivery; `repeat_interval_s` reminds the receiver. Their timing (the wait,
//! the interval, when reminders stop) is checked exactly on a simulated clock in
//! `alerting/tests/notify_on_simulated_time.rs`; here only the wiring, on the real clock.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const G1: &str = "110105001001001";
const G2: &str = "110105001001002";
const WAIT_S: f64 = 2.0;
const INTERVAL_S: f64 = 5.0;

fn batches(taken: &std::sync::Mutex<Vec<Value>>) -> Vec<(String, Vec<String>)> {
    taken
        .lock()
        .unwrap()
        .iter()
        .map(|body| {
            let devices = body["entries"].as_array().unwrap().iter().map(|e| e["device"].as_str().unwrap().to_owned());
            (body["group"].as_str().unwrap().to_owned(), devices.collect())
        })
        .collect()
}

#[test]
fn entries_of_a_group_leave_together() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("se-grouping-{}", nanos_since_epoch());
    let (url, taken) = start_webhook_receiver();
    let (config, base) = write_config(dir.path(), &[], 300.0);
    let devices = [("mh-a", G1), ("mh-b", G1), ("mh-c", G1), ("mh-d", G2)];
    let mut more = manhole_sensor("mh-a", None);
    for (device, grid) in &devices[1..] {
        more.push_str(&format!("\n[[sensors]]\nid = \"{device}\"\nkind = \"manhole_cover\"\ngrid = \"{grid}\"\n"));
    }
    more.push_str(&format!(
        r#"
[[grids]]
code = "{G2}"
name = "second cell"

[[notify.receivers]]
id = "desk"
url = "{url}"
secret = "k"

[notify.route]
receivers = ["desk"]
group_by = ["grid"]
group_wait_s = {WAIT_S}
group_interval_s = {INTERVAL_S}
"#
    ));
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &more);
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));
    let open = |device: &str| {
        let reading = r#"{"open": true, "tilt_deg": 80.0, "ts": "2026-11-24T09:00:00Z"}"#.to_owned();
        publish_lines(1883, &format!("{prefix}/sensors/{device}/manhole_cover"), &[reading], None);
    };
    for (device, _) in &devices {
        open(device);
    }

    // Three cases in G1, one in G2: two deliveries, one per grid, after the group wait.
    wait_for(
        Duration::from_secs(30),
        || format!("{:#?}\n{}", batches(&taken), service.log()),
        || batches(&taken).len() == 2,
    );
    let mut sent = batches(&taken);
    sent.sort();
    assert_eq!(
        sent,
        [
            (format!("grid={G1}"), vec!["mh-a".to_owned(), "mh-b".to_owned(), "mh-c".to_owned()]),
            (format!("grid={G2}"), vec!["mh-d".to_owned()]),
        ]
    );
    let (_, merged) = get_json(&base, "/api/v1/deliveries?state=merged");
    assert_eq!(merged.as_array().unwrap().len(), 2, "the other two G1 deliveries went with the first");
}

#[test]
fn receivers_are_reminded_of_cases_still_open() {
    const REPEAT_S: f64 = 3.0;
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("se-reminders-{}", nanos_since_epoch());
    let (url, taken) = start_webhook_receiver();
    let (config, base) = write_config(dir.path(), &[], 300.0);
    let mut more = manhole_sensor("mh-open", None);
    more.push_str(&format!(
        r#"
[[notify.receivers]]
id = "desk"
url = "{url}"
secret = "k"

[notify.route]
receivers = ["desk"]
repeat_interval_s = {REPEAT_S}
"#
    ));
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &more);
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));
    let reading = r#"{"open": true, "tilt_deg": 80.0, "ts": "2026-11-24T09:00:00Z"}"#.to_owned();
    publish_lines(1883, &format!("{prefix}/sensors/mh-open/manhole_cover"), &[reading], None);
    let actions = || -> Vec<String> {
        taken.lock().unwrap().iter().map(|b| b["entry"]["action"].as_str().unwrap_or_default().to_owned()).collect()
    };
    let reminders = || actions().iter().filter(|a| *a == "remind").count();
    wait_for(Duration::from_secs(30), || format!("{:?}\n{}", actions(), service.log()), || reminders() >= 1);
    assert_eq!(actions()[0], "report");
    let (_, cases) = get_json(&base, "/api/v1/cases");
    let case = cases[0]["id"].as_i64().unwrap();
    let (_, detail) = get_json(&base, &format!("/api/v1/cases/{case}"));
    let remind = detail["events"].as_array().unwrap().iter().find(|e| e["action"] == "remind").unwrap();
    assert_eq!(remind["actor"], "reminder:desk");
}
