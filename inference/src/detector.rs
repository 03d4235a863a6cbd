use std::{path::Path, sync::Arc, time::Instant};

use tracing::info;

use crate::{
    BBox, Detection, Error, Manifest, Result,
    engine::{Engine, OrtEngine},
    family::{self, Candidate},
    nms::nms_by_class,
    preprocess::{InputScale, Preprocessor},
    runtime::{self, SessionOptions},
};

/// Time spent in each step of the latest [`Detector::detect_batch`] call, in seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepTimes {
    /// Resize and tensor fill.
    pub preprocess: f64,
    /// The ONNX Runtime session runs.
    pub session: f64,
    /// Output decoding and NMS.
    pub postprocess: f64,
    /// Frames in the call.
    pub frames: usize,
}

/// Packed RGB pixels of one image or frame.
#[derive(Clone, Copy, Debug)]
pub struct RgbView<'a> {
    /// `width * height * 3` bytes.
    pub rgb: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// How a detector is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectorOptions {
    /// Session threading and execution provider.
    pub session: SessionOptions,
    /// Most frames per session call when the model's batch dimension is dynamic.
    pub max_batch: usize,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self { session: SessionOptions::default(), max_batch: 1 }
    }
}

/// A detector: `preprocess → engine → decode → NMS` for one model.
pub struct Detector {
    manifest: Manifest,
    engine: Box<dyn Engine>,
    /// Frames per session call: the model's fixed batch, or `max_batch` when it is dynamic.
    call_batch: usize,
    fixed_batch: bool,
    preprocessor: Preprocessor,
    tensor: Vec<f32>,
    scales: Vec<InputScale>,
    class_names: Vec<Arc<str>>,
    thresholds: Vec<f32>,
    nms: f32,
    last_times: StepTimes,
}

impl Detector {
    /// Loads the manifest's model into an ONNX Runtime session; thresholds start at the manifest's values.
    pub fn load(manifest: Manifest, options: DetectorOptions) -> Result<Self> {
        let loaded = runtime::load_session(&manifest, options.session)?;
        let engine = OrtEngine::new(&manifest.name, loaded.session, loaded.fixed_batch);
        Self::with_engine(manifest, Box::new(engine), options.max_batch)
    }

    /// The manifest's model run by `engine`, up to `max_batch` frames a call when the engine's batch
    /// is dynamic; warmed up with one call on blank frames.
    pub fn with_engine(manifest: Manifest, engine: Box<dyn Engine>, max_batch: usize) -> Result<Self> {
        let fixed_batch = engine.fixed_batch();
        let call_batch = fixed_batch.unwrap_or(max_batch.max(1));
        if fixed_batch.is_some() && max_batch > 1 {
            info!(
                model = %manifest.name, batch = call_batch,
                "the model's batch dimension is fixed; frames are run {call_batch} per call, not batched across cameras"
            );
        }
        let preprocessor = Preprocessor::new(&manifest.input);
        let mut detector = Self {
            tensor: vec![0.0; preprocessor.tensor_len() * call_batch],
            scales: Vec::with_capacity(call_batch),
            class_names: manifest.classes.iter().map(|c| Arc::from(c.as_str())).collect(),
            thresholds: manifest.class_thresholds(manifest.thresholds.confidence),
            nms: manifest.thresholds.nms,
            call_batch,
            fixed_batch: fixed_batch.is_some(),
            engine,
            manifest,
            preprocessor,
            last_times: StepTimes::default(),
        };
        detector.warm_up()?;
        Ok(detector)
    }

    /// Loads the model of the manifest at `path`.
    pub fn from_manifest_file(path: &Path, options: DetectorOptions) -> Result<Self> {
        Self::load(Manifest::load(path)?, options)
    }

    /// The model's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Frames per session call.
    pub fn call_batch(&self) -> usize {
        self.call_batch
    }

    /// Sets the score threshold (per-class values of the manifest still apply) and the NMS IoU.
    pub fn set_thresholds(&mut self, confidence: f32, nms: f32) {
        self.thresholds = self.manifest.class_thresholds(confidence);
        self.nms = nms;
    }

    /// Takes the thresholds and class mappings of a newer version of the same model's manifest.
    pub fn update_manifest(&mut self, manifest: Manifest, confidence: Option<f32>) {
        self.thresholds = manifest.class_thresholds(confidence.unwrap_or(manifest.thresholds.confidence));
        self.nms = manifest.thresholds.nms;
        self.class_names = manifest.classes.iter().map(|c| Arc::from(c.as_str())).collect();
        self.manifest = manifest;
    }

    /// Step times of the latest call.
    pub fn last_times(&self) -> StepTimes {
        self.last_times
    }

    /// Detects objects in a packed RGB frame; boxes are in the frame's pixels, sorted by descending score.
    pub fn detect(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<Detection>> {
        let mut results = self.detect_batch(&[RgbView { rgb, width, height }])?;
        Ok(results.pop().unwrap_or_default())
    }

    /// Detects objects in several frames, [`Detector::call_batch`] frames per session call.
    pub fn detect_batch(&mut self, frames: &[RgbView<'_>]) -> Result<Vec<Vec<Detection>>> {
        let mut times = StepTimes { frames: frames.len(), ..StepTimes::default() };
        let mut results = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(self.call_batch) {
            let started = Instant::now();
            self.prepare(chunk)?;
            let prepared = Instant::now();
            let candidates = self.run_session(chunk.len())?;
            let ran = Instant::now();
            for ((candidates, scale), frame) in candidates.into_iter().zip(&self.scales).zip(chunk) {
                results.push(self.finish(candidates, *scale, frame.width, frame.height));
            }
            times.preprocess += (prepared - started).as_secs_f64();
            times.session += (ran - prepared).as_secs_f64();
            times.postprocess += ran.elapsed().as_secs_f64();
        }
        self.last_times = times;
        Ok(results)
    }

    /// Detects objects in an image file (JPEG, PNG).
    pub fn detect_file(&mut self, path: &Path) -> Result<(Vec<Detection>, image::RgbImage)> {
        let image = load_rgb(path)?;
        let detections = self.detect(image.as_raw(), image.width(), image.height())?;
        Ok((detections, image))
    }

    fn prepare(&mut self, chunk: &[RgbView<'_>]) -> Result<()> {
        let len = self.preprocessor.tensor_len();
        self.scales.clear();
        for (frame, slot) in chunk.iter().zip(self.tensor.chunks_exact_mut(len)) {
            let scale = self.preprocessor.prepare(frame.rgb, frame.width, frame.height, slot).map_err(|reason| {
                Error::Resize { model: self.manifest.name.clone(), width: frame.width, height: frame.height, reason }
            })?;
            self.scales.push(scale);
        }
        Ok(())
    }

    /// Runs the engine on the first `count` prepared inputs (padded to the fixed batch when the model
    /// has one) and decodes each image's output.
    fn run_session(&mut self, count: usize) -> Result<Vec<Vec<Candidate>>> {
        let (width, height) = (self.manifest.input.width as usize, self.manifest.input.height as usize);
        let batch = if self.fixed_batch { self.call_batch } else { count };
        let len = self.preprocessor.tensor_len();
        let (family, classes, thresholds) = (self.manifest.family, self.class_names.len(), &self.thresholds);
        let mut decoded = Vec::with_capacity(count);
        let mut decode = |output: &[f32]| {
            let per_image = output.len() / batch;
            decoded.extend(
                output
                    .chunks_exact(per_image.max(1))
                    .take(count)
                    .map(|item| family::decode(family, item, classes, (width, height), thresholds)),
            );
        };
        self.engine.run([batch, 3, height, width], &self.tensor[..batch * len], &mut decode)?;
        if decoded.len() != count {
            return Err(Error::ShapeMismatch {
                model: self.manifest.name.clone(),
                what: "output".into(),
                expected: format!("{batch} images"),
                actual: format!("{} decoded", decoded.len()),
            });
        }
        Ok(decoded)
    }

    fn finish(&self, candidates: Vec<Candidate>, scale: InputScale, width: u32, height: u32) -> Vec<Detection> {
        let mut detections: Vec<Detection> = candidates
            .into_iter()
            .map(|c| {
                let [x1, y1, x2, y2] = c.corners;
                Detection {
                    class_id: c.class_id,
                    class: self.class_names[c.class_id].clone(),
                    score: c.score,
                    bbox: BBox::new(x1 / scale.x, y1 / scale.y, x2 / scale.x, y2 / scale.y)
                        .clip(width as f32, height as f32),
                }
            })
            .collect();
        if self.manifest.family.needs_nms() {
            nms_by_class(detections, self.nms)
        } else {
            detections.sort_by(|a, b| b.score.total_cmp(&a.score));
            detections
        }
    }

    /// One run on blank frames, so the first real frames do not pay for ONNX Runtime's lazy set-up.
    fn warm_up(&mut self) -> Result<()> {
        let (width, height) = (self.manifest.input.width, self.manifest.input.height);
        let blank = vec![0u8; width as usize * height as usize * 3];
        let frames = vec![RgbView { rgb: &blank, width, height }; self.call_batch];
        self.detect_batch(&frames).map(drop)
    }
}

/// Reads an image file (JPEG, PNG) as RGB; the format is told from the content, not the file name (a
/// PNG named `.jpg` is still read).
pub fn load_rgb(path: &Path) -> Result<image::RgbImage> {
    let image_error = |source| Error::Image { path: path.into(), source };
    let reader = image::ImageReader::open(path).map_err(|err| image_error(image::ImageError::IoError(err)))?;
    let reader = reader.with_guessed_format().map_err(|err| image_error(image::ImageError::IoError(err)))?;
    Ok(reader.decode().map_err(image_error)?.to_rgb8())
}
