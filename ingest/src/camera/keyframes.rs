//! Shared key-frame decoders.
//!
//! A software 1080p H.264 decoder holds about 20 MB (its reference and reordering pictures) whether it
//! decodes 25 frames a second or one key-frame every two seconds. A key-frame decodes on its own (the
//! camera's parser repeats the parameter sets before each one), so cameras in key-frame mode hand their
//! encoded key-frames to a few decoders shared by all of them: the same work in a fraction of the memory.
//!
//! Each worker thread owns one pipeline per codec (`parse → decoder → videoscale → videoconvert → RGB
//! appsink`), pushes a key-frame into it from its own thread and takes the picture out synchronously. The
//! segment is flagged as key-unit trick mode, which makes the decoder hand out every picture at once
//! instead of holding it back for B-frame reordering (otherwise a picture would come out two key-frames,
//! four seconds, late).
//!
//! Decoding is decided late: a key-frame waits encoded in a line that holds at most one per camera (a
//! newer one takes the older one's place, which is counted as dropped), and a worker takes the key-frame
//! of the camera that has gone longest without a picture only when the detector has room for it. So
//! overload never wastes a decode, and every camera's effective interval grows evenly: no camera
//! starves, and none is unlucky for long (a camera that lost a key-frame to a newer one goes first).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use gstreamer::{self as gst, prelude::*};
use gstreamer_app as gst_app;
use tracing::{debug, warn};

use super::{CameraStatus, Codec, pipeline};
use crate::{CameraSlot, EncodedPicture, Error, FrameQueue, Result};

/// How often an idle worker looks again whether the detector has stopped.
const POLL: Duration = Duration::from_millis(200);
/// A picture's pts inside a worker's pipeline advances by this per key-frame (the cameras' own pts are
/// kept on the frame; the decoder only needs them increasing).
const WORKER_TICK: Duration = Duration::from_millis(40);

/// One camera's encoded key-frame on its way to a decoder.
pub(crate) struct Keyframe {
    /// The encoded access unit as an Annex B byte stream, parameter sets first.
    pub annex_b: Vec<u8>,
    /// Presentation time on the camera's stream clock.
    pub pts: Option<Duration>,
    /// Capture time, already made monotonic for the camera.
    pub captured_at: DateTime<Utc>,
    /// Where the picture goes.
    pub target: Target,
}

/// A camera as the decoders see it: its codec and size limit, and where its pictures go.
#[derive(Clone)]
pub(crate) struct Target {
    pub camera: Arc<str>,
    pub codec: Codec,
    pub max_width: u32,
    pub queue: Arc<FrameQueue>,
    pub slot: CameraSlot,
    pub status: Arc<CameraStatus>,
}

/// A pool of decoder threads shared by the cameras in key-frame mode. Cloning is cheap; the threads end
/// when the last clone is dropped or the frame queue is closed.
#[derive(Clone)]
pub struct KeyframeDecoders {
    line: Arc<Line>,
    _open: Arc<OpenLine>,
}

/// The key-frames waiting for a decoder: at most one per camera, the camera served longest ago first.
#[derive(Default)]
struct Line {
    state: Mutex<LineState>,
    ready: Condvar,
}

#[derive(Default)]
struct LineState {
    waiting: VecDeque<Keyframe>,
    /// When each camera's latest key-frame was taken for decoding.
    served: HashMap<CameraSlot, Instant>,
    closed: bool,
}

/// Closes the line when the last [`KeyframeDecoders`] is dropped.
struct OpenLine(Arc<Line>);

impl Drop for OpenLine {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

impl Line {
    fn lock(&self) -> MutexGuard<'_, LineState> {
        // Only key-frame buffers are behind the lock; a panic leaves them consistent.
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// The key-frame of the camera served longest ago (never served first, then the longest waiting);
    /// `Ok(None)` when none came within `max_wait`, `Err` once the line is closed and empty.
    fn next(&self, max_wait: Duration) -> Result<Option<Keyframe>, ()> {
        let mut state = self.lock();
        if state.waiting.is_empty() && !state.closed {
            state = self.ready.wait_timeout(state, max_wait).unwrap_or_else(|poison| poison.into_inner()).0;
        }
        let state = &mut *state;
        let first = (0..state.waiting.len()).min_by_key(|&i| state.served.get(&state.waiting[i].target.slot));
        match first.and_then(|i| state.waiting.remove(i)) {
            Some(keyframe) => {
                state.served.insert(keyframe.target.slot, Instant::now());
                Ok(Some(keyframe))
            }
            None if state.closed => Err(()),
            None => Ok(None),
        }
    }
}

impl KeyframeDecoders {
    /// Starts `workers` (at least 1) decoder threads feeding `frames`, each decoding only while fewer
    /// than `ahead` pictures wait there for the detector.
    pub fn spawn(workers: usize, frames: Arc<FrameQueue>, ahead: usize) -> Result<Self> {
        crate::init_gstreamer()?;
        let line = Arc::new(Line::default());
        for index in 0..workers.max(1) {
            let (line, frames) = (line.clone(), frames.clone());
            let _: JoinHandle<()> = std::thread::Builder::new()
                .name(format!("keyframe-decoder-{index}"))
                .spawn(move || Worker::default().run(&line, &frames, ahead))
                .map_err(|source| Error::Thread { what: "key-frame decoder", source })?;
        }
        Ok(Self { _open: Arc::new(OpenLine(line.clone())), line })
    }

    /// One decoder thread per core: decoding key-frames is a small share of the work next to detection.
    pub fn spawn_per_core(frames: Arc<FrameQueue>, ahead: usize) -> Result<Self> {
        Self::spawn(std::thread::available_parallelism().map_or(1, |n| n.get()), frames, ahead)
    }

    /// Puts a key-frame in line without waiting. A key-frame of the same camera still waiting gives
    /// it its place and is counted as dropped: the detector is behind, and the newest picture is
    /// worth more.
    pub(crate) fn submit(&self, keyframe: Keyframe) {
        let mut state = self.line.lock();
        if let Some(waiting) = state.waiting.iter_mut().find(|waiting| waiting.target.slot == keyframe.target.slot) {
            waiting.target.status.frame_dropped();
            *waiting = keyframe;
            return;
        }
        state.waiting.push_back(keyframe);
        drop(state);
        self.line.ready.notify_one();
    }
}

/// A decoder thread: one pipeline per codec, made on first use and remade after a decoding error.
#[derive(Default)]
struct Worker {
    h264: Option<DecodePipeline>,
    h265: Option<DecodePipeline>,
}

impl Worker {
    fn run(mut self, line: &Line, frames: &FrameQueue, ahead: usize) {
        loop {
            // Decide before decoding: only a picture the detector has room for is made.
            if !frames.wait_for_room(ahead) {
                return;
            }
            let keyframe = match line.next(POLL) {
                Ok(Some(keyframe)) => keyframe,
                Ok(None) => continue,
                Err(()) => return,
            };
            let target = keyframe.target.clone();
            match self.decode(keyframe) {
                Ok(true) => {}
                Ok(false) => {
                    debug!(camera = %target.camera, "key-frame gave no picture");
                    target.status.frame_dropped();
                }
                Err(error) => {
                    warn!(camera = %target.camera, %error, "key-frame could not be decoded; decoder restarted");
                    *self.slot(target.codec) = None;
                    target.status.frame_dropped();
                }
            }
        }
    }

    fn slot(&mut self, codec: Codec) -> &mut Option<DecodePipeline> {
        match codec {
            Codec::H264 => &mut self.h264,
            Codec::H265 => &mut self.h265,
        }
    }

    /// Decodes one key-frame into its camera's queue; `Ok(false)` when the decoder gave no picture.
    /// The worker's pipeline for `codec`, made when it has none.
    fn pipeline(&mut self, codec: Codec) -> Result<&mut DecodePipeline> {
        let slot = self.slot(codec);
        if slot.is_none() {
            *slot = Some(DecodePipeline::new(codec)?);
        }
        Ok(slot.as_mut().expect("made above"))
    }

    fn decode(&mut self, keyframe: Keyframe) -> Result<bool> {
        let codec = keyframe.target.codec;
        let decoder = self.pipeline(codec)?;
        let camera = &keyframe.target.camera;
        let annex_b = Bytes::from(keyframe.annex_b);
        let buffer = gst::Buffer::from_slice(annex_b.clone());
        let Some(mut frame) = decoder.decode(buffer, keyframe.pts, keyframe.target.max_width, camera)? else {
            return Ok(false);
        };
        frame.captured_at = keyframe.captured_at;
        frame.encoded = Some(EncodedPicture { codec, annex_b, max_width: keyframe.target.max_width });
        if keyframe.target.queue.push(keyframe.target.slot, frame) {
            keyframe.target.status.frame_dropped();
        }
        Ok(true)
    }
}

thread_local! {
    /// The decoders of [`decode_again`], one per codec and thread, made on first use.
    static AGAIN: std::cell::RefCell<Worker> = std::cell::RefCell::new(Worker::default());
}

/// Decodes a frame's key-frame again (see [`crate::Frame::with_pixels`]), on the calling thread.
pub(crate) fn decode_again(camera: &Arc<str>, picture: &EncodedPicture) -> Result<crate::Frame> {
    AGAIN.with_borrow_mut(|worker| {
        let buffer = gst::Buffer::from_slice(picture.annex_b.clone());
        match worker.pipeline(picture.codec)?.decode(buffer, None, picture.max_width, camera) {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(decode_error(camera, "the key-frame gave no picture when decoded again")),
            Err(error) => {
                *worker.slot(picture.codec) = None;
                Err(error)
            }
        }
    })
}

fn decode_error(camera: &str, reason: &str) -> Error {
    Error::Decode { camera: camera.to_string(), reason: reason.to_string() }
}

/// A length-prefixed access unit (as a camera's parser hands it out) as a key-frame's Annex B bytes;
/// the error names the camera.
pub(crate) fn keyframe_bytes(camera: &str, buffer: &gst::BufferRef, length_size: usize) -> Result<Vec<u8>> {
    let map = buffer.map_readable().map_err(|_| decode_error(camera, "unreadable buffer"))?;
    annex_b(&map, length_size).ok_or_else(|| decode_error(camera, "a NAL unit's length runs past the access unit"))
}

/// Bytes in a NAL unit's length prefix, from the codec data in the caps of a length-prefixed stream
/// (`avcC`: byte 4; `hvcC`: byte 21; the low two bits hold the size less one). 4 when it cannot be read.
pub(crate) fn length_size(caps: Option<&gst::CapsRef>, codec: Codec) -> usize {
    let at = match codec {
        Codec::H264 => 4,
        Codec::H265 => 21,
    };
    caps.and_then(|caps| caps.structure(0)?.get::<gst::Buffer>("codec_data").ok())
        .and_then(|data| data.map_readable().ok()?.get(at).map(|byte| usize::from(byte & 0x03) + 1))
        .unwrap_or(4)
}

/// Rewrites length-prefixed NAL units as an Annex B byte stream (each unit after a start code), which
/// the decoders take from any camera without per-camera caps. `None` when a length runs past the end.
fn annex_b(data: &[u8], length_size: usize) -> Option<Vec<u8>> {
    const START_CODE: [u8; 4] = [0, 0, 0, 1];
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut rest = data;
    while !rest.is_empty() {
        let (prefix, tail) = rest.split_at_checked(length_size)?;
        let length = prefix.iter().fold(0usize, |length, byte| length << 8 | usize::from(*byte));
        let (unit, tail) = tail.split_at_checked(length)?;
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(unit);
        rest = tail;
    }
    Some(out)
}

/// One decoding pipeline, fed from the worker's thread through a pad of its own.
struct DecodePipeline {
    pipeline: gst::Pipeline,
    input: gst::Pad,
    size: gst::Element,
    sink: gst_app::AppSink,
    max_width: u32,
    next_pts: gst::ClockTime,
}

impl DecodePipeline {
    fn new(codec: Codec) -> Result<Self> {
        let what = format!("{codec:?} key-frame decoder");
        let pipeline = gst::parse::launch(&pipeline::describe_keyframe_decoder(codec))
            .map_err(|source| Error::Pipeline { what: what.clone(), source })?
            .downcast::<gst::Pipeline>()
            .expect("a launch line with several elements is a pipeline");
        let by_name = |name| pipeline.by_name(name).expect("the description names its elements");
        let parse = by_name(pipeline::PARSE_NAME);
        let size = by_name(pipeline::SIZE_NAME);
        let sink = by_name(pipeline::SINK_NAME).downcast::<gst_app::AppSink>().expect("an appsink");
        let input = gst::Pad::builder(gst::PadDirection::Src).name("keyframes").build();
        let parse_sink = parse.static_pad("sink").expect("a parser has a sink pad");
        let setup = |reason: String| Error::DecoderSetup { what: what.clone(), reason };
        input.link(&parse_sink).map_err(|e| setup(format!("cannot link its input: {e}")))?;
        input.set_active(true).map_err(|e| setup(format!("cannot activate its input: {e}")))?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| Error::StateChange { what: what.clone(), state: gst::State::Playing })?;
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_flags(gst::SegmentFlags::TRICKMODE_KEY_UNITS);
        let caps = gst::Caps::builder(pipeline::encoded_media_type(codec))
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build();
        for event in
            [gst::event::StreamStart::new(&what), gst::event::Caps::new(&caps), gst::event::Segment::new(&segment)]
        {
            if !input.push_event(event) {
                return Err(setup("the decoder refused the stream's start".into()));
            }
        }
        Ok(Self { pipeline, input, size, sink, max_width: 0, next_pts: gst::ClockTime::ZERO })
    }

    /// Pushes one key-frame through and takes its picture, scaled down to `max_width`.
    fn decode(
        &mut self,
        mut buffer: gst::Buffer,
        stream_pts: Option<Duration>,
        max_width: u32,
        camera: &Arc<str>,
    ) -> Result<Option<crate::Frame>> {
        if max_width != self.max_width {
            self.size.set_property("caps", pipeline::scaled_caps(max_width));
            self.max_width = max_width;
        }
        {
            let buffer = buffer.make_mut();
            buffer.set_pts(self.next_pts);
            buffer.set_dts(self.next_pts);
        }
        self.next_pts += gst::ClockTime::from_nseconds(WORKER_TICK.as_nanos() as u64);
        self.input.push(buffer).map_err(|flow| decode_error(camera, &format!("the decoder returned {flow:?}")))?;
        let Some(sample) = self.sink.try_pull_sample(gst::ClockTime::ZERO) else {
            return Ok(None);
        };
        let mut frame = crate::Frame::from_sample(camera, &sample);
        if let Some(frame) = frame.as_mut() {
            frame.pts = stream_pts;
        }
        Ok(frame)
    }
}

impl Drop for DecodePipeline {
    fn drop(&mut self) {
        // Going to Null cannot fail in a way that matters here: the pipeline is being dropped.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixed_units_become_a_byte_stream() {
        let data = [0, 0, 0, 2, 0x67, 0x42, 0, 0, 0, 1, 0x65];
        assert_eq!(annex_b(&data, 4).unwrap(), [0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x65]);
        assert_eq!(annex_b(&[0, 1, 0x65, 0, 1, 0x41], 2).unwrap(), [0, 0, 0, 1, 0x65, 0, 0, 0, 1, 0x41]);
        assert_eq!(annex_b(&[], 4).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn a_length_past_the_end_is_refused() {
        assert_eq!(annex_b(&[0, 0, 0, 9, 0x65], 4), None);
        assert_eq!(annex_b(&[0, 0], 4), None);
    }

    /// The key-frames of `count` frames of test video at `width`x`height`, encoded with B-frames (so a
    /// decoder that reorders would hold pictures back), as the cameras' parsers hand them out.
    fn encoded_keyframes(width: u32, height: u32, count: u32) -> Vec<(gst::Buffer, usize)> {
        let text = format!(
            "videotestsrc num-buffers={count} ! video/x-raw,width={width},height={height},framerate=25/1 \
             ! x264enc key-int-max=5 bframes=2 speed-preset=ultrafast ! h264parse config-interval=-1 \
             ! video/x-h264,stream-format=avc,alignment=au ! identity drop-buffer-flags=delta-unit \
             ! appsink name=out sync=false"
        );
        let pipeline = gst::parse::launch(&text).unwrap().downcast::<gst::Pipeline>().unwrap();
        let sink = pipeline.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut keyframes = Vec::new();
        while let Ok(sample) = sink.pull_sample() {
            keyframes.push((sample.buffer_owned().unwrap(), length_size(sample.caps(), Codec::H264)));
        }
        pipeline.set_state(gst::State::Null).unwrap();
        keyframes
    }

    #[test]
    fn keyframes_of_two_cameras_decode_each_at_once_at_their_own_size() {
        crate::init_gstreamer().unwrap();
        let small = encoded_keyframes(320, 240, 20);
        let large = encoded_keyframes(640, 360, 20);
        assert_eq!((small.len(), large.len()), (4, 4), "one key-frame every 5 frames");
        let queue = FrameQueue::new(4);
        let target = |camera: &str, max_width| {
            let status = Arc::new(CameraStatus::new(camera, String::new()));
            let slot = queue.register(status.clone());
            Target { camera: camera.into(), codec: Codec::H264, max_width, queue: queue.clone(), slot, status }
        };
        let (a, b) = (target("a", 1280), target("b", 480));
        let decoders = KeyframeDecoders::spawn(1, queue.clone(), 2).unwrap();
        let (frames_tx, frames) = crossbeam_channel::unbounded();
        let popper = queue.clone();
        std::thread::spawn(move || {
            while let Some(batch) = popper.pop_batch(1, Duration::ZERO) {
                batch.into_iter().for_each(|frame| frames_tx.send(frame).unwrap());
            }
        });
        for ((small, small_len), (large, large_len)) in small.into_iter().zip(large) {
            for (buffer, length_size, target, size) in
                [(small, small_len, &a, (320, 240)), (large, large_len, &b, (480, 270))]
            {
                let captured_at = Utc::now();
                let annex_b = keyframe_bytes(&target.camera, &buffer, length_size).unwrap();
                decoders.submit(Keyframe { annex_b, pts: None, captured_at, target: target.clone() });
                // Each key-frame comes out before the next goes in: no picture is held back.
                let frame = frames.recv_timeout(Duration::from_secs(5)).expect("a picture for each key-frame");
                assert_eq!((&*frame.camera, frame.width, frame.height), (&*target.camera, size.0, size.1));
                assert_eq!(frame.captured_at, captured_at);
                assert_eq!(frame.rgb.len(), (size.0 * size.1 * 3) as usize);
                // Kept compact, the frame holds its key-frame instead, and decodes to the same picture.
                let compact = frame.compact();
                assert!(compact.rgb.is_empty() && compact.encoded.is_some());
                let again = compact.with_pixels().expect("decoded again");
                assert_eq!((again.width, again.height, again.captured_at), (frame.width, frame.height, captured_at));
                assert!(again.rgb == frame.rgb, "the same pixels");
                let error = frame.outline().with_pixels().unwrap_err().to_string();
                assert!(error.contains(&*target.camera) && error.contains("keeps no pixels"), "{error}");
            }
        }
        assert_eq!(a.status.snapshot().frames_dropped + b.status.snapshot().frames_dropped, 0);
        queue.close();
    }

    #[test]
    fn an_overloaded_detector_gets_every_camera_in_turn_and_nothing_is_decoded_ahead() {
        crate::init_gstreamer().unwrap();
        const ROUNDS: usize = 12;
        let keyframes = encoded_keyframes(320, 240, 5 * (ROUNDS as u32 + 2));
        let queue = FrameQueue::new(4);
        let targets: Vec<Target> = ["a", "b", "c"]
            .into_iter()
            .map(|camera| {
                let status = Arc::new(CameraStatus::new(camera, String::new()));
                let slot = queue.register(status.clone());
                Target { camera: camera.into(), codec: Codec::H264, max_width: 320, queue: queue.clone(), slot, status }
            })
            .collect();
        // Room for one picture ahead of the detector.
        let decoders = KeyframeDecoders::spawn(1, queue.clone(), 1).unwrap();
        let submit_round = |round: usize| {
            for target in &targets {
                let (buffer, length_size) = &keyframes[round];
                let annex_b = keyframe_bytes(&target.camera, buffer, *length_size).unwrap();
                decoders.submit(Keyframe { annex_b, pts: None, captured_at: Utc::now(), target: target.clone() });
            }
        };
        // The detector is slower than the cameras: three key-frames arrive for each picture it takes.
        submit_round(0);
        submit_round(1);
        let mut taken = Vec::new();
        for round in 2..ROUNDS + 2 {
            submit_round(round);
            let batch = queue.pop_batch(1, Duration::ZERO).unwrap();
            taken.push(batch[0].camera.to_string());
        }
        // Each camera in turn, whatever the order of arrival.
        for window in taken.chunks(3) {
            let mut cameras = window.to_vec();
            cameras.sort();
            assert_eq!(cameras, ["a", "b", "c"], "{taken:?}");
        }
        // Decided before decoding: what was not taken waits encoded, at most one picture decoded ahead.
        let statuses: Vec<_> = targets.iter().map(|t| t.status.snapshot()).collect();
        let analysed: u64 = statuses.iter().map(|s| s.frames_analysed).sum();
        assert_eq!(analysed, ROUNDS as u64);
        let dropped: u64 = statuses.iter().map(|s| s.frames_dropped).sum();
        let submitted = 3 * (ROUNDS as u64 + 2);
        // Every key-frame is analysed, dropped for a newer one, waiting in line (one per camera) or
        // decoded and waiting for the detector (at most one).
        let accounted = analysed + dropped;
        assert!((submitted - 4..=submitted).contains(&accounted), "{analysed} + {dropped} of {submitted}");
        queue.close();
    }

    #[test]
    fn the_length_size_comes_from_the_codec_data() {
        crate::init_gstreamer().unwrap();
        let avcc = gst::Buffer::from_slice([1u8, 0x42, 0xc0, 0x1e, 0xfd, 0xe1]);
        let caps = gst::Caps::builder("video/x-h264").field("codec_data", avcc).build();
        assert_eq!(length_size(Some(&caps), Codec::H264), 2);
        assert_eq!(length_size(None, Codec::H265), 4);
    }
}
