use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Metrics of the inference stage. Labels are bounded: model and camera ids from the configuration.
#[derive(Clone, Debug)]
pub struct InferenceMetrics {
    /// Seconds per frame through preprocess, session and decode, by model and step.
    pub latency_seconds: HistogramVec,
    /// Frames analysed, by camera.
    pub frames_total: IntCounterVec,
    /// Detections kept after NMS, by camera.
    pub detections_total: IntCounterVec,
    /// Frames that failed inference, by camera.
    pub errors_total: IntCounterVec,
}

impl InferenceMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let buckets = vec![0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0];
        let metrics = Self {
            latency_seconds: HistogramVec::new(
                HistogramOpts::new("sharpeyes_inference_latency_seconds", "Inference latency per frame by step")
                    .buckets(buckets),
                &["model", "step"],
            )?,
            frames_total: IntCounterVec::new(
                Opts::new("sharpeyes_inference_frames_total", "Frames analysed by the detector"),
                &["camera"],
            )?,
            detections_total: IntCounterVec::new(
                Opts::new("sharpeyes_inference_detections_total", "Detections kept after NMS"),
                &["camera"],
            )?,
            errors_total: IntCounterVec::new(
                Opts::new("sharpeyes_inference_errors_total", "Frames that failed inference"),
                &["camera"],
            )?,
        };
        registry.register(Box::new(metrics.latency_seconds.clone()))?;
        registry.register(Box::new(metrics.frames_total.clone()))?;
        registry.register(Box::new(metrics.detections_total.clone()))?;
        registry.register(Box::new(metrics.errors_total.clone()))?;
        Ok(metrics)
    }
}
