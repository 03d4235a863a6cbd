//! Sensor throughput through a real Mosquitto: messages per second validated by the sharpeyes sensor
//! source and evaluated by the sensor rules, beside the rate a plain subscriber reaches for the same
//! messages in the same harness (the baseline). Target: ≥ 50,000 msgs/s.
//!
//! The harness starts its own Mosquitto on a free port with queues deep enough that the broker never
//! drops a QoS 1 message for a subscriber that is behind (the default, 1,000 queued per client, would
//! turn a throughput run into a loss measurement).
//!
//! `cargo bench --bench sensor_throughput [-- MESSAGES]` (default 200,000 per run).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use sharpeyes_alerting::rules::{Category, Condition, SensorRule, SensorRules};
use sharpeyes_ingest::mqtt::{Device, DeviceRegistry, MqttSettings, SensorKind, SensorMetrics, SensorSource};
use tokio::sync::mpsc;

const DEVICES: usize = 1_000;
/// A run ends early when nothing arrives for this long.
const IDLE: Duration = Duration::from_secs(5);
/// Most events taken from the source per wake-up.
const EVENT_BATCH: usize = 256;
const GRID: &str = "110105001001001";

fn payload(i: usize) -> String {
    let open = i.is_multiple_of(997);
    format!(r#"{{"tilt_deg": {}.5, "open": {open}, "ts": "2026-11-23T10:00:00.{:06}Z"}}"#, i % 90, i % 1_000_000)
}

/// Publishes `count` manhole readings spread over `DEVICES` devices, QoS 1, as fast as the broker takes them.
async fn publish(port: u16, prefix: &str, count: usize) {
    let mut options = MqttOptions::new(format!("{prefix}-publisher"), "127.0.0.1", port);
    options.set_inflight(1000).set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    let prefix = prefix.to_owned();
    let sender = tokio::spawn(async move {
        for i in 0..count {
            let topic = format!("{prefix}/sensors/mh-{}/manhole_cover", i % DEVICES);
            client.publish(topic, QoS::AtLeastOnce, false, payload(i)).await.expect("publish");
        }
        client
    });
    // Every message acknowledged by the broker before the publisher goes.
    let mut acknowledged = 0;
    while acknowledged < count {
        if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await.expect("publisher connection") {
            acknowledged += 1;
        }
    }
    let client = sender.await.expect("publisher");
    client.disconnect().await.expect("disconnect");
    while let Ok(event) = eventloop.poll().await {
        if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
            break;
        }
    }
}

/// A plain rumqttc subscriber counting messages: the rate the broker and client alone reach.
async fn plain_subscriber(port: u16, prefix: &str, count: usize) -> (f64, usize) {
    let mut options = MqttOptions::new(format!("{prefix}-plain"), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    client.subscribe(format!("{prefix}/sensors/+/+"), QoS::AtLeastOnce).await.expect("subscribe");
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await.expect("connect") {
            break;
        }
    }
    let publisher = tokio::spawn(publish_owned(port, prefix.to_owned(), count));
    let started = Instant::now();
    let (mut received, mut last) = (0, started);
    while received < count {
        match tokio::time::timeout(IDLE, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(_)))) => {
                received += 1;
                last = Instant::now();
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => panic!("plain subscriber: {err}"),
            Err(_) => {
                eprintln!("plain subscriber: {received} of {count} received, then nothing for {IDLE:?}");
                break;
            }
        }
    }
    let rate = received as f64 / (last - started).as_secs_f64();
    publisher.await.expect("publisher");
    (rate, received)
}

async fn publish_owned(port: u16, prefix: String, count: usize) {
    publish(port, &prefix, count).await;
}

/// The sharpeyes path: SensorSource (validation, registry, dedup, acks after hand-off) → SensorRules.
async fn sharpeyes_path(port: u16, prefix: &str, count: usize) -> (f64, usize, usize) {
    let url = format!("mqtt://127.0.0.1:{port}");
    let mut settings = MqttSettings::from_url(&url, &format!("{prefix}-sharpeyes"), prefix).expect("broker URL");
    settings.max_payload = 64 * 1024;
    let devices = DeviceRegistry::new((0..DEVICES).map(|i| Device {
        id: Arc::from(format!("mh-{i}")),
        kind: SensorKind::ManholeCover,
        grid: GRID.into(),
        location: None,
    }));
    let metrics = SensorMetrics::register(&prometheus::Registry::new()).expect("metrics");
    let (events_tx, mut events_rx) = mpsc::channel(1024);
    let source = SensorSource::new(settings, devices, events_tx, metrics).expect("source");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let source = tokio::spawn(source.run(async move {
        let _ = stop_rx.await;
    }));
    let mut rules = SensorRules::new(vec![
        SensorRule {
            id: "open".into(),
            kind: SensorKind::ManholeCover,
            devices: None,
            condition: Condition::State { field: "open".into(), value: true },
            hold: TimeDelta::zero(),
            repeat: TimeDelta::seconds(60),
            category: Category::ManholeCover,
        },
        SensorRule {
            id: "tilt".into(),
            kind: SensorKind::ManholeCover,
            devices: None,
            condition: Condition::Threshold { field: "tilt_deg".into(), above: 60.0, clear_below: 45.0 },
            hold: TimeDelta::seconds(30),
            repeat: TimeDelta::seconds(60),
            category: Category::ManholeCover,
        },
    ]);
    // Let the source connect and subscribe before publishing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let publisher = tokio::spawn(publish_owned(port, prefix.to_owned(), count));
    let started = Instant::now();
    let (mut received, mut violations, mut last) = (0, 0, started);
    // Events are taken as they have arrived, many per wake-up, as the service's consumer does.
    let mut batch = Vec::with_capacity(EVENT_BATCH);
    while received < count {
        let Ok(taken) = tokio::time::timeout(IDLE, events_rx.recv_many(&mut batch, EVENT_BATCH)).await else {
            eprintln!("sharpeyes: {received} of {count} events, then nothing for {IDLE:?}");
            break;
        };
        if taken == 0 {
            break;
        }
        received += taken;
        last = Instant::now();
        violations += batch.drain(..).map(|message| rules.observe(&message.event).len()).sum::<usize>();
    }
    let rate = received as f64 / (last - started).as_secs_f64();
    publisher.await.expect("publisher");
    let _ = stop_tx.send(());
    source.await.expect("source");
    (rate, received, violations)
}

/// A private Mosquitto on a free port, stopped when dropped.
struct Broker {
    port: u16,
    process: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(&config, format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"))
            .unwrap();
        let process = std::process::Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto");
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { port, process, _dir: dir }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn main() {
    let count: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let prefix = format!("bench-{}", std::process::id());
    let broker = Broker::start();
    runtime.block_on(async {
        let (baseline, baseline_received) = plain_subscriber(broker.port, &format!("{prefix}-a"), count).await;
        let (rate, received, violations) = sharpeyes_path(broker.port, &format!("{prefix}-b"), count).await;
        println!("sensor throughput through Mosquitto, {count} QoS 1 messages over {DEVICES} devices (2 cores)");
        println!(
            "  plain subscriber (baseline)            {baseline:>10.0} msgs/s  received {baseline_received}, lost {}",
            count - baseline_received
        );
        println!(
            "  sharpeyes validate + dedup + rules     {rate:>10.0} msgs/s  received {received}, lost {}  ({violations} violations)",
            count - received
        );
        println!("  ratio sharpeyes / baseline             {:>10.2}", rate / baseline);
        println!("  target                                 {:>10} msgs/s", 50_000);
    });
}
