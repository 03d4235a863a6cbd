//! What the cluster's MQTT v5 clients (the edge relay, the center's consumer, the settings broadcast
//! and feed) share: how they connect, and how a message carries its signature (see [`wire::sign`]).

use std::time::Duration;

use rumqttc::v5::{
    MqttOptions,
    mqttbytes::v5::{Publish, PublishProperties},
};
use sharpeyes_ingest::mqtt::MqttSettings;

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
