//! The dwell rules' settings changed at runtime through the API (`PUT` and `DELETE
//! /api/v1/rules/{rule}`): validated as `check-config` validates the file, kept in the database
//! (audited), then handed to the running rules from their next analysed frame without touching a
//! camera. The database's sections win over the file's at start-up and on every SIGHUP, until deleted;
//! a section that names no classes takes its category's from the detector's manifest as read then.

use crossbeam_channel::Sender;
use serde_json::{Value, json};
use sharpeyes_alerting::{
    api::{ChangeRefusal, ChangeRequest, RuleChange},
    cases::Principal,
    clock::SharedClock,
    cluster::SettingsChanged,
    rules::{DwellConfig, RulesUpdate},
    store::Store,
};
use sharpeyes_inference::Manifest;
use sharpeyes_ingest::Problem;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::{
    config::{Config, DWELL_RULES, dwell_section},
    reload::{Configs, RuleOverride, RuleOverrides, dwell_rules},
};

/// The database's rule sections (read at start-up), checked against `config`; a kept section that no
/// longer validates is named in the log and left out (the file's runs).
pub async fn stored_rules(store: &Store, config: &Config) -> anyhow::Result<RuleOverrides> {
    let overrides = RuleOverrides::default();
    for stored in store.stored_rules().await? {
        let checked = serde_json::from_str(&stored.settings)
            .map_err(|error| vec![Problem::at("(stored)", error.to_string())])
            .and_then(|section| config.checked_rule(&stored.rule, section).unwrap_or_else(|| Err(Vec::new())));
        match checked {
            Ok(section) => {
                info!(rule = %stored.rule, changed_by = %stored.changed_by, changed_at = %stored.changed_at, "rule settings from the database (set through the API)");
                let kept = RuleOverride { section, changed_at: stored.changed_at, changed_by: stored.changed_by };
                overrides.set(&stored.rule, kept);
            }
            Err(problems) => warn!(
                rule = %stored.rule,
                problems = %Problem::list(&problems, "; "),
                "the database's settings of this rule are invalid: the file's are used"
            ),
        }
    }
    Ok(overrides)
}

/// Applies rule changes asked through the API to the running rules.
pub struct RulesKeeper {
    /// The case database (where changes are kept).
    pub store: Store,
    /// The sections the API set.
    pub overrides: RuleOverrides,
    /// The configuration as last read (the file's sections, the detector's manifest).
    pub configs: Configs,
    /// The running rules (none on a center: the edges run them).
    pub updates: Option<Sender<RulesUpdate>>,
    /// Told of every change made (on a center: publishes it to the edges).
    pub broadcast: Option<SettingsChanged>,
    /// What stamps the changes.
    pub clock: SharedClock,
}

impl RulesKeeper {
    /// Serves `requests` until the API's end closes.
    pub async fn run(self, mut requests: mpsc::Receiver<ChangeRequest<RuleChange>>) {
        while let Some(ChangeRequest { change, who, reply }) = requests.recv().await {
            let answer = self.change(change, &who).await;
            if let (Ok(_), Some(broadcast)) = (&answer, &self.broadcast) {
                broadcast.notify();
            }
            let _ = reply.send(answer);
        }
    }

    async fn change(&self, change: RuleChange, who: &Principal) -> Result<Value, ChangeRefusal> {
        let config = self.configs.borrow().clone();
        let unknown =
            |rule: &str| ChangeRefusal::Unknown(format!("no dwell rule '{rule}': one of {}", DWELL_RULES.join(", ")));
        let now = self.clock.now();
        let shown = match change {
            RuleChange::Set { rule, section } => {
                let section = config
                    .checked_rule(&rule, section)
                    .ok_or_else(|| unknown(&rule))?
                    .map_err(|problems| ChangeRefusal::Invalid(Problem::list(&problems, "; ")))?;
                let json = serde_json::to_string(&section).expect("a rule's settings serialise");
                self.store.set_rule(&rule, &json, who, now).await?;
                let kept = RuleOverride { section, changed_at: now, changed_by: who.name.to_string() };
                let shown = shown_rule(&kept.section, Some(&kept));
                self.overrides.set(&rule, kept);
                shown
            }
            RuleChange::Reset { rule } => {
                let mut file = (*config).clone();
                let section = dwell_section(&mut file.rules, &rule).ok_or_else(|| unknown(&rule))?.clone();
                if !self.store.reset_rule(&rule, who, now).await? {
                    return Err(ChangeRefusal::Conflict(format!("rule '{rule}' already runs with the file's section")));
                }
                self.overrides.remove(&rule);
                shown_rule(&section, None)
            }
        };
        if let Some(updates) = &self.updates {
            push_dwell_rules(&config, &self.overrides, updates)?;
        }
        info!(changed_by = %who.name, "rule settings changed through the API: the rules take them from the next frame");
        Ok(shown)
    }
}

/// Hands the running rules the dwell rules of `config` with `overrides`, from their next frame.
pub fn push_dwell_rules(
    config: &Config,
    overrides: &RuleOverrides,
    updates: &Sender<RulesUpdate>,
) -> Result<(), ChangeRefusal> {
    let manifest = Manifest::load(&config.detector.manifest).map_err(|error| {
        ChangeRefusal::Conflict(format!(
            "the detector's manifest does not read, so the rules were not changed: {error}"
        ))
    })?;
    let dwell = dwell_rules(&overrides.applied_to(config), &manifest);
    updates
        .send(RulesUpdate::Dwell(dwell))
        .map_err(|_| ChangeRefusal::Conflict("the rules have stopped: the service is stopping".into()))
}

/// A rule's section as the API and `GET /api/v1/config` show it, with where it comes from: `api`
/// (with when and who) when `kept`, else `file`.
pub fn shown_rule(section: &DwellConfig, kept: Option<&RuleOverride>) -> Value {
    let mut value = crate::config::shown::as_json(section);
    let origin = match kept {
        Some(kept) => json!({ "source": "api", "changed_at": kept.changed_at, "changed_by": kept.changed_by }),
        None => json!({ "source": "file" }),
    };
    if let (Some(fields), Value::Object(origin)) = (value.as_object_mut(), origin) {
        fields.extend(origin);
    }
    value
}
