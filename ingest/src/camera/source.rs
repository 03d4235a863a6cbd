use std::{
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use bytes::Bytes;
use chrono::Utc;
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use gstreamer::{self as gst, prelude::*};
use gstreamer_app as gst_app;
use gstreamer_video::{self as gst_video, prelude::*};
use tracing::{info, warn};

use super::{CameraSettings, CameraState, CameraStatus, pipeline, redact_url};
use crate::{CameraSlot, Error, Frame, FrameQueue, Result};

/// How often the source looks at its bus, the watchdog and the shutdown signal.
const POLL: Duration = Duration::from_millis(200);
/// A pipeline that streamed at least this long has its backoff reset when it fails.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// The long-lived loop of one camera: run the pipeline, and when it fails or stalls, log the error
/// with the camera's id, wait (exponential backoff with jitter) and start again, until shutdown.
pub struct CameraSource {
    settings: CameraSettings,
    queue: Arc<FrameQueue>,
    slot: CameraSlot,
    status: Arc<CameraStatus>,
}

impl CameraSource {
    /// Registers the camera in `queue`; [`CameraSource::spawn`] starts it.
    pub fn new(settings: CameraSettings, queue: Arc<FrameQueue>) -> Self {
        let slot = queue.register();
        let status = Arc::new(CameraStatus::new(&settings.id, redact_url(&settings.url)));
        Self { settings, queue, slot, status }
    }

    /// The camera's live status, for the API.
    pub fn status(&self) -> Arc<CameraStatus> {
        self.status.clone()
    }

    /// Runs the camera on its own thread until `shutdown`'s sender is dropped.
    pub fn spawn(self, shutdown: Receiver<()>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name(format!("camera-{}", self.settings.id)).spawn(move || self.run(&shutdown))
    }

    fn run(self, shutdown: &Receiver<()>) {
        let id = &self.settings.id;
        let mut delays = crate::retry_delays(self.settings.backoff_min, self.settings.backoff_max);
        info!(camera = %id, url = %redact_url(&self.settings.url), "camera starting");
        loop {
            self.status.set_state(CameraState::Connecting, None);
            let started = Instant::now();
            let error = match self.stream_until_failure(shutdown) {
                Ok(()) => break,
                Err(error) => error,
            };
            if started.elapsed() >= HEALTHY_RUN {
                delays = crate::retry_delays(self.settings.backoff_min, self.settings.backoff_max);
            }
            let delay = delays.next().unwrap_or(self.settings.backoff_max);
            let state =
                if matches!(error, Error::Stalled { .. }) { CameraState::Stalled } else { CameraState::Offline };
            self.status.set_state(state, Some(error.to_string()));
            warn!(camera = %id, error = %error, retry_in_ms = delay.as_millis() as u64, "camera failed; retrying");
            match shutdown.recv_timeout(delay) {
                Err(RecvTimeoutError::Timeout) => self.status.count_restart(),
                _ => break,
            }
        }
        info!(camera = %id, "camera stopped");
    }

    /// Runs the pipeline once. `Ok` means shutdown was requested; every other end is an error.
    fn stream_until_failure(&self, shutdown: &Receiver<()>) -> Result<()> {
        let camera = self.settings.id.to_string();
        let pipeline = self.build_pipeline()?;
        let last_frame = Arc::new(Mutex::new(Instant::now()));
        self.attach_sink(&pipeline, last_frame.clone());

        let result = (|| {
            pipeline
                .set_state(gst::State::Playing)
                .map_err(|_| Error::StateChange { what: format!("camera {camera}"), state: gst::State::Playing })?;
            let bus = pipeline.bus().expect("a pipeline always has a bus");
            loop {
                if matches!(shutdown.try_recv(), Err(TryRecvError::Disconnected)) {
                    return Ok(());
                }
                let message = bus.timed_pop_filtered(
                    gst::ClockTime::from_mseconds(POLL.as_millis() as u64),
                    &[gst::MessageType::Error, gst::MessageType::Eos],
                );
                if let Some(message) = message {
                    return Err(match message.view() {
                        gst::MessageView::Error(err) => Error::Stream {
                            camera: camera.clone(),
                            message: err.error().to_string(),
                            // GStreamer's debug text spans lines; a log entry must not.
                            debug: err.debug().map(|d| d.replace('\n', " ")).unwrap_or_default(),
                        },
                        _ => Error::EndOfStream { camera: camera.clone() },
                    });
                }
                let silent = last_frame.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
                if silent > self.settings.stall_timeout {
                    return Err(Error::Stalled { camera: camera.clone(), seconds: silent.as_secs_f64() });
                }
            }
        })();
        // Going to Null cannot fail in a way that matters here: the pipeline is dropped right after.
        let _ = pipeline.set_state(gst::State::Null);
        result
    }

    fn build_pipeline(&self) -> Result<gst::Pipeline> {
        let what = format!("camera {}", self.settings.id);
        let element = gst::parse::launch(&pipeline::describe(&self.settings))
            .map_err(|source| Error::Pipeline { what: what.clone(), source })?;
        let pipeline = element.downcast::<gst::Pipeline>().expect("a launch line with several elements is a pipeline");
        let source = pipeline.by_name(pipeline::SOURCE_NAME).expect("the description names its source");
        source.set_property("location", &self.settings.url);
        Ok(pipeline)
    }

    fn attach_sink(&self, pipeline: &gst::Pipeline, last_frame: Arc<Mutex<Instant>>) {
        let sink = pipeline
            .by_name(pipeline::SINK_NAME)
            .and_then(|element| element.downcast::<gst_app::AppSink>().ok())
            .expect("the description names its appsink");
        let camera = self.settings.id.clone();
        let queue = self.queue.clone();
        let slot = self.slot;
        let status = self.status.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let Some(frame) = frame_from_sample(&camera, &sample) else {
                        warn!(camera = %camera, "dropping a sample that is not packed RGB video");
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    *last_frame.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                    status.frame_arrived(frame.captured_at);
                    if queue.push(slot, frame) {
                        status.frame_dropped();
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
}

/// Copies an RGB sample into a packed [`Frame`] (GStreamer may pad rows to 4 bytes).
fn frame_from_sample(camera: &Arc<str>, sample: &gst::Sample) -> Option<Frame> {
    let buffer = sample.buffer()?;
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let video = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
    let (width, height) = (video.width(), video.height());
    let row = width as usize * 3;
    let stride = usize::try_from(video.plane_stride()[0]).ok()?;
    let data = video.plane_data(0).ok()?;
    let mut rgb = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        rgb.extend_from_slice(data.get(y * stride..y * stride + row)?);
    }
    let mut frame = Frame::from_rgb(camera.clone(), Utc::now(), width, height, Bytes::from(rgb));
    frame.pts = buffer.pts().map(|pts| Duration::from_nanos(pts.nseconds()));
    Some(frame)
}
