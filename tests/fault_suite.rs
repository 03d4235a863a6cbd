//! The fault suite: on loopback, 2 edge nodes and 2 centers (`run --role edge|center`) with simcam
//! cameras, a private Mosquitto broker and a private PostgreSQL. While violations flow, the broker is
//! stopped and an edge holding violations in its spool is killed with SIGKILL (and started again, as
//! systemd or Kubernetes would: its spool on disk must carry them), the broker comes back, one center is
//! killed with SIGKILL and started again, the RTSP server is restarted and PostgreSQL is restarted.
//!
//! What is counted is the test's own ledger, not the nodes' logs: every camera it serves a parked truck
//! to and every sensor message it publishes must end as exactly one case. Besides six manhole-cover
//! sensors reporting before and after the broker restart, one more cover is opened in the middle of
//! each fault; the report prints, per fault, what was lost, duplicated and how long its case took from
//! the message, and the time each fault took to heal. Every camera streams again and every case's
//! alert reached the webhook.
//!
//! `cargo test --release --test fault_suite` runs the faster part (4 cameras, short pauses);
//! `SHARPEYES_FAULT_SUITE=full` runs 12 cameras with longer outages (the README's command).

mod common;

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::*;

/// Sizes of one run.
struct Plan {
    cameras: usize,
    outage: Duration,
    settle: Duration,
}

fn plan() -> Plan {
    match std::env::var("SHARPEYES_FAULT_SUITE").as_deref() {
        Ok("full") => Plan { cameras: 12, outage: Duration::from_secs(10), settle: Duration::from_secs(20) },
        _ => Plan { cameras: 4, outage: Duration::from_secs(3), settle: Duration::from_secs(6) },
    }
}

/// One `SELECT` on the private PostgreSQL, its rows as lines.
fn sql(postgres: &PrivatePostgres, query: &str) -> Vec<String> {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &postgres.port.to_string(), "-U", "postgres", "-d", "postgres", "-tAc", query])
        .output()
        .expect("psql");
    if !output.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
}

fn count(postgres: &PrivatePostgres, query: &str) -> i64 {
    sql(postgres, query).first().and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// A sensor violation as an edge node would send it, and its signature under `key`: the message's
/// id is computed as `Violation::stable_id` does.
fn signed_sensor_violation(key: &[u8], device: &str) -> (String, String) {
    use hmac::Mac;
    use sha2::Digest;
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T09:30:00Z").unwrap().timestamp_micros();
    let key_text = format!("sensor\n{device}\ncover-open\nmanhole_cover\n{at}\n{at}");
    let id = hex::encode(&sha2::Sha256::digest(key_text.as_bytes())[..16]);
    let payload = format!(
        r#"{{"id": "{id}", "node": "edge-0", "source": "sensor", "device": "{device}", "rule": "cover-open", "category": "manhole_cover", "grid": "110105001001001", "location": null, "reading": {{"kind": "manhole_cover", "tilt_deg": 90.0, "open": true}}, "since": "2026-11-24T09:30:00Z", "confirmed_at": "2026-11-24T09:30:00Z"}}"#
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(payload.as_bytes());
    (payload, hex::encode(mac.finalize().into_bytes()))
}

struct Node {
    name: String,
    config: PathBuf,
    base: String,
    role: &'static str,
    process: Option<Running>,
    /// Violations its relay says it spooled in the runs that ended with SIGINT (for the report only:
    /// a killed run says nothing, which is why the test keeps its own ledger).
    spooled: i64,
}

impl Node {
    fn start(&mut self) {
        self.process = Some(start_service_with(&self.config, &self.base, &["--role", self.role, "--node", &self.name]));
    }

    fn log(&self) -> String {
        self.process.as_ref().map(Running::log).unwrap_or_default()
    }

    /// Stops an edge with SIGINT; returns how many violations stayed in its spool (its relay's last
    /// line says, with how many it spooled in this run).
    fn stop_edge(&mut self) -> i64 {
        let mut process = self.process.take().unwrap();
        let (status, _) = process.interrupt();
        let log = process.log();
        assert!(status.success(), "{} exited with {status:?}:\n{log}", self.name);
        let line = log.lines().rev().find(|l| l.contains("violation relay stopped")).expect("the relay's last line");
        let field = |name: &str| -> i64 {
            line.split(&format!("{name}=")).nth(1).and_then(|v| v.split_whitespace().next()).unwrap().parse().unwrap()
        };
        self.spooled += field("spooled");
        field("waiting")
    }
}

#[test]
fn faults_lose_no_violation_and_file_none_twice() {
    let plan = plan();
    let dir = tempfile::tempdir().unwrap();
    let postgres = PrivatePostgres::start();
    let broker_dir = dir.path().join("broker");
    let mut broker = Broker::start(&broker_dir, "");
    let broker_port = broker.port;
    let (hook, taken) = start_webhook_receiver();
    let truck = media("images/000000009769.jpg");
    let names: Vec<String> = (0..plan.cameras).map(|i| format!("cam-{i:02}")).collect();
    let streams: Vec<(&str, &Path)> = names.iter().map(|n| (n.as_str(), truck.as_path())).collect();
    let rtsp = format!("127.0.0.1:{}", free_port());
    let (simcam, urls) = start_simcam_on(&rtsp, &streams, &["--gop", "25"]);
    let mut simcam = Some(simcam);

    let prefix = format!("se-fault-{}", nanos_since_epoch());
    // SAFETY: set before any other thread of this test binary (its only test) reads the environment;
    // the nodes inherit it.
    unsafe { std::env::set_var("SHARPEYES_RELAY_SECRET", "fault-suite-relay-key") };
    let mut shared = cluster_config(&postgres.url(), broker.port, &prefix);
    shared.push_str(&format!(
        r#"
[rules]
repeat_s = 4.0

[cases]
cooldown_s = 0.0

[notify]
retry_min_s = 0.2
retry_max_s = 2.0
[[notify.receivers]]
id = "city-ops"
url = "{hook}"
secret = "fault-suite-secret"
[notify.route]
receivers = ["city-ops"]
"#
    ));
    const SENSORS: usize = 6;
    // One more cover per fault, opened while the fault lasts.
    const FAULTS: [&str; 4] = ["broker away, edge SIGKILL", "center SIGKILL", "RTSP restart", "PostgreSQL restart"];
    let fault_devices: Vec<String> = (1..=FAULTS.len()).map(|n| format!("mh-f{n}")).collect();
    for device in (0..SENSORS).map(|n| format!("mh-{n}")).chain(fault_devices.iter().cloned()) {
        shared.push_str(&format!(
            "\n[[sensors]]\nid = \"{device}\"\nkind = \"manhole_cover\"\ngrid = \"110105001001001\"\n"
        ));
    }
    shared.push_str(
        "\n[[rules.sensor]]\nid = \"cover-open\"\nkind = \"manhole_cover\"\nfield = \"open\"\nequals = true\ncategory = \"manhole_cover\"\n",
    );
    // The ledger: each device the test opened a cover of, with when (seconds since the epoch).
    let ledger = std::cell::RefCell::new(Vec::<(String, f64)>::new());
    let open_cover = |device: &str| {
        let reading = r#"{"open": true, "tilt_deg": 40.0}"#.to_owned();
        ledger.borrow_mut().push((device.to_owned(), nanos_since_epoch() as f64 / 1e9));
        publish_lines(broker_port, &format!("{prefix}/sensors/{device}/manhole_cover"), &[reading], None);
    };
    let open_covers = |devices: std::ops::Range<usize>| {
        for n in devices {
            open_cover(&format!("mh-{n}"));
        }
    };
    for (name, url) in names.iter().zip(&urls) {
        shared.push_str(&format!(
            "\n[[cameras]]\nid = \"{name}\"\nurl = \"{url}\"\ngrid = \"110105001001001\"\ndecode = \"keyframes\"\nstall_timeout_s = 3.0\n  [[cameras.zones]]\n  id = \"all\"\n  kind = \"no_parking\"\n  polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\n"
        ));
    }
    // Each node's file starts with its own [server] lines; the shared text continues that section.
    let mut nodes: Vec<Node> = [("center-a", "center"), ("center-b", "center"), ("edge-0", "edge"), ("edge-1", "edge")]
        .into_iter()
        .map(|(name, role)| {
            let (config, base) = node_config(dir.path(), &shared, name);
            Node { name: name.into(), config, base, role, process: None, spooled: 0 }
        })
        .collect();
    for node in &mut nodes {
        node.start();
    }
    let all_logs = |nodes: &[Node]| nodes.iter().map(|n| format!("== {}\n{}", n.name, n.log())).collect::<String>();
    let filed = |postgres: &PrivatePostgres| count(postgres, "SELECT COUNT(*) FROM filed_violations");
    let edges = |nodes: &[Node]| nodes[2..].iter().map(|n| n.base.clone()).collect::<Vec<_>>();

    // Every camera is analysed by exactly one edge.
    let wanted: HashSet<String> = names.iter().cloned().collect();
    wait_for(
        Duration::from_secs(90),
        || all_logs(&nodes),
        || {
            let seen: Vec<HashSet<String>> = edges(&nodes).iter().map(|b| streaming(b)).collect();
            seen.iter().flatten().cloned().collect::<HashSet<_>>() == wanted && seen[0].is_disjoint(&seen[1])
        },
    );
    let per_edge: Vec<usize> = edges(&nodes).iter().map(|b| streaming(b).len()).collect();
    open_covers(0..SENSORS / 2);
    wait_for(Duration::from_secs(90), || all_logs(&nodes), || filed(&postgres) >= plan.cameras as i64);

    let mut heal: Vec<(&str, Duration)> = Vec::new();
    let grows = |postgres: &PrivatePostgres, nodes: &[Node], from: i64, limit: Duration| {
        wait_for(limit, || all_logs(nodes), || filed(postgres) > from);
    };

    // 1. The broker goes away: the edges spool; the busier edge is killed (SIGKILL) with violations in
    //    its spool and started again, and what its spool holds on disk is sent once the broker is back.
    let before = filed(&postgres);
    broker.stop();
    let busier = 2 + usize::from(per_edge[1] > per_edge[0]);
    wait_for(
        Duration::from_secs(60),
        || all_logs(&nodes),
        || metric(&metrics_of(&nodes[busier].base), "sharpeyes_edge_spool_violations") >= 1.0,
    );
    let kept = metric(&metrics_of(&nodes[busier].base), "sharpeyes_edge_spool_violations") as i64;
    let mut killed = nodes[busier].process.take().unwrap();
    Command::new("kill").args(["-KILL", &killed.child.id().to_string()]).status().unwrap();
    let _ = killed.child.wait();
    nodes[busier].start();
    std::thread::sleep(plan.outage);
    let started = Instant::now();
    broker.restart();
    wait_for(
        Duration::from_secs(60),
        || all_logs(&nodes),
        || edges(&nodes).iter().all(|b| metric(&metrics_of(b), "sharpeyes_edge_broker_connected") == 1.0),
    );
    open_cover(&fault_devices[0]);
    grows(&postgres, &nodes, before, Duration::from_secs(60));
    heal.push(("broker restart (one edge killed with a full spool)", started.elapsed()));
    open_covers(SENSORS / 2..SENSORS);
    std::thread::sleep(plan.settle);

    // 2. A center dies without warning and comes back under the same name.
    let before = filed(&postgres);
    let center = nodes[0].process.as_mut().unwrap();
    Command::new("kill").args(["-KILL", &center.child.id().to_string()]).status().unwrap();
    let _ = center.child.wait();
    open_cover(&fault_devices[1]);
    std::thread::sleep(plan.outage);
    let started = Instant::now();
    nodes[0].start();
    grows(&postgres, &nodes, before, Duration::from_secs(60));
    // Healed when the restarted center takes violations again (its session and share are back).
    wait_for(
        Duration::from_secs(60),
        || all_logs(&nodes),
        || {
            metrics_of(&nodes[0].base)
                .lines()
                .any(|l| l.starts_with("sharpeyes_center_violations_received_total") && !l.ends_with(" 0"))
        },
    );
    heal.push(("center SIGKILL", started.elapsed()));
    std::thread::sleep(plan.settle);

    // 3. The RTSP server restarts on the same port: every camera reconnects.
    let running = simcam.take().unwrap();
    drop(running);
    open_cover(&fault_devices[2]);
    std::thread::sleep(plan.outage);
    let started = Instant::now();
    let (restarted, _) = start_simcam_on(&rtsp, &streams, &["--gop", "25"]);
    simcam = Some(restarted);
    wait_for(
        Duration::from_secs(90),
        || all_logs(&nodes),
        || edges(&nodes).iter().flat_map(|b| streaming(b)).collect::<HashSet<_>>() == wanted,
    );
    heal.push(("RTSP server restart", started.elapsed()));
    std::thread::sleep(plan.settle);

    // 4. PostgreSQL restarts: the centers hold their violations (unacknowledged) and retry.
    let before = filed(&postgres);
    postgres.stop_server();
    open_cover(&fault_devices[3]);
    std::thread::sleep(plan.outage);
    let started = Instant::now();
    postgres.start_server();
    wait_for(
        Duration::from_secs(90),
        || all_logs(&nodes),
        || nodes[..2].iter().all(|n| get_json(&n.base, "/readyz").0 == 200),
    );
    grows(&postgres, &nodes, before, Duration::from_secs(90));
    heal.push(("PostgreSQL restart", started.elapsed()));
    std::thread::sleep(plan.settle);

    // A client without the relay key publishes a made-up violation: no center files it.
    let forged = r#"{"id": "0", "node": "intruder", "source": "sensor", "device": "mh-0", "rule": "cover-open", "category": "manhole_cover", "grid": "110105001001001", "location": null, "reading": {"kind": "manhole_cover", "tilt_deg": 90.0, "open": true}, "since": "2026-11-24T09:00:00Z", "confirmed_at": "2026-11-24T09:00:00Z"}"#;
    publish_lines(broker_port, &format!("{prefix}/violations/intruder"), &[forged.to_owned()], None);
    wait_for(
        Duration::from_secs(30),
        || all_logs(&nodes),
        || {
            nodes[..2].iter().any(|n| {
                metrics_of(&n.base).contains("sharpeyes_center_violations_rejected_total{reason=\"signature\"} 1")
            })
        },
    );

    // The same signed violation delivered twice (as after a lost acknowledgement): filed once.
    let (payload, signature) = signed_sensor_violation(b"fault-suite-relay-key", "mh-manual");
    let sent = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker_port.to_string(), "-V", "5", "-q", "1", "--repeat", "2"])
        .args(["-D", "publish", "user-property", "signature", &signature])
        .args(["-t", &format!("{prefix}/violations/edge-0"), "-m", &payload])
        .status()
        .unwrap();
    assert!(sent.success(), "mosquitto_pub");
    let refiled_total = |nodes: &[Node]| -> i64 {
        nodes[..2]
            .iter()
            .map(|n| {
                metrics_of(&n.base)
                    .lines()
                    .filter(|l| l.starts_with("sharpeyes_violations_refiled_total"))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .map(|v| v as i64)
                    .sum::<i64>()
            })
            .sum()
    };
    wait_for(Duration::from_secs(30), || all_logs(&nodes), || refiled_total(&nodes) >= 1);

    // The edges stop first (their spools drain), then the centers file what is in flight.
    for node in &mut nodes[2..] {
        assert_eq!(node.stop_edge(), 0, "{} left violations in its spool", node.name);
    }
    let reported: i64 = nodes[2..].iter().map(|n| n.spooled).sum();
    drop(simcam);
    // The ledger: one case per camera (its parked truck), per cover opened, and the hand-sent one.
    let mut expected: Vec<String> = names.iter().map(|n| format!("camera:{n}")).collect();
    expected.extend(ledger.borrow().iter().map(|(device, _)| format!("sensor:{device}")));
    expected.push("sensor:mh-manual".to_owned());
    let cases_by_place = |postgres: &PrivatePostgres| -> HashMap<String, (i64, f64)> {
        sql(
            postgres,
            "SELECT source || ':' || CASE WHEN source = 'camera' THEN camera ELSE device END, COUNT(*), \
             EXTRACT(EPOCH FROM MIN(opened_at)) FROM cases GROUP BY 1",
        )
        .iter()
        .filter_map(|row| {
            let mut fields = row.split('|');
            Some((fields.next()?.to_owned(), (fields.next()?.parse().ok()?, fields.next()?.parse().ok()?)))
        })
        .collect()
    };
    wait_for(
        Duration::from_secs(60),
        || all_logs(&nodes),
        || {
            let found = cases_by_place(&postgres);
            expected.iter().all(|place| found.contains_key(place))
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let found = cases_by_place(&postgres);

    let filed_now = filed(&postgres);
    let cases = count(&postgres, "SELECT COUNT(*) FROM cases");
    let places = count(&postgres, "SELECT COUNT(DISTINCT (source, camera, device, zone, category)) FROM cases");
    let sensor_cases = count(&postgres, "SELECT COUNT(*) FROM cases WHERE source = 'sensor'");
    let refiled = refiled_total(&nodes);
    let case_ids: HashSet<i64> =
        sql(&postgres, "SELECT id FROM cases").iter().filter_map(|id| id.parse().ok()).collect();
    wait_for(
        Duration::from_secs(60),
        || all_logs(&nodes),
        || {
            let alerted: HashSet<i64> =
                taken.lock().unwrap().iter().filter_map(|body| body["entry"]["case_id"].as_i64()).collect();
            case_ids.is_subset(&alerted)
        },
    );
    let alerts = taken.lock().unwrap().len();

    let duplicates = cases - places;
    let lost: Vec<&String> = expected.iter().filter(|place| !found.contains_key(*place)).collect();
    let twice: Vec<&String> = expected.iter().filter(|place| found.get(*place).is_some_and(|(n, _)| *n > 1)).collect();
    let unexpected: Vec<&String> = found.keys().filter(|place| !expected.contains(place)).collect();
    println!("fault suite report ({} cameras, {per_edge:?} per edge, outages {:?})", plan.cameras, plan.outage);
    println!(
        "  the test's ledger: {} places (cameras served a parked truck, covers opened, one sent by hand); \
         lost {}, filed twice {}, unexpected cases {}",
        expected.len(),
        lost.len(),
        twice.len(),
        unexpected.len()
    );
    for (fault, device) in FAULTS.iter().zip(&fault_devices) {
        let published = ledger.borrow().iter().find(|(d, _)| d == device).map(|(_, at)| *at).unwrap();
        match found.get(&format!("sensor:{device}")) {
            Some((count, opened)) => println!(
                "  {fault}: the cover opened during it -> {count} case(s), {:.1} s after the message",
                opened - published
            ),
            None => println!("  {fault}: the cover opened during it -> LOST"),
        }
    }
    println!("  violations the edges' relays report spooled (runs ended by SIGINT only): {reported}");
    println!("  violations accounted to a case:   {filed_now}");
    println!("  copies delivered again, filed once: {refiled}");
    println!("  violations in the killed edge's spool when it was killed (carried on disk): {kept}");
    println!("  cases: {cases} at {places} places ({sensor_cases} from sensors); duplicates: {duplicates}");
    println!("  alerts received by the webhook: {alerts}, covering all {} cases", case_ids.len());
    for (fault, took) in &heal {
        println!("  healed after {fault}: {:.1} s", took.as_secs_f64());
    }
    let by_center: HashMap<String, i64> = nodes[..2]
        .iter()
        .map(|n| {
            let received = metrics_of(&n.base)
                .lines()
                .find(|l| l.starts_with("sharpeyes_center_violations_received_total"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .unwrap_or(0.0);
            (n.name.clone(), received as i64)
        })
        .collect();
    println!("  violations received per center since its last start: {by_center:?}");

    // The centers stop gracefully: they file and acknowledge what they were handed, then disconnect.
    for node in &mut nodes[..2] {
        let process = node.process.as_mut().unwrap();
        let (status, _) = process.interrupt();
        assert!(status.success() && process.log().contains("violation consumer stopped"), "{}", process.log());
    }

    assert!(kept >= 1, "the edge was killed with violations in its spool");
    assert!(lost.is_empty(), "every fed-in violation is a case; missing: {lost:?}");
    assert!(twice.is_empty(), "none is two cases: {twice:?}");
    assert!(unexpected.is_empty(), "no case the test did not cause: {unexpected:?}");
    assert_eq!(duplicates, 0, "one case per place");
    assert_eq!(sensor_cases as usize, SENSORS + FAULTS.len() + 1, "one case per open cover");
    assert_eq!(cases as usize, expected.len(), "one case per camera's zone and per open cover");
    assert!(refiled >= 1, "the copy of the hand-sent violation was recognised");
    assert!(per_edge.iter().all(|n| *n > 0), "both edges took cameras: {per_edge:?}");
}
