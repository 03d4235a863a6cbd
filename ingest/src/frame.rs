use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, Utc};

/// One decoded video frame, packed RGB (3 bytes a pixel, no row padding).
///
/// Cloning is cheap: the pixels are shared.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Id of the camera that produced the frame (as in the configuration).
    pub camera: Arc<str>,
    /// Wall-clock time the frame was captured (arrival time at the ingest).
    pub captured_at: DateTime<Utc>,
    /// Presentation timestamp in the camera's stream, when it has one.
    pub pts: Option<Duration>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes of RGB.
    pub rgb: Bytes,
}

impl Frame {
    /// Builds a frame from packed RGB pixels.
    ///
    /// # Panics
    /// When `rgb` does not hold exactly `width * height * 3` bytes: a caller bug, never input data.
    pub fn from_rgb(camera: Arc<str>, captured_at: DateTime<Utc>, width: u32, height: u32, rgb: Bytes) -> Self {
        assert_eq!(rgb.len(), width as usize * height as usize * 3, "RGB buffer size of a {width}x{height} frame");
        Self { camera, captured_at, pts: None, width, height, rgb }
    }
}
