//! What feeds one camera's decoded frames into the [`FrameQueue`]: the RTSP pipeline in service
//! ([`super::CameraSource`]), frames recorded beforehand in tests ([`RecordedCamera`]) — moonfire's
//! "opener for test injection", so that the detector, the rules and the case engine can be run on
//! exact frames at exact capture times.

use std::{sync::Arc, thread::JoinHandle};

use crossbeam_channel::Receiver;

use super::{CameraState, CameraStatus};
use crate::{CameraSlot, Frame, FrameQueue};

/// A camera as the analysis sees it: a status, and a thread that feeds its frames until shutdown.
pub trait CameraFeed: Send {
    /// The camera's live status, for the API.
    fn status(&self) -> Arc<CameraStatus>;

    /// Feeds the camera's frames on its own thread until `shutdown`'s sender is dropped (or, for a
    /// recording, until its last frame).
    fn spawn(self: Box<Self>, shutdown: Receiver<()>) -> std::io::Result<JoinHandle<()>>;
}

impl CameraFeed for super::CameraSource {
    fn status(&self) -> Arc<CameraStatus> {
        super::CameraSource::status(self)
    }

    fn spawn(self: Box<Self>, shutdown: Receiver<()>) -> std::io::Result<JoinHandle<()>> {
        super::CameraSource::spawn(*self, shutdown)
    }
}

/// Frames recorded beforehand, fed in order with the capture times they carry.
pub struct RecordedCamera {
    frames: Vec<Frame>,
    queue: Arc<FrameQueue>,
    slot: CameraSlot,
    status: Arc<CameraStatus>,
}

impl RecordedCamera {
    /// Registers camera `id` in `queue`, to feed `frames` (whose `camera` is set to `id`). The queue
    /// drops a camera's oldest frame when the detector falls behind, as for live cameras: give it
    /// room for the recording when every frame must be analysed.
    pub fn new(id: &str, frames: Vec<Frame>, queue: Arc<FrameQueue>) -> Self {
        let camera: Arc<str> = id.into();
        let frames = frames.into_iter().map(|frame| Frame { camera: camera.clone(), ..frame }).collect();
        let status = Arc::new(CameraStatus::new(id, format!("recording:{id}")));
        let slot = queue.register(status.clone());
        Self { frames, queue, slot, status }
    }
}

impl CameraFeed for RecordedCamera {
    fn status(&self) -> Arc<CameraStatus> {
        self.status.clone()
    }

    fn spawn(self: Box<Self>, shutdown: Receiver<()>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name(format!("recording-{}", self.status.snapshot().id)).spawn(move || {
            self.status.set_state(CameraState::Streaming, None);
            for frame in self.frames {
                if matches!(shutdown.try_recv(), Err(crossbeam_channel::TryRecvError::Disconnected)) {
                    break;
                }
                self.status.frame_arrived(frame.captured_at);
                if self.queue.push(self.slot, frame) {
                    self.status.frame_dropped();
                }
            }
            self.status.set_state(CameraState::Offline, Some("end of recording".into()));
        })
    }
}
