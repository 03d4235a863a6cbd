use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use gstreamer::{self as gst, prelude::*};
use gstreamer_video as gst_video;
use tracing::{debug, warn};

use super::StreamSpec;
use crate::{Error, Result};

/// Decodes a stream's file in real time into the `intervideosink` channel named after the stream,
/// looping videos forever. Stops when dropped.
pub struct Player {
    pipeline: gst::Pipeline,
    stop: Arc<AtomicBool>,
    looper: Option<JoinHandle<()>>,
}

/// The raw video caps a stream is served with, shared by the player and the RTSP media so that
/// `intervideosrc` passes the player's frames on untouched.
pub fn raw_caps(width: u32, height: u32, fps: u32) -> String {
    format!("video/x-raw,format=I420,width={width},height={height},framerate={fps}/1,pixel-aspect-ratio=1/1")
}

/// Reads the decoded size of a video or image by prerolling it.
pub fn probe_size(spec: &StreamSpec) -> Result<(u32, u32)> {
    let fail = |reason: String| Error::SimcamSource { name: spec.name.clone(), path: spec.path.clone(), reason };
    let pipeline = gst::parse::launch("filesrc name=file ! decodebin ! videoconvert ! fakesink name=sink")
        .map_err(|source| Error::Pipeline { what: format!("simcam stream {}", spec.name), source })?
        .downcast::<gst::Pipeline>()
        .expect("a launch line with several elements is a pipeline");
    pipeline.by_name("file").expect("named").set_property("location", spec.path.to_string_lossy().as_ref());
    let result = (|| {
        pipeline.set_state(gst::State::Paused).map_err(|_| fail("cannot decode the file".into()))?;
        let (state, _, _) = pipeline.state(gst::ClockTime::from_seconds(10));
        state.map_err(|_| fail("cannot decode the file".into()))?;
        let caps = pipeline
            .by_name("sink")
            .and_then(|sink| sink.static_pad("sink"))
            .and_then(|pad| pad.current_caps())
            .ok_or_else(|| fail("no video in the file".into()))?;
        let info = gst_video::VideoInfo::from_caps(&caps).map_err(|_| fail(format!("not raw video: {caps}")))?;
        Ok((info.width(), info.height()))
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

impl Player {
    /// Starts playing `spec` into the channel `spec.name` with the given raw caps.
    pub fn start(spec: &StreamSpec, caps: &str) -> Result<Self> {
        let what = format!("simcam stream {}", spec.name);
        // A still image is repeated by imagefreeze at the caps' frame rate; a video is paced by
        // videorate and the sink's clock sync.
        let pacing = if spec.is_still_image() { "imagefreeze" } else { "videorate" };
        let description = format!(
            "filesrc name=file ! decodebin ! videoconvert ! videoscale ! {pacing} ! {caps} \
             ! intervideosink channel={}",
            spec.name
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|source| Error::Pipeline { what: what.clone(), source })?
            .downcast::<gst::Pipeline>()
            .expect("a launch line with several elements is a pipeline");
        pipeline.by_name("file").expect("named").set_property("location", spec.path.to_string_lossy().as_ref());
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| Error::StateChange { what: what.clone(), state: gst::State::Playing })?;

        let stop = Arc::new(AtomicBool::new(false));
        let looper = {
            let (pipeline, stop, name) = (pipeline.clone(), stop.clone(), spec.name.clone());
            std::thread::Builder::new()
                .name(format!("simcam-{name}"))
                .spawn(move || loop_until_stopped(&pipeline, &stop, &name))
                .expect("spawning a thread")
        };
        Ok(Self { pipeline, stop, looper: Some(looper) })
    }
}

/// Seeks back to the start at every end of stream, so a video plays forever.
fn loop_until_stopped(pipeline: &gst::Pipeline, stop: &AtomicBool, name: &str) {
    let bus = pipeline.bus().expect("a pipeline always has a bus");
    while !stop.load(Ordering::Relaxed) {
        let Some(message) = bus
            .timed_pop_filtered(gst::ClockTime::from_mseconds(100), &[gst::MessageType::Eos, gst::MessageType::Error])
        else {
            continue;
        };
        match message.view() {
            gst::MessageView::Eos(_) => {
                debug!(stream = name, "end of file; looping");
                if pipeline.seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO).is_err()
                {
                    warn!(stream = name, "cannot seek back to the start; the stream stops");
                    return;
                }
            }
            gst::MessageView::Error(err) => {
                warn!(stream = name, error = %err.error(), debug = ?err.debug(), "player failed; the stream stops");
                return;
            }
            _ => {}
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(looper) = self.looper.take() {
            let _ = looper.join();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
