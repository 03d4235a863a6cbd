//! The seeing half of a node (roles `all` and `edge`): cameras → inference → rules, and MQTT sensors →
//! sensor rules, both ending in one channel of violations.
//!
//! Shutdown: only the sources get the signal. When the cameras have stopped the frame queue closes,
//! the detector drains it and the rules drain theirs; then the violations channel closes.

use std::{collections::HashMap, sync::Arc, time::Duration};

use sharpeyes_alerting::{
    clock,
    rules::{CameraViews, RuleSettings, RulesStage, RulesUpdate, SensorStage, Violation, Zone, ZoneConfig},
};
use sharpeyes_inference::{Detector, InferenceMetrics, InferenceStage};
use sharpeyes_ingest::{
    FrameQueue,
    camera::{CameraBoard, CameraCollector, KeyframeDecoders, RtspClients},
    mqtt::{
        DeviceRegistry, MqttConfig, SensorBoard, SensorConfig, SensorMetrics, SensorSource, publish_board_statuses,
    },
};
use tokio::sync::{mpsc, oneshot};

use super::{feeds::CameraFeeds, mqtt_settings};
use crate::config::{CameraConfig, Config};

/// Detections waiting for the rules (the sender blocks when full).
const DETECTIONS_CAPACITY: usize = 64;

/// The running cameras, detector, rules and sensor ingest of this node.
pub struct Analysis {
    /// The running cameras' streams (cameras are added and removed at runtime through it).
    pub feeds: CameraFeeds,
    /// Each running camera's status, for the API and `/metrics`.
    pub statuses: CameraBoard,
    /// The latest analysed frame and detections of each camera, for the tuning view.
    pub views: Arc<CameraViews>,
    /// The latest reading of each sensor.
    pub sensor_board: Arc<SensorBoard>,
    /// Changes to the running rules (a camera's zones), applied before the next analysed frame.
    pub rule_updates: crossbeam_channel::Sender<RulesUpdate>,
    /// The settings the cameras' rules run with, SIGHUP's changes included (what previews of zone changes
    /// build with).
    pub rule_settings: Arc<std::sync::RwLock<RuleSettings>>,
    stop: AnalysisStop,
}

/// What stopping the analysis takes, in order.
struct AnalysisStop {
    reloader: tokio::task::JoinHandle<()>,
    feeds: CameraFeeds,
    sensors_stop: oneshot::Sender<()>,
    sensors: Option<tokio::task::JoinHandle<()>>,
    frames: Arc<FrameQueue>,
    inference: std::thread::JoinHandle<()>,
    rules: std::thread::JoinHandle<()>,
}

impl Analysis {
    /// Starts `cameras` (this node's share of the configuration's), the detector, the rules and, with
    /// `[mqtt]`, the sensor ingest of `sensors` (the node's share of the devices; `None`: all);
    /// every violation goes to `violations`. `reading` is what SIGHUP reads (the configuration as last
    /// read) with the dwell rules' sections the API set, which win over the file's.
    pub fn start(
        config: &Config,
        reading: (crate::reload::Configs, crate::reload::RuleOverrides),
        cameras: &[&CameraConfig],
        sensors: Option<Vec<String>>,
        registry: &prometheus::Registry,
        violations: mpsc::Sender<Violation>,
        detector: Detector,
    ) -> anyhow::Result<Self> {
        let frames = FrameQueue::new(config.detector.queue_per_camera);
        // Key-frames are decoded only while the detector has room for two calls' worth of pictures.
        let decoders = KeyframeDecoders::spawn_per_core(frames.clone(), detector.call_batch().max(1) * 2)?;
        let clients = RtspClients::start_per_core()?;
        let feeds = CameraFeeds::new(frames.clone(), decoders, clients);
        for camera in cameras {
            feeds.start(camera)?;
        }
        let statuses = feeds.board();
        registry.register(Box::new(CameraCollector::new(statuses.clone())))?;

        let (detections_tx, detections_rx) = crossbeam_channel::bounded(DETECTIONS_CAPACITY);
        let dwell = crate::reload::dwell_rules(config, detector.manifest());
        let (reload_tx, reload_rx) = crossbeam_channel::unbounded();
        let (rule_updates, updates_rx) = crossbeam_channel::unbounded();
        let (configs, overrides) = reading;
        let reloader = tokio::spawn(crate::reload::on_sighup(
            configs,
            overrides,
            detector.manifest().clone(),
            reload_tx,
            rule_updates.clone(),
        ));
        let max_wait = Duration::from_millis(config.detector.max_wait_ms);
        let inference_metrics = InferenceMetrics::register(registry)?;
        let inference =
            InferenceStage::new(detector, frames.clone(), detections_tx, reload_rx, inference_metrics, max_wait)
                .spawn()?;
        let offset = crate::reload::city_offset(config);
        let settings = RuleSettings {
            dwell,
            scene: config.rules.scene_change(offset),
            static_objects: Arc::new(config.rules.static_object.build(offset)),
        };
        let camera_zones = zones_by_camera(cameras.iter().copied());
        let views = Arc::new(CameraViews::new(camera_zones.clone()));

        let (sensors_stop, sensors_stop_rx) = oneshot::channel::<()>();
        let sensor_board = Arc::new(SensorBoard::default());
        let sensors = match &config.mqtt {
            Some(mqtt) => {
                let rules = config.rules.sensor_rules();
                let consumer = SensorStage::new(sensor_board.clone(), rules, violations.clone(), clock::system());
                let ingest = SensorIngest {
                    mqtt,
                    sensors: &config.sensors,
                    owned: sensors,
                    cameras: statuses.clone(),
                    registry,
                };
                Some(tokio::spawn(ingest.start(consumer, sensors_stop_rx)?))
            }
            None => None,
        };
        let rules = RulesStage::new(settings, &camera_zones, detections_rx, violations, updates_rx, views.clone());
        let rule_settings = rules.settings();
        let rules = rules.spawn()?;
        Ok(Self {
            feeds: feeds.clone(),
            statuses,
            views,
            sensor_board,
            rule_updates,
            rule_settings,
            stop: AnalysisStop { reloader, feeds, sensors_stop, sensors, frames, inference, rules },
        })
    }

    /// Stops the sources and waits for every stage to drain (the violations channel closes then).
    pub async fn stop(self) -> anyhow::Result<()> {
        let AnalysisStop { reloader, feeds, sensors_stop, sensors, frames, inference, rules } = self.stop;
        reloader.abort();
        let cameras = feeds.stop_all();
        let _ = sensors_stop.send(());
        if let Some(sensors) = sensors {
            sensors.await?;
        }
        tokio::task::spawn_blocking(move || {
            for thread in cameras.threads {
                let _ = thread.join();
            }
            // The decoder threads finish what the cameras handed them and end with the last handle.
            drop(cameras.decoders);
            frames.close();
            let _ = inference.join();
            let _ = rules.join();
        })
        .await?;
        Ok(())
    }
}

/// Each camera's zones.
fn zones_by_camera<'a>(cameras: impl Iterator<Item = &'a CameraConfig>) -> HashMap<Arc<str>, Vec<Zone>> {
    cameras
        .map(|camera| (Arc::from(camera.id.as_str()), camera.zones.iter().map(ZoneConfig::build).collect()))
        .collect()
}

/// What the MQTT connection serves: sensor ingest, and camera status published on change (cameras
/// added and removed at runtime included).
struct SensorIngest<'a> {
    mqtt: &'a MqttConfig,
    sensors: &'a [SensorConfig],
    /// The devices this node evaluates (`None`: all).
    owned: Option<Vec<String>>,
    cameras: CameraBoard,
    registry: &'a prometheus::Registry,
}

impl SensorIngest<'_> {
    /// The MQTT source, its consumer and the camera status publishers, ready to run until `stop` fires.
    fn start(
        self,
        consumer: SensorStage,
        stop: oneshot::Receiver<()>,
    ) -> anyhow::Result<impl std::future::Future<Output = ()> + use<>> {
        let settings = mqtt_settings(self.mqtt)?;
        let devices = DeviceRegistry::new(self.sensors.iter().map(SensorConfig::device));
        let metrics = SensorMetrics::register(self.registry)?;
        let (events_tx, events_rx) = mpsc::channel(1024);
        let mut source = SensorSource::new(settings, devices, events_tx, metrics)?;
        if let Some(owned) = self.owned {
            source = source.only_devices(owned);
        }
        let publisher = tokio::spawn(publish_board_statuses(source.client(), self.mqtt.prefix.clone(), self.cameras));
        Ok(async move {
            let consumer = tokio::spawn(consumer.run(events_rx));
            source
                .run(async move {
                    let _ = stop.await;
                })
                .await;
            publisher.abort();
            let _ = consumer.await;
        })
    }
}
