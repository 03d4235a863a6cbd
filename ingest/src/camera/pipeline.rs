//! The GStreamer pipeline of one camera.
//!
//! `rtspsrc` → `rtph264depay` → `h264parse` → [drop delta frames] → `avdec_h264` → [thin to fps] →
//! `videoconvert` → RGB `appsink`. The appsink keeps at most one buffer and drops when it is full, so
//! the pipeline never waits on the rest of sharpeyes.

use super::{CameraSettings, DecodeMode, Transport};

/// Name of the `rtspsrc` element (its `location` is set as a property, never spliced into the text).
pub const SOURCE_NAME: &str = "source";
/// Name of the appsink that hands frames out.
pub const SINK_NAME: &str = "frames";

/// The `gst-launch` description of a camera's pipeline.
pub fn describe(settings: &CameraSettings) -> String {
    let protocols = match settings.transport {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
    };
    let latency_ms = settings.latency.as_millis();
    // Key-frame mode: delta units never reach the decoder, and one decoder thread avoids the frame
    // delay that frame threading adds (a delay of N key-frames would be N GOPs late).
    let (before_decoder, decoder, after_decoder) = match settings.decode {
        DecodeMode::Keyframes => {
            ("identity drop-buffer-flags=delta-unit ! ".to_owned(), "avdec_h264 max-threads=1", String::new())
        }
        DecodeMode::Sampled { fps } => {
            let millis = (fps * 1000.0).round().max(1.0) as u64;
            (String::new(), "avdec_h264", format!("videorate drop-only=true ! video/x-raw,framerate={millis}/1000 ! "))
        }
    };
    format!(
        "rtspsrc name={SOURCE_NAME} protocols={protocols} latency={latency_ms} do-retransmission=false \
         ! rtph264depay ! h264parse ! {before_decoder}{decoder} ! {after_decoder}videoconvert \
         ! video/x-raw,format=RGB ! appsink name={SINK_NAME} max-buffers=1 drop=true sync=false"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_mode_drops_delta_units_before_the_decoder() {
        let settings = CameraSettings::new("cam", "rtsp://127.0.0.1/x");
        let text = describe(&settings);
        let drop_at = text.find("drop-buffer-flags=delta-unit").expect("delta frames dropped");
        assert!(drop_at < text.find("avdec_h264").unwrap(), "{text}");
        assert!(!text.contains("videorate"), "{text}");
        assert!(text.contains("protocols=tcp"), "{text}");
    }

    #[test]
    fn sampled_mode_thins_decoded_frames_to_the_rate() {
        let mut settings = CameraSettings::new("cam", "rtsp://127.0.0.1/x");
        settings.decode = DecodeMode::Sampled { fps: 0.5 };
        settings.transport = Transport::Udp;
        let text = describe(&settings);
        assert!(text.contains("framerate=500/1000"), "{text}");
        assert!(!text.contains("drop-buffer-flags"), "{text}");
        assert!(text.find("avdec_h264").unwrap() < text.find("videorate").unwrap(), "{text}");
        assert!(text.contains("protocols=udp"), "{text}");
    }

    #[test]
    fn pipelines_parse_with_the_installed_plugins() {
        crate::init_gstreamer().unwrap();
        for decode in [DecodeMode::Keyframes, DecodeMode::Sampled { fps: 2.0 }] {
            let mut settings = CameraSettings::new("cam", "rtsp://127.0.0.1/x");
            settings.decode = decode;
            gstreamer::parse::launch(&describe(&settings)).unwrap_or_else(|e| panic!("{decode:?}: {e}"));
        }
    }
}
