//! What the cluster's MQTT v5 clients (the edge relay, the center's consumer, the settings broadcast
//! and feed, the edge cards) share: how they connect, how a message carries its signature (see
//! [`wire::sign`]), and how a subscription to signed messages refuses the others.

use std::time::Duration;

use prometheus::{IntCounter, Registry};
use rumqttc::v5::{
    AsyncClient, Event, EventLoop, MqttOptions,
    mqttbytes::{
        QoS,
        v5::{Packet, Publish, PublishProperties},
    },
};
use sharpeyes_ingest::mqtt::MqttSettings;
use tracing::{info, warn};

use crate::{Result, rules::wire};

/// The options of client `client_id` on the broker of `settings`: a 15 s keep-alive, the transport
/// (TLS when asked) and the credentials; the caller sets its session and limits.
pub(super) fn client_options(settings: &MqttSettings, client_id: String) -> Result<MqttOptions> {
    let mut options = MqttOptions::new(client_id, &settings.host, settings.port);
    options.set_keep_alive(Duration::from_secs(15));
    options.set_transport(settings.transport().map_err(|error| crate::Error::Mqtt(error.to_string()))?);
    if let Some((user, password)) = &settings.credentials {
        options.set_credentials(user, password);
    }
    Ok(options)
}

/// The properties of a JSON message `payload`, signed with `key` when there is one.
pub(super) fn signed_properties(key: Option<&[u8]>, payload: &[u8]) -> PublishProperties {
    let mut properties =
        PublishProperties { content_type: Some("application/json".into()), ..PublishProperties::default() };
    if let Some(key) = key {
        properties.user_properties.push((wire::SIGNATURE_PROPERTY.into(), wire::sign(key, payload)));
    }
    properties
}

/// The signature `publish` carries, if any.
pub(super) fn signature_of(publish: &Publish) -> Option<&str> {
    let properties = publish.properties.as_ref()?;
    properties
        .user_properties
        .iter()
        .find(|(name, _)| name == wire::SIGNATURE_PROPERTY)
        .map(|(_, value)| value.as_str())
}

/// A subscription to messages the relay key signs (the centers' settings, the edges' cards): it
/// subscribes on every connection, reconnects with backoff, and counts and names each message it
/// refuses.
pub(super) struct SignedSubscription {
    client: AsyncClient,
    eventloop: EventLoop,
    settings: MqttSettings,
    filter: String,
    key: Option<Vec<u8>>,
    refused: IntCounter,
    what: &'static str,
}

impl SignedSubscription {
    /// Client `{client_id}-{suffix}` subscribing to `filter` for `what` (named in the log); refusals
    /// counted in `registry` as `metric`.
    pub(super) fn new(
        settings: MqttSettings,
        suffix: &str,
        filter: String,
        what: &'static str,
        (registry, metric, help): (&Registry, &str, &str),
    ) -> Result<Self> {
        let refused = IntCounter::new(metric, help)
            .and_then(|refused| registry.register(Box::new(refused.clone())).map(|()| refused))
            .map_err(|error| crate::Error::Config(format!("metrics: {error}")))?;
        let mut options = client_options(&settings, format!("{}-{suffix}", settings.client_id))?;
        options.set_clean_start(true).set_max_packet_size(Some(u32::try_from(settings.max_packet).unwrap_or(u32::MAX)));
        let (client, eventloop) = AsyncClient::new(options, 16);
        Ok(Self { client, eventloop, settings, filter, key: None, refused, what })
    }

    /// Takes only messages signed with `key`.
    pub(super) fn with_signing_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.key = key;
        self
    }

    /// The topic prefix of the broker's settings.
    pub(super) fn prefix(&self) -> &str {
        &self.settings.prefix
    }

    /// The next message (the retained ones again after every reconnection).
    pub(super) async fn next(&mut self) -> Publish {
        let (min, max) = (self.settings.backoff_min, self.settings.backoff_max);
        let mut delays = sharpeyes_ingest::backoff::retry_delays(min, max);
        loop {
            match self.eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    delays = sharpeyes_ingest::backoff::retry_delays(min, max);
                    info!(filter = %self.filter, "subscribed to the {}", self.what);
                    if let Err(error) = self.client.subscribe(self.filter.clone(), QoS::AtLeastOnce).await {
                        warn!(%error, "cannot subscribe to the {}", self.what);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => return publish,
                Ok(_) => {}
                Err(error) => {
                    let delay = delays.next().unwrap_or(max);
                    warn!(%error, retry_in_ms = delay.as_millis() as u64, "lost the broker of the {}", self.what);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// `publish` read by `read` once its signature holds (when a key is set); a message that fails
    /// either is counted and named in the log, and `None`.
    pub(super) fn read<T>(
        &self,
        publish: &Publish,
        read: impl FnOnce(&str, &[u8]) -> std::result::Result<T, String>,
    ) -> Option<T> {
        let topic = String::from_utf8_lossy(&publish.topic);
        let read = match &self.key {
            Some(key) => wire::verify(key, &publish.payload, signature_of(publish)).map_err(|error| error.to_string()),
            None => Ok(()),
        }
        .and_then(|()| read(&topic, &publish.payload));
        match read {
            Ok(read) => Some(read),
            Err(error) => {
                self.refused.inc();
                warn!(%topic, %error, "a message of the {} was refused", self.what);
                None
            }
        }
    }
}
