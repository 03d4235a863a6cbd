//! Evidence images: the frame with the zone and the objects' boxes drawn, as JPEG files named by
//! their SHA-256 under `data_dir/evidence/`. Files are only ever served through their case.
//!
//! Drawing is a few straight lines and 8x8 bitmap text (`font8x8`), written here rather than pulling in
//! `imageproc` (and its `nalgebra` dependency) and a TrueType font for three primitives.

use std::path::{Path, PathBuf};

use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage, codecs::jpeg::JpegEncoder};
use sha2::{Digest, Sha256};
use sharpeyes_inference::BBox;
use sharpeyes_ingest::Frame;

use crate::{Error, Result};

/// Colour of zone outlines.
pub const ZONE_COLOR: Rgb<u8> = Rgb([255, 210, 0]);
/// Colour of the boxes of the objects in the case.
pub const OBJECT_COLOR: Rgb<u8> = Rgb([230, 30, 30]);
/// Colour of other boxes.
pub const OTHER_COLOR: Rgb<u8> = Rgb([40, 160, 255]);

/// The frame as an image with the zone (normalised corners) and boxes drawn.
pub fn render(frame: &Frame, zone: &[[f64; 2]], boxes: &[(BBox, Rgb<u8>)]) -> RgbImage {
    let mut image = RgbImage::from_raw(frame.width, frame.height, frame.rgb.to_vec())
        .expect("a frame holds width * height * 3 bytes");
    let (w, h) = (f64::from(frame.width), f64::from(frame.height));
    let corners: Vec<(f32, f32)> = zone.iter().map(|&[x, y]| ((x * w) as f32, (y * h) as f32)).collect();
    for (i, &from) in corners.iter().enumerate() {
        let to = corners[(i + 1) % corners.len()];
        draw_line(&mut image, from, to, ZONE_COLOR, 2);
    }
    for &(bbox, color) in boxes {
        draw_box(&mut image, bbox, color, 3);
    }
    image
}

/// Draws a box outline `thickness` pixels wide, inside the box.
pub fn draw_box(image: &mut RgbImage, bbox: BBox, color: Rgb<u8>, thickness: u32) {
    let (x1, y1, x2, y2) = (bbox.x1, bbox.y1, bbox.x2, bbox.y2);
    for t in 0..thickness as i32 {
        let t = t as f32;
        draw_line(image, (x1, y1 + t), (x2, y1 + t), color, 1);
        draw_line(image, (x1, y2 - t), (x2, y2 - t), color, 1);
        draw_line(image, (x1 + t, y1), (x1 + t, y2), color, 1);
        draw_line(image, (x2 - t, y1), (x2 - t, y2), color, 1);
    }
}

/// Draws `text` (ASCII; other characters as `?`) in white on a `background` strip whose bottom-left
/// corner is at `(x, y)`, moved inside the image when it would leave it. Glyphs are 8x8, drawn at `scale`.
pub fn draw_label(image: &mut RgbImage, text: &str, x: f32, y: f32, background: Rgb<u8>, scale: u32) {
    let glyph = 8 * scale;
    let width = glyph * text.chars().count() as u32 + 2 * scale;
    let height = glyph + 2 * scale;
    let left = (x.max(0.0) as u32).min(image.width().saturating_sub(width));
    let top = (y.max(height as f32) as u32 - height).min(image.height().saturating_sub(height));
    for py in top..(top + height).min(image.height()) {
        for px in left..(left + width).min(image.width()) {
            image.put_pixel(px, py, background);
        }
    }
    for (i, c) in text.chars().enumerate() {
        let rows = font8x8::BASIC_FONTS.get(c).or_else(|| font8x8::BASIC_FONTS.get('?')).unwrap_or([0; 8]);
        for (row, bits) in rows.iter().enumerate() {
            for column in 0..8 {
                if bits & (1 << column) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = left + scale + (i as u32 * 8 + column) * scale + dx;
                        let py = top + scale + row as u32 * scale + dy;
                        if px < image.width() && py < image.height() {
                            image.put_pixel(px, py, Rgb([255, 255, 255]));
                        }
                    }
                }
            }
        }
    }
}

/// Draws a straight line, clipped to the image.
pub fn draw_line(image: &mut RgbImage, from: (f32, f32), to: (f32, f32), color: Rgb<u8>, thickness: u32) {
    let steps = (to.0 - from.0).abs().max((to.1 - from.1).abs()).ceil().max(1.0) as u32;
    let half = thickness as i64 / 2;
    for step in 0..=steps {
        let f = step as f32 / steps as f32;
        let x = (from.0 + (to.0 - from.0) * f).round() as i64;
        let y = (from.1 + (to.1 - from.1) * f).round() as i64;
        for dy in -half..=(thickness as i64 - 1 - half) {
            for dx in -half..=(thickness as i64 - 1 - half) {
                let (px, py) = (x + dx, y + dy);
                if px >= 0 && py >= 0 && (px as u32) < image.width() && (py as u32) < image.height() {
                    image.put_pixel(px as u32, py as u32, color);
                }
            }
        }
    }
}

/// Encodes an image as JPEG (quality 85).
pub fn encode_jpeg(image: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 85).encode_image(image)?;
    Ok(bytes)
}

/// Content-addressed evidence files under one directory.
#[derive(Clone, Debug)]
pub struct EvidenceStore {
    dir: PathBuf,
}

impl EvidenceStore {
    /// Evidence under `data_dir/evidence`.
    pub fn new(data_dir: &Path) -> Self {
        Self { dir: data_dir.join("evidence") }
    }

    /// Writes `jpeg` (atomically: temporary file, then rename) and returns its SHA-256 in hex.
    pub fn save(&self, jpeg: &[u8]) -> Result<String> {
        let sha256 = hex::encode(Sha256::digest(jpeg));
        let path = self.path_of(&sha256).expect("a digest is a valid address");
        if path.exists() {
            return Ok(sha256);
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let parent = path.parent().expect("evidence files live in a folder");
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let temporary = path.with_extension("jpg.tmp");
        if let Err(source) = std::fs::write(&temporary, jpeg) {
            // A disk that filled up mid-write leaves part of a file: none is kept.
            let _ = std::fs::remove_file(&temporary);
            return Err(io(&temporary)(source));
        }
        std::fs::rename(&temporary, &path).map_err(io(&path))?;
        Ok(sha256)
    }

    /// Deletes the file with this SHA-256 (erasure after a retention period); a file already gone is
    /// no error.
    pub fn remove(&self, sha256: &str) -> Result<()> {
        let Some(path) = self.path_of(sha256) else { return Ok(()) };
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Path of the file with this SHA-256; `None` unless `sha256` is 64 lowercase hex digits, so no
    /// stored value can ever name a path outside the evidence folder.
    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| self.dir.join(&sha256[..2]).join(format!("{sha256}.jpg")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use chrono::Utc;

    #[test]
    fn rendering_draws_the_zone_and_boxes_and_keeps_the_size() {
        let frame = Frame::from_rgb("cam".into(), Utc::now(), 64, 48, Bytes::from(vec![0; 64 * 48 * 3]));
        let image = render(
            &frame,
            &[[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]],
            &[(BBox::new(10.0, 10.0, 30.0, 20.0), OBJECT_COLOR)],
        );
        assert_eq!(image.dimensions(), (64, 48));
        assert_eq!(*image.get_pixel(20, 10), OBJECT_COLOR, "top edge of the box");
        assert_eq!(*image.get_pixel(32, 24), ZONE_COLOR, "top edge of the zone");
        assert_eq!(*image.get_pixel(20, 15), Rgb([0, 0, 0]), "inside the box is untouched");
    }

    #[test]
    fn labels_are_drawn_inside_the_image() {
        let mut image = RgbImage::new(100, 40);
        draw_label(&mut image, "car 0.91", 95.0, 5.0, OBJECT_COLOR, 1);
        let white = image.pixels().filter(|p| **p == Rgb([255, 255, 255])).count();
        let background = image.pixels().filter(|p| **p == OBJECT_COLOR).count();
        assert!(white > 20, "glyph pixels drawn: {white}");
        assert_eq!(white + background, (8 * 8 + 2) * 10, "the whole strip is inside the image");
    }

    #[test]
    fn files_are_content_addressed_and_paths_never_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = EvidenceStore::new(dir.path());
        let sha = store.save(b"jpeg bytes").unwrap();
        let path = store.path_of(&sha).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"jpeg bytes");
        assert!(path.starts_with(dir.path().join("evidence")));
        assert_eq!(store.save(b"jpeg bytes").unwrap(), sha);
        assert!(store.path_of("../../etc/passwd").is_none());
        assert!(store.path_of(&"A".repeat(64)).is_none());
    }
}
