//! The cameras this node runs, kept in force while it runs: the configuration file seeds them, the
//! database's changes (made through the API) win over the file's, and both kinds of change apply at
//! runtime, one camera at a time, without touching the others:
//!
//! - `POST`, `PUT` and `DELETE /api/v1/cameras` ([`ChangeRequest`]s): validated as `check-config`
//!   validates the file, kept in the database (audited), then applied;
//! - SIGHUP: a camera new in the file starts, one gone from it stops, one changed in it changes —
//!   unless the API changed that camera, which then keeps the API's settings.
//!
//! Applying a camera: its site (grid, place) for the case engine and the map, its maintenance windows
//! for the notifier, its zones for the rules
//! (an admin's zones kept in the database stay in force), then its stream, which reconnects only when
//! its stream settings changed. A removed camera's open cases stay and can be worked to the end.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sharpeyes_alerting::{
    api::{CameraChange, ChangeRefusal, ChangeRequest},
    cases::Principal,
    casework::{CameraSite, CameraSites},
    clock::SharedClock,
    cluster::SettingsChanged,
    notify::MaintenanceWindows,
    rules::{ZoneConfig, ZoneEditor},
    store::Store,
};
use sharpeyes_ingest::Problem;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::feeds::CameraFeeds;
use crate::{
    config::{CameraConfig, Config, shown},
    reload::Configs,
};

/// Where a running camera's settings come from.
#[derive(Clone, Debug, Serialize)]
pub struct Origin {
    /// `file` or `api`.
    pub source: &'static str,
    /// When an admin set them (`api` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
    /// The token that set them (`api` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
}

impl Origin {
    /// From the configuration file.
    pub const FILE: Self = Self { source: "file", changed_at: None, changed_by: None };

    /// Set through the API at `at` by `by`.
    pub fn api(at: DateTime<Utc>, by: &str) -> Self {
        Self { source: "api", changed_at: Some(at), changed_by: Some(by.to_owned()) }
    }
}

/// A camera in force: its entry (the zones of the entry itself, before an admin's zones) and where
/// it comes from.
#[derive(Clone, Debug)]
pub struct KeptCamera {
    /// The `[[cameras]]` entry.
    pub camera: CameraConfig,
    /// File or API.
    pub origin: Origin,
}

/// The cameras in force, shared with what shows the configuration.
pub type InForce = Arc<RwLock<Vec<KeptCamera>>>;

/// Puts the database's camera changes into `config` (before it starts): a kept camera replaces the
/// file's of its id or is added, a kept removal takes the file's away. A kept camera that no longer
/// validates is named in the log and left out (the file's, if any, runs). Returns each camera's origin.
pub async fn apply_stored_cameras(store: &Store, config: &mut Config) -> anyhow::Result<Vec<KeptCamera>> {
    let mut kept: Vec<KeptCamera> =
        config.cameras.iter().map(|camera| KeptCamera { camera: camera.clone(), origin: Origin::FILE }).collect();
    for stored in store.stored_cameras().await? {
        let origin = Origin::api(stored.changed_at, &stored.changed_by);
        let Some(settings) = stored.settings else {
            if kept.iter().any(|k| k.camera.id == stored.camera) {
                info!(camera = %stored.camera, changed_by = %stored.changed_by, "camera removed through the API: not started");
            }
            kept.retain(|k| k.camera.id != stored.camera);
            continue;
        };
        let camera = serde_json::from_str(&settings)
            .map_err(|error| vec![Problem::at("(stored)", error.to_string())])
            .and_then(|entry| config.checked_camera(entry));
        match camera {
            Ok(camera) => {
                info!(camera = %camera.id, changed_by = %stored.changed_by, changed_at = %stored.changed_at, "camera from the database (set through the API)");
                match kept.iter_mut().find(|k| k.camera.id == camera.id) {
                    Some(known) => *known = KeptCamera { camera, origin },
                    None => kept.push(KeptCamera { camera, origin }),
                }
            }
            Err(problems) => warn!(
                camera = %stored.camera,
                problems = %Problem::list(&problems, "; "),
                "the database's settings of this camera are invalid: not used"
            ),
        }
    }
    config.cameras = kept.iter().map(|k| k.camera.clone()).collect();
    Ok(kept)
}

/// Where the cameras' streams run.
pub enum Streams {
    /// On this node: its streams and its rules' zones.
    Here {
        /// The running streams.
        feeds: CameraFeeds,
        /// The rules' zones.
        editor: ZoneEditor,
    },
    /// On the edge nodes (this is a center): only where each camera is, and its maintenance windows,
    /// are kept here.
    OnEdges,
}

/// The cameras in force on this node, changed one camera at a time without touching the others.
pub struct CameraRunner {
    /// Where their streams run.
    pub streams: Streams,
    /// The cameras' sites, for the case engine and the map.
    pub sites: CameraSites,
    /// The cameras' maintenance windows, which mute their notifications.
    pub maintenance: MaintenanceWindows,
    /// The cameras in force.
    pub in_force: InForce,
}

impl CameraRunner {
    /// Camera `id` as it runs.
    pub fn get(&self, id: &str) -> Option<KeptCamera> {
        self.in_force.read().expect("cameras in force lock").iter().find(|k| k.camera.id == id).cloned()
    }

    /// Every camera in force.
    pub fn running(&self) -> Vec<KeptCamera> {
        self.in_force.read().expect("cameras in force lock").clone()
    }

    /// Starts a camera new on this node: its site, its `zones`, then its stream.
    pub fn start(&self, kept: KeptCamera, zones: &[ZoneConfig]) -> Result<(), ChangeRefusal> {
        let camera = &kept.camera;
        self.sites.set(camera.id.as_str(), site(camera));
        self.maintenance.set(&camera.id, maintenance_of(camera));
        if let Streams::Here { feeds, editor } = &self.streams {
            editor.add_camera(&camera.id, camera.zones.clone());
            editor.apply(&camera.id, zones).map_err(stopping)?;
            feeds.start(camera).map_err(|error| not_started(camera, &error))?;
        }
        info!(camera = %camera.id, source = kept.origin.source, "camera started");
        self.in_force.write().expect("cameras in force lock").push(kept);
        Ok(())
    }

    /// Changes a running camera from `old` to `new`: its site, its zones (to `zones`) when they
    /// changed, and its stream (a reconnect) only when its stream settings changed.
    pub fn replace(&self, old: &KeptCamera, new: KeptCamera, zones: &[ZoneConfig]) -> Result<(), ChangeRefusal> {
        let (before, camera) = (&old.camera, &new.camera);
        let unchanged = serde_json::to_value(before).ok() == serde_json::to_value(camera).ok();
        if unchanged && old.origin.source == new.origin.source {
            return Ok(());
        }
        self.sites.set(camera.id.as_str(), site(camera));
        self.maintenance.set(&camera.id, maintenance_of(camera));
        if let Streams::Here { feeds, editor } = &self.streams {
            editor.add_camera(&camera.id, camera.zones.clone());
            if before.zones != camera.zones || new.origin.source == "api" {
                editor.apply(&camera.id, zones).map_err(stopping)?;
            }
            if stream_settings(before) != stream_settings(camera) {
                feeds.start(camera).map_err(|error| not_started(camera, &error))?;
                info!(camera = %camera.id, "camera changed: its stream reconnects");
            } else {
                info!(camera = %camera.id, "camera changed: its stream untouched");
            }
        } else {
            info!(camera = %camera.id, "camera changed");
        }
        let mut in_force = self.in_force.write().expect("cameras in force lock");
        if let Some(known) = in_force.iter_mut().find(|k| k.camera.id == camera.id) {
            *known = new;
        }
        Ok(())
    }

    /// Makes `zones` camera `id`'s zones in its rules (nothing where the streams run on the edges).
    pub fn apply_zones(&self, id: &str, zones: &[ZoneConfig]) -> Result<(), ChangeRefusal> {
        if let Streams::Here { editor, .. } = &self.streams {
            editor.apply(id, zones).map_err(stopping)?;
        }
        Ok(())
    }

    /// Stops a running camera: its stream, its rules; its site stays for its last violations.
    pub fn stop(&self, id: &str) -> Result<(), ChangeRefusal> {
        if let Streams::Here { feeds, editor } = &self.streams {
            feeds.stop(id);
            editor.remove_camera(id).map_err(stopping)?;
        }
        self.sites.remove(id);
        self.maintenance.set(id, Vec::new());
        self.in_force.write().expect("cameras in force lock").retain(|k| k.camera.id != id);
        info!(camera = id, "camera removed");
        Ok(())
    }

    /// Applies what a configuration file read again asks (see [`file_changes`]), each camera
    /// started or changed with `zones_of` it; a change that fails is named in the log.
    pub fn apply_file(&self, changes: Vec<FileChange>, zones_of: impl Fn(&CameraConfig) -> Vec<ZoneConfig>) {
        for change in changes {
            let (id, applied) = match change {
                FileChange::Stop(id) => {
                    info!(camera = %id, "SIGHUP: a camera gone from the file stops");
                    let stopped = self.stop(&id);
                    (id, stopped)
                }
                FileChange::Start(camera) => {
                    info!(camera = %camera.id, "SIGHUP: a camera new in the file starts");
                    let zones = zones_of(&camera);
                    let started = self.start(KeptCamera { camera: camera.clone(), origin: Origin::FILE }, &zones);
                    (camera.id, started)
                }
                FileChange::Replace(old, camera) => {
                    let zones = zones_of(&camera);
                    let kept = KeptCamera { camera: camera.clone(), origin: Origin::FILE };
                    (camera.id, self.replace(&old, kept, &zones))
                }
            };
            if let Err(refused) = applied {
                warn!(camera = %id, error = %refused, "SIGHUP: the camera's change was not applied");
            }
        }
    }
}

/// What a configuration file read again asks of the cameras in force.
#[derive(Debug)]
pub enum FileChange {
    /// A camera new in the file starts.
    Start(CameraConfig),
    /// A running camera takes the file's entry (nothing happens when it is the same).
    Replace(Box<KeptCamera>, CameraConfig),
    /// A camera gone from the file stops.
    Stop(String),
}

/// The changes that bring the cameras in force (`running`) to the `file`'s cameras, leaving alone
/// those `set_elsewhere` (through the API) says an admin set.
pub fn file_changes(
    running: &[KeptCamera],
    file: &[CameraConfig],
    set_elsewhere: impl Fn(&str) -> bool,
) -> Vec<FileChange> {
    let mut changes: Vec<FileChange> = running
        .iter()
        .filter(|k| k.origin.source == "file" && !file.iter().any(|c| c.id == k.camera.id))
        .map(|gone| FileChange::Stop(gone.camera.id.clone()))
        .collect();
    for camera in file {
        let known = running.iter().find(|k| k.camera.id == camera.id);
        if set_elsewhere(&camera.id) {
            let differs = |k: &KeptCamera| serde_json::to_value(&k.camera).ok() != serde_json::to_value(camera).ok();
            if known.is_some_and(differs) {
                info!(camera = %camera.id, "SIGHUP: the camera was set through the API, whose settings stay in force");
            }
            continue;
        }
        changes.push(match known {
            None => FileChange::Start(camera.clone()),
            Some(old) => FileChange::Replace(Box::new(old.clone()), camera.clone()),
        });
    }
    changes
}

/// Applies camera changes asked through the API and by the file to the running node.
pub struct CameraKeeper {
    /// The case database (changes and an admin's zones).
    pub store: Store,
    /// The cameras in force.
    pub runner: CameraRunner,
    /// Told of every change made (on a center: publishes it to the edges).
    pub broadcast: Option<SettingsChanged>,
    /// What stamps the API's changes.
    pub clock: SharedClock,
}

impl CameraKeeper {
    /// Serves the API's `requests` and each configuration `configs` reads again, until both end.
    pub async fn run(self, mut requests: mpsc::Receiver<ChangeRequest<CameraChange>>, mut configs: Configs) {
        let mut config = configs.borrow_and_update().clone();
        let (mut serving, mut reading) = (true, true);
        while serving || reading {
            tokio::select! {
                request = requests.recv(), if serving => match request {
                    Some(ChangeRequest { change, who, reply }) => {
                        let answer = self.change(&config, change, &who).await;
                        if let (Ok(_), Some(broadcast)) = (&answer, &self.broadcast) {
                            broadcast.notify();
                        }
                        let _ = reply.send(answer);
                    }
                    None => serving = false,
                },
                changed = configs.changed(), if reading => match changed {
                    Ok(()) => {
                        config = configs.borrow_and_update().clone();
                        self.follow_file(&config).await;
                    }
                    Err(_) => reading = false,
                },
            }
        }
    }

    /// Makes an API change: validated against `config`, kept in the database, applied.
    async fn change(&self, config: &Config, change: CameraChange, who: &Principal) -> Result<Value, ChangeRefusal> {
        let now = self.clock.now();
        let invalid = |problems: Vec<Problem>| ChangeRefusal::Invalid(Problem::list(&problems, "; "));
        let origin = Origin::api(now, &who.name);
        match change {
            CameraChange::Add(entry) => {
                let camera = config.checked_camera(entry).map_err(invalid)?;
                if self.runner.get(&camera.id).is_some() {
                    return Err(ChangeRefusal::Conflict(format!(
                        "camera '{}' runs already: change it with PUT /api/v1/cameras/{}",
                        camera.id, camera.id
                    )));
                }
                let shown = self.keep(&camera, "camera.add", who, now).await?;
                let zones = self.zones_in_force(&camera).await?;
                self.runner.start(KeptCamera { camera, origin }, &zones)?;
                Ok(shown)
            }
            CameraChange::Replace { id, camera } => {
                let old = self.runner.get(&id).ok_or_else(|| ChangeRefusal::Unknown(format!("no camera '{id}'")))?;
                let camera = config.checked_camera(camera).map_err(invalid)?;
                let shown = self.keep(&camera, "camera.change", who, now).await?;
                let zones = self.zones_in_force(&camera).await?;
                self.runner.replace(&old, KeptCamera { camera, origin }, &zones)?;
                Ok(shown)
            }
            CameraChange::Remove { id } => {
                let old = self.runner.get(&id).ok_or_else(|| ChangeRefusal::Unknown(format!("no camera '{id}'")))?;
                let mut shown = shown_camera(&old.camera, &origin);
                self.store.set_camera(&id, None, &shown.to_string(), "camera.remove", who, now).await?;
                self.runner.stop(&id)?;
                shown["removed"] = Value::Bool(true);
                Ok(shown)
            }
        }
    }

    /// Keeps `camera` in the database as the API set it; returns it as the API shows it.
    async fn keep(
        &self,
        camera: &CameraConfig,
        action: &str,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Value, ChangeRefusal> {
        let shown = shown_camera(camera, &Origin::api(now, &who.name));
        let settings = serde_json::to_string(camera).expect("a camera's settings serialise");
        self.store.set_camera(&camera.id, Some(&settings), &shown.to_string(), action, who, now).await?;
        Ok(shown)
    }

    /// Follows a configuration file read again: the file's cameras the API did not change start, stop
    /// or change as the file says.
    async fn follow_file(&self, config: &Config) {
        let stored = match self.store.stored_cameras().await {
            Ok(stored) => stored,
            Err(error) => {
                warn!(%error, "SIGHUP: cameras not changed: the database did not answer");
                return;
            }
        };
        let by_api = |id: &str| stored.iter().any(|s| s.camera == id);
        let changes = file_changes(&self.runner.running(), &config.cameras, by_api);
        let mut zones = std::collections::HashMap::new();
        for change in &changes {
            if let FileChange::Start(camera) | FileChange::Replace(_, camera) = change {
                match self.zones_in_force(camera).await {
                    Ok(found) => zones.insert(camera.id.clone(), found),
                    Err(refused) => {
                        warn!(camera = %camera.id, error = %refused, "SIGHUP: cameras not changed");
                        return;
                    }
                };
            }
        }
        self.runner.apply_file(changes, |camera| zones.get(&camera.id).cloned().unwrap_or_default());
    }

    /// The zones `camera` runs with: an admin's kept in the database, else its entry's.
    async fn zones_in_force(&self, camera: &CameraConfig) -> Result<Vec<ZoneConfig>, ChangeRefusal> {
        let Some(kept) = self.store.camera_zones(&camera.id).await? else {
            return Ok(camera.zones.clone());
        };
        Ok(serde_json::from_str(&kept.zones).unwrap_or_else(|error| {
            warn!(camera = %camera.id, %error, "the database's zones of this camera do not read: its entry's are used");
            camera.zones.clone()
        }))
    }
}

fn stopping(error: impl std::fmt::Display) -> ChangeRefusal {
    ChangeRefusal::Conflict(format!("{error}: the service is stopping"))
}

fn not_started(camera: &CameraConfig, error: &std::io::Error) -> ChangeRefusal {
    ChangeRefusal::Conflict(format!("camera '{}': its stream could not start: {error}", camera.id))
}

/// `camera`'s daily maintenance windows (validated: each reads).
pub fn maintenance_of(camera: &CameraConfig) -> Vec<(NaiveTime, NaiveTime)> {
    camera.maintenance.iter().filter_map(crate::config::parse_window).collect()
}

/// Where `camera` is, for its cases and the map.
fn site(camera: &CameraConfig) -> CameraSite {
    CameraSite { grid: camera.grid.clone(), location: camera.location }
}

/// What of `camera` its stream runs with: everything but its zones, grid, place and maintenance windows.
fn stream_settings(camera: &CameraConfig) -> Value {
    let mut value = serde_json::to_value(camera).expect("a camera's settings serialise");
    if let Some(fields) = value.as_object_mut() {
        for key in ["zones", "grid", "location", "maintenance"] {
            fields.remove(key);
        }
    }
    value
}

/// `camera` as the API and `GET /api/v1/config` show it: its entry without secrets, and its origin.
pub fn shown_camera(camera: &CameraConfig, origin: &Origin) -> Value {
    let mut value = shown::as_json(camera);
    shown::redact(&mut value);
    if let (Some(fields), Ok(Value::Object(origin))) = (value.as_object_mut(), serde_json::to_value(origin)) {
        fields.extend(origin);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(id: &str, url: &str) -> CameraConfig {
        serde_json::from_value(serde_json::json!({ "id": id, "url": url, "grid": "110105001001001" })).unwrap()
    }

    fn kept(id: &str, url: &str, origin: Origin) -> KeptCamera {
        KeptCamera { camera: camera(id, url), origin }
    }

    /// The changes as `(what, camera)`.
    fn plan(changes: Vec<FileChange>) -> Vec<(&'static str, String)> {
        changes
            .into_iter()
            .map(|change| match change {
                FileChange::Start(camera) => ("start", camera.id),
                FileChange::Replace(old, camera) => {
                    assert_eq!(old.camera.id, camera.id);
                    ("replace", camera.id)
                }
                FileChange::Stop(id) => ("stop", id),
            })
            .collect()
    }

    #[test]
    fn a_file_read_again_starts_changes_and_stops_only_what_no_admin_set() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let running = [
            kept("kept", "rtsp://a/1", Origin::FILE),
            kept("gone", "rtsp://a/2", Origin::FILE),
            kept("by-api", "rtsp://a/3", Origin::api(at, "ops")),
            kept("api-only", "rtsp://a/4", Origin::api(at, "ops")),
        ];
        let file = [camera("kept", "rtsp://a/1b"), camera("new", "rtsp://a/5"), camera("by-api", "rtsp://a/3b")];
        let set_by_api = |id: &str| id == "by-api" || id == "api-only";
        assert_eq!(
            plan(file_changes(&running, &file, set_by_api)),
            [("stop", "gone".to_owned()), ("replace", "kept".to_owned()), ("start", "new".to_owned())]
        );
        // A camera an admin removed stays removed, though the file still lists it.
        let removed_by_api = |id: &str| id == "new";
        assert_eq!(plan(file_changes(&running[..1], &file[..2], removed_by_api)), [("replace", "kept".to_owned())]);
    }
}
