//! The first real path: an RTSP camera (simcam) → GStreamer → YOLOX-nano through ONNX Runtime → a
//! no-parking zone with a dwell rule → one grid case in SQLite → the API with its evidence image; in
//! key-frame mode and in sampled mode (frames decoded at `sample_fps`) alike; operators' verify and void
//! decisions (a void takes a reason) become each zone's precision in `/api/v1/quality` and `/metrics`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn cases_of(cases: &Value, camera: &str) -> Vec<Value> {
    cases.as_array().unwrap().iter().filter(|c| c["camera"] == camera).cloned().collect()
}

#[test]
fn a_parked_truck_opens_exactly_one_case_and_passing_traffic_none() {
    let truck = media("images/000000009769.jpg");
    let traffic = media("traffic.mp4");
    let (_simcam, urls) = start_simcam(&[("truck", &truck), ("traffic", &traffic)]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(
        dir.path(),
        &[
            TestCamera { id: "truck-cam", url: &urls[0], decode: "keyframes" },
            TestCamera { id: "traffic-cam", url: &urls[1], decode: "sampled" },
            TestCamera { id: "truck-sampled", url: &urls[0], decode: "sampled" },
        ],
        6.0,
    );
    let mut service = start_service(&config, &base);

    // The truck stands still from the first frame: its case must open soon after the dwell time.
    let started = Instant::now();
    let first = loop {
        let (status, cases) = get_json(&base, "/api/v1/cases");
        assert_eq!(status, 200);
        if let Some(case) = cases_of(&cases, "truck-cam").first() {
            break case.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(90), "no case for the truck camera:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(500));
    };
    // Keep watching: the truck (and the second vehicle in the photo) must not open more cases, and the
    // traffic clip (cars that never stop, looping every 20 s) must open none.
    std::thread::sleep(Duration::from_secs(25));
    let (_, cases) = get_json(&base, "/api/v1/cases");
    let truck_cases = cases_of(&cases, "truck-cam");
    assert_eq!(truck_cases.len(), 1, "one case per camera, zone and category: {cases:#}");
    assert!(cases_of(&cases, "traffic-cam").is_empty(), "moving traffic opened a case: {cases:#}\n{}", service.log());
    // Sampled mode analyses frames and files the truck as key-frame mode does.
    let sampled = cases_of(&cases, "truck-sampled");
    assert_eq!(sampled.len(), 1, "the sampled camera's case: {cases:#}\n{}", service.log());
    assert_eq!(sampled[0]["category"], "illegal_parking");
    let cameras = cameras_by_id(&base);
    for camera in ["traffic-cam", "truck-sampled"] {
        let frames = cameras[camera]["frames"].as_u64().unwrap();
        assert!(frames >= 10, "{camera} analysed {frames} frames in over 25 s at 2 fps");
    }

    let case = &truck_cases[0];
    assert_eq!(case["id"], first["id"], "the first case stays the only one");
    assert_eq!(case["code"], "0505");
    assert_eq!(case["category"], "illegal_parking");
    assert_eq!(case["zone"], "all");
    assert_eq!(case["grid"], "110105001001001");
    assert_eq!(case["status"], "reported");
    assert!(case["opened_at"].is_string());
    let object_count = case["object_count"].as_i64().unwrap();
    assert!((1..=3).contains(&object_count), "the photo holds one truck and one car: {case:#}");

    let id = case["id"].as_i64().unwrap();
    let (status, detail) = get_json(&base, &format!("/api/v1/cases/{id}"));
    assert_eq!(status, 200);
    let objects = detail["objects"].as_array().unwrap();
    assert_eq!(objects.len() as i64, object_count);
    assert!(objects.iter().any(|o| o["class"] == "truck"), "{detail:#}");
    let first_seen = detail["first_seen_at"].as_str().unwrap();
    let confirmed = detail["confirmed_at"].as_str().unwrap();
    assert!(first_seen < confirmed, "{first_seen} < {confirmed}");

    let (status, jpeg) = get_bytes(&base, &format!("/api/v1/cases/{id}/evidence/0"));
    assert_eq!(status, 200);
    let image = image::load_from_memory(&jpeg).expect("the evidence is an image");
    assert_eq!((image.width(), image.height()), (640, 480), "evidence at the frame's size");

    // Evidence 1: the frame in which the first object was first seen standing, taken earlier.
    let evidence = detail["evidence"].as_array().unwrap();
    assert!(evidence.len() >= 2, "confirming and first-seen frames: {detail:#}");
    assert!(evidence[1]["captured_at"].as_str() < evidence[0]["captured_at"].as_str(), "{detail:#}");
    let (status, jpeg) = get_bytes(&base, &format!("/api/v1/cases/{id}/evidence/1"));
    assert_eq!(status, 200);
    assert!(image::load_from_memory(&jpeg).is_ok());

    let (status, _) = get_bytes(&base, &format!("/api/v1/cases/{id}/evidence/99"));
    assert_eq!(status, 404);
    // Evidence is addressed by case and index only: a path is not an index.
    for probe in ["..%2F..%2F..%2Fetc%2Fpasswd", "0%2F..%2F..%2Fsharpeyes.db", "-1"] {
        let (status, body) = get_bytes(&base, &format!("/api/v1/cases/{id}/evidence/{probe}"));
        assert!(matches!(status, 400 | 404), "{probe}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("root:"), "{probe}");
    }

    // Operators' decisions feed each zone's precision: the keyframe camera's case is verified, the
    // sampled camera's is voided as a false detection, which takes a reason.
    let act = |id: &Value, body: Value| {
        let response = reqwest::blocking::Client::new()
            .post(format!("{base}/api/v1/cases/{id}/actions"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap_or_default())
    };
    let (status, refused) = act(&sampled[0]["id"], serde_json::json!({ "action": "void", "note": "a shadow" }));
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"].as_str().unwrap().starts_with("reason: voiding a camera case takes one of"), "{refused}");
    let (status, refused) = act(&case["id"], serde_json::json!({ "action": "verify", "reason": "duplicate" }));
    assert_eq!(status, 400, "only void takes a reason: {refused}");
    let (status, _) = act(&case["id"], serde_json::json!({ "action": "verify" }));
    assert_eq!(status, 200);
    let (status, voided) = act(
        &sampled[0]["id"],
        serde_json::json!({ "action": "void", "reason": "false_detection", "note": "a shadow" }),
    );
    assert_eq!(status, 200, "{voided}");
    assert_eq!(voided["void_reason"], "false_detection");
    let (status, quality) = get_json(&base, "/api/v1/quality");
    assert_eq!(status, 200, "{quality}");
    let zones = quality["zones"].as_array().unwrap();
    let zone = |camera: &str| zones.iter().find(|z| z["camera"] == camera).unwrap_or_else(|| panic!("{quality:#}"));
    assert_eq!(zones[0]["camera"], "truck-sampled", "worst precision first: {quality:#}");
    assert_eq!(
        (zone("truck-sampled")["precision"].as_f64(), zone("truck-sampled")["voided"]["false_detection"].as_u64()),
        (Some(0.0), Some(1))
    );
    assert_eq!((zone("truck-cam")["precision"].as_f64(), zone("truck-cam")["verified"].as_u64()), (Some(1.0), Some(1)));
    assert!(zone("truck-cam")["median_verify_s"].as_f64().unwrap() > 0.0, "{quality:#}");
    let metrics = reqwest::blocking::get(format!("{base}/metrics")).unwrap().text().unwrap();
    let voided_line = "sharpeyes_cases_voided_total{camera=\"truck-sampled\",category=\"illegal_parking\",reason=\"false_detection\",zone=\"all\"}";
    assert_eq!(metric(&metrics, voided_line), 1.0, "{metrics}");
    let verified_line =
        "sharpeyes_cases_verified_total{camera=\"truck-cam\",category=\"illegal_parking\",zone=\"all\"}";
    assert_eq!(metric(&metrics, verified_line), 1.0);

    let (_, drawn) = get_bytes(&base, &format!("/api/v1/cases/{id}/evidence/0"));
    // The same dataset from the admin API: a tar streamed to the client, checked against the CLI's below.
    let response = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/dataset?since=2000-01-01T00:00:00Z"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let tar = response.bytes().unwrap();
    let mut from_api = std::collections::BTreeMap::new();
    for entry in tar::Archive::new(tar.as_ref()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        from_api.insert(name, bytes);
    }
    let (status, refused) = get_json(&base, "/api/v1/dataset?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z");
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"].as_str().unwrap().starts_with("since: "), "{refused}");
    let (exit, took) = service.interrupt();
    assert!(exit.success(), "exit status {exit:?}:\n{}", service.log());
    assert!(took < Duration::from_secs(5), "SIGINT took {took:?}");

    // The labelled-data export: the verified case's analysed frame (nothing drawn) as a positive
    // labelled with the object that opened it and the frame's other objects, the false detection's as a hard negative, in YOLO format.
    let out = dir.path().join("dataset");
    let export = |out: &std::path::Path| {
        std::process::Command::new(binary())
            .args(["export-dataset", "--config"])
            .arg(&config)
            .args(["--since", "2000-01-01", "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    let exported = export(&out);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let summary = String::from_utf8_lossy(&exported.stdout);
    assert!(summary.contains(": 2 images (1 verified positives, 1 false-detection hard negatives)"), "{summary}");
    let (positive, negative) = (case["id"].as_i64().unwrap(), sampled[0]["id"].as_i64().unwrap());
    let frame = std::fs::read(out.join(format!("images/{positive}.jpg"))).unwrap();
    let decoded = image::load_from_memory(&frame).expect("the frame is an image");
    assert_eq!((decoded.width(), decoded.height()), (640, 480));
    assert_ne!(frame, drawn, "the frame is not the evidence image with its boxes drawn");
    let yaml = std::fs::read_to_string(out.join("data.yaml")).unwrap();
    let names = yaml.lines().find_map(|line| line.strip_prefix("names: ")).expect("data.yaml names the classes");
    let names: Vec<String> = serde_json::from_str(names).unwrap();
    assert_eq!((names.len(), names[0].as_str()), (80, "person"), "the manifest's COCO classes");
    let object = &objects[0];
    let label = std::fs::read_to_string(out.join(format!("labels/{positive}.txt"))).unwrap();
    let lines: Vec<Vec<f64>> =
        label.lines().map(|line| line.split_whitespace().map(|v| v.parse().unwrap()).collect()).collect();
    let class = names.iter().position(|name| *name == object["class"]).unwrap();
    let [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map(|k| object[k].as_f64().unwrap());
    let expected = [class as f64, (x1 + x2) / 1280.0, (y1 + y2) / 960.0, (x2 - x1) / 640.0, (y2 - y1) / 480.0];
    assert!(lines[0].iter().zip(expected).all(|(got, want)| (got - want).abs() < 1e-5), "{label} vs {expected:?}");
    // The other objects of the frame are labelled too: the car parked beside the truck is a car, not
    // background, for a model trained on it.
    let car = names.iter().position(|name| name == "car").unwrap() as f64;
    assert!(lines.len() >= 2 && lines[1..].iter().any(|l| l[0] == car), "the car beside the truck: {label}");
    assert!(lines.iter().all(|l| l.len() == 5 && l[1..].iter().all(|v| (0.0..=1.0).contains(v))), "{label}");
    assert_eq!(std::fs::read_to_string(out.join(format!("labels/{negative}.txt"))).unwrap(), "");
    assert!(out.join(format!("images/{negative}.jpg")).is_file());
    let manifest = std::fs::read_to_string(out.join("manifest.csv")).unwrap();
    assert!(
        manifest
            .contains(&format!("images/{negative}.jpg,{negative},truck-sampled,all,illegal_parking,false_detection,"))
    );
    // The API's tar holds the very files the command wrote.
    let (positive_image, negative_label) = (format!("images/{positive}.jpg"), format!("labels/{negative}.txt"));
    for name in [positive_image.as_str(), negative_label.as_str(), "data.yaml", "manifest.csv"] {
        assert!(from_api.contains_key(name), "{name} is missing from the tar: {:?}", from_api.keys());
    }
    for (name, bytes) in &from_api {
        assert_eq!(*bytes, std::fs::read(out.join(name)).unwrap(), "{name} differs between the tar and the command");
    }
    // An export never writes into one that is there already.
    let again = export(&out);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--out: '"), "{}", String::from_utf8_lossy(&again.stderr));
}
