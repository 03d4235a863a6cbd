//! Camera status as Prometheus metrics, read from the live statuses at each scrape.

use prometheus::{
    GaugeVec, IntCounterVec, IntGaugeVec, Opts,
    core::{Collector, Desc},
    proto::MetricFamily,
};

use super::{CameraBoard, CameraState};

/// `sharpeyes_camera_state{camera,state}` (1 for the current state, 0 for the others),
/// `sharpeyes_camera_frames_total`, `sharpeyes_camera_frames_dropped_total` and
/// `sharpeyes_camera_restarts_total`, `sharpeyes_camera_frames_skipped_total`,
/// `sharpeyes_camera_keyframes_received_total`, `sharpeyes_camera_keyframes_analysed_total` and
/// `sharpeyes_camera_analysis_interval_seconds` (the interval analysis gives it; with
/// `..._target_interval_seconds`, the one it asks for), by camera.
pub struct CameraCollector {
    cameras: CameraBoard,
    descs: Vec<Desc>,
}

struct Families {
    state: IntGaugeVec,
    frames: IntCounterVec,
    dropped: IntCounterVec,
    restarts: IntCounterVec,
    skipped: IntCounterVec,
    received: IntCounterVec,
    analysed: IntCounterVec,
    interval: GaugeVec,
    target: GaugeVec,
}

impl Families {
    fn new() -> Self {
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["camera"]).expect("a valid metric definition")
        };
        let gauge = |name: &str, help: &str| {
            GaugeVec::new(Opts::new(name, help), &["camera"]).expect("a valid metric definition")
        };
        Self {
            state: IntGaugeVec::new(
                Opts::new("sharpeyes_camera_state", "1 for the state each camera is in, 0 for the others"),
                &["camera", "state"],
            )
            .expect("a valid metric definition"),
            frames: counter("sharpeyes_camera_frames_total", "Decoded frames handed toward the detector"),
            dropped: counter("sharpeyes_camera_frames_dropped_total", "Frames dropped because the detector was behind"),
            restarts: counter("sharpeyes_camera_restarts_total", "Pipeline restarts"),
            skipped: counter(
                "sharpeyes_camera_frames_skipped_total",
                "Key-frames not decoded nor analysed, by the camera's analyse_every_s",
            ),
            received: counter(
                "sharpeyes_camera_keyframes_received_total",
                "Frames received (key-frames in key-frame mode), analysed or not",
            ),
            analysed: counter("sharpeyes_camera_keyframes_analysed_total", "Frames taken by the detector"),
            interval: gauge(
                "sharpeyes_camera_analysis_interval_seconds",
                "Seconds between the camera's analysed frames (moving average; grows under overload)",
            ),
            target: gauge(
                "sharpeyes_camera_target_interval_seconds",
                "Seconds between analysed frames the camera asks for (analyse_every_s, or its key-frame spacing)",
            ),
        }
    }

    fn collectors(&self) -> [&dyn Collector; 9] {
        [
            &self.state,
            &self.frames,
            &self.dropped,
            &self.restarts,
            &self.skipped,
            &self.received,
            &self.analysed,
            &self.interval,
            &self.target,
        ]
    }
}

impl CameraCollector {
    /// A collector over the cameras on `cameras` at each scrape.
    pub fn new(cameras: CameraBoard) -> Self {
        let descs = Families::new().collectors().iter().flat_map(|c| c.desc().into_iter().cloned()).collect();
        Self { cameras, descs }
    }
}

impl Collector for CameraCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let families = Families::new();
        for status in &self.cameras.statuses() {
            let snapshot = status.snapshot();
            let camera = snapshot.id.as_str();
            for state in CameraState::ALL {
                families.state.with_label_values(&[camera, state.as_str()]).set(i64::from(state == snapshot.state));
            }
            families.frames.with_label_values(&[camera]).inc_by(snapshot.frames);
            families.dropped.with_label_values(&[camera]).inc_by(snapshot.frames_dropped);
            families.restarts.with_label_values(&[camera]).inc_by(snapshot.restarts);
            families.skipped.with_label_values(&[camera]).inc_by(snapshot.frames_skipped);
            families.received.with_label_values(&[camera]).inc_by(snapshot.frames + snapshot.frames_skipped);
            families.analysed.with_label_values(&[camera]).inc_by(snapshot.frames_analysed);
            if let Some(interval) = snapshot.analysis_interval_s {
                families.interval.with_label_values(&[camera]).set(interval);
            }
            if let Some(target) = snapshot.target_interval_s {
                families.target.with_label_values(&[camera]).set(target);
            }
        }
        families.collectors().iter().flat_map(|c| c.collect()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::camera::CameraStatus;

    #[test]
    fn each_camera_reports_its_state_and_counts() {
        let status = Arc::new(CameraStatus::new("gate", "rtsp://127.0.0.1/gate".into()));
        status.frame_arrived(chrono::Utc::now());
        status.frame_dropped();
        let registry = prometheus::Registry::new();
        registry.register(Box::new(CameraCollector::new(CameraBoard::new(vec![status])))).unwrap();
        let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
        for line in [
            "sharpeyes_camera_state{camera=\"gate\",state=\"streaming\"} 1",
            "sharpeyes_camera_state{camera=\"gate\",state=\"offline\"} 0",
            "sharpeyes_camera_frames_total{camera=\"gate\"} 1",
            "sharpeyes_camera_frames_dropped_total{camera=\"gate\"} 1",
            "sharpeyes_camera_restarts_total{camera=\"gate\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
