//! The streams of the cameras this node runs, started and stopped one at a time while the others run:
//! each camera's thread has a stop signal of its own, and all feed one frame queue, one set of
//! key-frame decoders and RTSP clients.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    thread::JoinHandle,
};

use sharpeyes_ingest::{
    FrameQueue,
    camera::{CameraBoard, CameraFeed, CameraSource, KeyframeDecoders, RtspClients},
};
use tracing::info;

use crate::config::CameraConfig;

/// The running camera streams; cloned into whatever starts and stops them.
#[derive(Clone)]
pub struct CameraFeeds(Arc<Mutex<Feeds>>);

struct Feeds {
    frames: Arc<FrameQueue>,
    /// `None` once every camera has stopped for good.
    decoders: Option<KeyframeDecoders>,
    clients: RtspClients,
    board: CameraBoard,
    running: HashMap<String, Running>,
    /// Threads of cameras stopped at runtime, finishing their last frame.
    stopping: Vec<JoinHandle<()>>,
}

/// A camera's thread and its stop signal (dropping the sender stops it).
struct Running {
    stop: crossbeam_channel::Sender<()>,
    thread: JoinHandle<()>,
}

/// What is left to wait for once every camera was told to stop: their threads, then the decoders.
pub struct StoppedFeeds {
    /// The camera threads, finishing.
    pub threads: Vec<JoinHandle<()>>,
    /// The key-frame decoders, which end with their last handle once the cameras are gone.
    pub decoders: Option<KeyframeDecoders>,
}

impl CameraFeeds {
    /// No camera yet: cameras [`Self::start`]ed feed `frames` through `decoders` and `clients`.
    pub fn new(frames: Arc<FrameQueue>, decoders: KeyframeDecoders, clients: RtspClients) -> Self {
        Self(Arc::new(Mutex::new(Feeds {
            frames,
            decoders: Some(decoders),
            clients,
            board: CameraBoard::default(),
            running: HashMap::new(),
            stopping: Vec::new(),
        })))
    }

    /// The running cameras' statuses.
    pub fn board(&self) -> CameraBoard {
        self.lock().board.clone()
    }

    /// Starts `camera`'s stream (stopping first a stream of the same id: a changed camera reconnects).
    pub fn start(&self, camera: &CameraConfig) -> std::io::Result<()> {
        let mut feeds = self.lock();
        feeds.stop(&camera.id);
        let Some(decoders) = feeds.decoders.clone() else {
            return Err(std::io::Error::other("the cameras have stopped"));
        };
        let feed: Box<dyn CameraFeed> =
            Box::new(CameraSource::new(camera.settings(), feeds.frames.clone(), decoders, feeds.clients.clone()));
        let status = feed.status();
        let (stop, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let thread = feed.spawn(stop_rx)?;
        feeds.board.insert(status);
        feeds.running.insert(camera.id.clone(), Running { stop, thread });
        Ok(())
    }

    /// Stops camera `id`'s stream; whether it ran.
    pub fn stop(&self, id: &str) -> bool {
        self.lock().stop(id)
    }

    /// Tells every camera to stop, for good.
    pub fn stop_all(&self) -> StoppedFeeds {
        let mut feeds = self.lock();
        let ids: Vec<String> = feeds.running.keys().cloned().collect();
        for id in ids {
            feeds.stop(&id);
        }
        StoppedFeeds { threads: std::mem::take(&mut feeds.stopping), decoders: feeds.decoders.take() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Feeds> {
        self.0.lock().expect("camera feeds lock")
    }
}

impl Feeds {
    fn stop(&mut self, id: &str) -> bool {
        let Some(Running { stop, thread }) = self.running.remove(id) else {
            return false;
        };
        drop(stop);
        self.board.remove(id);
        self.stopping.retain(|thread| !thread.is_finished());
        self.stopping.push(thread);
        info!(camera = id, "camera stream stopped");
        true
    }
}
