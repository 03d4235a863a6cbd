use std::{
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeDelta, Utc};
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use gstreamer::{self as gst, prelude::*};
use gstreamer_app as gst_app;
use tracing::{info, warn};

use super::{
    CameraSettings, CameraState, CameraStatus, KeyframeDecoders,
    interval::AnalysisInterval,
    keyframes::{self, Keyframe, Target},
    pipeline,
};
use crate::{CameraSlot, Error, Frame, FrameQueue, Result, urls::redact_url};

/// How often the source looks at its bus, the watchdog and the shutdown signal.
const POLL: Duration = Duration::from_millis(200);
/// A pipeline that streamed at least this long has its backoff reset when it fails.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// A sender's RTCP clock further than this from ours is not trusted as capture time.
const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);
/// NTP counts from 1900, Unix from 1970.
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// How one run of a pipeline ended, other than by shutdown.
struct Failure {
    error: Error,
    /// Whether frames had arrived before it failed (then the camera is `stalled`, not `offline`).
    streamed: bool,
}

/// When the latest frame of the current run arrived; `None` until the first one.
type LastFrame = Arc<Mutex<Option<Instant>>>;

/// The long-lived loop of one camera: run the pipeline, and when it fails or stalls, log the error
/// with the camera's id, wait (exponential backoff with jitter) and start again, until shutdown.
pub struct CameraSource {
    settings: CameraSettings,
    queue: Arc<FrameQueue>,
    slot: CameraSlot,
    status: Arc<CameraStatus>,
    decoders: KeyframeDecoders,
}

impl CameraSource {
    /// Registers the camera in `queue`; [`CameraSource::spawn`] starts it. In software key-frame mode
    /// its key-frames are decoded by `decoders`.
    pub fn new(settings: CameraSettings, queue: Arc<FrameQueue>, decoders: KeyframeDecoders) -> Self {
        let slot = queue.register();
        let status = Arc::new(CameraStatus::new(&settings.id, redact_url(&settings.url)));
        Self { settings, queue, slot, status, decoders }
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
        let mut delays = crate::backoff::retry_delays(self.settings.backoff_min, self.settings.backoff_max);
        info!(camera = %id, url = %redact_url(&self.settings.url), "camera starting");
        loop {
            self.status.set_state(CameraState::Connecting, None);
            let started = Instant::now();
            let Failure { error, streamed } = match self.stream_until_failure(shutdown) {
                Ok(()) => break,
                Err(failure) => failure,
            };
            if started.elapsed() >= HEALTHY_RUN {
                delays = crate::backoff::retry_delays(self.settings.backoff_min, self.settings.backoff_max);
            }
            let delay = delays.next().unwrap_or(self.settings.backoff_max);
            // A stream that was flowing and stopped is stalled; a camera that cannot be reached is offline.
            let state = if streamed || matches!(error, Error::Stalled { .. }) {
                CameraState::Stalled
            } else {
                CameraState::Offline
            };
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
    fn stream_until_failure(&self, shutdown: &Receiver<()>) -> std::result::Result<(), Failure> {
        let camera = self.settings.id.to_string();
        let (pipeline, shared) = self.build_pipeline().map_err(|error| Failure { error, streamed: false })?;
        let started = Instant::now();
        let last_frame = LastFrame::default();
        self.attach_sink(&pipeline, shared, last_frame.clone());

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
                let silent = last_frame.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or(started).elapsed();
                if silent > self.settings.stall_timeout {
                    return Err(Error::Stalled { camera: camera.clone(), seconds: silent.as_secs_f64() });
                }
            }
        })();
        // Going to Null cannot fail in a way that matters here: the pipeline is dropped right after.
        let _ = pipeline.set_state(gst::State::Null);
        let streamed = last_frame.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        result.map_err(|error| Failure { error, streamed })
    }

    /// The camera's pipeline, and whether it hands its key-frames to the shared decoders.
    fn build_pipeline(&self) -> Result<(gst::Pipeline, bool)> {
        let what = format!("camera {}", self.settings.id);
        let decoder = pipeline::choose_decoder(&self.settings);
        if let Some(missing) = decoder.missing {
            warn!(camera = %self.settings.id, missing, fallback = decoder.element, "hardware decoder not available; decoding in software");
        }
        let element = gst::parse::launch(&pipeline::describe(&self.settings, decoder.element))
            .map_err(|source| Error::Pipeline { what: what.clone(), source })?;
        let pipeline = element.downcast::<gst::Pipeline>().expect("a launch line with several elements is a pipeline");
        let source = pipeline.by_name(pipeline::SOURCE_NAME).expect("the description names its source");
        source.set_property("location", &self.settings.url);
        Ok((pipeline, pipeline::shares_decoder(&self.settings, decoder.element)))
    }

    /// Takes each sample: stamps its capture time, counts it, and hands it on — encoded to the shared
    /// decoders (`shared`), or decoded into the frame queue.
    fn attach_sink(&self, pipeline: &gst::Pipeline, shared: bool, last_frame: LastFrame) {
        let sink = pipeline
            .by_name(pipeline::SINK_NAME)
            .and_then(|element| element.downcast::<gst_app::AppSink>().ok())
            .expect("the description names its appsink");
        let target = Target {
            camera: self.settings.id.clone(),
            codec: self.settings.codec,
            max_width: self.settings.max_width,
            queue: self.queue.clone(),
            slot: self.slot,
            status: self.status.clone(),
        };
        let decoders = shared.then(|| self.decoders.clone());
        let Target { camera, status, .. } = target.clone();
        // Capture times never go backwards within a camera, whatever the sender's clock does.
        let mut latest = status.snapshot().last_frame_at;
        let mut on_sender_clock = false;
        let mut interval = AnalysisInterval::new(self.settings.analyse_every);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let Some(buffer) = sample.buffer_owned() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let arrival = Utc::now();
                    let sender_time = sender_capture_time(&buffer, arrival);
                    if sender_time.is_some() != on_sender_clock {
                        on_sender_clock = sender_time.is_some();
                        if on_sender_clock {
                            info!(camera = %camera, "capture times from the sender's RTCP clock");
                        } else {
                            info!(camera = %camera, "capture times from arrival (no RTCP sender clock)");
                        }
                    }
                    let captured_at = sender_time.unwrap_or(arrival);
                    let captured_at = latest.map_or(captured_at, |latest| latest.max(captured_at));
                    latest = Some(captured_at);
                    *last_frame.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                    if decoders.is_some() && !interval.take(captured_at) {
                        status.frame_skipped(captured_at);
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    status.frame_arrived(captured_at);
                    if let Some(decoders) = &decoders {
                        let length_size = keyframes::length_size(sample.caps(), target.codec);
                        decoders.submit(Keyframe { buffer, length_size, captured_at, target: target.clone() });
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    let Some(mut frame) = Frame::from_sample(&camera, &sample) else {
                        warn!(camera = %camera, "dropping a sample that is not packed RGB video");
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    frame.captured_at = captured_at;
                    if target.queue.push(target.slot, frame) {
                        status.frame_dropped();
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
}

/// Capture time from the sender's RTCP sender reports (an NTP reference timestamp that `rtspsrc`
/// attaches to each buffer once it has one), when it is within [`MAX_CLOCK_SKEW`] of `arrival`.
fn sender_capture_time(buffer: &gst::BufferRef, arrival: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let ntp = buffer
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|meta| meta.reference().structure(0).is_some_and(|s| s.name() == "timestamp/x-ntp"))?
        .timestamp();
    let unix_nanos = ntp.nseconds().checked_sub(NTP_UNIX_OFFSET_S * 1_000_000_000)?;
    let at = DateTime::from_timestamp_nanos(i64::try_from(unix_nanos).ok()?);
    ((at - arrival).abs() <= MAX_CLOCK_SKEW).then_some(at)
}
