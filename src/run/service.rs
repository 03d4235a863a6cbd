//! The case half of a node (roles `all` and `center`): the case engine filing violations, the leader's
//! passes (notifications, supervision, escalation) and the HTTP API.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use sharpeyes_alerting::{
    AlertingMetrics, QualityMetrics,
    api::{
        self, ApiState, CameraChanges, ConfigView, EdgeReads, MapSettings, Open311Settings, PublicBlur, RuleChanges,
        SensorPlace, StreamLimit, ZoneKeeper,
        server::{self, ConnectionMetrics},
    },
    cases::{GridConfig, deadlines::DeadlinePolicy, duplicates::DuplicateRule, evidence::EvidenceStore},
    casework::{
        CameraSites, CaseEngine, EngineSettings,
        citizen::{CitizenIntake, PhotoAnalyser},
        plates::{PlateMetrics, PlateQueue, PlateWorker, erase_expired_plates},
    },
    clock::{self, SharedClock},
    cluster::leader,
    notify::{Escalation, MaintenanceWindows, Mutes, Notifier},
    rules::{CameraViews, Violation},
    store::Store,
};
use sharpeyes_inference::{plate::PlateReader, runtime::SessionOptions};
use sharpeyes_ingest::{Problem, camera::CameraBoard, mqtt::SensorBoard};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use super::mqtt_settings;
use crate::config::Config;

/// What the API shows of the node's cameras and sensors (on a center, the edges' through `edges`).
pub struct Seen {
    /// The running cameras' statuses.
    pub statuses: CameraBoard,
    /// Latest analysed frames and zones.
    pub views: Arc<CameraViews>,
    /// Latest sensor readings.
    pub sensors: Arc<SensorBoard>,
    /// The detector for citizen photos.
    pub photos: Option<Arc<PhotoAnalyser>>,
    /// Where zone changes take effect: this node's rules, or (a center) the edges'.
    pub zones: ZoneKeeper,
    /// On a center, the edges' reads of the cameras they run.
    pub edges: Option<EdgeReads>,
    /// The configuration as last read, without secrets.
    pub config: ConfigView,
    /// Where each camera is (the case engine files in its grid; the map shows it).
    pub sites: CameraSites,
    /// Adds, changes and removes the running cameras (none on a center).
    pub camera_changes: Option<CameraChanges>,
    /// Changes the running dwell rules' settings (none on a center).
    pub rule_changes: Option<RuleChanges>,
    /// Each camera's maintenance windows, which mute its notifications.
    pub maintenance: MaintenanceWindows,
}

/// The running case engine, leader loop and HTTP server.
pub struct CaseService {
    store: Store,
    engine: tokio::task::JoinHandle<()>,
    leader_stop: oneshot::Sender<()>,
    leader: tokio::task::JoinHandle<()>,
    http_stop: oneshot::Sender<()>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Opens the case store of `[server]`: PostgreSQL when `database` is set, else SQLite in `data_dir`.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let data_dir = &config.server.data_dir;
    Ok(match &config.server.database {
        Some(url) => Store::open_postgres(url)
            .await
            .with_context(|| format!("server.database: opening {}", sharpeyes_ingest::urls::redact_url(url)))?,
        None => Store::open_sqlite(data_dir)
            .await
            .with_context(|| format!("opening the case database in '{}'", data_dir.display()))?,
    })
}

impl CaseService {
    /// Starts filing `violations` (`shared`: other centers file into the same database), the leader
    /// loop and the API on `listener`.
    pub async fn start(
        config: &Config,
        store: Store,
        registry: prometheus::Registry,
        seen: Seen,
        violations: mpsc::Receiver<Violation>,
        listener: tokio::net::TcpListener,
        shared: bool,
    ) -> anyhow::Result<Self> {
        let metrics = AlertingMetrics::register(&registry)?;
        let clock = clock::system();
        let evidence = EvidenceStore::new(&config.server.data_dir);
        let policy = config
            .cases
            .deadline_policy()
            .map_err(|problems| anyhow::anyhow!("invalid case settings:\n  {}", Problem::list(&problems, "\n  ")))?;
        let duplicates = DuplicateRule {
            radius_m: config.cases.duplicate_radius_m,
            window: config.cases.duplicate_window_s.time_delta(),
        };
        let citizens =
            CitizenIntake { store: store.clone(), evidence: evidence.clone(), policy: policy.clone(), duplicates };
        let settings = EngineSettings {
            policy: policy.clone(),
            cooldown: config.cases.cooldown_s.time_delta(),
            duplicates,
            shared,
            clock: clock.clone(),
        };
        let mut engine =
            CaseEngine::start(store.clone(), evidence.clone(), seen.sites.clone(), metrics.clone(), settings).await?;
        if config.plates.enabled {
            engine = engine.with_plates(plate_queue(config, &store, &evidence, &registry)?);
        }
        let engine = tokio::spawn(engine.run(violations));

        let (leader_stop, leader_stop_rx) = oneshot::channel::<()>();
        let leader = {
            let (config, store, evidence, metrics, policy, clock) =
                (config.clone(), store.clone(), evidence.clone(), metrics.clone(), policy.clone(), clock.clone());
            let maintenance = seen.maintenance.clone();
            tokio::spawn(leader::lead(
                store.clone(),
                move |stop| {
                    let passes = LeaderPasses {
                        store: store.clone(),
                        evidence: evidence.clone(),
                        metrics: metrics.clone(),
                        policy: policy.clone(),
                        clock: clock.clone(),
                        plate_retention_days: config.plates.enabled.then_some(config.plates.retention_days),
                        maintenance: maintenance.clone(),
                    };
                    passes.start(&config, stop)
                },
                async move {
                    let _ = leader_stop_rx.await;
                },
            ))
        };

        let connections = ConnectionMetrics::register(&registry)?;
        let quality = QualityMetrics::register(&registry)?;
        let state = ApiState {
            store: store.clone(),
            evidence,
            auth: Arc::new(
                config
                    .auth
                    .authenticator(config.server.rate_limit_per_s, config.server.rate_limit_burst)
                    .with_failed_login_limit(config.server.failed_logins_per_minute),
            ),
            registry,
            cameras: seen.statuses,
            sensors: seen.sensors,
            policy,
            whistles: config.cases.whistle_policy(&config.departments),
            grids: Arc::new(config.grids.iter().map(GridConfig::grid).collect()),
            views: seen.views,
            citizens,
            photos: seen.photos,
            zones: seen.zones,
            edges: seen.edges,
            camera_changes: seen.camera_changes,
            rule_changes: seen.rule_changes,
            clock,
            streams: Arc::new(StreamLimit::new(config.server.streams_per_token)),
            open311: Arc::new(Open311Settings {
                config: config.open311.clone(),
                started_at: chrono::Utc::now(),
                blur: public_blur(&config)?,
            }),
            quality,
            config: seen.config,
            dataset_classes: Arc::new(
                sharpeyes_inference::Manifest::load(&config.detector.manifest).map(|m| m.classes).unwrap_or_default(),
            ),
            map: MapSettings {
                config: config.map.clone(),
                cameras: seen.sites,
                sensors: Arc::new(
                    config
                        .sensors
                        .iter()
                        .map(|s| SensorPlace { device: s.id.clone(), grid: s.grid.clone(), location: s.location })
                        .collect(),
                ),
            },
        };
        let (http_stop, http_stop_rx) = oneshot::channel::<()>();
        let http = tokio::spawn(server::serve(
            listener,
            api::router(state),
            config.server.connection_limits(),
            Some(connections),
            async move {
                let _ = http_stop_rx.await;
            },
        ));
        Ok(Self { store, engine, leader_stop, leader, http_stop, http })
    }

    /// Waits for the engine to file what is left (its channel must close first), stops the leader's
    /// passes (what is not delivered stays in the outbox), then the API.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.engine.await?;
        let _ = self.leader_stop.send(());
        self.leader.await?;
        let _ = self.http_stop.send(());
        // Open connections (an SSE client, a slow download) get a moment, not a veto over the exit.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.http).await;
        self.store.close().await;
        Ok(())
    }
}

/// What the passes only the leader runs work with.
struct LeaderPasses {
    store: Store,
    evidence: EvidenceStore,
    metrics: AlertingMetrics,
    policy: DeadlinePolicy,
    clock: SharedClock,
    /// `[plates] retention_days` when plates are read.
    plate_retention_days: Option<u32>,
    /// Each camera's maintenance windows.
    maintenance: MaintenanceWindows,
}

impl LeaderPasses {
    /// Starts the notifier, and every `cases.supervise_every_s` the supervision of overdue cases and
    /// the escalation of unacknowledged ones; until `stop` fires.
    fn start(self, config: &Config, stop: oneshot::Receiver<()>) -> tokio::task::JoinHandle<()> {
        let mutes = Mutes { maintenance: self.maintenance.clone(), utc_offset: self.policy.calendar().utc_offset() };
        let notifier = notifier(config, self.store.clone(), self.metrics.clone(), mutes)
            .map(|notifier| notifier.with_clock(self.clock.clone()));
        let escalation = Escalation::new(config.notify.escalation.clone());
        let every = config.cases.supervise_every_s.duration();
        tokio::spawn(async move {
            let notifier = match notifier {
                Ok(notifier) => notifier,
                Err(error) => {
                    warn!(error = %format!("{error:#}"), "cannot start the notifier");
                    return;
                }
            };
            let supervision = tokio::spawn(self.supervise(escalation, every));
            notifier
                .run(async move {
                    let _ = stop.await;
                })
                .await;
            supervision.abort();
        })
    }

    /// Every `every`, puts the cases past their deadline under supervision, escalates the cases
    /// nobody acknowledged in time and erases the plates past their retention (until aborted).
    async fn supervise(self, escalation: Escalation, every: Duration) {
        let Self { store, evidence, metrics, policy, clock, plate_retention_days, .. } = self;
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            if let Err(error) =
                sharpeyes_alerting::casework::supervise_overdue(&store, &policy, &metrics, clock.now()).await
            {
                warn!(%error, "looking for overdue cases failed; trying again at the next tick");
            }
            if let Err(error) = escalation.pass(&store, &metrics, clock.now()).await {
                warn!(%error, "escalating unacknowledged cases failed; trying again at the next tick");
            }
            if let Some(days) = plate_retention_days
                && let Err(error) = erase_expired_plates(&store, &evidence, days, clock.now()).await
            {
                warn!(%error, "erasing expired plates failed; trying again at the next tick");
            }
        }
    }
}

/// The plate text detector that blurs the text of the images the public sees through Open311; none
/// when the public sees none.
fn public_blur(config: &Config) -> anyhow::Result<Option<Arc<PublicBlur>>> {
    if !config.open311.public_read || config.open311.public_media == 0 {
        return Ok(None);
    }
    let blur = PublicBlur::open(&config.plates.detector, SessionOptions::default()).with_context(|| {
        format!(
            "[open311] public_media: opening the plate text detector '{}' that blurs plates in public images \
             (set open311.public_media = 0 to show the public no images)",
            config.plates.detector.display()
        )
    })?;
    Ok(Some(Arc::new(blur)))
}

/// Opens the plate reader of `[plates]` and starts its worker; returns the queue that feeds it.
fn plate_queue(
    config: &Config,
    store: &Store,
    evidence: &EvidenceStore,
    registry: &prometheus::Registry,
) -> anyhow::Result<PlateQueue> {
    let plates = &config.plates;
    let reader = PlateReader::open(&plates.detector, &plates.recogniser, SessionOptions::default())
        .context("[plates]: opening the plate reader (set plates.enabled = false to run without it)")?
        .with_min_score(plates.min_score);
    let metrics = PlateMetrics::register(registry)?;
    let runtime = tokio::runtime::Handle::current();
    Ok(PlateWorker::spawn(reader, store.clone(), evidence.clone(), metrics, plates.queue, runtime)?)
}

/// The notifier of `[notify]`, muting what `mutes` mutes.
fn notifier(config: &Config, store: Store, metrics: AlertingMetrics, mutes: Mutes) -> anyhow::Result<Notifier> {
    let mqtt = config.mqtt.as_ref().map(mqtt_settings).transpose()?;
    Ok(config.notify.build(store, metrics, mutes, mqtt.as_ref())?)
}
