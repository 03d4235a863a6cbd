//! The authorisation matrix: every role × every write, allowed or refused as designed — the table
//! below is written out here, not derived from the code it checks. Refusals are 403 (404 where the
//! role cannot read the case at all) and change nothing; a case's detail offers each role exactly the
//! actions it may take. Reads: each role reads what fits it — a reporter its own reports, a handler
//! bound to a department that department's cases, everyone else every case.

mod common;

use std::{collections::HashMap, time::Duration};

use chrono::Utc;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const ROLES: [&str; 7] = ["viewer", "reporter", "operator", "dispatcher", "handler", "inspector", "admin"];

/// Each workflow action: the actions (taken by an admin) that bring a new case to where it applies,
/// and the one role besides admin whose work it is (none: admin only).
const WORKFLOW: [(&str, &[&str], Option<&str>); 15] = [
    ("verify", &[], Some("operator")),
    ("void", &[], Some("operator")),
    ("dispatch", &["verify"], Some("dispatcher")),
    ("suspend", &["verify"], Some("dispatcher")),
    ("resume", &["verify", "suspend"], Some("dispatcher")),
    ("accept", &["verify", "dispatch"], Some("handler")),
    ("return", &["verify", "dispatch"], Some("handler")),
    ("request_extension", &["verify", "dispatch", "accept"], Some("handler")),
    ("report_handled", &["verify", "dispatch", "accept"], Some("handler")),
    ("grant_extension", &["verify", "dispatch", "accept", "request_extension"], Some("dispatcher")),
    ("refuse_extension", &["verify", "dispatch", "accept", "request_extension"], Some("dispatcher")),
    ("close", &["verify", "dispatch", "accept", "report_handled"], Some("inspector")),
    ("reopen", &["verify", "dispatch", "accept", "report_handled"], Some("inspector")),
    ("evaluate", &["verify", "dispatch", "accept", "report_handled", "close"], Some("inspector")),
    ("supervise", &[], None),
];

fn secret(role: &str) -> String {
    format!("{role}-secret")
}

fn call(base: &str, method: Method, path: &str, role: &str, body: Option<Value>) -> (u16, Value) {
    let mut request =
        reqwest::blocking::Client::new().request(method, format!("{base}{path}")).bearer_auth(secret(role));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or_default())
}

fn act(base: &str, case: i64, role: &str, action: &str) -> u16 {
    call(base, Method::POST, &format!("/api/v1/cases/{case}/actions"), role, Some(json!({ "action": action }))).0
}

/// The actions the case's detail offers to `role` (what the dashboard shows as buttons); none to a
/// role that cannot read the case (a reporter reads only its own reports: 404).
fn offered_actions(base: &str, case: i64, role: &str) -> Vec<String> {
    let (status, detail) = call(base, Method::GET, &format!("/api/v1/cases/{case}"), role, None);
    if status == 404 {
        assert_eq!(role, "reporter", "only a reporter is refused a sensor's case");
        return Vec::new();
    }
    detail["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
}

fn status_of(base: &str, case: i64) -> String {
    call(base, Method::GET, &format!("/api/v1/cases/{case}"), "viewer", None).1["status"].as_str().unwrap().to_owned()
}

#[test]
fn every_role_and_every_write_is_allowed_or_refused_as_designed() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("se-authz-{}", nanos_since_epoch());
    let (config, base) = write_config(dir.path(), &[], 300.0);
    // Two cases per workflow action (one for its role, one for admin) and one for whistles.
    // And one per role for acknowledging and handing over.
    let devices: Vec<String> = (0..WORKFLOW.len() * 2 + 1 + ROLES.len()).map(|n| format!("mh-{n}")).collect();
    let mut more = manhole_sensor(&devices[0], None);
    for device in &devices[1..] {
        more.push_str(&format!(
            "\n[[sensors]]\nid = \"{device}\"\nkind = \"manhole_cover\"\ngrid = \"110105001001001\"\n"
        ));
    }
    more.push_str("\n[[departments]]\nid = \"water\"\ncategories = [\"manhole_cover\"]\ngrids = [\"110105\"]\n");
    for role in ROLES {
        more.push_str(&format!(
            "\n[[auth.tokens]]\nname = \"{role}-desk\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            sha256_hex(&secret(role))
        ));
    }
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &more);
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));
    for device in &devices {
        let open = r#"{"open": true, "tilt_deg": 80.0, "ts": "2026-11-24T09:00:00Z"}"#.to_owned();
        publish_lines(1883, &format!("{prefix}/sensors/{device}/manhole_cover"), &[open], None);
    }
    let case_of = || -> HashMap<String, i64> {
        let (_, cases) = call(&base, Method::GET, "/api/v1/cases?limit=1000", "viewer", None);
        cases
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["device"].as_str().unwrap().to_owned(), c["id"].as_i64().unwrap()))
            .collect()
    };
    wait_for(Duration::from_secs(30), || service.log(), || case_of().len() == devices.len());
    let cases = case_of();

    // Workflow actions.
    for (n, (action, path, role)) in WORKFLOW.iter().enumerate() {
        let designated = role.unwrap_or("admin");
        for (case, actor) in [(cases[&devices[2 * n]], designated), (cases[&devices[2 * n + 1]], "admin")] {
            for step in *path {
                assert_eq!(act(&base, case, "admin", step), 200, "setting up {action}: {step}");
            }
            let before = status_of(&base, case);
            for role in ROLES {
                let offered = offered_actions(&base, case, role);
                let may = role == designated || role == "admin";
                assert_eq!(offered.iter().any(|a| a == action), may, "{action} offered to {role}: {offered:?}");
            }
            for refused in ROLES.iter().filter(|r| **r != designated && **r != "admin") {
                // A reporter cannot even see a sensor's case: the same 404 as a case that is not there.
                let expected = if *refused == "reporter" { 404 } else { 403 };
                assert_eq!(act(&base, case, refused, action), expected, "{refused} may not {action}");
            }
            assert_eq!(status_of(&base, case), before, "refusals change nothing");
            assert_eq!(act(&base, case, actor, action), 200, "{actor} may {action}");
        }
    }

    // Whistles: dispatchers blow them, handlers report in.
    let case = cases[&devices[WORKFLOW.len() * 2]];
    let whistle = json!({ "level": "ordinary", "departments": ["water"] });
    let whistles = format!("/api/v1/cases/{case}/whistles");
    for role in ["viewer", "reporter", "operator", "handler", "inspector"] {
        assert_eq!(call(&base, Method::POST, &whistles, role, Some(whistle.clone())).0, 403, "{role} may not whistle");
    }
    let (status, blown) = call(&base, Method::POST, &whistles, "dispatcher", Some(whistle));
    assert_eq!(status, 200);
    let report = format!("{whistles}/{}/report", blown["id"]);
    let body = json!({ "department": "water" });
    for role in ["viewer", "reporter", "operator", "dispatcher", "inspector"] {
        assert_eq!(call(&base, Method::POST, &report, role, Some(body.clone())).0, 403, "{role} may not report in");
    }
    assert_eq!(call(&base, Method::POST, &report, "handler", Some(body)).0, 200);

    // Silences: operators, dispatchers and admins.
    let ends_at = (Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let silence = json!({ "matchers": { "grids": ["110105"] }, "ends_at": ends_at, "comment": "drill" });
    for role in ROLES {
        let (status, created) = call(&base, Method::POST, "/api/v1/silences", role, Some(silence.clone()));
        let may = matches!(role, "operator" | "dispatcher" | "admin");
        assert_eq!(status, if may { 200 } else { 403 }, "{role} creating a silence");
        if may {
            let expire = format!("/api/v1/silences/{}", created["id"]);
            for refused in ["viewer", "reporter", "handler", "inspector"] {
                assert_eq!(call(&base, Method::DELETE, &expire, refused, None).0, 403);
            }
            assert_eq!(call(&base, Method::DELETE, &expire, role, None).0, 200, "{role} expiring its silence");
        }
    }

    // Acknowledging and handing over: everyone who works cases, not viewers or reporters.
    for (n, role) in ROLES.iter().enumerate() {
        let case = cases[&devices[WORKFLOW.len() * 2 + 1 + n]];
        let may = !matches!(*role, "viewer" | "reporter");
        let acknowledge = format!("/api/v1/cases/{case}/acknowledge");
        assert_eq!(
            call(&base, Method::POST, &acknowledge, role, Some(json!({}))).0,
            if may { 200 } else { 403 },
            "{role} acknowledging"
        );
        let hand_over = format!("/api/v1/cases/{case}/hand_over");
        let to = if *role == "admin" { "operator-desk" } else { "admin-desk" };
        let (status, _) = call(&base, Method::POST, &hand_over, role, Some(json!({ "to": to })));
        assert_eq!(status, if may { 200 } else { 403 }, "{role} handing over");
    }

    // Citizen reports through Open311: reporters, operators and admins.
    for role in ROLES {
        let response = reqwest::blocking::Client::new()
            .post(format!("{base}/open311/v2/requests.json"))
            .bearer_auth(secret(role))
            .form(&[("service_code", "litter"), ("lat", "39.91"), ("long", "116.455"), ("grid", "110105001001001")])
            .send()
            .unwrap();
        let may = matches!(role, "reporter" | "operator" | "admin");
        assert_eq!(response.status().as_u16(), if may { 200 } else { 403 }, "{role} filing a citizen report");
    }

    // Admin only: the audit log, retrying a delivery (409 here: delivery 1 is not dead), the labelled
    // dataset, a camera's zones, adding, changing and removing cameras, a rule's settings.
    for role in ROLES {
        let admin = role == "admin";
        assert_eq!(call(&base, Method::GET, "/api/v1/audit", role, None).0, if admin { 200 } else { 403 }, "{role}");
        let retry = call(&base, Method::POST, "/api/v1/deliveries/1/retry", role, None).0;
        assert_eq!(retry, if admin { 409 } else { 403 }, "{role} retrying a delivery");
        let dataset = call(&base, Method::GET, "/api/v1/dataset?since=2000-01-01T00:00:00Z", role, None).0;
        assert_eq!(dataset, if admin { 200 } else { 403 }, "{role} exporting the labelled dataset");
        let zones = call(&base, Method::PUT, "/api/v1/cameras/none/zones", role, Some(serde_json::json!([]))).0;
        assert_eq!(zones, if admin { 404 } else { 403 }, "{role} changing a camera's zones (there is no such camera)");
        let zone = call(&base, Method::DELETE, "/api/v1/cameras/none/zones/a", role, None).0;
        assert_eq!(zone, if admin { 404 } else { 403 }, "{role} removing a zone (there is no such camera)");
        let invalid = serde_json::json!({ "id": "none", "url": "not a camera" });
        let added = call(&base, Method::POST, "/api/v1/cameras", role, Some(invalid.clone())).0;
        assert_eq!(added, if admin { 400 } else { 403 }, "{role} adding a camera (an invalid one)");
        let changed = call(&base, Method::PUT, "/api/v1/cameras/none", role, Some(invalid)).0;
        assert_eq!(changed, if admin { 404 } else { 403 }, "{role} changing a camera (there is no such camera)");
        let removed = call(&base, Method::DELETE, "/api/v1/cameras/none", role, None).0;
        assert_eq!(removed, if admin { 404 } else { 403 }, "{role} removing a camera (there is no such camera)");
        let rule = call(&base, Method::PUT, "/api/v1/rules/no-such-rule", role, Some(serde_json::json!({}))).0;
        assert_eq!(rule, if admin { 404 } else { 403 }, "{role} changing a rule's settings (there is no such rule)");
        let reset = call(&base, Method::DELETE, "/api/v1/rules/litter", role, None).0;
        assert_eq!(reset, if admin { 409 } else { 403 }, "{role} resetting a rule (already the file's)");
    }

    // Every role reads; a reporter (a citizen app) reads only what it filed and sees no camera or
    // sensor (the read scopes have their own test below).
    for role in ROLES {
        let reporter = role == "reporter";
        for (path, everyone) in [
            ("/api/v1/cases", true),
            ("/api/v1/grids", true),
            ("/api/v1/silences", true),
            ("/api/v1/stats", true),
            ("/api/v1/cameras", false),
            ("/api/v1/sensors", false),
            ("/api/v1/deliveries", false),
        ] {
            let expected = if everyone || !reporter { 200 } else { 403 };
            assert_eq!(call(&base, Method::GET, path, role, None).0, expected, "{role} reading {path}");
        }
        // The map draws the grids for everyone; its cameras and sensors only for those who may see them.
        let (status, map) = call(&base, Method::GET, "/api/v1/map", role, None);
        assert_eq!(status, 200, "{role} reading the map");
        let sensors = map["sensors"].as_array().unwrap().len();
        assert_eq!(sensors == 0, reporter, "{role} sees {sensors} sensors on the map");
        let expected = if reporter { 404 } else { 200 };
        assert_eq!(call(&base, Method::GET, &format!("/api/v1/cases/{case}"), role, None).0, expected, "{role}");
    }
}

/// The ids of the cases `token` lists.
fn listed(base: &str, token: &str) -> Vec<i64> {
    let response = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/cases?limit=1000"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let cases: Value = response.json().unwrap();
    let mut ids: Vec<i64> = cases.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids
}

fn status_for(base: &str, token: &str, path: &str) -> u16 {
    reqwest::blocking::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().unwrap().status().as_u16()
}

/// The case ids of the `case` events a stream from the first entry on sends `token` within 3 s.
fn streamed(base: &str, token: &str) -> Vec<i64> {
    use std::io::BufRead;
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap()
        .get(format!("{base}/api/v1/stream"))
        .bearer_auth(token)
        .header("Last-Event-ID", "0")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut ids: Vec<i64> = std::io::BufReader::new(response)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| line.strip_prefix("data:").map(|data| serde_json::from_str::<Value>(data.trim()).unwrap()))
        .map(|entry| entry["case_id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[test]
fn each_role_reads_what_fits_it_a_reporter_its_own_reports_a_bound_handler_its_department() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("se-scopes-{}", nanos_since_epoch());
    let (config, base) = write_config(dir.path(), &[], 300.0);
    let mut more = manhole_sensor("mh-scope", None);
    more.push_str(
        "\n[[departments]]\nid = \"water\"\ncategories = [\"manhole_cover\"]\ngrids = [\"110105\"]\n\
         \n[[departments]]\nid = \"parks\"\ncategories = [\"litter\"]\ngrids = [\"110105\"]\n",
    );
    let tokens = [
        ("viewer", "viewer", None),
        ("app-a", "reporter", None),
        ("app-b", "reporter", None),
        ("water-desk", "handler", Some("water")),
        ("parks-desk", "handler", Some("parks")),
        ("any-handler", "handler", None),
        ("dispatcher", "dispatcher", None),
    ];
    for (name, role, department) in tokens {
        let department = department.map_or(String::new(), |d| format!("department = \"{d}\"\n"));
        more.push_str(&format!(
            "\n[[auth.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n{department}",
            sha256_hex(&secret(name))
        ));
    }
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &more);
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));

    // A sensor's manhole case (water's), and one litter report from each citizen app (parks').
    let open = r#"{"open": true, "tilt_deg": 80.0, "ts": "2026-11-24T09:00:00Z"}"#.to_owned();
    publish_lines(1883, &format!("{prefix}/sensors/mh-scope/manhole_cover"), &[open], None);
    let file = |app: &str| -> i64 {
        let response = reqwest::blocking::Client::new()
            .post(format!("{base}/open311/v2/requests.json"))
            .bearer_auth(secret(app))
            .form(&[("service_code", "litter"), ("lat", "39.91"), ("long", "116.455"), ("grid", "110105001001001")])
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let posted: Value = response.json().unwrap();
        posted[0]["service_request_id"].as_str().unwrap().parse().unwrap()
    };
    let (by_a, by_b) = (file("app-a"), file("app-b"));
    wait_for(Duration::from_secs(30), || service.log(), || listed(&base, &secret("viewer")).len() == 3);
    let all = listed(&base, &secret("viewer"));
    let sensor_case = *all.iter().find(|id| ![by_a, by_b].contains(id)).unwrap();

    // Viewers and unbound handlers read every case.
    assert_eq!(listed(&base, &secret("any-handler")), all);

    // A reporter: its own report, in the list, in detail, through Open311, on the stream; nothing else.
    let token_a = secret("app-a");
    assert_eq!(listed(&base, &token_a), [by_a]);
    assert_eq!(status_for(&base, &token_a, &format!("/api/v1/cases/{by_a}")), 200);
    for other in [by_b, sensor_case] {
        for path in [
            format!("/api/v1/cases/{other}"),
            format!("/api/v1/cases/{other}/evidence/0"),
            format!("/open311/v2/requests/{other}.json"),
        ] {
            assert_eq!(status_for(&base, &token_a, &path), 404, "app-a reading {path}");
        }
    }
    let response = reqwest::blocking::Client::new()
        .get(format!("{base}/open311/v2/requests.json?service_request_id={by_a},{by_b},{sensor_case}"))
        .bearer_auth(&token_a)
        .send()
        .unwrap();
    let requests: Value = response.json().unwrap();
    let ids: Vec<&str> =
        requests.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [by_a.to_string()], "asking by id reveals no other report");
    let response =
        reqwest::blocking::Client::new().get(format!("{base}/open311/v2/requests.json")).bearer_auth(&token_a).send();
    let requests: Value = response.unwrap().json().unwrap();
    assert_eq!(requests.as_array().unwrap().len(), 1, "the request list holds its own report only");
    assert_eq!(streamed(&base, &token_a), [by_a], "the stream carries its own report only");
    for path in ["/api/v1/cameras", "/api/v1/sensors", "/api/v1/cameras/any/frame", "/api/v1/deliveries"] {
        assert_eq!(status_for(&base, &token_a, path), 403, "app-a reading {path}");
    }

    // A handler bound to a department: the cases of its categories in its grids.
    let water = secret("water-desk");
    let parks = secret("parks-desk");
    assert_eq!(listed(&base, &water), [sensor_case]);
    let mut litter = vec![by_a, by_b];
    litter.sort_unstable();
    assert_eq!(listed(&base, &parks), litter);
    assert_eq!(status_for(&base, &water, &format!("/api/v1/cases/{by_a}")), 404);
    assert_eq!(streamed(&base, &water), [sensor_case]);

    // The statistics count within the same scopes, and come as CSV by department.
    let stats = |token: &str, query: &str| {
        let response = reqwest::blocking::Client::new().get(format!("{base}/api/v1/stats?{query}")).bearer_auth(token);
        response.send().unwrap()
    };
    let opened = |token: &str| -> i64 {
        let body: Value = stats(token, "group_by=category").json().unwrap();
        body["rows"].as_array().unwrap().iter().map(|row| row["opened"].as_i64().unwrap()).sum()
    };
    assert_eq!([opened(&secret("viewer")), opened(&token_a), opened(&water), opened(&parks)], [3, 1, 1, 2]);
    let csv = stats(&secret("viewer"), "group_by=department&format=csv");
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("department,opened,filed,dispatched,closed,voided,open_at_end"), "{csv}");
    assert!(lines[1].starts_with("parks,2,0,0,0,0,2,") && lines[2].starts_with("water,1,0,0,0,0,1,"), "{csv}");
    for (query, names) in [("group_by=week", "group_by"), ("grid=11a", "grid"), ("format=xlsx", "format")] {
        let response = stats(&secret("viewer"), query);
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.text().unwrap().contains(names), "the error names {names}");
    }

    // The case export holds what the list holds, in the reader's scope: CSV, and XLSX read back by calamine.
    let export = |token: &str, format: &str| {
        let url = format!("{base}/api/v1/cases/export?format={format}");
        reqwest::blocking::Client::new().get(url).bearer_auth(token).send().unwrap()
    };
    let csv = export(&parks, "csv").text().unwrap();
    assert!(csv.starts_with("id,code,category,grid,status,urgency,source,camera,zone,plate,opened,deadline"), "{csv}");
    let mut exported: Vec<i64> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    exported.sort_unstable();
    assert_eq!(exported, litter, "parks exports its own cases");
    let xlsx = export(&secret("viewer"), "xlsx");
    assert_eq!(xlsx.status(), 200);
    let bytes = std::io::Cursor::new(xlsx.bytes().unwrap().to_vec());
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(bytes).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut book, "cases").unwrap();
    let rows: Vec<_> = sheet.rows().collect();
    assert_eq!(rows[0][0].to_string(), "id");
    assert_eq!(rows[0][10].to_string(), "opened");
    let mut ids: Vec<i64> = rows[1..].iter().map(|row| row[0].to_string().parse().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, all, "the viewer's workbook holds every case");
    assert_eq!(export(&secret("viewer"), "pdf").status(), 400);
    // Writes on a case out of scope find no case.
    assert_eq!(act(&base, by_a, "water-desk", "accept"), 404, "water may not act on parks' case");

    // Called to a case by a whistle, the department reads it too.
    let whistle = json!({ "level": "ordinary", "departments": ["water"] });
    let (status, _) = call(&base, Method::POST, &format!("/api/v1/cases/{by_a}/whistles"), "dispatcher", Some(whistle));
    assert_eq!(status, 200);
    let mut called = vec![sensor_case, by_a];
    called.sort_unstable();
    assert_eq!(listed(&base, &water), called);
    assert_eq!(status_for(&base, &water, &format!("/api/v1/cases/{by_a}")), 200);
}
