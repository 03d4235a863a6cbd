use std::{sync::Arc, time::Duration};

/// How a camera's stream is decoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DecodeMode {
    /// Only key-frames reach the decoder; delta frames are dropped after parsing. Costs a fraction of
    /// full decoding and suits slow events (parking, litter, construction).
    Keyframes,
    /// Every frame is decoded, then thinned to `fps` frames per second.
    Sampled {
        /// Frames per second handed to the detector (> 0).
        fps: f64,
    },
}

/// RTP transport asked of the camera.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// RTP interleaved in the RTSP TCP connection: survives NAT and lossy links (the default).
    #[default]
    Tcp,
    /// RTP over UDP: lower latency on a clean network.
    Udp,
}

/// Which RTSP client receives a camera whose key-frames go to the shared software decoders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RtspClient {
    /// retina on the shared receiver runtime (the default): a task per camera, no jitter buffer.
    #[default]
    Retina,
    /// GStreamer's `rtspsrc`, for a camera whose server retina does not get along with.
    Gstreamer,
}

/// The camera's video codec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// H.264 / AVC (the default).
    #[default]
    H264,
    /// H.265 / HEVC.
    H265,
}

/// Which decoder to ask for. A hardware decoder whose GStreamer element is missing on this machine
/// falls back to software, with a warning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decoder {
    /// libav (`avdec_h264`, `avdec_h265`).
    #[default]
    Software,
    /// NVIDIA NVDEC (`nvh264dec`, `nvh265dec`).
    Nvdec,
    /// VA-API (`vah264dec`, `vah265dec`).
    Vaapi,
}

/// Everything needed to run one camera.
#[derive(Clone, Debug)]
pub struct CameraSettings {
    /// Camera id, unique in the configuration.
    pub id: Arc<str>,
    /// `rtsp://[user:password@]host[:port]/path`; credentials are never logged (see [`crate::urls::redact_url`]).
    pub url: String,
    /// RTP transport.
    pub transport: Transport,
    /// Video codec of the stream.
    pub codec: Codec,
    /// Decoder asked for.
    pub decoder: Decoder,
    /// Decode mode.
    pub decode: DecodeMode,
    /// RTSP client for TCP cameras in software key-frame mode (the others always use `rtspsrc`).
    pub client: RtspClient,
    /// Decoded frames wider than this are scaled down inside the pipeline (aspect ratio kept), so that
    /// colour conversion and the queue handle no more pixels than the detector and evidence need.
    pub max_width: u32,
    /// Jitter-buffer latency of `rtspsrc`.
    pub latency: Duration,
    /// The pipeline is restarted when no frame arrived for this long.
    pub stall_timeout: Duration,
    /// First delay before a restart; doubles (with jitter) up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest delay between restarts.
    pub backoff_max: Duration,
    /// In key-frame mode, analyse the key-frame nearest to one every this long instead of every one
    /// (the others are not decoded); `None`: every key-frame.
    pub analyse_every: Option<Duration>,
}

impl CameraSettings {
    /// Settings with the defaults: TCP, H.264, software decoding of key-frames only received by retina, frames at most
    /// 1280 pixels wide, 200 ms latency, 20 s watchdog, backoff 1 s → 60 s, every key-frame analysed.
    pub fn new(id: impl Into<Arc<str>>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            url: url.into(),
            transport: Transport::Tcp,
            codec: Codec::H264,
            decoder: Decoder::Software,
            decode: DecodeMode::Keyframes,
            client: RtspClient::Retina,
            max_width: 1280,
            latency: Duration::from_millis(200),
            stall_timeout: Duration::from_secs(20),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            analyse_every: None,
        }
    }
}
