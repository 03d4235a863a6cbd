use std::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

/// Where a camera stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// The pipeline is starting or reconnecting.
    Connecting,
    /// Frames are arriving.
    Streaming,
    /// Connected, but no frame for longer than the watchdog allows.
    Stalled,
    /// The last attempt failed; waiting for the next one.
    Offline,
}

impl CameraState {
    /// Every state.
    pub const ALL: [Self; 4] = [Self::Connecting, Self::Streaming, Self::Stalled, Self::Offline];

    /// The snake_case name used in the API, metrics and MQTT.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Streaming => "streaming",
            Self::Stalled => "stalled",
            Self::Offline => "offline",
        }
    }
}

/// Live status of one camera, shared between its source thread, the API and the metrics. Every change
/// of state is also sent to [`CameraStatus::watch`]ers.
#[derive(Debug)]
pub struct CameraStatus {
    inner: Mutex<StatusSnapshot>,
    frames: AtomicU64,
    dropped: AtomicU64,
    skipped: AtomicU64,
    changes: watch::Sender<StatusSnapshot>,
}

/// A copy of a camera's status at one moment.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StatusSnapshot {
    /// Camera id.
    pub id: String,
    /// Camera URL with credentials redacted.
    pub url: String,
    /// Current state.
    pub state: CameraState,
    /// When the camera entered `state`.
    pub since: DateTime<Utc>,
    /// The error that ended the last attempt, if any.
    pub last_error: Option<String>,
    /// Decoded frames handed to the detector since start.
    pub frames: u64,
    /// Frames dropped (oldest first) because the detector was behind.
    pub frames_dropped: u64,
    /// Key-frames received but not decoded nor analysed, by the camera's `analyse_every_s`.
    pub frames_skipped: u64,
    /// Pipeline restarts since start.
    pub restarts: u64,
    /// Capture time of the latest frame.
    pub last_frame_at: Option<DateTime<Utc>>,
}

impl CameraStatus {
    /// A camera that is about to connect.
    pub fn new(id: &str, redacted_url: String) -> Self {
        let snapshot = StatusSnapshot {
            id: id.to_owned(),
            url: redacted_url,
            state: CameraState::Connecting,
            since: Utc::now(),
            last_error: None,
            frames: 0,
            frames_dropped: 0,
            frames_skipped: 0,
            restarts: 0,
            last_frame_at: None,
        };
        Self {
            changes: watch::Sender::new(snapshot.clone()),
            inner: Mutex::new(snapshot),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// A receiver that sees the status each time the camera changes state.
    pub fn watch(&self) -> watch::Receiver<StatusSnapshot> {
        self.changes.subscribe()
    }

    /// Moves to `state` (keeping `since` when the state does not change).
    pub fn set_state(&self, state: CameraState, error: Option<String>) {
        let mut inner = self.lock();
        let changed = inner.state != state;
        if changed {
            inner.state = state;
            inner.since = Utc::now();
        }
        if error.is_some() {
            inner.last_error = error;
        }
        if changed {
            self.announce(&inner);
        }
    }

    /// Records a restart of the pipeline.
    pub fn count_restart(&self) {
        self.lock().restarts += 1;
    }

    /// Records a frame captured at `at`; called from GStreamer's streaming thread.
    pub fn frame_arrived(&self, at: DateTime<Utc>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.alive(at);
    }

    /// A key-frame captured at `at` arrived and is left out by the camera's analysis interval: the
    /// camera is streaming, the frame is not counted as handed on.
    pub fn frame_skipped(&self, at: DateTime<Utc>) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        self.alive(at);
    }

    fn alive(&self, at: DateTime<Utc>) {
        let mut inner = self.lock();
        inner.last_frame_at = Some(at);
        if inner.state != CameraState::Streaming {
            inner.state = CameraState::Streaming;
            inner.since = at;
            self.announce(&inner);
        }
    }

    /// Records a frame dropped from the queue because the detector was behind.
    pub fn frame_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> StatusSnapshot {
        self.counted(&self.lock())
    }

    fn announce(&self, inner: &StatusSnapshot) {
        self.changes.send_replace(self.counted(inner));
    }

    /// `inner` with the frame counters filled in.
    fn counted(&self, inner: &StatusSnapshot) -> StatusSnapshot {
        let mut snapshot = inner.clone();
        snapshot.frames = self.frames.load(Ordering::Relaxed);
        snapshot.frames_dropped = self.dropped.load(Ordering::Relaxed);
        snapshot.frames_skipped = self.skipped.load(Ordering::Relaxed);
        snapshot
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusSnapshot> {
        self.inner.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_see_each_change_of_state_and_not_each_frame() {
        let status = CameraStatus::new("cam", "rtsp://127.0.0.1/x".into());
        let mut watcher = status.watch();
        status.frame_arrived(Utc::now());
        assert!(watcher.has_changed().unwrap());
        assert_eq!(watcher.borrow_and_update().state, CameraState::Streaming);
        status.frame_arrived(Utc::now());
        assert!(!watcher.has_changed().unwrap(), "a frame in the same state is not a change");
        status.set_state(CameraState::Stalled, Some("no frame for 20 s".into()));
        let seen = watcher.borrow_and_update().clone();
        assert_eq!(
            (seen.state, seen.last_error.as_deref(), seen.frames),
            (CameraState::Stalled, Some("no frame for 20 s"), 2)
        );
    }
}
