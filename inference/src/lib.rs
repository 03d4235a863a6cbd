//! Inference: the second stage of sharpeyes.
//!
//! A detector is described by a [`Manifest`] (`models/*.toml`) and runs as
//! `preprocess → session → decode → NMS`, each step a separate module so that the pure steps are
//! tested without a session:
//! - [`preprocess`]: a decoded frame into the model's input tensor (letterbox or stretch, channel order,
//!   normalisation) in a reused buffer;
//! - [`runtime`]: ONNX Runtime, loaded from `ORT_DYLIB_PATH`, and sessions checked against their manifest;
//! - [`engine`]: what runs a model ([`engine::OrtEngine`] in service, a fake one in tests);
//! - [`family`]: output decoders per model family;
//! - [`nms`]: IoU and class-wise non-maximum suppression;
//! - [`Detector`]: the four steps together, around an engine it is handed; [`InferenceStage`]: the thread that feeds it from the
//!   [`sharpeyes_ingest::FrameQueue`] and hands [`FrameDetections`] to the rules.

mod config;
mod detection;
mod detector;
pub mod engine;
mod error;
pub mod family;
mod files;
mod manifest;
mod metrics;
pub mod nms;
pub mod plate;
pub mod preprocess;
pub mod runtime;
mod stage;

pub use config::DetectorConfig;
pub use detection::{BBox, Detection, FrameDetections};
pub use detector::{Detector, DetectorOptions, RgbView, StepTimes, load_rgb};
pub use error::{Error, Result};
pub use files::{DetectedFile, detect_files, detect_files_parallel};
pub use manifest::{CategoryClasses, ChannelOrder, Family, InputSpec, Manifest, ResizeMode, Thresholds};
pub use metrics::InferenceMetrics;
pub use stage::{InferenceStage, Reload};
