//! `sharpeyes run`: wires the stages of this node's role.
//!
//! - `all` (the default): one box — cameras → inference → rules → cases, notifications and the API,
//!   on SQLite (or PostgreSQL);
//! - `edge`: this node's share of the cameras (see [`sharpeyes_alerting::cluster::shard`]), inference,
//!   rules and sensors; each violation is spooled and published over MQTT; the cameras, zones and
//!   rule sections an admin set on a center (see [`settings_follower`]), kept on its disk for its next
//!   start (see [`settings_cache`]); `/healthz`, `/metrics` and,
//!   for the centers, the reads of its cameras (their status, latest frames, zone previews), with
//!   its API's address and cameras announced over the broker;
//! - `center`: violations from the edge nodes (an MQTT v5 shared subscription), cases in PostgreSQL
//!   shared with the other centers, notifications (by the leading center), the API and dashboard;
//!   camera, zone and rule changes made through its API are kept in the database and published to
//!   the edges; the tuning view's reads are forwarded to the edge that runs the camera.
//!
//! Shutdown: only the sources get the signal; the later stages drain and stop when their input closes.

mod analysis;
mod camera_keeper;
mod feeds;
mod rules_keeper;
mod service;
mod settings_cache;
mod settings_follower;
mod zones;

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, routing::get};
use sharpeyes_alerting::{
    api::{
        Authenticator, CameraChanges, CameraReads, EdgeReads, RuleChanges, ZoneKeeper,
        server::{self, ConnectionLimits, ConnectionMetrics},
    },
    casework::{CameraSite, CameraSites, citizen::PhotoAnalyser},
    cluster::{
        CenterMetrics, EdgeAnnouncer, EdgeCards, EdgeMetrics, EdgeRelay, SettingsBroadcast, SettingsFeed,
        ViolationConsumer, shard,
    },
    notify::MaintenanceWindows,
    rules::{CameraViews, ZoneEditor},
};
use sharpeyes_ingest::mqtt::{MqttConfig, MqttSettings, SensorBoard};
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use crate::config::Config;
use analysis::Analysis;
use camera_keeper::{CameraRunner, Streams};
pub use service::open_store;
use service::{CaseService, Seen};

/// Violations waiting for the case engine or the relay (the sender blocks when full).
const VIOLATIONS_CAPACITY: usize = 256;
/// Settings from the centers waiting to be applied (the feed waits while it is full).
const SETTINGS_WAITING: usize = 64;
/// Default MQTT v5 share group of the centers.
const DEFAULT_SHARE_GROUP: &str = "centers";

/// What this process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Everything on one box.
    All,
    /// Cameras, inference and rules; violations published over MQTT.
    Edge,
    /// Violations from the edges into cases in PostgreSQL; notifications, API and dashboard.
    Center,
}

/// Runs the service in `role` until SIGINT/SIGTERM; `node` overrides the configuration's node name.
pub fn run(config_path: &Path, role: Role, node: Option<String>) -> anyhow::Result<()> {
    let config = Config::load_or_explain(config_path)?;
    let node = node_name(&config, node)?;
    check_role(&config, role)?;
    if role != Role::Center {
        sharpeyes_ingest::init_gstreamer()?;
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("tokio runtime")?;
    runtime.block_on(async {
        match role {
            Role::All => serve_all(config, config_path).await,
            Role::Edge => serve_edge(config, config_path, &node).await,
            Role::Center => serve_center(config, &node).await,
        }
    })
}

/// The node's name: `--node`, else `cluster.node`, else `$SHARPEYES_NODE`, else the host name.
fn node_name(config: &Config, node: Option<String>) -> anyhow::Result<String> {
    let name = node
        .or_else(|| config.cluster.node.clone())
        .or_else(|| std::env::var("SHARPEYES_NODE").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()))
        .filter(|name| !name.is_empty())
        .context("no node name: give --node, cluster.node or $SHARPEYES_NODE")?;
    // It goes into MQTT topics and client ids: no wildcards, levels or spaces.
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        anyhow::bail!("node name '{name}': use letters, digits, '-', '_' or '.'");
    }
    Ok(name)
}

/// Refuses a role the configuration cannot serve, naming the missing key.
fn check_role(config: &Config, role: Role) -> anyhow::Result<()> {
    if role != Role::All && config.mqtt.is_none() {
        anyhow::bail!("run --role {role:?}: [mqtt] is not set; edge and center nodes talk through the broker");
    }
    if role == Role::Center && config.server.database.is_none() {
        anyhow::bail!("run --role center: server.database is not set; the centers share one PostgreSQL database");
    }
    Ok(())
}

/// The edge nodes of `[cluster]`: `edges`, or the StatefulSet's pods when `edge_replicas` is set.
fn edge_nodes(config: &Config, node: &str) -> anyhow::Result<Vec<String>> {
    match config.cluster.edge_replicas {
        Some(replicas) => shard::stateful_set_nodes(node, replicas).with_context(|| {
            format!("cluster.edge_replicas = {replicas}: node '{node}' is not named <set>-<ordinal below {replicas}>")
        }),
        None => Ok(config.cluster.edges.clone()),
    }
}

/// The broker connection settings of `[mqtt]`.
fn mqtt_settings(mqtt: &MqttConfig) -> anyhow::Result<MqttSettings> {
    mqtt.settings().map_err(|problem| anyhow::anyhow!("{problem}"))
}

/// `[mqtt]` with this node's name in the client id, so that nodes sharing a configuration keep
/// sessions of their own.
fn node_mqtt(config: &Config, node: &str) -> MqttConfig {
    let mut mqtt = config.mqtt.clone().expect("checked by check_role");
    mqtt.client_id = format!("{}-{node}", mqtt.client_id);
    mqtt
}

async fn listen(config: &Config) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("server.listen: cannot listen on {}", config.server.listen))
}

/// The detector for citizen photos (its own instance, so that a report never waits behind cameras).
async fn photo_analyser(config: &Config) -> anyhow::Result<Arc<PhotoAnalyser>> {
    let detector = crate::reload::load_detector(config.detector.clone()).await?;
    let classes = crate::reload::category_classes(config, detector.manifest()).to_vec();
    Ok(Arc::new(PhotoAnalyser::new(detector, classes)))
}

async fn serve_all(mut config: Config, config_path: &Path) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let store = service::open_store(&config).await?;
    let in_force = Arc::new(std::sync::RwLock::new(camera_keeper::apply_stored_cameras(&store, &mut config).await?));
    let file_zones = zones::apply_stored_zones(&store, &mut config).await?;
    let rule_overrides = rules_keeper::stored_rules(&store, &config).await?;
    let detector = crate::reload::load_detector(config.detector.clone()).await?;
    for grid in &config.grids {
        info!(code = %grid.code, name = %grid.name, "grid");
    }
    let listener = listen(&config).await?;
    let (violations_tx, violations_rx) = mpsc::channel(VIOLATIONS_CAPACITY);
    let cameras: Vec<_> = config.cameras.iter().collect();
    let (configs, config_reader) = crate::reload::configs_on_sighup(config_path.to_path_buf(), config.clone());
    let reading = (configs.clone(), rule_overrides.clone());
    let in_force_config = rule_overrides.applied_to(&config);
    let analysis = Analysis::start(&in_force_config, reading, &cameras, None, &registry, violations_tx, detector)?;
    let editor = ZoneEditor::new(
        analysis.views.clone(),
        analysis.rule_updates.clone(),
        file_zones,
        analysis.rule_settings.clone(),
    );
    let sites = camera_sites(&config);
    let maintenance = maintenance_windows(&config);
    let (camera_changes, camera_requests) = CameraChanges::channel();
    let (rule_changes, rule_requests) = RuleChanges::channel();
    let seen = Seen {
        statuses: analysis.statuses.clone(),
        views: analysis.views.clone(),
        sensors: analysis.sensor_board.clone(),
        photos: Some(photo_analyser(&config).await?),
        config: {
            let (configs, in_force, overrides) = (configs.clone(), in_force.clone(), rule_overrides.clone());
            Arc::new(move || {
                shown_config(&configs.borrow(), &in_force.read().expect("cameras in force lock"), &overrides)
            })
        },
        zones: ZoneKeeper::Here(editor.clone()),
        edges: None,
        sites: sites.clone(),
        camera_changes: Some(camera_changes),
        rule_changes: Some(rule_changes),
        maintenance: maintenance.clone(),
    };
    let keeper = camera_keeper::CameraKeeper {
        store: store.clone(),
        runner: CameraRunner {
            streams: Streams::Here { feeds: analysis.feeds.clone(), editor },
            sites,
            maintenance,
            in_force,
        },
        broadcast: None,
        clock: sharpeyes_alerting::clock::system(),
    };
    let rules = rules_keeper::RulesKeeper {
        store: store.clone(),
        overrides: rule_overrides,
        configs: configs.clone(),
        updates: Some(analysis.rule_updates.clone()),
        broadcast: None,
        clock: sharpeyes_alerting::clock::system(),
    };
    let rules = tokio::spawn(rules.run(rule_requests));
    let keeper = tokio::spawn(keeper.run(camera_requests, configs));
    let cases = CaseService::start(&config, store, registry, seen, violations_rx, listener, false).await?;
    info!(listen = %config.server.listen, cameras = config.cameras.len(), "sharpeyes running");

    crate::shutdown::first_signal().await;
    config_reader.abort();
    keeper.abort();
    rules.abort();
    analysis.stop().await?;
    cases.stop().await?;
    info!("sharpeyes stopped");
    Ok(())
}

async fn serve_edge(config: Config, config_path: &Path, node: &str) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let nodes = edge_nodes(&config, node)?;
    let cache_dir = config.server.data_dir.join("center-settings");
    let cache = settings_cache::SettingsCache::open(&cache_dir)
        .with_context(|| format!("server.data_dir: cannot keep the centers' settings in '{}'", cache_dir.display()))?;
    // A camera a center set or removed starts (or not) as the center said, from the cache, not the file.
    let set_by_center: std::collections::HashSet<&str> = cache.cameras().collect();
    let mut cameras = shard::share_of(node, &nodes, &config.cameras, |c| c.id.as_str());
    cameras.retain(|camera| !set_by_center.contains(camera.id.as_str()));
    drop(set_by_center);
    // Sensors are shared out like cameras: a device's readings all go to one node, whose rules keep
    // its state (how long a cover has been open).
    let sensors: Vec<String> =
        shard::share_of(node, &nodes, &config.sensors, |s| s.id.as_str()).iter().map(|s| s.id.clone()).collect();
    info!(
        node,
        cameras = cameras.len(),
        of = config.cameras.len(),
        sensors = sensors.len(),
        nodes = nodes.len(),
        "edge node's share"
    );
    for camera in &cameras {
        info!(camera = %camera.id, "analysing camera");
    }
    let detector = crate::reload::load_detector(config.detector.clone()).await?;
    let listener = listen(&config).await?;
    let mqtt = node_mqtt(&config, node);
    let spool_dir = config.cluster.spool_dir.clone().unwrap_or_else(|| config.server.data_dir.join("spool"));
    let relay = EdgeRelay::new(mqtt_settings(&mqtt)?, node, &spool_dir, EdgeMetrics::register(&registry)?)
        .with_context(|| format!("cluster.spool_dir: '{}'", spool_dir.display()))?
        .with_signing_key(config.cluster.relay_key());
    let (violations_tx, violations_rx) = mpsc::channel(VIOLATIONS_CAPACITY);
    let feed = SettingsFeed::new(mqtt_settings(&mqtt)?, &registry)?.with_signing_key(config.cluster.relay_key());
    let node_config = Config { mqtt: Some(mqtt), ..config.clone() };
    let (configs, config_reader) = crate::reload::configs_on_sighup(config_path.to_path_buf(), config.clone());
    let overrides = crate::reload::RuleOverrides::default();
    let reading = (configs.clone(), overrides.clone());
    let analysis = Analysis::start(&node_config, reading, &cameras, Some(sensors), &registry, violations_tx, detector)?;
    let relay = tokio::spawn(relay.run(violations_rx));
    let kept = cameras
        .iter()
        .map(|&camera| camera_keeper::KeptCamera { camera: camera.clone(), origin: camera_keeper::Origin::FILE });
    let editor = ZoneEditor::new(
        analysis.views.clone(),
        analysis.rule_updates.clone(),
        cameras.iter().map(|camera| (camera.id.clone(), camera.zones.clone())).collect(),
        analysis.rule_settings.clone(),
    );
    let in_force: camera_keeper::InForce = Arc::new(std::sync::RwLock::new(kept.collect()));
    let follower = settings_follower::SettingsFollower {
        runner: CameraRunner {
            streams: Streams::Here { feeds: analysis.feeds.clone(), editor: editor.clone() },
            sites: camera_sites(&config),
            maintenance: maintenance_windows(&config),
            in_force: in_force.clone(),
        },
        share: settings_follower::Share { node: node.to_owned(), nodes },
        overrides,
        rule_updates: Some(analysis.rule_updates.clone()),
        zones_set: std::collections::HashMap::new(),
        cache: Some(cache),
    };
    let api = edge_api_address(&config, node);
    let running = Arc::new(move || {
        in_force.read().expect("cameras in force lock").iter().map(|kept| kept.camera.id.clone()).collect()
    });
    let announcer =
        EdgeAnnouncer::new(mqtt_settings(node_config.mqtt.as_ref().expect("set above"))?, node, api.clone(), running)?
            .with_signing_key(config.cluster.relay_key());
    let goodbye = announcer.goodbye();
    let (settings_tx, settings_rx) = mpsc::channel(SETTINGS_WAITING);
    let feed = tokio::spawn(feed.run(settings_tx));
    let follower = tokio::spawn(follower.run(settings_rx, configs));
    let announcer = tokio::spawn(announcer.run());
    let reads = CameraReads {
        cameras: analysis.statuses.clone(),
        views: analysis.views.clone(),
        zones: Some(editor),
        edges: None,
    };
    let auth = Arc::new(api_tokens(&config));
    let (http_stop, http) = serve_edge_http(listener, registry, reads, auth, config.server.connection_limits())?;
    info!(listen = %config.server.listen, node, %api, "sharpeyes edge running");

    crate::shutdown::first_signal().await;
    config_reader.abort();
    feed.abort();
    follower.abort();
    goodbye.say().await;
    if tokio::time::timeout(Duration::from_secs(2), announcer).await.is_err() {
        info!("the edge card could not be cleared (no broker): the broker's last will clears it");
    }
    analysis.stop().await?;
    relay.await?;
    let _ = http_stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
    info!("sharpeyes edge stopped");
    Ok(())
}

async fn serve_center(mut config: Config, node: &str) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let store = service::open_store(&config).await?;
    let in_force = Arc::new(std::sync::RwLock::new(camera_keeper::apply_stored_cameras(&store, &mut config).await?));
    let rule_overrides = rules_keeper::stored_rules(&store, &config).await?;
    let listener = listen(&config).await?;
    let mqtt = node_mqtt(&config, node);
    let group = config.cluster.share_group.clone().unwrap_or_else(|| DEFAULT_SHARE_GROUP.to_owned());
    let consumer = ViolationConsumer::new(mqtt_settings(&mqtt)?, &group, CenterMetrics::register(&registry)?)?
        .with_signing_key(config.cluster.relay_key());
    let (broadcast, settings_changed) =
        SettingsBroadcast::new(mqtt_settings(&mqtt)?, store.clone(), &crate::config::DWELL_RULES)?;
    let broadcast = broadcast.with_signing_key(config.cluster.relay_key());
    let feed = SettingsFeed::new(mqtt_settings(&mqtt)?, &registry)?.with_signing_key(config.cluster.relay_key());
    let (cards, edges) = EdgeCards::new(mqtt_settings(&mqtt)?, &registry)?;
    let cards = cards.with_signing_key(config.cluster.relay_key());
    // A center reads its file once: SIGHUP changes nothing on it.
    let (_file_unchanged, configs) = tokio::sync::watch::channel(Arc::new(config.clone()));
    let (violations_tx, violations_rx) = mpsc::channel(VIOLATIONS_CAPACITY);
    let sites = camera_sites(&config);
    let maintenance = maintenance_windows(&config);
    let (camera_changes, camera_requests) = CameraChanges::channel();
    let (rule_changes, rule_requests) = RuleChanges::channel();
    let seen = Seen {
        statuses: sharpeyes_ingest::camera::CameraBoard::default(),
        // The edges hold the frames and zones in force; the center reads them there (`edges`).
        views: Arc::new(CameraViews::default()),
        sensors: Arc::new(SensorBoard::default()),
        photos: Some(photo_analyser(&config).await?),
        zones: ZoneKeeper::OnEdges {
            entries: {
                let in_force = in_force.clone();
                Arc::new(move |id: &str| {
                    let in_force = in_force.read().expect("cameras in force lock");
                    in_force.iter().find(|kept| kept.camera.id == id).map(|kept| kept.camera.zones.clone())
                })
            },
            published: settings_changed.clone(),
        },
        edges: Some(EdgeReads::new(edges, config.cluster.relay_key().is_some())),
        config: {
            let (configs, in_force, overrides) = (configs.clone(), in_force.clone(), rule_overrides.clone());
            Arc::new(move || {
                shown_config(&configs.borrow(), &in_force.read().expect("cameras in force lock"), &overrides)
            })
        },
        sites: sites.clone(),
        camera_changes: Some(camera_changes),
        rule_changes: Some(rule_changes),
        maintenance: maintenance.clone(),
    };
    let runner = || CameraRunner {
        streams: Streams::OnEdges,
        sites: sites.clone(),
        maintenance: maintenance.clone(),
        in_force: in_force.clone(),
    };
    let keeper = camera_keeper::CameraKeeper {
        store: store.clone(),
        runner: runner(),
        broadcast: Some(settings_changed.clone()),
        clock: sharpeyes_alerting::clock::system(),
    };
    let rules = rules_keeper::RulesKeeper {
        store: store.clone(),
        overrides: rule_overrides.clone(),
        configs: configs.clone(),
        updates: None,
        broadcast: Some(settings_changed),
        clock: sharpeyes_alerting::clock::system(),
    };
    let follower = settings_follower::SettingsFollower {
        runner: runner(),
        share: settings_follower::Share { node: node.to_owned(), nodes: Vec::new() },
        overrides: rule_overrides,
        rule_updates: None,
        zones_set: std::collections::HashMap::new(),
        cache: None,
    };
    let (settings_tx, settings_rx) = mpsc::channel(SETTINGS_WAITING);
    let tasks = [
        tokio::spawn(broadcast.run()),
        tokio::spawn(cards.run()),
        tokio::spawn(feed.run(settings_tx)),
        tokio::spawn(follower.run(settings_rx, configs.clone())),
        tokio::spawn(keeper.run(camera_requests, configs)),
        tokio::spawn(rules.run(rule_requests)),
    ];
    let cases = CaseService::start(&config, store, registry, seen, violations_rx, listener, true).await?;
    let (consumer_stop, consumer_stop_rx) = oneshot::channel::<()>();
    let consumer = tokio::spawn(consumer.run(violations_tx, async move {
        let _ = consumer_stop_rx.await;
    }));
    info!(listen = %config.server.listen, node, group, "sharpeyes center running");

    crate::shutdown::first_signal().await;
    let _ = consumer_stop.send(());
    consumer.await?;
    for task in tasks {
        task.abort();
    }
    cases.stop().await?;
    info!("sharpeyes center stopped");
    Ok(())
}

/// Where each configured camera is, for the case engine and the map.
fn camera_sites(config: &Config) -> CameraSites {
    config.cameras.iter().map(|c| (c.id.as_str(), CameraSite { grid: c.grid.clone(), location: c.location })).collect()
}

/// Each configured camera's maintenance windows.
fn maintenance_windows(config: &Config) -> MaintenanceWindows {
    let windows = config.cameras.iter().map(|camera| (camera.id.clone(), camera_keeper::maintenance_of(camera)));
    MaintenanceWindows::from(windows.collect::<std::collections::HashMap<_, _>>())
}

/// The configuration as `GET /api/v1/config` shows it: as last read, with the cameras and the dwell
/// rules' sections in force (the API's changes included), each with its origin.
fn shown_config(
    config: &Config,
    in_force: &[camera_keeper::KeptCamera],
    overrides: &crate::reload::RuleOverrides,
) -> serde_json::Value {
    let mut config = Config { cameras: Vec::new(), ..overrides.applied_to(config) };
    let mut shown = crate::config::shown::redacted(&config);
    shown["cameras"] = in_force.iter().map(|kept| camera_keeper::shown_camera(&kept.camera, &kept.origin)).collect();
    let kept = overrides.all();
    for rule in crate::config::DWELL_RULES {
        if let Some(section) = crate::config::dwell_section(&mut config.rules, rule) {
            shown["rules"][rule] = rules_keeper::shown_rule(section, kept.get(rule));
        }
    }
    shown
}

/// The tokens of `[auth]`, within the server's rate and failed-login limits (as the centers' API).
fn api_tokens(config: &Config) -> Authenticator {
    config
        .auth
        .authenticator(config.server.rate_limit_per_s, config.server.rate_limit_burst)
        .with_failed_login_limit(config.server.failed_logins_per_minute)
}

/// Where the centers reach edge `node`'s API: `cluster.advertise_api` with `{node}` replaced, else
/// `http://` and `server.listen`, the node's name in place of an unspecified address (`0.0.0.0`).
fn edge_api_address(config: &Config, node: &str) -> String {
    if let Some(template) = &config.cluster.advertise_api {
        return template.replace("{node}", node);
    }
    match config.server.listen.parse::<std::net::SocketAddr>() {
        Ok(address) if address.ip().is_unspecified() => format!("http://{node}:{}", address.port()),
        Ok(address) => format!("http://{address}"),
        Err(_) => format!("http://{}", config.server.listen),
    }
}

/// An edge node's HTTP: `/healthz`, `/metrics` and, for the centers, the reads of its cameras (see
/// [`sharpeyes_alerting::api::edge_router`]), within the same connection limits as a center's API.
fn serve_edge_http(
    listener: tokio::net::TcpListener,
    registry: prometheus::Registry,
    reads: CameraReads,
    auth: Arc<Authenticator>,
    limits: ConnectionLimits,
) -> anyhow::Result<(oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let connections = ConnectionMetrics::register(&registry)?;
    let router = Router::new()
        .route("/healthz", get(sharpeyes_alerting::api::health::healthz))
        .route("/metrics", get(sharpeyes_alerting::api::health::registry_metrics))
        .with_state(registry)
        .merge(sharpeyes_alerting::api::edge_router(reads, auth));
    let (stop, stop_rx) = oneshot::channel::<()>();
    let http = tokio::spawn(server::serve(listener, router, limits, Some(connections), async move {
        let _ = stop_rx.await;
    }));
    Ok((stop, http))
}
