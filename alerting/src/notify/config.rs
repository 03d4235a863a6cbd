//! `[notify]`: receivers, the routing tree, escalation and retries — parsed, validated with every
//! problem's key path, and built into the running [`Notifier`]. A new receiver kind is a variant of
//! [`ReceiverKind`] here and of [`super::Receiver`], and a file beside `webhook.rs` and `mqtt.rs`.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sharpeyes_ingest::{Problem, mqtt::MqttSettings, units::Seconds};

use super::{Escalation, EscalationStep, MqttPublisher, Mutes, Notifier, Receiver, RetryPolicy, Route, Webhook};
use crate::{AlertingMetrics, Error, Result, store::Store};

/// `[notify]`: receivers, the routing tree and retries.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct NotifyConfig {
    /// Attempts of a delivery before it is dead (listed for an operator to retry).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Seconds before the first retry; doubles (with jitter) up to `retry_max_s`.
    #[serde(default = "default_retry_min_s")]
    pub retry_min_s: Seconds,
    /// Longest wait between two attempts, in seconds.
    #[serde(default = "default_retry_max_s")]
    pub retry_max_s: Seconds,
    /// `[[notify.receivers]]`.
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    /// `[notify.route]`: the routing tree's root.
    #[serde(default)]
    pub route: Route,
    /// `[[notify.escalation]]`: the timetable for cases nobody acknowledges, in ascending `after_s`.
    #[serde(default)]
    pub escalation: Vec<EscalationStep>,
}

const fn default_max_attempts() -> u32 {
    8
}
const fn default_retry_min_s() -> Seconds {
    Seconds::new(1.0)
}
const fn default_retry_max_s() -> Seconds {
    Seconds::new(300.0)
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            retry_min_s: default_retry_min_s(),
            retry_max_s: default_retry_max_s(),
            receivers: Vec::new(),
            route: Route::default(),
            escalation: Vec::new(),
        }
    }
}

/// How a receiver is reached.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    /// Signed HTTP POSTs to `url`.
    #[default]
    Webhook,
    /// QoS 1 publishes to `{mqtt.prefix}/cases/{grid}/{category}` on the `[mqtt]` broker.
    Mqtt,
}

/// `[[notify.receivers]]`: a webhook or the MQTT broker.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ReceiverConfig {
    /// Unique id, as routes name it.
    pub id: String,
    /// `webhook` (the default) or `mqtt`.
    #[serde(default)]
    pub kind: ReceiverKind,
    /// Webhooks: the `http://` or `https://` URL the case changes are POSTed to.
    #[serde(default)]
    pub url: String,
    /// Key of the `X-Sharpeyes-Signature` HMAC (or give `secret_env`).
    pub secret: Option<String>,
    /// Environment variable holding the key.
    pub secret_env: Option<String>,
    /// Seconds to wait for the receiver's answer.
    #[serde(default = "default_receiver_timeout_s")]
    pub timeout_s: Seconds,
}

const fn default_receiver_timeout_s() -> Seconds {
    Seconds::new(5.0)
}

impl ReceiverConfig {
    /// The signing key: `secret`, or the value of `secret_env`.
    pub fn key(&self) -> Option<String> {
        self.secret.clone().or_else(|| self.secret_env.as_ref().and_then(|name| std::env::var(name).ok()))
    }
}

/// `[notify]`: receivers with a URL and a key, routes naming only them, sane retries.
impl NotifyConfig {
    /// Every problem of `[notify]`, by key path: receivers with a URL and a key (an `mqtt` receiver
    /// needs the `[mqtt]` broker, `mqtt_configured`), routes and escalation steps naming only them, sane
    /// retries and group times.
    pub fn validate(&self, mqtt_configured: bool) -> Vec<Problem> {
        let notify = self;
        let mut problems = Vec::new();
        let mut report = |path: String, message: String| problems.push(Problem { path, message });
        if notify.max_attempts == 0 {
            report("notify.max_attempts".into(), "must be at least 1".into());
        }
        if !notify.retry_min_s.is_positive()
            || notify.retry_max_s.partial_cmp(&notify.retry_min_s).is_none_or(|o| o.is_lt())
        {
            report("notify.retry_max_s".into(), "retry_min_s must be positive and at most retry_max_s".into());
        }
        let mut ids = HashSet::new();
        for (i, receiver) in notify.receivers.iter().enumerate() {
            let at = |key: &str| format!("notify.receivers[{i}].{key}");
            if receiver.id.is_empty() || !ids.insert(receiver.id.as_str()) {
                report(at("id"), format!("'{}' must be non-empty and unique", receiver.id));
            }
            match receiver.kind {
                ReceiverKind::Webhook => {
                    match url::Url::parse(&receiver.url) {
                        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                        _ => report(at("url"), format!("'{}' is not an http:// or https:// URL", receiver.url)),
                    }
                    match (&receiver.secret, &receiver.secret_env) {
                        (Some(_), Some(_)) => report(at("secret"), "give secret or secret_env, not both".into()),
                        (None, None) => report(at("secret"), "missing: webhooks are signed (or set secret_env)".into()),
                        (None, Some(name)) if receiver.key().is_none() => {
                            report(at("secret_env"), format!("environment variable {name} is not set"))
                        }
                        _ => {}
                    }
                }
                ReceiverKind::Mqtt => {
                    if !mqtt_configured {
                        report(
                            at("kind"),
                            "an mqtt receiver publishes on the [mqtt] broker, which is not configured".into(),
                        );
                    }
                    if !receiver.url.is_empty() || receiver.secret.is_some() || receiver.secret_env.is_some() {
                        report(at("url"), "an mqtt receiver takes no url or secret".into());
                    }
                }
            }
            if let Some(problem) = receiver.timeout_s.check_positive(&at("timeout_s")) {
                report(problem.path, problem.message);
            }
        }
        let mut after = 0.0;
        for (i, step) in notify.escalation.iter().enumerate() {
            if !step.after_s.is_positive() || step.after_s.get() <= after {
                report(
                    format!("notify.escalation[{i}].after_s"),
                    "must be positive and later than the step before".into(),
                );
            }
            after = step.after_s.get();
            for (j, receiver) in step.receivers.iter().enumerate() {
                if !ids.contains(receiver.as_str()) {
                    report(
                        format!("notify.escalation[{i}].receivers[{j}]"),
                        format!("'{receiver}' is not one of the [[notify.receivers]]"),
                    );
                }
            }
        }
        for problem in notify.route.bad_group_times("notify.route") {
            report(problem.path, problem.message);
        }
        for (path, receiver) in notify.route.named_receivers("notify.route") {
            if !ids.contains(receiver.as_str()) {
                report(path, format!("'{receiver}' is not one of the [[notify.receivers]]"));
            }
        }
        problems
    }
}

impl NotifyConfig {
    /// The notifier of this section over `store`: its receivers (an `mqtt` receiver publishes through
    /// one connection to the broker of `mqtt`), routing tree, mutes, retries and escalation.
    pub fn build(
        &self,
        store: Store,
        metrics: AlertingMetrics,
        mutes: Mutes,
        mqtt: Option<&MqttSettings>,
    ) -> Result<Notifier> {
        let mut receivers = HashMap::new();
        let mut publisher = None;
        for receiver in &self.receivers {
            let problem = |what: &str| Error::Config(format!("notify receiver {}: {what}", receiver.id));
            let reached = match receiver.kind {
                ReceiverKind::Webhook => Receiver::Webhook(Webhook {
                    url: receiver.url.parse().map_err(|err| problem(&format!("url: {err}")))?,
                    secret: receiver.key().ok_or_else(|| problem("no secret"))?,
                    timeout: receiver.timeout_s.duration(),
                }),
                ReceiverKind::Mqtt => {
                    if publisher.is_none() {
                        let settings = mqtt.ok_or_else(|| problem("an mqtt receiver needs [mqtt]"))?;
                        let started = MqttPublisher::start(settings).map_err(|err| problem(&err.to_string()))?;
                        publisher = Some(started);
                    }
                    Receiver::Mqtt(publisher.clone().expect("started above"))
                }
            };
            receivers.insert(receiver.id.clone(), reached);
        }
        let retry = RetryPolicy {
            max_attempts: self.max_attempts,
            min_delay: self.retry_min_s.duration(),
            max_delay: self.retry_max_s.duration(),
        };
        Ok(Notifier::new(store, (self.route.clone(), mutes), receivers, retry, metrics)
            .with_escalation(Escalation::new(self.escalation.clone())))
    }
}
