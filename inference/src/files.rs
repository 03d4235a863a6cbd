//! Detection over image files, decoding the next image on a helper thread while the detector runs on
//! the current one: on a multi-core box JPEG decoding then adds nothing to the session's time.

use std::path::PathBuf;

use crate::{Detection, Detector, Result, load_rgb};

/// Images decoded ahead of the detector.
const PREFETCH: usize = 2;

/// One analysed image file.
pub struct DetectedFile {
    /// The file.
    pub path: PathBuf,
    /// Its pixels.
    pub image: image::RgbImage,
    /// What the detector found, best first.
    pub detections: Vec<Detection>,
}

/// Detects objects in each file, in order. An unreadable file yields its error (naming the file) and
/// the iteration goes on with the next.
pub fn detect_files(mut detector: Detector, paths: Vec<PathBuf>) -> impl Iterator<Item = Result<DetectedFile>> {
    let (images_tx, images_rx) = crossbeam_channel::bounded(PREFETCH);
    std::thread::Builder::new()
        .name("image-decoder".into())
        .spawn(move || {
            for path in paths {
                let image = load_rgb(&path);
                if images_tx.send((path, image)).is_err() {
                    return;
                }
            }
        })
        .expect("spawning a thread");
    images_rx.into_iter().map(move |(path, image)| {
        let image = image?;
        let detections = detector.detect(image.as_raw(), image.width(), image.height())?;
        Ok(DetectedFile { path, image, detections })
    })
}

/// Detects objects in each file with several detectors working in parallel, one image at a time each
/// (for a small model, images in parallel use the cores better than threads inside one session).
/// Results come in the order of `paths`.
pub fn detect_files_parallel(
    detectors: Vec<Detector>,
    paths: Vec<PathBuf>,
) -> impl Iterator<Item = Result<DetectedFile>> {
    let total = paths.len();
    let (work_tx, work_rx) = crossbeam_channel::unbounded();
    for job in paths.into_iter().enumerate() {
        work_tx.send(job).expect("the receiver is alive");
    }
    drop(work_tx);
    let (done_tx, done_rx) = crossbeam_channel::bounded(PREFETCH * detectors.len().max(1));
    for (worker, mut detector) in detectors.into_iter().enumerate() {
        let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
        std::thread::Builder::new()
            .name(format!("detector-{worker}"))
            .spawn(move || {
                for (index, path) in work_rx {
                    let result = load_rgb(&path).and_then(|image| {
                        let detections = detector.detect(image.as_raw(), image.width(), image.height())?;
                        Ok(DetectedFile { path, image, detections })
                    });
                    if done_tx.send((index, result)).is_err() {
                        return;
                    }
                }
            })
            .expect("spawning a thread");
    }
    drop(done_tx);
    let mut pending = std::collections::BTreeMap::new();
    let mut next = 0;
    std::iter::from_fn(move || {
        while next < total {
            if let Some(result) = pending.remove(&next) {
                next += 1;
                return Some(result);
            }
            let (index, result) = done_rx.recv().ok()?;
            pending.insert(index, result);
        }
        None
    })
}
