//! Beyond one box: edge nodes near the cameras, centers where the command room is, joined by an MQTT
//! broker and one PostgreSQL database.
//!
//! - [`shard`]: which edge node analyses which camera (rendezvous hashing over the node list);
//! - [`crate::rules::wire`] (below the cases, where parked violations use it too): the violation
//!   message, with its stable id and frames;
//! - [`EdgeRelay`] (edge): spools each violation on disk, publishes it with QoS 1, forgets it when the
//!   broker acknowledges it;
//! - [`ViolationConsumer`] (center): a persistent MQTT v5 shared subscription; each message is
//!   acknowledged once its violation is filed, and filed once whoever receives it (the case engine's
//!   shared mode, see [`crate::casework::CaseEngine`]);
//! - [`SettingsBroadcast`] (center) and [`SettingsFeed`] (edge): the cameras and rule sections an
//!   admin set on a center (cameras, their zones, rule sections), carried to the edges as retained
//!   messages;
//! - [`EdgeAnnouncer`] (edge) and [`EdgeDirectory`] (center): which edge runs which camera and where
//!   its API is, for the tuning view's reads a center forwards;
//! - [`leader::lead`] (center): one center at a time sends notifications and runs supervision.

mod center;
mod config;
mod directory;
mod edge;
pub mod leader;
mod mqtt;
mod settings;
pub mod shard;
mod spool;

pub use center::{CenterMetrics, ViolationConsumer};
pub use config::ClusterConfig;
pub use directory::{
    EdgeAnnouncer, EdgeCard, EdgeCards, EdgeDirectory, Goodbye, KnownEdge, RunningCameras, edge_topic,
};
pub use edge::{EdgeMetrics, EdgeRelay};
pub use settings::{
    PublishedSettings, SettingsBody, SettingsBroadcast, SettingsChanged, SettingsFeed, SettingsKind, read_settings,
    settings_topic,
};
pub use spool::Spool;
