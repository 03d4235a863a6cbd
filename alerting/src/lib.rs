//! Alerting: the last stage of sharpeyes.
//!
//! - [`rules`]: zones, the IoU tracker and the dwell rule that turn detections into [`rules::Violation`]s;
//! - [`calendar`]: working time and daily windows of local time (a foundation every layer may use);
//! - [`cases`]: the case domain: workflow, roles, deadlines, grids, taxonomy, whistles, evidence images;
//! - [`store`]: cases in SQLite or PostgreSQL through sqlx migrations;
//! - [`casework`]: what works on stored cases: the case engine (one open case per camera, zone and
//!   category), citizen reports, the deadline clock;
//! - [`clock`]: where the engine and the notifier read the time (simulated in tests);
//! - [`cluster`]: edge and center roles: camera sharding, the violation relay over MQTT, the leader;
//! - [`notify`]: routing of every case change to receivers through an outbox, with retries;
//! - [`api`]: the authenticated HTTP API, `/healthz` and `/metrics`.

pub mod api;
pub mod calendar;
pub mod cases;
pub mod casework;
pub mod clock;
pub mod cluster;
mod error;
mod metrics;
pub mod notify;
pub mod rules;
pub mod store;

pub use error::{Error, Result};
pub use metrics::{AlertingMetrics, QualityMetrics};
