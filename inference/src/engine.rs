//! What runs a model: an input tensor in, its first output out. The [`crate::Detector`] is pre- and
//! post-processing around an engine it is handed (usls's way): [`OrtEngine`] in service, a fake one in
//! tests, so the detector's own steps — batching frames, decoding, mapping boxes back — are tested
//! without ONNX Runtime.

use ort::{session::Session, value::TensorRef};

use crate::{Error, Result};

/// Runs one model.
pub trait Engine: Send {
    /// Frames per call when the model's batch dimension is fixed; `None` when it is dynamic.
    fn fixed_batch(&self) -> Option<usize>;

    /// Runs the model on `input` of `shape` `[batch, channels, height, width]` (row-major) and hands
    /// `output` its first output, flat and batch-major, while it is borrowed from the engine.
    fn run(&mut self, shape: [usize; 4], input: &[f32], output: &mut dyn FnMut(&[f32])) -> Result<()>;
}

/// An ONNX Runtime session (see [`crate::runtime::load_session`]).
pub struct OrtEngine {
    model: String,
    session: Session,
    fixed_batch: Option<usize>,
}

impl OrtEngine {
    /// The engine of `model`'s loaded `session`, whose batch dimension is `fixed_batch` (or dynamic).
    pub fn new(model: &str, session: Session, fixed_batch: Option<usize>) -> Self {
        Self { model: model.to_owned(), session, fixed_batch }
    }
}

impl Engine for OrtEngine {
    fn fixed_batch(&self) -> Option<usize> {
        self.fixed_batch
    }

    fn run(&mut self, shape: [usize; 4], input: &[f32], output: &mut dyn FnMut(&[f32])) -> Result<()> {
        let ort_error = |source| Error::Ort { model: self.model.clone(), source };
        let input = TensorRef::from_array_view((shape, input)).map_err(ort_error)?;
        let outputs = self.session.run(ort::inputs![input]).map_err(ort_error)?;
        let (_, values) = outputs[0].try_extract_tensor::<f32>().map_err(ort_error)?;
        output(values);
        Ok(())
    }
}
