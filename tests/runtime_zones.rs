//! A camera's zones changed at runtime through the API (issue 20): validated as the file is, applied to
//! the running rules without reconnecting the camera, previewed on its recent frames, audited, kept in the database across a restart,
//! and reset to the file's; a case of a zone that went stays workable.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const FULL_FRAME: &str = "[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]";
/// A corner of the photo where nothing stands.
const EMPTY_CORNER: [[f64; 2]; 3] = [[0.0, 0.0], [0.08, 0.0], [0.0, 0.08]];

fn truck_cases(base: &str) -> Vec<Value> {
    let (status, cases) = get_json(base, "/api/v1/cases");
    assert_eq!(status, 200, "{cases}");
    cases.as_array().unwrap().iter().filter(|c| c["camera"] == "truck-cam").cloned().collect()
}

/// Waits until the camera has analysed `frames` frames in all.
fn wait_for_frames(base: &str, frames: u64, service: &Running) {
    let started = Instant::now();
    while cameras_by_id(base)["truck-cam"]["frames"].as_u64().unwrap() < frames {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the camera did not analyse {frames} frames:\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn zones_changed_through_the_api_apply_without_a_reconnect_and_outlive_a_restart() {
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("truck", &truck)]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "truck-cam", url: &urls[0], decode: "keyframes" }], 4.0);
    // The file watches only an empty corner: the parked truck is outside every zone.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace(FULL_FRAME, &serde_json::to_string(&EMPTY_CORNER).unwrap())).unwrap();
    let mut service = start_service(&config, &base);

    let (status, zones) = get_json(&base, "/api/v1/cameras/truck-cam/zones");
    assert_eq!(status, 200, "{zones}");
    assert_eq!((zones["source"].as_str(), zones["zones"][0]["polygon"].clone()), (Some("file"), json!(EMPTY_CORNER)));
    assert_eq!(get_json(&base, "/api/v1/cameras/no-such-cam/zones").0, 404);

    // Invalid zones are refused with every problem named by its key path, and change nothing.
    let put = |body: Value| send_json(&base, reqwest::Method::PUT, "/api/v1/cameras/truck-cam/zones", Some(body));
    let (status, refused) = put(json!([
        { "id": "a", "kind": "no_parking", "polygon": [[0.0, 0.0], [1.0, 0.0]] },
        { "id": "a", "kind": "no_parking", "polygon": EMPTY_CORNER, "min_area": 0.5, "max_area": 0.2, "min_dwell_s": 0 },
    ]));
    assert_eq!(status, 400, "{refused}");
    let error = refused["error"].as_str().unwrap();
    for path in ["zones[0].polygon:", "zones[1].id:", "zones[1].max_area:", "zones[1].min_dwell_s:"] {
        assert!(error.contains(path), "{path} is not named: {error}");
    }
    let (status, refused) = put(json!([{ "id": "a", "kind": "no_parking", "polygon": EMPTY_CORNER, "colour": "red" }]));
    assert_eq!(status, 400, "an unknown key: {refused}");
    assert!(refused["error"].as_str().unwrap().contains("colour"), "{refused}");

    // Long past the dwell time, nothing was filed: the truck is outside the zone.
    wait_for_frames(&base, 5, &service);
    assert!(truck_cases(&base).is_empty(), "a case outside every zone:\n{}", service.log());
    let restarts = cameras_by_id(&base)["truck-cam"]["restarts"].clone();

    // The zone is drawn over the curb: the running rules take it, and the truck's case opens.
    let curb =
        json!([{ "id": "curb", "kind": "no_parking", "polygon": serde_json::from_str::<Value>(FULL_FRAME).unwrap() }]);
    let (status, changed) = put(curb.clone());
    assert_eq!(status, 200, "{changed}");
    assert_eq!((changed["source"].as_str(), changed["changed_by"].as_str()), (Some("api"), Some("e2e")));
    let (_, view) = get_json(&base, "/api/v1/cameras/truck-cam/view");
    assert_eq!(view["zones"][0]["id"], "curb", "the tuning view shows the new zone at once: {view}");
    let started = Instant::now();
    let case = loop {
        if let Some(case) = truck_cases(&base).pop() {
            break case;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no case after the zone moved:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!((case["zone"].as_str(), case["category"].as_str()), (Some("curb"), Some("illegal_parking")));
    let camera = &cameras_by_id(&base)["truck-cam"];
    assert_eq!((camera["restarts"].clone(), camera["state"].as_str()), (restarts, Some("streaming")), "{camera}");
    let (_, audit) = get_json(&base, "/api/v1/audit");
    let entry = audit.as_array().unwrap().iter().find(|a| a["action"] == "zones.set").expect("the change is audited");
    assert_eq!((entry["actor"].as_str(), entry["target"].as_str()), (Some("e2e"), Some("camera truck-cam")));

    // A preview replays the camera's recent frames through rules built from a draft, and changes
    // nothing: the truck counts in the curb and would be confirmed there, never in the empty corner.
    let preview =
        |zones: Value| send_json(&base, reqwest::Method::POST, "/api/v1/cameras/truck-cam/zones/preview", Some(zones));
    let (status, seen) = preview(curb.clone());
    assert_eq!(status, 200, "{seen}");
    assert!(seen["frames"].as_u64().unwrap() >= 5 && seen["zones"][0]["frames"].as_u64().unwrap() >= 3, "{seen}");
    assert!(seen["cases"].as_array().unwrap().iter().any(|c| c["zone"] == "curb" && c["class"] == "truck"), "{seen}");
    let (status, seen) = preview(json!([{ "id": "corner", "kind": "no_parking", "polygon": EMPTY_CORNER }]));
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        (seen["zones"][0]["frames"].as_u64(), seen["cases"].as_array().map(Vec::len)),
        (Some(0), Some(0)),
        "{seen}"
    );
    assert_eq!(preview(json!([{ "id": "x", "kind": "no_parking", "polygon": [] }])).0, 400);
    assert_eq!(
        get_json(&base, "/api/v1/cameras/truck-cam/zones").1["zones"][0]["id"],
        "curb",
        "a preview changes nothing"
    );

    // A restart keeps what the API set: the database is the source of truth after start-up.
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
    let mut service = start_service(&config, &base);
    let (_, zones) = get_json(&base, "/api/v1/cameras/truck-cam/zones");
    let kept = &zones["zones"][0];
    assert_eq!(
        (zones["source"].as_str(), &kept["id"], &kept["polygon"]),
        (Some("api"), &curb[0]["id"], &curb[0]["polygon"])
    );
    assert_eq!(zones["zones"].as_array().unwrap().len(), 1, "{zones}");
    let (_, view) = get_json(&base, "/api/v1/cameras/truck-cam/view");
    assert_eq!(view["zones"][0]["id"], "curb", "{view}");

    // One zone set and removed by its id, the others as they are.
    let one = |method: reqwest::Method, zone: &str, body: Option<Value>| {
        send_json(&base, method, &format!("/api/v1/cameras/truck-cam/zones/{zone}"), body)
    };
    let gate = json!({ "kind": "no_parking", "polygon": EMPTY_CORNER });
    let (status, zones) = one(reqwest::Method::PUT, "gate", Some(gate.clone()));
    assert_eq!(status, 200, "{zones}");
    let ids: Vec<&str> = zones["zones"].as_array().unwrap().iter().filter_map(|z| z["id"].as_str()).collect();
    assert_eq!((ids, zones["source"].as_str()), (vec!["curb", "gate"], Some("api")), "{zones}");
    let (_, view) = get_json(&base, "/api/v1/cameras/truck-cam/view");
    assert_eq!(view["zones"].as_array().map(Vec::len), Some(2), "the tuning view shows the new zone: {view}");
    let (status, refused) = one(reqwest::Method::PUT, "gate", Some(json!({ "id": "other", "kind": "no_parking" })));
    assert_eq!(status, 400, "{refused}");
    let (status, refused) =
        one(reqwest::Method::PUT, "gate", Some(json!({ "kind": "no_parking", "polygon": [[0.0, 0.0]] })));
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("zones[1].polygon"), "{refused}");
    let (status, zones) = one(reqwest::Method::DELETE, "gate", None);
    assert_eq!((status, zones["zones"].as_array().map(Vec::len)), (200, Some(1)), "{zones}");
    assert_eq!(one(reqwest::Method::DELETE, "gate", None).0, 404, "no zone 'gate' any more");

    // Reset to the file's zones: the case of the zone that went stays and can be worked to the end.
    let reset = || send_json(&base, reqwest::Method::DELETE, "/api/v1/cameras/truck-cam/zones", None);
    let (status, zones) = reset();
    assert_eq!(status, 200, "{zones}");
    assert_eq!((zones["source"].as_str(), zones["zones"][0]["polygon"].clone()), (Some("file"), json!(EMPTY_CORNER)));
    assert_eq!(reset().0, 409, "already the file's zones");
    let (_, view) = get_json(&base, "/api/v1/cameras/truck-cam/view");
    assert_eq!(view["zones"][0]["id"], "all", "{view}");
    let path = format!("/api/v1/cases/{}/actions", case["id"]);
    let (status, verified) = send_json(&base, reqwest::Method::POST, &path, Some(json!({ "action": "verify" })));
    assert_eq!((status, verified["status"].as_str()), (200, Some("filed")), "{verified}");
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
}

#[test]
fn zones_changed_in_the_file_apply_on_sighup_without_a_reconnect() {
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("truck", &truck)]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "truck-cam", url: &urls[0], decode: "keyframes" }], 4.0);
    let whole_frame = std::fs::read_to_string(&config).unwrap();
    let corner = whole_frame.replace(FULL_FRAME, &serde_json::to_string(&EMPTY_CORNER).unwrap());
    std::fs::write(&config, &corner).unwrap();
    let mut service = start_service(&config, &base);
    wait_for_frames(&base, 5, &service);
    assert!(truck_cases(&base).is_empty(), "a case outside every zone:\n{}", service.log());
    let restarts = cameras_by_id(&base)["truck-cam"]["restarts"].clone();

    // The file's zone now covers the frame; SIGHUP applies it to the running rules.
    std::fs::write(&config, &whole_frame).unwrap();
    std::process::Command::new("kill").arg("-HUP").arg(service.child.id().to_string()).status().unwrap();
    let started = Instant::now();
    while truck_cases(&base).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "no case after SIGHUP:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    let (_, zones) = get_json(&base, "/api/v1/cameras/truck-cam/zones");
    assert_eq!(
        (zones["source"].as_str(), zones["zones"][0]["polygon"].clone()),
        (Some("file"), serde_json::from_str::<Value>(FULL_FRAME).unwrap())
    );
    let camera = &cameras_by_id(&base)["truck-cam"];
    assert_eq!((camera["restarts"].clone(), camera["state"].as_str()), (restarts, Some("streaming")), "{camera}");
    assert!(service.log().contains("camera changed: its stream untouched"), "{}", service.log());
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
}

/// `GET /api/v1/config` shows the configuration the service runs with — defaults filled in, each
/// camera's source and zones in force — and none of its secrets: a camera's password, a webhook's
/// secret and the access token in its URL, a token's digest. Only an admin may read it.
#[test]
fn the_configuration_shows_every_setting_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let camera_port = free_port();
    let url = format!("rtsp://admin:cam-pass-41@127.0.0.1:{camera_port}/live");
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "door-cam", url: &url, decode: "keyframes" }], 4.0);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        r#"
[[auth.tokens]]
name = "wall"
role = "viewer"
sha256 = "{viewer}"

[[notify.receivers]]
id = "duty-bot"
url = "http://127.0.0.1:{hook_port}/robot/send?access_token=hook-token-77"
secret = "hook-secret-53"
"#,
        viewer = sha256_hex("viewer-token"),
        hook_port = free_port(),
    ));
    std::fs::write(&config, text).unwrap();
    let mut service = start_service(&config, &base);

    let response =
        reqwest::blocking::Client::new().get(format!("{base}/api/v1/config")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().unwrap();
    for secret in ["cam-pass-41", "hook-token-77", "hook-secret-53", &sha256_hex(TOKEN), &sha256_hex("viewer-token")] {
        assert!(!body.contains(secret), "'{secret}' is shown: {body}");
    }
    let shown: Value = serde_json::from_str(&body).unwrap();
    let camera = &shown["cameras"][0];
    assert_eq!(camera["url"], format!("rtsp://***@127.0.0.1:{camera_port}/live"), "as the camera list shows it");
    assert_eq!(
        (camera["source"].as_str(), camera["analysed_here"].as_bool(), camera["zones_source"].as_str()),
        (Some("file"), Some(true), Some("file")),
        "{camera}"
    );
    assert_eq!(camera["zones"][0]["id"], "all");
    let receiver = &shown["notify"]["receivers"][0];
    assert_eq!(receiver["secret"], "***");
    assert!(receiver["url"].as_str().unwrap().ends_with("/robot/send?access_token=***"), "{receiver}");
    assert_eq!(shown["auth"]["tokens"][1]["name"], "wall");
    assert_eq!(shown["auth"]["tokens"][1]["sha256"], "***");
    // Settings the file leaves out are shown at their defaults.
    assert!(shown["detector"]["max_wait_ms"].as_u64().is_some(), "{}", shown["detector"]);
    assert_eq!(shown["rules"]["illegal_parking"]["min_dwell_s"], 4.0);

    // An admin's zones are shown as those in force, with who set them.
    let corner = json!([{ "id": "corner", "kind": "no_parking", "polygon": EMPTY_CORNER }]);
    assert_eq!(send_json(&base, reqwest::Method::PUT, "/api/v1/cameras/door-cam/zones", Some(corner)).0, 200);
    let (_, shown) = get_json(&base, "/api/v1/config");
    let camera = &shown["cameras"][0];
    assert_eq!(
        (camera["zones_source"].as_str(), camera["zones_changed_by"].as_str(), camera["zones"][0]["id"].as_str()),
        (Some("api"), Some("e2e"), Some("corner")),
        "{camera}"
    );

    let viewer =
        reqwest::blocking::Client::new().get(format!("{base}/api/v1/config")).bearer_auth("viewer-token").send();
    assert_eq!(viewer.unwrap().status().as_u16(), 403, "a viewer may not read the configuration");
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
}
