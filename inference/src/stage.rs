use std::{sync::Arc, thread::JoinHandle, time::Duration};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use sharpeyes_ingest::FrameQueue;
use tracing::{info, warn};

use crate::{Detector, FrameDetections, InferenceMetrics, Manifest, RgbView};

/// A change for a running [`InferenceStage`], applied between two batches; cameras are not touched.
pub enum Reload {
    /// New thresholds and class mappings for the same model (its manifest re-read), with the
    /// configuration's confidence override.
    Manifest(Manifest, Option<f32>),
    /// Another model, already loaded and warmed up.
    Swap(Box<Detector>),
}

/// The inference thread: takes frames from the [`FrameQueue`] in batches gathered round-robin across
/// cameras, runs the detector, and sends each frame's detections on. Sending blocks when the rules fall
/// behind (detections are never dropped); frames wait in the queue meanwhile, where the oldest are
/// dropped. Stops when the queue is closed and drained, which closes `detections_tx`.
pub struct InferenceStage {
    detector: Detector,
    frames: Arc<FrameQueue>,
    detections_tx: Sender<FrameDetections>,
    reload_rx: Receiver<Reload>,
    metrics: InferenceMetrics,
    max_wait: Duration,
}

impl InferenceStage {
    /// Wires a detector between the frame queue and the rules. A batch is gathered until it holds
    /// [`Detector::call_batch`] frames or `max_wait` has passed since its first frame.
    pub fn new(
        detector: Detector,
        frames: Arc<FrameQueue>,
        detections_tx: Sender<FrameDetections>,
        reload_rx: Receiver<Reload>,
        metrics: InferenceMetrics,
        max_wait: Duration,
    ) -> Self {
        Self { detector, frames, detections_tx, reload_rx, metrics, max_wait }
    }

    /// Runs on its own thread.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("inference".into()).spawn(move || self.run())
    }

    fn run(mut self) {
        info!(model = %self.detector.manifest().name, batch = self.detector.call_batch(), "inference started");
        while let Some(batch) = self.frames.pop_batch(self.detector.call_batch(), self.max_wait) {
            self.apply_reloads();
            let views: Vec<RgbView<'_>> =
                batch.iter().map(|f| RgbView { rgb: &f.rgb, width: f.width, height: f.height }).collect();
            let results = match self.detector.detect_batch(&views) {
                Ok(results) => results,
                Err(error) => {
                    for frame in &batch {
                        self.metrics.errors_total.with_label_values(&[&*frame.camera]).inc();
                    }
                    warn!(frames = batch.len(), error = %error, "inference failed on a batch");
                    continue;
                }
            };
            self.observe();
            for (frame, detections) in batch.into_iter().zip(results) {
                self.metrics.frames_total.with_label_values(&[&*frame.camera]).inc();
                self.metrics.detections_total.with_label_values(&[&*frame.camera]).inc_by(detections.len() as u64);
                if self.detections_tx.send(FrameDetections { frame, detections }).is_err() {
                    warn!("the rules stopped; inference stops");
                    return;
                }
            }
        }
        info!(model = %self.detector.manifest().name, "inference drained and stopped");
    }

    fn apply_reloads(&mut self) {
        loop {
            match self.reload_rx.try_recv() {
                Ok(Reload::Manifest(manifest, confidence)) => {
                    self.detector.update_manifest(manifest, confidence);
                    info!(model = %self.detector.manifest().name, "thresholds and class mappings reloaded");
                }
                Ok(Reload::Swap(detector)) => {
                    info!(from = %self.detector.manifest().name, to = %detector.manifest().name, "model swapped");
                    self.detector = *detector;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    /// Records the latest call's step times, per frame.
    fn observe(&self) {
        let model = &self.detector.manifest().name;
        let times = self.detector.last_times();
        let frames = times.frames.max(1) as f64;
        for (step, seconds) in
            [("preprocess", times.preprocess), ("session", times.session), ("postprocess", times.postprocess)]
        {
            self.metrics.latency_seconds.with_label_values(&[model, step]).observe(seconds / frames);
        }
    }
}
