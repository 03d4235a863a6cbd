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
    CameraSettings, CameraState, CameraStatus, KeyframeDecoders, RtspClients,
    interval::AnalysisInterval,
    keyframes::{self, Keyframe, Target},
    pipeline, receiver,
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
    clients: RtspClients,
}

impl CameraSource {
    /// Registers the camera in `queue`; [`CameraSource::spawn`] starts it. In software key-frame mode
    /// its key-frames are decoded by `decoders`, and received by `clients` unless it asks for
    /// `rtspsrc` or UDP.
    pub fn new(
        settings: CameraSettings,
        queue: Arc<FrameQueue>,
        decoders: KeyframeDecoders,
        clients: RtspClients,
    ) -> Self {
        let status = Arc::new(CameraStatus::new(&settings.id, redact_url(&settings.url)));
        status.set_analysis_interval(settings.analyse_every);
        let slot = queue.register(status.clone());
        Self { settings, queue, slot, status, decoders, clients }
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
        let decoder = pipeline::choose_decoder(&self.settings);
        let client = if self.received_by_retina(&decoder) { "retina" } else { "rtspsrc" };
        info!(camera = %id, url = %redact_url(&self.settings.url), "camera starting (received by {client})");
        loop {
            self.status.set_state(CameraState::Connecting, None);
            let started = Instant::now();
            let Failure { error, streamed } = match self.stream_until_failure(shutdown, &decoder) {
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

    /// Receives the stream once. `Ok` means shutdown was requested; every other end is an error.
    fn stream_until_failure(
        &self,
        shutdown: &Receiver<()>,
        decoder: &pipeline::ChosenDecoder,
    ) -> std::result::Result<(), Failure> {
        if let Some(missing) = decoder.missing {
            warn!(camera = %self.settings.id, missing, fallback = decoder.element, "hardware decoder not available; decoding in software");
        }
        if self.received_by_retina(decoder) {
            return self.receive_until_failure(shutdown);
        }
        self.run_pipeline_until_failure(shutdown, decoder)
    }

    /// Whether the camera, decoded by `decoder`, is received by retina (see [`receiver::receives`]),
    /// else by its pipeline's `rtspsrc`.
    fn received_by_retina(&self, decoder: &pipeline::ChosenDecoder) -> bool {
        receiver::receives(&self.settings, pipeline::shares_decoder(&self.settings, decoder.element))
    }

    /// Receives the stream once with retina, its key-frames to the shared decoders.
    fn receive_until_failure(&self, shutdown: &Receiver<()>) -> std::result::Result<(), Failure> {
        let target = self.target();
        let decoders = self.decoders.clone();
        let mut arrivals = Arrivals::new(&self.settings, &self.status);
        let receiving = receiver::receive(self.settings.clone(), shutdown.clone(), move |keyframe| {
            if let Some(captured_at) = arrivals.admit(keyframe.sender_time) {
                let pts = Some(keyframe.pts);
                decoders.submit(Keyframe { annex_b: keyframe.annex_b, pts, captured_at, target: target.clone() });
            }
        });
        match self.clients.run(receiving) {
            Some(result) => result.map_err(|(error, streamed)| Failure { error, streamed }),
            None => Err(Failure {
                error: Error::Rtsp {
                    camera: self.settings.id.to_string(),
                    message: "the RTSP receiver runtime is shutting down".into(),
                },
                streamed: false,
            }),
        }
    }

    /// Runs the GStreamer pipeline once.
    fn run_pipeline_until_failure(
        &self,
        shutdown: &Receiver<()>,
        decoder: &pipeline::ChosenDecoder,
    ) -> std::result::Result<(), Failure> {
        let camera = self.settings.id.to_string();
        let (pipeline, shared) = self.build_pipeline(decoder).map_err(|error| Failure { error, streamed: false })?;
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
    fn build_pipeline(&self, decoder: &pipeline::ChosenDecoder) -> Result<(gst::Pipeline, bool)> {
        let what = format!("camera {}", self.settings.id);
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
        let target = self.target();
        let decoders = shared.then(|| self.decoders.clone());
        let camera = target.camera.clone();
        let mut arrivals = Arrivals::new(&self.settings, &self.status);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let Some(buffer) = sample.buffer_owned() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let sender_time = sender_capture_time(&buffer);
                    *last_frame.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                    if let Some(decoders) = &decoders {
                        let Some(captured_at) = arrivals.admit(sender_time) else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        let length_size = keyframes::length_size(sample.caps(), target.codec);
                        match keyframes::keyframe_bytes(&camera, &buffer, length_size) {
                            Ok(annex_b) => {
                                let pts = buffer.pts().map(|pts| Duration::from_nanos(pts.nseconds()));
                                decoders.submit(Keyframe { annex_b, pts, captured_at, target: target.clone() });
                            }
                            Err(error) => {
                                warn!(%error, "dropping a key-frame");
                                target.status.frame_dropped();
                            }
                        }
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    let captured_at = arrivals.stamp(sender_time);
                    target.status.frame_arrived(captured_at);
                    let Some(mut frame) = Frame::from_sample(&camera, &sample) else {
                        warn!(camera = %camera, "dropping a sample that is not packed RGB video");
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    frame.captured_at = captured_at;
                    if target.queue.push(target.slot, frame) {
                        target.status.frame_dropped();
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    /// Where the camera's frames go, as the shared decoders see it.
    fn target(&self) -> Target {
        Target {
            camera: self.settings.id.clone(),
            codec: self.settings.codec,
            max_width: self.settings.max_width,
            queue: self.queue.clone(),
            slot: self.slot,
            status: self.status.clone(),
        }
    }
}

/// A camera's frames as they arrive: their capture times (the sender's clock when it has one, never
/// going backwards within the camera) and, for key-frames, the choice of the analysis interval.
struct Arrivals {
    camera: Arc<str>,
    status: Arc<CameraStatus>,
    latest: Option<DateTime<Utc>>,
    on_sender_clock: bool,
    interval: AnalysisInterval,
}

impl Arrivals {
    fn new(settings: &CameraSettings, status: &Arc<CameraStatus>) -> Self {
        Self {
            camera: settings.id.clone(),
            status: status.clone(),
            latest: status.snapshot().last_frame_at,
            on_sender_clock: false,
            interval: AnalysisInterval::new(settings.analyse_every),
        }
    }

    /// The capture time of a frame that arrives now: `sender_time` when the sender's clock gave one
    /// within [`MAX_CLOCK_SKEW`] of ours, else now.
    fn stamp(&mut self, sender_time: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let arrival = Utc::now();
        let sender_time = sender_time.filter(|at| (*at - arrival).abs() <= MAX_CLOCK_SKEW);
        if sender_time.is_some() != self.on_sender_clock {
            self.on_sender_clock = sender_time.is_some();
            if self.on_sender_clock {
                info!(camera = %self.camera, "capture times from the sender's RTCP clock");
            } else {
                info!(camera = %self.camera, "capture times from arrival (no RTCP sender clock within 5 minutes of ours)");
            }
        }
        let captured_at = sender_time.unwrap_or(arrival);
        let captured_at = self.latest.map_or(captured_at, |latest| latest.max(captured_at));
        self.latest = Some(captured_at);
        captured_at
    }

    /// Stamps a key-frame and counts it: its capture time when it is to be analysed, `None` when the
    /// analysis interval leaves it out.
    fn admit(&mut self, sender_time: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let captured_at = self.stamp(sender_time);
        if !self.interval.take(captured_at) {
            self.status.frame_skipped(captured_at);
            return None;
        }
        self.status.frame_arrived(captured_at);
        Some(captured_at)
    }
}

/// Capture time from the sender's RTCP sender reports (an NTP reference timestamp that `rtspsrc`
/// attaches to each buffer once it has one).
fn sender_capture_time(buffer: &gst::BufferRef) -> Option<DateTime<Utc>> {
    let ntp = buffer
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|meta| meta.reference().structure(0).is_some_and(|s| s.name() == "timestamp/x-ntp"))?
        .timestamp();
    let unix_nanos = ntp.nseconds().checked_sub(NTP_UNIX_OFFSET_S * 1_000_000_000)?;
    Some(DateTime::from_timestamp_nanos(i64::try_from(unix_nanos).ok()?))
}
