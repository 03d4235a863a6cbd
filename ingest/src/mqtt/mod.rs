//! MQTT sensor ingest: the city's IoT sensors (manhole covers, smoke, water level, noise, parking bays).
//!
//! - [`MqttSettings`] and the [`DeviceRegistry`]: the broker, and which device is what and where;
//! - [`schema`]: one JSON schema per sensor kind, with ranges; a payload is a [`SensorReading`] or a
//!   [`Rejection`] naming why not;
//! - [`SensorSource`]: subscribes to `{prefix}/sensors/{device_id}/{kind}` (QoS 1, persistent session),
//!   hands valid events on, and republishes every invalid payload to `{prefix}/deadletter/{device_id}`
//!   with its reason and original bytes, counted by reason. The ingest never stops for bad input;
//! - [`SensorBoard`]: the latest reading of each sensor, for the API;
//! - [`publish_board_statuses`]: each running camera's status, published on the same connection when it changes.

mod board;
mod config;
pub mod schema;
mod settings;
mod source;
mod status;

pub use board::{SensorBoard, SensorSnapshot};
pub use config::{MqttConfig, SensorConfig};
pub use schema::{FieldValue, Rejection, SensorKind, SensorReading};
pub use settings::{Device, DeviceRegistry, MqttSettings};
pub use source::{Receipt, SensorEvent, SensorMessage, SensorMetrics, SensorSource};
pub use status::publish_board_statuses;
