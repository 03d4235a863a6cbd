//! The settings an admin changed on a center, sent to the edge nodes that run them: each camera set
//! through the API (`{prefix}/config/cameras/{id}`) and each dwell rule's section
//! (`{prefix}/config/rules/{rule}`), as *retained* MQTT messages, so that an edge that starts or
//! reconnects later receives the latest of each at once.
//!
//! - [`SettingsBroadcast`] (center): publishes what the database holds — after every change and
//!   again on every connection, so that a change made while the broker was away reaches it when it
//!   is back. The database stays the source of truth; the broker only carries it.
//! - [`SettingsFeed`] (edge, and every center, whose map and case filing must know a camera another
//!   center added): subscribes and hands each message on as a [`PublishedSettings`]; a
//!   message that is not signed with the relay key (when one is set) or does not read is refused with
//!   its topic named in the log and the metric `sharpeyes_settings_refused_total`.
//!
//! Every message carries the whole setting, never a difference: taking one twice changes nothing.

use chrono::{DateTime, Utc};
use prometheus::{IntCounter, Registry};
use rumqttc::v5::{
    AsyncClient, Event, EventLoop,
    mqttbytes::{
        QoS,
        v5::{Packet, Publish},
    },
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sharpeyes_ingest::mqtt::MqttSettings;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::mqtt::{client_options, signature_of, signed_properties};
use crate::{Result, rules::wire, store::Store};

/// What is set: a camera or a dwell rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsKind {
    /// A `[[cameras]]` entry, named by its id.
    Camera,
    /// A dwell rule's `[rules.<rule>]` section, named by the rule.
    Rule,
}

impl SettingsKind {
    fn topic_level(self) -> &'static str {
        match self {
            Self::Camera => "cameras",
            Self::Rule => "rules",
        }
    }
}

/// One setting as a center publishes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedSettings {
    /// Camera or rule.
    pub kind: SettingsKind,
    /// The camera's id or the rule's name.
    pub name: String,
    /// The message.
    pub body: SettingsBody,
}

/// The payload of a settings message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingsBody {
    /// The camera's entry or the rule's section as JSON; `None`: the camera was removed, or the rule
    /// runs with the configuration file's section again.
    pub settings: Option<Value>,
    /// When an admin set it (absent for a rule back to the file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
    /// Who set it (absent for a rule back to the file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
}

/// The topic of `kind` `name` under `prefix`.
pub fn settings_topic(prefix: &str, kind: SettingsKind, name: &str) -> String {
    format!("{prefix}/config/{}/{name}", kind.topic_level())
}

/// Reads a settings message of `topic` (under `prefix`).
pub fn read_settings(prefix: &str, topic: &str, payload: &[u8]) -> std::result::Result<PublishedSettings, String> {
    let rest = topic.strip_prefix(prefix).and_then(|rest| rest.strip_prefix("/config/"));
    let (kind, name) = match rest.and_then(|rest| rest.split_once('/')) {
        Some(("cameras", name)) => (SettingsKind::Camera, name),
        Some(("rules", name)) => (SettingsKind::Rule, name),
        _ => return Err("not a topic of camera or rule settings".into()),
    };
    if name.is_empty() || name.contains('/') {
        return Err("names no camera or rule".into());
    }
    let body = serde_json::from_slice(payload).map_err(|error| format!("does not read: {error}"))?;
    Ok(PublishedSettings { kind, name: name.to_owned(), body })
}

/// Tells the [`SettingsBroadcast`] that the database's settings changed (cloned into whatever
/// changes them).
#[derive(Clone, Debug)]
pub struct SettingsChanged(mpsc::Sender<()>);

impl SettingsChanged {
    /// Asks for the settings to be published again (changes made meanwhile go out together).
    pub fn notify(&self) {
        let _ = self.0.try_send(());
    }
}

/// A center's publisher of the settings kept in its database.
pub struct SettingsBroadcast {
    client: AsyncClient,
    eventloop: EventLoop,
    settings: MqttSettings,
    store: Store,
    rules: Vec<String>,
    changes: mpsc::Receiver<()>,
    key: Option<Vec<u8>>,
}

impl SettingsBroadcast {
    /// A publisher of `store`'s camera settings and of the sections of `rules` (a rule without one is
    /// published as back to the file's), and the handle that asks it to publish.
    pub fn new(settings: MqttSettings, store: Store, rules: &[&str]) -> Result<(Self, SettingsChanged)> {
        let mut options = client_options(&settings, format!("{}-settings-out", settings.client_id))?;
        options.set_clean_start(true);
        let (client, eventloop) = AsyncClient::new(options, 64);
        let (changed, changes) = mpsc::channel(1);
        let rules = rules.iter().map(|rule| (*rule).to_owned()).collect();
        Ok((Self { client, eventloop, settings, store, rules, changes, key: None }, SettingsChanged(changed)))
    }

    /// Signs every message with `key` (the edges refuse unsigned ones when they hold it).
    pub fn with_signing_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.key = key;
        self
    }

    /// Publishes on every connection and every change, until aborted.
    pub async fn run(self) {
        let Self { client, eventloop, settings, store, rules, mut changes, key } = self;
        let (connected_tx, mut connected) = mpsc::channel(1);
        let connection = tokio::spawn(poll(eventloop, settings.clone(), connected_tx));
        let publisher = Publisher { client, prefix: settings.prefix, store, rules, key };
        loop {
            tokio::select! {
                Some(()) = connected.recv() => {}
                change = changes.recv() => if change.is_none() { break },
            }
            if let Err(error) = publisher.publish_all().await {
                warn!(%error, "camera and rule settings not published: the database did not answer; they go out at the next change or connection");
            }
        }
        connection.abort();
    }
}

/// What publishes the database's settings.
struct Publisher {
    client: AsyncClient,
    prefix: String,
    store: Store,
    rules: Vec<String>,
    key: Option<Vec<u8>>,
}

impl Publisher {
    async fn publish_all(&self) -> Result<()> {
        let cameras = self.store.stored_cameras().await?;
        let rules = self.store.stored_rules().await?;
        for camera in &cameras {
            let settings = camera.settings.as_deref().map(serde_json::from_str).transpose().map_err(|error| {
                crate::Error::Corrupt(format!("camera_settings of camera '{}': {error}", camera.camera))
            })?;
            let body = SettingsBody {
                settings,
                changed_at: Some(camera.changed_at),
                changed_by: Some(camera.changed_by.clone()),
            };
            self.publish(SettingsKind::Camera, &camera.camera, &body).await;
        }
        for rule in &self.rules {
            let body =
                match rules.iter().find(|stored| &stored.rule == rule) {
                    Some(stored) => SettingsBody {
                        settings: Some(serde_json::from_str(&stored.settings).map_err(|error| {
                            crate::Error::Corrupt(format!("rule_settings of rule '{rule}': {error}"))
                        })?),
                        changed_at: Some(stored.changed_at),
                        changed_by: Some(stored.changed_by.clone()),
                    },
                    None => SettingsBody { settings: None, changed_at: None, changed_by: None },
                };
            self.publish(SettingsKind::Rule, rule, &body).await;
        }
        info!(cameras = cameras.len(), rules = self.rules.len(), "camera and rule settings published to the edges");
        Ok(())
    }

    async fn publish(&self, kind: SettingsKind, name: &str, body: &SettingsBody) {
        let payload = serde_json::to_vec(body).expect("settings serialise");
        let properties = signed_properties(self.key.as_deref(), &payload);
        let topic = settings_topic(&self.prefix, kind, name);
        if let Err(error) =
            self.client.publish_with_properties(topic.clone(), QoS::AtLeastOnce, true, payload, properties).await
        {
            warn!(%topic, %error, "cannot hand a settings message to the MQTT client");
        }
    }
}

/// Drives `eventloop`, reconnecting with backoff; says on `connected` when a connection is made.
async fn poll(mut eventloop: EventLoop, settings: MqttSettings, connected: mpsc::Sender<()>) {
    let mut delays = sharpeyes_ingest::backoff::retry_delays(settings.backoff_min, settings.backoff_max);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                delays = sharpeyes_ingest::backoff::retry_delays(settings.backoff_min, settings.backoff_max);
                let _ = connected.try_send(());
            }
            Ok(_) => {}
            Err(error) => {
                let delay = delays.next().unwrap_or(settings.backoff_max);
                warn!(%error, retry_in_ms = delay.as_millis() as u64, "settings broadcast lost the broker");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// A node's subscription to the centers' settings.
pub struct SettingsFeed {
    client: AsyncClient,
    eventloop: EventLoop,
    settings: MqttSettings,
    key: Option<Vec<u8>>,
    refused: IntCounter,
}

impl SettingsFeed {
    /// A subscription under `settings.prefix`; its refusals counted in `registry`.
    pub fn new(settings: MqttSettings, registry: &Registry) -> Result<Self> {
        let refused = IntCounter::new(
            "sharpeyes_settings_refused_total",
            "Settings messages from the centers refused (unsigned, or not readable)",
        )
        .and_then(|refused| registry.register(Box::new(refused.clone())).map(|()| refused))
        .map_err(|error| crate::Error::Config(format!("metrics: {error}")))?;
        let mut options = client_options(&settings, format!("{}-settings-in", settings.client_id))?;
        options.set_clean_start(true).set_max_packet_size(Some(u32::try_from(settings.max_packet).unwrap_or(u32::MAX)));
        let (client, eventloop) = AsyncClient::new(options, 16);
        Ok(Self { client, eventloop, settings, key: None, refused })
    }

    /// Takes only messages signed with `key` (the centers' relay key).
    pub fn with_signing_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.key = key;
        self
    }

    /// Hands each setting to `out` (the retained ones again after every reconnection) until `out`
    /// closes.
    pub async fn run(mut self, out: mpsc::Sender<PublishedSettings>) {
        let filter = format!("{}/config/+/+", self.settings.prefix);
        let mut delays = sharpeyes_ingest::backoff::retry_delays(self.settings.backoff_min, self.settings.backoff_max);
        loop {
            match self.eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    delays =
                        sharpeyes_ingest::backoff::retry_delays(self.settings.backoff_min, self.settings.backoff_max);
                    info!(%filter, "settings feed connected");
                    if let Err(error) = self.client.subscribe(filter.clone(), QoS::AtLeastOnce).await {
                        warn!(%error, "cannot subscribe to the centers' settings");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if let Some(setting) = self.take(&publish)
                        && out.send(setting).await.is_err()
                    {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let delay = delays.next().unwrap_or(self.settings.backoff_max);
                    warn!(%error, retry_in_ms = delay.as_millis() as u64, "settings feed lost the broker");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn take(&self, publish: &Publish) -> Option<PublishedSettings> {
        if publish.payload.is_empty() {
            return None;
        }
        let topic = String::from_utf8_lossy(&publish.topic);
        let signature = signature_of(publish);
        let read = match &self.key {
            Some(key) => wire::verify(key, &publish.payload, signature).map_err(|error| error.to_string()),
            None => Ok(()),
        }
        .and_then(|()| read_settings(&self.settings.prefix, &topic, &publish.payload));
        match read {
            Ok(setting) => Some(setting),
            Err(error) => {
                self.refused.inc();
                warn!(%topic, %error, "a settings message was refused");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_back_as_published() {
        let body = SettingsBody {
            settings: Some(serde_json::json!({ "id": "cam-1", "url": "rtsp://h/s" })),
            changed_at: Some(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
            changed_by: Some("ops".into()),
        };
        let topic = settings_topic("city", SettingsKind::Camera, "cam-1");
        assert_eq!(topic, "city/config/cameras/cam-1");
        let read = read_settings("city", &topic, &serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(read, PublishedSettings { kind: SettingsKind::Camera, name: "cam-1".into(), body });
        let reset = br#"{"settings": null}"#;
        let read = read_settings("city", "city/config/rules/litter", reset).unwrap();
        assert_eq!((read.kind, read.name.as_str(), read.body.settings), (SettingsKind::Rule, "litter", None));
    }

    #[test]
    fn other_topics_and_bad_payloads_are_refused_by_name() {
        let body = br#"{"settings": null}"#;
        assert!(read_settings("city", "city/config/zones/a", body).unwrap_err().contains("not a topic"));
        assert!(read_settings("city", "town/config/cameras/a", body).unwrap_err().contains("not a topic"));
        assert!(read_settings("city", "city/config/cameras/", body).unwrap_err().contains("names no"));
        assert!(read_settings("city", "city/config/cameras/a", b"{").unwrap_err().contains("does not read"));
    }
}
