//! `sharpeyes run`: wires ingest → inference → rules → cases, and the HTTP API.
//!
//! Shutdown: only the cameras get the signal. When they have stopped the frame queue closes, the
//! detector drains it, the rules and the case engine drain their channels, then the HTTP server stops.

use std::{collections::HashMap, path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use chrono::{FixedOffset, TimeDelta, Utc};
use sharpeyes_alerting::{
    AlertingMetrics,
    api::{self, ApiState, ApiToken, Authenticator},
    cases::{
        CameraSite, CaseEngine, EngineSettings,
        citizen::{CitizenIntake, PhotoAnalyser},
        deadlines::DeadlinePolicy,
        duplicates::DuplicateRule,
        evidence::EvidenceStore,
        grids::Grid,
    },
    notify::{Escalation, MqttPublisher, Mutes, Notifier, Receiver, RetryPolicy, Webhook},
    rules::{
        CameraRules, CameraViews, Category, Condition, DwellRule, DwellRuleConfig, RulesStage, SceneChangeConfig,
        SceneChangeRule, SensorRule, SensorRules, TrackerConfig, Violation, Zone, ZoneKind,
    },
    store::Store,
};
use sharpeyes_inference::{InferenceMetrics, InferenceStage};
use sharpeyes_ingest::{
    FrameQueue,
    camera::{CameraCollector, CameraSettings, CameraSource, CameraStatus, DecodeMode, KeyframeDecoders, Transport},
    mqtt::{
        Device, DeviceRegistry, MqttSettings, SensorBoard, SensorMessage, SensorMetrics, SensorSource,
        publish_camera_status,
    },
};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::{
    CameraConfig, Config, DecodeKind, DwellConfig, MqttConfig, ReceiverKind, RulesConfig, SensorConfig,
    SensorRuleConfig, TransportKind,
};

/// Detections waiting for the rules (the sender blocks when full).
const DETECTIONS_CAPACITY: usize = 64;
/// Violations waiting for the case engine (the sender blocks when full).
const VIOLATIONS_CAPACITY: usize = 256;
/// How often sensor rules are evaluated without new events (for durations).
const SENSOR_RULE_TICK: Duration = Duration::from_secs(1);
/// Most sensor events the consumer takes per wake-up.
const SENSOR_EVENT_BATCH: usize = 256;

/// Runs the service until SIGINT/SIGTERM.
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid configuration '{}':\n  {}", config_path.display(), list.join("\n  "))
    })?;
    sharpeyes_ingest::init_gstreamer()?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("tokio runtime")?;
    runtime.block_on(serve(config, config_path))
}

async fn serve(config: Config, config_path: &Path) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let inference_metrics = InferenceMetrics::register(&registry)?;
    let alerting_metrics = AlertingMetrics::register(&registry)?;

    let data_dir = &config.server.data_dir;
    let store = match &config.server.database {
        Some(url) => Store::open_postgres(url)
            .await
            .with_context(|| format!("server.database: opening {}", sharpeyes_ingest::camera::redact_url(url)))?,
        None => Store::open_sqlite(data_dir)
            .await
            .with_context(|| format!("opening the case database in '{}'", data_dir.display()))?,
    };
    let evidence = EvidenceStore::new(data_dir);
    let policy = config.cases.deadline_policy().map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid case settings:\n  {}", list.join("\n  "))
    })?;

    let detector = crate::reload::load_detector(config.detector.clone()).await?;

    for grid in &config.grids {
        info!(code = %grid.code, name = %grid.name, "grid");
    }
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("server.listen: cannot listen on {}", config.server.listen))?;

    // Ingest.
    let frames = FrameQueue::new(config.detector.queue_per_camera);
    let decoders = KeyframeDecoders::spawn_per_core(config.cameras.len())?;
    let (shutdown_tx, shutdown_rx) = crossbeam_channel::bounded::<()>(0);
    let mut statuses = Vec::new();
    let mut camera_threads = Vec::new();
    for camera in &config.cameras {
        let source = CameraSource::new(camera_settings(camera), frames.clone(), decoders.clone());
        statuses.push(source.status());
        camera_threads.push(source.spawn(shutdown_rx.clone())?);
    }
    drop(shutdown_rx);
    registry.register(Box::new(CameraCollector::new(statuses.clone())))?;

    // Inference → rules → cases.
    let (detections_tx, detections_rx) = crossbeam_channel::bounded(DETECTIONS_CAPACITY);
    let vehicle_classes = crate::reload::vehicle_classes(&config, detector.manifest());
    let litter_classes = category_classes(&config.rules.litter, detector.manifest(), "litter");
    let construction_classes =
        category_classes(&config.rules.illegal_construction, detector.manifest(), "illegal_construction");
    // Citizen photos get a detector of their own, so that a report never waits behind the cameras.
    let photo_classes = vec![
        (Category::IllegalParking, vehicle_classes.clone()),
        (Category::Litter, litter_classes.clone()),
        (Category::IllegalConstruction, construction_classes.clone()),
    ];
    let photos =
        Arc::new(PhotoAnalyser::new(crate::reload::load_detector(config.detector.clone()).await?, photo_classes));
    let (reload_tx, reload_rx) = crossbeam_channel::unbounded();
    let (classes_tx, classes_rx) = crossbeam_channel::unbounded();
    let reloader = tokio::spawn(crate::reload::on_sighup(
        config_path.to_path_buf(),
        detector.manifest().clone(),
        reload_tx,
        classes_tx,
    ));
    let max_wait = Duration::from_millis(config.detector.max_wait_ms);
    let inference =
        InferenceStage::new(detector, frames.clone(), detections_tx, reload_rx, inference_metrics, max_wait).spawn()?;
    let offset = policy.calendar().utc_offset();
    let kinds = [
        (ZoneKind::NoParking, dwell_rule_config(&config.rules, &config.rules.illegal_parking, vehicle_classes, offset)),
        (ZoneKind::NoDumping, dwell_rule_config(&config.rules, &config.rules.litter, litter_classes, offset)),
        (
            ZoneKind::ConstructionWatch,
            dwell_rule_config(&config.rules, &config.rules.illegal_construction, construction_classes, offset),
        ),
    ];
    let scene = &config.rules.scene_change;
    let scene_config = SceneChangeConfig {
        persist: millis(scene.persist_s),
        min_changed: scene.min_changed,
        block_similarity: scene.block_similarity,
        utc_offset: offset,
    };
    let camera_zones: HashMap<Arc<str>, Vec<Zone>> =
        config.cameras.iter().map(|camera| (Arc::from(camera.id.as_str()), zones(camera))).collect();
    let views = Arc::new(CameraViews::new(camera_zones.clone()));
    let camera_rules = camera_zones
        .into_iter()
        .map(|(camera, zones)| {
            let dwell = kinds.iter().map(|(kind, rule)| DwellRule::new(*kind, rule.clone(), &zones)).collect();
            (camera, CameraRules::new(dwell, SceneChangeRule::new(scene_config, &zones)))
        })
        .filter(|(_, rules)| rules.is_active())
        .collect();
    let (violations_tx, mut violations_rx) = mpsc::channel(VIOLATIONS_CAPACITY);

    // Sensors.
    let (sensors_stop_tx, sensors_stop_rx) = oneshot::channel::<()>();
    let sensor_board = Arc::new(SensorBoard::default());
    let sensors = match &config.mqtt {
        Some(mqtt) => {
            let repeat = millis(config.rules.repeat_s);
            let rules = SensorRules::new(config.rules.sensor.iter().map(|rule| sensor_rule(rule, repeat)).collect());
            let consumer = SensorConsumer { board: sensor_board.clone(), rules, violations_tx: violations_tx.clone() };
            let ingest = SensorIngest { mqtt, sensors: &config.sensors, cameras: &statuses, registry: &registry };
            Some(tokio::spawn(ingest.start(consumer, sensors_stop_rx)?))
        }
        None => None,
    };

    let rules = RulesStage::new(camera_rules, detections_rx, violations_tx, classes_rx, views.clone()).spawn()?;
    let sites = config
        .cameras
        .iter()
        .map(|c| (Arc::from(c.id.as_str()), CameraSite { grid: c.grid.clone(), location: c.location }))
        .collect();
    let cooldown = TimeDelta::milliseconds((config.cases.cooldown_s * 1000.0) as i64);
    let duplicates = DuplicateRule {
        radius_m: config.cases.duplicate_radius_m,
        window: TimeDelta::milliseconds((config.cases.duplicate_window_s * 1000.0) as i64),
    };
    let citizens =
        CitizenIntake { store: store.clone(), evidence: evidence.clone(), policy: policy.clone(), duplicates };
    let settings = EngineSettings { policy: policy.clone(), cooldown, duplicates };
    let mut engine =
        CaseEngine::start(store.clone(), evidence.clone(), sites, alerting_metrics.clone(), settings).await?;
    let closed_cases = engine.closed_cases();
    let (notify_stop_tx, notify_stop_rx) = oneshot::channel::<()>();
    let notifier = notifier(&config, store.clone(), alerting_metrics.clone(), policy.calendar().utc_offset())?;
    let notifier = tokio::spawn(notifier.run(async move {
        let _ = notify_stop_rx.await;
    }));
    let engine_task = tokio::spawn(async move {
        while let Some(violation) = violations_rx.recv().await {
            engine.handle_logged(violation).await;
        }
        info!("case engine drained and stopped");
    });

    // HTTP.
    let tokens: Vec<ApiToken> = config
        .auth
        .tokens
        .iter()
        .map(|t| ApiToken {
            name: t.name.clone(),
            role: t.role,
            sha256: t.sha256.clone(),
            department: t.department.clone(),
        })
        .collect();
    let state = ApiState {
        store: store.clone(),
        evidence,
        auth: Arc::new(
            Authenticator::new(&tokens).with_rate_limit(config.server.rate_limit_per_s, config.server.rate_limit_burst),
        ),
        registry,
        cameras: Arc::new(statuses),
        sensors: sensor_board,
        policy: policy.clone(),
        closed_cases,
        whistles: config.whistle_policy(),
        grids: Arc::new(
            config
                .grids
                .iter()
                .map(|g| Grid { code: g.code.clone(), name: g.name.clone(), area: g.area.clone() })
                .collect(),
        ),
        views,
        citizens,
        photos: Some(photos),
    };
    let supervision = tokio::spawn(supervise(
        store.clone(),
        policy,
        Escalation::new(config.notify.escalation.clone()),
        alerting_metrics,
        Duration::from_secs_f64(config.cases.supervise_every_s),
    ));
    let (http_stop_tx, http_stop_rx) = oneshot::channel::<()>();
    let http = tokio::spawn(
        axum::serve(listener, api::router(state))
            .with_graceful_shutdown(async move {
                let _ = http_stop_rx.await;
            })
            .into_future(),
    );
    info!(listen = %config.server.listen, cameras = config.cameras.len(), "sharpeyes running");

    crate::shutdown::first_signal().await;
    reloader.abort();
    supervision.abort();
    drop(shutdown_tx);
    let _ = sensors_stop_tx.send(());
    if let Some(sensors) = sensors {
        sensors.await?;
    }
    tokio::task::spawn_blocking(move || {
        for thread in camera_threads {
            let _ = thread.join();
        }
        // The decoder threads finish what the cameras handed them and end with the last handle.
        drop(decoders);
        frames.close();
        let _ = inference.join();
        let _ = rules.join();
    })
    .await?;
    engine_task.await?;
    // What is not delivered yet stays in the outbox for the next start.
    let _ = notify_stop_tx.send(());
    notifier.await?;
    let _ = http_stop_tx.send(());
    // Open connections (an SSE client, a slow download) get a moment, not a veto over the exit.
    let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
    store.close().await;
    info!("sharpeyes stopped");
    Ok(())
}

/// The broker connection settings of `[mqtt]`.
fn mqtt_settings(mqtt: &MqttConfig) -> anyhow::Result<MqttSettings> {
    let mut settings = MqttSettings::from_url(&mqtt.url, &mqtt.client_id, &mqtt.prefix)
        .map_err(|message| anyhow::anyhow!("mqtt.url: {message}"))?;
    settings.max_payload = mqtt.max_payload_bytes;
    settings.ca_file = mqtt.ca_file.clone();
    Ok(settings)
}

/// The notifier of `[notify]`: its receivers, routing tree and retries.
fn notifier(
    config: &Config,
    store: Store,
    metrics: AlertingMetrics,
    utc_offset: FixedOffset,
) -> anyhow::Result<Notifier> {
    let notify = &config.notify;
    let mut receivers = HashMap::new();
    let mut publisher = None;
    for receiver in &notify.receivers {
        let reached = match receiver.kind {
            ReceiverKind::Webhook => Receiver::Webhook(Webhook {
                url: receiver.url.parse().with_context(|| format!("notify receiver {}", receiver.id))?,
                secret: receiver.key().with_context(|| format!("notify receiver {}: no secret", receiver.id))?,
                timeout: Duration::from_secs_f64(receiver.timeout_s),
            }),
            ReceiverKind::Mqtt => {
                if publisher.is_none() {
                    let mqtt = config.mqtt.as_ref().context("an mqtt receiver needs [mqtt]")?;
                    publisher = Some(MqttPublisher::start(&mqtt_settings(mqtt)?)?);
                }
                Receiver::Mqtt(publisher.clone().expect("started above"))
            }
        };
        receivers.insert(receiver.id.clone(), reached);
    }
    let retry = RetryPolicy {
        max_attempts: notify.max_attempts,
        min_delay: Duration::from_secs_f64(notify.retry_min_s),
        max_delay: Duration::from_secs_f64(notify.retry_max_s),
    };
    let maintenance = config
        .cameras
        .iter()
        .map(|camera| (camera.id.clone(), camera.maintenance.iter().filter_map(crate::config::parse_window).collect()))
        .collect();
    let mutes = Mutes { maintenance, utc_offset };
    Ok(Notifier::new(store, (notify.route.clone(), mutes), receivers, retry, metrics)
        .with_escalation(Escalation::new(notify.escalation.clone())))
}

/// Every `every`, puts the cases past their deadline under supervision and escalates the cases nobody
/// acknowledged in time (until aborted at shutdown).
async fn supervise(
    store: Store,
    policy: DeadlinePolicy,
    escalation: Escalation,
    metrics: AlertingMetrics,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        if let Err(error) = sharpeyes_alerting::cases::supervise_overdue(&store, &policy, &metrics, Utc::now()).await {
            warn!(%error, "looking for overdue cases failed; trying again at the next tick");
        }
        if let Err(error) = escalation.pass(&store, &metrics, Utc::now()).await {
            warn!(%error, "escalating unacknowledged cases failed; trying again at the next tick");
        }
    }
}

/// Where valid sensor events go: the API's board, then the sensor rules, whose violations join the
/// camera violations on their way to the case engine.
struct SensorConsumer {
    board: Arc<SensorBoard>,
    rules: SensorRules,
    violations_tx: mpsc::Sender<Violation>,
}

impl SensorConsumer {
    /// Runs until the source stops. The rules are also evaluated every second without events: a
    /// condition that holds long enough becomes a violation even if the sensor says nothing more.
    async fn run(mut self, mut events_rx: mpsc::Receiver<SensorMessage>) {
        let mut clock = tokio::time::interval(SENSOR_RULE_TICK);
        // Events are taken as they have arrived, many per wake-up when the sensors are busy.
        let mut events = Vec::with_capacity(SENSOR_EVENT_BATCH);
        loop {
            let violations: Vec<_> = tokio::select! {
                taken = events_rx.recv_many(&mut events, SENSOR_EVENT_BATCH) => {
                    if taken == 0 {
                        break;
                    }
                    events
                        .drain(..)
                        .flat_map(|SensorMessage { event, receipt }| {
                            self.board.record(&event);
                            // A message that confirms a violation is acknowledged once its case is
                            // filed; any other as soon as it has been evaluated.
                            let mut violations = self.rules.observe(&event);
                            for violation in &mut violations {
                                violation.receipt = Some(receipt.clone());
                            }
                            violations
                        })
                        .collect()
                }
                _ = clock.tick() => self.rules.tick(chrono::Utc::now()),
            };
            for violation in violations {
                if self.violations_tx.send(Violation::Sensor(violation)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// What the MQTT connection serves: sensor ingest, and camera status published on change.
struct SensorIngest<'a> {
    mqtt: &'a MqttConfig,
    sensors: &'a [SensorConfig],
    cameras: &'a [Arc<CameraStatus>],
    registry: &'a prometheus::Registry,
}

impl SensorIngest<'_> {
    /// The MQTT source, its consumer and the camera status publishers, ready to run until `stop` fires.
    fn start(
        self,
        consumer: SensorConsumer,
        stop: oneshot::Receiver<()>,
    ) -> anyhow::Result<impl std::future::Future<Output = ()> + use<>> {
        let settings = mqtt_settings(self.mqtt)?;
        let devices = DeviceRegistry::new(self.sensors.iter().map(|s| Device {
            id: s.id.as_str().into(),
            kind: s.kind,
            grid: s.grid.as_str().into(),
            location: s.location,
        }));
        let metrics = SensorMetrics::register(self.registry)?;
        let (events_tx, events_rx) = mpsc::channel(1024);
        let source = SensorSource::new(settings, devices, events_tx, metrics)?;
        let publishers: Vec<_> = self
            .cameras
            .iter()
            .map(|status| {
                tokio::spawn(publish_camera_status(source.client(), self.mqtt.prefix.clone(), status.clone()))
            })
            .collect();
        Ok(async move {
            let consumer = tokio::spawn(consumer.run(events_rx));
            source
                .run(async move {
                    let _ = stop.await;
                })
                .await;
            publishers.iter().for_each(tokio::task::JoinHandle::abort);
            let _ = consumer.await;
        })
    }
}

fn sensor_rule(rule: &SensorRuleConfig, repeat: TimeDelta) -> SensorRule {
    let condition = match (rule.equals, rule.above) {
        (Some(value), _) => Condition::State { field: rule.field.clone(), value },
        (None, above) => {
            let above = above.unwrap_or(f64::INFINITY);
            Condition::Threshold { field: rule.field.clone(), above, clear_below: rule.clear_below.unwrap_or(above) }
        }
    };
    SensorRule {
        id: rule.id.as_str().into(),
        kind: rule.kind,
        devices: rule.devices.clone(),
        condition,
        hold: millis(rule.for_s),
        repeat,
        category: rule.category,
    }
}

fn camera_settings(camera: &CameraConfig) -> CameraSettings {
    let mut settings = CameraSettings::new(camera.id.as_str(), camera.url.as_str());
    settings.decode = match camera.decode {
        DecodeKind::Keyframes => DecodeMode::Keyframes,
        DecodeKind::Sampled => DecodeMode::Sampled { fps: camera.sample_fps.unwrap_or(1.0) },
    };
    settings.transport = match camera.transport {
        TransportKind::Tcp => Transport::Tcp,
        TransportKind::Udp => Transport::Udp,
    };
    settings.codec = camera.codec;
    settings.decoder = camera.decoder;
    settings.max_width = camera.max_width;
    settings.latency = Duration::from_millis(camera.latency_ms);
    settings.stall_timeout = Duration::from_secs_f64(camera.stall_timeout_s);
    settings
}

fn zones(camera: &CameraConfig) -> Vec<Zone> {
    camera
        .zones
        .iter()
        .map(|z| {
            let mut zone = Zone::new(z.id.as_str(), z.kind, z.polygon.clone());
            zone.classes = z.classes.clone();
            zone.min_score = z.min_score;
            zone.min_area = z.min_area;
            zone.max_area = z.max_area;
            zone.active = z.active.as_ref().and_then(crate::config::parse_window);
            z.masks.iter().for_each(|mask| zone.add_mask(mask.clone()));
            zone
        })
        .collect()
}

/// Detector classes of a dwell rule: the configuration's, else the manifest's `categories.<category>`.
/// For litter the shipped COCO manifest maps stand-ins (marked as proxies); it maps nothing for
/// construction, so that rule stays idle until a site-trained model's manifest names its classes.
fn category_classes(rule: &DwellConfig, manifest: &sharpeyes_inference::Manifest, category: &str) -> Vec<String> {
    rule.classes.clone().unwrap_or_else(|| manifest.category_classes(category).to_vec())
}

fn dwell_rule_config(
    rules: &RulesConfig,
    rule: &DwellConfig,
    classes: Vec<String>,
    utc_offset: FixedOffset,
) -> DwellRuleConfig {
    DwellRuleConfig {
        min_dwell: millis(rule.min_dwell_s),
        classes,
        min_score: rule.min_score,
        min_presence: rule.min_presence,
        tracker: TrackerConfig {
            stationary_iou: rule.stationary_iou,
            max_gap: millis(rule.track_max_gap_s),
            ..TrackerConfig::default()
        },
        utc_offset,
        repeat: millis(rules.repeat_s),
    }
}

/// `seconds` as a duration, to the millisecond.
fn millis(seconds: f64) -> TimeDelta {
    TimeDelta::milliseconds((seconds * 1000.0) as i64)
}
