//! Ingest: the first stage of sharpeyes.
//!
//! - [`camera`]: one GStreamer pipeline per RTSP camera (`rtspsrc` → depay/parse → decode → appsink),
//!   retried with backoff when it fails or stalls, feeding decoded frames into the [`FrameQueue`].
//! - [`simcam`]: an RTSP server that replays video files (looped) and still images as live cameras.
//!
//! Frames leave this crate through the [`FrameQueue`], which drops the oldest frame of a camera when the
//! detector falls behind: a slow detector never stalls a camera.

pub mod camera;
mod error;
mod frame;
pub mod mqtt;
mod queue;
pub mod simcam;

pub use error::{Error, Result};
pub use frame::Frame;
pub use queue::{CameraSlot, FrameQueue};

/// Initialises GStreamer once for the process; every entry point that builds a pipeline calls it.
pub fn init_gstreamer() -> Result<()> {
    gstreamer::init().map_err(|source| Error::GStreamerInit { source })
}

/// Delays between reconnection attempts: exponential from `min` (doubling) up to `max`, each with up to
/// 100 % random jitter so that many cameras or clients failing together do not retry in lockstep.
pub fn retry_delays(min: std::time::Duration, max: std::time::Duration) -> impl Iterator<Item = std::time::Duration> {
    use backon::{BackoffBuilder, ExponentialBuilder};
    ExponentialBuilder::default().with_min_delay(min).with_max_delay(max).with_jitter().without_max_times().build()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn retry_delays_double_with_jitter_up_to_the_maximum() {
        let delays: Vec<Duration> =
            super::retry_delays(Duration::from_secs(1), Duration::from_secs(8)).take(6).collect();
        for (attempt, delay) in delays.iter().enumerate() {
            let base = Duration::from_secs(1 << attempt.min(3));
            assert!(*delay >= base && *delay <= base * 2, "attempt {attempt}: {delay:?}");
        }
    }
}
