use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use gstreamer as gst;
use gstreamer_video::{self as gst_video, prelude::*};

use crate::{Error, Result, camera::Codec};

/// The encoded key-frame a frame was decoded from: a tenth of the decoded picture's memory, decoded
/// again when the pixels are wanted later (a case's before-picture, the tuning view).
#[derive(Clone)]
pub struct EncodedPicture {
    /// The key-frame's codec.
    pub codec: Codec,
    /// The access unit as an Annex B byte stream, parameter sets first.
    pub annex_b: Bytes,
    /// The width the picture was scaled down to when decoded.
    pub max_width: u32,
}

/// A width no camera's picture reaches: decoded to it, a picture keeps its own size.
const UNSCALED_WIDTH: u32 = 16_384;

/// One decoded video frame, packed RGB (3 bytes a pixel, no row padding).
///
/// Cloning is cheap: the pixels are shared. Its `Debug` form names the pixels' size, not each byte.
#[derive(Clone)]
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
    /// `width * height * 3` bytes of RGB; none in an [outline](Frame::outline) or a
    /// [compact](Frame::compact) frame.
    pub rgb: Bytes,
    /// The encoded key-frame it was decoded from, when it came through the shared decoders.
    pub encoded: Option<EncodedPicture>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("camera", &self.camera)
            .field("captured_at", &self.captured_at)
            .field("pts", &self.pts)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("rgb_bytes", &self.rgb.len())
            .field("encoded_bytes", &self.encoded.as_ref().map(|e| e.annex_b.len()))
            .finish()
    }
}

impl Frame {
    /// Builds a frame from packed RGB pixels.
    ///
    /// # Panics
    /// When `rgb` does not hold exactly `width * height * 3` bytes: a caller bug, never input data.
    pub fn from_rgb(camera: Arc<str>, captured_at: DateTime<Utc>, width: u32, height: u32, rgb: Bytes) -> Self {
        assert_eq!(rgb.len(), width as usize * height as usize * 3, "RGB buffer size of a {width}x{height} frame");
        Self { camera, captured_at, pts: None, width, height, rgb, encoded: None }
    }

    /// The frame's camera, time and size without its pixels: what replaying detections through the
    /// dwell rules needs (they read nothing else), at a few bytes instead of a picture.
    pub fn outline(&self) -> Self {
        Self { rgb: Bytes::new(), encoded: None, ..self.clone() }
    }

    /// The frame to keep for later: without its pixels when it can decode them again from its encoded
    /// key-frame (a 1280-wide picture is 2.8 MB, its key-frame about a tenth), else as it is.
    pub fn compact(&self) -> Self {
        match &self.encoded {
            Some(_) => Self { rgb: Bytes::new(), ..self.clone() },
            None => self.clone(),
        }
    }

    /// The frame with its pixels: itself, or a [compact](Frame::compact) frame decoded again. An error
    /// names the camera when the key-frame does not decode, or when the frame keeps no pixels at all
    /// (an outline).
    pub fn with_pixels(&self) -> Result<Self> {
        if !self.rgb.is_empty() {
            return Ok(self.clone());
        }
        let Some(encoded) = &self.encoded else {
            return Err(Error::Decode { camera: self.camera.to_string(), reason: "the frame keeps no pixels".into() });
        };
        self.decoded_again(encoded)
    }

    /// The frame at its camera's own resolution: its key-frame decoded again without scaling, when it
    /// keeps one (the frames of the shared key-frame decoders) and was scaled down to its `max_width`;
    /// otherwise the frame as decoded ([`Self::with_pixels`]): a frame narrower than the width it
    /// could have been scaled to kept its own size.
    pub fn at_full_resolution(&self) -> Result<Self> {
        match &self.encoded {
            Some(encoded) if self.width >= encoded.max_width => {
                self.decoded_again(&EncodedPicture { max_width: UNSCALED_WIDTH, ..encoded.clone() })
            }
            _ => self.with_pixels(),
        }
    }

    /// The frame with the pixels of `picture` decoded on the calling thread.
    fn decoded_again(&self, picture: &EncodedPicture) -> Result<Self> {
        let decoded = crate::camera::decode_again(&self.camera, picture)?;
        Ok(Self { rgb: decoded.rgb, width: decoded.width, height: decoded.height, ..self.clone() })
    }

    /// Copies an RGB video sample into a packed frame (GStreamer may pad rows to 4 bytes), captured now;
    /// `None` when the sample is not RGB video.
    pub fn from_sample(camera: &Arc<str>, sample: &gst::Sample) -> Option<Self> {
        let buffer = sample.buffer()?;
        let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
        let video = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
        let (width, height) = (video.width(), video.height());
        let row = width as usize * 3;
        let stride = usize::try_from(video.plane_stride()[0]).ok()?;
        let data = video.plane_data(0).ok()?;
        let mut rgb = Vec::with_capacity(row * height as usize);
        for y in 0..height as usize {
            rgb.extend_from_slice(data.get(y * stride..y * stride + row)?);
        }
        let mut frame = Self::from_rgb(camera.clone(), Utc::now(), width, height, Bytes::from(rgb));
        frame.pts = buffer.pts().map(|pts| Duration::from_nanos(pts.nseconds()));
        Some(frame)
    }
}
