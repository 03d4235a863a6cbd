//! MQTT sensor ingest against the real broker (Mosquitto on 127.0.0.1:1883): valid messages are
//! counted by kind; every invalid one is counted by reason and dead-lettered with its original bytes,
//! and the ingest goes on.

mod common;

use std::{
    collections::BTreeMap,
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;

fn publish(topic: &str, payload: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload");
    std::fs::write(&file, payload).unwrap();
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", "1883", "-q", "1", "-t", topic, "-f"])
        .arg(&file)
        .status()
        .expect("mosquitto_pub (scripts/setup.sh installs mosquitto-clients)");
    assert!(status.success());
}

#[test]
fn invalid_sensor_payloads_are_counted_and_dead_lettered_while_valid_ones_flow() {
    let prefix = format!("se-test-{}-{}", std::process::id(), nanos_since_epoch());
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(dir.path(), &[], 300.0);
    add_mqtt(
        &config,
        "mqtt://127.0.0.1:1883",
        &prefix,
        r#"
[[sensors]]
id = "mh-1"
kind = "manhole_cover"
grid = "110105001001001"
location = [116.45, 39.91]

[[sensors]]
id = "bay-1"
kind = "parking_space"
grid = "110105001001001"
"#,
    );
    let service = start_service(&config, &base);
    let started = Instant::now();
    while !service.log().contains("MQTT connected") {
        assert!(started.elapsed() < Duration::from_secs(20), "{}", service.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    // Eleven malformed messages of ten kinds (seven reasons), with valid ones before, between and after.
    let sensors = format!("{prefix}/sensors");
    let manhole = format!("{sensors}/mh-1/manhole_cover");
    let bay = format!("{sensors}/bay-1/parking_space");
    let oversized = vec![b' '; 70_000];
    let messages: Vec<(String, &[u8], Option<&str>)> = vec![
        (manhole.clone(), br#"{"tilt_deg": 4.5, "open": false}"#, None),
        (bay.clone(), br#"{"occupied": true}"#, None),
        (manhole.clone(), b"cover is fine", Some("not_json")),
        (manhole.clone(), b"\xff\xfe\x00\x01", Some("not_json")),
        (manhole.clone(), br#"{"tilt_deg": 500, "open": true}"#, Some("out_of_range")),
        (format!("{sensors}/ghost/noise"), br#"{"db": 40}"#, Some("unknown_device")),
        (bay.clone(), br#"{"occupied": "yes"}"#, Some("wrong_schema")),
        (manhole.clone(), br#"{"open": true}"#, Some("wrong_schema")),
        (manhole.clone(), br#"{"tilt_deg": 4.0, "open": false, "colour": "red"}"#, Some("wrong_schema")),
        (manhole.clone(), b"[4.5, false]", Some("wrong_schema")),
        (bay.clone(), &oversized, Some("oversized")),
        (format!("{sensors}/bay-1/noise"), br#"{"db": 40}"#, Some("kind_mismatch")),
        (format!("{sensors}//noise"), br#"{"db": 40}"#, Some("bad_topic")),
        (bay.clone(), br#"{"occupied": false}"#, None),
    ];
    let invalid = messages.iter().filter(|m| m.2.is_some()).count();
    let mut dead_letters = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", "1883", "-q", "1", "-v", "-W", "40"])
        .args(["-C", &invalid.to_string()])
        .args(["-t", &format!("{prefix}/deadletter/#")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for (topic, payload, _) in &messages {
        publish(topic, payload);
    }

    let mut output = String::new();
    dead_letters.stdout.take().unwrap().read_to_string(&mut output).unwrap();
    assert!(dead_letters.wait().unwrap().success(), "{invalid} dead letters expected, got:\n{output}");
    let mut reasons = BTreeMap::new();
    for line in output.lines() {
        let (topic, body) = line.split_once(' ').unwrap();
        let letter: serde_json::Value = serde_json::from_str(body).unwrap();
        let reason = letter["reason"].as_str().unwrap().to_owned();
        let expected_device = match reason.as_str() {
            "unknown_device" => "ghost",
            "bad_topic" => "_unknown",
            _ => letter["topic"].as_str().unwrap().split('/').nth(2).unwrap(),
        };
        assert!(topic.ends_with(&format!("/deadletter/{expected_device}")), "{topic}: {letter}");
        if reason == "not_json" {
            let original = letter["payload_base64"].as_str().unwrap();
            assert!(["Y292ZXIgaXMgZmluZQ==", "//4AAQ=="].contains(&original), "the original bytes: {letter}");
            assert_eq!(letter["topic"], manhole.as_str());
        }
        *reasons.entry(reason).or_insert(0) += 1;
    }
    let mut expected: BTreeMap<String, i32> = BTreeMap::new();
    for reason in messages.iter().filter_map(|m| m.2) {
        *expected.entry(reason.to_owned()).or_insert(0) += 1;
    }
    assert_eq!(reasons, expected);

    // The last valid message was published after the last invalid one: wait for it to be counted.
    let started = Instant::now();
    let metrics = loop {
        let (_, metrics) = get_bytes(&base, "/metrics");
        let metrics = String::from_utf8(metrics).unwrap();
        if metric(&metrics, "sharpeyes_sensor_messages_total{kind=\"parking_space\"}") >= 2.0
            || started.elapsed() > Duration::from_secs(10)
        {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(metric(&metrics, "sharpeyes_sensor_messages_total{kind=\"manhole_cover\"}"), 1.0);
    assert_eq!(metric(&metrics, "sharpeyes_sensor_messages_total{kind=\"parking_space\"}"), 2.0);
    for (reason, count) in &expected {
        let line = format!("sharpeyes_sensor_rejected_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&metrics, &line), f64::from(*count), "{reason}");
    }
    let (status, _) = get_bytes(&base, "/healthz");
    assert_eq!(status, 200, "the ingest went on");

    let (status, sensors) = get_json(&base, "/api/v1/sensors");
    assert_eq!(status, 200);
    let by_id = |id: &str| sensors.as_array().unwrap().iter().find(|s| s["device"] == id).unwrap().clone();
    let (manhole, bay) = (by_id("mh-1"), by_id("bay-1"));
    assert_eq!(manhole["reading"]["kind"], "manhole_cover");
    assert_eq!(manhole["reading"]["tilt_deg"], 4.5);
    assert_eq!(manhole["location"], serde_json::json!([116.45, 39.91]));
    assert_eq!(bay["reading"]["occupied"], false, "the latest reading");
    assert_eq!(bay["messages"], 2);
}
