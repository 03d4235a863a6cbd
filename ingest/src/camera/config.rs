//! `[[cameras]]`: what a camera is as the configuration file writes it — validated with every
//! problem's key path, and turned into the [`CameraSettings`] its source runs with. The zones in it are
//! the rules' business: their type is a parameter.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CameraSettings, Codec, DecodeMode, Decoder, RtspClient, Transport};
use crate::{Problem, positive, units::Seconds};

/// How a camera is decoded.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DecodeKind {
    /// Key-frames only.
    #[default]
    Keyframes,
    /// Every frame decoded, thinned to `sample_fps`.
    Sampled,
}

/// RTP transport.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// RTP over the RTSP TCP connection.
    #[default]
    Tcp,
    /// RTP over UDP.
    Udp,
}

/// `[[cameras]]`, with zones of type `Z` (the rules' zone settings, which this crate does not know).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(bound(deserialize = "Z: Deserialize<'de>"))]
pub struct CameraConfig<Z> {
    /// Unique id.
    pub id: String,
    /// RTSP URL (credentials allowed; never logged).
    pub url: String,
    /// Grid cell the camera belongs to; unset: the cell of `cases.grid_polygons` containing `location`.
    #[serde(default)]
    pub grid: String,
    /// `[longitude, latitude]` of the camera (WGS 84), to link its cases with nearby reports.
    pub location: Option<[f64; 2]>,
    /// Daily maintenance windows `[["02:00", "04:00"], ...]` (local time): notifications of the
    /// camera's cases are not sent during them (they are recorded as silenced).
    #[serde(default)]
    pub maintenance: Vec<[String; 2]>,
    /// Decode mode.
    #[serde(default)]
    pub decode: DecodeKind,
    /// Frames per second analysed in `sampled` mode.
    pub sample_fps: Option<f64>,
    /// In `keyframes` mode, seconds between analysed key-frames (the key-frame nearest to each is
    /// taken; the others are not decoded); unset: every key-frame.
    pub analyse_every_s: Option<Seconds>,
    /// RTP transport.
    #[serde(default)]
    pub transport: TransportKind,
    /// RTSP client of a TCP camera in software key-frame mode: `retina` (default) or `gstreamer`.
    #[serde(default)]
    pub client: RtspClient,
    /// Video codec: h264 or h265.
    #[serde(default)]
    pub codec: Codec,
    /// Decoder: software, nvdec or vaapi (software when the hardware element is missing).
    #[serde(default)]
    pub decoder: Decoder,
    /// Wider decoded frames are scaled down to this width inside the pipeline.
    #[serde(default = "default_max_width")]
    pub max_width: u32,
    /// `rtspsrc` latency in milliseconds.
    #[serde(default = "default_latency_ms")]
    pub latency_ms: u64,
    /// Restart the pipeline after this many seconds without a frame.
    #[serde(default = "default_stall_timeout_s")]
    pub stall_timeout_s: Seconds,
    /// Zones watched in the picture.
    #[serde(default)]
    pub zones: Vec<Z>,
}

const fn default_max_width() -> u32 {
    1280
}
const fn default_latency_ms() -> u64 {
    200
}
const fn default_stall_timeout_s() -> Seconds {
    Seconds::new(20.0)
}

impl<Z> CameraConfig<Z> {
    /// Every problem of the camera's source settings, by key path under `at` (`cameras[1]`): its URL,
    /// decode mode and sampling rate, watchdog and width. Its id, grid, maintenance windows and zones
    /// are checked where they are known.
    pub fn validate(&self, at: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        let at = |key: &str| format!("{at}.{key}");
        if !(self.url.starts_with("rtsp://") || self.url.starts_with("rtsps://")) {
            problems.push(Problem::at(at("url"), "must be an rtsp:// or rtsps:// URL"));
        }
        match (self.decode, self.sample_fps) {
            (DecodeKind::Sampled, None) => {
                problems.push(Problem::at(at("sample_fps"), "is required when decode = \"sampled\""))
            }
            (DecodeKind::Sampled, Some(fps)) if !(positive(fps) && fps <= 120.0) => {
                problems.push(Problem::at(at("sample_fps"), format!("{fps} is outside (0, 120]")))
            }
            (DecodeKind::Keyframes, Some(_)) => {
                problems.push(Problem::at(at("sample_fps"), "only applies to decode = \"sampled\""))
            }
            _ => {}
        }
        problems.extend(self.stall_timeout_s.check_positive(&at("stall_timeout_s")));
        if let Some(every) = self.analyse_every_s {
            problems.extend(every.check_positive(&at("analyse_every_s")));
            if self.decode == DecodeKind::Sampled {
                problems.push(Problem::at(at("analyse_every_s"), "only applies to decode = \"keyframes\""));
            }
        }
        if !(64..=7680).contains(&self.max_width) {
            problems.push(Problem::at(at("max_width"), format!("{} is outside 64..=7680", self.max_width)));
        }
        problems
    }

    /// The settings the camera's source runs with.
    pub fn settings(&self) -> CameraSettings {
        let mut settings = CameraSettings::new(self.id.as_str(), self.url.as_str());
        settings.decode = match self.decode {
            DecodeKind::Keyframes => DecodeMode::Keyframes,
            DecodeKind::Sampled => DecodeMode::Sampled { fps: self.sample_fps.unwrap_or(1.0) },
        };
        settings.transport = match self.transport {
            TransportKind::Tcp => Transport::Tcp,
            TransportKind::Udp => Transport::Udp,
        };
        settings.client = self.client;
        settings.codec = self.codec;
        settings.decoder = self.decoder;
        settings.max_width = self.max_width;
        settings.latency = Duration::from_millis(self.latency_ms);
        settings.stall_timeout = self.stall_timeout_s.duration();
        settings.analyse_every = self.analyse_every_s.map(Seconds::duration);
        settings
    }
}
