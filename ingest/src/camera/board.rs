//! The cameras running now: their statuses, changed as cameras are added and removed at runtime, read
//! by the API, `/metrics` and the MQTT status publisher.

use std::sync::Arc;

use tokio::sync::watch;

use super::CameraStatus;

/// The statuses of the cameras running now; cloned wherever they are read, every clone seeing each
/// change at once.
#[derive(Clone, Debug)]
pub struct CameraBoard(Arc<watch::Sender<Vec<Arc<CameraStatus>>>>);

impl Default for CameraBoard {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl CameraBoard {
    /// A board of `statuses`.
    pub fn new(statuses: Vec<Arc<CameraStatus>>) -> Self {
        Self(Arc::new(watch::Sender::new(statuses)))
    }

    /// The statuses of the cameras running now, in the order they started.
    pub fn statuses(&self) -> Vec<Arc<CameraStatus>> {
        self.0.borrow().clone()
    }

    /// The status of camera `id`, when it runs.
    pub fn get(&self, id: &str) -> Option<Arc<CameraStatus>> {
        self.0.borrow().iter().find(|status| status.id() == id).cloned()
    }

    /// Puts `status` on the board, in place of a camera of the same id.
    pub fn insert(&self, status: Arc<CameraStatus>) {
        self.0.send_modify(|statuses| match statuses.iter_mut().find(|known| known.id() == status.id()) {
            Some(known) => *known = status,
            None => statuses.push(status),
        });
    }

    /// Takes camera `id` off the board; whether it was on it.
    pub fn remove(&self, id: &str) -> bool {
        self.0.send_if_modified(|statuses| {
            let before = statuses.len();
            statuses.retain(|status| status.id() != id);
            statuses.len() != before
        })
    }

    /// A receiver that sees the board each time a camera is added or removed.
    pub fn watch(&self) -> watch::Receiver<Vec<Arc<CameraStatus>>> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str) -> Arc<CameraStatus> {
        Arc::new(CameraStatus::new(id, format!("rtsp://127.0.0.1/{id}")))
    }

    #[test]
    fn cameras_come_and_go_and_watchers_see_each_change() {
        let board = CameraBoard::new(vec![status("gate")]);
        let mut changes = board.watch();
        board.insert(status("yard"));
        assert!(changes.has_changed().unwrap());
        let ids = |board: &CameraBoard| board.statuses().iter().map(|s| s.id().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(&board), ["gate", "yard"]);
        changes.mark_unchanged();

        let replacement = status("gate");
        board.insert(replacement.clone());
        assert!(Arc::ptr_eq(&board.get("gate").unwrap(), &replacement), "a camera started again replaces its status");
        assert_eq!(ids(&board), ["gate", "yard"]);

        changes.mark_unchanged();
        assert!(!board.remove("nowhere"));
        assert!(!changes.has_changed().unwrap(), "removing an unknown camera changes nothing");
        assert!(board.remove("gate"));
        assert!(changes.has_changed().unwrap());
        assert_eq!(ids(&board), ["yard"]);
        assert!(board.get("gate").is_none());
    }
}
