//! The settings an admin changed on a center, sent to the edge nodes that run them: each camera set
//! through the API (`{prefix}/config/cameras/{id}`), each camera's zones an admin set
//! (`{prefix}/config/zones/{id}`) and each dwell rule's section (`{prefix}/config/rules/{rule}`), as
//! *retained* MQTT messages, so that an edge that starts or
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

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use prometheus::Registry;
use rumqttc::v5::{
    AsyncClient, Event, EventLoop,
    mqttbytes::{QoS, v5::Packet},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sharpeyes_ingest::mqtt::MqttSettings;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::mqtt::{SignedSubscription, client_options, signed_properties};
use crate::{Result, store::Store};

/// What is set: a camera, its zones or a dwell rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsKind {
    /// A `[[cameras]]` entry, named by its id.
    Camera,
    /// A camera's zones as an admin set them (its `[[cameras.zones]]` list), named by the camera's id.
    Zones,
    /// A dwell rule's `[rules.<rule>]` section, named by the rule.
    Rule,
}

impl SettingsKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Camera, Self::Zones, Self::Rule];

    /// Its level in the topic (`cameras`, `zones`, `rules`), which also names it elsewhere.
    pub fn topic_level(self) -> &'static str {
        match self {
            Self::Camera => "cameras",
            Self::Zones => "zones",
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
    /// The camera's entry, its zones or the rule's section as JSON; `None`: the camera was removed,
    /// its zones are its entry's again, or the rule runs with the configuration file's section again.
    pub settings: Option<Value>,
    /// When an admin set it (absent for zones or a rule back to the entry's or file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
    /// Who set it (absent for zones or a rule back to the entry's or file's).
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
    let found = rest.and_then(|rest| rest.split_once('/')).and_then(|(level, name)| {
        SettingsKind::ALL.into_iter().find(|kind| kind.topic_level() == level).map(|kind| (kind, name))
    });
    let Some((kind, name)) = found else {
        return Err("not a topic of camera, zone or rule settings".into());
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
pub struct SettingsChanged {
    changed: mpsc::Sender<()>,
    zones_reset: Arc<Mutex<BTreeSet<String>>>,
}

impl SettingsChanged {
    /// Asks for the settings to be published again (changes made meanwhile go out together).
    pub fn notify(&self) {
        let _ = self.changed.try_send(());
    }

    /// Says that `camera`'s zones went back to its entry's (the database forgot them), then asks for
    /// the settings to be published: the camera's zones go out as back to the entry's.
    pub fn zones_reset(&self, camera: &str) {
        self.zones_reset.lock().expect("zones reset lock").insert(camera.to_owned());
        self.notify();
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
    zones_reset: Arc<Mutex<BTreeSet<String>>>,
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
        let zones_reset = Arc::default();
        let handle = SettingsChanged { changed, zones_reset: Arc::clone(&zones_reset) };
        Ok((Self { client, eventloop, settings, store, rules, changes, zones_reset, key: None }, handle))
    }

    /// Signs every message with `key` (the edges refuse unsigned ones when they hold it).
    pub fn with_signing_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.key = key;
        self
    }

    /// Publishes on every connection and every change, until aborted.
    pub async fn run(self) {
        let Self { client, eventloop, settings, store, rules, mut changes, zones_reset, key } = self;
        let (connected_tx, mut connected) = mpsc::channel(1);
        let connection = tokio::spawn(poll(eventloop, settings.clone(), connected_tx));
        let mut publisher =
            Publisher { client, prefix: settings.prefix, store, rules, key, zones_sent: BTreeSet::new(), zones_reset };
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
    /// The cameras whose zones this center last published as an admin's: when one's are reset (the
    /// database forgets them), it publishes them as back to the entry's.
    zones_sent: BTreeSet<String>,
    /// Cameras whose zones an admin reset here since the last publication.
    zones_reset: Arc<Mutex<BTreeSet<String>>>,
}

impl Publisher {
    async fn publish_all(&mut self) -> Result<()> {
        let cameras = self.store.stored_cameras().await?;
        let rules = self.store.stored_rules().await?;
        let zones = self.store.all_camera_zones().await?;
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
        let mut zones_sent = BTreeSet::new();
        for kept in &zones {
            let settings = serde_json::from_str(&kept.zones)
                .map_err(|error| crate::Error::Corrupt(format!("camera_zones of camera '{}': {error}", kept.camera)))?;
            let body = SettingsBody {
                settings: Some(settings),
                changed_at: Some(kept.changed_at),
                changed_by: Some(kept.changed_by.clone()),
            };
            self.publish(SettingsKind::Zones, &kept.camera, &body).await;
            zones_sent.insert(kept.camera.clone());
        }
        let reset = std::mem::take(&mut *self.zones_reset.lock().expect("zones reset lock"));
        let mut reset: BTreeSet<String> = reset.union(&self.zones_sent).cloned().collect();
        reset.retain(|camera| !zones_sent.contains(camera));
        for reset in &reset {
            let body = SettingsBody { settings: None, changed_at: None, changed_by: None };
            self.publish(SettingsKind::Zones, reset, &body).await;
        }
        self.zones_sent = zones_sent;
        info!(
            cameras = cameras.len(),
            zones = zones.len(),
            rules = self.rules.len(),
            "camera, zone and rule settings published to the edges"
        );
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
    subscription: SignedSubscription,
}

impl SettingsFeed {
    /// A subscription under `settings.prefix`; its refusals counted in `registry`.
    pub fn new(settings: MqttSettings, registry: &Registry) -> Result<Self> {
        let filter = format!("{}/config/+/+", settings.prefix);
        let metric = (
            registry,
            "sharpeyes_settings_refused_total",
            "Settings messages from the centers refused (unsigned, or not readable)",
        );
        let subscription = SignedSubscription::new(settings, "settings-in", filter, "centers' settings", metric)?;
        Ok(Self { subscription })
    }

    /// Takes only messages signed with `key` (the centers' relay key).
    pub fn with_signing_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.subscription = self.subscription.with_signing_key(key);
        self
    }

    /// Hands each setting to `out` (the retained ones again after every reconnection) until `out`
    /// closes.
    pub async fn run(mut self, out: mpsc::Sender<PublishedSettings>) {
        let prefix = self.subscription.prefix().to_owned();
        loop {
            let publish = self.subscription.next().await;
            if publish.payload.is_empty() {
                continue;
            }
            if let Some(setting) =
                self.subscription.read(&publish, |topic, payload| read_settings(&prefix, topic, payload))
                && out.send(setting).await.is_err()
            {
                break;
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
        let zones = br#"{"settings": [{"id": "curb", "kind": "no_parking", "polygon": [[0,0],[1,0],[1,1]]}]}"#;
        let read = read_settings("city", &settings_topic("city", SettingsKind::Zones, "cam-1"), zones).unwrap();
        assert_eq!((read.kind, read.name.as_str()), (SettingsKind::Zones, "cam-1"));
        assert_eq!(read.body.settings.unwrap()[0]["id"], "curb");
    }

    #[test]
    fn other_topics_and_bad_payloads_are_refused_by_name() {
        let body = br#"{"settings": null}"#;
        assert!(read_settings("city", "city/config/masks/a", body).unwrap_err().contains("not a topic"));
        assert!(read_settings("city", "town/config/cameras/a", body).unwrap_err().contains("not a topic"));
        assert!(read_settings("city", "city/config/cameras/", body).unwrap_err().contains("names no"));
        assert!(read_settings("city", "city/config/cameras/a", b"{").unwrap_err().contains("does not read"));
    }
}
