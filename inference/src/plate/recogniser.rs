//! PP-OCRv6's CTC text recogniser: a straightened text line in, per-column character probabilities
//! out. The line is scaled to the model's height, its aspect kept (width `ceil(height · w / h)`),
//! normalised and padded with zeros on the right to at least `min_width` (PaddleOCR's
//! `resize_norm_img`).

use image::RgbImage;

use super::{models::RecogniserManifest, quad};
use crate::{ChannelOrder, Error, Result, engine::Engine};

/// The recogniser around the engine that runs its model.
pub struct Recogniser {
    engine: Box<dyn Engine>,
    manifest: RecogniserManifest,
    classes: usize,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl Recogniser {
    /// The recogniser of `manifest` whose output has `classes` values per frame, run by `engine`.
    pub fn new(engine: Box<dyn Engine>, manifest: RecogniserManifest, classes: usize) -> Self {
        Self { engine, manifest, classes, input: Vec::new(), output: Vec::new() }
    }

    /// Values per frame of the output.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The probabilities of `line` (`frames × classes`, row-major), valid until the next call.
    pub fn recognise(&mut self, line: &RgbImage) -> Result<&[f32]> {
        let height = self.manifest.height;
        let (w, h) = line.dimensions();
        let scaled = ((height as f32 * w as f32 / h.max(1) as f32).ceil() as u32).clamp(1, self.manifest.max_width);
        let width = scaled.max(self.manifest.min_width);
        let resized = quad::resize(line, scaled, height);
        let plane = (width * height) as usize;
        self.input.clear();
        self.input.resize(3 * plane, 0.0);
        let order = match self.manifest.channels {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        };
        let (mean, std) = (self.manifest.mean, self.manifest.std);
        for (x, y, pixel) in resized.enumerate_pixels() {
            let at = (y * width + x) as usize;
            for (c, &source) in order.iter().enumerate() {
                self.input[c * plane + at] = (f32::from(pixel.0[source]) / 255.0 - mean[c]) / std[c];
            }
        }
        let output = &mut self.output;
        self.engine.run([1, 3, height as usize, width as usize], &self.input, &mut |values| {
            output.clear();
            output.extend_from_slice(values);
        })?;
        if self.output.is_empty() || !self.output.len().is_multiple_of(self.classes) {
            return Err(Error::ShapeMismatch {
                model: self.manifest.name.clone(),
                what: "output".into(),
                expected: format!("[1, frames, {}] (dictionary + blank + space)", self.classes),
                actual: format!("{} values", self.output.len()),
            });
        }
        Ok(&self.output)
    }
}
