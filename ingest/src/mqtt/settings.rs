use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use rumqttc::Transport;

use super::SensorKind;
use crate::{Error, Result};

/// The broker and the topics.
#[derive(Clone, Debug)]
pub struct MqttSettings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// TLS (`mqtts://`).
    pub tls: bool,
    /// PEM file of the CA that signed the broker's certificate (TLS only; default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Client id; with a persistent session the broker keeps QoS 1 messages for it while it is away.
    pub client_id: String,
    /// User name and password, if the broker asks for them.
    pub credentials: Option<(String, String)>,
    /// Topic prefix: `{prefix}/sensors/{device_id}/{kind}`, `{prefix}/deadletter/{device_id}`.
    pub prefix: String,
    /// Payloads larger than this are rejected as oversized (and dead-lettered).
    pub max_payload: usize,
    /// The largest packet the client reads: above the broker's own limit, so that no message the
    /// broker delivers can break the connection (it is read, refused and acknowledged instead).
    pub max_packet: usize,
    /// First delay before reconnecting; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest delay between reconnection attempts.
    pub backoff_max: Duration,
}

/// The largest packet MQTT can carry (its remaining length is at most 268,435,455 bytes).
pub const MQTT_MAX_PACKET: usize = 268_435_455;

impl MqttSettings {
    /// Parses `mqtt://[user:password@]host[:port]` (port 1883) or `mqtts://...` (TLS, port 8883);
    /// other schemes are refused with a reason.
    pub fn from_url(url: &str, client_id: &str, prefix: &str) -> Result<Self, String> {
        // Errors name the URL without its password.
        let shown = crate::urls::redact_url(url);
        let parsed = url::Url::parse(url).map_err(|err| format!("{shown} is not a URL: {err}"))?;
        let tls = match parsed.scheme() {
            "mqtt" => false,
            "mqtts" => true,
            other => return Err(format!("'{other}': only mqtt:// and mqtts:// brokers are supported")),
        };
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("'{shown}' has no host"))?;
        let credentials = (!parsed.username().is_empty())
            .then(|| (parsed.username().to_owned(), parsed.password().unwrap_or_default().to_owned()));
        Ok(Self {
            host: host.to_owned(),
            port: parsed.port().unwrap_or(if tls { 8883 } else { 1883 }),
            tls,
            ca_file: None,
            client_id: client_id.to_owned(),
            credentials,
            prefix: prefix.trim_end_matches('/').to_owned(),
            max_payload: 64 * 1024,
            max_packet: MQTT_MAX_PACKET,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        })
    }
}

impl MqttSettings {
    /// The connection's transport: plain TCP, or TLS verified against `ca_file` (or the system roots).
    pub fn transport(&self) -> Result<Transport> {
        if !self.tls {
            return Ok(Transport::tcp());
        }
        match &self.ca_file {
            Some(path) => {
                let ca = std::fs::read(path).map_err(|source| Error::MqttCaFile { path: path.clone(), source })?;
                Ok(Transport::tls(ca, None, None))
            }
            None => Ok(Transport::tls_with_default_config()),
        }
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
    pub grid: Arc<str>,
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
        let tls = MqttSettings::from_url("mqtts://broker", "x", "p").unwrap();
        assert_eq!((tls.tls, tls.port), (true, 8883));
        let mut tls = tls;
        tls.ca_file = Some("/nonexistent/ca.pem".into());
        let Err(err) = tls.transport() else { panic!("a missing CA file is an error") };
        let err = err.to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
