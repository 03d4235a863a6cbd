//! Which edge node runs which camera, and where the centers reach its API: each edge announces itself
//! as a *retained* MQTT message on `{prefix}/edges/{node}` ([`EdgeCard`]: its API's address and the
//! cameras it runs), again whenever its cameras change; its last will clears the message when it
//! goes without a goodbye, and it clears it itself when it stops. A center's [`EdgeDirectory`]
//! follows the announcements, so that the tuning view's reads (a camera's latest frame, its
//! detections, a zone preview) go to the edge that holds them.
//!
//! The announcement is what the edge actually runs, not what a center would compute from the
//! configuration: a center needs no edge list, and a camera an edge could not start is not sent to
//! it. Announcements are signed with the relay key when one is set; a center refuses unsigned ones
//! then (`sharpeyes_edge_cards_refused_total`), since it hands the caller's token to the address.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use prometheus::Registry;
use rumqttc::{
    Outgoing,
    v5::{
        AsyncClient, Event, EventLoop,
        mqttbytes::{
            QoS,
            v5::{LastWill, Packet},
        },
    },
};
use serde::{Deserialize, Serialize};
use sharpeyes_ingest::mqtt::MqttSettings;
use tracing::{info, warn};

use super::mqtt::{SignedSubscription, client_options, signed_properties};
use crate::Result;

/// How often an edge looks whether its cameras changed.
const CAMERAS_CHECKED_EVERY: Duration = Duration::from_secs(1);

/// What an edge announces of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeCard {
    /// The base URL of its API (`http://edge-0.sharpeyes-edge:8080`).
    pub api: String,
    /// The cameras it runs.
    pub cameras: Vec<String>,
}

/// The topic of node `node`'s card under `prefix`.
pub fn edge_topic(prefix: &str, node: &str) -> String {
    format!("{prefix}/edges/{node}")
}

/// The cameras an edge runs, read when it announces itself.
pub type RunningCameras = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// An edge's announcement of itself.
pub struct EdgeAnnouncer {
    client: AsyncClient,
    eventloop: EventLoop,
    settings: MqttSettings,
    topic: String,
    api: String,
    cameras: RunningCameras,
    key: Option<Vec<u8>>,
}

impl EdgeAnnouncer {
    /// The announcer of node `node`, whose API the centers reach at `api`, running `cameras`.
    pub fn new(settings: MqttSettings, node: &str, api: String, cameras: RunningCameras) -> Result<Self> {
        let topic = edge_topic(&settings.prefix, node);
        let mut options = client_options(&settings, format!("{}-card", settings.client_id))?;
        options.set_clean_start(true);
        options.set_last_will(LastWill::new(topic.clone(), Vec::new(), QoS::AtLeastOnce, true, None));
        let (client, eventloop) = AsyncClient::new(options, 16);
        Ok(Self { client, eventloop, settings, topic, api, cameras, key: None })
    }

    /// Signs the card with `key` (the centers' relay key).
    pub fn with_signing_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.key = key;
        self
    }

    /// A handle that clears the card (call it when the edge stops).
    pub fn goodbye(&self) -> Goodbye {
        Goodbye { client: self.client.clone(), topic: self.topic.clone() }
    }

    /// Announces on every connection and whenever the cameras change, until [`Goodbye::say`]
    /// disconnects it.
    pub async fn run(self) {
        let Self { client, mut eventloop, settings, topic, api, cameras: running, key } = self;
        let card = CardPublisher { client, topic, api, key };
        let mut delays = sharpeyes_ingest::backoff::retry_delays(settings.backoff_min, settings.backoff_max);
        let mut check = tokio::time::interval(CAMERAS_CHECKED_EVERY);
        let mut announced: Option<Vec<String>> = None;
        let mut connected = false;
        loop {
            tokio::select! {
                event = eventloop.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        delays = sharpeyes_ingest::backoff::retry_delays(settings.backoff_min, settings.backoff_max);
                        connected = true;
                        announced = None;
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(error) => {
                        connected = false;
                        let delay = delays.next().unwrap_or(settings.backoff_max);
                        warn!(%error, retry_in_ms = delay.as_millis() as u64, "edge card lost the broker");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                },
                _ = check.tick() => {}
            }
            let mut cameras = running();
            cameras.sort();
            if connected && announced.as_ref() != Some(&cameras) {
                card.announce(&cameras).await;
                announced = Some(cameras);
            }
        }
    }
}

/// What publishes an edge's card.
struct CardPublisher {
    client: AsyncClient,
    topic: String,
    api: String,
    key: Option<Vec<u8>>,
}

impl CardPublisher {
    async fn announce(&self, cameras: &[String]) {
        let card = EdgeCard { api: self.api.clone(), cameras: cameras.to_vec() };
        let payload = serde_json::to_vec(&card).expect("an edge card serialises");
        let properties = signed_properties(self.key.as_deref(), &payload);
        match self.client.publish_with_properties(self.topic.clone(), QoS::AtLeastOnce, true, payload, properties).await
        {
            Ok(()) => {
                info!(topic = %self.topic, api = %self.api, cameras = cameras.len(), "edge announced to the centers")
            }
            Err(error) => warn!(topic = %self.topic, %error, "cannot hand the edge card to the MQTT client"),
        }
    }
}

/// Clears an edge's card when it stops.
pub struct Goodbye {
    client: AsyncClient,
    topic: String,
}

impl Goodbye {
    /// Clears the card (an empty retained message) and disconnects; the announcer then ends.
    pub async fn say(self) {
        let _ = self.client.publish(self.topic, QoS::AtLeastOnce, true, Vec::new()).await;
        let _ = self.client.disconnect().await;
    }
}

/// The edges as they announced themselves, kept by a center.
#[derive(Clone, Default)]
pub struct EdgeDirectory {
    cards: Arc<RwLock<BTreeMap<String, EdgeCard>>>,
}

/// An edge as the directory knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownEdge {
    /// Its node name.
    pub node: String,
    /// Its card.
    pub card: EdgeCard,
}

impl EdgeDirectory {
    /// The edge that runs `camera`, if one announced it.
    pub fn edge_of(&self, camera: &str) -> Option<KnownEdge> {
        let cards = self.cards.read().expect("edge directory lock");
        cards
            .iter()
            .find(|(_, card)| card.cameras.iter().any(|c| c == camera))
            .map(|(node, card)| KnownEdge { node: node.clone(), card: card.clone() })
    }

    /// Every edge that announced itself, by node name.
    pub fn edges(&self) -> Vec<KnownEdge> {
        let cards = self.cards.read().expect("edge directory lock");
        cards.iter().map(|(node, card)| KnownEdge { node: node.clone(), card: card.clone() }).collect()
    }

    pub(crate) fn set(&self, node: &str, card: Option<EdgeCard>) {
        let mut cards = self.cards.write().expect("edge directory lock");
        match card {
            Some(card) => {
                info!(node, api = %card.api, cameras = card.cameras.len(), "edge known");
                cards.insert(node.to_owned(), card);
            }
            None => {
                if cards.remove(node).is_some() {
                    info!(node, "edge gone");
                }
            }
        }
    }
}

/// A center's subscription to the edges' cards, filling an [`EdgeDirectory`].
pub struct EdgeCards {
    subscription: SignedSubscription,
    directory: EdgeDirectory,
}

impl EdgeCards {
    /// A subscription under `settings.prefix`, its refusals counted in `registry`; the directory it
    /// fills.
    pub fn new(settings: MqttSettings, registry: &Registry) -> Result<(Self, EdgeDirectory)> {
        let filter = edge_topic(&settings.prefix, "+");
        let metric =
            (registry, "sharpeyes_edge_cards_refused_total", "Edge announcements refused (unsigned, or not readable)");
        let subscription = SignedSubscription::new(settings, "edges-in", filter, "edges' cards", metric)?;
        let directory = EdgeDirectory::default();
        Ok((Self { subscription, directory: directory.clone() }, directory))
    }

    /// Takes only cards signed with `key` (the relay key).
    pub fn with_signing_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.subscription = self.subscription.with_signing_key(key);
        self
    }

    /// Follows the cards until aborted.
    pub async fn run(mut self) {
        let nodes = edge_topic(self.subscription.prefix(), "");
        loop {
            let publish = self.subscription.next().await;
            let topic = String::from_utf8_lossy(&publish.topic);
            let Some(node) = topic.strip_prefix(&nodes).filter(|node| !node.is_empty()) else {
                continue;
            };
            // An empty message is the edge's goodbye (or its last will): it names no address to trust.
            if publish.payload.is_empty() {
                self.directory.set(node, None);
                continue;
            }
            let read = |_: &str, payload: &[u8]| serde_json::from_slice::<EdgeCard>(payload).map_err(|e| e.to_string());
            if let Some(card) = self.subscription.read(&publish, read) {
                self.directory.set(node, Some(card));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_finds_the_edge_that_runs_a_camera_until_it_goes() {
        let directory = EdgeDirectory::default();
        let card = |api: &str, cameras: &[&str]| EdgeCard {
            api: api.into(),
            cameras: cameras.iter().map(|c| (*c).to_owned()).collect(),
        };
        directory.set("edge-a", Some(card("http://a:8080", &["cam-1", "cam-2"])));
        directory.set("edge-b", Some(card("http://b:8080", &["cam-3"])));
        assert_eq!(directory.edge_of("cam-3").map(|e| e.node), Some("edge-b".into()));
        assert_eq!(directory.edge_of("cam-2").map(|e| e.card.api), Some("http://a:8080".into()));
        assert!(directory.edge_of("cam-9").is_none());
        directory.set("edge-b", None);
        assert!(directory.edge_of("cam-3").is_none());
        assert_eq!(directory.edges().len(), 1);
        assert_eq!(edge_topic("city", "edge-a"), "city/edges/edge-a");
    }
}
