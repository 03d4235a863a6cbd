//! RTSP cameras: received, decoded, and handed to the [`crate::FrameQueue`].
//!
//! - [`CameraConfig`]: a `[[cameras]]` entry as the file writes it, validated and turned into
//!   [`CameraSettings`]: what a camera is (URL, transport, decode mode, watchdog);
//! - [`pipeline`]: the GStreamer pipeline a camera runs, built from its settings;
//! - [`RtspClients`]: retina receivers on one small runtime, for the cameras whose key-frames go to
//!   the shared decoders (the others run `rtspsrc` in their pipeline);
//! - [`KeyframeDecoders`]: the decoders shared by the cameras whose key-frames are decoded in software;
//! - [`CameraSource`]: the long-lived loop that runs the pipeline, restarts it with exponential
//!   backoff and jitter when it fails or stalls, and stops on shutdown;
//! - [`CameraFeed`]: what feeds a camera's frames: the RTSP [`CameraSource`], or a [`RecordedCamera`]
//!   of frames recorded beforehand (tests of the detector, rules and cases on exact frames);
//! - [`CameraStatus`]: what the API, MQTT and metrics report about each camera;
//! - [`CameraCollector`]: the cameras' status as Prometheus metrics.

mod board;
mod config;
mod feed;
mod interval;
mod keyframes;
mod metrics;
pub mod pipeline;
mod receiver;
mod settings;
mod source;
mod status;

pub use board::CameraBoard;
pub use config::{CameraConfig, DecodeKind, TransportKind};
pub use feed::{CameraFeed, RecordedCamera};
pub use keyframes::KeyframeDecoders;
pub(crate) use keyframes::decode_again;
pub use metrics::CameraCollector;
pub use receiver::RtspClients;
pub use settings::{CameraSettings, Codec, DecodeMode, Decoder, RtspClient, Transport};
pub use source::CameraSource;
pub use status::{CameraState, CameraStatus, StatusSnapshot};
