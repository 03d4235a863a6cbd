use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use super::interval::moving_average;

/// A camera is `degraded` when its effective analysis interval is longer than this many times the
/// interval it asks for ...
const DEGRADED_BEYOND: f64 = 1.5;
/// ... and `streaming` again once it is back under this many times (so that a box at the edge of its
/// capacity does not flip the state, and log, at every key-frame).
const RECOVERED_UNDER: f64 = 1.25;
/// Key-frames a camera must have received before it can be called degraded (its spacing is known by
/// then, and start-up's first decode does not count).
const PACE_WARM_UP: u64 = 4;

/// Where a camera stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// The pipeline is starting or reconnecting.
    Connecting,
    /// Frames are arriving and analysed as often as the camera asks.
    Streaming,
    /// Frames are arriving, but the box analyses them less often than the camera asks (by more than
    /// half its interval): overloaded.
    Degraded,
    /// Connected, but no frame for longer than the watchdog allows.
    Stalled,
    /// The last attempt failed; waiting for the next one.
    Offline,
}

impl CameraState {
    /// Every state.
    pub const ALL: [Self; 5] = [Self::Connecting, Self::Streaming, Self::Degraded, Self::Stalled, Self::Offline];

    /// The snake_case name used in the API, metrics and MQTT.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Streaming => "streaming",
            Self::Degraded => "degraded",
            Self::Stalled => "stalled",
            Self::Offline => "offline",
        }
    }
}

/// Live status of one camera, shared between its source thread, the API and the metrics. Every change
/// of state is also sent to [`CameraStatus::watch`]ers.
#[derive(Debug)]
pub struct CameraStatus {
    id: String,
    inner: Mutex<StatusSnapshot>,
    frames: AtomicU64,
    dropped: AtomicU64,
    skipped: AtomicU64,
    pace: Mutex<Pace>,
    changes: watch::Sender<StatusSnapshot>,
}

/// How often a camera's frames arrive and are analysed (capture times), to tell whether the box keeps
/// up with it.
#[derive(Debug, Default)]
struct Pace {
    /// The interval the camera asks for (`analyse_every_s`); `None`: every frame that arrives.
    every: Option<TimeDelta>,
    received: u64,
    last_received: Option<DateTime<Utc>>,
    first_received: Option<DateTime<Utc>>,
    /// Moving average of the time between frames received.
    spacing: TimeDelta,
    analysed: u64,
    last_analysed: Option<DateTime<Utc>>,
    /// Moving average of the time between frames analysed.
    interval: TimeDelta,
}

impl Pace {
    /// The interval the camera asks for: its `analyse_every_s`, never shorter than its frames' spacing.
    fn target(&self) -> Option<TimeDelta> {
        let target = self.every.unwrap_or_default().max(self.spacing);
        (target > TimeDelta::zero()).then_some(target)
    }

    /// The interval analysis gives the camera, as of `now`: the moving average, or the time since the
    /// last analysed frame when that is longer (a starved camera's interval grows while it waits).
    fn effective(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        let since = self.last_analysed.or(self.first_received)?;
        let waiting = now - since;
        Some(if self.last_analysed.is_some() { self.interval.max(waiting) } else { waiting })
    }

    /// How many times the asked-for interval analysis gives the camera, once it is known.
    fn lag(&self, now: DateTime<Utc>) -> Option<f64> {
        let (target, effective) = (self.target()?, self.effective(now)?);
        (self.received >= PACE_WARM_UP).then(|| seconds(effective) / seconds(target))
    }
}

fn seconds(delta: TimeDelta) -> f64 {
    delta.as_seconds_f64()
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
    /// Frames taken by the detector since start.
    pub frames_analysed: u64,
    /// Seconds between analysed frames the camera asks for: its `analyse_every_s`, never shorter than
    /// the spacing of its frames (key-frames in key-frame mode). `None` until known.
    pub target_interval_s: Option<f64>,
    /// Seconds between the frames analysis actually takes (moving average, or the wait since the last
    /// one when longer). Grows evenly across cameras when the box cannot keep up.
    pub analysis_interval_s: Option<f64>,
    /// `target_interval_s / analysis_interval_s`, at most 1: the share of the asked-for analyses done.
    pub keep_up: Option<f64>,
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
            frames_analysed: 0,
            target_interval_s: None,
            analysis_interval_s: None,
            keep_up: None,
            restarts: 0,
            last_frame_at: None,
        };
        Self {
            id: id.to_owned(),
            changes: watch::Sender::new(snapshot.clone()),
            inner: Mutex::new(snapshot),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            pace: Mutex::new(Pace::default()),
        }
    }

    /// The camera's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The interval the camera asks for between analysed key-frames (`analyse_every_s`).
    pub fn set_analysis_interval(&self, every: Option<Duration>) {
        self.pace().every = every.and_then(|every| TimeDelta::from_std(every).ok());
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
        self.received(at);
    }

    /// The detector took the camera's frame captured at `at`.
    pub fn frame_analysed(&self, at: DateTime<Utc>) {
        let mut pace = self.pace();
        if let Some(gap) = pace.last_analysed.map(|last| at - last).filter(|gap| *gap > TimeDelta::zero()) {
            pace.interval = moving_average(pace.interval, gap);
        }
        pace.last_analysed = Some(pace.last_analysed.map_or(at, |last| last.max(at)));
        pace.analysed += 1;
        let now = pace.last_received.unwrap_or(at).max(at);
        self.judge(&pace, now);
    }

    fn received(&self, at: DateTime<Utc>) {
        let mut pace = self.pace();
        if let Some(gap) = pace.last_received.map(|last| at - last).filter(|gap| *gap > TimeDelta::zero()) {
            pace.spacing = moving_average(pace.spacing, gap);
        }
        pace.first_received.get_or_insert(at);
        pace.last_received = Some(at);
        pace.received += 1;
        self.judge(&pace, at);
    }

    /// Moves a streaming camera to `degraded` when analysis falls behind what it asks for by more than
    /// half, and back when it is within a quarter again; a log line each time it changes.
    fn judge(&self, pace: &Pace, now: DateTime<Utc>) {
        let lag = pace.lag(now);
        let target = pace.target().map(seconds);
        let interval = pace.effective(now).map(seconds);
        let mut inner = self.lock();
        inner.frames_analysed = pace.analysed;
        inner.target_interval_s = target;
        inner.analysis_interval_s = interval;
        inner.keep_up = target.zip(interval).map(|(t, i)| if i > 0.0 { (t / i).min(1.0) } else { 1.0 });
        let to = match (inner.state, lag) {
            (CameraState::Streaming, Some(lag)) if lag > DEGRADED_BEYOND => CameraState::Degraded,
            (CameraState::Degraded, lag) if lag.is_none_or(|lag| lag < RECOVERED_UNDER) => CameraState::Streaming,
            _ => return,
        };
        let (target_s, interval_s) = (target.unwrap_or_default(), interval.unwrap_or_default());
        if to == CameraState::Degraded {
            warn!(camera = %inner.id, target_s, interval_s, "camera analysed less often than it asks: the box is overloaded");
        } else {
            info!(camera = %inner.id, target_s, interval_s, "camera analysed as often as it asks again");
        }
        inner.state = to;
        inner.since = now;
        self.announce(&inner);
    }

    /// A key-frame captured at `at` arrived and is left out by the camera's analysis interval: the
    /// camera is streaming, the frame is not counted as handed on.
    pub fn frame_skipped(&self, at: DateTime<Utc>) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        self.alive(at);
        self.received(at);
    }

    fn alive(&self, at: DateTime<Utc>) {
        let mut inner = self.lock();
        inner.last_frame_at = Some(at);
        if !matches!(inner.state, CameraState::Streaming | CameraState::Degraded) {
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

    fn pace(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.pace.lock().unwrap_or_else(|poison| poison.into_inner())
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

    #[test]
    fn a_camera_analysed_less_often_than_it_asks_is_degraded_until_it_catches_up() {
        let status = CameraStatus::new("cam", String::new());
        status.set_analysis_interval(Some(Duration::from_secs(4)));
        let mut watcher = status.watch();
        let start = Utc::now();
        let at = |s: i64| start + TimeDelta::seconds(s);
        // Key-frames every 2 s, one in two analysed: every 4 s, as asked.
        for k in 0..10 {
            status.frame_arrived(at(2 * k));
            if k % 2 == 0 {
                status.frame_analysed(at(2 * k));
            }
        }
        let seen = status.snapshot();
        assert_eq!(seen.state, CameraState::Streaming);
        assert_eq!((seen.target_interval_s, seen.analysis_interval_s, seen.keep_up), (Some(4.0), Some(4.0), Some(1.0)));
        assert_eq!(seen.frames_analysed, 5);
        watcher.borrow_and_update();

        // The box falls behind: one key-frame in five analysed, every 10 s.
        for k in 10..30 {
            status.frame_arrived(at(2 * k));
            if k % 5 == 0 {
                status.frame_analysed(at(2 * k));
            }
        }
        let seen = status.snapshot();
        assert_eq!(seen.state, CameraState::Degraded, "{seen:?}");
        assert!(watcher.has_changed().unwrap(), "the change is announced");
        let interval = seen.analysis_interval_s.unwrap();
        assert!((8.0..=10.0).contains(&interval), "{seen:?}");
        assert!((seen.keep_up.unwrap() - 4.0 / interval).abs() < 1e-9, "{seen:?}");

        // It catches up again.
        for k in 30..50 {
            status.frame_arrived(at(2 * k));
            if k % 2 == 0 {
                status.frame_analysed(at(2 * k));
            }
        }
        assert_eq!(status.snapshot().state, CameraState::Streaming);
    }

    #[test]
    fn a_starved_camera_is_degraded_while_it_waits() {
        let status = CameraStatus::new("cam", String::new());
        let start = Utc::now();
        // Every key-frame asked for (one a second); the first analysed, then none for 10 s.
        status.frame_arrived(start);
        status.frame_analysed(start);
        for s in 1..=10 {
            status.frame_arrived(start + TimeDelta::seconds(s));
        }
        let seen = status.snapshot();
        assert_eq!(
            (seen.state, seen.target_interval_s, seen.analysis_interval_s),
            (CameraState::Degraded, Some(1.0), Some(10.0))
        );
        assert_eq!(seen.keep_up, Some(0.1));
        // A camera whose state is not streaming (here stalled) is left in it.
        status.set_state(CameraState::Stalled, None);
        status.frame_analysed(start + TimeDelta::seconds(10));
        assert_eq!(status.snapshot().state, CameraState::Stalled);
    }

    #[test]
    fn a_camera_at_the_edge_of_the_box_does_not_flip_at_every_key_frame() {
        let status = CameraStatus::new("cam", String::new());
        let start = Utc::now();
        let at = |ms: i64| start + TimeDelta::milliseconds(ms);
        // Key-frames every 2 s; analysed every 3.4 s (1.7x): degraded.
        let mut analysed = 0;
        for k in 0..40 {
            status.frame_arrived(at(2000 * k));
            if 2000 * k >= analysed {
                status.frame_analysed(at(2000 * k));
                analysed += 3400;
            }
        }
        assert_eq!(status.snapshot().state, CameraState::Degraded);
        // Then analysed every 2.8 s on average (1.4x): no longer over 1.5x, not yet under 1.25x.
        let mut watcher = status.watch();
        watcher.borrow_and_update();
        for k in 40..100 {
            status.frame_arrived(at(2000 * k));
            if 2000 * k >= analysed {
                status.frame_analysed(at(2000 * k));
                analysed += 2800;
            }
        }
        assert!(!watcher.has_changed().unwrap(), "no flip between 1.25x and 1.5x");
        assert_eq!(status.snapshot().state, CameraState::Degraded);
    }
}
