//! `[mqtt]` and `[[sensors]]`: the city's broker and its sensor registry as the configuration file
//! writes them, validated with every problem's key path, and turned into [`MqttSettings`] and
//! [`Device`]s.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Device, MqttSettings, SensorKind};
use crate::Problem;

/// `[mqtt]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MqttConfig {
    /// `mqtt://[user:password@]host[:port]` or `mqtts://...` (TLS).
    pub url: String,
    /// Client id (the broker keeps its persistent session).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Topic prefix: `{prefix}/sensors/{device_id}/{kind}`, `{prefix}/deadletter/{device_id}`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Larger payloads are refused as oversized (acknowledged and dead-lettered with their size).
    #[serde(default = "default_max_payload_bytes")]
    pub max_payload_bytes: usize,
    /// The largest packet the client reads (default: MQTT's maximum, 268,435,455). Keep it above the
    /// broker's `max_packet_size` (Mosquitto): a larger message would break the connection, and the
    /// broker would deliver it again on every reconnect.
    #[serde(default = "default_max_packet_bytes")]
    pub max_packet_bytes: usize,
    /// PEM file of the CA of an `mqtts://` broker (default: the system's roots).
    pub ca_file: Option<PathBuf>,
}

fn default_client_id() -> String {
    "sharpeyes".into()
}
fn default_prefix() -> String {
    "sharpeyes".into()
}
const fn default_max_payload_bytes() -> usize {
    64 * 1024
}
const fn default_max_packet_bytes() -> usize {
    super::settings::MQTT_MAX_PACKET
}

/// `[[sensors]]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SensorConfig {
    /// Device id, as in its topic.
    pub id: String,
    /// What it measures.
    pub kind: SensorKind,
    /// Grid cell it stands in; unset: the cell of `cases.grid_polygons` containing `location`.
    #[serde(default)]
    pub grid: String,
    /// `[longitude, latitude]`.
    pub location: Option<[f64; 2]>,
}

impl MqttConfig {
    /// Every problem of `[mqtt]`, by key path.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Err(message) = MqttSettings::from_url(&self.url, &self.client_id, &self.prefix) {
            problems.push(Problem::at("mqtt.url", message));
        }
        if self.prefix.is_empty() || self.prefix.contains(['+', '#']) {
            problems.push(Problem::at("mqtt.prefix", "must be a non-empty topic without wildcards"));
        }
        if !(self.max_payload_bytes..=super::settings::MQTT_MAX_PACKET).contains(&self.max_packet_bytes) {
            problems.push(Problem::at(
                "mqtt.max_packet_bytes",
                format!(
                    "must be at least mqtt.max_payload_bytes ({}) and at most MQTT's {}",
                    self.max_payload_bytes,
                    super::settings::MQTT_MAX_PACKET
                ),
            ));
        }
        problems
    }

    /// The broker connection settings; the error names `mqtt.url` (without its password).
    pub fn settings(&self) -> Result<MqttSettings, Problem> {
        let mut settings = MqttSettings::from_url(&self.url, &self.client_id, &self.prefix)
            .map_err(|message| Problem::at("mqtt.url", message))?;
        settings.max_payload = self.max_payload_bytes;
        settings.max_packet = self.max_packet_bytes;
        settings.ca_file = self.ca_file.clone();
        Ok(settings)
    }
}

impl SensorConfig {
    /// The device as sensor ingest knows it.
    pub fn device(&self) -> Device {
        Device {
            id: self.id.as_str().into(),
            kind: self.kind,
            grid: self.grid.as_str().into(),
            location: self.location,
        }
    }
}
