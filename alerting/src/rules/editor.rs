//! Changing a running camera's zones: the tuning view shows them at once, and the camera's rules
//! watch them from its next analysed frame. The camera's stream is not touched (no reconnect), and
//! no other camera's rules are.

use std::{collections::HashMap, sync::Arc};

use crossbeam_channel::Sender;

use super::{CameraViews, RulesUpdate, ZoneConfig};

/// The rules stage has stopped (the service is shutting down): the change was not applied.
#[derive(Debug, thiserror::Error)]
#[error("the rules have stopped: the zones were not applied")]
pub struct RulesStopped;

/// Hands zone changes to the running rules; cloned into the API.
#[derive(Clone, Debug)]
pub struct ZoneEditor {
    views: Arc<CameraViews>,
    updates: Sender<RulesUpdate>,
    from_file: Arc<HashMap<String, Vec<ZoneConfig>>>,
}

impl ZoneEditor {
    /// The editor of the cameras of `from_file` (each camera this node analyses, with its zones as the
    /// configuration file gives them), sending to the rules stage on `updates`.
    pub fn new(
        views: Arc<CameraViews>,
        updates: Sender<RulesUpdate>,
        from_file: HashMap<String, Vec<ZoneConfig>>,
    ) -> Self {
        Self { views, updates, from_file: Arc::new(from_file) }
    }

    /// `camera`'s zones in the configuration file; `None` for a camera this node does not analyse.
    pub fn file_zones(&self, camera: &str) -> Option<&[ZoneConfig]> {
        self.from_file.get(camera).map(Vec::as_slice)
    }

    /// Makes `zones` (validated by [`ZoneConfig::validate_list`]) `camera`'s zones.
    pub fn apply(&self, camera: &str, zones: &[ZoneConfig]) -> Result<(), RulesStopped> {
        let camera: Arc<str> = Arc::from(camera);
        let built: Vec<_> = zones.iter().map(ZoneConfig::build).collect();
        self.updates.send(RulesUpdate::Zones(camera.clone(), built.clone())).map_err(|_| RulesStopped)?;
        self.views.set_zones(camera, built);
        Ok(())
    }
}
