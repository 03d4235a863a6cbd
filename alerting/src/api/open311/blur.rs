//! The public's images: every line of text the plate text detector finds — plates first of all — is
//! blurred beyond reading. Blurred images are kept in a small cache, by the image's digest.

use std::{
    num::NonZeroUsize,
    path::Path,
    sync::{Arc, Mutex},
};

use image::{RgbImage, imageops};
use lru::LruCache;
use sharpeyes_inference::{
    plate::{TextDetector, quad_bounds},
    runtime::SessionOptions,
};

use crate::cases::evidence::encode_jpeg;

/// Blurred images kept.
const CACHED_IMAGES: usize = 64;
/// Share of a text line's height added around it before it is blurred.
const BLUR_MARGIN: f32 = 0.3;
/// The short side an image is looked at with, at least: a camera decoded at 1280 × 720 is looked at
/// as at its own 1920 × 1080, where the detector finds a plate it may miss at 720 (the plate reader
/// reads plates from the camera's own resolution).
const LOOK_SHORT_SIDE: u32 = 1080;

/// Blurs the text of images shown to the public.
pub struct PublicBlur {
    detector: Mutex<TextDetector>,
    cache: Mutex<LruCache<String, Arc<Vec<u8>>>>,
}

impl std::fmt::Debug for PublicBlur {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicBlur").finish_non_exhaustive()
    }
}

impl PublicBlur {
    /// Opens the plate text detector of the manifest at `detector`.
    pub fn open(detector: &Path, options: SessionOptions) -> sharpeyes_inference::Result<Self> {
        Ok(Self {
            detector: Mutex::new(TextDetector::open(detector, options)?),
            cache: Mutex::new(LruCache::new(NonZeroUsize::new(CACHED_IMAGES).expect("not zero"))),
        })
    }

    /// The JPEG `jpeg` (whose digest is `sha256`) with every text line blurred.
    pub fn blurred(&self, sha256: &str, jpeg: &[u8]) -> Result<Arc<Vec<u8>>, String> {
        if let Some(hit) = self.cache.lock().expect("cache lock").get(sha256) {
            return Ok(hit.clone());
        }
        let mut image = image::load_from_memory(jpeg).map_err(|e| format!("evidence {sha256}: {e}"))?.to_rgb8();
        let lines = self
            .detector
            .lock()
            .expect("detector lock")
            .detect(&image, Some(LOOK_SHORT_SIDE))
            .map_err(|e| e.to_string())?;
        for line in &lines {
            blur_region(&mut image, quad_bounds(&line.quad));
        }
        let blurred = Arc::new(encode_jpeg(&image).map_err(|e| e.to_string())?);
        self.cache.lock().expect("cache lock").put(sha256.to_owned(), blurred.clone());
        Ok(blurred)
    }
}

/// Blurs `[x0, y0, x1, y1]` of `image`, grown by a margin, so heavily that no character stays legible.
fn blur_region(image: &mut RgbImage, [x0, y0, x1, y1]: [f32; 4]) {
    let margin = (y1 - y0).max(4.0) * BLUR_MARGIN;
    let (width, height) = image.dimensions();
    let left = (x0 - margin).clamp(0.0, width as f32) as u32;
    let top = (y0 - margin).clamp(0.0, height as f32) as u32;
    let right = (x1 + margin).clamp(0.0, width as f32) as u32;
    let bottom = (y1 + margin).clamp(0.0, height as f32) as u32;
    if right <= left || bottom <= top {
        return;
    }
    let region = imageops::crop_imm(image, left, top, right - left, bottom - top).to_image();
    let sigma = ((bottom - top) as f32 / 2.0).max(6.0);
    let blurred = imageproc::filter::gaussian_blur_f32(&region, sigma);
    imageops::replace(image, &blurred, i64::from(left), i64::from(top));
}
