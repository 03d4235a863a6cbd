//! The service configuration (TOML): parsing with key paths in errors, then a validation pass that
//! collects every problem. `config/reference.toml` documents every key.

mod places;
mod validate;

pub use sharpeyes_alerting::calendar::parse_window;
pub use sharpeyes_ingest::Problem;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use sharpeyes_alerting::{
    calendar::{self, WorkCalendar},
    cases::{
        Role,
        deadlines::DeadlinePolicy,
        grids::Area,
        taxonomy::{self, Taxonomy},
        whistles::{Department, WhistleLevel, WhistlePolicy},
    },
    notify::NotifyConfig,
    rules::{Category, RulesConfig, ZoneConfig},
};
use sharpeyes_inference::runtime::Provider;
use sharpeyes_ingest::{
    camera::{Codec, Decoder},
    mqtt::SensorKind,
};

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Config {
    /// HTTP listener and data directory.
    #[serde(default)]
    pub server: ServerConfig,
    /// The detector.
    #[serde(default)]
    pub detector: DetectorConfig,
    /// Grid cells (区 → 街道 → 社区 → 网格).
    #[serde(default)]
    pub grids: Vec<GridConfig>,
    /// RTSP cameras.
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
    /// Rule settings.
    #[serde(default)]
    pub rules: RulesConfig,
    /// API access.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The MQTT broker of the city's sensors (no sensor ingest when absent).
    pub mqtt: Option<MqttConfig>,
    /// The sensor registry: which device is what, and where.
    #[serde(default)]
    pub sensors: Vec<SensorConfig>,
    /// Case taxonomy, working calendar and cooldown.
    #[serde(default)]
    pub cases: CasesConfig,
    /// The department directory: who handles which categories in which grids; whistles call them.
    #[serde(default)]
    pub departments: Vec<DepartmentConfig>,
    /// Where case changes are sent.
    #[serde(default)]
    pub notify: NotifyConfig,
    /// Edge and center nodes (`run --role edge|center`).
    #[serde(default)]
    pub cluster: ClusterConfig,
}

/// `[cluster]`: how edge nodes share the cameras and how centers share the violations.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClusterConfig {
    /// This node's name (default: `--node`, else `$SHARPEYES_NODE`, else the host name). It names the
    /// node's MQTT sessions, so keep it stable across restarts.
    pub node: Option<String>,
    /// The edge nodes that share the cameras (rendezvous hashing); empty: this node takes them all.
    #[serde(default)]
    pub edges: Vec<String>,
    /// Instead of `edges`: the replica count of the edge StatefulSet, whose pods are `<set>-0..N-1`
    /// (taken from this node's name).
    pub edge_replicas: Option<u32>,
    /// MQTT v5 share group of the centers: each violation goes to one center of the group.
    pub share_group: Option<String>,
    /// Where an edge node keeps violations the broker has not acknowledged (default `data_dir/spool`).
    pub spool_dir: Option<PathBuf>,
    /// Environment variable holding the key that edges sign violation messages with and centers
    /// check (HMAC-SHA256): a center then files nothing another broker client made up.
    pub relay_secret_env: Option<String>,
}

impl ClusterConfig {
    /// The relay's signing key, from `relay_secret_env`.
    pub fn relay_key(&self) -> Option<Vec<u8>> {
        self.relay_secret_env.as_ref().and_then(|name| std::env::var(name).ok()).map(String::into_bytes)
    }
}

/// `[[departments]]`.
#[derive(Clone, Debug, Deserialize)]
pub struct DepartmentConfig {
    /// Unique id, as whistles and report-ins name it.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Case categories it handles.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Grid code prefixes it serves (6 digits: a district; 9: a street; 12: a community; 15: a grid).
    #[serde(default)]
    pub grids: Vec<String>,
}

/// `[cases.whistles]`: minutes a called department has to report in, per level.
#[derive(Clone, Debug, Deserialize)]
pub struct WhistleTimes {
    /// 一般.
    #[serde(default = "default_ordinary_minutes")]
    pub ordinary_minutes: f64,
    /// 重大.
    #[serde(default = "default_major_minutes")]
    pub major_minutes: f64,
    /// 紧急.
    #[serde(default = "default_urgent_minutes")]
    pub urgent_minutes: f64,
}

const fn default_ordinary_minutes() -> f64 {
    240.0
}
const fn default_major_minutes() -> f64 {
    120.0
}
const fn default_urgent_minutes() -> f64 {
    30.0
}

impl Default for WhistleTimes {
    fn default() -> Self {
        Self {
            ordinary_minutes: default_ordinary_minutes(),
            major_minutes: default_major_minutes(),
            urgent_minutes: default_urgent_minutes(),
        }
    }
}

impl Config {
    /// The department directory and the whistle report-in times.
    pub fn whistle_policy(&self) -> WhistlePolicy {
        let departments = self
            .departments
            .iter()
            .map(|d| Department {
                id: d.id.clone(),
                name: d.name.clone(),
                categories: d.categories.iter().map(|c| c.as_str().to_owned()).collect(),
                grids: d.grids.clone(),
            })
            .collect();
        let times = &self.cases.whistles;
        let minutes = |m: f64| std::time::Duration::from_secs_f64(m.max(0.0) * 60.0);
        WhistlePolicy::new(
            departments,
            HashMap::from([
                (WhistleLevel::Ordinary, minutes(times.ordinary_minutes)),
                (WhistleLevel::Major, minutes(times.major_minutes)),
                (WhistleLevel::Urgent, minutes(times.urgent_minutes)),
            ]),
        )
    }
}

/// `[cases]`.
#[derive(Clone, Debug, Deserialize)]
pub struct CasesConfig {
    /// Categories, codes, urgencies and time limits; the shipped `config/taxonomy.toml` when absent.
    pub taxonomy: Option<PathBuf>,
    /// Working hours and holidays for deadlines; the shipped `config/calendar.toml` when absent.
    pub calendar: Option<PathBuf>,
    /// GeoJSON FeatureCollection of grid areas (`properties.code`, `properties.name`): adds the grids it
    /// maps and places cameras and sensors that name no grid by their location.
    pub grid_polygons: Option<PathBuf>,
    /// Seconds after a place's case closes before violations there open a new case.
    #[serde(default = "default_cooldown_s")]
    pub cooldown_s: f64,
    /// Seconds between two looks for cases past their deadline.
    #[serde(default = "default_supervise_every_s")]
    pub supervise_every_s: f64,
    /// `[cases.whistles]`.
    #[serde(default)]
    pub whistles: WhistleTimes,
    /// A new case this close (metres) to an open case of its category is linked as its duplicate.
    #[serde(default = "default_duplicate_radius_m")]
    pub duplicate_radius_m: f64,
    /// ... when that case was reported at most this many seconds before.
    #[serde(default = "default_duplicate_window_s")]
    pub duplicate_window_s: f64,
}

fn default_duplicate_radius_m() -> f64 {
    50.0
}
fn default_duplicate_window_s() -> f64 {
    1800.0
}

fn default_cooldown_s() -> f64 {
    600.0
}
fn default_supervise_every_s() -> f64 {
    30.0
}

impl Default for CasesConfig {
    fn default() -> Self {
        Self {
            taxonomy: None,
            calendar: None,
            grid_polygons: None,
            cooldown_s: default_cooldown_s(),
            supervise_every_s: default_supervise_every_s(),
            whistles: WhistleTimes::default(),
            duplicate_radius_m: default_duplicate_radius_m(),
            duplicate_window_s: default_duplicate_window_s(),
        }
    }
}

impl CasesConfig {
    /// The taxonomy and calendar (the configured files, or the shipped ones); every problem is named by
    /// its key and file.
    pub fn deadline_policy(&self) -> Result<DeadlinePolicy, Vec<Problem>> {
        fn load<T>(
            key: &str,
            path: Option<&Path>,
            shipped: &str,
            parse: fn(&str) -> Result<T, Vec<String>>,
        ) -> Result<T, Vec<Problem>> {
            let (text, label) = match path {
                Some(path) => (
                    std::fs::read_to_string(path).map_err(|err| {
                        vec![Problem { path: key.into(), message: format!("cannot read '{}': {err}", path.display()) }]
                    })?,
                    format!("{key} ({})", path.display()),
                ),
                None => (shipped.to_owned(), format!("{key} (shipped)")),
            };
            parse(&text).map_err(|messages| {
                messages.into_iter().map(|message| Problem { path: label.clone(), message }).collect()
            })
        }
        let taxonomy = load("cases.taxonomy", self.taxonomy.as_deref(), taxonomy::SHIPPED, Taxonomy::from_toml);
        let calendar = load("cases.calendar", self.calendar.as_deref(), calendar::SHIPPED, WorkCalendar::from_toml);
        match (taxonomy, calendar) {
            (Ok(taxonomy), Ok(calendar)) => Ok(DeadlinePolicy::new(taxonomy, calendar)),
            (taxonomy, calendar) => Err(taxonomy.err().into_iter().chain(calendar.err()).flatten().collect()),
        }
    }
}

/// `[mqtt]`.
#[derive(Clone, Debug, Deserialize)]
pub struct MqttConfig {
    /// `mqtt://[user:password@]host[:port]` or `mqtts://...` (TLS).
    pub url: String,
    /// Client id (the broker keeps its persistent session).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Topic prefix: `{prefix}/sensors/{device_id}/{kind}`, `{prefix}/deadletter/{device_id}`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Larger payloads are refused as oversized (and dead-lettered).
    #[serde(default = "default_max_payload_bytes")]
    pub max_payload_bytes: usize,
    /// PEM file of the CA of an `mqtts://` broker (default: the system's roots).
    pub ca_file: Option<PathBuf>,
}

fn default_client_id() -> String {
    "sharpeyes".into()
}
fn default_prefix() -> String {
    "sharpeyes".into()
}
const fn default_max_payload_bytes() -> usize {
    64 * 1024
}

/// `[[sensors]]`.
#[derive(Clone, Debug, Deserialize)]
pub struct SensorConfig {
    /// Device id, as in its topic.
    pub id: String,
    /// What it measures.
    pub kind: SensorKind,
    /// Grid cell it stands in; unset: the cell of `cases.grid_polygons` containing `location`.
    #[serde(default)]
    pub grid: String,
    /// `[longitude, latitude]`.
    pub location: Option<[f64; 2]>,
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerConfig {
    /// HTTP listen address.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// SQLite database and evidence images (relative to the working directory).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// PostgreSQL for the cases (`postgres://user@host/db`) instead of SQLite under `data_dir`; evidence
    /// images stay under `data_dir`.
    pub database: Option<String>,
    /// API requests per second per token, on average (429 with Retry-After beyond it).
    #[serde(default = "default_rate_limit_per_s")]
    pub rate_limit_per_s: u32,
    /// API requests a token may make at once before the average applies.
    #[serde(default = "default_rate_limit_burst")]
    pub rate_limit_burst: u32,
}

const fn default_rate_limit_per_s() -> u32 {
    50
}
const fn default_rate_limit_burst() -> u32 {
    100
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_data_dir() -> PathBuf {
    "data".into()
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            data_dir: default_data_dir(),
            database: None,
            rate_limit_per_s: default_rate_limit_per_s(),
            rate_limit_burst: default_rate_limit_burst(),
        }
    }
}

/// `[detector]`.
#[derive(Clone, Debug, Deserialize)]
pub struct DetectorConfig {
    /// Model manifest (relative to the working directory).
    #[serde(default = "default_manifest")]
    pub manifest: PathBuf,
    /// ONNX Runtime intra-op threads.
    #[serde(default = "one")]
    pub intra_threads: usize,
    /// ONNX Runtime inter-op threads.
    #[serde(default = "one")]
    pub inter_threads: usize,
    /// Overrides the manifest's score threshold.
    pub confidence: Option<f32>,
    /// Frames kept per camera while the detector is busy (the oldest is dropped beyond it).
    #[serde(default = "default_queue")]
    pub queue_per_camera: usize,
    /// Execution provider: cpu, cuda, tensorrt, openvino (cpu when the library lacks it).
    #[serde(default)]
    pub provider: Provider,
    /// Most frames (across cameras) per session call, for models with a dynamic batch dimension.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Longest wait, in milliseconds, for a batch to fill after its first frame.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
}

fn default_manifest() -> PathBuf {
    "models/yolox_nano.toml".into()
}
const fn one() -> usize {
    1
}
const fn default_queue() -> usize {
    2
}
const fn default_max_batch() -> usize {
    4
}
const fn default_max_wait_ms() -> u64 {
    20
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            manifest: default_manifest(),
            intra_threads: 1,
            inter_threads: 1,
            confidence: None,
            queue_per_camera: default_queue(),
            provider: Provider::Cpu,
            max_batch: default_max_batch(),
            max_wait_ms: default_max_wait_ms(),
        }
    }
}

/// `[[grids]]`: a grid of any level.
#[derive(Clone, Debug, Deserialize)]
pub struct GridConfig {
    /// 6 digits (区), 9 (街道), 12 (社区) or 15 (网格: 6 admin + 3 street + 3 community + 3 grid).
    pub code: String,
    /// Name of the grid.
    #[serde(default)]
    pub name: String,
    /// Its area, from `cases.grid_polygons`.
    #[serde(skip)]
    pub area: Option<Area>,
}

/// How a camera is decoded.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DecodeKind {
    /// Key-frames only.
    #[default]
    Keyframes,
    /// Every frame decoded, thinned to `sample_fps`.
    Sampled,
}

/// RTP transport.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// RTP over the RTSP TCP connection.
    #[default]
    Tcp,
    /// RTP over UDP.
    Udp,
}

/// `[[cameras]]`.
#[derive(Clone, Debug, Deserialize)]
pub struct CameraConfig {
    /// Unique id.
    pub id: String,
    /// RTSP URL (credentials allowed; never logged).
    pub url: String,
    /// Grid cell the camera belongs to; unset: the cell of `cases.grid_polygons` containing `location`.
    #[serde(default)]
    pub grid: String,
    /// `[longitude, latitude]` of the camera (WGS 84), to link its cases with nearby reports.
    pub location: Option<[f64; 2]>,
    /// Daily maintenance windows `[["02:00", "04:00"], ...]` (local time): notifications of the
    /// camera's cases are not sent during them (they are recorded as silenced).
    #[serde(default)]
    pub maintenance: Vec<[String; 2]>,
    /// Decode mode.
    #[serde(default)]
    pub decode: DecodeKind,
    /// Frames per second analysed in `sampled` mode.
    pub sample_fps: Option<f64>,
    /// RTP transport.
    #[serde(default)]
    pub transport: TransportKind,
    /// Video codec: h264 or h265.
    #[serde(default)]
    pub codec: Codec,
    /// Decoder: software, nvdec or vaapi (software when the hardware element is missing).
    #[serde(default)]
    pub decoder: Decoder,
    /// Wider decoded frames are scaled down to this width inside the pipeline.
    #[serde(default = "default_max_width")]
    pub max_width: u32,
    /// `rtspsrc` latency in milliseconds.
    #[serde(default = "default_latency_ms")]
    pub latency_ms: u64,
    /// Restart the pipeline after this many seconds without a frame.
    #[serde(default = "default_stall_timeout_s")]
    pub stall_timeout_s: f64,
    /// Zones watched in the picture.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
}

const fn default_max_width() -> u32 {
    1280
}
const fn default_latency_ms() -> u64 {
    200
}
const fn default_stall_timeout_s() -> f64 {
    20.0
}

/// `[auth]`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthConfig {
    /// `[[auth.tokens]]`.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// A second TOML file of `[[tokens]]` (same keys), added to these: kept apart from the rest of the
    /// configuration, e.g. as a Kubernetes Secret beside a ConfigMap.
    pub tokens_file: Option<PathBuf>,
}

/// The contents of `auth.tokens_file`.
#[derive(Debug, Deserialize)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenConfig>,
}

/// `[[auth.tokens]]`.
#[derive(Clone, Debug, Deserialize)]
pub struct TokenConfig {
    /// Holder's name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// The department (`[[departments]]` id) the token acts for: a handler token bound to one reports
    /// in for it only.
    pub department: Option<String>,
}

/// A key path written the way the rest of the messages write it: `cameras[1].zones[0].polygon`.
fn key_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
        Path::Map { parent, key } => match key_path(parent) {
            prefix if prefix.is_empty() => key.clone(),
            prefix => format!("{prefix}.{key}"),
        },
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => key_path(parent),
    }
}

impl Config {
    /// Reads, parses and validates a configuration file; on failure returns every problem found.
    pub fn load(path: &Path) -> Result<Self, Vec<Problem>> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            vec![Problem { path: path.display().to_string(), message: format!("cannot read: {err}") }]
        })?;
        let mut config = Self::parse(&text)?;
        if let Some(file) = config.auth.tokens_file.clone() {
            let problem = |message: String| vec![Problem { path: "auth.tokens_file".into(), message }];
            let text = std::fs::read_to_string(&file)
                .map_err(|err| problem(format!("cannot read '{}': {err}", file.display())))?;
            let tokens: TokensFile =
                toml::from_str(&text).map_err(|err| problem(format!("'{}': {err}", file.display())))?;
            config.auth.tokens.extend(tokens.tokens);
            let problems = validate::validate(&config);
            if !problems.is_empty() {
                return Err(problems);
            }
        }
        Ok(config)
    }

    /// Parses and validates configuration text.
    ///
    /// Unknown keys are collected (not fatal at the first one) so that one run reports them all
    /// together with the validation problems; a value of the wrong type stops parsing at its path.
    pub fn parse(text: &str) -> Result<Self, Vec<Problem>> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|err| vec![Problem { path: "(document)".into(), message: err.to_string() }])?;
        let mut problems = Vec::new();
        let mut unknown_key = |path: serde_ignored::Path<'_>| {
            problems.push(Problem { path: key_path(&path), message: "unknown key".into() })
        };
        let parsed: Result<Self, _> =
            serde_path_to_error::deserialize(serde_ignored::Deserializer::new(deserializer, &mut unknown_key));
        let mut config = match parsed {
            Ok(config) => config,
            Err(err) => {
                let path = err.path().to_string();
                let message = err.into_inner().message().to_owned();
                problems.push(Problem { path, message });
                return Err(problems);
            }
        };
        problems.extend(places::place(&mut config));
        problems.extend(validate::validate(&config));
        if problems.is_empty() { Ok(config) } else { Err(problems) }
    }
}
