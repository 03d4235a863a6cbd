//! Cameras added, changed and removed at runtime (issue 20): through the API while another camera
//! streams (it never reconnects), validated as the file is, audited, kept in the database across a
//! restart; and by SIGHUP from the file. A removed camera's case stays workable. A dwell rule's
//! settings changed through the API, winning over the file's until deleted.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::*;
use serde_json::{Value, json};

/// A corner of the photo where nothing stands.
const EMPTY_CORNER: [[f64; 2]; 3] = [[0.0, 0.0], [0.08, 0.0], [0.0, 0.08]];
const FULL_FRAME: [[f64; 2]; 4] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
const GRID: &str = "110105001001001";

/// A camera's `[[cameras]]` entry as JSON, watching `zone` for parked vehicles.
fn camera(id: &str, url: &str, zone: &[[f64; 2]]) -> Value {
    json!({ "id": id, "url": url, "grid": GRID, "zones": [{ "id": "curb", "kind": "no_parking", "polygon": zone }] })
}

fn cases_of(base: &str, camera: &str) -> Vec<Value> {
    let (status, cases) = get_json(base, "/api/v1/cases");
    assert_eq!(status, 200, "{cases}");
    cases.as_array().unwrap().iter().filter(|c| c["camera"] == camera).cloned().collect()
}

fn wait_until(service: &Running, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(60), "{what}:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The frames camera `id` has analysed, while it runs.
fn frames(base: &str, id: &str) -> Option<u64> {
    cameras_by_id(base).get(id).and_then(|camera| camera["frames"].as_u64())
}

/// Asserts that the camera whose status was `before` kept its stream: no restart, its frames counted on.
fn assert_untouched(base: &str, before: &Value) {
    let id = before["id"].as_str().unwrap();
    let now = cameras_by_id(base)[id].clone();
    assert_eq!(now["restarts"], before["restarts"], "{id} reconnected: {now}");
    assert!(now["frames"].as_u64() >= before["frames"].as_u64(), "{id}'s stream started again: {now}");
    assert!(matches!(now["state"].as_str(), Some("streaming" | "degraded")), "{now}");
}

fn config_camera(base: &str, id: &str) -> Value {
    let (status, config) = get_json(base, "/api/v1/config");
    assert_eq!(status, 200, "{config}");
    config["cameras"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap_or_default()
}

#[test]
fn cameras_added_changed_and_removed_through_the_api_leave_the_others_streaming_and_outlive_a_restart() {
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("first", &truck), ("second", &truck)]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "first-cam", url: &urls[0], decode: "keyframes" }], 2.0);
    let mut service = start_service(&config, &base);
    wait_until(&service, "the first camera analyses no frame", || frames(&base, "first-cam").unwrap_or(0) >= 2);
    let first = cameras_by_id(&base)["first-cam"].clone();

    // Invalid cameras are refused with every problem named by its key path, and change nothing.
    let post = |body: Value| send_json(&base, reqwest::Method::POST, "/api/v1/cameras", Some(body));
    let (status, refused) = post(json!({
        "id": "bad-cam", "url": "http://127.0.0.1/x", "grid": "nowhere",
        "zones": [{ "id": "a", "kind": "no_parking", "polygon": [[0.0, 0.0], [1.0, 0.0]] }],
    }));
    assert_eq!(status, 400, "{refused}");
    let error = refused["error"].as_str().unwrap();
    for path in ["url:", "grid:", "zones[0].polygon:"] {
        assert!(error.contains(path), "{path} is not named: {error}");
    }
    let (status, refused) = post(json!({ "id": "bad-cam", "url": &urls[1], "grid": GRID, "colour": "red" }));
    assert_eq!(status, 400, "an unknown key: {refused}");
    assert!(refused["error"].as_str().unwrap().contains("colour"), "{refused}");
    let (status, refused) = post(camera("first-cam", &urls[1], &FULL_FRAME));
    assert_eq!(status, 409, "a camera of that id runs: {refused}");
    assert!(!cameras_by_id(&base).contains_key("bad-cam"));

    // A camera added through the API streams at once and opens its case; the first never reconnects.
    let (status, added) = post(camera("second-cam", &urls[1], &FULL_FRAME));
    assert_eq!(status, 201, "{added}");
    assert_eq!((added["source"].as_str(), added["changed_by"].as_str()), (Some("api"), Some("e2e")), "{added}");
    wait_until(&service, "the added camera opened no case", || !cases_of(&base, "second-cam").is_empty());
    let case = cases_of(&base, "second-cam").pop().unwrap();
    assert_eq!((case["zone"].as_str(), case["grid"].as_str()), (Some("curb"), Some(GRID)), "{case}");
    assert_untouched(&base, &first);
    let (_, metrics) = get_bytes(&base, "/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("sharpeyes_camera_frames_total{camera=\"second-cam\"}"), "/metrics lacks the new camera");
    assert_eq!(config_camera(&base, "second-cam")["source"], "api");
    assert_eq!(config_camera(&base, "first-cam")["source"], "file");
    let (_, map) = get_json(&base, "/api/v1/map");
    assert!(map["cameras"].as_array().unwrap().iter().any(|c| c["id"] == "second-cam"), "{map}");

    // A change of its zones only applies without a reconnect: its frames keep counting on.
    let before = frames(&base, "second-cam").unwrap();
    let put =
        |id: &str, body: Value| send_json(&base, reqwest::Method::PUT, &format!("/api/v1/cameras/{id}"), Some(body));
    let (status, changed) = put("second-cam", camera("second-cam", &urls[1], &EMPTY_CORNER));
    assert_eq!(status, 200, "{changed}");
    let (_, view) = get_json(&base, "/api/v1/cameras/second-cam/view");
    assert_eq!(view["zones"][0]["polygon"], json!(EMPTY_CORNER), "{view}");
    assert!(frames(&base, "second-cam").unwrap() >= before, "the camera reconnected on a change of zones only");
    assert_eq!(put("second-cam", camera("other-id", &urls[1], &EMPTY_CORNER)).0, 400, "an id that is not the path's");
    assert_eq!(put("no-such-cam", camera("no-such-cam", &urls[1], &EMPTY_CORNER)).0, 404);

    // Removed: its stream stops, its case stays and can be worked to the end.
    let delete = |id: &str| send_json(&base, reqwest::Method::DELETE, &format!("/api/v1/cameras/{id}"), None);
    let (status, removed) = delete("second-cam");
    assert_eq!((status, removed["removed"].as_bool()), (200, Some(true)), "{removed}");
    assert_eq!(delete("second-cam").0, 404);
    assert!(!cameras_by_id(&base).contains_key("second-cam"));
    let path = format!("/api/v1/cases/{}/actions", case["id"]);
    let (status, verified) = send_json(&base, reqwest::Method::POST, &path, Some(json!({ "action": "verify" })));
    assert_eq!((status, verified["status"].as_str()), (200, Some("filed")), "{verified}");
    let (_, audit) = get_json(&base, "/api/v1/audit");
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
    for action in ["camera.add", "camera.change", "camera.remove"] {
        assert!(actions.contains(&action), "{action} is not audited: {actions:?}");
    }

    // The file's camera changed through the API, and a third camera added: both outlive a restart,
    // and the removed camera stays removed.
    assert_eq!(put("first-cam", camera("first-cam", &urls[0], &EMPTY_CORNER)).0, 200);
    assert_eq!(post(camera("third-cam", &urls[1], &FULL_FRAME)).0, 201);
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
    let mut service = start_service(&config, &base);
    let running = cameras_by_id(&base);
    assert!(running.contains_key("third-cam") && running.contains_key("first-cam"), "{running:?}");
    assert!(!running.contains_key("second-cam"), "a removed camera came back: {running:?}");
    let first = config_camera(&base, "first-cam");
    assert_eq!(
        (first["source"].as_str(), &first["zones"][0]["polygon"]),
        (Some("api"), &json!(EMPTY_CORNER)),
        "{first}"
    );
    wait_until(&service, "the kept camera does not stream after the restart", || {
        frames(&base, "third-cam").unwrap_or(0) >= 1
    });
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
}

#[test]
fn sighup_starts_a_camera_new_in_the_file_and_stops_one_gone_from_it() {
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("first", &truck), ("second", &truck)]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "first-cam", url: &urls[0], decode: "keyframes" }], 300.0);
    let one = std::fs::read_to_string(&config).unwrap();
    let mut service = start_service(&config, &base);
    wait_until(&service, "the first camera analyses no frame", || frames(&base, "first-cam").unwrap_or(0) >= 2);
    let first = cameras_by_id(&base)["first-cam"].clone();
    let hangup = || Command::new("kill").arg("-HUP").arg(service.child.id().to_string()).status().unwrap();

    let (two, _) = write_config(
        dir.path(),
        &[
            TestCamera { id: "first-cam", url: &urls[0], decode: "keyframes" },
            TestCamera { id: "second-cam", url: &urls[1], decode: "keyframes" },
        ],
        300.0,
    );
    let text = std::fs::read_to_string(&two).unwrap();
    // write_config chose a new port: keep the running one.
    let listen = |text: &str| text.lines().find(|l| l.starts_with("listen")).unwrap().to_owned();
    std::fs::write(&config, text.replace(&listen(&text), &listen(&one))).unwrap();
    hangup();
    wait_until(&service, "the camera new in the file did not start", || frames(&base, "second-cam").unwrap_or(0) >= 1);
    assert_eq!(config_camera(&base, "second-cam")["source"], "file");

    std::fs::write(&config, &one).unwrap();
    hangup();
    wait_until(&service, "the camera gone from the file still runs", || {
        !cameras_by_id(&base).contains_key("second-cam")
    });
    assert_untouched(&base, &first);
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
}

#[test]
fn a_dwell_rule_changed_through_the_api_applies_at_once_wins_over_the_file_and_goes_back_to_it() {
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("truck", &truck)]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "cam", url: &urls[0], decode: "keyframes" }], 300.0);
    let mut service = start_service(&config, &base);
    wait_until(&service, "the camera analyses no frame", || frames(&base, "cam").unwrap_or(0) >= 5);
    assert!(cases_of(&base, "cam").is_empty(), "a case before five minutes of dwell:\n{}", service.log());
    let before = cameras_by_id(&base)["cam"].clone();
    let rule = |base: &str| get_json(base, "/api/v1/config").1["rules"]["illegal_parking"].clone();
    assert_eq!((rule(&base)["source"].as_str(), rule(&base)["min_dwell_s"].as_f64()), (Some("file"), Some(300.0)));

    // Refused with the key path of each problem, or 404 for a rule that is not a dwell rule.
    let put =
        |name: &str, body: Value| send_json(&base, reqwest::Method::PUT, &format!("/api/v1/rules/{name}"), Some(body));
    let (status, refused) = put("illegal_parking", json!({ "min_dwell_s": -1, "min_score": 3, "colour": "red" }));
    assert_eq!(status, 400, "{refused}");
    let error = refused["error"].as_str().unwrap();
    for path in ["min_dwell_s:", "min_score:", "colour:"] {
        assert!(error.contains(path), "{path} is not named: {error}");
    }
    assert_eq!(put("scene_change", json!({})).0, 404);

    // Two seconds of dwell: the truck's case opens within seconds, the camera untouched.
    let (status, set) = put("illegal_parking", json!({ "min_dwell_s": 2 }));
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        (set["source"].as_str(), set["changed_by"].as_str(), set["min_dwell_s"].as_f64()),
        (Some("api"), Some("e2e"), Some(2.0))
    );
    wait_until(&service, "no case after the dwell time went down to 2 s", || !cases_of(&base, "cam").is_empty());
    assert_untouched(&base, &before);

    // A SIGHUP with the file unchanged, then a restart: the API's section stays in force.
    Command::new("kill").arg("-HUP").arg(service.child.id().to_string()).status().unwrap();
    // Each dwell rule is reloaded once for the PUT, once for the SIGHUP.
    let reloads = || service.log().matches("dwell rule reloaded").count();
    wait_until(&service, "SIGHUP did not reload the rules", || reloads() >= 6);
    assert_eq!((rule(&base)["source"].as_str(), rule(&base)["min_dwell_s"].as_f64()), (Some("api"), Some(2.0)));
    // The running rules kept the API's two seconds: a preview (built with them) confirms the truck.
    let zones = json!([{ "id": "curb", "kind": "no_parking", "polygon": FULL_FRAME }]);
    let (status, seen) = send_json(&base, reqwest::Method::POST, "/api/v1/cameras/cam/zones/preview", Some(zones));
    assert_eq!(status, 200, "{seen}");
    assert!(!seen["cases"].as_array().unwrap().is_empty(), "the SIGHUP brought back the file's dwell time: {seen}");
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
    let mut service = start_service(&config, &base);
    assert_eq!((rule(&base)["source"].as_str(), rule(&base)["min_dwell_s"].as_f64()), (Some("api"), Some(2.0)));

    // Deleted: back to the file's five minutes.
    let delete = || send_json(&base, reqwest::Method::DELETE, "/api/v1/rules/illegal_parking", None);
    let (status, reset) = delete();
    assert_eq!(
        (status, reset["source"].as_str(), reset["min_dwell_s"].as_f64()),
        (200, Some("file"), Some(300.0)),
        "{reset}"
    );
    assert_eq!(delete().0, 409, "already the file's");
    assert_eq!(rule(&base)["source"], "file");
    let (_, audit) = get_json(&base, "/api/v1/audit");
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
    assert!(actions.contains(&"rules.set") && actions.contains(&"rules.reset"), "{actions:?}");
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
}
