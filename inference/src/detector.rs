use std::{path::Path, sync::Arc, time::Instant};

use ort::{session::Session, value::TensorRef};

use crate::{
    BBox, Detection, Error, Family, Manifest, Result,
    family::{self, Candidate},
    nms::nms_by_class,
    preprocess::{InputScale, Preprocessor},
    runtime::{self, SessionThreads},
};

/// Time spent in each step of one [`Detector::detect`] call, in seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepTimes {
    /// Resize and tensor fill.
    pub preprocess: f64,
    /// The ONNX Runtime session run.
    pub session: f64,
    /// Output decoding and NMS.
    pub postprocess: f64,
}

/// A detector: `preprocess → session → decode → NMS` for one model.
pub struct Detector {
    manifest: Manifest,
    session: Session,
    preprocessor: Preprocessor,
    tensor: Vec<f32>,
    class_names: Vec<Arc<str>>,
    confidence: f32,
    nms: f32,
    last_times: StepTimes,
}

impl Detector {
    /// Loads the manifest's model; thresholds start at the manifest's defaults.
    pub fn load(manifest: Manifest, threads: SessionThreads) -> Result<Self> {
        let session = runtime::load_session(&manifest, threads)?;
        let preprocessor = Preprocessor::new(&manifest.input);
        let mut detector = Self {
            tensor: vec![0.0; preprocessor.tensor_len()],
            class_names: manifest
                .classes
                .iter()
                .map(|c| Arc::from(c.as_str()))
                .collect(),
            confidence: manifest.thresholds.confidence,
            nms: manifest.thresholds.nms,
            manifest,
            session,
            preprocessor,
            last_times: StepTimes::default(),
        };
        detector.warm_up()?;
        Ok(detector)
    }

    /// Loads the model of the manifest at `path`.
    pub fn from_manifest_file(path: &Path, threads: SessionThreads) -> Result<Self> {
        Self::load(Manifest::load(path)?, threads)
    }

    /// The model's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Overrides the score and NMS thresholds.
    pub fn set_thresholds(&mut self, confidence: f32, nms: f32) {
        self.confidence = confidence;
        self.nms = nms;
    }

    /// Step times of the latest [`Detector::detect`] call.
    pub fn last_times(&self) -> StepTimes {
        self.last_times
    }

    /// Detects objects in a packed RGB frame; boxes are in the frame's pixels, sorted by descending score.
    pub fn detect(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<Detection>> {
        let started = Instant::now();
        let scale = self
            .preprocessor
            .prepare(rgb, width, height, &mut self.tensor)
            .map_err(|reason| Error::Resize {
                model: self.manifest.name.clone(),
                width,
                height,
                reason,
            })?;
        let prepared = Instant::now();
        let candidates = self.run_session()?;
        let ran = Instant::now();
        let detections = self.finish(candidates, scale, width, height);
        self.last_times = StepTimes {
            preprocess: (prepared - started).as_secs_f64(),
            session: (ran - prepared).as_secs_f64(),
            postprocess: ran.elapsed().as_secs_f64(),
        };
        Ok(detections)
    }

    /// Detects objects in an image file (JPEG, PNG).
    pub fn detect_file(&mut self, path: &Path) -> Result<(Vec<Detection>, image::RgbImage)> {
        let image = image::open(path)
            .map_err(|source| Error::Image {
                path: path.into(),
                source,
            })?
            .to_rgb8();
        let detections = self.detect(image.as_raw(), image.width(), image.height())?;
        Ok((detections, image))
    }

    fn run_session(&mut self) -> Result<Vec<Candidate>> {
        let model = &self.manifest.name;
        let ort_error = |source| Error::Ort {
            model: model.clone(),
            source,
        };
        let (width, height) = (
            self.manifest.input.width as usize,
            self.manifest.input.height as usize,
        );
        let input = TensorRef::from_array_view(([1usize, 3, height, width], &self.tensor[..]))
            .map_err(ort_error)?;
        let outputs = self.session.run(ort::inputs![input]).map_err(ort_error)?;
        let (_, output) = outputs[0].try_extract_tensor::<f32>().map_err(ort_error)?;
        Ok(match self.manifest.family {
            Family::Yolox => family::yolox::decode(
                output,
                self.class_names.len(),
                width,
                height,
                self.confidence,
            ),
        })
    }

    fn finish(
        &self,
        candidates: Vec<Candidate>,
        scale: InputScale,
        width: u32,
        height: u32,
    ) -> Vec<Detection> {
        let detections = candidates
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
        nms_by_class(detections, self.nms)
    }

    /// One run on a blank frame, so the first real frame does not pay for ONNX Runtime's lazy set-up.
    fn warm_up(&mut self) -> Result<()> {
        let (width, height) = (self.manifest.input.width, self.manifest.input.height);
        let blank = vec![0u8; width as usize * height as usize * 3];
        self.detect(&blank, width, height).map(drop)
    }
}
