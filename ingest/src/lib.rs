//! Ingest: the first stage of sharpeyes.
//!
//! - [`camera`]: one GStreamer pipeline per RTSP camera (`rtspsrc` → depay/parse → decode → appsink),
//!   retried with backoff when it fails or stalls, feeding decoded frames into the [`FrameQueue`].
//! - [`simcam`]: an RTSP server that replays video files (looped) and still images as live cameras.
//!
//! Frames leave this crate through the [`FrameQueue`], which drops the oldest frame of a camera when the
//! detector falls behind: a slow detector never stalls a camera.

pub mod backoff;
pub mod camera;
mod error;
mod frame;
pub mod mqtt;
mod problem;
mod queue;
pub mod simcam;
pub mod units;
pub mod urls;

pub use error::{Error, Result};
pub use frame::Frame;
pub use problem::{Problem, positive};
pub use queue::{CameraSlot, FrameQueue};

/// Initialises GStreamer once for the process; every entry point that builds a pipeline calls it.
pub fn init_gstreamer() -> Result<()> {
    gstreamer::init().map_err(|source| Error::GStreamerInit { source })
}
