//! One case per problem at a place, through the real detector: a photo of a parked truck served with
//! the truck missing from every fourth key-frame (detections flickering) gives one case; once that
//! case is closed, the truck "leaves" (the stream is switched to the street without it) and comes back
//! after the cooldown, which gives a second case.

mod common;

use std::{path::Path, process::Command, time::Duration};

use common::*;
use serde_json::{Value, json};

fn cases_of(base: &str) -> Vec<Value> {
    let (status, cases) = get_json(base, "/api/v1/cases?camera=curb");
    assert_eq!(status, 200);
    cases.as_array().unwrap().clone()
}

fn act(base: &str, id: i64, action: &str) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/cases/{id}/actions"))
        .bearer_auth(TOKEN)
        .json(&json!({ "action": action }))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{action}: {}", response.text().unwrap());
}

/// The vehicles `sharpeyes detect` finds in `photo`.
fn vehicles_in(photo: &Path) -> Vec<Value> {
    let output = Command::new(binary())
        .current_dir(root())
        .args(["detect", "--model", "models/yolox_nano.toml"])
        .arg(photo)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let found: Value = serde_json::from_slice(&output.stdout).unwrap();
    let detections = found.as_object().unwrap().values().next().unwrap().as_array().unwrap().clone();
    let vehicle = |d: &Value| ["car", "truck", "bus", "motorcycle"].contains(&d["class"].as_str().unwrap());
    detections.into_iter().filter(vehicle).collect()
}

/// The photo with every vehicle the detector finds painted over in a flat street grey.
fn street_without_vehicles(photo: &Path, out: &Path) {
    let mut image = image::open(photo).unwrap().to_rgb8();
    let vehicles = vehicles_in(photo);
    assert!(vehicles.len() >= 2, "the photo holds a truck and a car: {vehicles:?}");
    for vehicle in vehicles {
        let b: Vec<u32> =
            vehicle["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap().max(0.0) as u32).collect();
        for y in b[1]..b[3].min(image.height()) {
            for x in b[0]..b[2].min(image.width()) {
                image.put_pixel(x, y, image::Rgb([118, 118, 112]));
            }
        }
    }
    image.save(out).unwrap();
    assert_eq!(vehicles_in(out), Vec::<Value>::new(), "the painted street has no vehicle left");
}

/// A 48 s clip: the truck photo for three key-frame intervals (2 s each), the empty street for one.
fn flickering_clip(truck: &Path, empty: &Path, out: &Path) {
    let list = out.with_extension("txt");
    let mut text = String::new();
    for _ in 0..6 {
        for image in [truck, truck, truck, empty] {
            text.push_str(&format!("file '{}'\nduration 2\n", image.display()));
        }
    }
    text.push_str(&format!("file '{}'\n", truck.display()));
    std::fs::write(&list, text).unwrap();
    let status = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i"])
        .arg(&list)
        .args(["-vf", "fps=25,format=yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-g", "50"])
        .args(["-keyint_min", "50", "-sc_threshold", "0", "-bf", "0"])
        .arg(out)
        .status()
        .expect("ffmpeg (scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg could not make the flickering clip");
}

#[test]
fn flickering_detections_give_one_case_and_a_return_after_the_cooldown_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let photo = media("images/000000009769.jpg");
    let truck = dir.path().join("truck.png");
    image::open(&photo).unwrap().save(&truck).unwrap();
    let empty = dir.path().join("empty.png");
    street_without_vehicles(&photo, &empty);
    let clip = dir.path().join("flicker.mp4");
    flickering_clip(&truck, &empty, &clip);

    let listen = format!("127.0.0.1:{}", free_port());
    let url = format!("rtsp://{listen}/curb");
    let (config, base) = write_config(dir.path(), &[TestCamera { id: "curb", url: &url, decode: "keyframes" }], 6.0);
    let text =
        std::fs::read_to_string(&config).unwrap().replace("min_dwell_s = 6", "min_dwell_s = 6\ntrack_max_gap_s = 5");
    std::fs::write(&config, format!("{text}\n[cases]\ncooldown_s = 5\n")).unwrap();

    // Flickering: the truck is missing from every fourth key-frame for 30 s.
    let server = start_simcam_on(&listen, &[("curb", &clip)], &[]).0;
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(60), || service.log(), || !cases_of(&base).is_empty());
    std::thread::sleep(Duration::from_secs(24));
    let cases = cases_of(&base);
    assert_eq!(cases.len(), 1, "one case, however the detections flicker: {cases:#?}");
    let first = cases[0]["id"].as_i64().unwrap();
    let frames = cameras_by_id(&base)["curb"]["frames"].as_u64().unwrap();
    assert!(frames >= 15, "dozens of key-frames analysed: {frames}");

    for action in ["verify", "dispatch", "accept", "report_handled", "close"] {
        act(&base, first, action);
    }
    // The truck leaves: the street without it for longer than a track survives and than the cooldown.
    drop(server);
    let server = start_simcam_on(&listen, &[("curb", &empty)], &[]).0;
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(cases_of(&base).len(), 1, "an empty street opens nothing");

    // It comes back after the cooldown: a new case.
    drop(server);
    let _server = start_simcam_on(&listen, &[("curb", &truck)], &[]).0;
    wait_for(Duration::from_secs(60), || service.log(), || cases_of(&base).len() == 2);
    let cases = cases_of(&base);
    let second = &cases[0];
    assert_ne!(second["id"].as_i64().unwrap(), first);
    assert_eq!((second["status"].as_str(), second["code"].as_str()), (Some("reported"), Some("0505")));
    let (_, closed) = get_json(&base, &format!("/api/v1/cases/{first}"));
    assert_eq!(closed["status"], "closed");
}
