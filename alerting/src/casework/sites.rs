//! Where each camera is: the grid its cases are filed in and its position on the map. Cameras are
//! added, moved and removed at runtime, so the case engine and the map read one shared directory.

use std::sync::{Arc, RwLock};

/// Where a camera is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CameraSite {
    /// 15-digit grid code.
    pub grid: String,
    /// `[longitude, latitude]`, when known (needed to link duplicates).
    pub location: Option<[f64; 2]>,
}

/// One camera's entry: its site, and whether it was removed (kept so that its last violations, still
/// on their way, are filed in its grid).
#[derive(Debug)]
struct Entry {
    camera: Arc<str>,
    site: CameraSite,
    removed: bool,
}

/// The sites of the cameras, in the order they were added; cloned wherever they are read, every clone
/// seeing each change at once.
#[derive(Clone, Debug, Default)]
pub struct CameraSites(Arc<RwLock<Vec<Entry>>>);

impl<C: Into<Arc<str>>> FromIterator<(C, CameraSite)> for CameraSites {
    fn from_iter<I: IntoIterator<Item = (C, CameraSite)>>(cameras: I) -> Self {
        let sites = Self::default();
        for (camera, site) in cameras {
            sites.set(camera, site);
        }
        sites
    }
}

impl CameraSites {
    /// Where `camera` is (a removed camera included), when it is known.
    pub fn get(&self, camera: &str) -> Option<CameraSite> {
        self.read().iter().find(|entry| &*entry.camera == camera).map(|entry| entry.site.clone())
    }

    /// Puts `camera` at `site` (a new camera, one that moved, or one removed and added again).
    pub fn set(&self, camera: impl Into<Arc<str>>, site: CameraSite) {
        let camera = camera.into();
        let mut entries = self.0.write().expect("camera sites lock");
        match entries.iter_mut().find(|entry| entry.camera == camera) {
            Some(entry) => {
                entry.site = site;
                entry.removed = false;
            }
            None => entries.push(Entry { camera, site, removed: false }),
        }
    }

    /// Takes `camera` off the map; its site is kept for the violations it sent before it went.
    pub fn remove(&self, camera: &str) {
        if let Some(entry) = self.0.write().expect("camera sites lock").iter_mut().find(|e| &*e.camera == camera) {
            entry.removed = true;
        }
    }

    /// The cameras not removed, with their sites, in the order they were added.
    pub fn listed(&self) -> Vec<(Arc<str>, CameraSite)> {
        self.read()
            .iter()
            .filter(|entry| !entry.removed)
            .map(|entry| (entry.camera.clone(), entry.site.clone()))
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        self.0.read().expect("camera sites lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(grid: &str) -> CameraSite {
        CameraSite { grid: grid.into(), location: Some([120.3, 31.5]) }
    }

    #[test]
    fn a_removed_camera_leaves_the_list_but_keeps_its_site_for_late_violations() {
        let sites: CameraSites =
            [("gate", site("320200000000001")), ("yard", site("320200000000002"))].into_iter().collect();
        let reader = sites.clone();
        sites.set("dock", site("320200000000003"));
        sites.set("gate", site("320200000000009"));
        let listed =
            |sites: &CameraSites| sites.listed().iter().map(|(c, s)| format!("{c}:{}", s.grid)).collect::<Vec<_>>();
        assert_eq!(listed(&reader), ["gate:320200000000009", "yard:320200000000002", "dock:320200000000003"]);

        sites.remove("yard");
        assert_eq!(listed(&reader), ["gate:320200000000009", "dock:320200000000003"]);
        assert_eq!(
            reader.get("yard"),
            Some(site("320200000000002")),
            "a removed camera's late violations keep its grid"
        );
        assert_eq!(reader.get("nowhere"), None);

        sites.set("yard", site("320200000000004"));
        assert_eq!(listed(&reader), ["gate:320200000000009", "yard:320200000000004", "dock:320200000000003"]);
    }
}
