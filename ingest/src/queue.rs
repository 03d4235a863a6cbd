use std::{
    collections::VecDeque,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::{Frame, camera::CameraStatus};

/// The edge between the cameras and the detector.
///
/// Each camera has its own short queue. When a camera's queue is full its **oldest** frame is dropped
/// and counted, so a slow detector never blocks a camera and always sees the freshest pictures.
/// [`FrameQueue::pop_batch`] takes frames round-robin across cameras so that one busy camera cannot
/// starve the others. Each frame taken is counted as analysed in its camera's [`CameraStatus`].
#[derive(Debug)]
pub struct FrameQueue {
    state: Mutex<State>,
    ready: Condvar,
    room: Condvar,
    capacity_per_camera: usize,
}

/// A camera's place in the [`FrameQueue`], returned by [`FrameQueue::register`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CameraSlot(usize);

#[derive(Debug, Default)]
struct State {
    cameras: Vec<CameraQueue>,
    /// Where the next round-robin pass starts.
    cursor: usize,
    closed: bool,
}

#[derive(Debug)]
struct CameraQueue {
    frames: VecDeque<Frame>,
    dropped: u64,
    status: Arc<CameraStatus>,
}

impl FrameQueue {
    /// A queue that holds at most `capacity_per_camera` (at least 1) frames of each camera.
    pub fn new(capacity_per_camera: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            room: Condvar::new(),
            capacity_per_camera: capacity_per_camera.max(1),
        })
    }

    /// Gives a camera its own queue; its frames taken by the detector are counted in `status`.
    pub fn register(&self, status: Arc<CameraStatus>) -> CameraSlot {
        let mut state = self.lock();
        state.cameras.push(CameraQueue { frames: VecDeque::new(), dropped: 0, status });
        CameraSlot(state.cameras.len() - 1)
    }

    /// Adds a frame; never blocks. Returns `true` when an older frame of the camera was dropped for it.
    pub fn push(&self, slot: CameraSlot, frame: Frame) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        let queue = &mut state.cameras[slot.0];
        let dropped = queue.frames.len() >= self.capacity_per_camera;
        if dropped {
            queue.frames.pop_front();
            queue.dropped += 1;
        }
        queue.frames.push_back(frame);
        drop(state);
        self.ready.notify_one();
        dropped
    }

    /// Waits until at least one frame is queued, then gathers up to `max` frames (round-robin across
    /// cameras), waiting at most `max_wait` more for the batch to fill.
    ///
    /// Returns `None` once the queue is closed and empty: the detector then stops.
    pub fn pop_batch(&self, max: usize, max_wait: Duration) -> Option<Vec<Frame>> {
        let mut state = self.lock();
        while state.queued() == 0 {
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|poison| poison.into_inner());
        }
        let deadline = Instant::now() + max_wait;
        while state.queued() < max && !state.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self.ready.wait_timeout(state, deadline - now).unwrap_or_else(|poison| poison.into_inner()).0;
        }
        let batch = state.take_round_robin(max.max(1));
        drop(state);
        self.room.notify_all();
        Some(batch)
    }

    /// Waits until fewer than `limit` frames are queued for the detector, so that a frame made now is
    /// taken soon (the shared decoders decode only then). `false` once the queue is closed.
    pub fn wait_for_room(&self, limit: usize) -> bool {
        let mut state = self.lock();
        while !state.closed && state.queued() >= limit.max(1) {
            state = self.room.wait(state).unwrap_or_else(|poison| poison.into_inner());
        }
        !state.closed
    }

    /// Frames dropped so far for `slot`'s camera because the detector was behind.
    pub fn dropped(&self, slot: CameraSlot) -> u64 {
        self.lock().cameras[slot.0].dropped
    }

    /// Refuses further frames; [`FrameQueue::pop_batch`] drains what is queued, then returns `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
        self.room.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves only frame buffers behind; they are still consistent.
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl State {
    fn queued(&self) -> usize {
        self.cameras.iter().map(|q| q.frames.len()).sum()
    }

    fn take_round_robin(&mut self, max: usize) -> Vec<Frame> {
        let mut batch = Vec::with_capacity(max);
        let count = self.cameras.len();
        while batch.len() < max && self.queued() > 0 {
            for offset in 0..count {
                let index = (self.cursor + offset) % count;
                let camera = &mut self.cameras[index];
                if let Some(frame) = camera.frames.pop_front() {
                    camera.status.frame_analysed(frame.captured_at);
                    batch.push(frame);
                    if batch.len() == max {
                        self.cursor = (index + 1) % count;
                        return batch;
                    }
                }
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use chrono::Utc;

    fn status(camera: &str) -> Arc<CameraStatus> {
        Arc::new(CameraStatus::new(camera, String::new()))
    }

    fn frame(camera: &Arc<str>, marker: u8) -> Frame {
        Frame::from_rgb(camera.clone(), Utc::now(), 1, 1, Bytes::from(vec![marker; 3]))
    }

    #[test]
    fn full_camera_queue_drops_its_oldest_frame_only() {
        let queue = FrameQueue::new(2);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let slot_a = queue.register(status("a"));
        let slot_b = queue.register(status("b"));
        assert!(!queue.push(slot_a, frame(&a, 1)));
        assert!(!queue.push(slot_a, frame(&a, 2)));
        assert!(queue.push(slot_a, frame(&a, 3)));
        assert!(!queue.push(slot_b, frame(&b, 9)));
        assert_eq!(queue.dropped(slot_a), 1);
        assert_eq!(queue.dropped(slot_b), 0);

        let batch = queue.pop_batch(10, Duration::ZERO).unwrap();
        let markers: Vec<(String, u8)> = batch.iter().map(|f| (f.camera.to_string(), f.rgb[0])).collect();
        // Round-robin: a, b, then a's remaining frame; frame 1 was the one dropped.
        assert_eq!(markers, [("a".into(), 2), ("b".into(), 9), ("a".into(), 3)]);
    }

    #[test]
    fn batches_are_bounded_and_fair() {
        let queue = FrameQueue::new(8);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let slot_a = queue.register(status("a"));
        let slot_b = queue.register(status("b"));
        for i in 0..4 {
            queue.push(slot_a, frame(&a, i));
        }
        queue.push(slot_b, frame(&b, 100));
        let first = queue.pop_batch(2, Duration::ZERO).unwrap();
        let cameras: Vec<&str> = first.iter().map(|f| &*f.camera).collect();
        assert_eq!(cameras, ["a", "b"]);
        let rest = queue.pop_batch(10, Duration::ZERO).unwrap();
        assert_eq!(rest.len(), 3);
    }

    #[test]
    fn closed_queue_drains_then_ends() {
        let queue = FrameQueue::new(4);
        let a: Arc<str> = "a".into();
        let slot = queue.register(status("a"));
        queue.push(slot, frame(&a, 1));
        queue.close();
        assert!(!queue.push(slot, frame(&a, 2)), "a closed queue takes nothing");
        assert_eq!(queue.pop_batch(4, Duration::from_secs(5)).unwrap().len(), 1);
        assert!(queue.pop_batch(4, Duration::from_secs(5)).is_none());
    }

    #[test]
    fn waiting_consumer_wakes_on_push() {
        let queue = FrameQueue::new(4);
        let a: Arc<str> = "a".into();
        let slot = queue.register(status("a"));
        let consumer = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.pop_batch(1, Duration::ZERO))
        };
        std::thread::sleep(Duration::from_millis(50));
        queue.push(slot, frame(&a, 7));
        let batch = consumer.join().unwrap().unwrap();
        assert_eq!(batch[0].rgb[0], 7);
    }
}
