use std::{collections::HashMap, sync::Arc, time::Duration};

use super::SensorKind;

/// The broker and the topics.
#[derive(Clone, Debug)]
pub struct MqttSettings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Client id; with a persistent session the broker keeps QoS 1 messages for it while it is away.
    pub client_id: String,
    /// User name and password, if the broker asks for them.
    pub credentials: Option<(String, String)>,
    /// Topic prefix: `{prefix}/sensors/{device_id}/{kind}`, `{prefix}/deadletter/{device_id}`.
    pub prefix: String,
    /// Payloads larger than this are rejected as oversized (and dead-lettered).
    pub max_payload: usize,
    /// First delay before reconnecting; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest delay between reconnection attempts.
    pub backoff_max: Duration,
}

impl MqttSettings {
    /// Parses `mqtt://[user:password@]host[:port]`; other schemes are refused with a reason.
    pub fn from_url(url: &str, client_id: &str, prefix: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|err| format!("'{url}' is not a URL: {err}"))?;
        if parsed.scheme() != "mqtt" {
            return Err(format!("'{}': only mqtt:// brokers are supported", parsed.scheme()));
        }
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("'{url}' has no host"))?;
        let credentials = (!parsed.username().is_empty())
            .then(|| (parsed.username().to_owned(), parsed.password().unwrap_or_default().to_owned()));
        Ok(Self {
            host: host.to_owned(),
            port: parsed.port().unwrap_or(1883),
            client_id: client_id.to_owned(),
            credentials,
            prefix: prefix.trim_end_matches('/').to_owned(),
            max_payload: 64 * 1024,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        })
    }
}

/// A registered sensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    /// Device id, as in its topic.
    pub id: Arc<str>,
    /// What it measures.
    pub kind: SensorKind,
    /// The 15-digit grid it stands in.
    pub grid: String,
    /// `[longitude, latitude]`, when known.
    pub location: Option<[f64; 2]>,
}

/// Every known device by id. Messages from devices not in it are rejected.
#[derive(Clone, Debug, Default)]
pub struct DeviceRegistry {
    devices: HashMap<String, Device>,
}

impl DeviceRegistry {
    /// A registry of `devices`.
    pub fn new(devices: impl IntoIterator<Item = Device>) -> Self {
        Self { devices: devices.into_iter().map(|d| (d.id.to_string(), d)).collect() }
    }

    /// The device with this id.
    pub fn get(&self, id: &str) -> Option<&Device> {
        self.devices.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let settings = MqttSettings::from_url("mqtt://edge:pw@127.0.0.1:1884", "se-1", "city/").unwrap();
        assert_eq!((settings.host.as_str(), settings.port, settings.prefix.as_str()), ("127.0.0.1", 1884, "city"));
        assert_eq!(settings.credentials, Some(("edge".into(), "pw".into())));
        assert_eq!(MqttSettings::from_url("mqtt://broker", "x", "p").unwrap().port, 1883);
        assert!(MqttSettings::from_url("http://broker", "x", "p").unwrap_err().contains("mqtt://"));
    }
}
