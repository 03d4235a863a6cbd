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

use std::{sync::Arc, thread::JoinHandle, time::Duration};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use gstreamer::{self as gst, prelude::*};
use gstreamer_app as gst_app;
use tracing::{debug, warn};

use super::{CameraStatus, Codec, pipeline};
use crate::{CameraSlot, Error, FrameQueue, Result};

/// Key-frames that may wait for a decoder, per camera. Cameras served from one source send their
/// key-frames at the same instant, so the backlog must hold a burst of one from each; at 100–200 kB per
/// 1080p key-frame this costs well under 1 MB a camera. When it is full the newest key-frame is dropped
/// and counted.
const BACKLOG_PER_CAMERA: usize = 2;
/// A picture's pts inside a worker's pipeline advances by this per key-frame (the cameras' own pts are
/// kept on the frame; the decoder only needs them increasing).
const WORKER_TICK: Duration = Duration::from_millis(40);

/// One camera's encoded key-frame on its way to a decoder.
pub(crate) struct Keyframe {
    /// The encoded access unit, parameter sets included, its NAL units length-prefixed.
    pub buffer: gst::Buffer,
    /// Bytes in each NAL unit's length prefix (from the stream's codec data).
    pub length_size: usize,
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
/// when the last clone is dropped.
#[derive(Clone)]
pub struct KeyframeDecoders {
    jobs: Sender<Keyframe>,
}

impl KeyframeDecoders {
    /// Starts `workers` (at least 1) decoder threads for up to `cameras` cameras.
    pub fn spawn(workers: usize, cameras: usize) -> Result<Self> {
        crate::init_gstreamer()?;
        let (jobs, queue) = crossbeam_channel::bounded(cameras.max(8) * BACKLOG_PER_CAMERA);
        for index in 0..workers.max(1) {
            let queue = queue.clone();
            let _: JoinHandle<()> = std::thread::Builder::new()
                .name(format!("keyframe-decoder-{index}"))
                .spawn(move || Worker::default().run(&queue))
                .map_err(|source| Error::Thread { what: "key-frame decoder", source })?;
        }
        Ok(Self { jobs })
    }

    /// One decoder thread per core: decoding key-frames is a small share of the work next to detection.
    pub fn spawn_per_core(cameras: usize) -> Result<Self> {
        Self::spawn(std::thread::available_parallelism().map_or(1, |n| n.get()), cameras)
    }

    /// Hands a key-frame to the decoders without waiting; when they are behind it is dropped and counted
    /// as a dropped frame of its camera.
    pub(crate) fn submit(&self, keyframe: Keyframe) {
        if let Err(TrySendError::Full(keyframe) | TrySendError::Disconnected(keyframe)) = self.jobs.try_send(keyframe) {
            keyframe.target.status.frame_dropped();
        }
    }
}

/// A decoder thread: one pipeline per codec, made on first use and remade after a decoding error.
#[derive(Default)]
struct Worker {
    h264: Option<DecodePipeline>,
    h265: Option<DecodePipeline>,
}

impl Worker {
    fn run(mut self, queue: &Receiver<Keyframe>) {
        for keyframe in queue {
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
    fn decode(&mut self, keyframe: Keyframe) -> Result<bool> {
        let codec = keyframe.target.codec;
        let slot = self.slot(codec);
        if slot.is_none() {
            *slot = Some(DecodePipeline::new(codec)?);
        }
        let decoder = slot.as_mut().expect("made above");
        let camera = &keyframe.target.camera;
        let map = keyframe.buffer.map_readable().map_err(|_| decode_error(camera, "unreadable buffer"))?;
        let annex_b = annex_b(&map, keyframe.length_size)
            .ok_or_else(|| decode_error(camera, "a NAL unit's length runs past the access unit"))?;
        drop(map);
        let mut buffer = gst::Buffer::from_mut_slice(annex_b);
        buffer.get_mut().expect("a new buffer is writable").set_pts(keyframe.buffer.pts());
        let Some(mut frame) = decoder.decode(buffer, keyframe.target.max_width, camera)? else {
            return Ok(false);
        };
        frame.captured_at = keyframe.captured_at;
        if keyframe.target.queue.push(keyframe.target.slot, frame) {
            keyframe.target.status.frame_dropped();
        }
        Ok(true)
    }
}

fn decode_error(camera: &str, reason: &str) -> Error {
    Error::Decode { camera: camera.to_string(), reason: reason.to_string() }
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
    fn decode(&mut self, mut buffer: gst::Buffer, max_width: u32, camera: &Arc<str>) -> Result<Option<crate::Frame>> {
        if max_width != self.max_width {
            self.size.set_property("caps", pipeline::scaled_caps(max_width));
            self.max_width = max_width;
        }
        let stream_pts = buffer.pts();
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
            frame.pts = stream_pts.map(|pts| Duration::from_nanos(pts.nseconds()));
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
        let target = |camera: &str, max_width| Target {
            camera: camera.into(),
            codec: Codec::H264,
            max_width,
            queue: queue.clone(),
            slot: queue.register(),
            status: Arc::new(CameraStatus::new(camera, String::new())),
        };
        let (a, b) = (target("a", 1280), target("b", 480));
        let decoders = KeyframeDecoders::spawn(1, 2).unwrap();
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
                decoders.submit(Keyframe { buffer, length_size, captured_at, target: target.clone() });
                // Each key-frame comes out before the next goes in: no picture is held back.
                let frame = frames.recv_timeout(Duration::from_secs(5)).expect("a picture for each key-frame");
                assert_eq!((&*frame.camera, frame.width, frame.height), (&*target.camera, size.0, size.1));
                assert_eq!(frame.captured_at, captured_at);
                assert_eq!(frame.rgb.len(), (size.0 * size.1 * 3) as usize);
            }
        }
        assert_eq!(a.status.snapshot().frames_dropped + b.status.snapshot().frames_dropped, 0);
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
