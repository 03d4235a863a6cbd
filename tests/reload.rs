//! SIGHUP: new thresholds, then another model, while the camera keeps streaming on its connection; new
//! litter classes, and a construction rule that had no classes at start switched on.

mod common;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use common::*;

fn wait_for_log(service: &Running, needle: &str, count: usize) {
    let started = Instant::now();
    while service.log().matches(needle).count() < count {
        assert!(started.elapsed() < Duration::from_secs(30), "no '{needle}' in:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A simulated camera of the parked-truck photo (running while the first value lives), and a
/// configuration in `dir` watching it with a five-minute parking dwell time: its path and base URL.
fn truck_camera(dir: &std::path::Path) -> (Running, std::path::PathBuf, String) {
    let truck = media("images/000000009769.jpg");
    let (simcam, urls) = start_simcam(&[("truck", &truck)]);
    let (config, base) = write_config(dir, &[TestCamera { id: "cam", url: &urls[0], decode: "keyframes" }], 300.0);
    (simcam, config, base)
}

fn hangup(service: &Running) {
    Command::new("kill").arg("-HUP").arg(service.child.id().to_string()).status().unwrap();
}

#[test]
fn sighup_reloads_thresholds_and_swaps_the_model_without_touching_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let (_simcam, config, base) = truck_camera(dir.path());
    let service = start_service(&config, &base);
    wait_for_log(&service, "inference started", 1);

    // 1. Same model, new confidence: thresholds are swapped in place.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("[detector]", "[detector]\nconfidence = 0.5")).unwrap();
    hangup(&service);
    wait_for_log(&service, "thresholds and class mappings reloaded", 1);
    wait_for_log(&service, "dwell rule reloaded", 3);

    // 2. Another model file: a new detector is loaded beside the running one, then swapped in.
    let other = dir.path().join("other.onnx");
    std::os::unix::fs::symlink(root().join("models/yolox_nano.onnx"), &other).unwrap();
    let manifest = std::fs::read_to_string(root().join("models/yolox_nano.toml"))
        .unwrap()
        .replace("name = \"yolox_nano\"", "name = \"yolox_nano_b\"")
        .replace("file = \"yolox_nano.onnx\"", &format!("file = \"{}\"", other.display()));
    let manifest_path = dir.path().join("other.toml");
    std::fs::write(&manifest_path, manifest).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let original = format!("manifest = \"{}\"", root().join("models/yolox_nano.toml").display());
    assert!(text.contains(&original));
    std::fs::write(&config, text.replace(&original, &format!("manifest = \"{}\"", manifest_path.display()))).unwrap();
    hangup(&service);
    wait_for_log(&service, "to=yolox_nano_b", 1);

    // 3. A broken configuration is refused and changes nothing.
    std::fs::write(&config, "[detector]\nmax_batch = 0\n").unwrap();
    hangup(&service);
    wait_for_log(&service, "reload refused", 1);

    // The camera never reconnected, and frames still flow.
    let (_, cameras) = get_json(&base, "/api/v1/cameras");
    let camera = &cameras[0];
    assert_eq!(camera["restarts"], 0, "{camera}");
    assert_eq!(camera["state"], "streaming", "{camera}");
    let before = camera["frames"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let (_, cameras) = get_json(&base, "/api/v1/cameras");
    assert!(cameras[0]["frames"].as_u64().unwrap() > before);
    let (_, metrics) = get_bytes(&base, "/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("model=\"yolox_nano_b\""), "the latency histogram follows the new model");
}

#[test]
fn an_unavailable_execution_provider_falls_back_to_cpu_with_a_log_line() {
    let output = Command::new(binary())
        .args(["detect", "--provider", "cuda", "--model"])
        .arg(root().join("models/yolox_nano.toml"))
        .arg(media("images/000000009769.jpg"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("provider") && stderr.contains("cuda") && stderr.contains("running on CPU"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["000000009769.jpg"][0]["class"], "truck");
}

/// The cases of one category.
fn cases_of(base: &str, category: &str) -> Vec<serde_json::Value> {
    let (_, cases) = get_json(base, &format!("/api/v1/cases?category={category}"));
    cases.as_array().unwrap().clone()
}

#[test]
fn sighup_gives_litter_new_classes_and_switches_on_a_rule_idle_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_simcam, config, base) = truck_camera(dir.path());
    // The camera watches for dumping and for construction over the whole frame; the litter rule
    // follows the manifest's stand-ins (bottles, bags: none in the photo), and the construction rule
    // has no classes at all (the COCO manifest maps none): idle.
    let text = std::fs::read_to_string(&config).unwrap().replace("kind = \"no_parking\"", "kind = \"no_dumping\"");
    let zones = "\n  [[cameras.zones]]\n  id = \"build\"\n  kind = \"construction_watch\"\n  \
                 polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\n";
    let rules = "\n[rules.litter]\nmin_dwell_s = 2.0\n\n[rules.illegal_construction]\nmin_dwell_s = 2.0\n";
    std::fs::write(&config, format!("{text}{zones}{rules}")).unwrap();
    let service = start_service(&config, &base);
    wait_for_log(&service, "inference started", 1);
    // Well past the dwell time on a still picture: nothing the rules follow is in it.
    std::thread::sleep(Duration::from_secs(8));
    assert!(cases_of(&base, "litter").is_empty(), "{}", service.log());
    assert!(cases_of(&base, "illegal_construction").is_empty(), "{}", service.log());

    // Both rules now follow trucks (a site's mapping of its own model, say).
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("min_dwell_s = 2.0\n", "min_dwell_s = 2.0\nclasses = [\"truck\"]\n");
    std::fs::write(&config, text).unwrap();
    hangup(&service);
    wait_for_log(&service, "dwell rule reloaded", 3);
    let started = Instant::now();
    while cases_of(&base, "litter").is_empty() || cases_of(&base, "illegal_construction").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "no litter and construction cases:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(500));
    }
    for (category, zone) in [("litter", "all"), ("illegal_construction", "build")] {
        let cases = cases_of(&base, category);
        assert_eq!(cases.len(), 1, "{category}: {cases:?}");
        assert_eq!(cases[0]["zone"], zone);
    }
    let (_, cameras) = get_json(&base, "/api/v1/cameras");
    assert_eq!(cameras[0]["restarts"], 0, "the camera never reconnected: {}", cameras[0]);
}

/// A parked truck under a five-minute dwell time: SIGHUP with a two-second one applies from the next
/// frame (the truck keeps the time it has stood, so its case opens at once), previews of the camera's
/// zones build with the new setting, and the camera never reconnects.
#[test]
fn sighup_applies_the_dwell_rules_settings_without_touching_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let (_simcam, config, base) = truck_camera(dir.path());
    let service = start_service(&config, &base);
    let preview = || {
        let zones = serde_json::json!([{ "id": "all", "kind": "no_parking",
            "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]] }]);
        let response = reqwest::blocking::Client::new()
            .post(format!("{base}/api/v1/cameras/cam/zones/preview"))
            .bearer_auth(TOKEN)
            .json(&zones)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json::<serde_json::Value>().unwrap()
    };
    // Well past two seconds on the still picture, nothing is filed under the five-minute rule, and a
    // preview of the camera's frames would confirm nothing either.
    let started = Instant::now();
    while get_json(&base, "/api/v1/cameras").1[0]["frames"].as_u64().unwrap_or(0) < 5 {
        assert!(started.elapsed() < Duration::from_secs(60), "the camera analysed no frames:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(cases_of(&base, "illegal_parking").is_empty(), "{}", service.log());
    let before = preview();
    assert!(before["zones"][0]["frames"].as_u64().unwrap() >= 3, "the truck counts in the zone: {before}");
    assert_eq!(before["cases"].as_array().map(Vec::len), Some(0), "{before}");

    let text = std::fs::read_to_string(&config).unwrap().replace("min_dwell_s = 300", "min_dwell_s = 2.0");
    std::fs::write(&config, text).unwrap();
    hangup(&service);
    wait_for_log(&service, "dwell rule reloaded", 3);
    let started = Instant::now();
    while cases_of(&base, "illegal_parking").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no case after the dwell time fell:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    let after = preview();
    assert!(!after["cases"].as_array().unwrap().is_empty(), "the preview builds with the new setting: {after}");
    let (_, cameras) = get_json(&base, "/api/v1/cameras");
    assert_eq!(cameras[0]["restarts"], 0, "the camera never reconnected: {}", cameras[0]);
}
