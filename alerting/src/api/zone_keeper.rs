//! Where a change of a camera's zones takes effect: this node's rules (one box, an edge), or the
//! edges that run the camera, through the settings a center publishes.

use std::sync::Arc;

use crate::{
    cluster::SettingsChanged,
    rules::{RulesStopped, ZoneConfig, ZoneEditor},
};

/// The zones of a camera's own entry (before an admin's zones), by camera id; `None` for a camera
/// not in force.
pub type EntryZones = Arc<dyn Fn(&str) -> Option<Vec<ZoneConfig>> + Send + Sync>;

/// Where zone changes take effect.
#[derive(Clone)]
pub enum ZoneKeeper {
    /// In this node's rules (one box, or an edge).
    Here(ZoneEditor),
    /// On the edges (a center): the change is kept in the database and published to the edge that
    /// runs the camera.
    OnEdges {
        /// The cameras' entries' zones.
        entries: EntryZones,
        /// What publishes the database's settings to the edges.
        published: SettingsChanged,
    },
}

impl ZoneKeeper {
    /// The editor of this node's rules, if it runs them.
    pub fn editor(&self) -> Option<&ZoneEditor> {
        match self {
            Self::Here(editor) => Some(editor),
            Self::OnEdges { .. } => None,
        }
    }

    /// The zones of `camera`'s own entry; `None` for a camera not in force.
    pub fn entry_zones(&self, camera: &str) -> Option<Vec<ZoneConfig>> {
        match self {
            Self::Here(editor) => editor.file_zones(camera),
            Self::OnEdges { entries, .. } => entries(camera),
        }
    }

    /// Makes `zones` `camera`'s zones in force (here, or published to its edge).
    pub(super) fn apply(&self, camera: &str, zones: &[ZoneConfig]) -> Result<(), RulesStopped> {
        match self {
            Self::Here(editor) => editor.apply(camera, zones),
            Self::OnEdges { published, .. } => {
                published.notify();
                Ok(())
            }
        }
    }

    /// `camera`'s zones went back to its entry's.
    pub(super) fn reset(&self, camera: &str, entry: &[ZoneConfig]) -> Result<(), RulesStopped> {
        match self {
            Self::OnEdges { published, .. } => {
                published.zones_reset(camera);
                Ok(())
            }
            Self::Here(editor) => editor.apply(camera, entry),
        }
    }
}
