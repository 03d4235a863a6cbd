//! A poison MQTT message cannot wedge sensor ingest: a 17 MiB message on a sensor topic (QoS 1, on a
//! persistent session) is acknowledged and dead-lettered with its size — not its bytes — and the
//! readings published after it are evaluated; the service stays connected. A message on a topic with a
//! level too many is counted and dead-lettered too, not dropped unseen.

mod common;

use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};

use common::*;

#[test]
fn an_oversized_message_is_dead_lettered_and_ingest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    let broker = Broker::start(&broker_dir, "");
    let prefix = format!("se-poison-{}", nanos_since_epoch());
    let topic = format!("{prefix}/sensors/mh-1/manhole_cover");
    let (config, base) = write_config(dir.path(), &[], 300.0);
    add_mqtt(&config, &format!("mqtt://127.0.0.1:{}", broker.port), &prefix, &manhole_sensor("mh-1", None));
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));

    let mut dead_letters = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-C", "2", "-W", "60"])
        .args(["-t", &format!("{prefix}/deadletter/#")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // 17 MiB of JSON, then a cover reported open.
    let poison = dir.path().join("poison.json");
    std::fs::write(&poison, format!("{{\"x\": \"{}\"}}", "a".repeat(17 << 20))).unwrap();
    let published = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-t", &topic, "-f"])
        .arg(&poison)
        .status()
        .unwrap();
    assert!(published.success());
    let open = r#"{"tilt_deg": 80.0, "open": true, "ts": "2026-11-23T10:00:00Z"}"#.to_owned();
    publish_lines(broker.port, &format!("{topic}/extra"), std::slice::from_ref(&open), None);
    publish_lines(broker.port, &topic, &[open], None);

    // The reading after the poison is evaluated: a manhole case.
    wait_for(
        Duration::from_secs(30),
        || service.log(),
        || {
            let (_, cases) = get_json(&base, "/api/v1/cases?category=manhole_cover");
            cases.as_array().is_some_and(|cases| cases.len() == 1)
        },
    );
    let mut letters = String::new();
    dead_letters.stdout.take().unwrap().read_to_string(&mut letters).unwrap();
    let _ = dead_letters.wait();
    let letters: Vec<serde_json::Value> = letters
        .lines()
        .map(|letter| serde_json::from_str(letter).unwrap_or_else(|e| panic!("{e}: {letter:.200}")))
        .collect();
    assert_eq!(letters.len(), 2, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter["reason"], "oversized");
    assert_eq!(letter["size"].as_u64(), Some((17 << 20) + 9), "{letter}");
    assert_eq!(letter["payload_base64"], "", "the bytes of an oversized message are not sent back");
    let metrics = String::from_utf8(get_bytes(&base, "/metrics").1).unwrap();
    assert_eq!(metric(&metrics, "sharpeyes_sensor_rejected_total{reason=\"oversized\"}"), 1.0);
    assert_eq!(letters[1]["reason"], "bad_topic");
    assert_eq!(letters[1]["topic"], format!("{topic}/extra"));
    assert_eq!(metric(&metrics, "sharpeyes_sensor_rejected_total{reason=\"bad_topic\"}"), 1.0);
    assert_eq!(service.log().matches("MQTT connected").count(), 1, "never disconnected:\n{}", service.log());
}
