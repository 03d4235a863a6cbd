//! `simcam`: video files (looped) and still images served as live H.264 or H.265 RTSP cameras.
//!
//! Each stream has a *player* pipeline that decodes its file in real time into an `intervideosink`
//! (seeking back to the start at the end of a video; `imagefreeze` repeating a still image), and a
//! shared RTSP media that encodes what the player shows: `intervideosrc` → `x264enc` (or `x265enc`) →
//! RTP payloader.
//! Splitting the two lets a file loop forever while clients see one continuous live stream, and the
//! shared media encodes each stream once however many clients connect.

mod player;
mod server;

use std::path::PathBuf;

pub use server::SimcamServer;

use crate::{Error, Result, camera::Codec};

/// One simulated camera: served at `rtsp://<listen>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    /// Mount name (letters, digits, `-` and `_`).
    pub name: String,
    /// A video file (played in a loop) or a still image.
    pub path: PathBuf,
}

impl StreamSpec {
    /// Parses `NAME=FILE` as written on the command line.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (name, path) = spec.split_once('=').ok_or_else(|| format!("'{spec}': expected NAME=FILE"))?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("'{spec}': the name must be letters, digits, '-' or '_'"));
        }
        if path.is_empty() {
            return Err(format!("'{spec}': the file is missing"));
        }
        Ok(Self { name: name.to_owned(), path: PathBuf::from(path) })
    }

    /// Whether the file is a still image (served by repeating it) rather than a video.
    pub fn is_still_image(&self) -> bool {
        let extension = self.path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        matches!(extension.as_str(), "jpg" | "jpeg" | "png" | "bmp")
    }

    fn check_readable(&self) -> Result<()> {
        std::fs::File::open(&self.path).map(drop).map_err(|err| Error::SimcamSource {
            name: self.name.clone(),
            path: self.path.clone(),
            reason: err.to_string(),
        })
    }
}

/// The encoders' own default bitrate (x264enc's and x265enc's), kbit/s.
pub const DEFAULT_BITRATE_KBPS: u32 = 2048;

/// Encoding options shared by every stream of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Output width; `None` keeps the source's (rounded down to even, as H.264 4:2:0 needs).
    pub width: Option<u32>,
    /// Output height; `None` keeps the source's (rounded down to even).
    pub height: Option<u32>,
    /// Frames per second of the live stream.
    pub fps: u32,
    /// Frames between key-frames (GOP length).
    pub gop: u32,
    /// Encoder bitrate in kbit/s (cameras stream 1080p at 2 to 8 Mbit/s; small detail such as a
    /// licence plate needs the upper end).
    pub bitrate_kbps: u32,
    /// Codec of every stream.
    pub codec: Codec,
    /// Serve MP4 files already encoded in `codec` as they are: no decoding or re-encoding (the file's
    /// own size, rate and GOP), played once rather than looped. For capacity measurements, where the
    /// server must cost next to nothing.
    pub passthrough: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            width: None,
            height: None,
            fps: 25,
            gop: 50,
            bitrate_kbps: DEFAULT_BITRATE_KBPS,
            codec: Codec::H264,
            passthrough: false,
        }
    }
}

impl EncodeOptions {
    /// The RTSP media of a passthrough stream: the file's video track parsed and payloaded.
    fn passthrough_launch(&self, path: &std::path::Path) -> String {
        let (parse, pay) = match self.codec {
            Codec::H264 => ("h264parse", "rtph264pay"),
            Codec::H265 => ("h265parse", "rtph265pay"),
        };
        // The path is quoted for gst-launch syntax; simcam is a local tool serving local files.
        let location = path.display().to_string().replace('"', "\\\"");
        format!("filesrc location=\"{location}\" ! qtdemux ! {parse} ! {pay} name=pay0 pt=96 config-interval=-1")
    }

    /// The encoder and payloader of the RTSP media (fast presets, no B-frames: a camera's stream).
    fn encoder(&self) -> String {
        let gop = self.gop.max(1);
        let bitrate = self.bitrate_kbps.max(1);
        match self.codec {
            Codec::H264 => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bframes=0 bitrate={bitrate} \
                 ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1"
            ),
            Codec::H265 => format!(
                "x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={bitrate} \
                 ! rtph265pay name=pay0 pt=96 config-interval=-1"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_specs_parse_and_name_their_mistakes() {
        let spec = StreamSpec::parse("truck=media/images/000000009769.jpg").unwrap();
        assert_eq!(spec.name, "truck");
        assert!(spec.is_still_image());
        assert!(!StreamSpec::parse("road=media/traffic.mp4").unwrap().is_still_image());
        assert!(StreamSpec::parse("nofile").unwrap_err().contains("NAME=FILE"));
        assert!(StreamSpec::parse("bad name=x.mp4").unwrap_err().contains("'bad name=x.mp4'"));
        assert!(StreamSpec::parse("cam=").unwrap_err().contains("missing"));
    }
}
