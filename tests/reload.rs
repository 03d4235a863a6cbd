//! SIGHUP: new thresholds, then another model, while the camera keeps streaming on its connection.

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

fn hangup(service: &Running) {
    Command::new("kill").arg("-HUP").arg(service.child.id().to_string()).status().unwrap();
}

#[test]
fn sighup_reloads_thresholds_and_swaps_the_model_without_touching_cameras() {
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("truck", &truck)]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "cam", url: &urls[0], decode: "keyframes" }], 300.0);
    let service = start_service(&config, &base);
    wait_for_log(&service, "inference started", 1);

    // 1. Same model, new confidence: thresholds are swapped in place.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("[detector]", "[detector]\nconfidence = 0.5")).unwrap();
    hangup(&service);
    wait_for_log(&service, "thresholds and class mappings reloaded", 1);
    wait_for_log(&service, "vehicle classes reloaded", 1);

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
