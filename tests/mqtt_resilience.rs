//! Sensor messages survive sharpeyes and broker restarts, against a private Mosquitto with
//! persistence: QoS 1 messages published while sharpeyes is away arrive once it is back (persistent
//! session), none reaches the rules twice, and a restarted broker is reconnected to by itself. A
//! manhole cover reported open becomes a sensor case; camera status is published on MQTT.

mod common;

use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};

use common::*;

const GRID: &str = "110105001001001";

fn readings(from: u32, to: u32, open_at: Option<u32>) -> Vec<String> {
    (from..to)
        .map(|i| {
            let open = Some(i) == open_at;
            format!(r#"{{"tilt_deg": 2.0, "open": {open}, "ts": "2026-11-23T10:{:02}:{:02}Z"}}"#, i / 60, i % 60)
        })
        .collect()
}

fn messages_of(base: &str, device: &str) -> u64 {
    let (status, sensors) = get_json(base, "/api/v1/sensors");
    assert_eq!(status, 200);
    sensors.as_array().unwrap().iter().find(|s| s["device"] == device).map_or(0, |s| s["messages"].as_u64().unwrap())
}

#[test]
fn sensor_messages_survive_service_and_broker_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    let mut broker = Broker::start(&broker_dir, "");
    let prefix = format!("se-resilience-{}", nanos_since_epoch());
    let topic = format!("{prefix}/sensors/mh-1/manhole_cover");
    let refused = format!("rtsp://127.0.0.1:{}/nothing", free_port());

    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "dead", url: &refused, decode: "keyframes" }], 300.0);
    let sensors = manhole_sensor("mh-1", Some([116.45, 39.91]));
    add_mqtt(&config, &format!("mqtt://127.0.0.1:{}", broker.port), &prefix, &sensors);
    let connected = |service: &Running, times: usize| {
        wait_for(Duration::from_secs(30), || service.log(), || service.log().matches("MQTT connected").count() >= times)
    };

    // 1. Connected: 20 readings arrive.
    let mut service = start_service(&config, &base);
    connected(&service, 1);
    publish_lines(broker.port, &topic, &readings(0, 20, None), None);
    wait_for(Duration::from_secs(20), || service.log(), || messages_of(&base, "mh-1") == 20);

    // Camera status is published, retained: a late subscriber sees it.
    let mut status = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-C", "1", "-W", "20"])
        .args(["-t", &format!("{prefix}/cameras/dead/status")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut body = String::new();
    status.stdout.take().unwrap().read_to_string(&mut body).unwrap();
    assert!(status.wait().unwrap().success(), "no retained camera status");
    let camera: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_else(|_| panic!("'{body}'"));
    assert_eq!(camera["id"], "dead");
    assert!(["connecting", "offline"].contains(&camera["state"].as_str().unwrap()), "{camera}");

    // 2. sharpeyes away: 30 readings (one of them "open") wait in its persistent session.
    let (exit, _) = service.interrupt();
    assert!(exit.success());
    drop(service);
    publish_lines(broker.port, &topic, &readings(20, 50, Some(35)), None);
    let service = start_service(&config, &base);
    connected(&service, 1);
    wait_for(Duration::from_secs(20), || service.log(), || messages_of(&base, "mh-1") == 30);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(messages_of(&base, "mh-1"), 30, "each message once");
    assert!(service.log().contains("session_present=true"), "{}", service.log());

    let (status, cases) = get_json(&base, "/api/v1/cases?category=manhole_cover");
    assert_eq!(status, 200);
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 1, "{cases:#?}");
    let case = &cases[0];
    assert_eq!((case["source"].as_str(), case["device"].as_str()), (Some("sensor"), Some("mh-1")));
    assert_eq!(
        (case["code"].as_str(), case["grid"].as_str(), case["zone"].as_str()),
        (Some("0101"), Some(GRID), Some("cover-open"))
    );
    assert_eq!(case["detail"]["reading"]["open"], true, "{case:#}");
    assert_eq!(case["detail"]["location"], serde_json::json!([116.45, 39.91]));
    assert_eq!(case["first_seen_at"], "2026-11-23T10:00:35Z");

    // 3. The broker restarts under a running sharpeyes: it reconnects and resubscribes by itself.
    broker.restart();
    connected(&service, 2);
    publish_lines(broker.port, &topic, &readings(50, 60, None), None);
    wait_for(Duration::from_secs(20), || service.log(), || messages_of(&base, "mh-1") == 40);

    // 4. sharpeyes away and the broker restarted meanwhile: what the broker kept still arrives.
    let mut service = service;
    assert!(service.interrupt().0.success());
    drop(service);
    publish_lines(broker.port, &topic, &readings(60, 75, None), None);
    broker.restart();
    let service = start_service(&config, &base);
    connected(&service, 1);
    wait_for(Duration::from_secs(20), || service.log(), || messages_of(&base, "mh-1") == 15);

    let (_, metrics) = get_bytes(&base, "/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert_eq!(metric(&metrics, "sharpeyes_sensor_duplicates_total"), 0.0);
    let (_, cases) = get_json(&base, "/api/v1/cases?category=manhole_cover");
    assert_eq!(cases.as_array().unwrap().len(), 1, "the open case is not opened again: {cases:#}");
}
