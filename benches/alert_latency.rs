//! From a violation to the webhook: a manhole cover reported open over MQTT (a rule that holds at
//! once, so the violation is confirmed as the reading is evaluated) until the case's signed webhook
//! POST arrives at a receiver on loopback — MQTT hop, rule, case filed in the store, routed into the
//! outbox, sent. p50 and p99 against the 250 ms p99 target, on SQLite and on PostgreSQL.
//!
//! `cargo bench --bench alert_latency [-- COUNT]` (default 300 violations, 20 per second); needs the
//! local Mosquitto and PostgreSQL; prints figures, asserts nothing about speed.

mod support;

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rumqttc::{AsyncClient, MqttOptions, QoS};
use sqlx::{Connection, Executor};
use support::{percentile, start_service};

const TARGET_P99_MS: f64 = 250.0;
const RATE_PER_S: u64 = 20;
const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A receiver recording when each device's case arrived.
fn start_receiver() -> (String, Arc<Mutex<HashMap<String, Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let arrivals = Arc::new(Mutex::new(HashMap::new()));
    let log = arrivals.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let arrived = Instant::now();
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
                if let Some(device) = body["entry"]["device"].as_str() {
                    log.lock().unwrap().entry(device.to_owned()).or_insert(arrived);
                }
                let mut stream = stream;
                let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            });
        }
    });
    (url, arrivals)
}

async fn run(count: usize, database: Option<&str>) -> Vec<f64> {
    let (url, arrivals) = start_receiver();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("bench-latency-{}", std::process::id());
    let mut more = format!(
        "\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nclient_id = \"{prefix}\"\nprefix = \"{prefix}\"\n\
         [[rules.sensor]]\nid = \"open\"\nkind = \"manhole_cover\"\nfield = \"open\"\nequals = true\ncategory = \"manhole_cover\"\n\
         [[grids]]\ncode = \"110105001001001\"\n\
         [[notify.receivers]]\nid = \"ops\"\nurl = \"{url}\"\nsecret = \"k\"\n[notify.route]\nreceivers = [\"ops\"]\n"
    );
    for n in 0..count {
        more.push_str(&format!("[[sensors]]\nid = \"mh-{n}\"\nkind = \"manhole_cover\"\ngrid = \"110105001001001\"\n"));
    }
    let (mut service, _) = tokio::task::block_in_place(|| start_service(dir.path(), database, &more));
    // Let the service's MQTT session subscribe.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(format!("{prefix}-pub"), "127.0.0.1", 1883), 1024);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let mut published = HashMap::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(1000 / RATE_PER_S));
    for n in 0..count {
        ticks.tick().await;
        let device = format!("mh-{n}");
        published.insert(device.clone(), Instant::now());
        let topic = format!("{prefix}/sensors/{device}/manhole_cover");
        client.publish(topic, QoS::AtLeastOnce, false, r#"{"open": true, "tilt_deg": 80.0}"#).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().unwrap().len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = service.kill();
    let _ = service.wait();
    let arrivals = arrivals.lock().unwrap();
    let mut latencies: Vec<f64> = published
        .iter()
        .filter_map(|(device, sent)| Some((*arrivals.get(device)? - *sent).as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(300);
    println!(
        "violation (MQTT reading, rule holding at once) -> case filed -> routed -> webhook received, {count} at {RATE_PER_S}/s"
    );
    let name = format!("sharpeyes_alert_latency_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(ADMIN_URL).await.expect("PostgreSQL at 127.0.0.1:5432");
    admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.unwrap();
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let postgres = format!("postgres://postgres@127.0.0.1:5432/{name}");
    for (label, database) in [("SQLite", None), ("PostgreSQL", Some(postgres.as_str()))] {
        let latencies = run(count, database).await;
        if latencies.is_empty() {
            println!("{label}: sent {count}, arrived 0, missing after 30 s {count}");
            continue;
        }
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        println!(
            "{label:<11} sent {count}  arrived {:>4}  missing after 30 s {:>4}  p50 {p50:>6.1} ms  p99 {p99:>6.1} ms  max {:>6.1} ms  (of those arrived)  p99 = {:.2} x the {TARGET_P99_MS} ms target",
            latencies.len(),
            count - latencies.len(),
            latencies[latencies.len() - 1],
            p99 / TARGET_P99_MS
        );
    }
    admin.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
}
