//! Camera zones changed through the API outlive a restart: at start-up the database's zones replace
//! the configuration file's for each camera an admin changed (the file seeds the rest).

use std::collections::HashMap;

use sharpeyes_alerting::{rules::ZoneConfig, store::Store};
use sharpeyes_ingest::Problem;
use tracing::{info, warn};

use crate::config::Config;

/// Replaces the zones of `config`'s cameras by those kept in `store`; returns each camera's zones as
/// the file gave them (what resetting a camera's zones goes back to). Kept zones that no longer
/// validate, or of a camera no longer configured, are named in the log and left in the database.
pub async fn apply_stored_zones(
    store: &Store,
    config: &mut Config,
) -> anyhow::Result<HashMap<String, Vec<ZoneConfig>>> {
    let from_file = config.cameras.iter().map(|camera| (camera.id.clone(), camera.zones.clone())).collect();
    for stored in store.all_camera_zones().await? {
        let Some(camera) = config.cameras.iter_mut().find(|camera| camera.id == stored.camera) else {
            warn!(camera = %stored.camera, "the database keeps zones of a camera the configuration no longer has: unused");
            continue;
        };
        let zones = match serde_json::from_str::<Vec<ZoneConfig>>(&stored.zones) {
            Ok(zones) => zones,
            Err(error) => {
                warn!(camera = %stored.camera, %error, "the database's zones of this camera do not read: the file's are used");
                continue;
            }
        };
        let problems = ZoneConfig::validate_list(&zones, "");
        if !problems.is_empty() {
            warn!(camera = %stored.camera, problems = %Problem::list(&problems, "; "), "the database's zones of this camera are invalid: the file's are used");
            continue;
        }
        info!(camera = %stored.camera, zones = zones.len(), changed_by = %stored.changed_by, changed_at = %stored.changed_at, "zones from the database (changed through the API)");
        camera.zones = zones;
    }
    Ok(from_file)
}
