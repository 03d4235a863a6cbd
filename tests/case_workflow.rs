//! The case workflow through the API, on a case reported by a real sensor over the real broker: every
//! role tries every step (allowed or refused as designed), the deadline is set in working time when the
//! case is filed and moved by an extension, an overdue case is supervised by the deadline clock, the
//! timeline records who did what, and a closed place opens a new case only after the cooldown.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use serde_json::{Value, json};

const ROLES: [&str; 6] = ["viewer", "operator", "dispatcher", "handler", "inspector", "admin"];

/// The token of a role in this test (its digest goes into the configuration).
fn token(role: &str) -> String {
    format!("workflow-{role}-token")
}

/// `role` takes `action` on case `id`; returns the status and body.
fn act(base: &str, id: i64, role: &str, body: Value) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/cases/{id}/actions"))
        .bearer_auth(token(role))
        .json(&body)
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

fn deadline(case: &Value) -> DateTime<Utc> {
    case["deadline_at"].as_str().unwrap_or_else(|| panic!("no deadline: {case:#}")).parse().unwrap()
}

fn cases_of_device(base: &str) -> Vec<Value> {
    let (status, cases) = get_json(base, "/api/v1/cases?category=manhole_cover");
    assert_eq!(status, 200);
    cases.as_array().unwrap().clone()
}

/// Every role tries `action`: only `allowed` (and admin, who is not asked here) may; the others get
/// 403 naming their role, and the case does not move.
fn only_allowed(base: &str, id: i64, action: &str, allowed: &str) {
    for role in ROLES.iter().filter(|r| **r != allowed && **r != "admin") {
        let (status, body) = act(base, id, role, json!({ "action": action }));
        assert_eq!(status, 403, "{role} {action}: {body}");
        assert!(body["error"].as_str().unwrap().contains("may not"), "{body}");
    }
}

#[test]
fn the_closed_loop_on_sqlite() {
    closed_loop(None);
}

#[test]
fn the_closed_loop_on_postgres() {
    let database = PostgresDatabase::create("workflow");
    closed_loop(Some(&database.url));
}

/// Starts sharpeyes with a manhole sensor `mh-7` on the local broker, a token per role, a test
/// taxonomy (a manhole case is due 6 s after filing), an all-day calendar, a 4 s cooldown, lasting
/// violations raised again every 2 s, the deadline
/// clock every second, and `extra` configuration; returns the service, its base URL and the sensor's
/// topic.
fn start(dir: &std::path::Path, database: Option<&str>, extra: &str) -> (Running, String, String) {
    let prefix = format!("se-workflow-{}", nanos_since_epoch());
    let topic = format!("{prefix}/sensors/mh-7/manhole_cover");
    let refused = format!("rtsp://127.0.0.1:{}/nothing", free_port());
    let (config, base) = write_config(dir, &[TestCamera { id: "dead", url: &refused, decode: "keyframes" }], 300.0);

    // Work every minute of every day, so deadlines are plain arithmetic; a manhole case at its default
    // urgency (urgent) is due 6 s after filing, so supervision can be watched.
    let calendar = dir.join("calendar.toml");
    std::fs::write(&calendar, "utc_offset = \"+08:00\"\nworking_hours = [[\"00:00\", \"23:59\"]]\nweekend = []\n")
        .unwrap();
    let taxonomy = dir.join("taxonomy.toml");
    let shipped = std::fs::read_to_string(root().join("config/taxonomy.toml")).unwrap();
    let fast = shipped.replace(
        "time_limit_hours = { normal = 4.0, urgent = 1.0, critical = 0.5 }",
        "time_limit_hours = { normal = 4.0, urgent = 0.0016667, critical = 0.5 }",
    );
    assert_ne!(fast, shipped, "the manhole cover's limits are in the shipped taxonomy");
    std::fs::write(&taxonomy, fast).unwrap();

    let mut more = format!(
        r#"
[rules]
repeat_s = 2
[cases]
taxonomy = "{taxonomy}"
calendar = "{calendar}"
cooldown_s = 4
supervise_every_s = 1
{sensor}
{extra}"#,
        taxonomy = taxonomy.display(),
        calendar = calendar.display(),
        sensor = manhole_sensor("mh-7", Some([116.45, 39.91])),
    );
    for role in ROLES {
        more.push_str(&format!(
            "\n[[auth.tokens]]\nname = \"{role}-desk\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            sha256_hex(&token(role))
        ));
    }
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &more);
    if let Some(url) = database {
        use_database(&config, url);
    }
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));
    assert_eq!(service.log().contains("case store on PostgreSQL"), database.is_some(), "{}", service.log());
    (service, base, topic)
}

fn reading(open: bool, second: u32) -> String {
    format!(r#"{{"tilt_deg": 1.0, "open": {open}, "ts": "2026-11-23T10:00:{second:02}Z"}}"#)
}

/// A case goes round the closed loop with roles, deadlines, supervision and cooldown, on SQLite (no
/// `database`) or on PostgreSQL.
fn closed_loop(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let (service, base, topic) = start(dir.path(), database, "");
    publish_lines(1883, &topic, &[reading(true, 1)], None);
    wait_for(Duration::from_secs(20), || service.log(), || cases_of_device(&base).len() == 1);
    let id = cases_of_device(&base)[0]["id"].as_i64().unwrap();
    let (_, case) = get_json(&base, &format!("/api/v1/cases/{id}"));
    assert_eq!((case["status"].as_str(), case["urgency"].as_str()), (Some("reported"), Some("urgent")));
    assert!(case["deadline_at"].is_null(), "no clock before filing: {case:#}");
    assert_eq!(case["events"][0]["action"], "report");
    assert_eq!(case["events"][0]["actor"], "sensor:mh-7");

    // Bad requests name what is wrong; steps out of order are refused with the status.
    let (status, body) = act(&base, id, "operator", json!({ "action": "fly" }));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("unknown variant `fly`"), "{body}");
    let (status, body) = act(&base, id, "operator", json!({ "action": "verify", "colour": "red" }));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");
    assert_eq!(act(&base, 999_999, "operator", json!({ "action": "verify" })).0, 404);
    let (status, body) = act(&base, id, "inspector", json!({ "action": "close" }));
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Reported"), "{body}");

    // 信息采集 → 案卷建立: only an operator verifies; the clock starts.
    only_allowed(&base, id, "verify", "operator");
    let (status, case) = act(&base, id, "operator", json!({ "action": "verify", "note": "seen on the wall" }));
    assert_eq!(status, 200, "{case}");
    assert_eq!(case["status"], "filed");
    let filed_at: DateTime<Utc> = case["events"][1]["at"].as_str().unwrap().parse().unwrap();
    let due = deadline(&case);
    assert!((due - filed_at - chrono::TimeDelta::seconds(6)).num_milliseconds().abs() < 50, "{filed_at} + 6 s = {due}");

    // Past the deadline the clock supervises it (督办), and says so in the timeline.
    wait_for(
        Duration::from_secs(20),
        || service.log(),
        || get_json(&base, &format!("/api/v1/cases/{id}")).1["supervised"] == true,
    );
    let (_, case) = get_json(&base, &format!("/api/v1/cases/{id}"));
    let supervise = case["events"].as_array().unwrap().iter().find(|e| e["action"] == "supervise").unwrap();
    assert_eq!((supervise["actor"].as_str(), supervise["role"].as_str()), (Some("deadline-clock"), Some("admin")));
    // The counter follows the database write that the case shows: wait for it to be published.
    let supervised = "sharpeyes_cases_supervised_total{category=\"manhole_cover\"}";
    let metrics = || String::from_utf8(get_bytes(&base, "/metrics").1).unwrap();
    wait_for(Duration::from_secs(5), metrics, || metrics().lines().any(|line| line.starts_with(supervised)));
    assert_eq!(metric(&metrics(), supervised), 1.0);

    // 任务派遣 → 任务处理, an extension, 处理反馈, back to handling once, then 核查结案 and 综合评价.
    only_allowed(&base, id, "dispatch", "dispatcher");
    assert_eq!(act(&base, id, "dispatcher", json!({ "action": "dispatch" })).0, 200);
    only_allowed(&base, id, "accept", "handler");
    assert_eq!(act(&base, id, "handler", json!({ "action": "accept" })).0, 200);
    assert_eq!(act(&base, id, "dispatcher", json!({ "action": "grant_extension" })).0, 409, "nothing asked yet");
    let (status, case) = act(&base, id, "handler", json!({ "action": "request_extension", "note": "crane needed" }));
    assert_eq!((status, case["extension_requested"].as_bool()), (200, Some(true)));
    let (status, case) = act(&base, id, "dispatcher", json!({ "action": "grant_extension" }));
    assert_eq!((status, case["extension_requested"].as_bool()), (200, Some(false)));
    assert!(deadline(&case) > due + chrono::TimeDelta::seconds(5), "an extension moves the deadline: {case:#}");

    // Suspension stops the clock (挂起): the working time left then is kept, and runs on from the
    // resumption — not a fresh time limit (6 s).
    let extended = deadline(&case);
    std::thread::sleep(Duration::from_secs(3));
    let (status, case) = act(&base, id, "dispatcher", json!({ "action": "suspend", "note": "owner abroad" }));
    assert_eq!((status, case["status"].as_str()), (200, Some("suspended")), "{case}");
    assert!(case["deadline_at"].is_null(), "no deadline while suspended: {case:#}");
    let step_at = |case: &Value| -> DateTime<Utc> {
        case["events"].as_array().unwrap().last().unwrap()["at"].as_str().unwrap().parse().unwrap()
    };
    let left = case["deadline_left_s"].as_i64().unwrap_or_else(|| panic!("no time left kept: {case:#}"));
    assert!(((extended - step_at(&case)).num_seconds() - left).abs() <= 1, "{left} s left at suspension: {case:#}");
    assert!((1..=4).contains(&left), "3 of the 6 s were used: {left}");
    std::thread::sleep(Duration::from_secs(1));
    let (status, case) = act(&base, id, "dispatcher", json!({ "action": "resume" }));
    assert_eq!((status, case["status"].as_str()), (200, Some("filed")), "{case}");
    let resumed_due = deadline(&case) - step_at(&case);
    assert!((resumed_due.num_milliseconds() - left * 1000).abs() <= 1000, "due {resumed_due} after resuming: {case:#}");
    assert!(case["deadline_left_s"].is_null(), "{case:#}");
    assert_eq!(act(&base, id, "dispatcher", json!({ "action": "dispatch" })).0, 200);
    assert_eq!(act(&base, id, "handler", json!({ "action": "accept" })).0, 200);
    only_allowed(&base, id, "report_handled", "handler");
    assert_eq!(act(&base, id, "handler", json!({ "action": "report_handled" })).0, 200);
    let (status, case) = act(&base, id, "inspector", json!({ "action": "reopen", "note": "still open" }));
    assert_eq!((status, case["status"].as_str()), (200, Some("handling")));
    assert_eq!(act(&base, id, "handler", json!({ "action": "report_handled" })).0, 200);
    only_allowed(&base, id, "close", "inspector");
    let (status, case) = act(&base, id, "inspector", json!({ "action": "close", "note": "cover back in place" }));
    assert_eq!((status, case["status"].as_str()), (200, Some("closed")));

    // The timeline: every accepted step in order, with who and why; refusals left no trace.
    let steps: Vec<(&str, &str, &str)> = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap(), e["to_status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("report", "sensor:mh-7", "reported"),
            ("verify", "operator-desk", "filed"),
            ("supervise", "deadline-clock", "filed"),
            ("dispatch", "dispatcher-desk", "dispatched"),
            ("accept", "handler-desk", "handling"),
            ("request_extension", "handler-desk", "handling"),
            ("grant_extension", "dispatcher-desk", "handling"),
            ("suspend", "dispatcher-desk", "suspended"),
            ("resume", "dispatcher-desk", "filed"),
            ("dispatch", "dispatcher-desk", "dispatched"),
            ("accept", "handler-desk", "handling"),
            ("report_handled", "handler-desk", "feedback"),
            ("reopen", "inspector-desk", "handling"),
            ("report_handled", "handler-desk", "feedback"),
            ("close", "inspector-desk", "closed"),
        ]
    );
    assert_eq!(case["events"][1]["note"], "seen on the wall");

    // The cover opens again at once and stays open: within the cooldown no new case; after it, the
    // still-open cover (raised again, no new reading) opens a new one.
    publish_lines(1883, &topic, &[reading(false, 2), reading(true, 3)], None);
    wait_for(
        Duration::from_secs(10),
        || service.log(),
        || {
            metric(
                &String::from_utf8(get_bytes(&base, "/metrics").1).unwrap(),
                "sharpeyes_violations_cooling_down_total",
            ) >= 1.0
        },
    );
    assert_eq!(cases_of_device(&base).len(), 1, "no case within the cooldown");
    wait_for(Duration::from_secs(20), || service.log(), || cases_of_device(&base).len() == 2);
    let newest = &cases_of_device(&base)[0];
    assert_ne!(newest["id"].as_i64().unwrap(), id);
    assert_eq!(newest["status"], "reported");

    // Evaluation ends the loop; nothing applies after it.
    only_allowed(&base, id, "evaluate", "inspector");
    assert_eq!(act(&base, id, "inspector", json!({ "action": "evaluate" })).0, 200);
    for role in ROLES {
        assert_eq!(
            act(&base, id, role, json!({ "action": "reopen" })).0,
            if role == "inspector" || role == "admin" { 409 } else { 403 }
        );
    }
}

#[test]
fn whistles_call_departments_and_a_missed_report_in_escalates() {
    let dir = tempfile::tempdir().unwrap();
    let bound = format!(
        "\n[[auth.tokens]]\nname = \"water-office\"\nrole = \"handler\"\nsha256 = \"{}\"\ndepartment = \"water\"\n",
        sha256_hex("water-office-token")
    );
    let directory = bound
        + r#"
[cases.whistles]
urgent_minutes = 0.05

[[departments]]
id = "water"
name = "water authority"
categories = ["manhole_cover"]
grids = ["110105"]

[[departments]]
id = "chengguan"
name = "city management"
categories = ["illegal_parking", "litter"]
grids = ["110105001"]
"#;
    let (service, base, topic) = start(dir.path(), None, &directory);
    publish_lines(1883, &topic, &[reading(true, 1)], None);
    wait_for(Duration::from_secs(20), || service.log(), || cases_of_device(&base).len() == 1);
    let id = cases_of_device(&base)[0]["id"].as_i64().unwrap();
    let (_, case) = get_json(&base, &format!("/api/v1/cases/{id}"));
    assert_eq!(case["responsible"], json!(["water"]), "the directory's department for manhole covers in this grid");

    let blow = |role: &str, body: Value| {
        let response = reqwest::blocking::Client::new()
            .post(format!("{base}/api/v1/cases/{id}/whistles"))
            .bearer_auth(token(role))
            .json(&body)
            .send()
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap_or(Value::Null))
    };
    let report = |role: &str, whistle: i64, department: &str| {
        let response = reqwest::blocking::Client::new()
            .post(format!("{base}/api/v1/cases/{id}/whistles/{whistle}/report"))
            .bearer_auth(token(role))
            .json(&json!({ "department": department, "note": "on site" }))
            .send()
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap_or(Value::Null))
    };
    for role in ["viewer", "operator", "handler", "inspector"] {
        assert_eq!(blow(role, json!({ "level": "urgent", "departments": ["water"] })).0, 403, "{role}");
    }
    let (status, body) = blow("dispatcher", json!({ "level": "urgent", "departments": ["water", "fire"] }));
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("departments[1]: 'fire'"), "{body}");
    assert_eq!(blow("dispatcher", json!({ "level": "loud", "departments": ["water"] })).0, 400);

    // An urgent whistle (report in within 3 s here) to two departments; one reports in, one does not.
    let (status, body) = blow(
        "dispatcher",
        json!({ "level": "urgent", "departments": ["water", "chengguan"], "note": "cover missing on a school road" }),
    );
    assert_eq!(status, 200, "{body}");
    let whistle = body["id"].as_i64().unwrap();
    for role in ["viewer", "operator", "dispatcher", "inspector"] {
        assert_eq!(report(role, whistle, "water").0, 403, "{role}");
    }
    assert_eq!(report("handler", whistle, "fire").0, 404, "not called");
    let for_another = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/cases/{id}/whistles/{whistle}/report"))
        .bearer_auth("water-office-token")
        .json(&json!({ "department": "chengguan" }))
        .send()
        .unwrap();
    assert_eq!(for_another.status().as_u16(), 403, "a token bound to water reports for water only");
    let (status, case) = report("handler", whistle, "water");
    assert_eq!(status, 200, "{case}");
    assert_eq!(report("handler", whistle, "water").0, 409, "already reported in");

    let missed = || {
        let (_, case) = get_json(&base, &format!("/api/v1/cases/{id}"));
        case["whistles"][0]["calls"].as_array().unwrap().iter().filter(|c| c["missed"] == true).count()
    };
    wait_for(Duration::from_secs(15), || service.log(), || missed() == 1);
    let (_, case) = get_json(&base, &format!("/api/v1/cases/{id}"));
    let calls = case["whistles"][0]["calls"].as_array().unwrap();
    let call = |department: &str| calls.iter().find(|c| c["department"] == department).unwrap().clone();
    assert_eq!(
        (call("water")["missed"].as_bool(), call("water")["reported_by"].as_str()),
        (Some(false), Some("handler-desk"))
    );
    assert_eq!((call("chengguan")["missed"].as_bool(), call("chengguan")["reported_at"].is_null()), (Some(true), true));
    let actions: Vec<&str> = case["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["report", "whistle", "report_in", "whistle_missed"]);
    let metrics = String::from_utf8(get_bytes(&base, "/metrics").1).unwrap();
    assert_eq!(metric(&metrics, "sharpeyes_whistle_report_ins_missed_total{department=\"chengguan\"}"), 1.0);
    // A late report-in is recorded; the call stays marked missed.
    assert_eq!(report("handler", whistle, "chengguan").0, 200);
    let (_, case) = get_json(&base, &format!("/api/v1/cases/{id}"));
    let late = case["whistles"][0]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["department"] == "chengguan")
        .unwrap()
        .clone();
    assert_eq!((late["missed"].as_bool(), late["reported_at"].is_string()), (Some(true), true));
}

#[test]
fn a_nearby_report_of_the_same_problem_is_linked_as_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let neighbours = r#"
[[grids]]
code = "110105"
name = "朝阳区"

[[sensors]]
id = "mh-8"
kind = "manhole_cover"
grid = "110105001001001"
location = [116.4502, 39.9101]

[[sensors]]
id = "mh-9"
kind = "manhole_cover"
grid = "110105001001001"
location = [116.46, 39.91]
"#;
    let (service, base, topic) = start(dir.path(), None, neighbours);
    let case_of = |device: &str| -> Option<Value> {
        let (_, cases) = get_json(&base, "/api/v1/cases?category=manhole_cover");
        cases.as_array().unwrap().iter().find(|c| c["device"] == device).cloned()
    };
    publish_lines(1883, &topic, &[reading(true, 1)], None);
    wait_for(Duration::from_secs(20), || service.log(), || case_of("mh-7").is_some());
    // mh-8 is 24 m from mh-7, mh-9 about 850 m.
    for device in ["mh-8", "mh-9"] {
        publish_lines(1883, &topic.replace("mh-7", device), &[reading(true, 2)], None);
    }
    wait_for(Duration::from_secs(20), || service.log(), || case_of("mh-8").is_some() && case_of("mh-9").is_some());
    let original = case_of("mh-7").unwrap();
    assert_eq!(case_of("mh-8").unwrap()["duplicate_of"], original["id"], "linked, not lost");
    assert!(case_of("mh-9").unwrap()["duplicate_of"].is_null(), "too far to be the same problem");
    assert!(original["duplicate_of"].is_null());
    assert_eq!((original["longitude"].as_f64(), original["latitude"].as_f64()), (Some(116.45), Some(39.91)));

    // The grid tree counts the three cases in the cell and, rolled up, in its district.
    let (status, tree) = get_json(&base, "/api/v1/grids");
    assert_eq!(status, 200);
    let node = |i: usize| {
        (
            tree[i]["code"].as_str().unwrap().to_owned(),
            tree[i]["level"].as_str().unwrap().to_owned(),
            tree[i]["open"].as_i64(),
            tree[i]["total"].as_i64(),
        )
    };
    assert_eq!(node(0), ("110105".into(), "district".into(), Some(3), Some(3)));
    assert_eq!(node(1), ("110105001001001".into(), "cell".into(), Some(3), Some(3)));
    assert_eq!(tree[1]["parent"], "110105");
}
