//! An edge keeps the last settings the centers published (cameras, zones, rule sections) on its own
//! disk, one file each under `{data_dir}/center-settings/{cameras|zones|rules}/{name}.json`, so that
//! it starts with them even when the broker is away: a camera a center removed does not start, one
//! a center changed starts as changed. The broker's retained messages, once they come, win; the
//! cache follows them.
//!
//! Written here rather than taken from a crate: it is a directory of small JSON files, each written
//! whole to a temporary file and renamed over the old one, so a crash leaves the old or the new
//! file, never half of one.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use sharpeyes_alerting::cluster::{PublishedSettings, SettingsBody, SettingsKind};
use tracing::warn;

/// The settings an edge keeps.
pub struct SettingsCache {
    dir: PathBuf,
    kept: HashMap<(&'static str, String), SettingsBody>,
}

impl SettingsCache {
    /// Opens the cache under `dir`, reading what it holds; a file that does not read is named in the
    /// log and left (the broker's message replaces it).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let mut kept = HashMap::new();
        for kind in SettingsKind::ALL {
            let level = dir.join(kind.topic_level());
            std::fs::create_dir_all(&level)?;
            for entry in std::fs::read_dir(&level)? {
                let path = entry?.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
                    continue;
                };
                let read = std::fs::read(&path).map_err(|error| error.to_string()).and_then(|bytes| {
                    serde_json::from_slice::<SettingsBody>(&bytes).map_err(|error| error.to_string())
                });
                match read {
                    Ok(body) => {
                        kept.insert((kind.topic_level(), name.to_owned()), body);
                    }
                    Err(error) => {
                        warn!(file = %path.display(), %error, "a kept setting of the centers does not read: not used")
                    }
                }
            }
        }
        Ok(Self { dir: dir.to_owned(), kept })
    }

    /// Every kept setting: cameras first, then zones, then rules.
    pub fn settings(&self) -> Vec<PublishedSettings> {
        SettingsKind::ALL
            .into_iter()
            .flat_map(|kind| {
                self.kept
                    .iter()
                    .filter(move |((level, _), _)| *level == kind.topic_level())
                    .map(move |((_, name), body)| PublishedSettings { kind, name: name.clone(), body: body.clone() })
            })
            .collect()
    }

    /// The ids of the cameras a center set or removed.
    pub fn cameras(&self) -> impl Iterator<Item = &str> {
        self.kept
            .keys()
            .filter(|(level, _)| *level == SettingsKind::Camera.topic_level())
            .map(|(_, name)| name.as_str())
    }

    /// Keeps `setting` (nothing is written when it is the one kept); a failed write is named in the
    /// log: the setting is applied all the same, and kept at its next message.
    pub fn keep(&mut self, setting: &PublishedSettings) {
        let key = (setting.kind.topic_level(), setting.name.clone());
        if self.kept.get(&key) == Some(&setting.body) {
            return;
        }
        let path = self.dir.join(key.0).join(format!("{}.json", setting.name));
        let written = serde_json::to_vec_pretty(&setting.body).map_err(std::io::Error::other).and_then(|bytes| {
            let temporary = path.with_extension("json.new");
            std::fs::write(&temporary, bytes)?;
            std::fs::rename(&temporary, &path)
        });
        match written {
            Ok(()) => {
                self.kept.insert(key, setting.body.clone());
            }
            Err(error) => warn!(file = %path.display(), %error, "a setting of the centers could not be kept on disk"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(kind: SettingsKind, name: &str, settings: Option<serde_json::Value>) -> PublishedSettings {
        PublishedSettings {
            kind,
            name: name.into(),
            body: SettingsBody { settings, changed_at: None, changed_by: None },
        }
    }

    #[test]
    fn kept_settings_read_back_after_a_restart_cameras_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = SettingsCache::open(dir.path()).unwrap();
        let rule = setting(SettingsKind::Rule, "litter", Some(serde_json::json!({ "min_dwell_s": 3.0 })));
        let removed = setting(SettingsKind::Camera, "cam-2", None);
        let zones = setting(SettingsKind::Zones, "cam-1", Some(serde_json::json!([])));
        for kept in [&rule, &removed, &zones] {
            cache.keep(kept);
        }
        std::fs::write(dir.path().join("cameras/broken.json"), b"{").unwrap();
        let reopened = SettingsCache::open(dir.path()).unwrap();
        assert_eq!(reopened.settings(), [removed, zones, rule]);
        assert_eq!(reopened.cameras().collect::<Vec<_>>(), ["cam-2"], "the file that does not read is left out");
    }
}
