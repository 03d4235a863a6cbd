//! Silences and inhibition suppress exactly what they match: a silence on one grid's parking cases
//! mutes those and nothing else, and ends when expired; an urgent whistle on a grid inhibits the
//! grid's normal-urgency alerts but not the whistled case's own, nor other grids'. Every mute is
//! visible as a `silenced` delivery with its reason, and silences are audited.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use serde_json::json;

const G1: &str = "110105001001001";
const G2: &str = "110105001001002";

fn send(
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = reqwest::blocking::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap_or_default())
}

#[test]
fn silences_and_inhibition_suppress_exactly_what_they_match() {
    let (url, taken) = start_webhook_receiver();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("se-silences-{}", nanos_since_epoch());
    let refused = format!("rtsp://127.0.0.1:{}/nothing", free_port());
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "dead", url: &refused, decode: "keyframes" }], 300.0);
    let mut more = manhole_sensor("mh-1", None);
    for (bay, grid) in [("bay-1", G1), ("bay-2", G2), ("bay-4", G2)] {
        more.push_str(&format!("\n[[sensors]]\nid = \"{bay}\"\nkind = \"parking_space\"\ngrid = \"{grid}\"\n"));
    }
    more.push_str(&format!(
        r#"
[[grids]]
code = "{G2}"
name = "second cell"

[[rules.sensor]]
id = "bay-taken"
kind = "parking_space"
field = "occupied"
equals = true
category = "illegal_parking"

[[departments]]
id = "water"
categories = ["manhole_cover"]
grids = ["110105"]

[[auth.tokens]]
name = "wall"
role = "viewer"
sha256 = "{viewer}"

[[notify.receivers]]
id = "ops"
url = "{url}"
secret = "k"
[notify.route]
receivers = ["ops"]
"#,
        viewer = sha256_hex("viewer-token"),
    ));
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &more);
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));
    let occupy = |bay: &str| {
        let reading = r#"{"occupied": true, "ts": "2026-11-24T09:00:00Z"}"#.to_owned();
        publish_lines(1883, &format!("{prefix}/sensors/{bay}/parking_space"), &[reading], None);
    };
    let case_of = |device: &str| {
        let (_, cases) = get_json(&base, "/api/v1/cases");
        cases.as_array().unwrap().iter().find(|c| c["device"] == device).map(|c| c["id"].as_i64().unwrap())
    };
    let deliveries = |state: &str| {
        let (_, list) = get_json(&base, &format!("/api/v1/deliveries?state={state}"));
        list.as_array()
            .unwrap()
            .iter()
            .map(|d| (d["case_id"].as_i64().unwrap(), d["last_error"].as_str().unwrap().to_owned()))
            .collect::<Vec<_>>()
    };

    // A silence on G2's parking cases, for an hour.
    let ends_at = (Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let silence = json!({ "matchers": { "grids": [G2], "categories": ["illegal_parking"] }, "ends_at": ends_at, "comment": "road works" });
    assert_eq!(send(&base, reqwest::Method::POST, "/api/v1/silences", "viewer-token", silence.clone()).0, 403);
    let (status, problem) = send(
        &base,
        reqwest::Method::POST,
        "/api/v1/silences",
        TOKEN,
        json!({ "matchers": {}, "ends_at": ends_at, "comment": "x" }),
    );
    assert_eq!(status, 400);
    assert!(problem["error"].as_str().unwrap().starts_with("matchers:"), "{problem}");
    let (status, created) = send(&base, reqwest::Method::POST, "/api/v1/silences", TOKEN, silence);
    assert_eq!(status, 200, "{created}");
    let silence_id = created["id"].as_i64().unwrap();

    // Silenced: G2's parking. Not silenced: a manhole in G1.
    occupy("bay-2");
    let open = r#"{"open": true, "tilt_deg": 80.0, "ts": "2026-11-24T09:00:00Z"}"#.to_owned();
    publish_lines(1883, &format!("{prefix}/sensors/mh-1/manhole_cover"), &[open], None);
    wait_for(Duration::from_secs(20), || service.log(), || case_of("bay-2").is_some() && case_of("mh-1").is_some());
    let (bay2, mh1) = (case_of("bay-2").unwrap(), case_of("mh-1").unwrap());

    // An urgent whistle on the manhole case inhibits G1's normal alerts (bay-1), not its own entry.
    let whistle = json!({ "level": "urgent", "departments": ["water"] });
    assert_eq!(send(&base, reqwest::Method::POST, &format!("/api/v1/cases/{mh1}/whistles"), TOKEN, whistle).0, 200);
    occupy("bay-1");
    wait_for(Duration::from_secs(20), || service.log(), || case_of("bay-1").is_some());
    let bay1 = case_of("bay-1").unwrap();

    // The silence expired: G2's next parking case is sent.
    assert_eq!(
        send(&base, reqwest::Method::DELETE, &format!("/api/v1/silences/{silence_id}"), TOKEN, json!({})).0,
        200
    );
    assert_eq!(
        send(&base, reqwest::Method::DELETE, &format!("/api/v1/silences/{silence_id}"), TOKEN, json!({})).0,
        404
    );
    occupy("bay-4");
    wait_for(Duration::from_secs(20), || service.log(), || case_of("bay-4").is_some());
    let bay4 = case_of("bay-4").unwrap();
    wait_for(Duration::from_secs(10), || service.log(), || deliveries("delivered").len() == 3);

    let mut silenced = deliveries("silenced");
    silenced.sort();
    let mut expected = vec![
        (bay2, format!("silence {silence_id}")),
        (bay1, format!("inhibited: urgent whistle on case {mh1} in grid {G1}")),
    ];
    expected.sort();
    assert_eq!(silenced, expected);
    let sent: Vec<(i64, String)> = taken
        .lock()
        .unwrap()
        .iter()
        .map(|b| (b["entry"]["case_id"].as_i64().unwrap(), b["entry"]["action"].as_str().unwrap().to_owned()))
        .collect();
    let mut sent_sorted = sent.clone();
    sent_sorted.sort();
    assert_eq!(sent_sorted, [(mh1, "report".to_owned()), (mh1, "whistle".to_owned()), (bay4, "report".to_owned())]);

    let (_, audit) = get_json(&base, "/api/v1/audit");
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["silence.expire", "silence.create"], "{audit}");
    assert!(audit.as_array().unwrap().iter().all(|a| a["actor"] == "e2e"));
}
