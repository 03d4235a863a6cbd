//! The GStreamer pipelines of the cameras.
//!
//! A camera whose key-frames are decoded in software hands them out encoded, to the shared
//! [`super::KeyframeDecoders`]: `rtspsrc` → depayloader → parser (parameter sets repeated before each
//! key-frame, NAL units length-prefixed) → drop delta frames → `appsink`. Every other camera decodes on its own: `rtspsrc` →
//! depayloader → parser → [drop delta frames] → decoder → [thin to fps] → `videoscale` (down to
//! `max_width`) → `videoconvert` → RGB `appsink`. The appsink keeps at most one buffer and drops when it
//! is full, so the pipeline never waits on the rest of sharpeyes.

use gstreamer as gst;

use super::{CameraSettings, Codec, DecodeMode, Decoder, Transport};

/// Name of the `rtspsrc` element (its `location` is set as a property, never spliced into the text).
pub const SOURCE_NAME: &str = "source";
/// Name of the appsink that hands frames out.
pub const SINK_NAME: &str = "frames";
/// Name of a key-frame decoder's parser, where its input pad is linked.
pub const PARSE_NAME: &str = "parse";
/// Name of a key-frame decoder's size filter, whose caps follow the camera being decoded.
pub const SIZE_NAME: &str = "size";

/// The decoder element a camera will use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChosenDecoder {
    /// GStreamer element name.
    pub element: &'static str,
    /// The hardware element that was asked for but is not on this machine, when the choice fell back.
    pub missing: Option<&'static str>,
}

/// Picks the decoder element for the camera's codec: the configured hardware decoder when its element
/// is registered (its plugin loaded and found a device), else the software one.
pub fn choose_decoder(settings: &CameraSettings) -> ChosenDecoder {
    let software = match settings.codec {
        Codec::H264 => "avdec_h264",
        Codec::H265 => "avdec_h265",
    };
    let hardware = match (settings.decoder, settings.codec) {
        (Decoder::Software, _) => return ChosenDecoder { element: software, missing: None },
        (Decoder::Nvdec, Codec::H264) => "nvh264dec",
        (Decoder::Nvdec, Codec::H265) => "nvh265dec",
        (Decoder::Vaapi, Codec::H264) => "vah264dec",
        (Decoder::Vaapi, Codec::H265) => "vah265dec",
    };
    if gst::ElementFactory::find(hardware).is_some() {
        ChosenDecoder { element: hardware, missing: None }
    } else {
        ChosenDecoder { element: software, missing: Some(hardware) }
    }
}

/// Whether the camera hands its key-frames to the shared software decoders rather than decoding itself.
pub fn shares_decoder(settings: &CameraSettings, decoder: &str) -> bool {
    settings.decode == DecodeMode::Keyframes && decoder.starts_with("avdec_")
}

/// The media type of the camera's encoded stream.
pub fn encoded_media_type(codec: Codec) -> &'static str {
    match codec {
        Codec::H264 => "video/x-h264",
        Codec::H265 => "video/x-h265",
    }
}

/// Decoded-picture caps scaled down to `max_width`: a width range lets videoscale keep smaller frames as
/// they are and fixate larger ones to `max_width`, with the height following the display aspect ratio.
pub fn scaled_caps(max_width: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("width", gst::IntRange::new(16, max_width.max(16) as i32))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

/// The description of a shared key-frame decoder for `codec`; its parser's sink pad is fed by hand.
pub fn describe_keyframe_decoder(codec: Codec) -> String {
    let (parse, decoder) = match codec {
        Codec::H264 => ("h264parse", "avdec_h264"),
        Codec::H265 => ("h265parse", "avdec_h265"),
    };
    format!(
        "{parse} name={PARSE_NAME} ! {decoder} max-threads=1 ! videoscale ! capsfilter name={SIZE_NAME} \
         ! videoconvert ! video/x-raw,format=RGB ! appsink name={SINK_NAME} sync=false async=false max-buffers=1 drop=true"
    )
}

/// The `gst-launch` description of a camera's pipeline with the given decoder element.
pub fn describe(settings: &CameraSettings, decoder: &str) -> String {
    let protocols = match settings.transport {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
    };
    let (depay, parse) = match settings.codec {
        Codec::H264 => ("rtph264depay", "h264parse"),
        Codec::H265 => ("rtph265depay", "h265parse"),
    };
    let latency_ms = settings.latency.as_millis();
    let source = format!(
        "rtspsrc name={SOURCE_NAME} protocols={protocols} latency={latency_ms} do-retransmission=false \
         add-reference-timestamp-meta=true ! {depay} ! {parse}"
    );
    if shares_decoder(settings, decoder) {
        let media = encoded_media_type(settings.codec);
        // Length-prefixed NAL units: converting to a byte stream here would split pictures of several
        // slices into more than one buffer (seen with GStreamer 1.22's h264parse); the decoders do it.
        let format = match settings.codec {
            Codec::H264 => "avc",
            Codec::H265 => "hvc1",
        };
        return format!(
            "{source} config-interval=-1 ! {media},stream-format={format},alignment=au \
             ! identity drop-buffer-flags=delta-unit ! appsink name={SINK_NAME} max-buffers=1 drop=true sync=false"
        );
    }
    // A hardware decoder in key-frame mode: delta units never reach it.
    let (before_decoder, after_decoder) = match settings.decode {
        DecodeMode::Keyframes => ("identity drop-buffer-flags=delta-unit ! ", String::new()),
        DecodeMode::Sampled { fps } => {
            let millis = (fps * 1000.0).round().max(1.0) as u64;
            ("", format!("videorate drop-only=true ! video/x-raw,framerate={millis}/1000 ! "))
        }
    };
    // The same width range as `scaled_caps`.
    let max_width = settings.max_width.max(16);
    format!(
        "{source} ! {before_decoder}{decoder} ! {after_decoder}\
         videoscale ! video/x-raw,width=[16,{max_width}],pixel-aspect-ratio=1/1 ! videoconvert \
         ! video/x-raw,format=RGB ! appsink name={SINK_NAME} max-buffers=1 drop=true sync=false"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CameraSettings {
        CameraSettings::new("cam", "rtsp://127.0.0.1/x")
    }

    #[test]
    fn software_keyframe_mode_hands_out_encoded_keyframes() {
        let text = describe(&settings(), "avdec_h264");
        assert!(text.contains("h264parse config-interval=-1 ! video/x-h264,stream-format=avc,alignment=au"), "{text}");
        assert!(text.contains("drop-buffer-flags=delta-unit ! appsink"), "{text}");
        assert!(!text.contains("avdec"), "{text}");
        assert!(text.contains("protocols=tcp"), "{text}");
    }

    #[test]
    fn hardware_keyframe_mode_drops_delta_units_before_the_decoder() {
        let text = describe(&settings(), "nvh264dec");
        let drop_at = text.find("drop-buffer-flags=delta-unit").expect("delta frames dropped");
        assert!(drop_at < text.find("nvh264dec").unwrap(), "{text}");
        assert!(!text.contains("videorate"), "{text}");
        assert!(text.contains("width=[16,1280]"), "{text}");
    }

    #[test]
    fn sampled_mode_thins_decoded_frames_to_the_rate() {
        let mut settings = settings();
        settings.decode = DecodeMode::Sampled { fps: 0.5 };
        settings.transport = Transport::Udp;
        let text = describe(&settings, "avdec_h264");
        assert!(text.contains("framerate=500/1000"), "{text}");
        assert!(!text.contains("drop-buffer-flags"), "{text}");
        assert!(text.find("avdec_h264").unwrap() < text.find("videorate").unwrap(), "{text}");
        assert!(text.contains("protocols=udp"), "{text}");
    }

    #[test]
    fn h265_uses_its_own_depayloader_and_parser() {
        let mut settings = settings();
        settings.codec = Codec::H265;
        let decoder = choose_decoder(&settings);
        assert_eq!(decoder, ChosenDecoder { element: "avdec_h265", missing: None });
        let text = describe(&settings, decoder.element);
        assert!(text.contains("rtph265depay ! h265parse"), "{text}");
    }

    #[test]
    fn a_missing_hardware_decoder_falls_back_to_software() {
        crate::init_gstreamer().unwrap();
        let mut settings = settings();
        settings.decoder = Decoder::Nvdec;
        let chosen = choose_decoder(&settings);
        if gst::ElementFactory::find("nvh264dec").is_some() {
            assert_eq!(chosen, ChosenDecoder { element: "nvh264dec", missing: None });
        } else {
            assert_eq!(chosen, ChosenDecoder { element: "avdec_h264", missing: Some("nvh264dec") });
        }
        settings.decoder = Decoder::Vaapi;
        settings.codec = Codec::H265;
        let chosen = choose_decoder(&settings);
        assert!(matches!(chosen.element, "vah265dec" | "avdec_h265"), "{chosen:?}");
    }

    #[test]
    fn pipelines_parse_with_the_installed_plugins() {
        crate::init_gstreamer().unwrap();
        for codec in [Codec::H264, Codec::H265] {
            for decode in [DecodeMode::Keyframes, DecodeMode::Sampled { fps: 2.0 }] {
                let mut settings = settings();
                settings.decode = decode;
                settings.codec = codec;
                let text = describe(&settings, choose_decoder(&settings).element);
                gst::parse::launch(&text).unwrap_or_else(|e| panic!("{codec:?} {decode:?}: {e}"));
            }
            gst::parse::launch(&describe_keyframe_decoder(codec)).unwrap_or_else(|e| panic!("{codec:?} decoder: {e}"));
        }
    }
}
