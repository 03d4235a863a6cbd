//! Loading the detector, and SIGHUP: the configuration is read again once ([`configs_on_sighup`]) and
//! each valid reading is handed to its readers: the detector's ([`on_sighup`]) reads the model's
//! manifest, then hands the inference stage new thresholds and class mappings — or, when the model
//! itself changed, a freshly loaded detector — and the rules each dwell rule's settings (its
//! `[rules.*]` section and its category's classes), without touching the cameras. The cameras' own
//! reader (`run::camera_keeper`) starts, stops and changes the cameras the file changed.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, RwLock},
};

use anyhow::Context;
use chrono::{DateTime, FixedOffset, Utc};
use crossbeam_channel::Sender;
use sharpeyes_alerting::rules::{Category, DwellConfig, DwellRuleConfig, RulesUpdate, ZoneKind};
use sharpeyes_inference::{Detector, DetectorConfig, Manifest, Reload};
use sharpeyes_ingest::{Problem, units::Score};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
};
use tracing::{info, warn};

use crate::config::{Config, dwell_section};

/// Loads (off the async workers) and warms up the configured detector.
pub async fn load_detector(config: DetectorConfig) -> anyhow::Result<Detector> {
    let manifest = config.manifest.clone();
    tokio::task::spawn_blocking(move || config.load())
        .await?
        .with_context(|| format!("loading the detector '{}'", manifest.display()))
}

/// Detector classes the parking rule treats as vehicles: the configuration's list, else the manifest's
/// `categories.illegal_parking` classes, else car, truck, bus and motorcycle.
pub fn vehicle_classes(config: &Config, manifest: &Manifest) -> Vec<String> {
    if let Some(classes) = &config.rules.illegal_parking.classes {
        return classes.clone();
    }
    match manifest.category_classes("illegal_parking") {
        [] => ["car", "truck", "bus", "motorcycle"].map(String::from).to_vec(),
        classes => classes.to_vec(),
    }
}

/// The detector classes each camera category watches for.
pub fn category_classes(config: &Config, manifest: &Manifest) -> [(Category, Vec<String>); 3] {
    let from_rule = |rule: &DwellConfig, category: &str| {
        rule.classes.clone().unwrap_or_else(|| manifest.category_classes(category).to_vec())
    };
    // For litter the shipped COCO manifest maps stand-ins (marked as proxies); it maps nothing for
    // construction, so that rule stays idle until a site-trained model's manifest names its classes.
    [
        (Category::IllegalParking, vehicle_classes(config, manifest)),
        (Category::Litter, from_rule(&config.rules.litter, "litter")),
        (Category::IllegalConstruction, from_rule(&config.rules.illegal_construction, "illegal_construction")),
    ]
}

/// The city's offset from UTC (the working calendar's), which zone schedules are read in.
pub fn city_offset(config: &Config) -> FixedOffset {
    config
        .cases
        .deadline_policy()
        .map_or(FixedOffset::east_opt(0).expect("UTC"), |policy| policy.calendar().utc_offset())
}

/// The dwell rule of each zone kind, as `config`'s `[rules.*]` sections and the classes of
/// [`category_classes`] set them.
pub fn dwell_rules(config: &Config, manifest: &Manifest) -> Vec<(ZoneKind, DwellRuleConfig)> {
    let [(_, vehicles), (_, litter), (_, construction)] = category_classes(config, manifest);
    let (rules, offset) = (&config.rules, city_offset(config));
    vec![
        (ZoneKind::NoParking, rules.dwell_rule(&rules.illegal_parking, vehicles, offset)),
        (ZoneKind::NoDumping, rules.dwell_rule(&rules.litter, litter, offset)),
        (ZoneKind::ConstructionWatch, rules.dwell_rule(&rules.illegal_construction, construction, offset)),
    ]
}

/// Whether two manifests describe the same model file with the same input and output layout.
fn same_model(a: &Manifest, b: &Manifest) -> bool {
    a.model_path() == b.model_path()
        && a.family == b.family
        && (a.input.width, a.input.height) == (b.input.width, b.input.height)
        && a.classes.len() == b.classes.len()
}

/// The configuration as last read: the one the service started with, then each valid one read again on
/// SIGHUP.
pub type Configs = watch::Receiver<Arc<Config>>;

/// Starts reading the configuration at `config_path` again on each SIGHUP, until the returned task is
/// aborted: a valid one is published to the [`Configs`] receivers (which start at `started_with`); an
/// invalid one is logged with its problems and changes nothing.
pub fn configs_on_sighup(config_path: PathBuf, started_with: Config) -> (Configs, tokio::task::JoinHandle<()>) {
    let (configs_tx, configs) = watch::channel(Arc::new(started_with));
    let reader = tokio::spawn(async move {
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            warn!("cannot listen for SIGHUP; reloading is off");
            return;
        };
        while hangups.recv().await.is_some() {
            info!(config = %config_path.display(), "SIGHUP: reading the configuration again");
            match Config::load(&config_path) {
                Ok(config) => {
                    if configs_tx.send(Arc::new(config)).is_err() {
                        return;
                    }
                }
                Err(problems) => {
                    warn!(problems = %Problem::list(&problems, "; "), "reload refused: invalid configuration")
                }
            }
        }
    });
    (configs, reader)
}

/// A dwell rule's section an admin set through the API (kept in the database).
#[derive(Clone, Debug)]
pub struct RuleOverride {
    /// The `[rules.<rule>]` section.
    pub section: DwellConfig,
    /// When it was set.
    pub changed_at: DateTime<Utc>,
    /// Who set it.
    pub changed_by: String,
}

/// The dwell rules' sections the API set, which win over the file's (at start, on SIGHUP, in what
/// `GET /api/v1/config` shows); cloned wherever they are read, every clone seeing each change at once.
#[derive(Clone, Debug, Default)]
pub struct RuleOverrides(Arc<RwLock<BTreeMap<String, RuleOverride>>>);

impl RuleOverrides {
    /// Makes `section` `rule`'s.
    pub fn set(&self, rule: &str, section: RuleOverride) {
        self.0.write().expect("rule overrides lock").insert(rule.to_owned(), section);
    }

    /// Takes `rule` back to the file's section.
    pub fn remove(&self, rule: &str) {
        self.0.write().expect("rule overrides lock").remove(rule);
    }

    /// The rules the API set, with their sections.
    pub fn all(&self) -> BTreeMap<String, RuleOverride> {
        self.0.read().expect("rule overrides lock").clone()
    }

    /// `config` with the API's sections in place of the file's.
    pub fn applied_to(&self, config: &Config) -> Config {
        let mut config = config.clone();
        for (rule, kept) in self.all() {
            if let Some(section) = dwell_section(&mut config.rules, &rule) {
                *section = kept.section;
            }
        }
        config
    }
}

/// Hands each configuration read again the detector's settings, until `configs` closes; the dwell
/// rules get their sections with the API's `overrides` in place of the file's. A manifest or model
/// that fails to load is logged and changes nothing.
pub async fn on_sighup(
    mut configs: Configs,
    overrides: RuleOverrides,
    mut current: Manifest,
    reload_tx: Sender<Reload>,
    rules_tx: Sender<RulesUpdate>,
) {
    while configs.changed().await.is_ok() {
        let config = configs.borrow_and_update().clone();
        info!("reloading the detector settings");
        let manifest = match Manifest::load(&config.detector.manifest) {
            Ok(manifest) => manifest,
            Err(error) => {
                warn!(error = %error, "reload refused: invalid manifest");
                continue;
            }
        };
        let reload = if same_model(&current, &manifest) {
            Reload::Manifest(manifest.clone(), config.detector.confidence.map(Score::get))
        } else {
            match load_detector(config.detector.clone()).await {
                Ok(detector) => Reload::Swap(Box::new(detector)),
                Err(error) => {
                    warn!(error = format!("{error:#}"), "reload refused: the new model does not load");
                    continue;
                }
            }
        };
        let dwell = dwell_rules(&overrides.applied_to(&config), &manifest);
        current = manifest;
        if reload_tx.send(reload).is_err() || rules_tx.send(RulesUpdate::Dwell(dwell)).is_err() {
            return;
        }
    }
}
