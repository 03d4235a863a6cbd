use std::{sync::Arc, thread::JoinHandle, time::Duration};

use crossbeam_channel::Sender;
use sharpeyes_ingest::FrameQueue;
use tracing::{info, warn};

use crate::{Detector, FrameDetections, InferenceMetrics};

/// The inference thread: takes frames from the [`FrameQueue`] round-robin across cameras, runs the
/// detector, and sends each frame's detections on. Sending blocks when the rules fall behind
/// (detections are never dropped); frames wait in the queue meanwhile, where the oldest are dropped.
/// Stops when the queue is closed and drained, which closes `detections_tx`.
pub struct InferenceStage {
    detector: Detector,
    frames: Arc<FrameQueue>,
    detections_tx: Sender<FrameDetections>,
    metrics: InferenceMetrics,
}

impl InferenceStage {
    /// Wires a detector between the frame queue and the rules.
    pub fn new(
        detector: Detector,
        frames: Arc<FrameQueue>,
        detections_tx: Sender<FrameDetections>,
        metrics: InferenceMetrics,
    ) -> Self {
        Self {
            detector,
            frames,
            detections_tx,
            metrics,
        }
    }

    /// Runs on its own thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        let model = self.detector.manifest().name.clone();
        info!(model = %model, "inference started");
        while let Some(batch) = self.frames.pop_batch(1, Duration::ZERO) {
            for frame in batch {
                let camera = frame.camera.clone();
                let detections = match self.detector.detect(&frame.rgb, frame.width, frame.height) {
                    Ok(detections) => detections,
                    Err(error) => {
                        self.metrics
                            .errors_total
                            .with_label_values(&[&*camera])
                            .inc();
                        warn!(camera = %camera, error = %error, "inference failed on a frame");
                        continue;
                    }
                };
                self.observe(&model, &camera, detections.len());
                if self
                    .detections_tx
                    .send(FrameDetections { frame, detections })
                    .is_err()
                {
                    warn!("the rules stopped; inference stops");
                    return;
                }
            }
        }
        info!(model = %model, "inference drained and stopped");
    }

    fn observe(&self, model: &str, camera: &Arc<str>, detections: usize) {
        let times = self.detector.last_times();
        for (step, seconds) in [
            ("preprocess", times.preprocess),
            ("session", times.session),
            ("postprocess", times.postprocess),
        ] {
            self.metrics
                .latency_seconds
                .with_label_values(&[model, step])
                .observe(seconds);
        }
        self.metrics
            .frames_total
            .with_label_values(&[&**camera])
            .inc();
        self.metrics
            .detections_total
            .with_label_values(&[&**camera])
            .inc_by(detections as u64);
    }
}
