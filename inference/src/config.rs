//! `[detector]`: which model runs with which threads, provider and batching — validated with every
//! problem's key path, and turned into the options a [`Detector`] is loaded with.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sharpeyes_ingest::{Problem, units::Score};

use crate::{
    Detector, DetectorOptions, Result,
    runtime::{Provider, SessionOptions, SessionThreads},
};

/// `[detector]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DetectorConfig {
    /// Model manifest (relative to the working directory).
    #[serde(default = "default_manifest")]
    pub manifest: PathBuf,
    /// ONNX Runtime intra-op threads.
    #[serde(default = "one")]
    pub intra_threads: usize,
    /// ONNX Runtime inter-op threads.
    #[serde(default = "one")]
    pub inter_threads: usize,
    /// Overrides the manifest's score threshold.
    pub confidence: Option<Score>,
    /// Frames kept per camera while the detector is busy (the oldest is dropped beyond it).
    #[serde(default = "default_queue")]
    pub queue_per_camera: usize,
    /// Execution provider: cpu, cuda, tensorrt, openvino (cpu when the library lacks it).
    #[serde(default)]
    pub provider: Provider,
    /// Most frames (across cameras) per session call, for models with a dynamic batch dimension.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Longest wait, in milliseconds, for a batch to fill after its first frame.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
}

fn default_manifest() -> PathBuf {
    "models/yolox_nano.toml".into()
}
const fn one() -> usize {
    1
}
const fn default_queue() -> usize {
    2
}
const fn default_max_batch() -> usize {
    4
}
const fn default_max_wait_ms() -> u64 {
    20
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            manifest: default_manifest(),
            intra_threads: 1,
            inter_threads: 1,
            confidence: None,
            queue_per_camera: default_queue(),
            provider: Provider::Cpu,
            max_batch: default_max_batch(),
            max_wait_ms: default_max_wait_ms(),
        }
    }
}

impl DetectorConfig {
    /// Every problem of `[detector]`, by key path.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.intra_threads == 0 {
            problems.push(Problem::at("detector.intra_threads", "must be at least 1"));
        }
        if !(1..=64).contains(&self.max_batch) {
            problems.push(Problem::at("detector.max_batch", format!("{} is outside 1..=64", self.max_batch)));
        }
        problems.extend(self.confidence.and_then(|confidence| confidence.check("detector.confidence")));
        problems
    }

    /// How the detector's session is opened and batched.
    pub fn options(&self) -> DetectorOptions {
        DetectorOptions {
            session: SessionOptions {
                threads: SessionThreads { intra: self.intra_threads, inter: self.inter_threads },
                provider: self.provider,
            },
            max_batch: self.max_batch,
        }
    }

    /// Loads and warms up the detector (blocking: seconds for a large model), with the configured
    /// score threshold when one is set.
    pub fn load(&self) -> Result<Detector> {
        let mut detector = Detector::from_manifest_file(&self.manifest, self.options())?;
        if let Some(confidence) = self.confidence {
            let nms = detector.manifest().thresholds.nms;
            detector.set_thresholds(confidence.get(), nms);
        }
        Ok(detector)
    }
}
