//! The service configuration (TOML): parsing with key paths in errors, then a validation pass that
//! collects every problem. `config/reference.toml` documents every key.

mod places;
pub mod shown;
mod validate;

pub use sharpeyes_alerting::calendar::parse_window;
pub use sharpeyes_ingest::Problem;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use sharpeyes_alerting::{
    api::{AuthConfig, server::ConnectionLimits},
    api::{MapConfig, Open311Config},
    cases::{CasesConfig, DepartmentConfig, GridConfig},
    casework::plates::PlatesConfig,
    cluster::ClusterConfig,
    notify::NotifyConfig,
    rules::{DwellConfig, RulesConfig, ZoneConfig},
};
use sharpeyes_inference::DetectorConfig;
use sharpeyes_ingest::mqtt::{MqttConfig, SensorConfig};

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
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
    /// Licence plates of parking cases.
    #[serde(default)]
    pub plates: PlatesConfig,
    /// Open311: the public view, media links, CORS.
    #[serde(default)]
    pub open311: Open311Config,
    /// The dashboard's map: an optional tile server of the site's own network.
    #[serde(default)]
    pub map: MapConfig,
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
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
    /// Seconds within which a request's headers must arrive, counted from the connection's opening or
    /// its previous answer; a connection that is slower is closed.
    #[serde(default = "default_header_timeout_s")]
    pub header_timeout_s: f64,
    /// Seconds without a byte moving either way after which a connection is closed.
    #[serde(default = "default_idle_timeout_s")]
    pub idle_timeout_s: f64,
    /// HTTP connections open at once; one more is answered 503 and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Event streams (`/api/v1/stream`) one token may hold open at once; one more is answered 429.
    #[serde(default = "default_streams_per_token")]
    pub streams_per_token: usize,
    /// Unknown tokens one client address may present in a minute; beyond it the address is answered
    /// 429 for the rest of the minute, whatever token it sends.
    #[serde(default = "default_failed_logins_per_minute")]
    pub failed_logins_per_minute: u32,
}

const fn default_failed_logins_per_minute() -> u32 {
    10
}

const fn default_header_timeout_s() -> f64 {
    10.0
}
const fn default_idle_timeout_s() -> f64 {
    60.0
}
const fn default_max_connections() -> usize {
    512
}
const fn default_streams_per_token() -> usize {
    8
}

impl ServerConfig {
    /// The HTTP server's limits on each connection.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs_f64(self.header_timeout_s),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout_s),
            max_connections: self.max_connections,
        }
    }
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
            header_timeout_s: default_header_timeout_s(),
            idle_timeout_s: default_idle_timeout_s(),
            max_connections: default_max_connections(),
            streams_per_token: default_streams_per_token(),
            failed_logins_per_minute: default_failed_logins_per_minute(),
        }
    }
}

/// `[[cameras]]`: the camera ingest's settings with the rules' zones.
pub type CameraConfig = sharpeyes_ingest::camera::CameraConfig<ZoneConfig>;

/// The dwell rules whose sections can be changed at runtime.
pub const DWELL_RULES: [&str; 3] = ["illegal_parking", "litter", "illegal_construction"];

/// The section `[rules.<rule>]` of a dwell rule; `None` for another name.
pub fn dwell_section<'a>(rules: &'a mut RulesConfig, rule: &str) -> Option<&'a mut DwellConfig> {
    match rule {
        "illegal_parking" => Some(&mut rules.illegal_parking),
        "litter" => Some(&mut rules.litter),
        "illegal_construction" => Some(&mut rules.illegal_construction),
        _ => None,
    }
}

/// A part of the configuration as JSON (an entry the API was given), parsed with every unknown key
/// collected and a value of the wrong type named by its path (`whole` when it is the entry itself);
/// returns it with the unknown keys' problems.
fn parse_entry<T: serde::de::DeserializeOwned>(
    entry: serde_json::Value,
    whole: &str,
) -> Result<(T, Vec<Problem>), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut unknown_key =
        |path: serde_ignored::Path<'_>| problems.push(Problem { path: key_path(&path), message: "unknown key".into() });
    let parsed: Result<T, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(entry, &mut unknown_key));
    match parsed {
        Ok(parsed) => Ok((parsed, problems)),
        Err(err) => {
            let path = match err.path().to_string() {
                path if path == "." => whole.to_owned(),
                path => path,
            };
            problems.push(Problem { path, message: err.into_inner().to_string() });
            Err(problems)
        }
    }
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
        if config.auth.tokens_file.is_some() {
            config.auth.read_tokens_file().map_err(|problem| vec![problem])?;
            let problems = validate::validate(&config);
            if !problems.is_empty() {
                return Err(problems);
            }
        }
        Ok(config)
    }

    /// [`Config::load`] for a command: an invalid file is an error naming it and listing every problem.
    pub fn load_or_explain(path: &Path) -> anyhow::Result<Self> {
        Self::load(path).map_err(|problems| {
            anyhow::anyhow!("invalid configuration '{}':\n  {}", path.display(), Problem::list(&problems, "\n  "))
        })
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

    /// A camera's `[[cameras]]` entry as JSON (the body of `POST /api/v1/cameras`), parsed and validated
    /// as [`Config::parse`] does a camera of the file, against this configuration's grids and grid
    /// polygons (a camera that names no grid is placed in the cell containing its location). Every
    /// problem is named by its key path within the entry (`url`, `zones[0].polygon`). Ids are not
    /// compared with this configuration's cameras: the caller knows which are running.
    pub fn checked_camera(&self, entry: serde_json::Value) -> Result<CameraConfig, Vec<Problem>> {
        let (camera, mut problems) = parse_entry::<CameraConfig>(entry, "(camera)")?;
        let mut alone = Self { cameras: vec![camera], ..self.clone() };
        problems.extend(places::place(&mut alone));
        problems.extend(validate::validate(&alone).into_iter().map(|problem| Problem {
            path: problem.path.strip_prefix("cameras[0].").map_or(problem.path.clone(), str::to_owned),
            ..problem
        }));
        if problems.is_empty() { Ok(alone.cameras.remove(0)) } else { Err(problems) }
    }

    /// A dwell rule's `[rules.<rule>]` section as JSON (the body of `PUT /api/v1/rules/{rule}`), parsed
    /// and validated as [`Config::parse`] does the file's, every problem named by its key path within
    /// the section (`min_dwell_s`); `None` for a rule that is not a dwell rule.
    pub fn checked_rule(&self, rule: &str, section: serde_json::Value) -> Option<Result<DwellConfig, Vec<Problem>>> {
        let mut candidate = self.clone();
        let slot = dwell_section(&mut candidate.rules, rule)?;
        let (parsed, mut problems) = match parse_entry::<DwellConfig>(section, "(section)") {
            Ok(parsed) => parsed,
            Err(problems) => return Some(Err(problems)),
        };
        *slot = parsed.clone();
        let prefix = format!("rules.{rule}.");
        problems.extend(validate::validate(&candidate).into_iter().filter_map(|problem| {
            let path = problem.path.strip_prefix(&prefix)?.to_owned();
            Some(Problem { path, ..problem })
        }));
        Some(if problems.is_empty() { Ok(parsed) } else { Err(problems) })
    }
}
