//! Acknowledgement, ownership and escalation: a case nobody acknowledges escalates on the timetable,
//! each step to its own receivers; an acknowledged case does not; the owner alone hands a case on,
//! and the person it is handed to must acknowledge it before its escalation starts again.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const STEP_1_S: f64 = 4.0;
const STEP_2_S: f64 = 8.0;

fn post(base: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response =
        reqwest::blocking::Client::new().post(format!("{base}{path}")).bearer_auth(token).json(&body).send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or_default())
}

fn escalations(base: &str, case: i64) -> Vec<String> {
    let (_, detail) = get_json(base, &format!("/api/v1/cases/{case}"));
    detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "escalate")
        .map(|e| e["actor"].as_str().unwrap().to_owned())
        .collect()
}

fn told(taken: &std::sync::Mutex<Vec<Value>>, receiver: &str, case: i64) -> usize {
    let taken = taken.lock().unwrap();
    taken
        .iter()
        .filter(|b| b["receiver"] == receiver && b["entry"]["case_id"] == case && b["entry"]["action"] == "escalate")
        .count()
}

#[test]
fn unacknowledged_cases_escalate_on_the_timetable_and_owners_hand_them_on() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("se-escalation-{}", nanos_since_epoch());
    let (url, taken) = start_webhook_receiver();
    let (config, base) = write_config(dir.path(), &[], 300.0);
    let devices = ["mh-acked", "mh-ignored", "mh-handed"];
    let mut more = manhole_sensor(devices[0], None);
    for device in &devices[1..] {
        more.push_str(&format!(
            "\n[[sensors]]\nid = \"{device}\"\nkind = \"manhole_cover\"\ngrid = \"110105001001001\"\n"
        ));
    }
    more.push_str(&format!(
        r#"
[cases]
supervise_every_s = 1

[[notify.receivers]]
id = "chief"
url = "{url}"
secret = "k"

[[notify.receivers]]
id = "district"
url = "{url}"
secret = "k"

[[notify.escalation]]
after_s = {STEP_1_S}
receivers = ["chief"]

[[notify.escalation]]
after_s = {STEP_2_S}
receivers = ["district"]

[[auth.tokens]]
name = "desk-a"
role = "operator"
sha256 = "{a}"

[[auth.tokens]]
name = "desk-b"
role = "dispatcher"
sha256 = "{b}"

[[auth.tokens]]
name = "wall"
role = "viewer"
sha256 = "{wall}"
"#,
        a = sha256_hex("token-a"),
        b = sha256_hex("token-b"),
        wall = sha256_hex("token-wall"),
    ));
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &more);
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));
    for device in devices {
        let open = r#"{"open": true, "tilt_deg": 80.0, "ts": "2026-11-24T09:00:00Z"}"#.to_owned();
        publish_lines(1883, &format!("{prefix}/sensors/{device}/manhole_cover"), &[open], None);
    }
    let case_of = |device: &str| {
        let (_, cases) = get_json(&base, "/api/v1/cases");
        cases.as_array().unwrap().iter().find(|c| c["device"] == device).map(|c| c["id"].as_i64().unwrap())
    };
    wait_for(Duration::from_secs(30), || service.log(), || devices.iter().all(|d| case_of(d).is_some()));
    let [acked, ignored, handed] = devices.map(|d| case_of(d).unwrap());

    // Desk A acknowledges two cases at once and owns them.
    for case in [acked, handed] {
        let (status, view) = post(&base, &format!("/api/v1/cases/{case}/acknowledge"), "token-a", json!({}));
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["owner"], "desk-a");
        assert!(view["acknowledged_at"].is_string());
    }
    let path = |case: i64, what: &str| format!("/api/v1/cases/{case}/{what}");
    assert_eq!(post(&base, &path(acked, "acknowledge"), "token-wall", json!({})).0, 403, "viewers only watch");
    let (status, refused) = post(&base, &path(acked, "acknowledge"), "token-b", json!({}));
    assert_eq!((status, refused["error"].as_str()), (409, Some(format!("case {acked} is owned by desk-a").as_str())));
    let to_a = json!({ "to": "desk-a" });
    assert_eq!(post(&base, &path(acked, "hand_over"), "token-b", to_a).0, 409, "only the owner hands it on");
    let (status, refused) = post(&base, &path(ignored, "hand_over"), "token-a", json!({ "to": "desk-b" }));
    assert_eq!(status, 409, "nobody owns it yet: {refused}");
    assert_eq!(post(&base, &path(handed, "hand_over"), "token-a", json!({ "to": "nobody" })).0, 400);

    // The ignored case takes its first step; only then does desk A hand the third case to desk B, who
    // has not acknowledged it yet.
    wait_for(Duration::from_secs(30), || service.log(), || escalations(&base, ignored).len() == 1);
    assert!(escalations(&base, handed).is_empty(), "acknowledged by desk A: no step");
    let (status, view) =
        post(&base, &path(handed, "hand_over"), "token-a", json!({ "to": "desk-b", "note": "shift ends" }));
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["owner"], "desk-b");
    assert!(view["acknowledged_at"].is_null(), "the new owner acknowledges in turn");

    // The handed case takes the first step, counted from the hand-over, until desk B acknowledges it;
    // the ignored case takes both steps, in order, each to its receivers.
    wait_for(Duration::from_secs(30), || service.log(), || escalations(&base, handed).len() == 1);
    let (status, view) = post(&base, &path(handed, "acknowledge"), "token-b", json!({ "note": "on it" }));
    assert_eq!((status, view["owner"].as_str()), (200, Some("desk-b")));
    wait_for(Duration::from_secs(30), || service.log(), || escalations(&base, ignored).len() == 2);
    assert_eq!(escalations(&base, ignored), ["escalation:1", "escalation:2"]);
    wait_for(
        Duration::from_secs(10),
        || format!("{:#?}", taken.lock().unwrap()),
        || told(&taken, "district", ignored) == 1,
    );
    assert_eq!(told(&taken, "chief", ignored), 1);
    wait_for(
        Duration::from_secs(10),
        || format!("{:#?}", taken.lock().unwrap()),
        || told(&taken, "chief", handed) == 1,
    );
    // Each step's exact time, and that an acknowledged case takes no further step, are checked on a
    // simulated clock in alerting/tests/notify_on_simulated_time.rs.
    assert!(escalations(&base, acked).is_empty(), "acknowledged at once: never escalated");
    assert_eq!(told(&taken, "district", acked) + told(&taken, "chief", acked), 0);

    let (_, detail) = get_json(&base, &format!("/api/v1/cases/{handed}"));
    let steps: Vec<(&str, &str)> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps[1..],
        [("acknowledge", "desk-a"), ("hand_over", "desk-a"), ("escalate", "escalation:1"), ("acknowledge", "desk-b")]
    );
    let metrics = reqwest::blocking::get(format!("{base}/metrics")).unwrap().text().unwrap();
    assert_eq!(metric(&metrics, "sharpeyes_cases_escalated_total{step=\"1\"}"), 2.0);
}
