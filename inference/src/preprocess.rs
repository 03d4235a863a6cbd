//! Decoded frames into the model's input tensor.
//!
//! Resizing uses `fast_image_resize` (SIMD, the same bilinear convolution as Pillow); the tensor is
//! written planar (`C x H x W`) through a per-channel lookup table that applies channel order and
//! normalisation in one pass. Buffers are kept between frames: no allocation per frame unless the
//! frame size changes.

use fast_image_resize::{self as fr, images::Image, images::ImageRef};

use crate::{InputSpec, ResizeMode};

/// How input-tensor coordinates map back to frame pixels: `frame_x = input_x / x`, likewise `y`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputScale {
    /// Horizontal factor frame → input.
    pub x: f32,
    /// Vertical factor frame → input.
    pub y: f32,
}

/// Turns RGB frames into input tensors for one model.
pub struct Preprocessor {
    spec: InputSpec,
    resizer: fr::Resizer,
    options: fr::ResizeOptions,
    resized: Image<'static>,
    /// `lut[c][v]`: normalised value of 0..=255 pixel value `v` for output channel `c`.
    lut: [[f32; 256]; 3],
}

impl Preprocessor {
    /// A preprocessor for models with input `spec`.
    pub fn new(spec: &InputSpec) -> Self {
        let mut lut = [[0.0; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            for (v, value) in table.iter_mut().enumerate() {
                *value = (v as f32 * spec.scale - spec.mean[c]) / spec.std[c];
            }
        }
        Self {
            spec: spec.clone(),
            resizer: fr::Resizer::new(),
            options: fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear)),
            resized: Image::new(1, 1, fr::PixelType::U8x3),
            lut,
        }
    }

    /// Number of `f32` values of one input (`3 * width * height`).
    pub fn tensor_len(&self) -> usize {
        3 * self.spec.width as usize * self.spec.height as usize
    }

    /// Writes the tensor of a packed RGB frame into `out` (`tensor_len()` values).
    pub fn prepare(&mut self, rgb: &[u8], width: u32, height: u32, out: &mut [f32]) -> Result<InputScale, String> {
        assert_eq!(out.len(), self.tensor_len(), "tensor buffer length");
        let (in_w, in_h) = (self.spec.width, self.spec.height);
        let (target_w, target_h, scale) = match self.spec.resize {
            ResizeMode::Letterbox => {
                let ratio = (in_w as f32 / width as f32).min(in_h as f32 / height as f32);
                let w = ((width as f32 * ratio) as u32).clamp(1, in_w);
                let h = ((height as f32 * ratio) as u32).clamp(1, in_h);
                (w, h, InputScale { x: ratio, y: ratio })
            }
            ResizeMode::Stretch => {
                (in_w, in_h, InputScale { x: in_w as f32 / width as f32, y: in_h as f32 / height as f32 })
            }
        };
        let source = ImageRef::new(width, height, rgb, fr::PixelType::U8x3).map_err(|e| e.to_string())?;
        if self.resized.width() != target_w || self.resized.height() != target_h {
            self.resized = Image::new(target_w, target_h, fr::PixelType::U8x3);
        }
        self.resizer.resize(&source, &mut self.resized, &self.options).map_err(|e| e.to_string())?;
        self.fill(out, target_w as usize, target_h as usize);
        Ok(scale)
    }

    /// Writes the resized image at the top-left of the planar tensor, padding the rest.
    fn fill(&self, out: &mut [f32], w: usize, h: usize) {
        let (in_w, in_h) = (self.spec.width as usize, self.spec.height as usize);
        let plane = in_w * in_h;
        let pixels = self.resized.buffer();
        // Source channel (in RGB) feeding each output channel.
        let sources = match self.spec.channels {
            crate::ChannelOrder::Rgb => [0, 1, 2],
            crate::ChannelOrder::Bgr => [2, 1, 0],
        };
        let pad = self.spec.pad_value as usize;
        for (c, &source) in sources.iter().enumerate() {
            let lut = &self.lut[c];
            let channel = &mut out[c * plane..(c + 1) * plane];
            for y in 0..in_h {
                let row = &mut channel[y * in_w..(y + 1) * in_w];
                if y < h {
                    let src = &pixels[y * w * 3..(y + 1) * w * 3];
                    for (value, px) in row[..w].iter_mut().zip(src.chunks_exact(3)) {
                        *value = lut[px[source] as usize];
                    }
                    row[w..].fill(lut[pad]);
                } else {
                    row.fill(lut[pad]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChannelOrder;

    fn spec(width: u32, height: u32, channels: ChannelOrder, resize: ResizeMode) -> InputSpec {
        InputSpec { width, height, channels, resize, pad_value: 114, scale: 1.0, mean: [0.0; 3], std: [1.0; 3] }
    }

    #[test]
    fn letterbox_places_the_frame_top_left_and_pads_the_rest() {
        // A 4x2 frame of pure red into an 8x8 BGR input: ratio 2, the image fills rows 0..4.
        let mut pre = Preprocessor::new(&spec(8, 8, ChannelOrder::Bgr, ResizeMode::Letterbox));
        let rgb: Vec<u8> = [255, 0, 0].repeat(8);
        let mut out = vec![0.0; pre.tensor_len()];
        let scale = pre.prepare(&rgb, 4, 2, &mut out).unwrap();
        assert_eq!(scale, InputScale { x: 2.0, y: 2.0 });
        let at = |c: usize, y: usize, x: usize| out[c * 64 + y * 8 + x];
        assert_eq!((at(0, 0, 0), at(1, 0, 0), at(2, 0, 0)), (0.0, 0.0, 255.0), "BGR order");
        assert_eq!(at(2, 3, 7), 255.0);
        assert_eq!((at(0, 4, 0), at(1, 7, 7), at(2, 5, 3)), (114.0, 114.0, 114.0), "padding below");
    }

    #[test]
    fn normalisation_and_stretch() {
        let mut input = spec(2, 2, ChannelOrder::Rgb, ResizeMode::Stretch);
        input.scale = 1.0 / 255.0;
        input.mean = [0.5, 0.5, 0.5];
        input.std = [0.5, 0.5, 0.5];
        let mut pre = Preprocessor::new(&input);
        let rgb: Vec<u8> = [255, 0, 255].repeat(4 * 2);
        let mut out = vec![0.0; pre.tensor_len()];
        let scale = pre.prepare(&rgb, 4, 2, &mut out).unwrap();
        assert_eq!(scale, InputScale { x: 0.5, y: 1.0 });
        assert!(out[..4].iter().all(|v| (v - 1.0).abs() < 1e-6), "{out:?}");
        assert!(out[4..8].iter().all(|v| (v + 1.0).abs() < 1e-6), "{out:?}");
    }
}
