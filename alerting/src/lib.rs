//! Alerting: the last stage of sharpeyes.
//!
//! - [`rules`]: zones, the IoU tracker and the dwell rule that turn detections into [`rules::Violation`]s;
//! - [`cases`]: the case engine (one open case per camera, zone and category), the taxonomy of case
//!   codes, and evidence images;
//! - [`store`]: cases in SQLite through sqlx migrations;
//! - [`cluster`]: edge and center roles: camera sharding, the violation relay over MQTT, the leader;
//! - [`notify`]: routing of every case change to receivers through an outbox, with retries;
//! - [`api`]: the authenticated HTTP API, `/healthz` and `/metrics`.

pub mod api;
pub mod cases;
pub mod cluster;
mod error;
mod metrics;
pub mod notify;
pub mod rules;
pub mod store;

pub use error::{Error, Result};
pub use metrics::AlertingMetrics;
