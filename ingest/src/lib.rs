//! Ingest: the first stage of sharpeyes.
//!
//! - [`camera`]: RTSP cameras, retried with backoff when they fail or stall, feeding decoded frames into
//!   the [`FrameQueue`]: in key-frame mode received by retina on a shared runtime and decoded by shared
//!   GStreamer decoders only when the detector has room; otherwise one GStreamer pipeline per camera
//!   (`rtspsrc` → depay/parse → decode → appsink).
//! - [`simcam`]: an RTSP server that replays video files (looped) and still images as live cameras.
//!
//! Frames leave this crate through the [`FrameQueue`], which drops the oldest frame of a camera when the
//! detector falls behind: a slow detector never stalls a camera. Each camera's status tells how often it
//! asks to be analysed and how often it is (`degraded` when the box cannot keep up).

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
pub use frame::{EncodedPicture, Frame};
pub use problem::{Problem, positive};
pub use queue::{CameraSlot, FrameQueue};

/// Initialises GStreamer once for the process; every entry point that builds a pipeline calls it.
pub fn init_gstreamer() -> Result<()> {
    gstreamer::init().map_err(|source| Error::GStreamerInit { source })
}
