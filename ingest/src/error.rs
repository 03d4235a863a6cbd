use std::path::PathBuf;

/// Errors of the ingest stage. Each names the camera, stream or file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// GStreamer itself could not be initialised (libraries or plugins missing).
    #[error("failed to initialise GStreamer: {source}")]
    GStreamerInit { source: gstreamer::glib::Error },

    /// A pipeline description could not be built (a GStreamer element is missing).
    #[error("{what}: failed to build the pipeline: {source}")]
    Pipeline { what: String, source: gstreamer::glib::Error },

    /// A pipeline refused a state change.
    #[error("{what}: failed to set the pipeline to {state:?}")]
    StateChange { what: String, state: gstreamer::State },

    /// A running camera pipeline reported an error.
    #[error("camera {camera}: {message} ({debug})")]
    Stream { camera: String, message: String, debug: String },

    /// A camera received by retina failed: connecting, setting up, playing or depacketizing.
    #[error("camera {camera}: {message}")]
    Rtsp { camera: String, message: String },

    /// A shared key-frame decoder could not be set up.
    #[error("{what}: {reason}")]
    DecoderSetup { what: String, reason: String },

    /// A camera's key-frame could not be decoded.
    #[error("camera {camera}: key-frame not decoded: {reason}")]
    Decode { camera: String, reason: String },

    /// A thread could not be started.
    #[error("failed to start the {what} thread: {source}")]
    Thread { what: &'static str, source: std::io::Error },

    /// The camera's stream ended.
    #[error("camera {camera}: the stream ended")]
    EndOfStream { camera: String },

    /// No frame arrived for longer than the watchdog allows.
    #[error("camera {camera}: no frame for {seconds:.1} s")]
    Stalled { camera: String, seconds: f64 },

    /// A simulated camera's source file is missing or unreadable.
    #[error("simcam stream {name}: cannot read '{path}': {reason}")]
    SimcamSource { name: String, path: PathBuf, reason: String },

    /// The MQTT broker's CA certificate file could not be read.
    #[error("MQTT CA certificate '{path}': {source}")]
    MqttCaFile { path: PathBuf, source: std::io::Error },

    /// The RTSP server could not listen on the requested address.
    #[error("simcam: cannot listen on {listen}: {reason}")]
    SimcamListen { listen: String, reason: String },
}

/// The ingest crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
