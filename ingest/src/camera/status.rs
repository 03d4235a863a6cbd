use std::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a camera stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

/// Live status of one camera, shared between its source thread and the API.
#[derive(Debug)]
pub struct CameraStatus {
    inner: Mutex<StatusSnapshot>,
    frames: AtomicU64,
    dropped: AtomicU64,
}

/// A copy of a camera's status at one moment.
#[derive(Clone, Debug, Serialize)]
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
    /// Pipeline restarts since start.
    pub restarts: u64,
    /// Capture time of the latest frame.
    pub last_frame_at: Option<DateTime<Utc>>,
}

impl CameraStatus {
    /// A camera that is about to connect.
    pub fn new(id: &str, redacted_url: String) -> Self {
        Self {
            inner: Mutex::new(StatusSnapshot {
                id: id.to_owned(),
                url: redacted_url,
                state: CameraState::Connecting,
                since: Utc::now(),
                last_error: None,
                frames: 0,
                frames_dropped: 0,
                restarts: 0,
                last_frame_at: None,
            }),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Moves to `state` (keeping `since` when the state does not change).
    pub fn set_state(&self, state: CameraState, error: Option<String>) {
        let mut inner = self.lock();
        if inner.state != state {
            inner.state = state;
            inner.since = Utc::now();
        }
        if error.is_some() {
            inner.last_error = error;
        }
    }

    /// Records a restart of the pipeline.
    pub fn count_restart(&self) {
        self.lock().restarts += 1;
    }

    /// Records a frame captured at `at`; called from GStreamer's streaming thread.
    pub fn frame_arrived(&self, at: DateTime<Utc>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        inner.last_frame_at = Some(at);
        if inner.state != CameraState::Streaming {
            inner.state = CameraState::Streaming;
            inner.since = at;
        }
    }

    /// Records a frame dropped from the queue because the detector was behind.
    pub fn frame_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> StatusSnapshot {
        let mut snapshot = self.lock().clone();
        snapshot.frames = self.frames.load(Ordering::Relaxed);
        snapshot.frames_dropped = self.dropped.load(Ordering::Relaxed);
        snapshot
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusSnapshot> {
        self.inner.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}
