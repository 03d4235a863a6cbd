//! Cameras and rules changed at runtime on a cluster (issue 20): a center accepts the change, keeps
//! it in the shared PostgreSQL database and publishes it (signed, retained) to the broker; the edge
//! that owns the camera applies it while the other cameras stream on, and an edge started later
//! finds it. A settings message not signed with the relay key changes nothing.
//!
//! The tuning view on the center: a camera's list entry, view, latest frame and zone preview come
//! from the edge that runs it (as it announced itself, signed); a zone set there reaches that edge's
//! rules, outlives the edge's restart and goes back to the camera's entry when reset.
//!
//! On loopback: one center, two edges (`run --role center|edge`), simcam cameras, a private Mosquitto
//! broker and a database of the local PostgreSQL.

mod common;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use common::*;
use serde_json::{Value, json};

const GRID: &str = "110105001001001";
const RELAY_SECRET: &str = "runtime-cluster-relay-key";

fn start(config: &Path, base: &str, role: &str, name: &str) -> Running {
    start_service_with(config, base, &["--role", role, "--node", name])
}

fn logs(nodes: &[(&str, &Running)]) -> String {
    nodes.iter().map(|(name, node)| format!("== {name}\n{}", node.log())).collect()
}

fn open_cases_of(base: &str, camera: &str) -> Vec<Value> {
    let (status, cases) = get_json(base, "/api/v1/cases");
    assert_eq!(status, 200, "{cases}");
    cases.as_array().unwrap().iter().filter(|c| c["camera"] == camera).cloned().collect()
}

#[test]
fn a_camera_added_on_the_center_runs_on_its_edge_and_outlives_the_edges_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = PostgresDatabase::create("runtime_cluster");
    let broker_dir = dir.path().join("broker");
    let mut broker = Broker::start(&broker_dir, "");
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("first", &truck), ("second", &truck)]);
    let prefix = format!("se-settings-{}", nanos_since_epoch());
    // SAFETY: set before any other thread of this test binary (its only test) reads the environment;
    // the nodes inherit it.
    unsafe { std::env::set_var("SHARPEYES_RELAY_SECRET", RELAY_SECRET) };
    let mut shared = cluster_config(&database.url, broker.port, &prefix);
    shared.push_str(&format!(
        r#"
[[cameras]]
id = "first-cam"
url = "{first}"
grid = "{GRID}"
decode = "keyframes"
  [[cameras.zones]]
  id = "corner"
  kind = "no_parking"
  polygon = [[0.0, 0.0], [0.08, 0.0], [0.0, 0.08]]
"#,
        first = urls[0],
    ));
    let (center_config, center) = node_config(dir.path(), &shared, "center");
    let edges: Vec<(PathBuf, String)> =
        ["edge-0", "edge-1"].iter().map(|name| node_config(dir.path(), &shared, name)).collect();
    let center_process = start(&center_config, &center, "center", "center");
    let mut edge_processes: Vec<Running> = edges
        .iter()
        .zip(["edge-0", "edge-1"])
        .map(|((config, base), name)| start(config, base, "edge", name))
        .collect();
    let all_logs = |edge_processes: &[Running]| {
        logs(&[("center", &center_process), ("edge-0", &edge_processes[0]), ("edge-1", &edge_processes[1])])
    };
    let streams_on = |camera: &str| -> Vec<usize> {
        edges.iter().enumerate().filter(|(_, (_, base))| streaming(base).contains(camera)).map(|(n, _)| n).collect()
    };
    wait_for(Duration::from_secs(60), || all_logs(&edge_processes), || streams_on("first-cam").len() == 1);
    let first_edge = streams_on("first-cam")[0];
    let restarts = |base: &str| metric(&metrics_of(base), "sharpeyes_camera_restarts_total{camera=\"first-cam\"}");
    let first_restarts = restarts(&edges[first_edge].1);

    // A settings message the relay key did not sign is refused by every edge and starts nothing.
    let forged = json!({ "settings": { "id": "forged-cam", "url": urls[1], "grid": GRID } }).to_string();
    publish_lines(broker.port, &format!("{prefix}/config/cameras/forged-cam"), &[forged], None);
    wait_for(
        Duration::from_secs(20),
        || all_logs(&edge_processes),
        || edges.iter().all(|(_, base)| metric(&metrics_of(base), "sharpeyes_settings_refused_total") >= 1.0),
    );
    assert!(streams_on("forged-cam").is_empty());

    // Added on the center: the edge that owns it streams it, and its parked truck becomes a case.
    let added = json!({
        "id": "added-cam", "url": urls[1], "grid": GRID, "decode": "keyframes",
        "zones": [{ "id": "curb", "kind": "no_parking", "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]] }],
    });
    let (status, answer) = send_json(&center, reqwest::Method::POST, "/api/v1/cameras", Some(added));
    assert_eq!(status, 201, "{answer}\n{}", all_logs(&edge_processes));
    assert_eq!(answer["source"], "api", "{answer}");
    wait_for(Duration::from_secs(60), || all_logs(&edge_processes), || streams_on("added-cam").len() == 1);
    let added_edge = streams_on("added-cam")[0];
    wait_for(Duration::from_secs(60), || all_logs(&edge_processes), || !open_cases_of(&center, "added-cam").is_empty());
    let case = open_cases_of(&center, "added-cam")[0].clone();
    assert_eq!(case["grid"], GRID, "the center files the new camera's case in its grid: {case}");
    assert_eq!(restarts(&edges[first_edge].1), first_restarts, "first-cam reconnected:\n{}", all_logs(&edge_processes));
    let (_, config) = get_json(&center, "/api/v1/config");
    let shown = config["cameras"].as_array().unwrap().iter().find(|c| c["id"] == "added-cam").cloned();
    assert_eq!(shown.as_ref().map(|c| c["source"].clone()), Some(json!("api")), "{config}");

    // The center lists each camera as the edge that runs it reports it.
    let edge_names = ["edge-0", "edge-1"];
    let node_of = |camera: &str| {
        let (status, cameras) = get_json(&center, "/api/v1/cameras");
        assert_eq!(status, 200, "{cameras}");
        let listed = cameras.as_array().unwrap().iter().find(|c| c["id"] == camera).cloned();
        listed.filter(|c| c["state"] == "streaming").map(|c| c["node"].clone())
    };
    wait_for(Duration::from_secs(20), || all_logs(&edge_processes), || node_of("added-cam").is_some());
    assert_eq!(node_of("added-cam"), Some(json!(edge_names[added_edge])));
    assert_eq!(node_of("first-cam"), Some(json!(edge_names[first_edge])));

    // An edge card the relay key did not sign is refused: the center sends no token to its address.
    let forged_card = json!({ "api": "http://127.0.0.1:9", "cameras": ["first-cam"] }).to_string();
    publish_lines(broker.port, &format!("{prefix}/edges/edge-x"), &[forged_card], None);
    wait_for(
        Duration::from_secs(20),
        || all_logs(&edge_processes),
        || metric(&metrics_of(&center), "sharpeyes_edge_cards_refused_total") >= 1.0,
    );

    // The tuning view's reads on the center come from the edge: the zones it runs, its latest frame
    // with the detector's boxes, and a preview replayed on its recent frames.
    let view = |camera: &str| get_json(&center, &format!("/api/v1/cameras/{camera}/view"));
    let (status, seen) = view("added-cam");
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["zones"][0]["id"], "curb", "{seen}");
    assert!(seen["frame"]["width"].as_u64() > Some(0), "{seen}");
    assert!(!seen["detections"].as_array().unwrap().is_empty(), "{seen}");
    assert_eq!(view("first-cam").1["zones"][0]["id"], "corner", "the other edge serves its own camera");
    let (status, jpeg) = get_bytes(&center, "/api/v1/cameras/added-cam/frame");
    assert_eq!((status, &jpeg[..2]), (200, &[0xFF, 0xD8][..]), "a JPEG from the edge");
    let zone = |polygon: Value| json!({ "id": "curb", "kind": "no_parking", "polygon": polygon });
    let whole = zone(json!([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]));
    let corner = zone(json!([[0.0, 0.0], [0.08, 0.0], [0.0, 0.08]]));
    let preview = |draft: &Value| {
        let path = "/api/v1/cameras/added-cam/zones/preview";
        let (status, answer) = send_json(&center, reqwest::Method::POST, path, Some(json!([draft])));
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let counted = preview(&whole);
    assert!(counted["frames"].as_u64() > Some(0), "{counted}");
    assert!(!counted["latest"].as_array().unwrap().is_empty(), "the truck counts in the whole frame: {counted}");
    let in_corner = preview(&corner);
    assert!(in_corner["latest"].as_array().unwrap().is_empty(), "nothing counts in the corner: {in_corner}");
    assert!(in_corner["cases"].as_array().unwrap().is_empty(), "{in_corner}");
    let (status, refused) = send_json(
        &center,
        reqwest::Method::POST,
        "/api/v1/cameras/added-cam/zones/preview",
        Some(json!([{ "id": "curb", "kind": "no_parking", "polygon": [[0.0, 0.0]] }])),
    );
    assert_eq!(status, 400, "a bad draft is refused on the center, naming its field: {refused}");
    assert!(refused["error"].as_str().unwrap().contains("zones[0].polygon"), "{refused}");

    // A zone moved on the center: kept, and the edge's rules run it (the edge's view shows it).
    let corners_seen = || view("added-cam").1["zones"][0]["polygon"].as_array().map(Vec::len);
    let (status, answer) =
        send_json(&center, reqwest::Method::PUT, "/api/v1/cameras/added-cam/zones/curb", Some(corner.clone()));
    assert_eq!((status, &answer["source"]), (200, &json!("api")), "{answer}");
    wait_for(Duration::from_secs(20), || all_logs(&edge_processes), || corners_seen() == Some(3));
    let (_, kept) = get_json(&center, "/api/v1/cameras/added-cam/zones");
    assert_eq!((&kept["source"], kept["zones"][0]["polygon"].as_array().map(Vec::len)), (&json!("api"), Some(3)));

    // A dwell rule's section set on the center reaches both edges' rules.
    let section = json!({ "min_dwell_s": 3.0 });
    let (status, answer) = send_json(&center, reqwest::Method::PUT, "/api/v1/rules/illegal_parking", Some(section));
    assert_eq!(status, 200, "{answer}");
    wait_for(
        Duration::from_secs(20),
        || all_logs(&edge_processes),
        || edge_processes.iter().all(|edge| edge.log().contains("rule's section set on a center")),
    );

    // The edge that runs the added camera starts again from its file alone and finds it retained.
    let (status, _) = edge_processes[added_edge].interrupt();
    assert!(status.success(), "{}", edge_processes[added_edge].log());
    // Stopped, the edge said goodbye: the center knows no edge to ask.
    wait_for(Duration::from_secs(20), || all_logs(&edge_processes), || view("added-cam").0 == 404);
    let (config, base) = &edges[added_edge];
    edge_processes[added_edge] = start(config, base, "edge", edge_names[added_edge]);
    wait_for(Duration::from_secs(60), || all_logs(&edge_processes), || streams_on("added-cam") == vec![added_edge]);
    wait_for(Duration::from_secs(20), || all_logs(&edge_processes), || corners_seen() == Some(3));
    wait_for(Duration::from_secs(60), || all_logs(&edge_processes), || streams_on("first-cam") == vec![first_edge]);
    let first_restarts = restarts(&edges[first_edge].1);
    assert!(
        edge_processes[added_edge].log().contains("rule's section set on a center"),
        "the restarted edge took the rule's section:\n{}",
        edge_processes[added_edge].log()
    );

    // Started again while the broker is away, the edge runs what the centers last published, as it
    // kept it: the added camera, with the zones set on the center.
    let (status, _) = edge_processes[added_edge].interrupt();
    assert!(status.success(), "{}", edge_processes[added_edge].log());
    broker.stop();
    edge_processes[added_edge] = start(config, base, "edge", edge_names[added_edge]);
    wait_for(Duration::from_secs(60), || all_logs(&edge_processes), || streams_on("added-cam") == vec![added_edge]);
    let (status, on_edge) = get_json(base, "/api/v1/cameras/added-cam/view");
    assert_eq!((status, on_edge["zones"][0]["polygon"].as_array().map(Vec::len)), (200, Some(3)), "{on_edge}");
    broker.start_again();
    wait_for(Duration::from_secs(30), || all_logs(&edge_processes), || corners_seen() == Some(3));

    // The zones reset on the center: the edge runs the camera entry's again.
    let (status, answer) = send_json(&center, reqwest::Method::DELETE, "/api/v1/cameras/added-cam/zones", None);
    assert_eq!((status, &answer["source"]), (200, &json!("file")), "{answer}");
    wait_for(Duration::from_secs(20), || all_logs(&edge_processes), || corners_seen() == Some(4));

    // Removed on the center: its edge stops it; its case stays and can be worked to the end.
    let (status, answer) = send_json(&center, reqwest::Method::DELETE, "/api/v1/cameras/added-cam", None);
    assert_eq!(status, 200, "{answer}");
    wait_for(Duration::from_secs(30), || all_logs(&edge_processes), || streams_on("added-cam").is_empty());
    let (status, still) = get_json(&center, &format!("/api/v1/cases/{}", case["id"]));
    assert_eq!(status, 200, "{still}");
    let (status, voided) = send_json(
        &center,
        reqwest::Method::POST,
        &format!("/api/v1/cases/{}/actions", case["id"]),
        Some(json!({ "action": "void", "reason": "not_a_violation", "note": "the camera was removed" })),
    );
    assert_eq!((status, &voided["status"]), (200, &json!("voided")), "{voided}");
    assert_eq!(streams_on("first-cam"), vec![first_edge]);
    assert_eq!(restarts(&edges[first_edge].1), first_restarts, "first-cam reconnected:\n{}", all_logs(&edge_processes));
}
