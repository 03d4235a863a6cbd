//! Delivery without loss: sharpeyes sends every new case to a webhook receiver (signed, with a
//! delivery id), is killed with SIGKILL in the middle of the deliveries and restarted; every case
//! reaches the receiver at least once, copies of one delivery carry the same delivery id, every
//! signature verifies, refused attempts are retried. The event stream then replays the same timeline
//! from `Last-Event-ID`.

mod common;

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

use common::*;
use sha2::{Digest, Sha256};

const SECRET: &str = "city-ops-hook-key";
const SENSORS: usize = 12;

/// One request the receiver took.
#[derive(Clone, Debug)]
struct Received {
    delivery: String,
    signature: String,
    body: String,
}

/// HMAC-SHA256 (RFC 2104), written out here so that the test checks sharpeyes' signatures independently.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    format!("sha256={}", hex::encode(Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize()))
}

/// Holds the receiver's answers after the first few until opened.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

/// Requests answered before the gate holds the rest.
const ANSWERED_BEFORE_GATE: usize = 4;

/// A webhook receiver refusing the first attempt of every third delivery id with a 503 and recording
/// every other request; after [`ANSWERED_BEFORE_GATE`] it holds its answers until the gate opens.
fn start_receiver(gate: Arc<Gate>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let log = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (log, seen, gate) = (log.clone(), seen.clone(), gate.clone());
            std::thread::spawn(move || serve(stream, &log, &seen, &gate));
        }
    });
    (url, received)
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Received>>, seen: &Mutex<HashSet<String>>, gate: &Gate) {
    let (headers, body) = read_request(&stream);
    let delivery = headers.get("x-sharpeyes-delivery").cloned().unwrap_or_default();
    let first_time = seen.lock().unwrap().insert(delivery.clone());
    let refuse = first_time && delivery.parse::<u64>().unwrap_or(0) % 3 == 0;
    if !refuse {
        let taken = {
            let mut log = log.lock().unwrap();
            log.push(Received {
                delivery,
                signature: headers.get("x-sharpeyes-signature").cloned().unwrap_or_default(),
                body: String::from_utf8(body).unwrap(),
            });
            log.len()
        };
        if taken > ANSWERED_BEFORE_GATE {
            let open = gate.open.lock().unwrap();
            drop(gate.opened.wait_while(open, |open| !*open).unwrap());
        }
    }
    let status = if refuse { "503 Service Unavailable" } else { "200 OK" };
    let mut stream = stream;
    let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

/// The first `count` events of `GET /api/v1/stream` sent with `Last-Event-ID: last`, as (id, data).
fn stream_events(base: &str, last: i64, count: usize) -> Vec<(i64, serde_json::Value)> {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let response = client
        .get(format!("{base}/api/v1/stream"))
        .bearer_auth(TOKEN)
        .header("Last-Event-ID", last.to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = Vec::new();
    let mut id = None;
    for line in BufReader::new(response).lines() {
        let line = line.unwrap();
        if let Some(value) = line.strip_prefix("id: ") {
            id = Some(value.parse().unwrap());
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((id.take().unwrap(), serde_json::from_str(data).unwrap()));
            if events.len() == count {
                break;
            }
        }
    }
    events
}

#[test]
fn every_case_reaches_the_webhook_across_a_sigkill() {
    let gate = Arc::new(Gate::default());
    let (url, received) = start_receiver(gate.clone());
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("se-webhook-{}", nanos_since_epoch());
    let refused = format!("rtsp://127.0.0.1:{}/nothing", free_port());
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "dead", url: &refused, decode: "keyframes" }], 300.0);
    let mut more = manhole_sensor("mh-0", None);
    for n in 1..SENSORS {
        more.push_str(&format!(
            "\n[[sensors]]\nid = \"mh-{n}\"\nkind = \"manhole_cover\"\ngrid = \"110105001001001\"\n"
        ));
    }
    more.push_str(&format!(
        r#"
[notify]
retry_min_s = 0.2
retry_max_s = 1.0
[[notify.receivers]]
id = "city-ops"
url = "{url}"
secret = "{SECRET}"
[notify.route]
receivers = ["city-ops"]
"#
    ));
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &more);
    let mut service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));

    let open = r#"{"open": true, "tilt_deg": 80.0, "ts": "2026-11-24T09:00:00Z"}"#.to_owned();
    for n in 0..SENSORS {
        publish_lines(1883, &format!("{prefix}/sensors/mh-{n}/manhole_cover"), std::slice::from_ref(&open), None);
    }
    // Killed while the receiver holds some deliveries it has taken but not answered yet.
    wait_for(Duration::from_secs(30), || service.log(), || received.lock().unwrap().len() >= ANSWERED_BEFORE_GATE + 2);
    service.child.kill().unwrap();
    service.child.wait().unwrap();
    let before_kill = received.lock().unwrap().len();
    *gate.open.lock().unwrap() = true;
    gate.opened.notify_all();

    let service = start_service(&config, &base);
    let cases = || {
        let (_, cases) = get_json(&base, "/api/v1/cases?category=manhole_cover");
        cases.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect::<HashSet<i64>>()
    };
    let delivered_cases = || {
        let received = received.lock().unwrap();
        received
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["entry"]["case_id"].as_i64().unwrap())
            .collect::<HashSet<i64>>()
    };
    wait_for(
        Duration::from_secs(60),
        || format!("{}\ncases {:?}, delivered {:?}", service.log(), cases(), delivered_cases()),
        || {
            let cases = cases();
            cases.len() == SENSORS && delivered_cases() == cases
        },
    );

    // Signatures verify; copies of one timeline entry carry one delivery id.
    let received = received.lock().unwrap().clone();
    let mut delivery_of_entry: HashMap<i64, String> = HashMap::new();
    for request in &received {
        assert_eq!(request.signature, hmac_sha256(SECRET.as_bytes(), request.body.as_bytes()), "{request:?}");
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!((body["receiver"].as_str(), body["entry"]["action"].as_str()), (Some("city-ops"), Some("report")));
        let entry = body["entry"]["id"].as_i64().unwrap();
        let first = delivery_of_entry.entry(entry).or_insert_with(|| request.delivery.clone());
        assert_eq!(*first, request.delivery, "copies of entry {entry} carry one delivery id");
    }
    assert_eq!(delivery_of_entry.len(), SENSORS, "one delivery per case");
    assert!(received.len() >= SENSORS + 2, "the held deliveries came again after the restart");
    eprintln!(
        "{} requests taken for {SENSORS} cases ({before_kill} before the SIGKILL, {} delivered again after it)",
        received.len(),
        received.len() - SENSORS
    );
    // The receiver has taken the last one; sharpeyes records it once the answer is in.
    let delivered = || get_json(&base, "/api/v1/deliveries?state=delivered").1.as_array().unwrap().clone();
    wait_for(Duration::from_secs(10), || service.log(), || delivered().len() == SENSORS);
    let delivered = delivered();
    assert!(
        delivered.iter().any(|d| d["attempts"].as_i64() >= Some(2)),
        "refused attempts were retried: {delivered:?}"
    );
    let (status, dead) = get_json(&base, "/api/v1/deliveries?state=dead");
    assert_eq!((status, dead.as_array().map(Vec::len)), (200, Some(0)));
    let (status, problem) = get_json(&base, "/api/v1/deliveries?state=lost");
    assert_eq!(status, 400, "{problem}");

    // The stream replays the timeline after Last-Event-ID, in order.
    let all = stream_events(&base, 0, SENSORS);
    let ids: Vec<i64> = all.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(all.iter().all(|(id, data)| data["id"] == *id && data["action"] == "report"));
    let resumed = stream_events(&base, ids[5], 3);
    assert_eq!(resumed.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids[6..9]);
}

#[test]
fn every_case_is_published_over_mqtt_with_qos_1() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("se-notify-{}", nanos_since_epoch());
    let refused = format!("rtsp://127.0.0.1:{}/nothing", free_port());
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "dead", url: &refused, decode: "keyframes" }], 300.0);
    let more = manhole_sensor("mh-1", None)
        + r#"
[[notify.receivers]]
id = "bus"
kind = "mqtt"
[notify.route]
receivers = ["bus"]
"#;
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &more);
    // A QoS 1 subscriber taking the first two messages under the cases topic.
    let subscriber = std::process::Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", "1883", "-q", "1", "-C", "2", "-W", "60", "-v", "-t"])
        .arg(format!("{prefix}/cases/#"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));
    let open = r#"{"open": true, "tilt_deg": 80.0, "ts": "2026-11-24T09:00:00Z"}"#.to_owned();
    publish_lines(1883, &format!("{prefix}/sensors/mh-1/manhole_cover"), &[open], None);
    wait_for(Duration::from_secs(20), || service.log(), || get_json(&base, "/api/v1/cases").1[0]["id"].is_i64());
    let (status, _) = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/cases/1/actions"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "action": "verify" }))
        .send()
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);

    let output = subscriber.wait_with_output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let messages: Vec<(&str, serde_json::Value)> = text
        .lines()
        .map(|line| {
            let (topic, payload) = line.split_once(' ').unwrap();
            (topic, serde_json::from_str(payload).unwrap())
        })
        .collect();
    assert_eq!(messages.len(), 2, "{text}\n{}", service.log());
    let topic = format!("{prefix}/cases/110105001001001/manhole_cover");
    assert!(messages.iter().all(|(t, _)| *t == topic), "{text}");
    let actions: Vec<&str> = messages.iter().map(|(_, m)| m["entry"]["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["report", "verify"]);
    assert!(messages.iter().all(|(_, m)| m["delivery"].is_i64() && m["entry"]["case_id"] == 1));
    let delivered = || get_json(&base, "/api/v1/deliveries?state=delivered").1.as_array().map(Vec::len);
    wait_for(Duration::from_secs(10), || service.log(), || delivered() == Some(2));
}
